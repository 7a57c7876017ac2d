"""Clinician pages: the patient list with flags, a patient's whole picture, the program and ceiling,
clearing a screening finding, the PDF report and the FHIR export.

Every clinical read and change goes through ``inversa.store.Store`` with the clinician's actor, so
the store checks the link and writes the audit row (a refused patient is audited as ``denied`` and
answered 404, exactly like an id that does not exist). The flags' thresholds live in one place,
:class:`FlagRules`, each with its source or its reason. Domain code is reused, never rewritten:
screening overrides through :func:`inversa.safety.apply_overrides`, score trends through
:func:`inversa.outcomes.trends.trends` (published meaningful change), programs through
:func:`inversa.programs.generate_program`, the n-of-1 answer through
:func:`inversa.outcomes.nof1.analyse`, and the exports through :mod:`inversa.exports`.

Dates typed on these pages are calendar days of the server's time zone, as on the command line
(``inversa report --from/--to``); sessions are matched to planned days the same way.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from inversa.outcomes import INSTRUMENTS
from inversa.outcomes.trends import trends
from inversa.programs import STYLES, ProgramError, ProgramSettings, SessionLimits, generate_program
from inversa.programs.plan import MIN_RETURN_REST_MIN, build_session_protocol
from inversa.protocol import LieFlat, Protocol, ProtocolError
from inversa.safety import (
    Decision,
    Finding,
    FindingClass,
    Override,
    ScreeningError,
    ScreeningResult,
    apply_overrides,
    load_questionnaire,
)
from inversa.store import AccessDeniedError, NotFoundError, Role
from inversa.web import accounts
from inversa.web.auth import Principal, context
from inversa.web.pages import _errors, _page_user, _submitted, _text, render

__all__ = [
    "RULES",
    "SYMPTOM_SEVERITY",
    "Flag",
    "FlagRules",
    "compute_flags",
    "missed_sessions",
    "nof1_answer",
    "router",
]

log = logging.getLogger("inversa.web")
router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2_147_483_647


# ------------------------------------------------------------------------------ flag rules (one place)
@dataclass(frozen=True)
class FlagRules:
    """Every threshold behind the patient list's flags, with its source or reason.

    - ``recent_days`` (14): missed sessions and adverse symptoms count over the last two weeks. Two
      weeks hold 10 planned sessions of the default program (5 days a week), enough to see a
      pattern, and short enough that a flag means "now", not "once, long ago".
    - ``score_window_days`` (90): a score trend is the change from the first to the last score in
      the last 90 days, the screening's own validity period; PEG asks about the past week, so a
      quarter holds several answers.
    - ``score_instruments``: PEG (pain, enjoyment, activity) and the function questionnaires RMDQ
      and ODI. Worse means worse by at least the instrument's published minimal important change
      (:func:`inversa.outcomes.meaningful_change`: PEG 1 point, product reference section 4; RMDQ
      5 points and ODI 10 points, Ostelo 2008). The daily pain NRS is left to the n-of-1 analysis,
      which models its day-to-day noise.
    - ``expiry_warning_days`` (14): a screening that expires within two weeks is flagged early so
      that the next one can be booked before sessions must stop.
    """

    recent_days: int = 14
    score_window_days: int = 90
    score_instruments: tuple[str, ...] = ("peg", "rmdq", "odi")
    expiry_warning_days: int = 14


RULES: Final = FlagRules()

#: How urgent each symptom is (0-100). "stop_now" is the person stopping a session: highest.
#: Eye pressure and palpitations point at the two systems the personal limits guard (intraocular
#: pressure roughly doubles head-down; heart and circulatory disease block inversion, product
#: reference section 3); dizziness, headache and nausea are common and usually pass on coming up
#: slowly (manuals, section 2), yet each may still end a session.
SYMPTOM_SEVERITY: Final[Mapping[str, int]] = {
    "stop_now": 100,
    "eye_pressure": 80,
    "palpitations": 80,
    "dizziness": 60,
    "headache": 60,
    "nausea": 60,
}
#: Severity of the other flags, on the same scale (most urgent first in the list).
SEVERITY: Final[Mapping[str, int]] = {
    "screening_missing_inverting": 90,  # sessions in the last two weeks without a valid screening
    "screening_missing": 60,
    "screening_blocks_inverting": 90,  # sessions logged while the screening blocks inversion
    "screening_needs_decision": 70,  # a finding waits for this clinician's clearance
    "worse_score": 50,
    "missed_sessions": 40,
    "screening_expiring": 20,
}
SYMPTOM_WORDS: Final[Mapping[str, str]] = {
    "stop_now": "stopped the session (\u201cstop now\u201d)",
    "eye_pressure": "eye pressure",
    "palpitations": "palpitations",
    "dizziness": "dizziness",
    "headache": "headache",
    "nausea": "nausea",
}
DECISION_WORDS: Final[Mapping[str, str]] = {
    "ok": "OK: nothing rules inversion out",
    "caution": "Caution: allowed with warnings, to be watched",
    "needs_clearance": "Needs clearance: no inversion until a clinician clears each marked finding",
    "blocked": "Blocked: no inversion",
}


@dataclass(frozen=True)
class Flag:
    """One reason to look at a patient: how urgent (0-100), a short title and the detail in words."""

    kind: str
    severity: int
    title: str
    detail: str

    @property
    def level(self) -> str:
        """The word shown on the badge: urgent (>= 90), high (>= 60) or attention."""
        return "urgent" if self.severity >= 90 else "high" if self.severity >= 60 else "attention"


# ------------------------------------------------------------------------------------------ helpers
def local_today() -> date:
    """Today in the server's time zone (the calendar the plans and date fields use)."""
    return datetime.now().astimezone().date()


def _local_day(iso: str) -> date:
    return datetime.fromisoformat(iso).astimezone().date()


def _iso_day(value: Any) -> bool:
    """Whether ``value`` is an ISO calendar day (YYYY-MM-DD)."""
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min).astimezone()


def _day_end(day: date) -> datetime:
    return datetime.combine(day, time.max).astimezone()


def _fmt(value: Any, digits: int = 1) -> str:
    """A number for people (at most ``digits`` decimals), or a dash for none."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "\u2013"
    return f"{round(value, digits):g}"


def _active_program(record: Mapping[str, Any]) -> dict[str, Any] | None:
    active = [p for p in record.get("programs", []) if p.get("active")]
    return active[-1] if active else None


def _plan_sessions(program: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if program is None:
        return []
    plan = program.get("plan")
    sessions = plan.get("sessions") if isinstance(plan, Mapping) else None
    return [s for s in sessions or [] if isinstance(s, Mapping) and _iso_day(s.get("day"))]


def missed_sessions(
    plan_sessions: Sequence[Mapping[str, Any]], done_days: Counter[date], today: date, since: date
) -> list[tuple[date, int]]:
    """Planned days in [since, today) with fewer stored sessions than planned: (day, how many missed).

    A planned day counts as passed once it is over (before ``today``); a session counts for the day
    it started on, in the server's time zone.
    """
    planned: Counter[date] = Counter()
    for s in plan_sessions:
        try:
            day = date.fromisoformat(str(s["day"]))
        except ValueError:
            continue
        if since <= day < today:
            planned[day] += 1
    return [(d, n - done_days[d]) for d, n in sorted(planned.items()) if n > done_days[d]]


def _findings(screening: Mapping[str, Any]) -> tuple[ScreeningResult | None, str]:
    """The stored screening as a :class:`ScreeningResult` with its overrides applied, or None and why
    it could not be read (an older or foreign format: then it is shown as stored)."""
    try:
        findings = tuple(Finding.from_dict(f) for f in screening.get("findings", []))
        created = datetime.fromisoformat(screening["created_at"])
        expires = datetime.fromisoformat(screening["expires_at"])
        base = ScreeningResult(
            decision=Decision(screening["decision"]),
            findings=findings,
            screening_version=str(screening.get("screening_version", "")),
            screened_on=created.astimezone(UTC).date(),
            expires_on=max(
                expires.astimezone(UTC).date(), created.astimezone(UTC).date() + timedelta(days=1)
            ),
            answers_fingerprint="",
            answers=dict(screening.get("answers") or {}),
        )
    except (ScreeningError, KeyError, TypeError, ValueError) as exc:
        return None, str(exc)
    result = base
    for o in screening.get("overrides", []):
        # one at a time: a stored override the screening rules refuse (made outside these pages)
        # is left out rather than hiding the whole screening
        try:
            override = Override(
                item=str(o["item"]),
                reason=str(o["reason"]),
                clinician=f"clinician {o.get('clinician_id')}",
                at=min(
                    datetime.fromisoformat(o["created_at"]),
                    datetime.combine(base.expires_on - timedelta(days=1), time(12), tzinfo=UTC),
                ),
                new_class=FindingClass(o["new_class"]),
            )
            result = apply_overrides(result, [override])
        except (ScreeningError, KeyError, TypeError, ValueError):
            log.warning("screening %s: stored override of %r left out", screening.get("id"), o.get("item"))
    return result, ""


def _screening_flags(screening: Mapping[str, Any] | None, now: datetime, inverting: bool) -> list[Flag]:
    rules = RULES
    if screening is None:
        kind = "screening_missing_inverting" if inverting else "screening_missing"
        detail = "No safety screening is on record."
        if inverting:
            detail += " Sessions were logged in the last two weeks all the same."
        return [Flag(kind, SEVERITY[kind], "No screening", detail + " Screen before any inversion.")]
    expires = datetime.fromisoformat(screening["expires_at"])
    if expires <= now:
        kind = "screening_missing_inverting" if inverting else "screening_missing"
        detail = f"The latest screening expired on {expires.astimezone().date().isoformat()}."
        if inverting:
            detail += " Sessions were logged in the last two weeks all the same."
        return [Flag(kind, SEVERITY[kind], "Screening expired", detail + " The patient must screen again.")]
    out: list[Flag] = []
    result, _ = _findings(screening)
    decision = result.decision.value if result is not None else str(screening.get("decision", ""))
    if decision in (Decision.NEEDS_CLEARANCE.value, Decision.BLOCKED.value):
        waiting = (
            [f.item for f in result.findings if f.current_class in (FindingClass.BLOCK, FindingClass.CLEAR)]
            if result is not None
            else []
        )
        items = f" ({', '.join(w.replace('_', ' ') for w in waiting)})" if waiting else ""
        kind = "screening_blocks_inverting" if inverting else "screening_needs_decision"
        logged = " Sessions were logged in the last two weeks all the same." if inverting else ""
        out.append(
            Flag(
                kind,
                SEVERITY[kind],
                "Screening needs a decision",
                f"The screening says \u201c{DECISION_WORDS.get(decision, decision)}\u201d{items}.{logged} "
                "Review the findings and clear them with a reason, or keep inversion off.",
            )
        )
    if expires <= now + timedelta(days=rules.expiry_warning_days):
        days = max(0, (expires.astimezone().date() - now.astimezone().date()).days)
        out.append(
            Flag(
                "screening_expiring",
                SEVERITY["screening_expiring"],
                "Screening expires soon",
                f"The screening expires in {days} day{'s' if days != 1 else ''} "
                f"({expires.astimezone().date().isoformat()}); book the next one.",
            )
        )
    return out


def compute_flags(record: Mapping[str, Any], now: datetime | None = None) -> list[Flag]:
    """The flags of one patient's record (as ``Store.patient_record`` returns it), most urgent first.

    Uses sessions of the last ``RULES.recent_days`` days, scores of the last
    ``RULES.score_window_days`` days, the active program's plan and the latest screening.
    """
    now = now or datetime.now(UTC)
    today = now.astimezone().date()
    since = today - timedelta(days=RULES.recent_days)
    sessions = [s for s in record.get("sessions", []) if _local_day(s["started_at"]) >= since]
    flags: list[Flag] = []

    # adverse symptoms: one flag, as urgent as the worst symptom
    counts: Counter[str] = Counter(sym for s in sessions for sym in s.get("symptoms", []))
    if counts:
        worst = max(counts, key=lambda k: (SYMPTOM_SEVERITY.get(k, 50), counts[k]))
        last = max(_local_day(s["started_at"]) for s in sessions if s.get("symptoms"))
        listed = ", ".join(
            f"{SYMPTOM_WORDS.get(k, k)} \u00d7{n}"
            for k, n in sorted(counts.items(), key=lambda kv: -SYMPTOM_SEVERITY.get(kv[0], 50))
        )
        with_symptoms = sum(1 for s in sessions if s.get("symptoms"))
        flags.append(
            Flag(
                "symptoms",
                SYMPTOM_SEVERITY.get(worst, 50),
                "Stopped a session" if worst == "stop_now" else "Adverse symptoms",
                f"{with_symptoms} of {len(sessions)} session{'s' if len(sessions) != 1 else ''} in the last "
                f"{RULES.recent_days} days had symptoms: {listed}; the latest on {last.isoformat()}.",
            )
        )

    # missed sessions of the active program
    program = _active_program(record)
    done = Counter(_local_day(s["started_at"]) for s in record.get("sessions", []))
    missed = missed_sessions(_plan_sessions(program), done, today, since)
    if missed:
        total = sum(n for _, n in missed)
        planned = sum(
            1 for s in _plan_sessions(program) if since <= date.fromisoformat(str(s["day"])) < today
        )
        flags.append(
            Flag(
                "missed_sessions",
                SEVERITY["missed_sessions"],
                "Missed sessions",
                f"{total} of {planned} planned session{'s' if planned != 1 else ''} in the last "
                f"{RULES.recent_days} days {'were' if total != 1 else 'was'} not logged "
                f"(days: {', '.join(d.isoformat() for d, _ in missed[-5:])}"
                f"{', ...' if len(missed) > 5 else ''}).",
            )
        )

    # scores getting worse by a meaningful change
    window_start = now - timedelta(days=RULES.score_window_days)
    for name, trend in trends(record.get("questionnaires", []), window_start, now).items():
        if name not in RULES.score_instruments or trend.change is None:
            continue
        if trend.change.worsened_meaningfully:
            rule = INSTRUMENTS[name].change_rule
            source = f"; source: {rule.citation}" if rule is not None else ""
            flags.append(
                Flag(
                    "worse_score",
                    SEVERITY["worse_score"],
                    f"{name.upper()} worse",
                    f"{name.upper()} went from {_fmt(trend.baseline)} to {_fmt(trend.latest)} in the last "
                    f"{RULES.score_window_days} days: worse by {_fmt(abs(trend.change.change))} points, at "
                    f"least the meaningful change of {_fmt(trend.change.absolute_threshold)}{source}.",
                )
            )

    flags += _screening_flags(_latest_screening(record), now, inverting=bool(sessions))
    return sorted(flags, key=lambda f: -f.severity)


# ------------------------------------------------------------------------------------------ n-of-1
def nof1_answer(schedule: Mapping[str, Any], nrs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The n-of-1 analysis of the experiment ``schedule`` from daily pain (NRS) responses: the last
    entry of each local day counts, days outside the plan are left out (as ``inversa nof1 analyse``)."""
    from inversa.outcomes.nof1 import Nof1Error, Schedule, analyse, diary_from_responses

    try:
        plan = Schedule.from_dict(schedule)
    except Nof1Error as exc:
        return {
            "status": "unreadable",
            "summary": f"The stored experiment cannot be read: {exc}",
            "effect_mean": None,
        }
    from inversa.web.patient_pages import diary_day

    diary = diary_from_responses(plan, nrs, diary_day)  # the same days as the patient's diary
    if not diary:
        return {
            "status": "not_enough_data",
            "summary": "No daily pain (NRS) has been logged during the experiment yet.",
            "effect_mean": None,
        }
    try:
        return analyse(diary, schedule=plan).to_dict()
    except Nof1Error as exc:
        return {
            "status": "unreadable",
            "summary": f"The diary cannot be analysed: {exc}",
            "effect_mean": None,
        }


# ------------------------------------------------------------------------------------- page access
def _patient_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_ID else None


def _not_found(request: Request, principal: Principal, raw: str) -> Response:
    shown = raw[:20] if raw.isdigit() else "that id"
    return render(request, "error.html", principal, 404, message=f"No patient with id {shown}.")


async def _read(request: Request, principal: Principal, raw_id: str, call: Any) -> Any:
    """Run ``call(store, actor, patient_id)`` in the thread pool; a refused or unknown patient is a
    404 page (the store has audited the refusal)."""
    pid = _patient_id(raw_id)
    if pid is None:
        return _not_found(request, principal, raw_id)
    store = context(request).store
    try:
        return await run_in_threadpool(call, store, principal.actor, pid)
    except (AccessDeniedError, NotFoundError):
        return _not_found(request, principal, raw_id)


# --------------------------------------------------------------------------------------- the list
@router.get("/clinician")
async def clinician_home(request: Request) -> Response:
    """Linked patients, each with its flags in words, the most urgent patient first."""
    principal = await _page_user(request, Role.CLINICIAN)
    if isinstance(principal, Response):
        return principal
    store = context(request).store
    now = datetime.now(UTC)

    def load() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for p in accounts.linked_patients(store.engine, principal.actor):
            try:
                record = store.patient_record(
                    principal.actor, p.id, start=now - timedelta(days=RULES.score_window_days), purpose="read"
                )
            except (AccessDeniedError, NotFoundError):  # unlinked or disabled in the meantime
                continue
            flags = compute_flags(record, now)
            sessions = record["sessions"]
            rows.append(
                {
                    "id": p.id,
                    "name": p.display_name,
                    "email": p.email,
                    "flags": flags,
                    "top": flags[0].severity if flags else 0,
                    "last_session": _local_day(sessions[-1]["started_at"]).isoformat() if sessions else None,
                }
            )
        rows.sort(key=lambda r: (-r["top"], -sum(f.severity for f in r["flags"]), r["name"].lower()))
        return rows

    patients = await run_in_threadpool(load)
    return render(
        request,
        "clinician_home.html",
        principal,
        patients=patients,
        flagged=sum(1 for p in patients if p["flags"]),
        rules=RULES,
        severity=SEVERITY,
        symptom_severity=SYMPTOM_SEVERITY,
        symptom_words=SYMPTOM_WORDS,
        instruments=[(k, INSTRUMENTS[k].change_rule) for k in RULES.score_instruments],
    )


# ----------------------------------------------------------------------------------- date ranges
class DateRangeError(ValueError):
    """A date field that cannot be read; ``field`` names it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.field = name
        self.message = message


def _date_param(request: Request, name: str) -> date | None:
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text[:10]) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not 1900 <= day.year <= 2200:
        raise DateRangeError(name, f"expected a date like 2026-11-25, got {text[:30]!r}")
    return day


def _range(request: Request, default_days: int | None) -> tuple[date | None, date]:
    """The ``start``/``end`` query dates (end defaults to today, start to ``default_days`` before it,
    or to no lower bound); refuses an end before the start."""
    end = _date_param(request, "end") or local_today()
    start = _date_param(request, "start")
    if start is None and default_days is not None:
        start = end - timedelta(days=default_days)
    if start is not None and end < start:
        raise DateRangeError("end", "must not be before start")
    return start, end


# ------------------------------------------------------------------------------------ detail view
DETAIL_DEFAULT_DAYS: Final = 90
MAX_CHARTED_SESSIONS: Final = 20  # older sessions in the range are listed without their chart
MAX_CHART_POINTS: Final = 600  # per trace: enough for a 10-minute session at 1 point a second


def _thin(trace: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    step = max(1, math.ceil(len(trace) / MAX_CHART_POINTS))
    points = [(float(p[0]), float(p[1])) for p in trace[::step]]
    if trace and step > 1 and points[-1][0] != float(trace[-1][0]):
        points.append((float(trace[-1][0]), float(trace[-1][1])))
    return points


def chart_data(session: Mapping[str, Any]) -> dict[str, list[float | None]]:
    """A session's angle and heart-rate traces on one time axis (minutes), as uPlot wants them;
    each trace is thinned to at most ``MAX_CHART_POINTS`` points, gaps are null."""
    angle = dict(_thin(session.get("angle_trace") or []))
    hr = dict(_thin(session.get("heart_rate_trace") or []))
    times = sorted(set(angle) | set(hr))
    return {
        "t": [round(t / 60.0, 3) for t in times],
        "angle": [angle.get(t) for t in times],
        "hr": [hr.get(t) for t in times] if hr else [],
    }


def _session_view(s: Mapping[str, Any], charted: bool) -> dict[str, Any]:
    start = datetime.fromisoformat(s["started_at"]).astimezone()
    end = datetime.fromisoformat(s["ended_at"]).astimezone()
    angles = [p[1] for p in s.get("angle_trace") or []]
    rates = [p[1] for p in s.get("heart_rate_trace") or []]
    peak = max(angles) if angles else None
    return {
        "id": s["id"],
        "when": start.strftime("%Y-%m-%d %H:%M"),
        "minutes": _fmt((end - start).total_seconds() / 60.0),
        "peak": _fmt(peak),
        "hr": f"{_fmt(min(rates), 0)}\u2013{_fmt(max(rates), 0)} bpm" if rates else "not recorded",
        "pain": f"{_fmt(s.get('pain_before'), 0)} \u2192 {_fmt(s.get('pain_after'), 0)}",
        "symptoms": [SYMPTOM_WORDS.get(x, x) for x in s.get("symptoms") or []],
        "stop": "stop_now" in (s.get("symptoms") or []),
        "notes": s.get("notes") or "",
        "planned": s.get("planned_protocol") or "",
        "has_trace": bool(angles or rates),
        "chart": chart_data(s) if charted and (angles or rates) else None,
    }


def _plan_rows(program: Mapping[str, Any] | None, done: Counter[date], today: date) -> list[dict[str, Any]]:
    rows = []
    used: Counter[date] = Counter()
    for s in _plan_sessions(program):
        try:
            day = date.fromisoformat(str(s["day"]))
        except ValueError:
            continue
        used[day] += 1
        if used[day] <= done[day]:
            status = "done"
        else:
            status = "missed" if day < today else "today" if day == today else "planned"
        rows.append(
            {
                "day": day.isoformat(),
                "index": s.get("index_in_day", 1),
                "week": s.get("week", ""),
                "style": s.get("style", ""),
                "angle": _fmt(s.get("max_angle_deg")),
                "hold": _fmt(s.get("hold_min")),
                "minutes": _fmt(s.get("duration_min")),
                "status": status,
            }
        )
    return rows


def _screening_view(screening: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if screening is None:
        return None
    result, problem = _findings(screening)
    questionnaire = load_questionnaire()
    items = {it.key: it for it in questionnaire.items}
    overrides = {str(o["item"]): o for o in screening.get("overrides", [])}
    expires = datetime.fromisoformat(screening["expires_at"])
    expired = expires <= datetime.now(UTC)
    findings = []
    raw_findings = [f for f in screening.get("findings", []) if isinstance(f, Mapping)]
    for i, raw in enumerate(raw_findings):
        item = str(raw.get("item", ""))
        parsed = result.findings[i] if result is not None and i < len(result.findings) else None
        known = items.get(item)
        why_not = ""
        if parsed is None:
            why_not = f"This screening's findings are in a format this page cannot check ({problem})."
        elif parsed.red_flag:
            why_not = "A red flag: it needs medical care now, not clearance; it cannot be overridden."
        elif not parsed.overridable:
            because = known.not_overridable_because if known is not None else ""
            why_not = f"Cannot be overridden: {because or 'the questionnaire does not allow it'}."
        elif item in overrides:
            why_not = "Already decided (below); a new screening starts over."
        elif expired:
            why_not = "The screening has expired: the patient must screen again before any clearance."
        findings.append(
            {
                "item": item,
                "question": known.question if known is not None else item.replace("_", " "),
                "class": str(raw.get("class", "")),
                "effective": parsed.current_class.value if parsed is not None else str(raw.get("class", "")),
                "reason": str(raw.get("reason", "")),
                "source": str(raw.get("source", "")),
                "seek_care_now": raw.get("seek_care_now"),
                "override": overrides.get(item),
                "can_override": not why_not,
                "why_not": why_not,
            }
        )
    decision = result.decision.value if result is not None else str(screening.get("decision", ""))
    return {
        "id": screening["id"],
        "version": screening.get("screening_version", ""),
        "created": datetime.fromisoformat(screening["created_at"]).astimezone().date().isoformat(),
        "expires": expires.astimezone().date().isoformat(),
        "expired": expired,
        "stored_decision": screening.get("decision", ""),
        "decision": decision,
        "decision_words": DECISION_WORDS.get(decision, decision),
        "findings": findings,
        "overrides": list(screening.get("overrides", [])),
    }


def _score_rows(responses: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "when": datetime.fromisoformat(r["recorded_at"]).astimezone().strftime("%Y-%m-%d %H:%M"),
            "instrument": str(r["instrument"]).upper(),
            "score": _fmt(r.get("score"), 2),
            "complete": r.get("complete", True),
        }
        for r in reversed(responses)
    ]


def _trend_rows(
    responses: Sequence[Mapping[str, Any]], lo: datetime | None, hi: datetime
) -> list[dict[str, Any]]:
    rows = []
    for name, t in trends(responses, lo, hi).items():
        rule = INSTRUMENTS[name].change_rule if name in INSTRUMENTS else None
        rows.append(
            {
                "instrument": name.upper(),
                "n": len(t.scores),
                "baseline": _fmt(t.baseline, 2),
                "latest": _fmt(t.latest, 2),
                "note": t.note,
                "worse": t.change is not None and t.change.worsened_meaningfully,
                "threshold": ""
                if rule is None
                else f"{rule.points:g} point{'s' if rule.points != 1 else ''} ({rule.citation})",
            }
        )
    return rows


def _experiment_view(record: Mapping[str, Any], nrs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    experiments = record.get("experiments", [])
    if not experiments:
        return None
    schedule = experiments[-1]["schedule"]
    answer = nof1_answer(schedule, nrs)
    blocks = schedule.get("blocks", []) if isinstance(schedule, Mapping) else []
    return {"blocks": blocks, "answer": answer}


@dataclass
class _Shown:
    """What the detail page shows besides the record: form values, errors and a done message."""

    errors: dict[str, str] = field(default_factory=dict)
    override_errors: dict[str, dict[str, str]] = field(default_factory=dict)
    override_values: dict[str, dict[str, str]] = field(default_factory=dict)
    program_values: dict[str, str] = field(default_factory=dict)
    done: str = ""


def _load_detail(
    store: Any, actor: Any, pid: int, start: date | None, end: date
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """The record (sessions from the earliest of the shown range, the flags' windows and the plan),
    the NRS responses for the n-of-1 answer, and the latest screening with its overrides."""
    program = store.active_program(actor, pid)
    today = local_today()
    lows = [today - timedelta(days=RULES.score_window_days)]
    if start is not None:
        lows.append(start)
    plan_days = [date.fromisoformat(str(s["day"])) for s in _plan_sessions(program) if _iso_day(s["day"])]
    if plan_days:
        lows.append(min(plan_days))
    lo = _day_start(min(lows)) if start is not None else None
    record = store.patient_record(actor, pid, lo, _day_end(max(end, today)), purpose="read")
    nrs = store.questionnaires(actor, pid, instrument="nrs") if record["experiments"] else []
    return record, nrs, _latest_screening(record)


def _latest_screening(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record's latest screening with its own overrides (as ``Store.latest_screening`` gives it)."""
    screenings = record.get("screenings", [])
    if not screenings:
        return None
    latest = dict(screenings[-1])
    latest["overrides"] = [o for o in record.get("overrides", []) if o.get("screening_id") == latest["id"]]
    return latest


async def _detail(
    request: Request, principal: Principal, raw_id: str, status_code: int = 200, shown: _Shown | None = None
) -> Response:
    shown = shown or _Shown()
    try:
        start, end = _range(request, DETAIL_DEFAULT_DAYS)
    except DateRangeError as exc:
        start, end = local_today() - timedelta(days=DETAIL_DEFAULT_DAYS), local_today()
        shown.errors[exc.field] = exc.message
        status_code = 400
    loaded = await _read(request, principal, raw_id, lambda s, a, p: _load_detail(s, a, p, start, end))
    if isinstance(loaded, Response):
        return loaded
    record, nrs, screening = loaded
    lo = _day_start(start) if start is not None else None
    hi = _day_end(end)
    in_range = [
        s
        for s in record["sessions"]
        if (lo is None or datetime.fromisoformat(s["started_at"]) >= lo)
        and datetime.fromisoformat(s["started_at"]) <= hi
    ]
    sessions = [_session_view(s, i < MAX_CHARTED_SESSIONS) for i, s in enumerate(reversed(in_range))]
    responses = [
        r
        for r in record["questionnaires"]
        if (lo is None or datetime.fromisoformat(r["recorded_at"]) >= lo)
        and datetime.fromisoformat(r["recorded_at"]) <= hi
    ]
    program = _active_program(record)
    today = local_today()
    done = Counter(_local_day(s["started_at"]) for s in record["sessions"])
    plan = program["plan"] if program is not None and isinstance(program.get("plan"), Mapping) else {}
    limits = plan["limits"] if _session_limits(plan) is not None else None
    program_values = shown.program_values or {
        "target_angle_deg": _fmt(program.get("target_angle_deg")) if program else "",
        "ceiling_angle_deg": _fmt(program.get("ceiling_angle_deg") or plan.get("ceiling_angle_deg"))
        if program
        else "",
    }
    program_values = {k: ("" if v == "\u2013" else v) for k, v in program_values.items()}
    return render(
        request,
        "clinician_patient.html",
        principal,
        status_code,
        patient=record["patient"],
        profile=record["profile"],
        flags=compute_flags(record),
        screening=_screening_view(screening),
        program=program,
        plan=plan,
        limits=limits,
        plan_rows=_plan_rows(program, done, today),
        regenerable=_regenerable(plan),
        sessions=sessions,
        charted=min(len(sessions), MAX_CHARTED_SESSIONS),
        scores=_score_rows(responses),
        trend_rows=_trend_rows(responses, lo, hi),
        experiment=_experiment_view(record, nrs),
        start=start.isoformat() if start else "",
        end=end.isoformat(),
        errors=shown.errors,
        override_errors=shown.override_errors,
        override_values=shown.override_values,
        program_values=program_values,
        done=shown.done,
        sections=SECTION_LABELS,
    )


@router.get("/clinician/patients/{patient_id}")
async def patient_detail(request: Request, patient_id: str) -> Response:
    """One patient: profile, screening, limits and program, sessions with traces, scores, n-of-1."""
    principal = await _page_user(request, Role.CLINICIAN)
    if isinstance(principal, Response):
        return principal
    return await _detail(request, principal, patient_id, shown=_Shown(done=_done_message(request)))


def _done_message(request: Request) -> str:
    """The confirmation after a change (only known codes: the query never supplies text)."""
    code = request.query_params.get("done", "")
    if code.startswith("cleared-") and code[8:] in DECISION_WORDS:
        return (
            "The finding was decided and stored with your reason. The screening now reads: "
            f"{DECISION_WORDS[code[8:]]}."
        )
    return {
        "program-regenerated": "Program saved: the plan was regenerated within the patient's limits.",
        "program-capped": "Program saved: the plan was kept and its sessions capped at the ceiling.",
    }.get(code, "")


# ------------------------------------------------------------------------------ program and ceiling
ANGLE_LOW: Final = 15.0  # ProgramSettings' range for target and ceiling (the manuals' lowest start)
ANGLE_HIGH: Final = 90.0


class _ProgramForm(BaseModel):
    target_angle_deg: Annotated[float, Field(ge=ANGLE_LOW, le=ANGLE_HIGH, allow_inf_nan=False)]
    ceiling_angle_deg: Annotated[float, Field(ge=ANGLE_LOW, le=ANGLE_HIGH, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.target_angle_deg > self.ceiling_angle_deg:
            raise ValueError(
                f"target_angle_deg: the target ({self.target_angle_deg:g} deg) must not be above the "
                f"ceiling ({self.ceiling_angle_deg:g} deg)"
            )
        return self


def _session_limits(plan: Mapping[str, Any]) -> SessionLimits | None:
    raw = plan.get("limits")
    if not isinstance(raw, Mapping):
        return None
    try:
        return SessionLimits(
            max_angle_deg=raw["max_angle_deg"],
            max_hold_min=raw["max_hold_min"],
            return_rest_min=raw.get("return_rest_min", 0.0),
            binding_constraint=str(raw["binding_constraint"]),
        )
    except (KeyError, ValidationError):
        return None


def _settings_from_plan(plan: Mapping[str, Any], target: float, ceiling: float) -> ProgramSettings | None:
    """The settings that made ``plan`` (same first day, weeks, days a week, sessions a day and style)
    with the new target and ceiling; None when the plan does not tell them."""
    sessions = [s for s in plan.get("sessions", []) if isinstance(s, Mapping)]
    if not sessions:
        return None
    try:
        first = min(date.fromisoformat(str(s["day"])) for s in sessions)
        weeks = max(int(s["week"]) for s in sessions)
        per_day = max(int(s["index_in_day"]) for s in sessions)
        week_one = {str(s["day"]) for s in sessions if int(s["week"]) == 1}
        style = str(sessions[0]["style"])
        if style not in STYLES:
            return None
        lowest = min(target, ceiling)
        values: dict[str, Any] = {
            "weeks": weeks,
            "sessions_per_day": per_day,
            "days_per_week": len(week_one),
            "style": style,
            "target_angle_deg": target,
            "ceiling_angle_deg": ceiling,
            "start_date": first,
        }
        if ANGLE_LOW <= lowest < ProgramSettings().start_angle_deg:  # as `inversa plan` does
            values["start_angle_deg"] = lowest
        return ProgramSettings(**values)
    except (KeyError, TypeError, ValueError):  # ValidationError is a ValueError
        return None


def _regenerable(plan: Mapping[str, Any]) -> str:
    """Why the plan would be capped rather than regenerated ("" when it can be regenerated)."""
    if _session_limits(plan) is None:
        return "the plan does not carry the patient's personal limits"
    if plan.get("adaptations"):
        return "the plan was adapted to session reports, and regenerating would undo those step-backs"
    if _settings_from_plan(plan, 60.0, 60.0) is None:
        return "the plan's schedule cannot be read back"
    return ""


def _return_rest_s(protocol_text: str, plan: Mapping[str, Any]) -> int:
    """The rest flat before standing in a planned session (the step before the final rise)."""
    try:
        steps = Protocol.parse(protocol_text).steps
        if len(steps) >= 3 and isinstance(steps[-3], LieFlat):
            return math.ceil(steps[-3].duration_s)
    except ProtocolError:
        pass
    limits = plan.get("limits") if isinstance(plan.get("limits"), Mapping) else {}
    rest_min = float(limits.get("return_rest_min", 0.0) or 0.0) if limits else 0.0
    return math.ceil(max(MIN_RETURN_REST_MIN, rest_min) * 60.0)


def capped_plan(plan: Mapping[str, Any], ceiling: float, today: date) -> dict[str, Any]:
    """The same sessions, each one steeper than ``ceiling`` rebuilt at the ceiling (same style, hold
    and rest). Raises ValueError when a session cannot be rebuilt."""
    sessions = []
    changed = 0
    for s in plan.get("sessions", []):
        if float(s["max_angle_deg"]) > ceiling:
            style = s["style"]
            if style not in STYLES:
                raise ValueError(f"a session on {s['day']} has an unknown style {style!r}")
            protocol = build_session_protocol(
                style, ceiling, int(s["hold_s"]), _return_rest_s(str(s["protocol"]), plan)
            )
            s = {
                **s,
                "protocol": protocol.to_text(),
                "max_angle_deg": ceiling,
                "duration_min": protocol.timeline().duration_s / 60.0,
            }
            changed += 1
        sessions.append(s)
    old = plan.get("ceiling_angle_deg")
    effective = min(float(old), ceiling) if isinstance(old, int | float) else ceiling
    note = (
        f"On {today.isoformat()} your clinician set a ceiling of {ceiling:g} deg: "
        f"{changed} session{'s' if changed != 1 else ''} now stop there."
    )
    return {
        **plan,
        "sessions": sessions,
        "ceiling_angle_deg": effective,
        "notes": [*plan.get("notes", []), note],
    }


def reshaped_plan(
    plan: Mapping[str, Any], target: float, ceiling: float, today: date
) -> tuple[dict[str, Any], str]:
    """The plan under a new target and ceiling, and what was done ("regenerated" or "capped").

    Regenerated with :func:`generate_program` within the personal limits the plan carries when it
    can be (same days, weeks and style); otherwise the plan is kept and capped at the ceiling.
    """
    why_not = _regenerable(plan)
    limits = _session_limits(plan)
    settings = _settings_from_plan(plan, target, ceiling)
    if not why_not and limits is not None and settings is not None:
        try:
            program = generate_program(limits, settings)
        except ProgramError as exc:
            why_not = str(exc)
        else:
            return {**program.to_dict(), "limits": plan["limits"], "adaptations": []}, "regenerated"
    return capped_plan(plan, ceiling, today), "capped"


@router.post("/clinician/patients/{patient_id}/program")
async def program_edit(request: Request, patient_id: str) -> Response:
    """Set target and ceiling; regenerate the plan within the patient's limits, or cap it."""
    principal = await _page_user(request, Role.CLINICIAN)
    if isinstance(principal, Response):
        return principal
    form = await _submitted(request, principal)
    if isinstance(form, Response):
        return form
    values = {k: _text(form, k)[:40] for k in ("target_angle_deg", "ceiling_angle_deg")}
    shown = _Shown(program_values=values)
    try:
        data = _ProgramForm.model_validate(values)
    except ValidationError as exc:
        shown.errors = _errors(exc)
        return await _detail(request, principal, patient_id, 400, shown)
    today = local_today()

    def save(store: Any, actor: Any, pid: int) -> str | dict[str, str]:
        program = store.active_program(actor, pid)
        if program is None:
            return {"form": "This patient has no program yet: they make one from their set-up page."}
        try:
            plan, how = reshaped_plan(program["plan"], data.target_angle_deg, data.ceiling_angle_deg, today)
        except (KeyError, TypeError, ValueError) as exc:
            return {"ceiling_angle_deg": f"the plan cannot be capped: {exc}"}
        try:
            store.save_program(actor, pid, plan, data.target_angle_deg, data.ceiling_angle_deg)
        except ValueError as exc:  # the store's own rules, "field: message"
            name, _, msg = str(exc).partition(": ")
            return {name if name in values else "form": msg or str(exc)}
        return how

    outcome = await _read(request, principal, patient_id, save)
    if isinstance(outcome, Response):
        return outcome
    if isinstance(outcome, dict):
        shown.errors = outcome
        return await _detail(request, principal, patient_id, 400, shown)
    return RedirectResponse(f"/clinician/patients/{int(patient_id)}?done=program-{outcome}#program", 303)


# ---------------------------------------------------------------------------- clearing a finding
class _OverrideForm(BaseModel):
    screening_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    item: Annotated[str, Field(min_length=1, max_length=80)]
    new_class: Literal["cleared", "caution"]
    reason: Annotated[str, Field(max_length=2000)]

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required: what was examined, by whom, and the result")
        return value.strip()


@router.post("/clinician/patients/{patient_id}/findings")
async def clear_finding(request: Request, patient_id: str) -> Response:
    """Clear (or downgrade to caution) one overridable finding of the latest screening, with a reason."""
    principal = await _page_user(request, Role.CLINICIAN)
    if isinstance(principal, Response):
        return principal
    form = await _submitted(request, principal)
    if isinstance(form, Response):
        return form
    values = {k: _text(form, k) for k in ("screening_id", "item", "new_class", "reason")}
    item = values["item"][:80]
    shown = _Shown(
        override_values={item: {"reason": values["reason"][:2000], "new_class": values["new_class"]}}
    )

    def fail(errors: dict[str, str]) -> _Shown:
        shown.override_errors = {item: errors}
        return shown

    try:
        data = _OverrideForm.model_validate(values)
    except ValidationError as exc:
        errors = _errors(exc)
        if "screening_id" in errors or "item" in errors:
            shown.errors = {"form": "This clearance form is out of date: reload the page."}
        return await _detail(request, principal, patient_id, 400, fail(errors))

    def save(store: Any, actor: Any, pid: int) -> dict[str, str] | str:
        latest = store.latest_screening(actor, pid)
        if latest is None or latest["id"] != data.screening_id:
            return {"form": "A newer screening exists (or none): reload the page and decide on it."}
        result, problem = _findings(latest)
        if result is None:
            return {"reason": f"this screening cannot be checked: {problem}"}
        try:  # the screening module's rules: red flags, not-overridable items, one override, validity
            new = Override(
                item=data.item,
                reason=data.reason,
                clinician=principal.user.display_name,
                at=datetime.now(UTC),
                new_class=FindingClass(data.new_class),
            )
            updated = apply_overrides(result, [new])
        except ScreeningError as exc:
            # the finding's own form is shown only for a finding that may be decided: a refusal for
            # any other (a red flag, a size limit, decided already) is said at the top of the page
            return {"new_class" if "is already a" in str(exc) else "form": str(exc).capitalize()}
        store.add_override(actor, data.screening_id, data.item, data.new_class, data.reason)
        return updated.decision.value

    outcome = await _read(request, principal, patient_id, save)
    if isinstance(outcome, Response):
        return outcome
    if isinstance(outcome, dict):
        if "form" in outcome:
            shown.errors = outcome
            return await _detail(request, principal, patient_id, 400, shown)
        return await _detail(request, principal, patient_id, 400, fail(outcome))
    return RedirectResponse(f"/clinician/patients/{int(patient_id)}?done=cleared-{outcome}#screening", 303)


# ----------------------------------------------------------------------------- report and export
SECTION_LABELS: Final[Mapping[str, str]] = {
    "summary": "Summary",
    "pain": "Pain scores",
    "function": "Function scores",
    "sessions": "Sessions",
    "symptoms": "Adverse symptoms",
    "screening": "Screening",
    "nof1": "Personal experiment",
}
_PDF_LOCK = threading.Lock()  # matplotlib's pyplot state is shared by the whole process


def _bad_request(request: Request, principal: Principal, name: str, message: str) -> Response:
    return render(request, "error.html", principal, 400, message=f"{name}: {message}")


@router.get("/clinician/patients/{patient_id}/report.pdf")
async def report_pdf(request: Request, patient_id: str) -> Response:
    """The clinician's PDF report over ``start``..``end`` (days), with the chosen ``sections``
    (all by default), audited with the purpose "report"."""
    from inversa.exports import ReportSections, write_pdf_report

    principal = await _page_user(request, Role.CLINICIAN)
    if isinstance(principal, Response):
        return principal
    try:
        start, end = _range(request, None)
    except DateRangeError as exc:
        return _bad_request(request, principal, exc.field, exc.message)
    names = [n[:20] for n in request.query_params.getlist("sections")[:20]]
    try:
        sections = ReportSections.parse(names) if names else ReportSections()
    except ValueError as exc:
        return _bad_request(request, principal, "sections", str(exc))
    lo = _day_start(start or date(1900, 1, 1))
    hi = _day_end(end)

    def build(store: Any, actor: Any, pid: int) -> tuple[bytes, str]:
        record = store.patient_record(actor, pid, lo, hi, purpose="report")
        nof1 = None
        if sections.nof1 and record["experiments"]:
            nrs = store.questionnaires(actor, pid, instrument="nrs")
            nof1 = nof1_answer(record["experiments"][-1]["schedule"], nrs)
        with tempfile.TemporaryDirectory() as tmp, _PDF_LOCK:
            path = write_pdf_report(record, Path(tmp) / "report.pdf", lo, hi, sections, nof1)
            return path.read_bytes(), str(record["patient"]["id"])

    built = await _read(request, principal, patient_id, build)
    if isinstance(built, Response):
        return built
    pdf, pid = built
    name = f"inversa-report-{pid}-{lo.date().isoformat()}-{hi.date().isoformat()}.pdf"
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/clinician/patients/{patient_id}/fhir.json")
async def fhir_export(request: Request, patient_id: str) -> Response:
    """Everything the patient owns as a FHIR R4 Bundle, checked before it leaves, audited with the
    purpose "export"."""
    from inversa.exports import FhirError, build_bundle, check_bundle

    principal = await _page_user(request, Role.CLINICIAN)
    if isinstance(principal, Response):
        return principal

    def build(store: Any, actor: Any, pid: int) -> dict[str, Any] | str:
        record = store.patient_record(actor, pid, purpose="export")
        bundle = build_bundle(record)
        try:
            check_bundle(bundle)
        except FhirError as exc:
            log.error("FHIR export of patient %s failed its checks: %s", pid, exc)
            return str(exc)
        return bundle

    built = await _read(request, principal, patient_id, build)
    if isinstance(built, Response):
        return built
    if isinstance(built, str):
        return render(
            request, "error.html", principal, 500, message=f"The export failed its own FHIR checks: {built}"
        )
    name = f"inversa-fhir-{int(patient_id)}.json"
    return Response(
        json.dumps(built, indent=1),
        media_type="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
