"""Exports of one person's record: FHIR R4 bundle, CSV zip and PDF report, and the trends behind them.

The record is built once per module through the store (on each configured database backend) and read
back with ``Store.patient_record``, exactly as the command line does.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from inversa.cli.outcomes import nof1_result
from inversa.exports import (
    FhirError,
    ReportSections,
    build_bundle,
    check_bundle,
    export_csv_zip,
    write_pdf_report,
)
from inversa.outcomes.nof1 import plan_schedule
from inversa.outcomes.trends import session_pain_summary, trends
from inversa.store import CLI_ACTOR, Role, SessionRecord, Store, make_engine, session_scope, upgrade
from inversa.store.models import Screening, ScreeningOverride

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
GENERATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PERIOD = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))

ANGLES = [[0.0, 0.0], [10.0, 30.0], [60.0, 60.0], [540.0, 60.0], [600.0, 0.0]]
HEART = [[0.0, 70.0], [60.0, 74.5], [300.0, 72.0], [600.0, 68.0]]
SESSIONS = [  # day of November, pain before, pain after, symptoms
    (2, 6, 4, []),
    (5, 5, 4, ["headache"]),
    (9, 5, 3, ["dizziness", "eye_pressure"]),
]
RMDQ_10: list[int | None] = [*[1] * 10, *[0] * 14]
RMDQ_5: list[int | None] = [*[1] * 5, *[0] * 19]
RESPONSES: list[tuple[str, list[int | None], int]] = [  # instrument, answers, day of November
    ("nrs", [7], 1),
    ("peg", [7, 6, 8], 1),
    ("rmdq", RMDQ_10, 1),
    ("startback", [1, 1, 0, 1, 1, 1, 0, 1, 3], 1),
    ("odi", [2] * 10, 1),
    ("nrs", [5], 8),
    ("odi", [None, None, None, 1, 1, 1, 1, 1, 1, 1], 10),  # too much missing: stored without a score
    ("nrs", [3], 15),
    ("peg", [4, 4, 4], 15),
    ("rmdq", RMDQ_5, 15),
    ("startback", [0, 0, 0, 0, 0, 0, 0, 0, 1], 15),
    ("odi", [1] * 10, 15),
]
SCORE_CODES = {
    "nrs": (LOINC, "72514-3"),
    "peg": (LOINC, "91147-9"),
    "startback": (LOINC, "91351-7"),
    "odi": (LOINC, "97909-6"),
    "rmdq": ("https://inversa.example.org/fhir/CodeSystem/inversa", "rmdq-24-score"),
}


@dataclass(frozen=True)
class Populated:
    store: Store
    patient: int
    record: dict[str, Any]


def nov(day: int, hour: int = 8) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def populated(module_db_url: str) -> Iterator[Populated]:
    engine = make_engine(module_db_url)
    upgrade(engine)
    store = Store(engine)
    pid = store.create_user(CLI_ACTOR, "ada@example.org", "Ada Lovelace", Role.PATIENT)
    doc = store.create_user(CLI_ACTOR, "doc@example.org", "Dr Who", Role.CLINICIAN)
    store.link(CLI_ACTOR, doc, pid)
    store.set_profile(
        CLI_ACTOR,
        pid,
        sex="female",
        birth_year=1980,
        height_cm=165.0,
        mass_kg=60.0,
        resting_systolic_mmhg=128.0,
        resting_diastolic_mmhg=82.0,
        resting_heart_rate_bpm=64.0,
    )
    for i, (day, before, after, symptoms) in enumerate(SESSIONS):
        store.log_session(
            CLI_ACTOR,
            pid,
            SessionRecord(
                client_id=f"ada-session-{i:03d}",
                started_at=nov(day),
                ended_at=nov(day) + timedelta(minutes=10),
                planned_protocol="lie flat for 1 min; tilt to 60 deg over 10 s; hold at 60 deg for 8 min",
                angle_trace=[(t, a) for t, a in ANGLES],
                heart_rate_trace=[(t, b) for t, b in HEART],
                symptoms=symptoms,
                pain_before=before,
                pain_after=after,
                notes="session notes" if i == 0 else "",
            ),
        )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INVERSA_ODI_LICENSED", "1")
        for instrument, answers, day in RESPONSES:
            store.add_questionnaire(CLI_ACTOR, pid, instrument, answers, nov(day, 20))
    schedule = plan_schedule(date(2026, 11, 1), pairs=3, block_days=7, seed=11)
    store.save_experiment(CLI_ACTOR, pid, schedule.to_dict())
    with session_scope(engine) as db:
        screening = Screening(
            patient_id=pid,
            screening_version="2026.1",
            answers={"glaucoma": False},
            decision="clear",
            findings=[],
            created_at=datetime(2026, 10, 30, 9, 0, tzinfo=UTC),
            expires_at=datetime(2027, 4, 30, 9, 0, tzinfo=UTC),
        )
        db.add(screening)
        db.flush()
        db.add(
            ScreeningOverride(
                screening_id=screening.id,
                item="blood_pressure",
                new_class="caution",
                reason="controlled on medication",
                clinician_id=doc,
                created_at=datetime(2026, 10, 31, 9, 0, tzinfo=UTC),
            )
        )
    record = store.patient_record(CLI_ACTOR, pid)
    yield Populated(store, pid, record)
    engine.dispose()


@pytest.fixture(scope="module")
def bundle(populated: Populated) -> dict[str, Any]:
    return build_bundle(populated.record, generated_at=GENERATED)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def codes(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in resource["code"]["coding"]]


def fhir_url_of(bundle: dict[str, Any], resource: dict[str, Any]) -> str:
    (url,) = [str(e["fullUrl"]) for e in bundle["entry"] if e["resource"] is resource]
    return url


def all_references(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k == "reference"] + [
            r for k, v in obj.items() if k != "reference" for r in all_references(v)
        ]
    if isinstance(obj, list):
        return [r for v in obj for r in all_references(v)]
    return []


# ------------------------------------------------------------------------------------------ the record


def test_the_record_holds_everything_stored(populated: Populated) -> None:
    rec = populated.record
    assert rec["patient"] == {
        "id": populated.patient,
        "email": "ada@example.org",
        "display_name": "Ada Lovelace",
    }
    assert rec["profile"]["resting_systolic_mmhg"] == 128.0
    assert [s["client_id"] for s in rec["sessions"]] == [f"ada-session-{i:03d}" for i in range(3)]
    assert [(r["instrument"], r["answers"]) for r in rec["questionnaires"]] == [
        (i, a) for i, a, _ in sorted(RESPONSES, key=lambda r: r[2])
    ]
    assert len(rec["experiments"]) == 1 and len(rec["screenings"]) == 1 and len(rec["overrides"]) == 1


# ------------------------------------------------------------------------------------------------ FHIR


def test_the_bundle_passes_the_checks_and_the_r4b_models(bundle: dict[str, Any]) -> None:
    check_bundle(bundle)
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    assert len(parsed.entry or []) == len(bundle["entry"])
    json.dumps(bundle)  # plain JSON, nothing that needs a custom encoder


def test_the_bundle_holds_one_resource_per_record(populated: Populated, bundle: dict[str, Any]) -> None:
    kinds = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    scored = [r for r in populated.record["questionnaires"] if r["score"] is not None]
    assert len(scored) == len(RESPONSES) - 1
    assert kinds == {
        "Patient": 1,
        "Device": 2,
        "Procedure": 3,
        "QuestionnaireResponse": len(RESPONSES),
        # scores + angle and heart rate per session + the blood-pressure panel
        "Observation": len(scored) + 2 * 3 + 1,
    }
    (patient,) = resources(bundle, "Patient")
    assert patient["name"] == [{"text": "Ada Lovelace"}]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1980")
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls) and all(u.startswith("urn:uuid:") for u in urls)
    # the same record gives the same bundle (stable ids)
    assert build_bundle(populated.record, generated_at=GENERATED) == bundle


def test_every_reference_resolves_inside_the_bundle(bundle: dict[str, Any]) -> None:
    urls = {e["fullUrl"] for e in bundle["entry"]}
    refs = all_references(bundle)
    assert len(refs) > 20
    assert set(refs) <= urls
    patient_url = fhir_url_of(bundle, resources(bundle, "Patient")[0])
    for e in bundle["entry"]:
        res = e["resource"]
        if res["resourceType"] in ("Observation", "Procedure", "QuestionnaireResponse"):
            assert res["subject"] == {"reference": patient_url}
        if res["resourceType"] == "Device":
            assert res["patient"] == {"reference": patient_url}


def test_each_scored_response_has_a_survey_observation_derived_from_it(
    populated: Populated, bundle: dict[str, Any]
) -> None:
    responses = resources(bundle, "QuestionnaireResponse")
    stored = populated.record["questionnaires"]
    assert len(responses) == len(stored)
    by_url = {fhir_url_of(bundle, r): r for r in responses}
    scores = [o for o in resources(bundle, "Observation") if "derivedFrom" in o]
    assert len(scores) == sum(r["score"] is not None for r in stored)
    seen: list[str] = []
    for obs in scores:
        (ref,) = obs["derivedFrom"]
        qr = by_url[ref["reference"]]
        instrument = qr["questionnaire"].rsplit("/", 1)[1]
        assert codes(obs) == [SCORE_CODES[instrument]]
        assert obs["category"][0]["coding"][0]["code"] == "survey"
        assert obs["effectiveDateTime"] == qr["authored"]
        match = [r for r in stored if r["recorded_at"] == qr["authored"] and r["instrument"] == instrument]
        assert len(match) == 1
        assert obs["valueQuantity"]["value"] == pytest.approx(match[0]["score"])
        assert obs["valueQuantity"]["system"] == UCUM
        seen.append(instrument)
    assert Counter(seen) == {"nrs": 3, "peg": 2, "rmdq": 2, "startback": 2, "odi": 2}
    unscored = [qr for qr in responses if qr["status"] == "in-progress"]
    assert len(unscored) == 1
    assert [len(i.get("answer", [])) for i in unscored[0]["item"]] == [0, 0, 0] + [1] * 7
    peg = next(qr for qr in responses if qr["questionnaire"].endswith("/peg"))
    assert [i["answer"][0]["valueInteger"] for i in peg["item"]] == [7, 6, 8]
    assert [i["linkId"] for i in peg["item"]] == ["1", "2", "3"]


def test_sessions_become_procedures_with_heart_rate_and_angle_observations(
    populated: Populated, bundle: dict[str, Any]
) -> None:
    procedures = resources(bundle, "Procedure")
    sessions = populated.record["sessions"]
    assert [p["identifier"][0]["value"] for p in procedures] == [s["client_id"] for s in sessions]
    for proc, s in zip(procedures, sessions, strict=True):
        assert proc["performedPeriod"] == {"start": s["started_at"], "end": s["ended_at"]}
        assert proc["status"] == "completed"
    assert procedures[0]["note"] == [{"text": "session notes"}]
    proc_urls = [fhir_url_of(bundle, p) for p in procedures]
    devices = {d["deviceName"][0]["name"]: fhir_url_of(bundle, d) for d in resources(bundle, "Device")}
    hr = [o for o in resources(bundle, "Observation") if (LOINC, "8867-4") in codes(o)]
    angle = [o for o in resources(bundle, "Observation") if codes(o)[0][1] == "tilt-angle"]
    assert len(hr) == len(angle) == 3
    for obs, url in zip(hr, proc_urls, strict=True):
        assert obs["partOf"] == [{"reference": url}]
        assert obs["device"]["reference"] == devices["Heart-rate strap (Bluetooth 0x180D)"]
        assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
        sampled = obs["valueSampledData"]
        assert sampled["period"] == 1000.0 and sampled["dimensions"] == 1
        assert (sampled["origin"]["code"], sampled["origin"]["system"]) == ("/min", UCUM)
        data = [float(x) for x in sampled["data"].split()]
        assert len(data) == 601  # 0 s to 600 s at 1 Hz
        assert (data[0], data[30], data[60], data[600]) == (70.0, 72.25, 74.5, 68.0)
    for obs in angle:
        assert obs["device"]["reference"] == devices["Inversion table"]
        data = [float(x) for x in obs["valueSampledData"]["data"].split()]
        assert (len(data), data[5], data[10], max(data)) == (601, 15.0, 30.0, 60.0)


def test_resting_blood_pressure_is_a_loinc_panel_in_mm_hg(bundle: dict[str, Any]) -> None:
    (panel,) = [o for o in resources(bundle, "Observation") if (LOINC, "85354-9") in codes(o)]
    parts = {codes(c)[0]: c["valueQuantity"] for c in panel["component"]}
    assert parts == {
        (LOINC, "8480-6"): {"value": 128.0, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
        (LOINC, "8462-4"): {"value": 82.0, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
    }
    assert panel["category"][0]["coding"][0]["code"] == "vital-signs"


def _first(bundle: dict[str, Any], test: Any) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if test(e["resource"]))


def test_check_bundle_refuses_a_dangling_reference(bundle: dict[str, Any]) -> None:
    broken = copy.deepcopy(bundle)
    obs = _first(broken, lambda r: "derivedFrom" in r)
    obs["derivedFrom"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}]
    with pytest.raises(FhirError, match="does not resolve"):
        check_bundle(broken)
    check_bundle(bundle)  # the original is untouched


def test_check_bundle_refuses_a_wrong_loinc_code(bundle: dict[str, Any]) -> None:
    broken = copy.deepcopy(bundle)
    obs = _first(broken, lambda r: r["resourceType"] == "Observation" and "derivedFrom" in r)
    obs["code"]["coding"] = [{"system": LOINC, "code": "12345-6", "display": "made up"}]
    with pytest.raises(FhirError, match="12345-6"):
        check_bundle(broken)
    foreign = copy.deepcopy(bundle)
    obs = _first(foreign, lambda r: r["resourceType"] == "Observation" and "derivedFrom" in r)
    obs["code"]["coding"] = [{"system": "http://snomed.info/sct", "code": "22253000"}]
    with pytest.raises(FhirError, match="LOINC or Inversa"):
        check_bundle(foreign)


@pytest.mark.parametrize("where", ["component", "valueQuantity", "valueSampledData"])
def test_check_bundle_refuses_quantities_without_ucum(bundle: dict[str, Any], where: str) -> None:
    broken = copy.deepcopy(bundle)
    obs = _first(broken, lambda r: r["resourceType"] == "Observation" and (where in r))
    quantity = {
        "component": lambda: obs["component"][0]["valueQuantity"],
        "valueQuantity": lambda: obs["valueQuantity"],
        "valueSampledData": lambda: obs["valueSampledData"]["origin"],
    }[where]()
    quantity["system"] = "http://example.org/units"
    with pytest.raises(FhirError, match="UCUM"):
        check_bundle(broken)


def test_check_bundle_refuses_a_structural_error(bundle: dict[str, Any]) -> None:
    broken = copy.deepcopy(bundle)
    _first(broken, lambda r: r["resourceType"] == "Procedure")["status"] = {"not": "a code"}
    with pytest.raises(FhirError, match="FHIR structure"):
        check_bundle(broken)


def test_a_bare_record_still_makes_a_valid_bundle() -> None:
    bare = {"patient": {"id": 7, "email": "x@example.org", "display_name": "X"}, "profile": None}
    bundle = build_bundle(bare, generated_at=GENERATED)
    check_bundle(bundle)
    assert Counter(e["resource"]["resourceType"] for e in bundle["entry"]) == {"Patient": 1, "Device": 2}


# ------------------------------------------------------------------------------------------------- CSV


def read_zip(path: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        tables = {}
        for name in zf.namelist():
            if name.endswith(".csv"):
                tables[name] = list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8"))))
        assert "README.txt" in zf.namelist()
        return tables


def csv_header(path: Path, name: str) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name).decode("utf-8").splitlines()[0].split(",")


def test_the_csv_zip_has_one_row_per_record(populated: Populated, tmp_path: Path) -> None:
    path = export_csv_zip(populated.record, tmp_path / "out" / "export.zip")
    assert path == tmp_path / "out" / "export.zip"
    assert sorted(p.name for p in path.parent.iterdir()) == ["export.zip"]  # no .partial left behind
    tables = read_zip(path)
    assert set(tables) == {
        "profile.csv",
        "sessions.csv",
        "session_angle_trace.csv",
        "session_heart_rate_trace.csv",
        "questionnaires.csv",
        "screenings.csv",
        "screening_overrides.csv",
        "programs.csv",
        "nof1_experiments.csv",
    }
    assert csv_header(path, "sessions.csv") == [
        "client_id",
        "started_at",
        "ended_at",
        "planned_protocol",
        "pain_before",
        "pain_after",
        "symptoms",
        "notes",
    ]
    assert csv_header(path, "session_angle_trace.csv") == ["session_client_id", "time_s", "angle_deg"]
    assert csv_header(path, "session_heart_rate_trace.csv") == [
        "session_client_id",
        "time_s",
        "heart_rate_bpm",
    ]
    assert csv_header(path, "questionnaires.csv") == [
        "recorded_at",
        "instrument",
        "score",
        "subscores",
        "complete",
        "answers",
    ]
    sessions = tables["sessions.csv"]
    assert [r["client_id"] for r in sessions] == [f"ada-session-{i:03d}" for i in range(3)]
    assert [json.loads(r["symptoms"]) for r in sessions] == [s[3] for s in SESSIONS]
    assert [(int(r["pain_before"]), int(r["pain_after"])) for r in sessions] == [
        (b, a) for _, b, a, _ in SESSIONS
    ]
    angle, heart = tables["session_angle_trace.csv"], tables["session_heart_rate_trace.csv"]
    assert len(angle) == 3 * len(ANGLES) and len(heart) == 3 * len(HEART)
    first = [
        (float(r["time_s"]), float(r["heart_rate_bpm"]))
        for r in heart
        if r["session_client_id"] == "ada-session-000"
    ]
    assert first == [tuple(p) for p in HEART]
    responses = tables["questionnaires.csv"]
    assert len(responses) == len(RESPONSES)
    assert [json.loads(r["answers"]) for r in responses] == [
        a for _, a, _ in sorted(RESPONSES, key=lambda r: r[2])
    ]
    assert sum(r["score"] == "" for r in responses) == 1  # the unscored ODI
    (profile,) = tables["profile.csv"]
    assert (profile["email"], profile["sex"], float(profile["resting_systolic_mmhg"])) == (
        "ada@example.org",
        "female",
        128.0,
    )
    assert len(tables["screenings.csv"]) == len(tables["screening_overrides.csv"]) == 1
    assert tables["screening_overrides.csv"][0]["reason"] == "controlled on medication"
    (experiment,) = tables["nof1_experiments.csv"]
    assert json.loads(experiment["schedule"])["seed"] == 11
    assert tables["programs.csv"] == []


def test_the_csv_zip_replaces_an_older_export(populated: Populated, tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(b"an older, broken export")
    export_csv_zip(populated.record, path)
    assert zipfile.is_zipfile(path)
    assert not (tmp_path / "export.zip.partial").exists()


# ------------------------------------------------------------------------------------------------- PDF


def pdf_text(path: Path) -> tuple[int, str]:
    reader = PdfReader(path)
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture(scope="module")
def nof1(populated: Populated) -> dict[str, Any] | None:
    return nof1_result(populated.store, populated.patient)


def test_the_full_report_has_every_section(
    populated: Populated, nof1: dict[str, Any] | None, tmp_path: Path
) -> None:
    assert nof1 is not None and nof1["status"] == "not_enough_data"
    path = write_pdf_report(populated.record, tmp_path / "report.pdf", *PERIOD, nof1=nof1)
    assert path.read_bytes().startswith(b"%PDF")
    assert not (tmp_path / "report.pdf.partial").exists()
    pages, text = pdf_text(path)
    assert pages == 4  # text, pain chart, function chart, sessions chart
    flat = " ".join(text.split())
    for expected in (
        "Ada Lovelace",
        "Period: 2026-11-01 to 2026-11-30",
        "resting BP 128/82 mmHg",
        "Sessions in the period: 3",
        "ADVERSE SYMPTOMS",
        "headache",
        "dizziness, eye_pressure",
        "Latest screening 2026-10-30: clear (valid until 2027-04-30)",
        "controlled on medication",
        "PERSONAL EXPERIMENT (n-of-1)",
        "Not enough data yet",
        "NRS: 3 scores, baseline 7, latest 3",
        "STARTBACK: 2 scores",
        "startback stratifies risk",
    ):
        assert expected in flat, (expected, flat)
    assert "Pain (0-10)" in flat and "Sessions: peak head-down angle" in flat


def test_the_report_states_an_estimated_effect(populated: Populated, tmp_path: Path) -> None:
    fake = {
        "summary": "Pain was lower on inversion days.",
        "effect_mean": -1.5,
        "effect_ci95": [-2.5, -0.5],
        "prob_meaningful_benefit": 0.4,
    }
    sections = ReportSections.parse(["nof1"])
    path = write_pdf_report(populated.record, tmp_path / "r.pdf", *PERIOD, sections=sections, nof1=fake)
    pages, text = pdf_text(path)
    flat = " ".join(text.split())
    assert pages == 1
    assert "Estimated effect -1.50 NRS points (95 % interval -2.50 to -0.50)" in flat
    assert "probability of a meaningful benefit 40%" in flat
    assert "ADVERSE SYMPTOMS" not in flat and "SUMMARY" not in flat


def test_chosen_sections_leave_the_others_out(populated: Populated, tmp_path: Path) -> None:
    sections = ReportSections.parse(["pain"])
    assert sections == ReportSections(False, True, False, False, False, False, False)
    path = write_pdf_report(populated.record, tmp_path / "pain.pdf", *PERIOD, sections=sections)
    pages, text = pdf_text(path)
    flat = " ".join(text.split())
    assert pages == 2  # text and the pain chart
    assert "NRS: 3 scores" in flat and "PEG: 2 scores" in flat
    for absent in ("ADVERSE SYMPTOMS", "headache", "RMDQ:", "SCREENING", "PERSONAL EXPERIMENT", "SUMMARY"):
        assert absent not in flat, absent


def test_a_report_without_records_in_the_period_says_so(populated: Populated, tmp_path: Path) -> None:
    bare = {**populated.record, "sessions": [], "questionnaires": [], "screenings": [], "overrides": []}
    path = write_pdf_report(bare, tmp_path / "empty.pdf", *PERIOD)
    pages, text = pdf_text(path)
    flat = " ".join(text.split())
    assert pages == 1
    assert "No questionnaire scores in this period." in flat
    assert "No symptoms were reported in this period." in flat
    assert "No screening on record" in flat
    assert "No personal experiment on record." in flat


def test_a_long_report_keeps_every_section(populated: Populated, tmp_path: Path) -> None:
    many = [
        {**s, "client_id": f"many-{i:03d}", "symptoms": [("headache", "nausea")[i % 2]]}
        for i, s in enumerate(populated.record["sessions"] * 20)
    ]
    path = write_pdf_report({**populated.record, "sessions": many}, tmp_path / "long.pdf", *PERIOD)
    _, text = pdf_text(path)
    flat = " ".join(text.split())
    assert flat.count("nausea") + flat.count("headache") == len(many)
    for section in ("ADVERSE SYMPTOMS", "SCREENING", "Latest screening", "PERSONAL EXPERIMENT (n-of-1)"):
        assert section in flat, section


def test_unknown_report_sections_are_named() -> None:
    with pytest.raises(ValueError, match="nope") as info:
        ReportSections.parse(["pain", "nope"])
    assert "pain" not in str(info.value).split(";")[0]
    assert "choose from" in str(info.value)
    assert ReportSections.parse(list(ReportSections.__dataclass_fields__)) == ReportSections()


# ---------------------------------------------------------------------------------------------- trends


def test_nrs_trend_from_baseline_to_latest(populated: Populated) -> None:
    tr = trends(populated.record["questionnaires"], *PERIOD)
    nrs = tr["nrs"]
    assert nrs.scores == (7.0, 5.0, 3.0)
    assert (nrs.baseline, nrs.latest) == (7.0, 3.0)
    assert nrs.change is not None
    assert (nrs.change.change, nrs.change.improvement) == (-4.0, 4.0)
    assert nrs.change.improved_meaningfully and not nrs.change.worsened_meaningfully
    assert nrs.note == "improved by at least the published meaningful change"
    assert nrs.slope_per_week == pytest.approx(-2.0)
    assert nrs.to_dict()["n"] == 3
    assert trends(populated.record["questionnaires"][::-1], *PERIOD) == tr  # input order does not matter
    assert set(tr) == {"nrs", "peg", "rmdq", "startback", "odi"}
    assert tr["odi"].scores == (40.0, 20.0)  # the unscored response is left out
    assert tr["rmdq"].change is not None and tr["rmdq"].change.change == -5.0


def test_a_shorter_range_changes_baseline_and_latest(populated: Populated) -> None:
    tr = trends(populated.record["questionnaires"], nov(1, 0), nov(8, 23))
    assert tr["nrs"].scores == (7.0, 5.0)
    assert tr["nrs"].change is not None and tr["nrs"].change.change == -2.0
    assert tr["nrs"].slope_per_week is None  # fewer than three points
    assert tr["peg"].note == "one response in this range: no change to report yet"
    assert tr["peg"].change is None
    assert trends(populated.record["questionnaires"], nov(20), nov(25)) == {}


def test_startback_reports_no_change(populated: Populated) -> None:
    sb = trends(populated.record["questionnaires"], *PERIOD)["startback"]
    assert sb.scores == (7.0, 0.0)  # item 9 counts only when answered 3 or 4
    assert (sb.baseline, sb.latest, sb.change) == (7.0, 0.0, None)
    assert "no meaningful-change rule" in sb.note


def test_session_pain_summary(populated: Populated) -> None:
    summary = session_pain_summary(populated.record["sessions"])
    assert (summary.sessions, summary.with_both_ratings, summary.sessions_with_symptoms) == (3, 3, 2)
    assert summary.mean_before == pytest.approx(16 / 3)
    assert summary.mean_after == pytest.approx(11 / 3)
    assert summary.mean_change == pytest.approx(-5 / 3)
    assert summary.sd_change == pytest.approx(math.sqrt(1 / 3))
    one_sided: list[dict[str, Any]] = [
        {"pain_before": 5, "pain_after": None, "symptoms": []},
        {"pain_before": 4, "pain_after": 2},
    ]
    partial = session_pain_summary(one_sided)
    assert (partial.sessions, partial.with_both_ratings, partial.mean_change, partial.sd_change) == (
        2,
        1,
        -2.0,
        None,
    )
    empty = session_pain_summary([])
    assert empty.to_dict() == {
        "sessions": 0,
        "with_both_ratings": 0,
        "mean_before": None,
        "mean_after": None,
        "mean_change": None,
        "sd_change": None,
        "sessions_with_symptoms": 0,
    }


def test_startback_score_carries_distress_and_risk_group_components() -> None:
    record = {
        "patient": {"id": 7, "email": "sb@example.org", "display_name": "SB"},
        "profile": None,
        "sessions": [],
        "questionnaires": [
            {
                "id": 1,
                "instrument": "startback",
                "answers": [1, 1, 0, 0, 1, 1, 1, 0, 4],
                "score": 6.0,
                "subscores": {"total": 6, "distress": 4},
                "complete": True,
                "recorded_at": "2026-11-01T08:00:00+00:00",
            }
        ],
    }
    bundle = build_bundle(record)
    check_bundle(bundle)
    obs = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    parts = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    assert parts["91350-9"]["valueQuantity"]["value"] == 4.0
    assert parts["91352-5"]["valueString"] == "high risk"
    broken = json.loads(json.dumps(bundle))
    next(e for e in broken["entry"] if e["resource"]["resourceType"] == "Observation")["resource"][
        "component"
    ][0]["code"]["coding"][0]["code"] = "00000-0"
    with pytest.raises(FhirError, match="00000-0"):
        check_bundle(broken)
