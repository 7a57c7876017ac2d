"""The store's service layer: every read and change of clinical data goes through here.

Each public method runs in one transaction, checks that the actor may touch the patient's data,
and writes the audit row in that same transaction, so a record and its audit entry stand or fall
together. Access rules: a patient sees only their own data; a clinician only linked patients; an
admin manages accounts and reads clinical data only with a stated reason, which is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from inversa.store.db import session_scope
from inversa.store.models import (
    AuditLog,
    ClinicianPatient,
    Nof1Experiment,
    PatientProfile,
    Program,
    QuestionnaireResponse,
    Role,
    Screening,
    ScreeningOverride,
    TableSession,
    User,
)
from inversa.store.records import CLIENT_ID_RE, SessionRecord, check_text

__all__ = [
    "CLI_ACTOR",
    "AccessDeniedError",
    "Actor",
    "ConflictError",
    "NotFoundError",
    "Store",
]


class AccessDeniedError(PermissionError):
    """The actor may not read or change this patient's data."""


class NotFoundError(LookupError):
    """No such user, patient or record."""


class ConflictError(ValueError):
    """A client id already names a different record."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user id and role, or the local operator at the command line (id None)."""

    user_id: int | None
    role: Role
    label: str = ""


#: The person at the machine's command line: a local operator, audited as such. Recognised by
#: identity: any other actor is checked against its account (role, active) and an admin must state a
#: reason to read clinical data.
CLI_ACTOR = Actor(user_id=None, role=Role.ADMIN, label="command line")


def _session_payload(record: SessionRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    data.pop("client_id")
    return data


def _row_payload(row: TableSession) -> dict[str, Any]:
    return SessionRecord(
        client_id=row.client_id,
        started_at=_utc(row.started_at),
        ended_at=_utc(row.ended_at),
        planned_protocol=row.planned_protocol,
        angle_trace=[tuple(p) for p in row.angle_trace],
        heart_rate_trace=[tuple(p) for p in row.heart_rate_trace],
        symptoms=row.symptoms,
        pain_before=row.pain_before,
        pain_after=row.pain_after,
        notes=row.notes,
    ).model_dump(mode="json") | {"client_id": None}


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes for stored UTC values: make them aware again."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_range(
    db: Session, model: Any, when: Any, patient_id: int, start: datetime | None, end: datetime | None
) -> list[Any]:
    """One patient's rows of ``model`` with ``when`` in [start, end], oldest first."""
    query = select(model).where(model.patient_id == patient_id)
    if start is not None:
        query = query.where(when >= _bound(start))
    if end is not None:
        query = query.where(when <= _bound(end))
    return list(db.scalars(query.order_by(when, model.id)).all())


def _columns(row: Any, names: Iterable[str]) -> dict[str, Any]:
    """Selected columns of a row as plain values, times as UTC ISO text."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(row, name)
        out[name] = _utc(value).isoformat() if isinstance(value, datetime) else value
    return out


def _session_dict(row: TableSession) -> dict[str, Any]:
    return _row_payload(row) | {"id": row.id, "client_id": row.client_id}


def _response_dict(row: QuestionnaireResponse) -> dict[str, Any]:
    return {
        "id": row.id,
        "instrument": row.instrument,
        "answers": list(row.answers),
        "score": row.score,
        "subscores": dict(row.subscores),
        "complete": row.complete,
        "recorded_at": _utc(row.recorded_at).isoformat(),
    }


def _retry_once_on_race(attempt: Callable[[], tuple[int, bool]], client_id: str) -> tuple[int, bool]:
    """Run an idempotent insert; if a concurrent insert of the same client id won (unique
    violation), run it once more: it then finds that row and answers as a repeat or a conflict."""
    try:
        return attempt()
    except IntegrityError:
        try:
            return attempt()
        except IntegrityError as exc:
            raise ConflictError(f"client_id: {client_id} could not be stored: {exc.orig}") from None


def _bound(value: datetime) -> datetime:
    """A time given to the store as UTC (naive taken as UTC): SQLite compares stored UTC clock times
    and would ignore an offset. A time with no UTC equivalent (year 1 at +01:00) is a ValueError."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None


#: The columns of a patient profile that callers may set.
PROFILE_FIELDS = frozenset(
    {
        "sex",
        "birth_year",
        "height_cm",
        "mass_kg",
        "resting_systolic_mmhg",
        "resting_diastolic_mmhg",
        "resting_heart_rate_bpm",
        "resting_iop_mmhg",
    }
)


@dataclass(frozen=True)
class UserInfo:
    """An account as other code may see it: never the password hash."""

    id: int
    email: str
    display_name: str
    role: Role
    active: bool


class Store:
    """Typed operations on the database for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ----------------------------------------------------------------- access and audit
    def _check(self, db: Session, actor: Actor, patient_id: int, reason: str | None) -> None:
        patient = db.get(User, patient_id)
        if patient is None or patient.role is not Role.PATIENT:
            raise NotFoundError(f"no patient with id {patient_id}")
        why = self._verify_actor(db, actor)
        if why is not None:
            pass
        elif actor.role is Role.PATIENT:
            if actor.user_id != patient_id:
                why = "a patient can only see their own data"
        elif actor.role is Role.CLINICIAN:
            link = db.scalar(
                select(ClinicianPatient).where(
                    ClinicianPatient.clinician_id == actor.user_id,
                    ClinicianPatient.patient_id == patient_id,
                )
            )
            if link is None:
                why = "this patient is not linked to this clinician"
        elif actor is not CLI_ACTOR and not (reason and reason.strip()):
            why = "an admin reads clinical data only with a stated reason"
        if why is not None:
            # the caller's transaction rolls back: record the refusal in a transaction of its own
            with session_scope(self.engine) as audit_db:
                self._audit(audit_db, actor, "denied", "patient_data", None, patient_id, reason, why=why)
            raise AccessDeniedError(why)

    @staticmethod
    def _verify_actor(db: Session, actor: Actor) -> str | None:
        """Why this actor is not who it claims to be (None when it is): the role must match the
        account's, and the account must be active. Only the CLI_ACTOR object itself has no account."""
        if actor is CLI_ACTOR:
            return None
        if actor.user_id is None:
            return "an actor without an account is not the command-line operator"
        user = db.get(User, actor.user_id)
        if user is None or not user.active:
            return "no active account for this actor"
        if user.role is not actor.role:
            return "the actor's role does not match the account"
        return None

    @staticmethod
    def _audit(
        db: Session,
        actor: Actor,
        action: str,
        entity: str,
        entity_id: object = None,
        patient_id: int | None = None,
        reason: str | None = None,
        **detail: Any,
    ) -> None:
        if actor.label:
            detail = {"actor": actor.label, **detail}
        db.add(
            AuditLog(
                actor_id=actor.user_id,
                action=action,
                entity=entity,
                entity_id=None if entity_id is None else str(entity_id),
                patient_id=patient_id,
                reason=reason,
                detail=detail,
            )
        )

    # ----------------------------------------------------------------- accounts
    def create_user(
        self, actor: Actor, email: str, display_name: str, role: Role, password_hash: str | None = None
    ) -> int:
        """Create an account (admins and the local operator only); returns its id."""
        if actor.role is not Role.ADMIN:
            raise AccessDeniedError("only an admin creates accounts")
        email = email.strip().lower()
        if "@" not in email or len(email) > 320:
            raise ValueError(f"email: not a valid address: {email!r}")
        if not display_name.strip():
            raise ValueError("display_name: must not be empty")
        if len(display_name.strip()) > 200:
            raise ValueError("display_name: at most 200 characters")
        check_text(email, "email")
        check_text(display_name, "display_name")
        try:
            with session_scope(self.engine) as db:
                user = User(
                    email=email, display_name=display_name.strip(), role=role, password_hash=password_hash
                )
                db.add(user)
                db.flush()
                self._audit(db, actor, "create", "user", user.id, role=role.value)
                return user.id
        except IntegrityError:
            raise ConflictError(f"email: an account for {email} already exists") from None

    def user_by_email(self, email: str) -> UserInfo:
        """Look an account up by email (no clinical data, and never the password hash)."""
        with session_scope(self.engine) as db:
            user = db.scalar(select(User).where(User.email == email.strip().lower()))
            if user is None:
                raise NotFoundError(f"no user with email {email!r}")
            return UserInfo(user.id, user.email, user.display_name, user.role, user.active)

    def link(self, actor: Actor, clinician_id: int, patient_id: int) -> None:
        """Let a clinician see a patient (admins, or the patient themself, may link)."""
        with session_scope(self.engine) as db:
            clinician, patient = db.get(User, clinician_id), db.get(User, patient_id)
            if clinician is None or clinician.role is not Role.CLINICIAN:
                raise NotFoundError(f"no clinician with id {clinician_id}")
            if patient is None or patient.role is not Role.PATIENT:
                raise NotFoundError(f"no patient with id {patient_id}")
            if not (actor.role is Role.ADMIN or actor.user_id == patient_id):
                raise AccessDeniedError("only an admin or the patient links a clinician")
            exists = db.scalar(
                select(ClinicianPatient).where(
                    ClinicianPatient.clinician_id == clinician_id, ClinicianPatient.patient_id == patient_id
                )
            )
            if exists is None:
                db.add(ClinicianPatient(clinician_id=clinician_id, patient_id=patient_id))
                self._audit(db, actor, "create", "clinician_link", clinician_id, patient_id)

    def set_profile(self, actor: Actor, patient_id: int, **fields: Any) -> None:
        """Create or update the patient's body data and resting values."""
        reason = fields.pop("reason", None)
        unknown = sorted(set(fields) - PROFILE_FIELDS)
        if unknown:
            raise ValueError(
                f"{unknown[0]}: not a profile field (allowed: {', '.join(sorted(PROFILE_FIELDS))})"
            )
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, reason)
            profile = db.scalar(select(PatientProfile).where(PatientProfile.user_id == patient_id))
            if profile is None:
                profile = PatientProfile(user_id=patient_id, **fields)
                db.add(profile)
            else:
                for key, value in fields.items():
                    setattr(profile, key, value)
            db.flush()
            self._audit(
                db, actor, "update", "patient_profile", profile.id, patient_id, reason, fields=sorted(fields)
            )

    # ----------------------------------------------------------------- sessions
    def log_session(self, actor: Actor, patient_id: int, record: SessionRecord) -> tuple[int, bool]:
        """Store one session atomically; returns (id, created). Re-sending it is harmless, also when
        two uploads of the same session race: the later one finds the first and becomes a repeat."""
        return _retry_once_on_race(
            lambda: self._log_session_once(actor, patient_id, record), record.client_id
        )

    def _log_session_once(self, actor: Actor, patient_id: int, record: SessionRecord) -> tuple[int, bool]:
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, None)
            existing = db.scalar(select(TableSession).where(TableSession.client_id == record.client_id))
            if existing is not None:
                if existing.patient_id != patient_id or _row_payload(existing) != (
                    _session_payload(record) | {"client_id": None}
                ):
                    raise ConflictError(f"client_id: {record.client_id} already names a different session")
                return existing.id, False
            payload = _session_payload(record)
            row = TableSession(
                client_id=record.client_id,
                patient_id=patient_id,
                planned_protocol=record.planned_protocol,
                started_at=record.started_at,
                ended_at=record.ended_at,
                angle_trace=payload["angle_trace"],
                heart_rate_trace=payload["heart_rate_trace"],
                symptoms=payload["symptoms"],
                pain_before=record.pain_before,
                pain_after=record.pain_after,
                notes=record.notes,
            )
            db.add(row)
            db.flush()
            self._audit(db, actor, "create", "table_session", row.id, patient_id, client_id=record.client_id)
            return row.id, True

    def import_sessions(
        self, actor: Actor, patient_id: int, records: Iterable[SessionRecord]
    ) -> dict[str, int]:
        """Store many sessions, each in its own transaction: an interrupted import keeps whole
        sessions only, and running it again completes it without duplicates."""
        counts = {"created": 0, "already_stored": 0}
        for record in records:
            _, created = self.log_session(actor, patient_id, record)
            counts["created" if created else "already_stored"] += 1
        return counts

    def sessions(
        self,
        actor: Actor,
        patient_id: int,
        start: datetime | None = None,
        end: datetime | None = None,
        reason: str | None = None,
    ) -> list[dict[str, Any]]:
        """A patient's sessions in a date range, oldest first (the read is audited)."""
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, reason)
            rows = _in_range(db, TableSession, TableSession.started_at, patient_id, start, end)
            self._audit(db, actor, "read", "table_session", None, patient_id, reason, count=len(rows))
            return [_session_dict(r) for r in rows]

    # ----------------------------------------------------------------- questionnaires
    def add_questionnaire(
        self,
        actor: Actor,
        patient_id: int,
        instrument: str,
        answers: Sequence[int | None],
        recorded_at: datetime,
        client_id: str | None = None,
    ) -> tuple[int, bool]:
        """Score (as published) and store one response; idempotent by client id, also under races."""
        if client_id is not None and not CLIENT_ID_RE.fullmatch(client_id):
            raise ValueError("client_id: must be 8-64 letters, digits or _ . : -")
        return _retry_once_on_race(
            lambda: self._add_questionnaire_once(
                actor, patient_id, instrument, answers, recorded_at, client_id
            ),
            client_id or "",
        )

    def _add_questionnaire_once(
        self,
        actor: Actor,
        patient_id: int,
        instrument: str,
        answers: Sequence[int | None],
        recorded_at: datetime,
        client_id: str | None = None,
    ) -> tuple[int, bool]:
        """Score and store one questionnaire response (scored as published); idempotent by client id."""
        from inversa.outcomes import score

        result = score(instrument, answers)
        when = _bound(recorded_at)
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, None)
            if client_id is not None:
                existing = db.scalar(
                    select(QuestionnaireResponse).where(QuestionnaireResponse.client_id == client_id)
                )
                if existing is not None:
                    same = (
                        existing.patient_id == patient_id
                        and existing.instrument == result.instrument
                        and list(existing.answers) == list(answers)
                        and _utc(existing.recorded_at) == when
                    )
                    if not same:
                        raise ConflictError(f"client_id: {client_id} already names a different response")
                    return existing.id, False
            row = QuestionnaireResponse(
                client_id=client_id,
                patient_id=patient_id,
                instrument=result.instrument,
                answers=list(answers),
                score=result.score,
                subscores=dict(result.subscores),
                complete=result.complete,
                recorded_at=when,
            )
            db.add(row)
            db.flush()
            self._audit(
                db, actor, "create", "questionnaire_response", row.id, patient_id, instrument=instrument
            )
            return row.id, True

    def questionnaires(
        self,
        actor: Actor,
        patient_id: int,
        instrument: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        reason: str | None = None,
    ) -> list[dict[str, Any]]:
        """A patient's scored responses, oldest first (the read is audited)."""
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, reason)
            rows = _in_range(
                db, QuestionnaireResponse, QuestionnaireResponse.recorded_at, patient_id, start, end
            )
            rows = [r for r in rows if instrument is None or r.instrument == instrument]
            self._audit(
                db, actor, "read", "questionnaire_response", None, patient_id, reason, count=len(rows)
            )
            return [_response_dict(r) for r in rows]

    # ----------------------------------------------------------------- n-of-1
    def save_experiment(self, actor: Actor, patient_id: int, schedule: dict[str, Any]) -> int:
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, None)
            row = Nof1Experiment(patient_id=patient_id, schedule=schedule)
            db.add(row)
            db.flush()
            self._audit(db, actor, "create", "nof1_experiment", row.id, patient_id)
            return row.id

    def latest_experiment(
        self, actor: Actor, patient_id: int, reason: str | None = None
    ) -> dict[str, Any] | None:
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, reason)
            row = db.scalar(
                select(Nof1Experiment)
                .where(Nof1Experiment.patient_id == patient_id)
                .order_by(Nof1Experiment.created_at.desc(), Nof1Experiment.id.desc())
            )
            self._audit(
                db, actor, "read", "nof1_experiment", None if row is None else row.id, patient_id, reason
            )
            return None if row is None else dict(row.schedule)

    # ----------------------------------------------------------------- screenings
    def save_screening(
        self,
        actor: Actor,
        patient_id: int,
        screening_version: str,
        answers: dict[str, Any],
        decision: str,
        findings: list[dict[str, Any]],
        expires_at: datetime,
    ) -> int:
        """Store one completed screening (the answers, the decision and every finding with its
        reason) for the patient; returns its id. Earlier screenings are kept as history."""
        if not screening_version.strip() or len(screening_version) > 40:
            raise ValueError("screening_version: 1 to 40 characters")
        if not decision.strip() or len(decision) > 20:
            raise ValueError("decision: 1 to 20 characters")
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, None)
            row = Screening(
                patient_id=patient_id,
                screening_version=screening_version,
                answers=answers,
                decision=decision,
                findings=findings,
                expires_at=_utc(expires_at),
                created_by_id=actor.user_id,
            )
            db.add(row)
            db.flush()
            self._audit(db, actor, "create", "screening", row.id, patient_id, decision=decision)
            return row.id

    def latest_screening(
        self, actor: Actor, patient_id: int, reason: str | None = None
    ) -> dict[str, Any] | None:
        """The patient's most recent screening with its clinician overrides (oldest first), or None."""
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, reason)
            row = db.scalar(
                select(Screening)
                .where(Screening.patient_id == patient_id)
                .order_by(Screening.created_at.desc(), Screening.id.desc())
            )
            self._audit(db, actor, "read", "screening", None if row is None else row.id, patient_id, reason)
            if row is None:
                return None
            overrides = db.scalars(
                select(ScreeningOverride)
                .where(ScreeningOverride.screening_id == row.id)
                .order_by(ScreeningOverride.created_at, ScreeningOverride.id)
            ).all()
            out = _columns(
                row,
                ("id", "screening_version", "answers", "decision", "findings", "created_at", "expires_at"),
            )
            out["overrides"] = [
                _columns(o, ("id", "item", "new_class", "reason", "clinician_id", "created_at"))
                for o in overrides
            ]
            return out

    def add_override(self, actor: Actor, screening_id: int, item: str, new_class: str, reason: str) -> int:
        """A linked clinician reclassifies one finding of a screening (for example clears an eye
        finding after an examination), with a reason; returns the override's id. Audited."""
        if actor.role is not Role.CLINICIAN:
            raise AccessDeniedError("only a linked clinician overrides a screening finding")
        if not item.strip() or len(item) > 80:
            raise ValueError("item: 1 to 80 characters")
        if not new_class.strip() or len(new_class) > 20:
            raise ValueError("new_class: 1 to 20 characters")
        if not reason.strip():
            raise ValueError("reason: a reason is required to override a finding")
        if len(reason) > 2000:
            raise ValueError("reason: at most 2000 characters")
        check_text(reason, "reason")
        with session_scope(self.engine) as db:
            screening = db.get(Screening, screening_id)
            if screening is None:
                raise NotFoundError(f"no screening with id {screening_id}")
            self._check(db, actor, screening.patient_id, None)
            if item not in {str(f.get("item")) for f in screening.findings if isinstance(f, dict)}:
                raise ValueError(f"item: the screening has no finding {item!r}")
            row = ScreeningOverride(
                screening_id=screening_id,
                item=item,
                new_class=new_class,
                reason=reason.strip(),
                clinician_id=actor.user_id,
            )
            db.add(row)
            db.flush()
            self._audit(
                db,
                actor,
                "create",
                "screening_override",
                row.id,
                screening.patient_id,
                reason.strip(),
                item=item,
                new_class=new_class,
            )
            return row.id

    # ----------------------------------------------------------------- programs
    def save_program(
        self,
        actor: Actor,
        patient_id: int,
        plan: dict[str, Any],
        target_angle_deg: float | None = None,
        ceiling_angle_deg: float | None = None,
    ) -> int:
        """Make ``plan`` the patient's active program (earlier ones stay as inactive history);
        returns its id. A patient cannot raise a ceiling: their new program keeps the lower of
        its own ceiling and the one in force. Angles are degrees head-down, 0 to 90."""
        for name, value in (("target_angle_deg", target_angle_deg), ("ceiling_angle_deg", ceiling_angle_deg)):
            if value is not None and not 0.0 <= value <= 90.0:
                raise ValueError(f"{name}: {value} is outside 0-90 degrees head-down")
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, None)
            current = db.scalars(
                select(Program).where(Program.patient_id == patient_id, Program.active.is_(True))
            ).all()
            if actor.role is Role.PATIENT:
                ceilings = [p.ceiling_angle_deg for p in current if p.ceiling_angle_deg is not None]
                if ceilings:
                    in_force = min(ceilings)
                    ceiling_angle_deg = (
                        in_force if ceiling_angle_deg is None else min(ceiling_angle_deg, in_force)
                    )
            if (
                target_angle_deg is not None
                and ceiling_angle_deg is not None
                and target_angle_deg > ceiling_angle_deg
            ):
                raise ValueError(
                    f"target_angle_deg: {target_angle_deg} is above the ceiling of {ceiling_angle_deg} deg"
                )
            for old in current:
                old.active = False
            row = Program(
                patient_id=patient_id,
                plan=plan,
                target_angle_deg=target_angle_deg,
                ceiling_angle_deg=ceiling_angle_deg,
                active=True,
            )
            db.add(row)
            db.flush()
            self._audit(
                db,
                actor,
                "create",
                "program",
                row.id,
                patient_id,
                target_angle_deg=target_angle_deg,
                ceiling_angle_deg=ceiling_angle_deg,
            )
            return row.id

    def active_program(
        self, actor: Actor, patient_id: int, reason: str | None = None
    ) -> dict[str, Any] | None:
        """The patient's program in force (plan, target and ceiling), or None."""
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, reason)
            row = db.scalar(
                select(Program)
                .where(Program.patient_id == patient_id, Program.active.is_(True))
                .order_by(Program.created_at.desc(), Program.id.desc())
            )
            self._audit(db, actor, "read", "program", None if row is None else row.id, patient_id, reason)
            if row is None:
                return None
            return _columns(
                row, ("id", "plan", "target_angle_deg", "ceiling_angle_deg", "active", "created_at")
            )

    # ----------------------------------------------------------------- whole record
    def patient_record(
        self,
        actor: Actor,
        patient_id: int,
        start: datetime | None = None,
        end: datetime | None = None,
        reason: str | None = None,
        purpose: str = "export",
    ) -> dict[str, Any]:
        """Everything the patient owns (sessions and responses limited to the range), read in one
        transaction and audited once with its purpose (export, report)."""
        with session_scope(self.engine) as db:
            self._check(db, actor, patient_id, reason)
            user = db.get(User, patient_id)
            assert user is not None
            profile = db.scalar(select(PatientProfile).where(PatientProfile.user_id == patient_id))
            screenings = db.scalars(
                select(Screening).where(Screening.patient_id == patient_id).order_by(Screening.created_at)
            ).all()
            overrides = db.scalars(
                select(ScreeningOverride)
                .join(Screening, Screening.id == ScreeningOverride.screening_id)
                .where(Screening.patient_id == patient_id)
                .order_by(ScreeningOverride.created_at)
            ).all()
            programs = db.scalars(
                select(Program).where(Program.patient_id == patient_id).order_by(Program.created_at)
            ).all()
            experiments = db.scalars(
                select(Nof1Experiment)
                .where(Nof1Experiment.patient_id == patient_id)
                .order_by(Nof1Experiment.id)
            ).all()
            sessions = [
                _session_dict(r)
                for r in _in_range(db, TableSession, TableSession.started_at, patient_id, start, end)
            ]
            responses = [
                _response_dict(r)
                for r in _in_range(
                    db, QuestionnaireResponse, QuestionnaireResponse.recorded_at, patient_id, start, end
                )
            ]
            self._audit(db, actor, purpose, "patient_record", patient_id, patient_id, reason)
        record: dict[str, Any] = {
            "patient": {"id": user.id, "email": user.email, "display_name": user.display_name},
            "profile": None
            if profile is None
            else _columns(profile, sorted(PROFILE_FIELDS))
            | {"updated_at": _utc(profile.updated_at).isoformat()},
            "screenings": [
                _columns(s, ("id", "screening_version", "decision", "findings", "created_at", "expires_at"))
                for s in screenings
            ],
            "overrides": [
                _columns(o, ("screening_id", "item", "new_class", "reason", "clinician_id", "created_at"))
                for o in overrides
            ],
            "programs": [
                _columns(p, ("id", "plan", "target_angle_deg", "ceiling_angle_deg", "active", "created_at"))
                for p in programs
            ],
            "experiments": [{"id": e.id, "schedule": e.schedule} for e in experiments],
        }
        record["sessions"] = sessions
        record["questionnaires"] = responses
        return record

    # ----------------------------------------------------------------- audit
    def audit_entries(
        self, patient_id: int | None = None, actor: Actor = CLI_ACTOR, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """The audit log, oldest first. The local operator reads it freely (they hold the database
        file); anyone else must be a verified admin stating a reason, and that read is audited."""
        with session_scope(self.engine) as db:
            if actor is not CLI_ACTOR:
                why = self._verify_actor(db, actor) or (
                    None
                    if actor.role is Role.ADMIN and reason and reason.strip()
                    else "only an admin with a reason"
                )
                if why is not None:
                    raise AccessDeniedError(why)
                self._audit(db, actor, "read", "audit_log", None, patient_id, reason)
            query = select(AuditLog).order_by(AuditLog.id)
            if patient_id is not None:
                query = query.where(AuditLog.patient_id == patient_id)
            return [
                {
                    "at": _utc(a.at).isoformat(),
                    "actor_id": a.actor_id,
                    "action": a.action,
                    "entity": a.entity,
                    "entity_id": a.entity_id,
                    "patient_id": a.patient_id,
                    "reason": a.reason,
                    "detail": dict(a.detail),
                }
                for a in db.scalars(query).all()
            ]
