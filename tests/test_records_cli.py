"""The records commands of `inversa`: database, accounts, profiles, logging, questionnaires, the n-of-1
experiment, trends, report and export; every bad input is one `error:` line naming its flag, exit 2.

Commands run in-process through ``main(argv)`` against a SQLite file per test; one test runs the real
entry point in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from inversa.cli.main import main
from inversa.exports import check_bundle
from inversa.store import head_revision, make_engine, upgrade

PATIENT = "pat@example.org"
CLINICIAN = "doc@example.org"
CONTRACT_KEYS = {"instrument", "score", "subscores", "interpretation", "complete"}
SCORE_ANSWERS = {
    "nrs": [6],
    "peg": [6, 5, 7],
    "rmdq": [1, 0] * 12,
    "startback": [1, 0, 1, 0, 1, 1, 1, 0, 4],
    "odi": [1, 2, 3, 0, 1, 2, 3, 0, 1, None],
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit status, stdout, stderr); never a traceback."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def assert_one_error_line(err: str, *names: str) -> str:
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'records.sqlite3'}"


class Cli:
    """Runs commands against one database and checks their outcome."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url, self.capsys = url, capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        return run([*argv, "--database-url", self.url], self.capsys)

    def ok(self, *argv: str) -> str:
        code, out, err = self(*argv)
        assert code == 0, err
        return out

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv))

    def fails(self, *argv: str, names: tuple[str, ...], code: int = 2) -> str:
        got, out, err = self(*argv)
        assert got == code, (got, out, err)
        return assert_one_error_line(err, *names)


@pytest.fixture
def cli(url: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(url, capsys)


@pytest.fixture
def people(cli: Cli) -> Cli:
    """A database with one patient and one clinician."""
    cli.ok("user", "create", "--role", "patient", "--email", PATIENT, "--name", "Pat Doe")
    cli.ok("user", "create", "--role", "clinician", "--email", CLINICIAN, "--name", "Dr Doc")
    return cli


def session_json(client_id: str, day: int = 2, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "client_id": client_id,
        "started_at": f"2026-11-{day:02d}T08:00:00Z",
        "ended_at": f"2026-11-{day:02d}T08:10:00Z",
        "angle_trace": [[0, 0], [10, 30], [600, 30]],
        "heart_rate_trace": [[0, 70], [600, 72]],
        "symptoms": ["headache"],
        "pain_before": 6,
        "pain_after": 4,
    }
    data.update(changes)
    return data


# ------------------------------------------------------------------------------------------- database


def test_db_upgrade_then_status_says_up_to_date(cli: Cli) -> None:
    assert cli.ok("db", "status") == f"database {cli.url}: revision none (needs `inversa db upgrade`)\n"
    assert cli.ok("db", "upgrade") == f"database {cli.url}: revision none -> {head_revision()}\n"
    assert cli.ok("db", "status") == f"database {cli.url}: revision {head_revision()} (up to date)\n"
    assert cli.ok("db", "upgrade") == f"database {cli.url}: revision {head_revision()} -> {head_revision()}\n"


def test_an_old_schema_must_be_upgraded_before_use(cli: Cli) -> None:
    engine = make_engine(cli.url)
    upgrade(engine, "0001")
    engine.dispose()
    assert "needs `inversa db upgrade`" in cli.ok("db", "status")
    cli.fails(
        "user",
        "create",
        "--role",
        "patient",
        "--email",
        PATIENT,
        "--name",
        "P",
        names=("db upgrade",),
        code=1,
    )
    cli.ok("db", "upgrade")
    cli.ok("user", "create", "--role", "patient", "--email", PATIENT, "--name", "P")


def test_a_new_database_gets_the_schema_on_first_use(cli: Cli) -> None:
    assert cli.json("user", "create", "--role", "admin", "--email", " Boss@Example.org", "--name", "B") == {
        "id": 1,
        "email": "boss@example.org",
        "role": "admin",
    }
    assert "(up to date)" in cli.ok("db", "status")


@pytest.mark.parametrize("command", [["db", "status"], ["db", "upgrade"], ["trends", "--patient", PATIENT]])
def test_an_unusable_database_url_is_one_error_line(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in (f"sqlite:///{tmp_path}", "nosuchdriver://somewhere/db"):
        code, _, err = run([*command, "--database-url", bad], capsys)
        assert code == 1, err
        assert_one_error_line(err, "database")


def test_db_upgrade_runs_as_a_program(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "inversa.cli.main", "db", "upgrade", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip().endswith(f"revision none -> {head_revision()}")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
    engine.dispose()


# ------------------------------------------------------------------------------------- users and links


def test_user_create_refuses_a_duplicate_email(people: Cli) -> None:
    line = people.fails(
        "user",
        "create",
        "--role",
        "patient",
        "--email",
        PATIENT.upper(),
        "--name",
        "Again",
        names=("--email",),
    )
    assert "already exists" in line
    people.fails(
        "user", "create", "--role", "patient", "--email", "nobody", "--name", "N", names=("--email",)
    )
    people.fails(
        "user", "create", "--role", "king", "--email", "k@example.org", "--name", "K", names=("--role",)
    )


def test_user_link_names_the_flag_at_fault(people: Cli) -> None:
    people.fails(
        "user", "link", "--clinician", "who@example.org", "--patient", PATIENT, names=("--clinician",)
    )
    people.fails(
        "user", "link", "--clinician", PATIENT, "--patient", PATIENT, names=("--clinician", "patient")
    )
    people.fails(
        "user", "link", "--clinician", CLINICIAN, "--patient", "who@example.org", names=("--patient",)
    )
    people.fails("user", "link", "--clinician", CLINICIAN, "--patient", CLINICIAN, names=("--patient",))
    assert people.ok("user", "link", "--clinician", CLINICIAN, "--patient", PATIENT) == (
        f"{CLINICIAN} can now see {PATIENT}\n"
    )


PROFILE = ["patient", "profile", "--patient", PATIENT, "--sex", "female", "--birth-year", "1980"]


def test_patient_profile_checks_every_value(people: Cli) -> None:
    body = ["--height-cm", "165", "--mass-kg", "60"]
    people.fails(*PROFILE, "--height-cm", "300", "--mass-kg", "60", names=("--height-cm",))
    people.fails(*PROFILE, "--height-cm", "165", "--mass-kg", "20", names=("--mass-kg",))
    people.fails(*PROFILE, *body, "--resting-bp", "120-80", names=("--resting-bp", "120-80"))
    people.fails(*PROFILE, *body, "--resting-bp", "80/120", names=("--resting-bp", "plausible"))
    people.fails(*PROFILE, *body, "--resting-hr", "250", names=("--resting-hr",))
    people.fails(*PROFILE, *body, "--resting-iop", "2", names=("--resting-iop",))
    people.fails(*PROFILE, "--height-cm", "tall", "--mass-kg", "60", names=("--height-cm",))
    wrong = ["patient", "profile", "--patient", CLINICIAN, "--sex", "female", "--birth-year", "1980"]
    people.fails(*wrong, *body, names=("--patient", "not a patient"))
    assert people.ok(*PROFILE, *body, "--resting-bp", "128/82") == f"profile saved for {PATIENT}\n"
    bundle = people.json("export", "--patient", PATIENT, "--format", "fhir")
    resources = [e["resource"] for e in bundle["entry"]]
    (patient,) = [r for r in resources if r["resourceType"] == "Patient"]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1980")
    (panel,) = [r for r in resources if r.get("code", {}).get("coding", [{}])[0].get("code") == "85354-9"]
    assert [c["valueQuantity"]["value"] for c in panel["component"]] == [128.0, 82.0]


# -------------------------------------------------------------------------------------- log session


INLINE = ["log", "session", "--patient", PATIENT]
WHEN = ["--start", "2026-11-02T08:00+01:00", "--end", "2026-11-02T08:20+01:00"]


def test_log_session_inline_is_idempotent(people: Cli) -> None:
    argv = [*INLINE, "--client-id", "cli-000001", *WHEN, "--pain-before", "6", "--pain-after", "4"]
    argv += [
        "--symptom",
        "headache",
        "--symptom",
        "nausea",
        "--notes",
        "ok",
        "--protocol",
        "lie flat for 1 min",
    ]
    assert people.json(*argv) == {"created": 1, "already_stored": 0}
    assert people.json(*argv) == {"created": 0, "already_stored": 1}
    changed = [*argv[:-2], "--protocol", "lie flat for 2 min"]
    people.fails(*changed, names=("client_id", "cli-000001", "different session"))
    with zipfile.ZipFile(people_export_csv(people)) as zf:
        sessions = zf.read("sessions.csv").decode().splitlines()
    assert len(sessions) == 2
    assert sessions[1].startswith(
        "cli-000001,2026-11-02T07:00:00Z,2026-11-02T07:20:00Z,lie flat for 1 min,6,4,"
    )


def people_export_csv(cli: Cli) -> Path:
    out = Path(cli.url.removeprefix("sqlite:///")).with_name("export.zip")
    assert cli.ok("export", "--patient", PATIENT, "--format", "csv", "--out", str(out)) == (
        f"export written to {out}\n"
    )
    return out


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--start", "yesterday", "--end", "2026-11-02T08:20Z"], "--start"),
        (["--start", "2026-11-02T08:00", "--end", "2026-11-02T08:20Z"], "--start"),
        (["--start", "2026-11-02T08:00Z", "--end", "2026-11-02T08:20"], "--end"),
        (["--start", "2026-11-02T08:00Z", "--end", "2026-11-02T07:20Z"], "--end"),
        ([*WHEN, "--pain-before", "11"], "--pain-before"),
        ([*WHEN, "--pain-after", "-1"], "--pain-after"),
        ([*WHEN, "--symptom", "sneezing"], "--symptom"),
        ([*WHEN, "--protocol", "tilt to 60 deg in 10 s"], "--protocol"),
        ([*WHEN, "--notes", "x" * 5001], "--notes"),
        (["--end", "2026-11-02T08:20Z"], "--start"),
        (["--start", "2026-11-02T08:00Z"], "--end"),
    ],
    ids=[
        "start-text",
        "start-naive",
        "end-naive",
        "end-before-start",
        "pain-before",
        "pain-after",
        "symptom",
        "protocol",
        "notes",
        "missing-start",
        "missing-end",
    ],
)
def test_log_session_names_the_bad_flag(people: Cli, extra: list[str], flag: str) -> None:
    line = people.fails(*INLINE, "--client-id", "cli-000001", *extra, names=(flag,))
    assert line.startswith(f"error: {flag}:"), line


def test_log_session_client_id_is_required_and_checked(people: Cli) -> None:
    people.fails(*INLINE, *WHEN, names=("--client-id", "required"))
    people.fails(*INLINE, "--client-id", "short", *WHEN, names=("--client-id",))
    people.fails(
        *["log", "session", "--patient", "who@example.org"],
        "--client-id",
        "cli-0001",
        *WHEN,
        names=("--patient",),
    )


def test_log_session_imports_a_file(people: Cli, tmp_path: Path) -> None:
    single = tmp_path / "one.json"
    single.write_text(json.dumps(session_json("file-000001")), encoding="utf-8")
    assert people.json(*INLINE, "--file", str(single)) == {"created": 1, "already_stored": 0}
    many = tmp_path / "many.json"
    many.write_text(
        json.dumps([session_json("file-000001"), session_json("file-000002", day=3)]), encoding="utf-8"
    )
    assert people.json(*INLINE, "--file", str(many)) == {"created": 1, "already_stored": 1}
    assert people.json(*INLINE, "--file", str(many)) == {"created": 0, "already_stored": 2}
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    assert people.json(*INLINE, "--file", str(empty)) == {"created": 0, "already_stored": 0}


def test_a_bad_session_file_is_refused_as_a_whole(people: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    items = [session_json("file-000001"), session_json("file-000002", angle_trace=[[0, 0], [5, 95]])]
    path.write_text(json.dumps(items), encoding="utf-8")
    line = people.fails(*INLINE, "--file", str(path), names=("--file", "session 2", "angle_trace", "point 1"))
    assert "95" in line
    path.write_text(
        json.dumps(session_json("file-000003", started_at="2026-11-02T08:00:00")), encoding="utf-8"
    )
    line = people.fails(*INLINE, "--file", str(path), names=("--file", "started_at", "timezone"))
    assert "session 1" not in line  # a single object has no number
    path.write_text(json.dumps([session_json("file-000004", mood="fine")]), encoding="utf-8")
    people.fails(*INLINE, "--file", str(path), names=("session 1", "mood"))
    path.write_text("{not json", encoding="utf-8")
    people.fails(*INLINE, "--file", str(path), names=("--file", "not valid JSON"))
    path.write_bytes(b"\xff\xfe\x00garbage")
    people.fails(*INLINE, "--file", str(path), names=("--file", "not valid JSON"))
    people.fails(*INLINE, "--file", str(tmp_path / "missing.json"), names=("--file", "cannot read"))
    # nothing from the refused files was stored
    summary = people.json("trends", "--patient", PATIENT, "--from", "2026-11-01", "--to", "2026-11-30")
    assert summary["sessions"]["sessions"] == 0


def test_log_session_refuses_a_file_and_inline_fields_together(people: Cli, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(session_json("file-000001")), encoding="utf-8")
    people.fails(*INLINE, "--file", str(path), "--client-id", "file-000001", names=("--file", "not both"))
    people.fails(*INLINE, "--file", str(path), "--start", "2026-11-02T08:00Z", names=("--file", "not both"))


# ----------------------------------------------------------------------------------- questionnaires


LOGQ = ["log", "questionnaire", "--patient", PATIENT]


def test_log_questionnaire_stores_and_is_idempotent(people: Cli) -> None:
    peg = [*LOGQ, "--instrument", "peg", "--at", "2026-11-02T20:00+01:00", "--client-id", "phone-q-1"]
    assert people.json(*peg, "--answers", "[6, 5, 7]") == {"id": 1, "created": True}
    assert people.json(*peg, "--answers", "[6, 5, 7]") == {"id": 1, "created": False}
    people.fails(*peg, "--answers", "[6, 5, 6]", names=("phone-q-1", "different response"))
    now = people.json(*LOGQ, "--instrument", "nrs", "--answers", "[3]")  # --at defaults to now
    assert now == {"id": 2, "created": True}


def test_log_questionnaire_names_bad_answers(people: Cli) -> None:
    people.fails(*LOGQ, "--instrument", "nrs", "--answers", "[11]", names=("--answers", "item 1", "11"))
    people.fails(*LOGQ, "--instrument", "peg", "--answers", "[1, 2]", names=("--answers", "3 answers"))
    people.fails(*LOGQ, "--instrument", "peg", "--answers", "[1, 2, 1.5]", names=("--answers", "item 3"))
    people.fails(*LOGQ, "--instrument", "nrs", "--answers", "five", names=("--answers", "JSON"))
    people.fails(*LOGQ, "--instrument", "nrs", "--answers", "[5]", "--at", "noon", names=("--at",))


def test_log_questionnaire_names_the_instrument_when_it_is_unknown(people: Cli) -> None:
    people.fails(*LOGQ, "--instrument", "sf36", "--answers", "[1]", names=("--instrument", "sf36"))


def test_log_questionnaire_refuses_odi_without_a_licence(
    people: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INVERSA_ODI_LICENSED", raising=False)
    answers = json.dumps([1] * 10)
    people.fails(
        *LOGQ, "--instrument", "odi", "--answers", answers, names=("--instrument", "INVERSA_ODI_LICENSED")
    )
    monkeypatch.setenv("INVERSA_ODI_LICENSED", "1")
    assert people.json(*LOGQ, "--instrument", "odi", "--answers", answers)["created"] is True


@pytest.mark.parametrize("instrument", sorted(SCORE_ANSWERS))
def test_questionnaire_score_follows_the_json_contract(
    instrument: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVERSA_ODI_LICENSED", "1")
    answers = json.dumps(SCORE_ANSWERS[instrument])
    argv = ["questionnaire", "score", "--instrument", instrument, "--answers", answers]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == CONTRACT_KEYS
    assert result["instrument"] == instrument
    expected = {"nrs": 6.0, "peg": 6.0, "rmdq": 12.0, "startback": 6.0, "odi": 13 / 45 * 100}[instrument]
    assert result["score"] == pytest.approx(expected)
    assert result["complete"] is (instrument != "odi")
    code, out, err = run([*argv, "--format", "table"], capsys)
    assert code == 0 and out.startswith(f"{instrument}: "), err


def test_questionnaire_score_refuses_odi_without_a_licence(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INVERSA_ODI_LICENSED", raising=False)
    argv = ["questionnaire", "score", "--instrument", "odi", "--answers", json.dumps([1] * 10)]
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert_one_error_line(err, "--instrument", "INVERSA_ODI_LICENSED")
    for bad, flag in (
        (["--instrument", "sf36", "--answers", "[1]"], "--instrument"),
        (["--instrument", "nrs", "--answers", "[1, 2]"], "--answers"),
        (["--instrument", "nrs", "--answers", "[1]", "--format", "xml"], "--format"),
    ):
        code, _, err = run(["questionnaire", "score", *bad], capsys)
        assert code == 2
        assert_one_error_line(err, flag)


# ------------------------------------------------------------------------------------- n-of-1, trends


def test_nof1_plan_then_analyse_without_a_diary(people: Cli) -> None:
    people.fails("nof1", "analyse", "--patient", PATIENT, names=("--patient", "nof1 plan"))
    plan = people.json(
        "nof1", "plan", "--patient", PATIENT, "--start", "2026-11-01", "--seed", "5", "--pairs", "2"
    )
    assert (plan["start"], plan["pairs"], plan["block_days"], plan["seed"]) == ("2026-11-01", 2, 7, 5)
    assert len(plan["blocks"]) == 4 and len(plan["days"]) == 28
    assert (
        people.json(
            "nof1", "plan", "--patient", PATIENT, "--start", "2026-11-01", "--seed", "5", "--pairs", "2"
        )
        == plan
    )
    result = people.json("nof1", "analyse", "--patient", PATIENT)
    assert result["status"] == "not_enough_data" and result["effect_mean"] is None
    # NRS entries inside the plan are analysed (still too few for an answer)
    for day in (2, 3, 9):
        people.ok(*LOGQ, "--instrument", "nrs", "--answers", "[4]", "--at", f"2026-11-{day:02d}T20:00Z")
    result = people.json("nof1", "analyse", "--patient", PATIENT)
    assert result["status"] == "not_enough_data"
    assert result["n_days_logged"] == 3


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--start", "2026-13-01"], "--start"),
        (["--start", "2026-11-01", "--pairs", "0"], "--pairs"),
        (["--start", "2026-11-01", "--block-days", "2"], "--block-days"),
        (["--start", "2026-11-01", "--seed", "-1"], "--seed"),
    ],
)
def test_nof1_plan_names_the_bad_flag(people: Cli, extra: list[str], flag: str) -> None:
    people.fails("nof1", "plan", "--patient", PATIENT, *extra, names=(flag,))


def test_trends_over_a_date_range(people: Cli, tmp_path: Path) -> None:
    for day, pain in ((1, 7), (8, 5), (15, 3), (28, 9)):
        people.ok(*LOGQ, "--instrument", "nrs", "--answers", f"[{pain}]", "--at", f"2026-11-{day:02d}T20:00Z")
    for day in (2, 16):
        sb = "[1,1,1,1,1,1,1,1,4]"
        people.ok(*LOGQ, "--instrument", "startback", "--answers", sb, "--at", f"2026-11-{day:02d}T20:00Z")
    path = tmp_path / "s.json"
    path.write_text(json.dumps([session_json("tr-000001", 2), session_json("tr-000002", 3, pain_after=5)]))
    people.ok(*INLINE, "--file", str(path))
    out = people.json("trends", "--patient", PATIENT, "--from", "2026-11-01", "--to", "2026-11-20")
    assert (out["from"], out["to"]) == ("2026-11-01", "2026-11-20")
    nrs = out["questionnaires"]["nrs"]
    assert (nrs["n"], nrs["baseline"], nrs["latest"], nrs["scores"]) == (3, 7.0, 3.0, [7.0, 5.0, 3.0])
    assert nrs["change"]["improved_meaningfully"] is True
    assert nrs["slope_per_week"] == pytest.approx(-2.0)
    sb = out["questionnaires"]["startback"]
    assert sb["change"] is None and "no meaningful-change rule" in sb["note"]
    assert out["sessions"]["sessions"] == 2 and out["sessions"]["mean_change"] == pytest.approx(-1.5)
    assert out["sessions"]["sessions_with_symptoms"] == 2
    late = people.json("trends", "--patient", PATIENT, "--from", "2026-11-21", "--to", "2026-11-30")
    assert late["questionnaires"]["nrs"]["scores"] == [9.0] and late["sessions"]["sessions"] == 0
    people.fails("trends", "--patient", PATIENT, "--from", "2026-11-31", names=("--from",))
    people.fails(
        "trends", "--patient", PATIENT, "--from", "2026-11-10", "--to", "2026-11-01", names=("--to",)
    )


# ---------------------------------------------------------------------------------- report and export


@pytest.fixture
def with_records(people: Cli, tmp_path: Path) -> Cli:
    people.ok(*PROFILE, "--height-cm", "165", "--mass-kg", "60", "--resting-bp", "128/82")
    path = tmp_path / "sessions.json"
    path.write_text(
        json.dumps([session_json("rec-000001", 2), session_json("rec-000002", 5, symptoms=["nausea"])])
    )
    people.ok(*INLINE, "--file", str(path))
    for day, pain in ((1, 7), (15, 4)):
        people.ok(*LOGQ, "--instrument", "nrs", "--answers", f"[{pain}]", "--at", f"2026-11-{day:02d}T20:00Z")
    people.ok(
        *LOGQ,
        "--instrument",
        "rmdq",
        "--answers",
        json.dumps([1] * 8 + [0] * 16),
        "--at",
        "2026-11-03T20:00Z",
    )
    people.ok("nof1", "plan", "--patient", PATIENT, "--start", "2026-11-01", "--seed", "3")
    return people


def test_report_writes_a_pdf(with_records: Cli, tmp_path: Path) -> None:
    from pypdf import PdfReader

    out = tmp_path / "reports" / "pat.pdf"
    argv = ["report", "--patient", PATIENT, "--out", str(out), "--from", "2026-11-01", "--to", "2026-11-30"]
    assert with_records.ok(*argv) == f"report written to {out}\n"
    reader = PdfReader(out)
    assert len(reader.pages) >= 2
    flat = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert "Pat Doe" in flat and "Period: 2026-11-01 to 2026-11-30" in flat
    assert "ADVERSE SYMPTOMS" in flat and "nausea" in flat and "PERSONAL EXPERIMENT" in flat
    assert "No screening on record" in flat
    assert sorted(p.name for p in out.parent.iterdir()) == ["pat.pdf"]
    pain_only = tmp_path / "pain.pdf"
    with_records.ok(
        *argv[:4], str(pain_only), "--sections", "pain", "--from", "2026-11-01", "--to", "2026-11-30"
    )
    text_ = " ".join(p.extract_text() for p in PdfReader(pain_only).pages)
    assert "NRS" in text_ and "ADVERSE SYMPTOMS" not in text_


def test_report_refuses_bad_options(with_records: Cli, tmp_path: Path) -> None:
    base = ["report", "--patient", PATIENT]
    with_records.fails(*base, "--out", str(tmp_path / "x.txt"), names=("--out", ".pdf"))
    with_records.fails(
        *base, "--out", str(tmp_path / "x.pdf"), "--sections", "pain,nope", names=("--sections", "nope")
    )
    with_records.fails(*base, "--out", str(tmp_path / "x.pdf"), "--from", "soon", names=("--from",))
    with_records.fails(
        "report", "--patient", "who@example.org", "--out", str(tmp_path / "x.pdf"), names=("--patient",)
    )
    assert list(tmp_path.glob("x.*")) == []


def test_export_csv_and_fhir(with_records: Cli, tmp_path: Path) -> None:
    out = tmp_path / "export.zip"
    assert with_records.ok("export", "--patient", PATIENT, "--format", "csv", "--out", str(out)) == (
        f"export written to {out}\n"
    )
    with zipfile.ZipFile(out) as zf:
        assert len(zf.read("sessions.csv").decode().splitlines()) == 3
        assert len(zf.read("questionnaires.csv").decode().splitlines()) == 4
        assert len(zf.read("session_angle_trace.csv").decode().splitlines()) == 1 + 2 * 3
    bundle = with_records.json("export", "--patient", PATIENT, "--format", "fhir")
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    check_bundle(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Procedure") == 2 and kinds.count("QuestionnaireResponse") == 3
    fhir_file = tmp_path / "bundle.json"
    assert with_records.ok("export", "--patient", PATIENT, "--format", "fhir", "--out", str(fhir_file)) == (
        f"FHIR bundle written to {fhir_file}\n"
    )
    written = json.loads(fhir_file.read_text())
    assert [e["fullUrl"] for e in written["entry"]] == [e["fullUrl"] for e in bundle["entry"]]
    check_bundle(written)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("bundle", "export"))) == [
        "bundle.json",
        "export.zip",
    ]
    with_records.fails("export", "--patient", PATIENT, "--format", "xml", names=("--format", "xml"))
    with_records.fails("export", "--patient", CLINICIAN, "--format", "csv", names=("--patient",))


def test_exports_and_reports_are_audited(with_records: Cli, tmp_path: Path) -> None:
    with_records.ok("export", "--patient", PATIENT, "--format", "fhir")
    with_records.ok("report", "--patient", PATIENT, "--out", str(tmp_path / "r.pdf"), "--sections", "summary")
    engine = make_engine(with_records.url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT action, actor_id FROM audit_log WHERE entity = 'patient_record' ORDER BY id")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("export", None), ("report", None)]
