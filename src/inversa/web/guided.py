"""The guided session on the table: the page the patient follows with the phone lying on the bed.

``GET /patient/session`` picks the next planned session of the patient's active program (the first
whose day is today or later, skipping today's sessions already recorded) and hands the page its
protocol as a list of timed steps plus the planned angle at every second, so the script can guide
the ramp, the hold, the return and the rest without re-implementing the protocol language. Without
a program, or when every planned session lies in the past, the patient may choose a gentle free
session whose angle is capped by the program's ceiling, else by the limits stored with the plan,
else by a conservative :data:`CONSERVATIVE_ANGLE_DEG`; the page says which cap applies and why.

The page records on the phone (IndexedDB, ``static/outbox.js``) and uploads through the existing
idempotent API (``POST /api/v1/patients/{id}/sessions``), so this module has no upload route of
its own: one validation, one audit trail, one idempotency rule for the phone and the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Final

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from inversa.programs.plan import MIN_RETURN_REST_MIN, SESSION_HOLD_CAP_MIN, build_session_protocol
from inversa.protocol import Hold, LieFlat, Oscillate, Protocol, ProtocolError, Stand, Tilt
from inversa.protocol.model import executed_leaves, leaf_end_angle_deg
from inversa.store import SYMPTOMS, Role
from inversa.web.auth import Principal, context
from inversa.web.pages import _errors, _page_user, render
from inversa.web.patient_pages import session_refusal

__all__ = [
    "CONSERVATIVE_ANGLE_DEG",
    "FREE_HOLD_CAP_NO_LIMITS_MIN",
    "MIN_FREE_ANGLE_DEG",
    "NEAR_FLAT_DEG",
    "OVER_TARGET_TOLERANCE_DEG",
    "SessionChoice",
    "choose_session",
    "plan_steps",
    "router",
]

router = APIRouter(include_in_schema=False)

#: A free session's angle when neither a program nor stored limits say more (the manuals' first weeks).
CONSERVATIVE_ANGLE_DEG: Final = 20.0
#: The gentlest free session offered: below this the table hardly pulls at all.
MIN_FREE_ANGLE_DEG: Final = 5.0
#: A free session's hold without stored limits: the manuals' 1-2 minutes of the first weeks.
FREE_HOLD_CAP_NO_LIMITS_MIN: Final = 2.0
FREE_HOLD_DEFAULT_MIN: Final = 1.0
MIN_FREE_HOLD_MIN: Final = 0.5
#: The page warns when the measured angle passes the step's highest angle by more than this.
OVER_TARGET_TOLERANCE_DEG: Final = 5.0
#: "Near horizontal" for the guided return: within this many degrees of flat.
NEAR_FLAT_DEG: Final = 10.0
#: The planned angle is sent at 1 Hz for protocols up to this long (longer ones are cut here).
MAX_TARGET_SAMPLES: Final = 4 * 3600

SYMPTOM_LABELS: Final[dict[str, str]] = {
    "dizziness": "Dizzy",
    "headache": "Headache",
    "eye_pressure": "Eye pressure",
    "nausea": "Nausea",
    "palpitations": "Heart racing",
    "stop_now": "Stop now",
}


@dataclass
class SessionChoice:
    """What the page offers: a planned session or a free one, with its caps and the reason."""

    source: str  # "program" or "free"
    protocol: Protocol
    protocol_text: str
    target_angle_deg: float
    ceiling_angle_deg: float
    ceiling_reason: str
    return_rest_s: int
    hold_cap_min: float
    reason: str = ""
    day: str | None = None
    week: int | None = None
    style: str | None = None
    free_angle_deg: float = CONSERVATIVE_ANGLE_DEG
    free_hold_min: float = FREE_HOLD_DEFAULT_MIN
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- plans
def plan_steps(protocol: Protocol) -> list[dict[str, Any]]:
    """The protocol as the page runs it: every executed step (repeats unrolled) with its kind, its
    canonical text, when it starts and ends, and the angles it goes from and to (degrees
    head-down; the timeline and the execution walk of ``inversa.protocol`` do the arithmetic)."""
    timeline = protocol.timeline()
    kinds: dict[type, str] = {
        Stand: "stand",
        LieFlat: "lie_flat",
        Hold: "hold",
        Tilt: "tilt",
        Oscillate: "oscillate",
    }
    steps: list[dict[str, Any]] = []
    for index, (leaf, span) in enumerate(
        zip(executed_leaves(protocol.steps), timeline.leaf_spans, strict=True)
    ):
        step = leaf.step
        to_deg = leaf_end_angle_deg(step, leaf.start_angle_deg)
        item: dict[str, Any] = {
            "index": index,
            "kind": kinds[type(step)],
            "text": span.text,
            "start_s": span.start_s,
            "end_s": span.end_s,
            "from_deg": round(leaf.start_angle_deg, 2),
            "to_deg": round(to_deg, 2),
            "top_deg": round(max(leaf.start_angle_deg, to_deg), 2),
        }
        if isinstance(step, Oscillate):
            item["top_deg"] = round(max(step.angle_a_deg, step.angle_b_deg, leaf.start_angle_deg), 2)
            item["period_s"] = step.period_s
        steps.append(item)
    return steps


def target_trace(protocol: Protocol) -> list[float]:
    """The planned angle at every whole second (0.1 deg), so the page draws the same curve the
    simulation uses."""
    timeline = protocol.timeline()
    count = min(math.floor(timeline.duration_s) + 1, MAX_TARGET_SAMPLES)
    angles = timeline.angle_deg(np.arange(count, dtype=np.float64))
    return [round(float(a), 1) for a in angles]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _limits(plan: dict[str, Any]) -> dict[str, Any]:
    limits = plan.get("limits")
    return limits if isinstance(limits, dict) else {}


def _caps(program: dict[str, Any] | None) -> tuple[float, str, float, int]:
    """(angle cap, why, hold cap in minutes, return rest in seconds) for this patient."""
    rest_min = MIN_RETURN_REST_MIN
    if program is None:
        return (
            CONSERVATIVE_ANGLE_DEG,
            f"You have no program yet, so a free session stays at or below a conservative "
            f"{CONSERVATIVE_ANGLE_DEG:g} deg.",
            FREE_HOLD_CAP_NO_LIMITS_MIN,
            math.ceil(rest_min * 60),
        )
    plan = program["plan"] if isinstance(program.get("plan"), dict) else {}
    limits = _limits(plan)
    candidates: list[tuple[float, str]] = []
    for value, why in (
        (_number(program.get("ceiling_angle_deg")), "the ceiling your clinician set"),
        (_number(plan.get("ceiling_angle_deg")), "your program's ceiling"),
        (_number(limits.get("max_angle_deg")), "your personal limit from the model"),
    ):
        if value is not None:
            candidates.append((value, why))
    hold_cap = FREE_HOLD_CAP_NO_LIMITS_MIN
    max_hold = _number(limits.get("max_hold_min"))
    if max_hold is not None:
        hold_cap = min(max_hold, SESSION_HOLD_CAP_MIN)
    stored_rest = _number(limits.get("return_rest_min"))
    if stored_rest is not None:
        rest_min = max(rest_min, stored_rest)
    if not candidates:
        return (
            CONSERVATIVE_ANGLE_DEG,
            f"Your program stores no ceiling or limits, so a free session stays at or below a "
            f"conservative {CONSERVATIVE_ANGLE_DEG:g} deg.",
            hold_cap,
            math.ceil(rest_min * 60),
        )
    cap, why = min(candidates)
    cap = max(0.0, min(cap, 90.0))
    return cap, f"A free session stays at or below {cap:g} deg: {why}.", hold_cap, math.ceil(rest_min * 60)


def _planned_today_done(program: dict[str, Any], today: date, today_sessions: list[dict[str, Any]]) -> int:
    """How many of today's planned sessions were already recorded (same protocol text)."""
    sessions = program["plan"].get("sessions", []) if isinstance(program.get("plan"), dict) else []
    todays = {
        s.get("protocol") for s in sessions if isinstance(s, dict) and s.get("day") == today.isoformat()
    }
    return sum(1 for s in today_sessions if s.get("planned_protocol") in todays)


def choose_session(
    program: dict[str, Any] | None,
    today: date,
    today_sessions: list[dict[str, Any]],
    free: tuple[float, float] | None = None,
) -> SessionChoice:
    """The session to guide: the next planned one, else (or when ``free`` = (angle, hold min) is
    asked for) a gentle free session within the caps. Raises ValueError naming ``angle`` or
    ``hold`` when a free session asks for more than the caps allow."""
    cap, cap_reason, hold_cap, rest_s = _caps(program)
    planned: list[dict[str, Any]] = []
    if program is not None and isinstance(program.get("plan"), dict):
        raw = program["plan"].get("sessions", [])
        planned = [s for s in raw if isinstance(s, dict) and isinstance(s.get("protocol"), str)]
    last_angle = next(
        (a for s in reversed(planned) if (a := _number(s.get("max_angle_deg"))) is not None), None
    )
    default_angle = min(cap, last_angle if last_angle is not None else CONSERVATIVE_ANGLE_DEG)
    default_angle = max(MIN_FREE_ANGLE_DEG, math.floor(default_angle))
    default_hold = min(FREE_HOLD_DEFAULT_MIN, hold_cap)
    reason = ""
    if free is None and planned:
        skip = _planned_today_done(program or {}, today, today_sessions)
        upcoming = [s for s in planned if str(s.get("day", "")) >= today.isoformat()]
        todays = [s for s in upcoming if s.get("day") == today.isoformat()]
        upcoming = todays[skip:] + [s for s in upcoming if s.get("day") != today.isoformat()]
        for session in upcoming:
            try:
                protocol = Protocol.parse(session["protocol"])
            except ProtocolError:
                continue  # a damaged stored session: offer the next one rather than fail
            angle = _number(session.get("max_angle_deg"))
            notes = [str(n) for n in (program or {}).get("plan", {}).get("notes", []) if isinstance(n, str)]
            return SessionChoice(
                source="program",
                protocol=protocol,
                protocol_text=session["protocol"],
                target_angle_deg=angle
                if angle is not None
                else max(s["top_deg"] for s in plan_steps(protocol)),
                ceiling_angle_deg=cap,
                ceiling_reason=cap_reason,
                return_rest_s=rest_s,
                hold_cap_min=hold_cap,
                day=str(session.get("day")),
                week=session.get("week") if isinstance(session.get("week"), int) else None,
                style=str(session.get("style", "")) or None,
                free_angle_deg=default_angle,
                free_hold_min=default_hold,
                notes=notes,
            )
        reason = (
            "Every session of your program lies in the past (or was done today): "
            "choose a gentle free session."
        )
    elif free is None:
        reason = "You have no program yet: choose a gentle free session."
    angle, hold = free if free is not None else (default_angle, default_hold)
    if cap < MIN_FREE_ANGLE_DEG:
        raise ValueError(f"angle: your cap of {cap:g} deg leaves no room for a session; ask your clinician")
    if not MIN_FREE_ANGLE_DEG <= angle <= cap:
        raise ValueError(f"angle: choose between {MIN_FREE_ANGLE_DEG:g} and {cap:g} deg")
    if not MIN_FREE_HOLD_MIN <= hold <= hold_cap:
        raise ValueError(f"hold: choose between {MIN_FREE_HOLD_MIN:g} and {hold_cap:g} min")
    protocol = build_session_protocol("continuous", angle, math.floor(hold * 60), rest_s)
    return SessionChoice(
        source="free",
        protocol=protocol,
        protocol_text=protocol.to_text(),
        target_angle_deg=angle,
        ceiling_angle_deg=cap,
        ceiling_reason=cap_reason,
        return_rest_s=rest_s,
        hold_cap_min=hold_cap,
        reason=reason or "A free session you chose.",
        style="continuous",
        free_angle_deg=angle,
        free_hold_min=hold,
    )


# ------------------------------------------------------------------------------------------- route
class _FreeQuery(BaseModel):
    """A free session asked for in the query string (angle in degrees, hold in minutes)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    angle: Annotated[float, Field(ge=0, le=90)]
    hold: Annotated[float, Field(gt=0, le=SESSION_HOLD_CAP_MIN)]


def _page_data(principal: Principal, choice: SessionChoice) -> dict[str, Any]:
    steps = plan_steps(choice.protocol)
    return {
        "patient_id": principal.user.id,
        "upload_url": f"/api/v1/patients/{principal.user.id}/sessions",
        "home_url": "/patient",
        "source": choice.source,
        "protocol": choice.protocol_text,
        "target_angle_deg": choice.target_angle_deg,
        "ceiling_angle_deg": choice.ceiling_angle_deg,
        "tolerance_deg": OVER_TARGET_TOLERANCE_DEG,
        "near_flat_deg": NEAR_FLAT_DEG,
        "return_rest_s": choice.return_rest_s,
        "duration_s": choice.protocol.timeline().duration_s,
        "steps": steps,
        "target_trace": target_trace(choice.protocol),
        "symptoms": [{"value": s, "label": SYMPTOM_LABELS.get(s, s.replace("_", " "))} for s in SYMPTOMS],
    }


@router.get("/patient/session")
async def guided_session(request: Request) -> Response:
    """The guided session page (patients only): the plan, the live guide, symptoms, upload."""
    principal = await _page_user(request, Role.PATIENT)
    if isinstance(principal, Response):
        return principal
    store = context(request).store
    pid = principal.user.id
    now = datetime.now().astimezone()
    # no guided session without a screening that allows inversion (the same rule as limits/program)
    stored = await run_in_threadpool(store.latest_screening, principal.actor, pid)
    refusal = session_refusal(stored, now.date())
    if refusal is not None:
        return render(request, "guided_refused.html", principal, refusal=refusal)
    program = await run_in_threadpool(store.active_program, principal.actor, pid)
    midnight = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    today_sessions = await run_in_threadpool(
        store.sessions, principal.actor, pid, midnight, midnight + timedelta(days=1)
    )
    errors: dict[str, str] = {}
    free: tuple[float, float] | None = None
    query = request.query_params
    shown = {"angle": query.get("angle", "")[:20], "hold": query.get("hold", "")[:20]}
    if "angle" in query or "hold" in query:
        try:
            asked = _FreeQuery.model_validate({k: v or None for k, v in shown.items()})
            free = (asked.angle, asked.hold)
        except ValidationError as exc:
            errors = _errors(exc)
    status = 200
    try:
        choice = choose_session(program, now.date(), today_sessions, free if not errors else None)
        if errors:
            status = 400
    except ValueError as exc:
        name, _, message = str(exc).partition(": ")
        errors = {name: message}
        status = 400
        choice = choose_session(program, now.date(), today_sessions, None)
    if errors and choice.source == "free":  # show the patient's own numbers back, with the error
        choice.free_angle_deg = _float_or(shown["angle"], choice.free_angle_deg)
        choice.free_hold_min = _float_or(shown["hold"], choice.free_hold_min)
    return render(
        request,
        "guided.html",
        principal,
        status,
        errors=errors,
        choice=choice,
        steps=plan_steps(choice.protocol),
        data=_page_data(principal, choice),
        symptoms=[(s, SYMPTOM_LABELS.get(s, s)) for s in SYMPTOMS],
        min_free_angle=MIN_FREE_ANGLE_DEG,
        min_free_hold=MIN_FREE_HOLD_MIN,
    )


def _float_or(text: str, default: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) else default
