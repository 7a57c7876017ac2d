"""Request and response bodies of the JSON API: every input bounded and checked, so bad input
is answered 422 with the field named, and nothing unchecked reaches the database."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from inversa.body import Person, PersonError
from inversa.store import Role, SessionRecord

__all__ = [
    "AccountCreate",
    "AccountOut",
    "ActiveUpdate",
    "LinkCreate",
    "LoginEmail",
    "PasswordChange",
    "PatientOut",
    "PatientSummary",
    "ProfileIn",
    "ProfileOut",
    "QuestionnaireIn",
    "QuestionnaireOut",
    "SessionOut",
    "SessionStored",
    "SessionUpload",
    "Text",
    "TokenOut",
    "TokenRequest",
    "UtcDatetime",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _email(value: str) -> str:
    value = _no_control(value).strip().lower()
    if not _EMAIL.fullmatch(value):
        raise ValueError("not a valid email address")
    return value


#: A date-time with a timezone, converted to UTC (refuses ones that fall outside years 1-9999).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_email)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
#: free text that reaches the database (PostgreSQL refuses NUL characters in text)
Text = Annotated[str, AfterValidator(_no_control)]
#: a sign-in name as typed: looked up, not checked for shape (an unknown one fails like a wrong password)
LoginEmail = Annotated[str, Field(min_length=1, max_length=320), AfterValidator(_no_control)]
#: database ids are 32-bit on PostgreSQL; a larger number names nothing
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------ auth, accounts
class TokenRequest(_In):
    email: LoginEmail
    password: Password


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


class AccountOut(BaseModel):
    """An account as shown to its owner and to admins: no clinical data."""

    id: int
    email: str
    display_name: str
    role: Role
    active: bool


class PasswordChange(_In):
    current_password: Password
    new_password: Password


class AccountCreate(_In):
    email: Email
    display_name: Name
    role: Role
    #: optional: without it the account signs in only after `inversa user password`
    password: Password | None = None


class ActiveUpdate(_In):
    active: bool


class LinkCreate(_In):
    clinician_id: Id
    patient_id: Id


# ------------------------------------------------------------------------------------------ patients
class PatientOut(BaseModel):
    id: int
    email: str
    display_name: str


_THIS_YEAR = datetime.now(UTC).year


class ProfileIn(_In):
    """The whole profile (PUT replaces it: an omitted resting value is cleared). Ranges are the
    engine's (age 16-100, height 120-230 cm, mass 30-250 kg) and plausible resting values."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    sex: Literal["male", "female"]
    birth_year: Annotated[int, Field(ge=1900, le=_THIS_YEAR)]
    height_cm: Annotated[float, Field(ge=120, le=230)]
    mass_kg: Annotated[float, Field(ge=30, le=250)]
    resting_systolic_mmhg: Annotated[float, Field(ge=60, le=260)] | None = None
    resting_diastolic_mmhg: Annotated[float, Field(ge=30, le=160)] | None = None
    resting_heart_rate_bpm: Annotated[float, Field(ge=30, le=200)] | None = None
    resting_iop_mmhg: Annotated[float, Field(ge=5, le=60)] | None = None

    @field_validator("birth_year")
    @classmethod
    def _age(cls, value: int) -> int:
        try:
            Person.create(sex="female", age_years=_THIS_YEAR - value, height_cm=170, mass_kg=70)
        except PersonError as exc:
            raise ValueError(f"gives an age outside what the engine covers: {exc}") from None
        return value

    @model_validator(mode="after")
    def _blood_pressure(self) -> Self:
        sys_bp, dia_bp = self.resting_systolic_mmhg, self.resting_diastolic_mmhg
        if (sys_bp is None) != (dia_bp is None):
            raise ValueError("resting_diastolic_mmhg: give systolic and diastolic together")
        if sys_bp is not None and dia_bp is not None and dia_bp >= sys_bp:
            raise ValueError("resting_diastolic_mmhg: must be lower than resting_systolic_mmhg")
        return self


class ProfileOut(BaseModel):
    sex: str
    birth_year: int
    height_cm: float
    mass_kg: float
    resting_systolic_mmhg: float | None
    resting_diastolic_mmhg: float | None
    resting_heart_rate_bpm: float | None
    resting_iop_mmhg: float | None
    updated_at: datetime


class ScreeningStatus(BaseModel):
    decision: str
    created_at: datetime
    expires_at: datetime


class PatientSummary(BaseModel):
    """What a dashboard shows first: who, body data, counts and the latest dates."""

    patient: PatientOut
    profile: ProfileOut | None
    sessions: int
    questionnaires: int
    last_session_at: datetime | None
    last_questionnaire_at: datetime | None
    screening: ScreeningStatus | None
    active_programs: int


# ------------------------------------------------------------------------------------------ sessions
class SessionUpload(SessionRecord):
    """A session as the phone uploads it (the store's SessionRecord, with the web's extra checks:
    no control characters in text, and date-times that stay within years 1-9999 in UTC)."""

    @field_validator("started_at", "ended_at", mode="wrap")
    @classmethod
    def _in_range(cls, value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except OverflowError:
            raise ValueError("date-time out of range") from None

    @field_validator("planned_protocol", "notes")
    @classmethod
    def _text(cls, value: str) -> str:
        return _no_control(value)


class SessionStored(BaseModel):
    id: int
    client_id: str
    created: bool


class SessionOut(BaseModel):
    id: int
    client_id: str
    started_at: datetime
    ended_at: datetime
    planned_protocol: str
    angle_trace: list[tuple[float, float]]
    heart_rate_trace: list[tuple[float, float]]
    symptoms: list[str]
    pain_before: int | None
    pain_after: int | None
    notes: str


# ------------------------------------------------------------------------------------ questionnaires
Answer = Annotated[StrictInt, Field(ge=-1000, le=1000)]


class QuestionnaireIn(_In):
    """One response; answers in the instrument's item order (null: unanswered, ODI only)."""

    instrument: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z0-9_]+$")]
    answers: Annotated[list[Answer | None], Field(min_length=1, max_length=100)]
    recorded_at: UtcDatetime
    client_id: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None


class QuestionnaireStored(BaseModel):
    id: int
    created: bool


class QuestionnaireOut(BaseModel):
    id: int
    instrument: str
    answers: list[int | None]
    score: float | None
    subscores: dict[str, Any]
    complete: bool
    recorded_at: datetime
