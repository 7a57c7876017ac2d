"""Progressive inversion programs: weeks of gentle sessions, each a runnable :class:`Protocol`.

The table manuals (product reference section 2) say: start at 15-30 deg for 1-2 minutes in the first
weeks, add a few degrees and a minute or two at a time, usually no steeper than 60 deg, sessions of a few
minutes up to about 10, once to three times a day; oscillate gently between horizontal and 45-60 deg, or
go intermittently (20-30 s inverted, then back); rest near horizontal before coming upright. This module
turns that advice into a concrete plan that never exceeds a person's limits (:class:`SessionLimits`, which
come from the physiology engine, e.g. the eye-pressure limit) nor a clinician's target and ceiling.

Rules (each is a named constant below, so tests and documentation can point at it):

- **Ceiling.** ``min(target, clinician ceiling, limits.max_angle_deg, 90)``. A person whose limit is below
  :data:`MIN_PROGRAM_ANGLE_DEG` (10 deg, where gravity's pull along the table is under a fifth of body weight)
  or whose hold limit is below :data:`MIN_PROGRAM_HOLD_MIN` gets no program: :class:`ProgramError` says
  why, because a "program" of a few degrees would only pretend to be therapy.
- **Start.** Week 1 runs at ``start_angle_deg`` for ``start_hold_min``; if the limits are lower, it starts
  at the limits and a note says so.
- **Progression.** Week ``w`` (1-based) runs at level ``w - 1``: the angle rises by ``angle_step_deg`` per
  level up to the ceiling, the hold by ``hold_step_min`` per level up to the hold cap. Within a week every
  session is the same; from one week to the next neither angle nor hold ever decreases.
- **Hold cap.** The time at the session angle is at most :data:`SESSION_HOLD_CAP_MIN` (the manuals' "up to
  about 10 min") and at most the personal ``max_hold_min`` *measured as the longest continuous stretch
  within* :data:`TOP_BAND_DEG` *of the session's peak angle*. The gentle ramps spend up to
  :data:`TOP_BAND_S_PER_RAMP` seconds in that band on the way up and down, so when the personal limit is
  what binds, the hold is shortened by that margin and rounded down to whole seconds.
- **Days.** ``days_per_week`` session days are spread over each 7-day week counted from ``start_date``
  (day offsets ``floor(i * 7 / days_per_week)``: 5 days -> days 0, 1, 2, 4, 5), ``sessions_per_day`` on each.

Every session is ``entry + body + return``:

- entry: ``stand for 30 s; tilt to 0 deg over 15 s; lie flat for 1 min``;
- body, by style (``A`` the session angle, ``H`` the hold):
  ``continuous``: ``tilt to A over r; hold at A for H``;
  ``intermittent``: bursts of at most 30 s at ``A``, each followed by 30 s flat, adding up to ``H``;
  ``oscillating``: ``oscillate between 0 and A deg every P for H`` (period ``P`` keeps the peak rate at or
  below :data:`OSCILLATION_RATE_DEG_S`), then ``tilt to 0 over r``;
- return: ``tilt to 0 deg over r`` (continuous), ``lie flat for max(2 min, limits.return_rest_min)``,
  ``tilt to -90 deg over 30 s; stand for 30 s``.

Ramps ``r`` to and from ``A`` run at :data:`GENTLE_RATE_DEG_S` or slower (at least :data:`MIN_RAMP_S`),
far below the table's 30 deg/s limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Final, Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from inversa.protocol import Hold, LieFlat, Oscillate, Protocol, Repeat, Stand, Step, Tilt

__all__ = [
    "DEFAULT_DAYS_PER_WEEK",
    "DEFAULT_TARGET_ANGLE_DEG",
    "GENTLE_RATE_DEG_S",
    "MIN_PROGRAM_ANGLE_DEG",
    "MIN_PROGRAM_HOLD_MIN",
    "MIN_RAMP_S",
    "MIN_RETURN_REST_MIN",
    "OSCILLATION_RATE_DEG_S",
    "SESSION_HOLD_CAP_MIN",
    "STYLES",
    "TOP_BAND_DEG",
    "TOP_BAND_S_PER_RAMP",
    "PlannedSession",
    "Program",
    "ProgramError",
    "ProgramSettings",
    "SessionLimits",
    "Style",
    "build_session_protocol",
    "generate_program",
    "level_bounds",
    "ramp_s",
    "rebuild_sessions",
    "session_day_offsets",
]

Style: TypeAlias = Literal["continuous", "intermittent", "oscillating"]
STYLES: Final[tuple[Style, ...]] = ("continuous", "intermittent", "oscillating")

#: Below this personal angle limit no program is generated (sin 10 deg ~ 0.17 of body weight).
MIN_PROGRAM_ANGLE_DEG: Final = 10.0
#: Below this personal hold limit no program is generated (a gentle ramp alone takes longer).
MIN_PROGRAM_HOLD_MIN: Final = 0.5
#: Time at the session angle never exceeds this ("sessions ... up to about 10 min").
SESSION_HOLD_CAP_MIN: Final = 10.0
#: Ramps between flat and the session angle run at this rate or slower ...
GENTLE_RATE_DEG_S: Final = 2.0
#: ... and take at least this long (whole seconds).
MIN_RAMP_S: Final = 5
#: The personal hold limit applies to the longest stretch within this many degrees of the peak.
TOP_BAND_DEG: Final = 1.0
#: Most time one ramp spends within TOP_BAND_DEG of its top, for any angle >= MIN_PROGRAM_ANGLE_DEG:
#: ramp_s(A) / A <= (A / 2 + 1) / A <= 0.6 s at A >= 10 deg.
TOP_BAND_S_PER_RAMP: Final = 0.6
#: Oscillation periods keep the cosine's peak rate (pi * A / period) at or below this ...
OSCILLATION_RATE_DEG_S: Final = 5.0
#: ... and are never shorter than this, unless the whole hold is shorter (then one cycle spans it).
OSCILLATION_MIN_PERIOD_S: Final = 20
#: Intermittent bursts: at most this long at the angle, then this long flat.
INTERMITTENT_BURST_S: Final = 30
INTERMITTENT_REST_S: Final = 30
#: The rest near horizontal before standing up is never shorter than this.
MIN_RETURN_REST_MIN: Final = 2.0
#: Coming up from flat to standing takes this long (3 deg/s: dizziness means coming up too fast).
RISE_S: Final = 30
ENTRY_STAND_S: Final = 30
ENTRY_LOWER_S: Final = 15
ENTRY_FLAT_S: Final = 60
FINAL_STAND_S: Final = 30

DEFAULT_TARGET_ANGLE_DEG: Final = 60.0
#: Five session days a week leaves two rest days.
DEFAULT_DAYS_PER_WEEK: Final = 5


class ProgramError(ValueError):
    """No safe program can be made from these limits and settings; the message says why."""


class _Frozen(BaseModel):
    """Shared config: immutable, no unknown keys, finite numbers only."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class SessionLimits(_Frozen):
    """A person's limits for one session, as worked out by the physiology engine.

    ``max_angle_deg`` is the steepest angle allowed (0-90), ``max_hold_min`` the longest continuous time
    near that angle, ``return_rest_min`` the minimum rest near horizontal before standing up, and
    ``binding_constraint`` names what set the limits (free text, e.g. ``"intraocular_pressure"``), so a plan
    can tell the person why it stops where it does.
    """

    max_angle_deg: float
    max_hold_min: float
    return_rest_min: float = 0.0
    binding_constraint: str

    @field_validator("max_angle_deg")
    @classmethod
    def _check_angle(cls, value: float) -> float:
        if not 0.0 <= value <= 90.0:
            raise ValueError(f"max_angle_deg must be between 0 and 90 deg, got {value:g}")
        return value

    @field_validator("max_hold_min")
    @classmethod
    def _check_hold(cls, value: float) -> float:
        if not 0.0 < value <= 24 * 60:
            raise ValueError(f"max_hold_min must be more than 0 (and at most a day), got {value:g}")
        return value

    @field_validator("return_rest_min")
    @classmethod
    def _check_rest(cls, value: float) -> float:
        if not 0.0 <= value <= 60.0:
            raise ValueError(f"return_rest_min must be between 0 and 60 min, got {value:g}")
        return value

    @field_validator("binding_constraint")
    @classmethod
    def _check_binding(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("binding_constraint must name what sets the limits, e.g. 'intraocular_pressure'")
        return value


# Allowed ranges of the numeric settings: (low, high, unit), inclusive.
_SETTING_RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "weeks": (1, 26, ""),
    "sessions_per_day": (1, 3, ""),
    "days_per_week": (1, 7, ""),
    "start_angle_deg": (15.0, 30.0, " deg"),
    "start_hold_min": (1.0, 2.0, " min"),
    "angle_step_deg": (0.0, 10.0, " deg"),
    "hold_step_min": (0.0, 2.0, " min"),
    "target_angle_deg": (15.0, 90.0, " deg"),
    "ceiling_angle_deg": (15.0, 90.0, " deg"),
}

# Smallest non-zero weekly steps (value, unit): anything smaller is not a step a person could feel.
_SMALLEST_STEPS: Final[dict[str, tuple[float, str]]] = {
    "angle_step_deg": (1.0, " deg"),
    "hold_step_min": (0.25, " min"),
}


class ProgramSettings(_Frozen):
    """How the program is shaped; defaults follow the manuals, a clinician may set target and ceiling.

    Ranges (defaults): ``weeks`` 1-26 (6), ``sessions_per_day`` 1-3 (1), ``days_per_week`` 1-7 (5),
    ``style`` (continuous), ``start_angle_deg`` 15-30 (20), ``start_hold_min`` 1-2 (1), ``angle_step_deg``
    0 or 1-10 per week (5), ``hold_step_min`` 0 or 0.25-2 per week (1), ``target_angle_deg`` up to 90 and
    not below the start (60), ``ceiling_angle_deg`` an optional clinician ceiling, not below the start,
    and ``start_date`` (today). A step of 0 keeps that quantity constant.
    """

    weeks: int = 6
    sessions_per_day: int = 1
    days_per_week: int = DEFAULT_DAYS_PER_WEEK
    style: Style = "continuous"
    start_angle_deg: float = 20.0
    start_hold_min: float = 1.0
    angle_step_deg: float = 5.0
    hold_step_min: float = 1.0
    target_angle_deg: float = DEFAULT_TARGET_ANGLE_DEG
    ceiling_angle_deg: float | None = None
    start_date: date = Field(default_factory=date.today)

    @field_validator(*_SETTING_RANGES)
    @classmethod
    def _check_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        name = str(info.field_name)
        low, high, unit = _SETTING_RANGES[name]
        if value is not None and not low <= value <= high:
            raise ValueError(f"{name} must be between {low:g} and {high:g}{unit}, got {value:g}")
        smallest = _SMALLEST_STEPS.get(name)
        if smallest is not None and value is not None and 0 < value < smallest[0]:
            least, unit = smallest
            raise ValueError(f"{name} must be 0 (no progression) or at least {least:g}{unit}, got {value:g}")
        return value

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.target_angle_deg < self.start_angle_deg:
            raise ValueError(
                f"target_angle_deg ({self.target_angle_deg:g} deg) must not be below "
                f"start_angle_deg ({self.start_angle_deg:g} deg)"
            )
        if self.ceiling_angle_deg is not None and self.ceiling_angle_deg < self.start_angle_deg:
            raise ValueError(
                f"ceiling_angle_deg ({self.ceiling_angle_deg:g} deg) must not be below "
                f"start_angle_deg ({self.start_angle_deg:g} deg)"
            )
        return self


@dataclass(frozen=True)
class PlannedSession:
    """One session of a program: when, what the table does, and its progression levels.

    ``index_in_day`` counts from 1 (session 1 of the day, 2, ...); ``week`` counts from 1.
    ``max_angle_deg`` is the session angle, ``hold_min`` the time at it (summed over intermittent bursts,
    the oscillation's length for oscillating sessions). ``angle_level`` and ``hold_level`` are the
    progression steps used (0 = start values); adaptation moves them.
    """

    day: date
    index_in_day: int
    week: int
    style: Style
    protocol: Protocol
    max_angle_deg: float
    hold_s: int
    angle_level: int
    hold_level: int

    @property
    def hold_min(self) -> float:
        """Time at the session angle in minutes."""
        return self.hold_s / 60.0

    @property
    def protocol_text(self) -> str:
        """The protocol in the text language (``Protocol.parse`` reads it back exactly)."""
        return self.protocol.to_text()

    @property
    def duration_s(self) -> float:
        """Whole session length, entry and return included."""
        return self.protocol.timeline().duration_s

    @property
    def key(self) -> tuple[date, int]:
        """Identity of the session within a program: its day and index in that day."""
        return (self.day, self.index_in_day)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``day``, ``protocol``, ``max_angle_deg`` and ``hold_min`` are the CLI contract."""
        return {
            "day": self.day.isoformat(),
            "index_in_day": self.index_in_day,
            "week": self.week,
            "style": self.style,
            "protocol": self.protocol_text,
            "max_angle_deg": self.max_angle_deg,
            "hold_min": self.hold_min,
            "hold_s": self.hold_s,
            "duration_min": self.duration_s / 60.0,
        }


@dataclass(frozen=True)
class Program:
    """A plan of sessions in time order, with the limits and settings it was made from.

    ``ceiling_angle_deg`` is the effective ceiling; ``notes`` explain in plain words where the plan departs
    from the settings (a lowered start, a cap that binds, adaptations made).
    """

    sessions: list[PlannedSession]
    limits: SessionLimits
    settings: ProgramSettings
    ceiling_angle_deg: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"sessions": [...], "ceiling_angle_deg": ..., "notes": [...]}``."""
        return {
            "sessions": [session.to_dict() for session in self.sessions],
            "ceiling_angle_deg": self.ceiling_angle_deg,
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- the plan's arithmetic


def ramp_s(angle_deg: float) -> int:
    """Whole seconds for a gentle ramp between flat and ``angle_deg`` (<= GENTLE_RATE_DEG_S)."""
    return max(MIN_RAMP_S, math.ceil(abs(angle_deg) / GENTLE_RATE_DEG_S))


def session_day_offsets(days_per_week: int) -> list[int]:
    """Day offsets within a 7-day week for the session days, spread out: ``floor(i * 7 / n)``."""
    return [i * 7 // days_per_week for i in range(days_per_week)]


def _levels_needed(start: float, cap: float, step: float) -> int:
    """Steps of size ``step`` from ``start`` until ``cap`` is reached (0 when there is nothing to climb)."""
    if step <= 0 or start >= cap:
        return 0
    return math.ceil((cap - start) / step - 1e-9)


@dataclass(frozen=True)
class _Ladder:
    """The angle and hold for each progression level, from one set of limits and settings."""

    style: Style
    ceiling_deg: float
    start_angle_deg: float
    angle_step_deg: float
    max_angle_level: int
    start_hold_s: int
    hold_step_s: float
    hold_cap_s: int
    max_hold_level: int
    rest_s: int
    notes: tuple[str, ...]

    def angle_deg(self, level: int) -> float:
        """Session angle at a level (clamped to the ladder)."""
        level = min(max(level, 0), self.max_angle_level)
        return min(self.ceiling_deg, self.start_angle_deg + level * self.angle_step_deg)

    def hold_s(self, level: int) -> int:
        """Time at the angle, whole seconds, at a level (clamped to the ladder)."""
        level = min(max(level, 0), self.max_hold_level)
        return min(self.hold_cap_s, math.floor(self.start_hold_s + level * self.hold_step_s))

    def session(
        self, day: date, index_in_day: int, week: int, angle_level: int, hold_level: int
    ) -> PlannedSession:
        """Build one session at the given (clamped) levels."""
        angle_level = min(max(angle_level, 0), self.max_angle_level)
        hold_level = min(max(hold_level, 0), self.max_hold_level)
        angle = self.angle_deg(angle_level)
        hold = self.hold_s(hold_level)
        protocol = build_session_protocol(self.style, angle, hold, self.rest_s)
        return PlannedSession(
            day, index_in_day, week, self.style, protocol, angle, hold, angle_level, hold_level
        )


def _ladder(limits: SessionLimits, settings: ProgramSettings) -> _Ladder:
    """Work out ceiling, start, caps and level counts; refuse limits too low for any program."""
    if limits.max_angle_deg < MIN_PROGRAM_ANGLE_DEG:
        raise ProgramError(
            f"the personal angle limit of {limits.max_angle_deg:g} deg ({limits.binding_constraint}) is "
            f"below the {MIN_PROGRAM_ANGLE_DEG:g} deg a useful program needs; no program is planned - "
            "please discuss with a clinician"
        )
    if limits.max_hold_min < MIN_PROGRAM_HOLD_MIN:
        raise ProgramError(
            f"the personal hold limit of {limits.max_hold_min:g} min ({limits.binding_constraint}) is below "
            f"the {MIN_PROGRAM_HOLD_MIN:g} min a useful session needs; no program is planned - "
            "please discuss with a clinician"
        )
    notes: list[str] = []
    clinician = settings.ceiling_angle_deg if settings.ceiling_angle_deg is not None else 90.0
    ceiling = min(settings.target_angle_deg, clinician, limits.max_angle_deg, 90.0)
    if limits.max_angle_deg < min(settings.target_angle_deg, clinician):
        notes.append(
            f"The angle never goes above {limits.max_angle_deg:g} deg, your personal limit "
            f"({limits.binding_constraint})."
        )
    if clinician < settings.target_angle_deg and clinician <= limits.max_angle_deg:
        notes.append(f"The angle never goes above {clinician:g} deg, the ceiling set by your clinician.")
    start_angle = settings.start_angle_deg
    if start_angle > ceiling:
        notes.append(
            f"Your personal limit of {ceiling:g} deg is below the usual start of {start_angle:g} deg, "
            f"so every session is at {ceiling:g} deg."
        )
        start_angle = ceiling

    limit_cap_s = limits.max_hold_min * 60.0 - 2 * TOP_BAND_S_PER_RAMP
    hold_cap_s = math.floor(min(limit_cap_s, SESSION_HOLD_CAP_MIN * 60.0))
    start_hold_s = math.floor(settings.start_hold_min * 60.0)
    if start_hold_s > hold_cap_s:
        notes.append(
            f"Your personal hold limit of {limits.max_hold_min:g} min ({limits.binding_constraint}) is "
            f"below the usual start of {settings.start_hold_min:g} min, so each session holds "
            f"{hold_cap_s} s."
        )
        start_hold_s = hold_cap_s
    hold_step_s = settings.hold_step_min * 60.0
    ladder = _Ladder(
        style=settings.style,
        ceiling_deg=ceiling,
        start_angle_deg=start_angle,
        angle_step_deg=settings.angle_step_deg,
        max_angle_level=_levels_needed(start_angle, ceiling, settings.angle_step_deg),
        start_hold_s=start_hold_s,
        hold_step_s=hold_step_s,
        hold_cap_s=hold_cap_s,
        max_hold_level=_levels_needed(start_hold_s, hold_cap_s, hold_step_s),
        rest_s=math.ceil(max(MIN_RETURN_REST_MIN, limits.return_rest_min) * 60.0),
        notes=(),
    )
    last_level = settings.weeks - 1
    if limit_cap_s < SESSION_HOLD_CAP_MIN * 60.0 and ladder.hold_s(last_level) == hold_cap_s:
        notes.append(
            f"Time at the angle stops at {hold_cap_s} s, within your personal hold limit of "
            f"{limits.max_hold_min:g} min ({limits.binding_constraint}) including the ramps' last degree."
        )
    if ladder.angle_deg(last_level) < ceiling and settings.angle_step_deg > 0:
        notes.append(
            f"The last week reaches {ladder.angle_deg(last_level):g} deg; {ceiling:g} deg would take "
            f"{ladder.max_angle_level + 1} weeks at +{settings.angle_step_deg:g} deg a week."
        )
    return replace(ladder, notes=tuple(notes))


# --------------------------------------------------------------------------- session protocols


def _entry() -> list[Step]:
    """Safe entry: stand, lower to flat, settle flat for a minute."""
    return [
        Stand(duration_s=ENTRY_STAND_S),
        Tilt(to_angle_deg=0.0, duration_s=ENTRY_LOWER_S),
        LieFlat(duration_s=ENTRY_FLAT_S),
    ]


def _bursts(hold_s: int) -> list[tuple[int, int]]:
    """Split ``hold_s`` into as few whole-second bursts of at most 30 s as possible: [(times, seconds)]."""
    count = math.ceil(hold_s / INTERMITTENT_BURST_S)
    base, extra = divmod(hold_s, count)
    groups = [(extra, base + 1), (count - extra, base)]
    return [(times, seconds) for times, seconds in groups if times > 0]


def _oscillation_period_s(angle_deg: float, hold_s: int) -> float:
    """Gentle period for rocking between flat and ``angle_deg``; one cycle spans a hold shorter than it."""
    period = max(OSCILLATION_MIN_PERIOD_S, math.ceil(math.pi * angle_deg / OSCILLATION_RATE_DEG_S))
    return float(min(period, hold_s))


def build_session_protocol(style: Style, angle_deg: float, hold_s: int, rest_s: int) -> Protocol:
    """One session as a validated protocol: safe entry, the body in ``style``, safe return.

    ``hold_s`` is the time at ``angle_deg`` (whole seconds), ``rest_s`` the rest flat before standing.
    """
    ramp = float(ramp_s(angle_deg))
    steps = _entry()
    if style == "continuous":
        steps += [
            Tilt(to_angle_deg=angle_deg, duration_s=ramp),
            Hold(angle_deg=angle_deg, duration_s=hold_s),
            Tilt(to_angle_deg=0.0, duration_s=ramp),
        ]
    elif style == "intermittent":
        for times, seconds in _bursts(hold_s):
            body: list[Step] = [
                Tilt(to_angle_deg=angle_deg, duration_s=ramp),
                Hold(angle_deg=angle_deg, duration_s=seconds),
                Tilt(to_angle_deg=0.0, duration_s=ramp),
                LieFlat(duration_s=INTERMITTENT_REST_S),
            ]
            steps.append(Repeat(times=times, steps=body))
    else:
        period = _oscillation_period_s(angle_deg, hold_s)
        steps += [
            Oscillate(angle_a_deg=0.0, angle_b_deg=angle_deg, period_s=period, duration_s=hold_s),
            Tilt(to_angle_deg=0.0, duration_s=ramp),
        ]
    steps += [
        LieFlat(duration_s=rest_s),
        Tilt(to_angle_deg=-90.0, duration_s=RISE_S),
        Stand(duration_s=FINAL_STAND_S),
    ]
    return Protocol(steps=steps)


# --------------------------------------------------------------------------- the program


def _schedule(settings: ProgramSettings) -> list[tuple[date, int, int]]:
    """(day, index_in_day, week) of every session, in time order."""
    slots: list[tuple[date, int, int]] = []
    for week in range(settings.weeks):
        for offset in session_day_offsets(settings.days_per_week):
            day = settings.start_date + timedelta(days=7 * week + offset)
            slots.extend((day, index, week + 1) for index in range(1, settings.sessions_per_day + 1))
    return slots


def generate_program(limits: SessionLimits, settings: ProgramSettings | None = None) -> Program:
    """Plan every session from ``settings`` without ever exceeding ``limits`` (rules in the module doc).

    Raises :class:`ProgramError` when the limits leave no room for a useful program.
    """
    settings = settings if settings is not None else ProgramSettings()
    ladder = _ladder(limits, settings)
    built: dict[int, PlannedSession] = {}
    sessions: list[PlannedSession] = []
    for day, index, week in _schedule(settings):
        level = week - 1
        template = built.get(level)
        if template is None:
            template = built[level] = ladder.session(day, index, week, level, level)
        sessions.append(_moved(template, day, index, week))
    return Program(sessions, limits, settings, ladder.ceiling_deg, list(ladder.notes))


def _moved(session: PlannedSession, day: date, index_in_day: int, week: int) -> PlannedSession:
    """The same session (sharing its protocol) on another day or slot."""
    return PlannedSession(
        day,
        index_in_day,
        week,
        session.style,
        session.protocol,
        session.max_angle_deg,
        session.hold_s,
        session.angle_level,
        session.hold_level,
    )


def rebuild_sessions(
    sessions: Sequence[PlannedSession],
    limits: SessionLimits,
    settings: ProgramSettings,
    levels: Sequence[tuple[int, int]],
) -> tuple[list[PlannedSession], float, tuple[str, ...]]:
    """Sessions on the same days at new (angle, hold) levels under ``limits``; also ceiling and notes.

    Used by adaptation. Raises :class:`ProgramError` when the limits leave no room for a program.
    """
    ladder = _ladder(limits, settings)
    built: dict[tuple[int, int], PlannedSession] = {}
    rebuilt: list[PlannedSession] = []
    for session, (angle_level, hold_level) in zip(sessions, levels, strict=True):
        clamped = (
            min(max(angle_level, 0), ladder.max_angle_level),
            min(max(hold_level, 0), ladder.max_hold_level),
        )
        template = built.get(clamped)
        if template is None:
            template = ladder.session(session.day, session.index_in_day, session.week, *clamped)
            built[clamped] = template
        rebuilt.append(_moved(template, session.day, session.index_in_day, session.week))
    return rebuilt, ladder.ceiling_deg, ladder.notes


def level_bounds(limits: SessionLimits, settings: ProgramSettings) -> tuple[int, int]:
    """Highest useful (angle, hold) levels under these limits and settings."""
    ladder = _ladder(limits, settings)
    return ladder.max_angle_level, ladder.max_hold_level
