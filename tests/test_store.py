"""The record store: migrations, access rules, audit, idempotent uploads, atomicity and crash safety.

Every test runs on SQLite and, when INVERSA_TEST_POSTGRES_URL is set, on PostgreSQL too (see the
``db_url`` fixture in conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Engine, func, insert, inspect, select, text

from inversa.protocol import Protocol, ProtocolError
from inversa.store import (
    CLI_ACTOR,
    AccessDeniedError,
    Actor,
    ConflictError,
    NotFoundError,
    Role,
    SessionRecord,
    Store,
    current_revision,
    head_revision,
    make_engine,
    session_scope,
    upgrade,
)
from inversa.store.models import AuditLog, Base, QuestionnaireResponse, TableSession

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ANGLES = [[0.0, 0.0], [10.0, 30.0], [60.0, 60.0], [540.0, 60.0], [600.0, 0.0]]
HEART = [[0.0, 70.0], [60.0, 74.5], [300.0, 72.0], [600.0, 68.0]]


def record(client_id: str, start: datetime = T0, minutes: float = 10, **changes: Any) -> SessionRecord:
    """A valid session starting at ``start``; ``changes`` override or add fields."""
    data: dict[str, Any] = {
        "client_id": client_id,
        "started_at": start,
        "ended_at": start + timedelta(minutes=minutes),
        "planned_protocol": "lie flat for 1 min; tilt to 60 deg over 10 s; hold at 60 deg for 8 min",
        "angle_trace": ANGLES,
        "heart_rate_trace": HEART,
        "symptoms": ["headache"],
        "pain_before": 6,
        "pain_after": 4,
        "notes": "felt fine",
    }
    data.update(changes)
    return SessionRecord.model_validate(data)


@dataclass(frozen=True)
class People:
    alice: int  # patient
    bob: int  # patient
    carol: int  # clinician linked to alice
    dave: int  # clinician not linked to anyone
    erin: int  # admin


@pytest.fixture
def store(store_engine: Engine) -> Store:
    return Store(store_engine)


@pytest.fixture
def people(store: Store) -> People:
    make = store.create_user
    ids = People(
        alice=make(CLI_ACTOR, "alice@example.org", "Alice", Role.PATIENT),
        bob=make(CLI_ACTOR, "bob@example.org", "Bob", Role.PATIENT),
        carol=make(CLI_ACTOR, "carol@example.org", "Carol", Role.CLINICIAN),
        dave=make(CLI_ACTOR, "dave@example.org", "Dave", Role.CLINICIAN),
        erin=make(CLI_ACTOR, "erin@example.org", "Erin", Role.ADMIN),
    )
    store.link(CLI_ACTOR, ids.carol, ids.alice)
    return ids


def count(engine: Engine, table: type[Base]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def new_audit(store: Store, before: int) -> list[dict[str, Any]]:
    """Audit rows written since the log held ``before`` rows."""
    return store.audit_entries()[before:]


# ------------------------------------------------------------------------------------------ migrations


def test_upgrade_builds_the_schema_the_models_describe(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        upgrade(engine)  # a second upgrade is a no-op
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_every_record(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        assert current_revision(engine) == "0001"
        assert "nof1_experiments" not in inspect(engine).get_table_names()
        t = Base.metadata.tables
        sessions_in = [
            {
                "client_id": "old-session-0001",
                "planned_protocol": "lie flat for 1 min; tilt to 45 deg over 10 s",
                "started_at": T0,
                "ended_at": T0 + timedelta(minutes=10),
                "angle_trace": [[0.0, 0.0], [10.0, 45.0], [70.5, 45.25]],
                "heart_rate_trace": [[0.0, 66.0], [30.0, 71.5]],
                "symptoms": ["dizziness", "nausea"],
                "pain_before": 7,
                "pain_after": 5,
                "notes": "first session",
            },
            {
                "client_id": "old-session-0002",
                "planned_protocol": "",
                "started_at": T0 + timedelta(days=2),
                "ended_at": T0 + timedelta(days=2, minutes=5),
                "angle_trace": [[0.0, -10.0], [120.0, 30.0]],
                "heart_rate_trace": [],
                "symptoms": [],
                "pain_before": None,
                "pain_after": None,
                "notes": "",
            },
        ]
        responses_in = [
            ("nrs", [6], 6.0, {}, T0 - timedelta(days=1)),
            ("peg", [6, 5, 4], 5.0, {"pain": 6, "enjoyment": 5, "activity": 4}, T0 + timedelta(days=3)),
        ]
        with engine.begin() as conn:

            def add(table: str, **values: Any) -> int:
                return int(conn.execute(insert(t[table]).returning(t[table].c.id), values).scalar_one())

            patient = add(
                "users", email="pat@example.org", display_name="Pat", role=Role.PATIENT, active=True
            )
            clinician = add("users", email="doc@example.org", display_name="Doc", role=Role.CLINICIAN)
            add("clinician_patients", clinician_id=clinician, patient_id=patient)
            add(
                "patient_profiles",
                user_id=patient,
                sex="female",
                birth_year=1975,
                height_cm=168.0,
                mass_kg=61.5,
                resting_systolic_mmhg=124.0,
                resting_diastolic_mmhg=79.0,
            )
            for s in sessions_in:
                add("table_sessions", patient_id=patient, **s)
            for instrument, answers, score, subscores, at in responses_in:
                add(
                    "questionnaire_responses",
                    patient_id=patient,
                    instrument=instrument,
                    answers=answers,
                    score=score,
                    subscores=subscores,
                    complete=True,
                    recorded_at=at,
                )
            for action in ("create", "read"):
                add("audit_log", action=action, entity="table_session", patient_id=patient, detail={})

        upgrade(engine)
        assert current_revision(engine) == head_revision()
        store = Store(engine)
        doctor = Actor(clinician, Role.CLINICIAN)
        got = store.sessions(doctor, patient)
        assert [s["client_id"] for s in got] == ["old-session-0001", "old-session-0002"]
        for old, new in zip(sessions_in, got, strict=True):
            assert new["angle_trace"] == old["angle_trace"]
            assert new["heart_rate_trace"] == old["heart_rate_trace"]
            assert new["symptoms"] == old["symptoms"]
            assert (new["pain_before"], new["pain_after"], new["notes"]) == (
                old["pain_before"],
                old["pain_after"],
                old["notes"],
            )
            assert datetime.fromisoformat(new["started_at"]) == old["started_at"]
            assert datetime.fromisoformat(new["ended_at"]) == old["ended_at"]
        responses_out = store.questionnaires(doctor, patient)
        assert [(r["instrument"], r["answers"], r["score"], r["subscores"]) for r in responses_out] == [
            (i, a, s, sub) for i, a, s, sub, _ in responses_in
        ]
        assert [datetime.fromisoformat(r["recorded_at"]) for r in responses_out] == [
            x[4] for x in responses_in
        ]
        whole = store.patient_record(CLI_ACTOR, patient)
        assert whole["profile"]["height_cm"] == 168.0
        assert whole["profile"]["resting_systolic_mmhg"] == 124.0
        old_audit = [(a["action"], a["entity"]) for a in store.audit_entries(patient)[:2]]
        assert old_audit == [("create", "table_session"), ("read", "table_session")]

        # the table added by 0002 works on the upgraded database
        schedule = {"start": "2026-11-01", "note": "kept as given"}
        exp_id = store.save_experiment(CLI_ACTOR, patient, schedule)
        assert exp_id >= 1
        assert store.latest_experiment(doctor, patient) == schedule
        # and new rows get fresh ids next to the migrated ones (sequences were not disturbed)
        sid, created = store.log_session(CLI_ACTOR, patient, record("new-session-0003"))
        assert created and sid not in {s["id"] for s in got}
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------- access rules


def test_a_patient_sees_only_their_own_data(store: Store, people: People) -> None:
    store.log_session(CLI_ACTOR, people.alice, record("alice-0001"))
    store.log_session(CLI_ACTOR, people.bob, record("bob-00001"))
    alice = Actor(people.alice, Role.PATIENT)
    assert [s["client_id"] for s in store.sessions(alice, people.alice)] == ["alice-0001"]
    before = len(store.audit_entries())
    with pytest.raises(AccessDeniedError, match="own data"):
        store.sessions(alice, people.bob)
    with pytest.raises(AccessDeniedError):
        store.patient_record(alice, people.bob)
    with pytest.raises(AccessDeniedError):
        store.log_session(alice, people.bob, record("alice-into-bob"))
    denials = new_audit(store, before)
    assert [(a["action"], a["entity"], a["actor_id"], a["patient_id"]) for a in denials] == [
        ("denied", "patient_data", people.alice, people.bob)
    ] * 3
    assert denials[0]["detail"]["why"] == "a patient can only see their own data"
    assert count(store.engine, TableSession) == 2  # the refused write left nothing behind


def test_a_clinician_sees_only_linked_patients(store: Store, people: People) -> None:
    store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [5], T0)
    carol, dave = Actor(people.carol, Role.CLINICIAN), Actor(people.dave, Role.CLINICIAN)
    assert [r["score"] for r in store.questionnaires(carol, people.alice)] == [5.0]
    before = len(store.audit_entries())
    with pytest.raises(AccessDeniedError, match="not linked"):
        store.questionnaires(dave, people.alice)
    with pytest.raises(AccessDeniedError, match="not linked"):
        store.questionnaires(carol, people.bob)
    assert [(a["action"], a["actor_id"], a["patient_id"]) for a in new_audit(store, before)] == [
        ("denied", people.dave, people.alice),
        ("denied", people.carol, people.bob),
    ]
    # once linked (by the patient themself), the clinician may read
    store.link(Actor(people.alice, Role.PATIENT), people.dave, people.alice)
    assert len(store.questionnaires(dave, people.alice)) == 1


def test_an_admin_reads_clinical_data_only_with_a_reason(store: Store, people: People) -> None:
    store.log_session(CLI_ACTOR, people.alice, record("alice-0001"))
    erin = Actor(people.erin, Role.ADMIN)
    before = len(store.audit_entries())
    for reason in (None, "   "):
        with pytest.raises(AccessDeniedError, match="stated reason"):
            store.sessions(erin, people.alice, reason=reason)
    denied = new_audit(store, before)
    assert [(a["action"], a["actor_id"], a["patient_id"]) for a in denied] == [
        ("denied", people.erin, people.alice)
    ] * 2
    before = len(store.audit_entries())
    got = store.sessions(erin, people.alice, reason="support ticket 42")
    assert [s["client_id"] for s in got] == ["alice-0001"]
    record_ = store.patient_record(erin, people.alice, reason="subject access request")
    assert record_["patient"]["id"] == people.alice
    rows = new_audit(store, before)
    assert [(a["action"], a["entity"], a["reason"]) for a in rows] == [
        ("read", "table_session", "support ticket 42"),
        ("export", "patient_record", "subject access request"),
    ]
    assert all(a["actor_id"] == people.erin for a in rows)


def test_the_command_line_operator_may_read_and_is_audited_as_such(store: Store, people: People) -> None:
    store.log_session(CLI_ACTOR, people.alice, record("alice-0001"))
    assert len(store.sessions(CLI_ACTOR, people.alice)) == 1
    last = store.audit_entries()[-1]
    assert (last["action"], last["actor_id"], last["detail"]["actor"]) == ("read", None, "command line")
    # an admin actor that merely looks like the operator gets no such pass
    lookalike = Actor(None, Role.ADMIN)
    with pytest.raises(AccessDeniedError):
        store.sessions(lookalike, people.alice)


def test_unknown_patients_and_non_patients_are_not_found(store: Store, people: People) -> None:
    for missing in (999_999, people.carol, people.erin):
        with pytest.raises(NotFoundError, match=f"no patient with id {missing}"):
            store.sessions(CLI_ACTOR, missing)
    with pytest.raises(NotFoundError):
        store.log_session(CLI_ACTOR, 999_999, record("nobody-0001"))
    with pytest.raises(NotFoundError, match="no clinician"):
        store.link(CLI_ACTOR, people.bob, people.alice)
    with pytest.raises(NotFoundError, match="no patient"):
        store.link(CLI_ACTOR, people.carol, people.dave)
    with pytest.raises(NotFoundError):
        store.user_by_email("nobody@example.org")
    assert count(store.engine, TableSession) == 0


def test_accounts_are_managed_by_admins_only(store: Store, people: People) -> None:
    with pytest.raises(AccessDeniedError):
        store.create_user(Actor(people.carol, Role.CLINICIAN), "x@example.org", "X", Role.PATIENT)
    with pytest.raises(AccessDeniedError):
        store.link(Actor(people.bob, Role.PATIENT), people.dave, people.alice)
    with pytest.raises(ConflictError, match="email"):
        store.create_user(CLI_ACTOR, " ALICE@example.org ", "Alice again", Role.PATIENT)
    with pytest.raises(ValueError, match="email"):
        store.create_user(CLI_ACTOR, "not-an-address", "X", Role.PATIENT)
    with pytest.raises(ValueError, match="display_name"):
        store.create_user(CLI_ACTOR, "x@example.org", "  ", Role.PATIENT)
    uid = store.create_user(Actor(people.erin, Role.ADMIN), " New@Example.org", " New ", Role.PATIENT)
    user = store.user_by_email("NEW@example.org")
    assert (user.id, user.email, user.display_name, user.role) == (
        uid,
        "new@example.org",
        "New",
        Role.PATIENT,
    )


# --------------------------------------------------------------------------------------------- audit


def test_every_change_and_read_is_audited(store: Store) -> None:
    def step(action: Any) -> list[dict[str, Any]]:
        before = len(store.audit_entries())
        action()
        return new_audit(store, before)

    def key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(a["action"], a["entity"], a["entity_id"], a["patient_id"]) for a in rows]

    ids: dict[str, int] = {}
    rows = step(lambda: ids.update(p=store.create_user(CLI_ACTOR, "p@example.org", "P", Role.PATIENT)))
    p = ids["p"]
    assert key(rows) == [("create", "user", str(p), None)]
    assert rows[0]["detail"] == {"actor": "command line", "role": "patient"}
    rows = step(lambda: ids.update(c=store.create_user(CLI_ACTOR, "c@example.org", "C", Role.CLINICIAN)))
    c = ids["c"]
    assert key(rows) == [("create", "user", str(c), None)] and rows[0]["detail"]["role"] == "clinician"
    assert key(step(lambda: store.link(CLI_ACTOR, c, p))) == [("create", "clinician_link", str(c), p)]
    assert step(lambda: store.link(CLI_ACTOR, c, p)) == []  # linking twice changes nothing
    doctor = Actor(c, Role.CLINICIAN)
    rows = step(lambda: store.set_profile(doctor, p, sex="male", birth_year=1970, height_cm=180, mass_kg=80))
    assert key(rows)[0][:2] == ("update", "patient_profile") and key(rows)[0][3] == p
    assert rows[0]["actor_id"] == c
    assert rows[0]["detail"]["fields"] == ["birth_year", "height_cm", "mass_kg", "sex"]
    rows = step(lambda: ids.update(s=store.log_session(doctor, p, record("audit-0001"))[0]))
    assert key(rows) == [("create", "table_session", str(ids["s"]), p)]
    assert rows[0]["detail"]["client_id"] == "audit-0001"
    rows = step(lambda: ids.update(q=store.add_questionnaire(doctor, p, "peg", [5, 5, 5], T0)[0]))
    assert key(rows) == [("create", "questionnaire_response", str(ids["q"]), p)]
    rows = step(lambda: store.sessions(doctor, p))
    assert key(rows) == [("read", "table_session", None, p)] and rows[0]["detail"]["count"] == 1
    rows = step(lambda: store.questionnaires(doctor, p, instrument="nrs"))
    assert key(rows) == [("read", "questionnaire_response", None, p)]
    rows = step(lambda: ids.update(e=store.save_experiment(doctor, p, {"k": 1})))
    assert key(rows) == [("create", "nof1_experiment", str(ids["e"]), p)]
    assert key(step(lambda: store.latest_experiment(doctor, p))) == [
        ("read", "nof1_experiment", str(ids["e"]), p)
    ]
    assert key(step(lambda: store.patient_record(doctor, p))) == [("export", "patient_record", str(p), p)]
    assert key(step(lambda: store.patient_record(doctor, p, purpose="report"))) == [
        ("report", "patient_record", str(p), p)
    ]
    assert all(a["at"] for a in store.audit_entries())
    assert store.audit_entries(p) == [a for a in store.audit_entries() if a["patient_id"] == p]


# ------------------------------------------------------------------------------------ idempotent uploads


def test_sending_a_session_twice_stores_it_once(store: Store, people: People) -> None:
    first = store.log_session(CLI_ACTOR, people.alice, record("phone-abc-001"))
    assert first[1] is True
    again = store.log_session(CLI_ACTOR, people.alice, record("phone-abc-001"))
    assert again == (first[0], False)
    # the same instant written in another timezone is the same session
    shifted = T0.astimezone(timezone(timedelta(hours=1)))
    assert store.log_session(CLI_ACTOR, people.alice, record("phone-abc-001", start=shifted)) == again
    assert count(store.engine, TableSession) == 1
    assert store.import_sessions(CLI_ACTOR, people.alice, [record("phone-abc-001")] * 2) == {
        "created": 0,
        "already_stored": 2,
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"pain_after": 3},
        {"angle_trace": [*ANGLES[:-1], [600.0, 1.0]]},
        {"symptoms": []},
        {"minutes": 11},
        {"notes": "other"},
    ],
    ids=["pain", "trace", "symptoms", "length", "notes"],
)
def test_a_different_session_under_a_used_client_id_is_refused(
    store: Store, people: People, changes: dict[str, Any]
) -> None:
    sid, _ = store.log_session(CLI_ACTOR, people.alice, record("phone-abc-001"))
    with pytest.raises(ConflictError, match="client_id: phone-abc-001"):
        store.log_session(CLI_ACTOR, people.alice, record("phone-abc-001", **changes))
    assert [s["id"] for s in store.sessions(CLI_ACTOR, people.alice)] == [sid]


def test_a_client_id_cannot_be_reused_for_another_patient(store: Store, people: People) -> None:
    store.log_session(CLI_ACTOR, people.alice, record("phone-abc-001"))
    with pytest.raises(ConflictError):
        store.log_session(CLI_ACTOR, people.bob, record("phone-abc-001"))
    assert store.sessions(CLI_ACTOR, people.bob) == []


def test_questionnaire_uploads_are_idempotent_by_client_id(store: Store, people: People) -> None:
    rid, created = store.add_questionnaire(CLI_ACTOR, people.alice, "peg", [6, 5, 4], T0, "q-000001")
    assert created
    assert store.add_questionnaire(CLI_ACTOR, people.alice, "peg", [6, 5, 4], T0, "q-000001") == (rid, False)
    with pytest.raises(ConflictError, match="q-000001"):
        store.add_questionnaire(CLI_ACTOR, people.alice, "peg", [6, 5, 3], T0, "q-000001")
    with pytest.raises(ConflictError):
        store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [6], T0, "q-000001")
    with pytest.raises(ConflictError):
        store.add_questionnaire(CLI_ACTOR, people.bob, "peg", [6, 5, 4], T0, "q-000001")
    # without a client id every call is a new response
    store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [4], T0)
    store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [4], T0)
    assert count(store.engine, QuestionnaireResponse) == 3
    got = store.questionnaires(CLI_ACTOR, people.alice, instrument="peg")
    assert [(r["score"], r["subscores"], r["complete"]) for r in got] == [
        (5.0, {"pain": 6, "enjoyment": 5, "activity": 4}, True)
    ]


def test_a_reused_questionnaire_client_id_with_another_time_is_refused(store: Store, people: People) -> None:
    rid, _ = store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [4], T0, "daily-nrs-1")
    with pytest.raises(ConflictError, match="daily-nrs-1"):
        store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [4], T0 + timedelta(days=1), "daily-nrs-1")
    assert [r["id"] for r in store.questionnaires(CLI_ACTOR, people.alice)] == [rid]


def test_stored_sessions_read_back_exactly(store: Store, people: People) -> None:
    local = datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    rec = record("exact-0001", start=local, symptoms=["dizziness", "stop_now"], pain_after=None)
    sid, _ = store.log_session(CLI_ACTOR, people.alice, rec)
    (got,) = store.sessions(CLI_ACTOR, people.alice)
    assert got["id"] == sid and got["client_id"] == "exact-0001"
    assert got["started_at"] == "2026-11-02T07:30:00Z"
    assert got["angle_trace"] == ANGLES and got["heart_rate_trace"] == HEART
    assert got["symptoms"] == ["dizziness", "stop_now"]
    assert (got["pain_before"], got["pain_after"], got["notes"]) == (6, None, "felt fine")
    assert got["planned_protocol"] == rec.planned_protocol


def test_date_ranges_select_sessions_and_responses(store: Store, people: People) -> None:
    for day in range(5):
        start = T0 + timedelta(days=day)
        store.log_session(CLI_ACTOR, people.alice, record(f"range-{day:04d}", start=start))
        store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [day], start)
    lo, hi = T0 + timedelta(days=1), T0 + timedelta(days=3)
    assert [s["client_id"] for s in store.sessions(CLI_ACTOR, people.alice, lo, hi)] == [
        "range-0001",
        "range-0002",
        "range-0003",
    ]
    assert [r["score"] for r in store.questionnaires(CLI_ACTOR, people.alice, start=lo, end=hi)] == [1, 2, 3]
    whole = store.patient_record(CLI_ACTOR, people.alice, start=hi)
    assert [s["client_id"] for s in whole["sessions"]] == ["range-0003", "range-0004"]
    assert [r["score"] for r in whole["questionnaires"]] == [3, 4]


def test_date_ranges_in_any_timezone_mean_the_same_instants(store: Store, people: People) -> None:
    store.log_session(CLI_ACTOR, people.alice, record("tz-000001"))  # starts 08:00 UTC
    store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [4], T0)
    paris, new_york = timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))
    before = datetime(2026, 11, 2, 8, 30, tzinfo=paris)  # 07:30 UTC
    after = datetime(2026, 11, 2, 4, 0, tzinfo=new_york)  # 09:00 UTC
    assert len(store.sessions(CLI_ACTOR, people.alice, start=before)) == 1
    assert len(store.sessions(CLI_ACTOR, people.alice, end=after)) == 1
    assert len(store.questionnaires(CLI_ACTOR, people.alice, start=before, end=after)) == 1
    assert store.sessions(CLI_ACTOR, people.alice, end=before) == []


# ----------------------------------------------------------------------------------------- atomicity


def test_a_failed_audit_write_leaves_no_session(
    store: Store, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Store._audit

    def failing(db: Any, actor: Actor, action: str, entity: str, *args: Any, **kwargs: Any) -> None:
        if (action, entity) in {("create", "table_session"), ("create", "questionnaire_response")}:
            raise RuntimeError("audit log unavailable")
        real(db, actor, action, entity, *args, **kwargs)

    monkeypatch.setattr(Store, "_audit", staticmethod(failing))
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        store.log_session(CLI_ACTOR, people.alice, record("atomic-0001"))
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [3], T0, "atomic-q-01")
    assert count(store.engine, TableSession) == 0
    assert count(store.engine, QuestionnaireResponse) == 0
    monkeypatch.setattr(Store, "_audit", staticmethod(real))
    assert store.log_session(CLI_ACTOR, people.alice, record("atomic-0001"))[1] is True
    assert store.add_questionnaire(CLI_ACTOR, people.alice, "nrs", [3], T0, "atomic-q-01")[1] is True


def test_a_denial_is_audited_although_its_transaction_rolls_back(store: Store, people: People) -> None:
    with pytest.raises(AccessDeniedError):
        store.add_questionnaire(Actor(people.bob, Role.PATIENT), people.alice, "nrs", [3], T0)
    with session_scope(store.engine) as db:
        denied = db.scalars(select(AuditLog).where(AuditLog.action == "denied")).all()
        assert [(a.actor_id, a.patient_id, a.entity) for a in denied] == [
            (people.bob, people.alice, "patient_data")
        ]
    assert count(store.engine, QuestionnaireResponse) == 0


# --------------------------------------------------------------------------------- killed mid-import

TOTAL_SESSIONS = 400
TRACE_POINTS = 900
KILL_AFTER = 25  # sessions committed before the importer is killed (about 6 % of the file)

IMPORT_SCRIPT = """
import json, sys
from inversa.store import CLI_ACTOR, SessionRecord, Store, make_engine
url, path, patient = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, encoding="utf-8") as f:
    records = [SessionRecord.model_validate(item) for item in json.load(f)]
print("importing", flush=True)
print(Store(make_engine(url)).import_sessions(CLI_ACTOR, patient, records), flush=True)
"""


def big_sessions(n: int, points: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        start = T0 + timedelta(hours=i)
        out.append(
            {
                "client_id": f"bulk-{i:06d}",
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(seconds=points)).isoformat(),
                "angle_trace": [[float(t), round(60.0 * ((t + i) % 90) / 90.0, 3)] for t in range(points)],
                "heart_rate_trace": [[float(t), 60.0 + (t * 7 + i) % 40] for t in range(points)],
                "symptoms": ["headache"] if i % 7 == 0 else [],
                "pain_before": i % 11,
                "pain_after": (i + 3) % 11,
            }
        )
    return out


def test_a_killed_import_leaves_whole_sessions_and_can_be_resumed(
    db_url: str, store: Store, tmp_path: Path
) -> None:
    patient = store.create_user(CLI_ACTOR, "bulk@example.org", "Bulk", Role.PATIENT)
    source = big_sessions(TOTAL_SESSIONS, TRACE_POINTS)
    path = tmp_path / "sessions.json"
    path.write_text(json.dumps(source), encoding="utf-8")
    watcher = make_engine(db_url)
    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORT_SCRIPT, db_url, str(path), str(patient)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = 0
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            seen = count(watcher, TableSession)
            if seen >= KILL_AFTER or proc.poll() is not None:
                break
            time.sleep(0.005)
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not finished, f"the import ended before it could be killed (rc {proc.returncode}): {out} {err}"
    assert KILL_AFTER <= seen < TOTAL_SESSIONS, f"only {seen} sessions stored after 60 s: {err}"
    assert proc.returncode == -signal.SIGKILL
    watcher.dispose()

    fresh = make_engine(db_url)
    try:
        if fresh.dialect.name == "sqlite":
            with fresh.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        reader = Store(fresh)
        stored = reader.sessions(CLI_ACTOR, patient)
        assert seen <= len(stored) <= TOTAL_SESSIONS - 1, (seen, len(stored))
        by_id = {s["client_id"]: s for s in source}
        for s in stored:
            want = by_id[s["client_id"]]
            assert len(s["angle_trace"]) == TRACE_POINTS and len(s["heart_rate_trace"]) == TRACE_POINTS
            assert s["angle_trace"] == want["angle_trace"]
            assert s["heart_rate_trace"] == want["heart_rate_trace"]
        # the import is resumed: whole sessions already stored are recognised, none is duplicated
        records = [SessionRecord.model_validate(item) for item in source]
        counts = reader.import_sessions(CLI_ACTOR, patient, records)
        assert counts == {"created": TOTAL_SESSIONS - len(stored), "already_stored": len(stored)}
        with fresh.connect() as conn:
            ids = conn.scalars(select(TableSession.client_id)).all()
        assert sorted(ids) == sorted(by_id)
        creates = [a for a in reader.audit_entries(patient) if a["action"] == "create"]
        assert len(creates) == TOTAL_SESSIONS  # one audit row per stored session, none lost or doubled
    finally:
        fresh.dispose()


# ------------------------------------------------------------------------------------ record validation


def bad(changes: dict[str, Any]) -> ValidationError:
    data: dict[str, Any] = {
        "client_id": "valid-0001",
        "started_at": "2026-11-02T08:00:00Z",
        "ended_at": "2026-11-02T08:10:00Z",
    }
    data.update(changes)
    with pytest.raises(ValidationError) as info:
        SessionRecord.model_validate(data)
    return info.value


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"started_at": "2026-11-02T08:00:00"}, ("started_at",), "must include a timezone"),
        ({"ended_at": "2026-11-02T08:10:00"}, ("ended_at",), "must include a timezone"),
        (
            {"angle_trace": [[0, 0], [5, 90], [10, 95]]},
            ("angle_trace",),
            "point 2: angle (deg) must be between -90 and 90, got 95",
        ),
        (
            {"angle_trace": [[0, -90.5]]},
            ("angle_trace",),
            "point 0: angle (deg) must be between -90 and 90, got -90.5",
        ),
        (
            {"heart_rate_trace": [[0, 70], [1, 19]]},
            ("heart_rate_trace",),
            "point 1: heart rate (bpm) must be between 20 and 250, got 19",
        ),
        ({"heart_rate_trace": [[0, 251]]}, ("heart_rate_trace",), "between 20 and 250, got 251"),
        (
            {"angle_trace": [[0, 0], [10, 5], [9, 5]]},
            ("angle_trace",),
            "point 2: times must start at 0 or later and never go back",
        ),
        ({"heart_rate_trace": [[-1, 70]]}, ("heart_rate_trace",), "point 0: times must start at 0"),
        ({"angle_trace": [[0, float("nan")]]}, ("angle_trace",), "point 0: values must be finite"),
        ({"angle_trace": [[float("inf"), 0]]}, ("angle_trace",), "point 0: values must be finite"),
        ({"ended_at": "2026-11-02T07:59:59Z"}, (), "ended_at must not be before started_at"),
        ({"ended_at": "2026-11-03T08:00:01Z"}, (), "more than 24 h"),
        ({"angle_trace": [[0, 0], [661, 0]]}, (), "angle_trace runs past the end of the session"),
        ({"symptoms": ["headache", "sneezing"]}, ("symptoms", 1), "dizziness"),
        ({"mood": "good"}, ("mood",), "Extra inputs are not permitted"),
        ({"client_id": "short"}, ("client_id",), "at least 8 characters"),
        ({"client_id": "has space 01"}, ("client_id",), "should match pattern"),
        ({"client_id": "x" * 65}, ("client_id",), "at most 64 characters"),
        ({"pain_before": 11}, ("pain_before",), "less than or equal to 10"),
        ({"pain_after": -1}, ("pain_after",), "greater than or equal to 0"),
    ],
)
def test_session_records_refuse_bad_input_naming_it(
    changes: dict[str, Any], loc: tuple[Any, ...], message: str
) -> None:
    err = bad(changes).errors()[0]
    assert tuple(err["loc"]) == loc
    assert message in err["msg"], err["msg"]


def test_a_bad_planned_protocol_is_refused_with_the_parser_message() -> None:
    text_ = "lie flat for 1 min; tilt to 60 deg in 10 s"
    with pytest.raises(ProtocolError) as parsed:
        Protocol.parse(text_)
    err = bad({"planned_protocol": text_}).errors()[0]
    assert err["loc"] == ("planned_protocol",)
    assert err["msg"] == f"Value error, {parsed.value}"
    assert 'step 2 "tilt to 60 deg in 10 s"' in err["msg"]


def test_session_records_accept_the_limits_and_normalise_to_utc() -> None:
    rec = SessionRecord.model_validate(
        {
            "client_id": "A.b_c:d-0",
            "started_at": "2026-11-02T09:00:00+01:00",
            "ended_at": "2026-11-02T09:10:00+01:00",
            "angle_trace": [[0, -90], [5, 90], [5, 90], [600, 0]],
            "heart_rate_trace": [[0, 20], [660, 250]],  # up to a minute past the end is tolerated
            "symptoms": ["stop_now"],
            "pain_before": 0,
            "pain_after": 10,
            "planned_protocol": "   ",
        }
    )
    assert rec.started_at == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert rec.started_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        rec.pain_after = 3  # type: ignore[misc]  # records are frozen
