"""Validated input records: what a client may send to be stored (bad input names its field)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from inversa.protocol import Protocol, ProtocolError

__all__ = ["CLIENT_ID_RE", "SYMPTOMS", "SessionRecord", "Symptom"]


class Symptom(StrEnum):
    """Symptoms a person can report during or after a session (each may stop the session)."""

    DIZZINESS = "dizziness"
    HEADACHE = "headache"
    EYE_PRESSURE = "eye_pressure"
    NAUSEA = "nausea"
    PALPITATIONS = "palpitations"
    STOP_NOW = "stop_now"


SYMPTOMS = tuple(s.value for s in Symptom)

Pain = Annotated[int, Field(ge=0, le=10)]
#: A client-made record id: unique per record, safe in URLs and file names.
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{8,64}")
MAX_TRACE_POINTS = 200_000  # 1 Hz for more than two days: far beyond any session


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a timezone (e.g. 2026-11-25T08:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        raise ValueError("date-time out of range") from None


#: Control characters other than tab and newline: PostgreSQL refuses NUL, and none belong in text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def check_text(value: str, field: str) -> str:
    """Refuse control characters in stored text, naming the field."""
    if _CONTROL.search(value):
        raise ValueError(f"{field}: must not contain control characters")
    return value


class SessionRecord(BaseModel):
    """One session as uploaded by the phone or typed on the command line.

    ``client_id`` is made by the client once per session: uploading the same session again is
    harmless (idempotent), and a different session under an existing id is refused.
    Traces are lists of [seconds since start, value].
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    started_at: datetime
    ended_at: datetime
    planned_protocol: Annotated[str, Field(max_length=20_000)] = ""
    angle_trace: list[tuple[float, float]] = Field(default_factory=list, max_length=MAX_TRACE_POINTS)
    heart_rate_trace: list[tuple[float, float]] = Field(default_factory=list, max_length=MAX_TRACE_POINTS)
    symptoms: list[Symptom] = Field(default_factory=list, max_length=50)
    pain_before: Pain | None = None
    pain_after: Pain | None = None
    notes: Annotated[str, Field(max_length=5000)] = ""

    @field_validator("started_at", "ended_at")
    @classmethod
    def _tz(cls, value: datetime) -> datetime:
        return _aware(value)

    @field_validator("notes")
    @classmethod
    def _notes(cls, value: str) -> str:
        return check_text(value, "notes")

    @field_validator("planned_protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        check_text(value, "planned_protocol")
        if value.strip():
            try:
                Protocol.parse(value)
            except ProtocolError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("angle_trace")
    @classmethod
    def _angles(cls, trace: list[tuple[float, float]]) -> list[tuple[float, float]]:
        _check_trace(trace, -90.0, 90.0, "angle (deg)")
        return trace

    @field_validator("heart_rate_trace")
    @classmethod
    def _heart_rate(cls, trace: list[tuple[float, float]]) -> list[tuple[float, float]]:
        _check_trace(trace, 20.0, 250.0, "heart rate (bpm)")
        return trace

    @model_validator(mode="after")
    def _times(self) -> Self:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at must not be before started_at")
        length = (self.ended_at - self.started_at).total_seconds()
        if length > 24 * 3600:
            raise ValueError("a session cannot last more than 24 h")
        for name in ("angle_trace", "heart_rate_trace"):
            trace = getattr(self, name)
            if trace and trace[-1][0] > length + 60.0:
                raise ValueError(f"{name} runs past the end of the session")
        return self


def _check_trace(trace: list[tuple[float, float]], low: float, high: float, what: str) -> None:
    last = -1.0
    for i, (t, v) in enumerate(trace):
        if not (t == t and v == v) or t in (float("inf"), float("-inf")):
            raise ValueError(f"point {i}: values must be finite numbers")
        if t < 0 or t < last:
            raise ValueError(f"point {i}: times must start at 0 or later and never go back")
        if not (low <= v <= high):
            raise ValueError(f"point {i}: {what} must be between {low:g} and {high:g}, got {v:g}")
        last = t
