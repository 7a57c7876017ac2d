"""Commands for the records: database schema, accounts, profiles and logging sessions/questionnaires."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import Engine

from inversa.cli.common import DatabaseOption, InputError, describe_validation_error, open_store
from inversa.store import (
    CLI_ACTOR,
    SYMPTOMS,
    ConflictError,
    NotFoundError,
    Role,
    SessionRecord,
    Store,
    StoreError,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    upgrade,
)

__all__ = ["db_app", "log_app", "patient_app", "patient_id", "user_app"]

db_app = typer.Typer(help="Create or upgrade the database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts and clinician-patient links.", no_args_is_help=True)
patient_app = typer.Typer(help="Patient body data and resting values.", no_args_is_help=True)
log_app = typer.Typer(help="Record sessions and questionnaires.", no_args_is_help=True)


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _engine_and_revision(url: str | None) -> tuple[Engine, str | None]:
    try:
        engine = make_engine(url)
        return engine, current_revision(engine)
    except Exception as exc:  # driver errors vary: one line, never a traceback
        raise StoreError(
            f"cannot open the database: {exc.__class__.__name__}: {exc}".splitlines()[0]
        ) from None


@db_app.command("upgrade")
def db_upgrade(database_url_opt: DatabaseOption = None) -> None:
    """Bring the schema to the newest revision, keeping all data."""
    engine, before = _engine_and_revision(database_url_opt)
    upgrade(engine)
    where = _safe_url(database_url(database_url_opt))
    print(f"database {where}: revision {before or 'none'} -> {head_revision()}")


@db_app.command("status")
def db_status(database_url_opt: DatabaseOption = None) -> None:
    """Show where the database is and its schema revision."""
    _, rev = _engine_and_revision(database_url_opt)
    state = "up to date" if rev == head_revision() else "needs `inversa db upgrade`"
    print(f"database {_safe_url(database_url(database_url_opt))}: revision {rev or 'none'} ({state})")


def patient_id(store: Store, email: str) -> int:
    """The id of the patient account with this email, or a clear error."""
    try:
        user = store.user_by_email(email)
    except NotFoundError as exc:
        raise InputError(f"--patient: {exc}") from None
    if user.role is not Role.PATIENT:
        raise InputError(f"--patient: {email} is a {user.role.value}, not a patient")
    return user.id


@user_app.command("create")
def user_create(
    role: Annotated[Role, typer.Option(help="patient, clinician or admin")],
    email: Annotated[str, typer.Option(help="sign-in email")],
    name: Annotated[str, typer.Option(help="display name")],
    database_url_opt: DatabaseOption = None,
) -> None:
    """Create an account. No password is ever set by default."""
    store = open_store(database_url_opt)
    try:
        uid = store.create_user(CLI_ACTOR, email, name, role)
    except ValueError as exc:
        raise InputError(f"--{exc}") from None
    print(json.dumps({"id": uid, "email": email.strip().lower(), "role": role.value}))


@user_app.command("link")
def user_link(
    clinician: Annotated[str, typer.Option(help="clinician's email")],
    patient: Annotated[str, typer.Option(help="patient's email")],
    database_url_opt: DatabaseOption = None,
) -> None:
    """Let a clinician see a patient's records."""
    store = open_store(database_url_opt)
    try:
        c = store.user_by_email(clinician)
    except NotFoundError as exc:
        raise InputError(f"--clinician: {exc}") from None
    if c.role is not Role.CLINICIAN:
        raise InputError(f"--clinician: {clinician} is a {c.role.value}, not a clinician")
    store.link(CLI_ACTOR, c.id, patient_id(store, patient))  # patient_id names --patient on errors
    print(f"{clinician} can now see {patient}")


def _bp(text: str | None) -> tuple[float | None, float | None]:
    if text is None:
        return None, None
    try:
        sys_s, dia_s = text.split("/")
        systolic, diastolic = float(sys_s), float(dia_s)
    except ValueError:
        raise InputError(f"--resting-bp: expected SYSTOLIC/DIASTOLIC like 120/80, got {text!r}") from None
    if not (60 <= systolic <= 260 and 30 <= diastolic <= 160 and diastolic < systolic):
        raise InputError(f"--resting-bp: {text} is not a plausible blood pressure")
    return systolic, diastolic


@patient_app.command("profile")
def patient_profile(
    patient: Annotated[str, typer.Option(help="patient's email")],
    sex: Annotated[str, typer.Option(help="male or female")],
    birth_year: Annotated[int, typer.Option("--birth-year")],
    height_cm: Annotated[float, typer.Option("--height-cm")],
    mass_kg: Annotated[float, typer.Option("--mass-kg")],
    resting_bp: Annotated[str | None, typer.Option("--resting-bp", help="e.g. 120/80")] = None,
    resting_hr: Annotated[float | None, typer.Option("--resting-hr")] = None,
    resting_iop: Annotated[float | None, typer.Option("--resting-iop")] = None,
    database_url_opt: DatabaseOption = None,
) -> None:
    """Store body data (checked as the engine checks it) and resting values."""
    from inversa.body import Person, PersonError

    age = datetime.now(UTC).year - birth_year
    try:
        person = Person.create(sex=sex, age_years=age, height_cm=height_cm, mass_kg=mass_kg)
    except PersonError as exc:
        flag = {"age_years": "--birth-year"}.get(exc.field, "--" + exc.field.replace("_", "-"))
        raise InputError(f"{flag}: {exc}") from None
    systolic, diastolic = _bp(resting_bp)
    if resting_hr is not None and not 30 <= resting_hr <= 200:
        raise InputError(f"--resting-hr: must be between 30 and 200 bpm, got {resting_hr:g}")
    if resting_iop is not None and not 5 <= resting_iop <= 60:
        raise InputError(f"--resting-iop: must be between 5 and 60 mmHg, got {resting_iop:g}")
    store = open_store(database_url_opt)
    resting = {
        "resting_systolic_mmhg": systolic,
        "resting_diastolic_mmhg": diastolic,
        "resting_heart_rate_bpm": resting_hr,
        "resting_iop_mmhg": resting_iop,
    }
    store.set_profile(
        CLI_ACTOR,
        patient_id(store, patient),
        sex=person.sex.value,
        birth_year=birth_year,
        height_cm=height_cm,
        mass_kg=mass_kg,
        **{k: v for k, v in resting.items() if v is not None},  # omitted values stay as stored
    )
    print(f"profile saved for {patient}")


def _records_from_file(path: Path) -> list[SessionRecord]:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--file: cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"--file: {path} is not valid JSON: {exc}") from None
    items = raw if isinstance(raw, list) else [raw]
    records = []
    for i, item in enumerate(items):
        try:
            records.append(SessionRecord.model_validate(item))
        except ValidationError as exc:
            where = f"session {i + 1}: " if isinstance(raw, list) else ""
            raise InputError(describe_validation_error(exc, f"--file: {where}")) from None
    return records


def _when(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{flag}: expected an ISO date-time like 2026-11-25T08:00+01:00, got {text!r}"
        ) from None
    if value.tzinfo is None:
        raise InputError(f"{flag}: include a timezone, e.g. {text}Z or {text}+01:00")
    return value


_SESSION_FLAGS = {
    "client_id": "--client-id",
    "started_at": "--start",
    "ended_at": "--end",
    "planned_protocol": "--protocol",
    "pain_before": "--pain-before",
    "pain_after": "--pain-after",
    "symptoms": "--symptom",
    "notes": "--notes",
}


@log_app.command("session")
def log_session(
    patient: Annotated[str, typer.Option(help="patient's email")],
    file: Annotated[Path | None, typer.Option("--file", help="JSON: one session or a list (import)")] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="unique id made once per session")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="ISO date-time with timezone")] = None,
    end: Annotated[str | None, typer.Option("--end", help="ISO date-time with timezone")] = None,
    protocol: Annotated[str, typer.Option("--protocol", help="the planned protocol")] = "",
    pain_before: Annotated[int | None, typer.Option("--pain-before", help="0-10")] = None,
    pain_after: Annotated[int | None, typer.Option("--pain-after", help="0-10")] = None,
    symptom: Annotated[
        list[str] | None, typer.Option("--symptom", help=f"one of {', '.join(SYMPTOMS)}")
    ] = None,
    notes: Annotated[str, typer.Option("--notes")] = "",
    database_url_opt: DatabaseOption = None,
) -> None:
    """Record a session (or import a file of them). Sending the same session again is harmless."""
    if file is not None:
        if any(v is not None for v in (client_id, start, end)):
            raise InputError("--file: give either --file or --client-id/--start/--end, not both")
        records = _records_from_file(file)
    else:
        missing = [
            f for f, v in (("--client-id", client_id), ("--start", start), ("--end", end)) if v is None
        ]
        if missing:
            raise InputError(f"{missing[0]}: required unless --file is given")
        assert client_id is not None and start is not None and end is not None
        try:
            records = [
                SessionRecord.model_validate(
                    {
                        "client_id": client_id,
                        "started_at": _when(start, "--start"),
                        "ended_at": _when(end, "--end"),
                        "planned_protocol": protocol,
                        "pain_before": pain_before,
                        "pain_after": pain_after,
                        "symptoms": symptom or [],
                        "notes": notes,
                    }
                )
            ]
        except ValidationError as exc:
            err = exc.errors()[0]
            if err["loc"]:
                field = str(err["loc"][0])
            else:  # a check across fields: name the first field its message mentions (times: --end)
                order = ("ended_at", "angle_trace", "heart_rate_trace", *_SESSION_FLAGS)
                field = next((f for f in order if f in str(err["msg"])), "ended_at")
            flag = _SESSION_FLAGS.get(field, "--" + field.replace("_", "-"))
            raise InputError(f"{flag}: {str(err['msg']).removeprefix('Value error, ')}") from None
    store = open_store(database_url_opt)
    counts = store.import_sessions(CLI_ACTOR, patient_id(store, patient), records)
    sys.stdout.write(json.dumps(counts) + "\n")


@log_app.command("questionnaire")
def log_questionnaire(
    patient: Annotated[str, typer.Option(help="patient's email")],
    instrument: Annotated[str, typer.Option(help="nrs, peg, rmdq, startback or odi")],
    answers: Annotated[str, typer.Option(help="JSON list in the instrument's item order")],
    at: Annotated[str | None, typer.Option("--at", help="ISO date-time (default now)")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id")] = None,
    database_url_opt: DatabaseOption = None,
) -> None:
    """Score (as published) and store a questionnaire response."""
    from inversa.outcomes import LicenceError, QuestionnaireError, parse_answers_json

    try:
        values = parse_answers_json(answers)
    except QuestionnaireError as exc:
        raise InputError(f"--answers: {exc}") from None
    if client_id is not None and at is None:
        # a retry must describe the same response: without --at the time would differ each run
        raise InputError("--at: required with --client-id, so that sending the entry again is harmless")
    when = _when(at, "--at") if at else datetime.now(UTC)
    store = open_store(database_url_opt)
    try:
        rid, created = store.add_questionnaire(
            CLI_ACTOR, patient_id(store, patient), instrument, values, when, client_id
        )
    except LicenceError as exc:
        raise InputError(f"--instrument: {exc}") from None
    except QuestionnaireError as exc:
        flag = "--instrument" if str(exc).startswith("unknown instrument") else "--answers"
        raise InputError(f"{flag}: {exc}") from None
    except ConflictError:
        raise
    except ValueError as exc:
        if str(exc).startswith("client_id:"):
            raise InputError(f"--client-id: {str(exc).removeprefix('client_id: ')}") from None
        raise
    sys.stdout.write(json.dumps({"id": rid, "created": created}) + "\n")
