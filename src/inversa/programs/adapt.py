"""Adapt a program after each session from what the person reports: step back, hold, step forward or pause.

The rules are deliberately conservative and are checked in this order (the first that applies wins):

1. **Pause, re-screen**: ``eye_pressure``, ``palpitations`` or ``stop_now`` was reported. No more sessions
   until the person has been screened again (``requires_rescreening`` is True).
2. **Pause**: two or more of ``dizziness``, ``headache``, ``nausea`` together (this includes nausea with
   dizziness). No more sessions in this program; a new program, from the gentle start, once the person
   feels well (re-screening is not required, but a clinician should hear about it if it happens again).
3. **Step back**: one of ``dizziness``, ``headache``, ``nausea``, or pain worse by 2 or more points on the
   0-10 scale (``pain_after >= pain_before + 2``). The next session is one level lower in angle and in
   hold than the session just done (never below the start values); later weeks progress from there.
4. **Hold**: the session was not completed. The next session repeats the level just done.
5. **Step forward**: completed, no symptoms, and pain known before and after and not worse. The next
   session may go one level higher than the session just done, but never more than one level ahead of
   the weekly schedule, and never past the ceiling or the personal limits.
6. **Hold** otherwise (pain worse by 1 point, or pain not reported).

"Level" means the program's progression step (see :mod:`inversa.programs.plan`): a level up is one
``angle_step_deg`` and one ``hold_step_min`` more. After the next session, the remaining weeks keep the
weekly progression from the new level. All remaining sessions are rebuilt under the limits passed to
:func:`adapt` (which may be newer than the program's), so an adaptation can never produce a session above
them; when those limits leave no room for a program at all, the result is a pause.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from inversa.programs.plan import (
    PlannedSession,
    Program,
    ProgramError,
    SessionLimits,
    level_bounds,
    rebuild_sessions,
)

__all__ = [
    "ACTIONS",
    "MINOR_SYMPTOMS",
    "PAUSE_SYMPTOMS",
    "SYMPTOMS",
    "WORSE_PAIN_POINTS",
    "Action",
    "Adaptation",
    "Decision",
    "SessionReport",
    "Symptom",
    "adapt",
    "decide",
]

Symptom: TypeAlias = Literal["dizziness", "headache", "eye_pressure", "nausea", "palpitations", "stop_now"]
Action: TypeAlias = Literal["step_forward", "hold", "step_back", "pause"]

SYMPTOMS: Final[tuple[Symptom, ...]] = (
    "dizziness",
    "headache",
    "eye_pressure",
    "nausea",
    "palpitations",
    "stop_now",
)
ACTIONS: Final[tuple[Action, ...]] = ("step_forward", "hold", "step_back", "pause")
#: Any of these pauses the program until the person is re-screened.
PAUSE_SYMPTOMS: Final[frozenset[Symptom]] = frozenset({"eye_pressure", "palpitations", "stop_now"})
#: One of these steps back; two or more together pause.
MINOR_SYMPTOMS: Final[frozenset[Symptom]] = frozenset({"dizziness", "headache", "nausea"})
#: Pain after the session this many points above pain before steps back.
WORSE_PAIN_POINTS: Final = 2

_SYMPTOM_WORDS: Final[dict[str, str]] = {
    "dizziness": "dizziness",
    "headache": "a headache",
    "eye_pressure": "pressure in the eyes",
    "nausea": "nausea",
    "palpitations": "palpitations",
    "stop_now": "an urge to stop at once",
}


class SessionReport(BaseModel):
    """What the person reports after a session.

    Pain is the 0-10 numeric rating scale, before and after the session (None: not given); ``symptoms``
    any of :data:`SYMPTOMS`; ``completed`` whether the whole session was done.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pain_before: int | None = None
    pain_after: int | None = None
    symptoms: frozenset[Symptom] = frozenset()
    completed: bool

    @field_validator("pain_before", "pain_after")
    @classmethod
    def _check_pain(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not 0 <= value <= 10:
            raise ValueError(f"{info.field_name} must be between 0 and 10, got {value}")
        return value

    @field_validator("symptoms", mode="before")
    @classmethod
    def _check_symptoms(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("symptoms must be a collection of names, not one string")
        if isinstance(value, Iterable):
            unknown = sorted(str(v) for v in value if v not in SYMPTOMS)
            if unknown:
                expected = ", ".join(SYMPTOMS)
                raise ValueError(f"symptoms: unknown {', '.join(unknown)}; expected any of {expected}")
        return value


@dataclass(frozen=True)
class Decision:
    """The action a report calls for, whether re-screening is needed, and why in plain words."""

    action: Action
    requires_rescreening: bool
    reason: str


@dataclass(frozen=True)
class Adaptation:
    """The remaining program after a session, the action taken and why."""

    program: Program
    action: Action
    requires_rescreening: bool
    reason: str


def _listed(symptoms: Iterable[str]) -> str:
    """Plain-language list of symptoms in a fixed order."""
    words = [_SYMPTOM_WORDS[s] for s in SYMPTOMS if s in set(symptoms)]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def decide(report: SessionReport) -> Decision:
    """Apply the rules of the module docstring, in order, to one report."""
    serious = report.symptoms & PAUSE_SYMPTOMS
    if serious:
        return Decision(
            "pause",
            True,
            f"You reported {_listed(serious)}. Stop inversion until you have been screened again "
            "(ask your clinician); no more sessions are planned until then.",
        )
    minor = report.symptoms & MINOR_SYMPTOMS
    if len(minor) >= 2:
        return Decision(
            "pause",
            False,
            f"You reported {_listed(minor)} together. No more sessions in this plan: rest, and start a new "
            "plan from the gentle start once you feel well. Tell your clinician if it happens again.",
        )
    before, after = report.pain_before, report.pain_after
    change = after - before if before is not None and after is not None else None
    worse = change is not None and change >= WORSE_PAIN_POINTS
    if minor or worse:
        cause = f"You reported {_listed(minor)}" if minor else "Your pain was worse after the session"
        return Decision(
            "step_back",
            False,
            f"{cause}, so the next session is one step lower in angle and time. "
            "Come up slowly and rest flat longer if you feel unwell.",
        )
    if not report.completed:
        return Decision(
            "hold", False, "The session was not completed, so the next session stays at the same level."
        )
    if change is not None and change <= 0:
        return Decision(
            "step_forward",
            False,
            "You completed the session without symptoms and your pain was no worse, so the next session "
            "may go one step further (within your limits).",
        )
    reason = (
        "Your pain was a little worse after the session"
        if change is not None
        else "Without pain scores before and after, tolerance cannot be judged"
    )
    return Decision("hold", False, f"{reason}, so the next session stays at the same level.")


def _offset(done_level: int, next_scheduled: int, action: Action) -> int:
    """Offset from the weekly schedule for the remaining sessions, in one dimension (angle or hold)."""
    if action == "step_forward":
        return min(done_level + 1 - next_scheduled, 1)
    if action == "step_back":
        return max(done_level - 1, 0) - next_scheduled
    return done_level - next_scheduled


def adapt(
    program: Program, completed_session: PlannedSession, report: SessionReport, limits: SessionLimits
) -> Adaptation:
    """The program after ``completed_session``, adapted to ``report`` and rebuilt under ``limits``.

    The returned program holds only the sessions after the completed one (earlier sessions that were never
    reported are dropped: they are in the past). Raises ValueError if the session is not in the program.
    """
    keys = [s.key for s in program.sessions]
    if completed_session.key not in keys:
        day, index = completed_session.key
        raise ValueError(f"session {index} on {day.isoformat()} is not in this program")
    position = keys.index(completed_session.key)
    done = program.sessions[position]
    remaining = program.sessions[position + 1 :]
    decision = decide(report)
    action, rescreen, reason = decision.action, decision.requires_rescreening, decision.reason
    note_prefix = f"After session {done.index_in_day} on {done.day.isoformat()}"

    if action != "pause" and remaining:
        try:
            max_angle_level, max_hold_level = level_bounds(limits, program.settings)
            scheduled = remaining[0].week - 1
            angle_offset = _offset(min(done.angle_level, max_angle_level), scheduled, action)
            hold_offset = _offset(min(done.hold_level, max_hold_level), scheduled, action)
            levels = [(s.week - 1 + angle_offset, s.week - 1 + hold_offset) for s in remaining]
            sessions, ceiling, ladder_notes = rebuild_sessions(remaining, limits, program.settings, levels)
        except ProgramError as exc:
            action, rescreen = "pause", False
            reason = f"Your personal limits no longer allow a useful session: {exc}."
        else:
            notes = [*program.notes, *(n for n in ladder_notes if n not in program.notes)]
            notes.append(f"{note_prefix}: {action.replace('_', ' ')}. {reason}")
            return Adaptation(
                Program(sessions, limits, program.settings, ceiling, notes), action, rescreen, reason
            )
    if action != "pause":
        reason = f"{reason} (That was the last session of the plan.)"
    notes = [*program.notes, f"{note_prefix}: {action.replace('_', ' ')}. {reason}"]
    ceiling = min(program.ceiling_angle_deg, limits.max_angle_deg)
    paused = Program([], limits, program.settings, ceiling, notes)
    return Adaptation(paused, action, rescreen, reason)
