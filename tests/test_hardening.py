"""Regression tests for the security and robustness review: each failed before its fix."""

from __future__ import annotations

import os
import stat
import threading
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from inversa.cli.main import main
from inversa.exports import build_bundle, export_csv_zip, write_pdf_report
from inversa.store import (
    CLI_ACTOR,
    AccessDeniedError,
    Actor,
    Role,
    SessionRecord,
    Store,
    make_engine,
    upgrade,
)
from inversa.store.models import User

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _session(client_id: str, notes: str = "") -> SessionRecord:
    return SessionRecord(
        client_id=client_id,
        started_at=T0,
        ended_at=T0 + timedelta(minutes=6),
        angle_trace=[(5.5, 0.0), (60.0, 30.0), (300.0, 30.0)],
        heart_rate_trace=[(0.0, 70.0), (120.0, 66.0)],
        notes=notes,
    )


@pytest.fixture
def people(store_engine: Engine) -> tuple[Store, int, int, int]:
    store = Store(store_engine)
    alice = store.create_user(CLI_ACTOR, "alice@example.org", "Alice", Role.PATIENT)
    bob = store.create_user(CLI_ACTOR, "bob@example.org", "Bob", Role.PATIENT)
    doc = store.create_user(CLI_ACTOR, "doc@example.org", "Doc", Role.CLINICIAN)
    store.link(CLI_ACTOR, doc, alice)
    return store, alice, bob, doc


def test_profile_updates_accept_only_profile_fields(people: tuple[Store, int, int, int]) -> None:
    store, alice, bob, _ = people
    with pytest.raises(ValueError, match="user_id: not a profile field"):
        store.set_profile(Actor(alice, Role.PATIENT), alice, user_id=bob)


def test_actors_are_checked_against_their_accounts(people: tuple[Store, int, int, int]) -> None:
    store, alice, bob, doc = people
    store.log_session(CLI_ACTOR, alice, _session("sess-00001"))
    with pytest.raises(AccessDeniedError, match="role does not match"):
        store.sessions(Actor(bob, Role.ADMIN), alice, reason="curious")
    with pytest.raises(AccessDeniedError, match="not the command-line operator"):
        store.sessions(Actor(None, Role.ADMIN, "command line"), alice)  # equal to, but not, the operator
    assert len(store.sessions(Actor(doc, Role.CLINICIAN), alice)) == 1
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE users SET active = false WHERE id = :id"), {"id": doc})
    with pytest.raises(AccessDeniedError, match="no active account"):
        store.sessions(Actor(doc, Role.CLINICIAN), alice)


def test_only_a_verified_admin_with_a_reason_reads_the_audit_log(people: tuple[Store, int, int, int]) -> None:
    store, alice, _, _ = people
    admin = store.create_user(CLI_ACTOR, "root@example.org", "Root", Role.ADMIN)
    with pytest.raises(AccessDeniedError):
        store.audit_entries(actor=Actor(alice, Role.PATIENT))
    with pytest.raises(AccessDeniedError):
        store.audit_entries(actor=Actor(admin, Role.ADMIN))
    entries = store.audit_entries(actor=Actor(admin, Role.ADMIN), reason="quarterly access review")
    assert entries
    last = store.audit_entries()[-1]
    assert (last["action"], last["entity"], last["reason"]) == (
        "read",
        "audit_log",
        "quarterly access review",
    )


def test_lookups_never_return_the_password_hash(people: tuple[Store, int, int, int]) -> None:
    store, *_ = people
    info = store.user_by_email("alice@example.org")
    assert not hasattr(info, "password_hash")
    assert not isinstance(info, User)


def test_racing_uploads_of_one_session_store_it_once(people: tuple[Store, int, int, int]) -> None:
    store, alice, _, _ = people
    record = _session("race-00001")
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def upload() -> None:
        barrier.wait()
        try:
            results.append(store.log_session(CLI_ACTOR, alice, record))
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert len({sid for sid, _ in results}) == 1


def test_questionnaire_client_ids_are_validated(people: tuple[Store, int, int, int]) -> None:
    store, alice, _, _ = people
    for bad in ("", "short", "x" * 65, "has space 123"):
        with pytest.raises(ValueError, match="client_id"):
            store.add_questionnaire(CLI_ACTOR, alice, "nrs", [4], T0, bad)


def test_exports_are_private_escape_formulas_and_render_dollar_signs(
    people: tuple[Store, int, int, int], tmp_path: Path
) -> None:
    store, alice, _, _ = people
    store.log_session(CLI_ACTOR, alice, _session("sess-00002", notes="=cmd|'/c calc'!A1"))
    record = store.patient_record(CLI_ACTOR, alice)
    record["patient"]["display_name"] = r"Ann $\frac$ Lee costs $5 and $10"
    zipped = export_csv_zip(record, tmp_path / "export.zip")
    assert stat.S_IMODE(os.stat(zipped).st_mode) == 0o600
    with zipfile.ZipFile(zipped) as zf:
        sessions_csv = zf.read("sessions.csv").decode()
    assert "'=cmd|" in sessions_csv
    pdf = write_pdf_report(record, tmp_path / "r.pdf", T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert stat.S_IMODE(os.stat(pdf).st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))
    from pypdf import PdfReader

    page = PdfReader(str(pdf)).pages[0].extract_text()
    assert "$5 and $10" in page


def test_sampled_data_starts_where_its_first_sample_is(people: tuple[Store, int, int, int]) -> None:
    store, alice, _, _ = people
    store.log_session(CLI_ACTOR, alice, _session("sess-00003"))
    bundle = build_bundle(store.patient_record(CLI_ACTOR, alice))
    angle = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "tilt-angle"
    )
    assert datetime.fromisoformat(angle["effectivePeriod"]["start"]) == T0 + timedelta(seconds=5)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_retryable_questionnaire_entries_need_their_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'q.sqlite3'}"
    assert (
        _run(
            [
                "user",
                "create",
                "--role",
                "patient",
                "--email",
                "p@x.org",
                "--name",
                "P",
                "--database-url",
                url,
            ],
            capsys,
        )[0]
        == 0
    )
    code, err = _run(
        [
            "log",
            "questionnaire",
            "--patient",
            "p@x.org",
            "--instrument",
            "nrs",
            "--answers",
            "[5]",
            "--client-id",
            "qq-0000001",
            "--database-url",
            url,
        ],
        capsys,
    )
    assert code == 2 and err.startswith("error: --at:") and err.count("\n") == 1


def test_a_database_newer_than_this_inversa_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    for argv in (["db", "upgrade"], ["db", "status"], ["trends", "--patient", "p@x.org"]):
        code, err = _run([*argv, "--database-url", url], capsys)
        if argv[1] == "status":
            assert code == 0
            continue
        assert code == 1, argv
        assert "newer than this Inversa" in err and "Traceback" not in err and err.count("\n") == 1


def test_the_embedded_database_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("INVERSA_DATABASE_URL", raising=False)
    engine = make_engine()
    upgrade(engine)
    db_file = tmp_path / "data" / "inversa" / "inversa.sqlite3"
    assert stat.S_IMODE(os.stat(db_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db_file.parent).st_mode) == 0o700


def test_out_of_range_times_and_control_characters_are_clear_errors(
    people: tuple[Store, int, int, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by the web layer's fuzzing: each used to reach the database or print a traceback."""
    store, alice, _, _ = people
    year_one = datetime.fromisoformat("0001-01-01T00:00+01:00")
    with pytest.raises(ValueError, match="date-time out of range"):
        SessionRecord(client_id="abcdefgh12", started_at=year_one, ended_at=year_one + timedelta(minutes=5))
    with pytest.raises(ValueError, match="date-time out of range"):
        store.add_questionnaire(Actor(alice, Role.PATIENT), alice, "nrs", [3], year_one)
    with pytest.raises(ValueError, match="notes: must not contain control characters"):
        _session("abcdefgh13", notes="bad\x00byte")
    assert _session("abcdefgh14", notes="two\nlines\tand a tab").notes.startswith("two")
    with pytest.raises(ValueError, match="display_name: at most 200 characters"):
        store.create_user(CLI_ACTOR, "long@example.org", "x" * 201, Role.PATIENT)
    with pytest.raises(ValueError, match="display_name: must not contain control characters"):
        store.create_user(CLI_ACTOR, "nul@example.org", "Nul\x00Name", Role.PATIENT)
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    assert (
        _run(
            [
                "user",
                "create",
                "--role",
                "patient",
                "--email",
                "alice@example.org",
                "--name",
                "A",
                "--database-url",
                url,
            ],
            capsys,
        )[0]
        == 0
    )
    code, err = _run(
        [
            "log",
            "session",
            "--database-url",
            url,
            "--patient",
            "alice@example.org",
            "--client-id",
            "abcdefgh15",
            "--start",
            "0001-01-01T00:00+01:00",
            "--end",
            "0001-01-01T00:10+01:00",
        ],
        capsys,
    )
    assert code == 2 and "Traceback" not in err and "out of range" in err
