"""Patient pages: onboarding (profile, screening, limits, program), diary, progress.

Every form is checked to answer 400 naming the field (never 500); screening decisions are stored
with their reasons; a blocking screening gives neither limits nor program; limits come from the
engine and the program never exceeds them; questionnaires are scored as published and stored once;
a patient never sees another patient's data; clinicians and admins are refused (403).

Only ``test_engine_limits_program_and_session_picture`` runs the real engine (limits ~5-10 s and a
simulation); the other tests replace ``compute_limits`` where they need limits, and check that
what the pages hand the engine (the criteria) is right.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inversa.body import Person
from inversa.safety import LimitCriteria, PersonalLimits, load_questionnaire
from inversa.safety.limits import PREDICTED_KEYS
from inversa.store import CLI_ACTOR, Actor, Role, SessionRecord, Store
from inversa.web import create_app, patient_pages
from inversa.web.config import Settings
from inversa.web.serve import set_password

FAST = Settings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
HIDDEN = re.compile(r'name="(client_id|opened_at)" value="([^"]+)"')

GOOD_PROFILE = {
    "sex": "male",
    "birth_year": "1975",
    "height_cm": "178",
    "mass_kg": "82",
    "resting_systolic_mmhg": "",
    "resting_diastolic_mmhg": "",
    "resting_heart_rate_bpm": "",
    "resting_iop_mmhg": "",
}
PATIENT_PAGES = [
    "/patient",
    "/patient/setup",
    "/patient/setup/profile",
    "/patient/setup/screening",
    "/patient/setup/limits",
    "/patient/setup/limits/status",
    "/patient/setup/program",
    "/patient/diary",
    "/patient/diary/peg",
    "/patient/progress",
    "/patient/progress/simulation.json",
]
PATIENT_POSTS = [
    "/patient/setup/profile",
    "/patient/setup/screening",
    "/patient/setup/limits",
    "/patient/setup/program",
    "/patient/diary/peg",
    "/patient/progress/experiment",
]


@dataclass
class Env:
    client: TestClient
    store: Store


@pytest.fixture
def env(db_url: str) -> Iterator[Env]:
    app = create_app(db_url, settings=FAST, secret_key=b"s" * 32, announce=lambda _: None)
    with TestClient(app, follow_redirects=False) as client:
        yield Env(client, app.state.inversa.store)


def make_user(env: Env, role: Role, email: str) -> int:
    uid = env.store.create_user(CLI_ACTOR, email, email.split("@")[0].title(), role)
    set_password(env.store, email, PASSWORD, FAST)
    return uid


def csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_INPUT.search(page.text)
    assert match is not None
    return match.group(1)


def sign_in(env: Env, email: str) -> None:
    env.client.cookies.clear()
    response = env.client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf(env.client)}
    )
    assert response.status_code == 303, response.text


def patient(env: Env, email: str = "pat@example.org") -> int:
    uid = make_user(env, Role.PATIENT, email)
    sign_in(env, email)
    return uid


def post(env: Env, path: str, data: dict[str, str], page: str | None = None) -> Any:
    token = csrf(env.client, page or path)
    return env.client.post(path, data={**data, "csrf_token": token})


def clean_answers(**changes: str) -> dict[str, str]:
    """Screening answers of someone with nothing to report (today's BP 120/80), as the form sends them."""
    out: dict[str, str] = {}
    for it in load_questionnaire().items:
        if it.type.value == "yes_no":
            out[it.key] = "no"
        elif it.type.value == "choice":
            out[it.key] = "none"
        else:
            out[it.key] = ""
    out |= {"systolic_bp_mmhg": "120", "diastolic_bp_mmhg": "80", "height_cm": "178", "mass_kg": "82"}
    return out | changes


def field_error(html: str, name: str) -> str:
    """The error text shown for a field (its element id is e-NAME)."""
    match = re.search(rf'id="e-{re.escape(name)}">([^<]*)<', html)
    assert match is not None, f"no error shown for {name}"
    return match.group(1)


def onboard(env: Env, **answers: str) -> None:
    """Profile and screening through the forms."""
    assert post(env, "/patient/setup/profile", GOOD_PROFILE).status_code == 303
    response = post(
        env, "/patient/setup/screening", clean_answers(**answers), "/patient/setup/screening?again=1"
    )
    assert response.status_code == 303, response.text


def fake_limits(seen: list[LimitCriteria]) -> Any:
    """A stand-in for compute_limits (the real one takes seconds) that records the criteria."""

    def compute(person: Person, criteria: LimitCriteria | None = None) -> PersonalLimits:
        assert isinstance(person, Person)
        assert criteria is not None
        seen.append(criteria)
        return PersonalLimits(
            max_angle_deg=40.0,
            max_hold_min=4.5,
            binding_constraint="intraocular_pressure",
            predicted=dict.fromkeys(PREDICTED_KEYS, 25.0),
            return_rest_min=1.0,
            criteria=criteria,
            explanation=("Eye pressure sets the limit (stand-in for the engine).",),
        )

    return compute


def wait_for_limits(env: Env, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page = env.client.get("/patient/setup/limits")
        assert page.status_code == 200
        text: str = page.text
        if "limits-status" not in text:
            return text
        time.sleep(0.2)
    raise AssertionError("the limits were not computed in time")


# ------------------------------------------------------------------------------------------ access
def test_pages_are_for_patients_only(env: Env) -> None:
    for path in PATIENT_PAGES:
        response = env.client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    for role, email in ((Role.CLINICIAN, "doc@example.org"), (Role.ADMIN, "adm@example.org")):
        make_user(env, role, email)
        sign_in(env, email)
        for path in PATIENT_PAGES:
            assert env.client.get(path).status_code == 403, (role, path)
        token = csrf(env.client, "/account/password")
        for path in PATIENT_POSTS:
            assert env.client.post(path, data={"csrf_token": token}).status_code == 403, (role, path)


def test_forms_need_the_csrf_token(env: Env) -> None:
    patient(env)
    for path in PATIENT_POSTS:
        response = env.client.post(path, data={"sex": "male"})
        assert response.status_code == 403, path


def test_pages_have_no_inline_script_or_style(env: Env) -> None:
    patient(env)
    onboard(env)
    for path in [*PATIENT_PAGES[:-2], "/patient/progress"]:
        html = env.client.get(path).text
        assert "<style" not in html and " style=" not in html and " onclick" not in html, path
        assert re.search(r"<script(?![^>]*(src=|type=\"application/json\"))", html) is None, path


# ------------------------------------------------------------------------------------------ profile
@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"sex": ""}, "sex", "fill this in"),
        ({"sex": "other"}, "sex", "male"),
        ({"height_cm": "500"}, "height_cm", "230"),
        ({"height_cm": "tall"}, "height_cm", "number"),
        ({"mass_kg": "nan"}, "mass_kg", "finite"),
        ({"birth_year": "2020"}, "birth_year", "age"),
        ({"birth_year": "1975.5"}, "birth_year", "integer"),
        ({"resting_systolic_mmhg": "130"}, "resting_systolic_mmhg", "together"),
        ({"resting_systolic_mmhg": "85", "resting_diastolic_mmhg": "80"}, "resting_systolic_mmhg", "10 mmHg"),
        ({"resting_heart_rate_bpm": "300"}, "resting_heart_rate_bpm", "120"),
        ({"resting_iop_mmhg": "-1"}, "resting_iop_mmhg", "5"),
    ],
)
def test_profile_form_names_the_bad_field(env: Env, changes: dict[str, str], field: str, words: str) -> None:
    uid = patient(env)
    response = post(env, "/patient/setup/profile", GOOD_PROFILE | changes)
    assert response.status_code == 400
    assert words in field_error(response.text, field)
    assert 'aria-invalid="true"' in response.text
    assert env.store.patient_record(CLI_ACTOR, uid)["profile"] is None


def test_profile_is_stored_and_shown_again(env: Env) -> None:
    uid = patient(env)
    data = GOOD_PROFILE | {
        "resting_systolic_mmhg": "128",
        "resting_diastolic_mmhg": "82",
        "resting_iop_mmhg": "15",
    }
    response = post(env, "/patient/setup/profile", data)
    assert response.status_code == 303 and response.headers["location"] == "/patient/setup/screening"
    profile = env.store.patient_record(CLI_ACTOR, uid)["profile"]
    assert profile["sex"] == "male" and profile["birth_year"] == 1975 and profile["height_cm"] == 178
    assert profile["resting_systolic_mmhg"] == 128 and profile["resting_heart_rate_bpm"] is None
    page = env.client.get("/patient/setup/profile").text
    assert 'value="128"' in page and 'value="male" checked' in page


# ---------------------------------------------------------------------------------------- screening
def test_screening_names_every_unanswered_or_bad_question(env: Env) -> None:
    uid = patient(env)
    empty = post(env, "/patient/setup/screening", {}, "/patient/setup/screening?again=1")
    assert empty.status_code == 400
    q = load_questionnaire()
    required = [it.key for it in q.items if not it.nullable]
    for key in required:
        assert field_error(empty.text, key)
    assert "recent_surgery_weeks" not in re.findall(r'id="e-([a-z_]+)"', empty.text)
    bad = post(
        env,
        "/patient/setup/screening",
        clean_answers(systolic_bp_mmhg="abc", mass_kg="900", hypertension="sometimes"),
        "/patient/setup/screening?again=1",
    )
    assert bad.status_code == 400
    assert "number" in field_error(bad.text, "systolic_bp_mmhg")
    assert "350" in field_error(bad.text, "mass_kg")
    assert "controlled" in field_error(bad.text, "hypertension")
    pair = post(
        env,
        "/patient/setup/screening",
        clean_answers(systolic_bp_mmhg="90", diastolic_bp_mmhg="95"),
        "/patient/setup/screening?again=1",
    )
    assert pair.status_code == 400 and "below" in field_error(pair.text, "diastolic_bp_mmhg")
    assert env.store.latest_screening(CLI_ACTOR, uid) is None


def test_screening_decision_is_stored_with_reasons_and_sources(env: Env) -> None:
    uid = patient(env)
    onboard(env, anticoagulants="yes")
    stored = env.store.latest_screening(CLI_ACTOR, uid)
    assert stored is not None and stored["decision"] == "needs_clearance"
    (finding,) = stored["findings"]
    assert finding["item"] == "anticoagulants" and finding["class"] == "clear"
    assert finding["reason"] and finding["source"]
    expires = datetime.fromisoformat(stored["expires_at"]).date()
    assert expires == date.today() + timedelta(days=90)  # the screening's expiry setting
    page = html.unescape(env.client.get("/patient/setup/screening").text)
    assert "NEEDS CLEARANCE" in page and finding["reason"] in page and finding["source"] in page
    assert "work out my personal limits" not in page  # no way on until a clinician clears it


def test_clean_screening_is_ok_and_leads_on(env: Env) -> None:
    uid = patient(env)
    onboard(env)
    stored = env.store.latest_screening(CLI_ACTOR, uid)
    assert stored is not None and stored["decision"] == "ok" and stored["findings"] == []
    page = env.client.get("/patient/setup/screening").text
    assert "None of your answers restricts inversion" in page and "work out my personal limits" in page
    again = env.client.get("/patient/setup/screening?again=1").text  # revisitable, prefilled
    assert 'name="glaucoma_or_ocular_hypertension" value="no" checked' in again
    assert re.search(r'name="systolic_bp_mmhg"[^>]*value=""', again.replace("\n", " ")) is not None


def test_blocking_screening_gives_no_limits_and_no_program(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = patient(env)
    monkeypatch.setattr(patient_pages, "compute_limits", fake_limits([]))
    onboard(env, glaucoma_or_ocular_hypertension="yes", red_flag_fever="yes")
    stored = env.store.latest_screening(CLI_ACTOR, uid)
    assert stored is not None and stored["decision"] == "blocked"
    assert {f["item"] for f in stored["findings"]} == {"glaucoma_or_ocular_hypertension", "red_flag_fever"}
    page = env.client.get("/patient/setup/screening").text
    assert "Seek medical care now" in page and 'role="alert"' in page
    assert "BLOCKED: do not invert." in page
    limits = post(env, "/patient/setup/limits", {}, "/patient/setup/limits")
    assert limits.status_code == 400 and "do not invert" in limits.text
    program = post(env, "/patient/setup/program", {"target_angle_deg": "60"}, "/patient/setup/program")
    assert program.status_code == 400 and "limits first" in program.text
    assert env.store.active_program(CLI_ACTOR, uid) is None
    home = env.client.get("/patient").text
    assert "Seek medical care now" in home and "Start a session</a></p>" not in home


def test_cleared_eye_finding_gives_the_stricter_eye_limit(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = patient(env)
    seen: list[LimitCriteria] = []
    monkeypatch.setattr(patient_pages, "compute_limits", fake_limits(seen))
    onboard(env, glaucoma_or_ocular_hypertension="yes")
    assert post(env, "/patient/setup/limits", {}, "/patient/setup/limits").status_code == 400
    doc = make_user(env, Role.CLINICIAN, "doc@example.org")
    env.store.link(CLI_ACTOR, doc, uid)
    stored = env.store.latest_screening(CLI_ACTOR, uid)
    assert stored is not None
    env.store.add_override(
        Actor(doc, Role.CLINICIAN),
        stored["id"],
        "glaucoma_or_ocular_hypertension",
        "cleared",
        "IOP 16, treated",
    )
    page = env.client.get("/patient/setup/screening").text
    assert "Cleared by your clinician" in page and "IOP 16, treated" in page
    assert post(env, "/patient/setup/limits", {}, "/patient/setup/limits").status_code == 303
    text = wait_for_limits(env)
    assert seen and seen[-1].eye_finding_cleared and seen[-1].effective_iop_limit_mmhg == 24.0
    assert "the stricter eye-pressure limit applies" in text and "40.0°" in text


# ------------------------------------------------------------------------------------------ program
def test_program_form_and_limits(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = patient(env)
    monkeypatch.setattr(patient_pages, "compute_limits", fake_limits([]))
    onboard(env)
    early = post(env, "/patient/setup/program", {"target_angle_deg": "60"}, "/patient/setup/program")
    assert early.status_code == 400 and "limits first" in early.text
    post(env, "/patient/setup/limits", {}, "/patient/setup/limits")
    wait_for_limits(env)
    good = {"target_angle_deg": "60", "days_per_week": "5", "sessions_per_day": "1", "weeks": "6"}
    good |= {"style": "continuous", "start_date": date.today().isoformat()}
    for changes, field in (
        ({"target_angle_deg": "95"}, "target_angle_deg"),
        ({"target_angle_deg": "ten"}, "target_angle_deg"),
        ({"days_per_week": "8"}, "days_per_week"),
        ({"weeks": "0"}, "weeks"),
        ({"sessions_per_day": "4"}, "sessions_per_day"),
        ({"style": "wild"}, "style"),
        ({"start_date": "2020-01-01"}, "start_date"),
        ({"start_date": "yesterday"}, "start_date"),
    ):
        response = post(env, "/patient/setup/program", good | changes, "/patient/setup/program")
        assert response.status_code == 400, (changes, response.text)
        assert field_error(response.text, field), changes
    assert env.store.active_program(CLI_ACTOR, uid) is None
    for style in ("continuous", "intermittent", "oscillating"):
        response = post(env, "/patient/setup/program", good | {"style": style}, "/patient/setup/program")
        assert response.status_code == 303
        program = env.store.active_program(CLI_ACTOR, uid)
        assert program is not None and program["target_angle_deg"] == 60
        plan = program["plan"]
        assert set(plan) == {"sessions", "ceiling_angle_deg", "notes", "limits", "adaptations"}
        assert plan["limits"]["max_angle_deg"] == 40.0
        assert len(plan["sessions"]) == 30 and {s["style"] for s in plan["sessions"]} == {style}
        for s in plan["sessions"]:
            assert s["max_angle_deg"] <= 40.0 and s["hold_min"] <= 4.5
    page = env.client.get("/patient/setup/program").text
    assert "program-weeks" in page and "40.0" in page
    home = env.client.get("/patient").text
    assert "Start a session" in home and "°" in home


def test_clinician_ceiling_holds_when_the_patient_plans_again(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = patient(env)
    monkeypatch.setattr(patient_pages, "compute_limits", fake_limits([]))
    onboard(env)
    doc = make_user(env, Role.CLINICIAN, "doc@example.org")
    env.store.link(CLI_ACTOR, doc, uid)
    env.store.save_program(Actor(doc, Role.CLINICIAN), uid, {"sessions": []}, 25.0, 30.0)
    post(env, "/patient/setup/limits", {}, "/patient/setup/limits")
    wait_for_limits(env)
    data = {"target_angle_deg": "30", "days_per_week": "3", "weeks": "4", "style": "continuous"}
    assert post(env, "/patient/setup/program", data, "/patient/setup/program").status_code == 303
    program = env.store.active_program(CLI_ACTOR, uid)
    assert program is not None and program["ceiling_angle_deg"] == 30.0
    assert max(s["max_angle_deg"] for s in program["plan"]["sessions"]) <= 30.0
    above = post(env, "/patient/setup/program", data | {"target_angle_deg": "45"}, "/patient/setup/program")
    assert above.status_code == 400 and "ceiling" in field_error(above.text, "target_angle_deg")


@pytest.mark.slow
def test_engine_limits_program_and_session_picture(env: Env) -> None:
    """The real engine: limits in the background, a program within them, the session simulated."""
    uid = patient(env)
    onboard(env)
    start = post(env, "/patient/setup/limits", {}, "/patient/setup/limits")
    assert start.status_code == 303
    computing = env.client.get("/patient/setup/limits/status")
    assert computing.status_code == 200  # the fragment while running, or the reload signal once done
    assert "limits-status" in computing.text or computing.headers.get("hx-refresh") == "true"
    page = wait_for_limits(env)
    assert 'id="max-angle"' in page and "Predicted at your limit" in page
    data = {"target_angle_deg": "60", "days_per_week": "4", "weeks": "8", "style": "continuous"}
    assert post(env, "/patient/setup/program", data, "/patient/setup/program").status_code == 303
    program = env.store.active_program(CLI_ACTOR, uid)
    assert program is not None
    limits = program["plan"]["limits"]
    assert 10 <= limits["max_angle_deg"] <= 90 and limits["max_hold_min"] > 0
    for s in program["plan"]["sessions"]:
        assert s["max_angle_deg"] <= limits["max_angle_deg"] and s["hold_min"] <= limits["max_hold_min"]
    deadline = time.monotonic() + 120
    while True:
        response = env.client.get("/patient/progress/simulation.json")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        assert response.status_code == 202 and response.json() == {"status": "computing"}
        time.sleep(0.3)
    body = response.json()
    assert body["status"] == "done", body
    titles = [c["title"] for c in body["charts"]]
    assert len(titles) == 5 and any("L4/L5" in t for t in titles) and any("IOP" in t for t in titles)
    first = program["plan"]["sessions"][0]
    angle = body["charts"][0]
    assert len(angle["x"]) == len(angle["series"][0]["values"]) <= patient_pages.MAX_POINTS
    assert max(angle["series"][0]["values"]) == pytest.approx(first["max_angle_deg"], abs=0.5)
    traction = next(c for c in body["charts"] if "Traction" in c["title"])["series"][0]["values"]
    assert body["peaks"]["traction_force_n"]["max"] == pytest.approx(max(traction), abs=0.01)
    iop = next(c for c in body["charts"] if "IOP" in c["title"])["series"][0]["values"]
    assert max(iop) > iop[0] + 1.0  # head-down raises eye pressure
    assert body["iop_limit_mmhg"] == limits["criteria"]["effective_iop_limit_mmhg"]
    again = env.client.get("/patient/progress/simulation.json")  # cached in memory per (person, protocol)
    assert again.status_code == 200 and again.json()["charts"] == body["charts"]


# ------------------------------------------------------------------------------------ questionnaires
def form_hidden(html: str) -> dict[str, str]:
    return dict(HIDDEN.findall(html))


def test_peg_is_scored_stored_once_and_shown(env: Env) -> None:
    uid = patient(env)
    diary = env.client.get("/patient/diary").text
    assert "PEG-3" in diary and "due" in diary
    page = env.client.get("/patient/diary/peg")
    assert page.status_code == 200 and "enjoyment of life" in page.text
    hidden = form_hidden(page.text)
    token = CSRF_INPUT.search(page.text)
    assert token is not None
    data = {"item_1": "7", "item_2": "8", "item_3": "6", "csrf_token": token.group(1), **hidden}
    first = env.client.post("/patient/diary/peg", data=data)
    assert first.status_code == 303 and first.headers["location"].startswith("/patient/diary?saved=")
    replay = env.client.post("/patient/diary/peg", data=data)  # a double submit stores nothing new
    assert replay.status_code == 303 and replay.headers["location"] == first.headers["location"]
    (stored,) = env.store.questionnaires(CLI_ACTOR, uid, instrument="peg")
    assert stored["score"] == 7.0 and stored["answers"] == [7, 8, 6]
    shown = env.client.get(first.headers["location"]).text
    assert 'id="saved-score">7<' in shown and "severe pain and interference" in shown
    assert "Krebs" in shown
    # the next week's answer compares with this one against the published meaningful change
    later = env.client.get("/patient/diary/peg").text
    data2 = {"item_1": "5", "item_2": "5", "item_3": "5", "csrf_token": token.group(1), **form_hidden(later)}
    second = env.client.post("/patient/diary/peg", data=data2)
    assert (
        "better by at least the published meaningful change"
        in env.client.get(second.headers["location"]).text
    )


@pytest.mark.parametrize(
    ("instrument", "data", "field", "words"),
    [
        ("peg", {"item_1": "7", "item_3": "6"}, "item_2", "answer"),
        ("peg", {"item_1": "11", "item_2": "1", "item_3": "1"}, "item_1", "0-10"),
        ("peg", {"item_1": "x", "item_2": "1", "item_3": "1"}, "item_1", "0-10"),
        ("nrs", {"item_1": "3", "day": "2999-01-01"}, "day", "future"),
        ("nrs", {"item_1": "3", "day": "01/02/2024"}, "day", "date"),
        ("startback", {f"item_{n}": "1" for n in range(1, 9)} | {"item_9": "7"}, "item_9", "0-4"),
    ],
)
def test_questionnaire_form_names_the_bad_item(
    env: Env, instrument: str, data: dict[str, str], field: str, words: str
) -> None:
    uid = patient(env)
    page = env.client.get(f"/patient/diary/{instrument}").text
    token = CSRF_INPUT.search(page)
    assert token is not None
    response = env.client.post(
        f"/patient/diary/{instrument}", data={**form_hidden(page), **data, "csrf_token": token.group(1)}
    )
    assert response.status_code == 400
    assert words in field_error(response.text, field)
    assert env.store.questionnaires(CLI_ACTOR, uid) == []


def test_tampered_form_metadata_is_refused(env: Env) -> None:
    patient(env)
    page = env.client.get("/patient/diary/nrs").text
    token = CSRF_INPUT.search(page)
    assert token is not None
    old = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    for meta in (
        {"client_id": "x", "opened_at": old},
        {"client_id": form_hidden(page)["client_id"], "opened_at": old},
    ):
        response = env.client.post(
            "/patient/diary/nrs", data={"item_1": "3", "csrf_token": token.group(1), **meta}
        )
        assert response.status_code == 400 and 'role="alert"' in response.text


def test_rmdq_ticks_and_schedule(env: Env) -> None:
    uid = patient(env)
    page = env.client.get("/patient/diary/rmdq").text
    assert page.count('type="checkbox"') == 24 and "Roland" in page
    token = CSRF_INPUT.search(page)
    assert token is not None
    data = {"item_2": "1", "item_5": "1", "item_17": "1", "csrf_token": token.group(1), **form_hidden(page)}
    assert env.client.post("/patient/diary/rmdq", data=data).status_code == 303
    (stored,) = env.store.questionnaires(CLI_ACTOR, uid, instrument="rmdq")
    assert stored["score"] == 3.0 and sum(stored["answers"]) == 3 and len(stored["answers"]) == 24
    rows = {
        d["key"]: d
        for d in patient_pages.due_questionnaires(
            env.store.questionnaires(CLI_ACTOR, uid), date.today(), False
        )
    }
    assert rows["rmdq"]["due"] is False and rows["rmdq"]["next_due"] == date.today() + timedelta(days=28)
    assert rows["peg"]["due"] is True and rows["nrs"]["due"] is False  # daily pain only during an experiment
    assert "odi" not in rows  # licensed: only where the site declares the licence
    assert env.client.get("/patient/diary/odi").status_code == 404
    assert env.client.get("/patient/diary/nonsense").status_code == 404


# ------------------------------------------------------------------------------------------ progress
def test_progress_charts_and_personal_experiment(env: Env) -> None:
    uid = patient(env)
    start = datetime.now(UTC) - timedelta(days=3)
    for day in range(3):
        t0 = start + timedelta(days=day)
        record = SessionRecord(
            client_id=f"sess-{day:04d}",
            started_at=t0,
            ended_at=t0 + timedelta(minutes=8),
            angle_trace=[(0.0, 0.0), (60.0, 20.0 + 5 * day), (300.0, 0.0)],
            pain_before=6,
            pain_after=4,
        )
        env.store.log_session(CLI_ACTOR, uid, record)
    env.store.add_questionnaire(CLI_ACTOR, uid, "peg", [6, 6, 6], start)
    page = env.client.get("/patient/progress")
    assert page.status_code == 200
    blocks = dict(re.findall(r'<script type="application/json" id="data-(\w+)">(.*?)</script>', page.text))
    assert set(blocks) == {"pain", "sessions"}  # function: nothing recorded yet, so no chart
    assert '"label":"PEG (weekly)","points":[[' in blocks["pain"] and ",6.0]]" in blocks["pain"]
    assert ",30.0]" in blocks["sessions"]  # the steepest angle of the third session
    assert "/static/charts.js" in page.text and "uPlot-1.6.32.iife.min.js" in page.text
    assert "Plan my experiment" in page.text
    bad = post(
        env,
        "/patient/progress/experiment",
        {"start": date.today().isoformat(), "pairs": "13", "block_days": "7"},
        "/patient/progress",
    )
    assert bad.status_code == 400 and "12" in field_error(bad.text, "pairs")
    for data, field in (
        ({"start": "soon", "pairs": "3", "block_days": "7"}, "start"),
        ({"start": date.today().isoformat(), "pairs": "3", "block_days": "2"}, "block_days"),
    ):
        response = post(env, "/patient/progress/experiment", data, "/patient/progress")
        assert response.status_code == 400 and field_error(response.text, field)
    assert env.store.latest_experiment(CLI_ACTOR, uid) is None
    good = {"start": date.today().isoformat(), "pairs": "2", "block_days": "4"}
    assert post(env, "/patient/progress/experiment", good, "/patient/progress").status_code == 303
    saved = env.store.latest_experiment(CLI_ACTOR, uid)
    assert saved is not None and saved["pairs"] == 2 and len(saved["blocks"]) == 4
    page2 = env.client.get("/patient/progress").text
    assert "Not enough data yet" in page2 and "Log today" in page2 and "(now)" in page2
    rows = {d["key"]: d for d in patient_pages.due_questionnaires([], date.today(), True)}
    assert rows["nrs"]["due"] is True


def test_another_patients_data_never_appears(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patient_pages, "compute_limits", fake_limits([]))
    ana = patient(env, "ana@example.org")
    onboard(env, anticoagulants="yes")
    env.store.add_questionnaire(CLI_ACTOR, ana, "peg", [9, 9, 8], datetime.now(UTC))
    env.store.save_experiment(
        CLI_ACTOR,
        ana,
        {
            "start": "2030-01-01",
            "pairs": 1,
            "block_days": 3,
            "seed": 1,
            "blocks": [
                {"pair": 1, "condition": "inversion", "start": "2030-01-01", "end": "2030-01-03"},
                {"pair": 1, "condition": "control", "start": "2030-01-04", "end": "2030-01-06"},
            ],
        },
    )
    patient(env, "bob@example.org")
    for path in PATIENT_PAGES:
        text = env.client.get(path).text
        assert "Ana" not in text and "8.7" not in text and "bleeding risk" not in text, path
        assert "2030-01-04" not in text and 'value="178"' not in text, path
    assert "NEEDS CLEARANCE" not in env.client.get("/patient/setup/screening").text
    assert "Your details are not filled in yet" in env.client.get("/patient/setup/limits").text
