"""Patient pages: onboarding (profile, screening, limits, program), diary and questionnaires,
progress charts, the n-of-1 answer and the engine's picture of a planned session.

Everything clinical goes through :class:`inversa.store.Store` with the signed-in patient's actor,
so the store checks access and writes the audit log. Nothing here re-implements domain logic: the
screening is :func:`inversa.safety.screen`, limits are :func:`inversa.safety.compute_limits`,
programs :func:`inversa.programs.generate_program`, scores :func:`inversa.outcomes.score`, the
personal experiment :mod:`inversa.outcomes.nof1` and the session picture
:func:`inversa.simulation.simulate`. The small public helpers below (``person_from_profile``,
``screening_from_stored``, ``screening_refusal``, ``personal_limits``, ``plan_json``,
``nof1_answer``) are the web's counterparts of the CLI glue in ``inversa.cli.safety`` and
``inversa.cli.outcomes``, which reads files and exits instead of returning values.

The engine is slow (limits take seconds; a first simulation compiles numba code), so both run on a
small thread pool. Their results live in memory per app, keyed by everything they depend on: a
new profile or screening gives a new key, a restart forgets them (the program, once saved, keeps
its limits in its plan).
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from inversa.body import LEVELS, Person, PersonError
from inversa.cli.safety import DECISION_WORDS
from inversa.outcomes import INSTRUMENTS, QuestionnaireError, meaningful_change, score
from inversa.outcomes.nof1 import (
    DEFAULT_BLOCK_DAYS,
    MAX_BLOCK_DAYS,
    MAX_PAIRS,
    MIN_BLOCK_DAYS,
    MIN_PAIRS,
    Nof1Error,
    Schedule,
    analyse,
    diary_from_responses,
    plan_schedule,
)
from inversa.outcomes.questionnaires import ODI_LICENCE_ENV, Instrument, Licence
from inversa.outcomes.trends import session_pain_summary, trends
from inversa.programs import STYLES, Program, ProgramError, ProgramSettings, generate_program
from inversa.protocol import Protocol
from inversa.safety import (
    Decision,
    FindingClass,
    ItemType,
    LimitCriteria,
    Override,
    PersonalLimits,
    ScreeningAnswerError,
    ScreeningError,
    ScreeningResult,
    apply_overrides,
    cleared_eye_findings,
    compute_limits,
    is_expired,
    load_questionnaire,
    parse_answer,
    screen,
)
from inversa.safety.limits import CONSTRAINTS, SERIES
from inversa.simulation import SimulationError, simulate
from inversa.store import Actor, ConflictError, Role, Store
from inversa.web.auth import Principal, context
from inversa.web.pages import _errors, _page_user, _session_row, _submitted, _text, render

__all__ = [
    "DIARY_SCHEDULE",
    "ScheduleRule",
    "diary_day",
    "due_questionnaires",
    "nof1_answer",
    "person_from_profile",
    "personal_limits",
    "plan_json",
    "router",
    "screening_from_stored",
    "screening_refusal",
    "session_refusal",
]

router = APIRouter(include_in_schema=False)
log = logging.getLogger("inversa.web")

# ------------------------------------------------------------------------------------- background work
#: Engine runs (limits, simulations) share this small pool: the machine's cores are better spent on
#: two runs at a time than on many half-speed ones.
_POOL: Final = ThreadPoolExecutor(max_workers=2, thread_name_prefix="inversa-patient")
#: At most this many results are kept per kind of job (the oldest is forgotten first).
_KEEP: Final = 64


class _Jobs:
    """Background computations of one app: one future per key, newest kept, failures retried."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: OrderedDict[Hashable, Future[Any]] = OrderedDict()

    def get(self, key: Hashable) -> Future[Any] | None:
        with self._lock:
            return self._futures.get(key)

    def start(self, key: Hashable, fn: Callable[[], Any]) -> Future[Any]:
        """The job for ``key``: the running or finished one, else (also after a failure) a new one."""
        with self._lock:
            future = self._futures.get(key)
            if future is not None and not (future.done() and future.exception() is not None):
                self._futures.move_to_end(key)
                return future
            future = _POOL.submit(fn)
            self._futures[key] = future
            while len(self._futures) > _KEEP:
                self._futures.popitem(last=False)
            return future


def _jobs(request: Request, kind: str) -> _Jobs:
    """This app's job registry of one kind (created on first use; tests run many apps)."""
    registry: dict[str, _Jobs] | None = getattr(request.app.state, "inversa_patient_jobs", None)
    if registry is None:
        registry = {}
        request.app.state.inversa_patient_jobs = registry
    return registry.setdefault(kind, _Jobs())


# ---------------------------------------------------------------------------------------- domain glue
def person_from_profile(profile: Mapping[str, Any], today: date | None = None) -> Person:
    """The engine's person from a stored profile (age from the birth year, 8 h upright as the CLI's
    default). Raises PersonError naming the profile field when something is missing or out of range."""
    missing = [name for name in ("sex", "birth_year", "height_cm", "mass_kg") if profile.get(name) is None]
    if missing:
        raise PersonError(missing[0], f"{missing[0]}: missing from your profile")
    year = (today or date.today()).year
    try:
        return Person.create(
            sex=profile["sex"],
            age_years=float(year - int(profile["birth_year"])),
            height_cm=profile["height_cm"],
            mass_kg=profile["mass_kg"],
            resting_systolic_mmhg=profile.get("resting_systolic_mmhg"),
            resting_diastolic_mmhg=profile.get("resting_diastolic_mmhg"),
            resting_heart_rate_bpm=profile.get("resting_heart_rate_bpm"),
            resting_iop_mmhg=profile.get("resting_iop_mmhg"),
        )
    except PersonError as exc:
        name = "birth_year" if exc.field == "age_years" else exc.field
        raise PersonError(name, str(exc).replace("age_years", "age")) from None


def screening_from_stored(stored: Mapping[str, Any]) -> tuple[ScreeningResult, list[str]]:
    """A stored screening (``Store.latest_screening``) as a ScreeningResult with its clinician
    overrides applied, and notes on overrides the screening rules refuse (they are left out).

    The answers are screened again as of the day they were given, so the findings, reasons and
    sources are those of the questionnaire; raises ScreeningError when they no longer fit it."""
    screened_on = datetime.fromisoformat(str(stored["created_at"])).astimezone(UTC).date()
    result = screen(stored["answers"], today=screened_on)
    latest: dict[str, Override] = {}
    notes: list[str] = []
    for raw in stored.get("overrides", []):
        try:
            latest[str(raw["item"])] = Override(
                item=str(raw["item"]),
                reason=str(raw["reason"]),
                clinician=f"your clinician (account {raw.get('clinician_id')})",
                at=datetime.fromisoformat(str(raw["created_at"])),
                new_class=FindingClass(str(raw["new_class"])),
            )
        except (ValueError, KeyError) as exc:
            notes.append(f"A clinician's decision on {raw.get('item')} could not be read: {exc}")
    for override in latest.values():
        try:
            result = apply_overrides(result, [override])
        except ScreeningError as exc:
            notes.append(f"A clinician's decision was not applied: {exc}")
    return result, notes


def screening_refusal(result: ScreeningResult, today: date) -> str | None:
    """Why no limits or program may be given on this screening (as ``inversa limits --screening``
    refuses), or None when it allows inversion."""
    if is_expired(result, today):
        return f"Your screening of {result.screened_on} expired on {result.expires_on}: please screen again."
    if result.decision in (Decision.BLOCKED, Decision.NEEDS_CLEARANCE):
        items = [f for f in result.findings if f.current_class in (FindingClass.BLOCK, FindingClass.CLEAR)]
        why = "; ".join(f"{_question(f.item)} {f.reason}" for f in items)
        if result.decision is Decision.BLOCKED:
            return f"Your screening says: do not invert. No limits or program are given. Why: {why}"
        return (
            "Your screening needs a clinician's documented clearance before you invert; until then no "
            f"limits or program are given. Items: {why}"
        )
    return None


def session_refusal(stored: Mapping[str, Any] | None, today: date) -> str | None:
    """Why no session may be guided on the table today (no screening, an unreadable, expired,
    blocking or not yet cleared one), or None when the latest screening allows inversion."""
    if stored is None:
        return "Complete your screening first: it checks what could make inverting unsafe for you."
    try:
        result, _ = screening_from_stored(stored)
    except ScreeningError:
        return "Your stored screening no longer fits the current questionnaire: please screen again."
    return screening_refusal(result, today)


def personal_limits(person: Person, result: ScreeningResult) -> PersonalLimits:
    """The engine's limits for the person, with the stricter eye-pressure limit when a clinician
    cleared an eye finding of the screening (as ``inversa limits --screening``). Slow: seconds."""
    eye_items = cleared_eye_findings(result)
    limits = compute_limits(person, LimitCriteria(eye_finding_cleared=bool(eye_items)))
    return replace(limits, eye_items_cleared=eye_items)


def plan_json(program: Program, limits: PersonalLimits) -> dict[str, Any]:
    """The stored plan: exactly the JSON of ``inversa plan --format json`` (no adaptations yet)."""
    return {**program.to_dict(), "limits": limits.to_dict(), "adaptations": []}


def diary_day(recorded_at: str) -> date:
    """The diary day of a stored response: its UTC day (the diary form records days in UTC)."""
    return datetime.fromisoformat(recorded_at).astimezone(UTC).date()


def nof1_answer(store: Store, actor: Actor, patient_id: int) -> dict[str, Any] | None:
    """The latest personal experiment's schedule and its analysis from the daily pain (NRS)
    entries logged during it (as ``inversa nof1 analyse``), or None when there is none."""
    saved = store.latest_experiment(actor, patient_id)
    if saved is None:
        return None
    schedule = Schedule.from_dict(saved)
    diary = diary_from_responses(
        schedule, store.questionnaires(actor, patient_id, instrument="nrs"), diary_day
    )
    if not diary:
        analysis: dict[str, Any] = {
            "status": "not_enough_data",
            "summary": "No daily pain has been logged during the experiment yet.",
            "recommendation": "Log your pain (0-10) once a day in the diary.",
            "effect_mean": None,
        }
    else:
        analysis = analyse(diary, schedule=schedule).to_dict()
    return {"schedule": schedule, "analysis": analysis, "logged": len(diary)}


# ------------------------------------------------------------------------------------ diary schedule
@dataclass(frozen=True)
class ScheduleRule:
    """How often an instrument is asked, and why (the rule's source)."""

    instrument: str
    every_days: int | None  # None: once
    why: str
    only_during_experiment: bool = False


#: When each questionnaire is due. The outcomes module fixes each instrument's recall period
#: (``INSTRUMENTS[key].recall_period``); the intervals follow from it and from product.md section 4.
DIARY_SCHEDULE: Final[tuple[ScheduleRule, ...]] = (
    ScheduleRule(
        "nrs",
        1,
        "Once a day during a personal experiment: its analysis needs one pain rating a day "
        "(inversa.outcomes.nof1). Its recall period is the past 24 hours.",
        only_during_experiment=True,
    ),
    ScheduleRule(
        "peg",
        7,
        "Weekly: the PEG asks about the past week (Krebs et al. 2009); a change of about 1 point "
        "is meaningful (product reference section 4).",
    ),
    ScheduleRule(
        "rmdq",
        28,
        "Every 4 weeks: function changes slowly; a change of 5 points or 30 % is meaningful "
        "(Ostelo et al. 2008).",
    ),
    ScheduleRule(
        "startback",
        None,
        "Once, at the start: STarT Back sorts back pain into risk groups (Hill et al. 2008); it is "
        "not an outcome measure.",
    ),
    ScheduleRule(
        "odi",
        28,
        "Every 4 weeks, when your organisation holds the Oswestry licence; a change of 10 points "
        "or 30 % is meaningful (Ostelo et al. 2008).",
    ),
)


def _odi_available() -> bool:
    """Whether this site declared an Oswestry licence (the outcomes module's setting)."""
    return os.environ.get(ODI_LICENCE_ENV, "").strip().lower() in {"1", "true"}


def _instruments_offered() -> list[str]:
    return [r.instrument for r in DIARY_SCHEDULE if r.instrument != "odi" or _odi_available()]


def due_questionnaires(
    responses: Sequence[Mapping[str, Any]], today: date, experiment_running: bool
) -> list[dict[str, Any]]:
    """Each offered instrument with its last answer date, next due date and whether it is due."""
    out: list[dict[str, Any]] = []
    for rule in DIARY_SCHEDULE:
        if rule.instrument not in _instruments_offered():
            continue
        mine = [r for r in responses if r["instrument"] == rule.instrument]
        last = datetime.fromisoformat(mine[-1]["recorded_at"]).astimezone(UTC).date() if mine else None
        if rule.only_during_experiment and not experiment_running:
            next_due, due = None, False
        elif last is None:
            next_due, due = today, True
        elif rule.every_days is None:
            next_due, due = None, False
        else:
            next_due = last + timedelta(days=rule.every_days)
            due = next_due <= today
        out.append(
            {
                "key": rule.instrument,
                "name": INSTRUMENTS[rule.instrument].name,
                "why": rule.why,
                "last": last,
                "next_due": next_due,
                "due": due,
                "count": len(mine),
            }
        )
    return out


# ------------------------------------------------------------------------------------ plain words
_CLASS_WORDS: Final = {
    FindingClass.BLOCK: "Do not invert",
    FindingClass.CLEAR: "Needs a clinician's documented clearance",
    FindingClass.CAUTION: "Allowed with care: watch for it",
    FindingClass.CLEARED: "Cleared by your clinician",
}
_LIMIT_WORDS: Final = {
    "intraocular_pressure": "eye pressure (IOP)",
    "mean_arterial_pressure": "mean arterial pressure at heart level",
    "head_arterial_pressure": "arterial pressure at eye level",
    "none": "nothing: full inversion stays within every limit",
}
_STYLE_WORDS: Final = {
    "continuous": "Continuous: tilt down gently, hold, come back.",
    "intermittent": "Intermittent: 30 s or less at the angle, then 30 s flat, repeated.",
    "oscillating": "Oscillating: rock slowly between flat and the angle.",
}
_STATUS_WORDS: Final = {
    "not_enough_data": "Not enough data yet",
    "inconclusive": "No clear answer yet",
    "benefit": "Inversion seems to lower your pain",
    "no_meaningful_benefit": "No meaningful benefit from inversion",
    "worse": "Your pain seems higher with inversion",
}
#: Item wording shown on the forms. PEG and the NRS are free to reproduce (Krebs et al. 2009);
#: the other instruments' wording is not shipped (see inversa.outcomes.questionnaires), so their
#: forms show the module's short labels beside the printed sheet.
_ITEM_TEXT: Final[dict[str, tuple[str, ...]]] = {
    "nrs": ("Your average pain over the past 24 hours.",),
    "peg": (
        "What number best describes your pain on average in the past week?",
        "What number best describes how, during the past week, pain has interfered with your "
        "enjoyment of life?",
        "What number best describes how, during the past week, pain has interfered with your "
        "general activity?",
    ),
}
_ANCHORS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "nrs": (("no pain", "worst pain you can imagine"),),
    "peg": (
        ("no pain", "pain as bad as you can imagine"),
        ("does not interfere", "completely interferes"),
        ("does not interfere", "completely interferes"),
    ),
}
_PRINTED_SHEET: Final = {
    "rmdq": "Tick each statement of your printed Roland-Morris questionnaire (Roland & Morris 1983) that "
    "describes you today; leave the others unticked. Inversa does not reproduce the statements.",
    "startback": "Answer each item as on your printed Keele STarT Back sheet (free for non-commercial "
    "use; Hill et al. 2008). Inversa shows only short labels.",
    "odi": "Answer each section as on your licensed Oswestry form: 0 is the first statement of the "
    "section, 5 the last. If you marked two statements, choose the higher.",
}


def _question(item: str) -> str:
    try:
        return load_questionnaire().item(item).question
    except ScreeningError:
        return item


# ------------------------------------------------------------------------------------------- helpers
async def _patient(request: Request) -> Principal | Response:
    return await _page_user(request, Role.PATIENT)


async def _form(request: Request, principal: Principal, max_fields: int = 80) -> FormData | Response:
    """The submitted form if its CSRF token is right, with room for the screening's 39 questions."""
    return await _submitted(request, principal, max_fields)


def _store(request: Request) -> Store:
    return context(request).store


def _load_profile(store: Store, actor: Actor, patient_id: int) -> dict[str, Any] | None:
    """The patient's profile. The Store has no profile read of its own yet, so this reads the
    patient record over an empty range (no sessions or questionnaires), audited as ``profile``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    record = store.patient_record(actor, patient_id, start=epoch, end=epoch, purpose="profile")
    profile: dict[str, Any] | None = record["profile"]
    return profile


@dataclass
class _Setup:
    """Where the patient stands in onboarding, read in one go."""

    profile: dict[str, Any] | None
    person: Person | None
    person_problem: str | None
    stored_screening: dict[str, Any] | None
    screening: ScreeningResult | None
    screening_notes: list[str]
    refusal: str | None
    program: dict[str, Any] | None
    today: date = field(default_factory=date.today)

    @property
    def limits_key(self) -> Hashable | None:
        """What the limits depend on; None when they may not be computed."""
        if self.person is None or self.screening is None or self.refusal is not None:
            return None
        return (self.person.model_dump_json(), cleared_eye_findings(self.screening))


def _read_setup(store: Store, actor: Actor, patient_id: int) -> _Setup:
    today = date.today()
    profile = _load_profile(store, actor, patient_id)
    person, person_problem = None, None
    if profile is None:
        person_problem = "Your details are not filled in yet."
    else:
        try:
            person = person_from_profile(profile, today)
        except PersonError as exc:
            person_problem = f"Please update your details: {exc}"
    stored = store.latest_screening(actor, patient_id)
    result: ScreeningResult | None = None
    notes: list[str] = []
    refusal: str | None = None
    if stored is None:
        refusal = "You have not done the safety screening yet."
    else:
        try:
            result, notes = screening_from_stored(stored)
        except ScreeningError as exc:
            refusal = f"Your last screening no longer fits the current questionnaire ({exc}): screen again."
        else:
            refusal = screening_refusal(result, today)
    program = store.active_program(actor, patient_id)
    return _Setup(profile, person, person_problem, stored, result, notes, refusal, program, today)


async def _setup(request: Request, principal: Principal) -> _Setup:
    return await run_in_threadpool(_read_setup, _store(request), principal.actor, principal.user.id)


def _limits_state(request: Request, principal: Principal, state: _Setup) -> tuple[str, Any]:
    """("unavailable", why) | ("idle", None) | ("computing", None) | ("done", limits) | ("failed", msg)."""
    key = state.limits_key
    if key is None:
        return "unavailable", state.person_problem or state.refusal
    future = _jobs(request, "limits").get((principal.user.id, key))
    if future is None:
        return "idle", None
    if not future.done():
        return "computing", None
    exc = future.exception()
    if exc is not None:
        return "failed", _limits_failure(exc)
    return "done", future.result()


def _limits_failure(exc: BaseException) -> str:
    if isinstance(exc, SimulationError):
        return (
            f"The engine cannot reproduce your resting values ({exc}). Please check the resting blood "
            "pressure and heart rate in your details."
        )
    return f"The limits could not be worked out: {exc.__class__.__name__}: {exc}"


def _limits_view(limits: PersonalLimits) -> dict[str, Any]:
    return {
        "max_angle_deg": limits.max_angle_deg,
        "max_hold_min": limits.max_hold_min,
        "return_rest_min": max(limits.return_rest_min, 2.0),
        "binding": _LIMIT_WORDS.get(limits.binding_constraint, limits.binding_constraint),
        "rows": [
            {
                "name": _LIMIT_WORDS[c],
                "predicted": round(limits.predicted[SERIES[c]], 1),
                "limit": limits.criteria.limit(c),
            }
            for c in CONSTRAINTS
        ],
        "explanation": list(limits.explanation),
        "eye_items": [_question(i) for i in limits.eye_items_cleared],
    }


def _form_errors(exc: ValidationError) -> dict[str, str]:
    """pages._errors, with pydantic's "Field required" said as a person would."""
    return {k: "Please fill this in." if v == "Field required" else v for k, v in _errors(exc).items()}


def _filled(form: FormData, names: Sequence[str]) -> dict[str, str]:
    """The non-blank values of ``names``: a field left blank is absent, so pydantic applies its
    default or says "Field required"."""
    return {name: value for name in names if (value := _text(form, name).strip())}


# ------------------------------------------------------------------------------------------- home
@router.get("/patient")
async def patient_home(request: Request) -> Response:
    """Start page: what is next (set-up, the next planned session, due questionnaires), the last
    sessions, links. It reports, it never promises relief."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    store, actor, pid = _store(request), principal.actor, principal.user.id

    def read() -> tuple[_Setup, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
        state = _read_setup(store, actor, pid)
        return (
            state,
            store.sessions(actor, pid),
            store.questionnaires(actor, pid),
            store.latest_experiment(actor, pid),
        )

    state, sessions, responses, experiment = await run_in_threadpool(read)
    running = _experiment_running(experiment, state.today)
    due = [d for d in due_questionnaires(responses, state.today, running) if d["due"]]
    next_session = _next_session(state.program, sessions, state.today)
    return render(
        request,
        "patient_home.html",
        principal,
        sessions=[_session_row(s) for s in reversed(sessions[-5:])],
        session_count=len(sessions),
        steps=_steps(state),
        setup_done=state.program is not None and state.refusal is None,
        refusal=state.refusal,
        next_session=next_session,
        due=due,
        seek_care=state.screening.seek_care_now if state.screening else [],
    )


def _experiment_running(experiment: Mapping[str, Any] | None, today: date) -> bool:
    if experiment is None:
        return False
    try:
        schedule = Schedule.from_dict(experiment)
    except Nof1Error:
        return False
    return schedule.start <= today <= schedule.end


def _next_session(
    program: Mapping[str, Any] | None, sessions: Sequence[Mapping[str, Any]], today: date
) -> dict[str, Any] | None:
    """The first planned session from today on; today's are skipped once as many were logged."""
    if program is None:
        return None
    done_today = sum(
        1 for s in sessions if datetime.fromisoformat(s["started_at"]).astimezone(UTC).date() == today
    )
    for planned in program["plan"].get("sessions", []):
        day = date.fromisoformat(planned["day"])
        if day < today or (day == today and planned["index_in_day"] <= done_today):
            continue
        return dict(planned) | {"date": day, "is_today": day == today}
    return None


def _steps(state: _Setup) -> list[dict[str, Any]]:
    """The four onboarding steps with their state, for the step list."""
    screening_done = state.screening is not None
    return [
        {"n": 1, "name": "Your details", "href": "/patient/setup/profile", "done": state.person is not None},
        {"n": 2, "name": "Safety screening", "href": "/patient/setup/screening", "done": screening_done},
        {
            "n": 3,
            "name": "Your personal limits",
            "href": "/patient/setup/limits",
            "done": state.program is not None,
        },
        {"n": 4, "name": "Your program", "href": "/patient/setup/program", "done": state.program is not None},
    ]


# ---------------------------------------------------------------------------------------- setup
@router.get("/patient/setup")
async def setup_overview(request: Request) -> Response:
    """The onboarding steps and where the patient stands; each step can be revisited."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    state = await _setup(request, principal)
    return render(
        request,
        "patient_setup.html",
        principal,
        steps=_steps(state),
        refusal=state.refusal if state.stored_screening is not None else None,
        person_problem=state.person_problem,
        program=state.program,
    )


# -- step 1: profile


class _ProfileForm(BaseModel):
    """The person data the engine needs; ranges are the engine's (inversa.body.RANGES)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    sex: Literal["male", "female"]
    birth_year: Annotated[int, Field(ge=1900, le=2100)]
    height_cm: Annotated[float, Field(ge=120, le=230)]
    mass_kg: Annotated[float, Field(ge=30, le=250)]
    resting_systolic_mmhg: Annotated[float | None, Field(ge=80, le=220)] = None
    resting_diastolic_mmhg: Annotated[float | None, Field(ge=40, le=130)] = None
    resting_heart_rate_bpm: Annotated[float | None, Field(ge=35, le=120)] = None
    resting_iop_mmhg: Annotated[float | None, Field(ge=5, le=40)] = None


_PROFILE_NAMES: Final = tuple(_ProfileForm.model_fields)


@router.get("/patient/setup/profile")
async def profile_page(request: Request) -> Response:
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    state = await _setup(request, principal)
    values = {k: ("" if v is None else _plain(v)) for k, v in (state.profile or {}).items()}
    return render(request, "patient_profile.html", principal, steps=_steps(state), v=values)


def _plain(value: Any) -> str:
    """A stored number as typed: 80.0 -> "80"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@router.post("/patient/setup/profile")
async def profile_save(request: Request) -> Response:
    """Check the person data field by field (and as the engine's Person), then store it."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    form = await _form(request, principal)
    if isinstance(form, Response):
        return form
    shown = {k: _text(form, k)[:40] for k in _PROFILE_NAMES}
    errors: dict[str, str] = {}
    try:
        data = _ProfileForm.model_validate(_filled(form, _PROFILE_NAMES))
    except ValidationError as exc:
        errors = _form_errors(exc)
    else:
        try:
            person_from_profile(data.model_dump())
        except PersonError as exc:
            name = exc.field if exc.field in _PROFILE_NAMES else "birth_year"
            errors = {name: str(exc).split(": ", 1)[-1]}
    if errors:
        state = await _setup(request, principal)
        return render(
            request, "patient_profile.html", principal, 400, steps=_steps(state), v=shown, errors=errors
        )
    fields = data.model_dump()
    await run_in_threadpool(_store(request).set_profile, principal.actor, principal.user.id, **fields)
    return RedirectResponse("/patient/setup/screening", status_code=303)


# -- step 2: screening
def _screening_items(previous: Mapping[str, Any] | None, profile: Mapping[str, Any] | None) -> list[Any]:
    """The questionnaire's items for the form, prefilled from the last screening (never today's
    blood pressure) and height and mass from the profile."""
    q = load_questionnaire()
    out = []
    for n, it in enumerate(q.items, start=1):
        value: Any = None
        if it.key in ("systolic_bp_mmhg", "diastolic_bp_mmhg"):
            value = None
        elif previous is not None and it.key in previous:
            value = previous[it.key]
        elif profile is not None and it.key in ("height_cm", "mass_kg"):
            value = profile.get(it.key)
        if it.type is ItemType.YES_NO:
            shown = "" if value is None else ("yes" if value else "no")
        elif it.type is ItemType.NUMBER:
            shown = "" if value is None else _plain(value)
        else:
            shown = "" if value is None else str(value)
        out.append({"n": n, "item": it, "value": shown})
    return out


def _finding_rows(result: ScreeningResult) -> list[dict[str, Any]]:
    return [
        {
            "item": f.item,
            "question": _question(f.item),
            "cls": f.current_class.value,
            "words": _CLASS_WORDS[f.current_class],
            "original": _CLASS_WORDS[f.finding_class] if f.effective_class is not None else None,
            "reason": f.reason,
            "source": f.source,
            "red_flag": f.red_flag,
            "cleared_by": f.cleared_by,
            "cleared_at": f.cleared_at.date().isoformat() if f.cleared_at else None,
            "clearance_reason": f.clearance_reason,
        }
        for f in result.findings
    ]


async def _screening_page(
    request: Request,
    principal: Principal,
    state: _Setup,
    status_code: int = 200,
    *,
    answering: bool,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> Response:
    items = _screening_items(
        state.stored_screening["answers"] if state.stored_screening else None, state.profile
    )
    if values is not None:
        for row in items:
            row["value"] = values.get(row["item"].key, "")
    result = state.screening
    return render(
        request,
        "patient_screening.html",
        principal,
        status_code,
        steps=_steps(state),
        answering=answering or result is None,
        questionnaire=load_questionnaire(),
        items=items,
        errors=dict(errors or {}),
        result=result,
        decision_words=DECISION_WORDS[result.decision] if result else "",
        findings=_finding_rows(result) if result else [],
        notes=state.screening_notes,
        refusal=state.refusal if result else None,
        can_continue=result is not None and state.refusal is None,
    )


@router.get("/patient/setup/screening")
async def screening_page(request: Request) -> Response:
    """The latest screening's decision and findings, or the questionnaire (``?again=1``)."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    state = await _setup(request, principal)
    return await _screening_page(
        request, principal, state, answering=request.query_params.get("again") == "1"
    )


@router.post("/patient/setup/screening")
async def screening_save(request: Request) -> Response:
    """Check every answer (each error names its question), screen, store decision and findings."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    form = await _form(request, principal)
    if isinstance(form, Response):
        return form
    q = load_questionnaire()
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    shown: dict[str, str] = {}
    for it in q.items:
        text = _text(form, it.key)[:40]
        shown[it.key] = text
        try:
            answers[it.key] = parse_answer(it.key, text)
        except ScreeningAnswerError as exc:
            errors[it.key] = _answer_message(it.key, text, exc)
    if not errors:
        try:
            result = screen(answers)
        except ScreeningAnswerError as exc:  # cross-item checks (diastolic below systolic)
            errors[exc.item if exc.item in shown else "form"] = str(exc)
    if errors:
        state = await _setup(request, principal)
        count = len([k for k in errors if k != "form"])
        errors.setdefault("form", f"{count} answer(s) need attention: see the questions marked below.")
        return await _screening_page(
            request, principal, state, 400, answering=True, values=shown, errors=errors
        )
    await run_in_threadpool(
        _store(request).save_screening,
        principal.actor,
        principal.user.id,
        result.screening_version,
        dict(result.answers),
        result.decision.value,
        [f.to_dict() for f in result.findings],
        datetime.combine(result.expires_on, time.min, tzinfo=UTC),
    )
    return RedirectResponse("/patient/setup/screening", status_code=303)


def _answer_message(key: str, text: str, exc: ScreeningAnswerError) -> str:
    """The screening's message, in words for a form (an empty answer is "please answer")."""
    item = load_questionnaire().item(key)
    if not text.strip() and not item.nullable:
        return "Please answer this question."
    return str(exc).replace(f"item {key} ", "This answer ")


# -- step 3: limits
@router.get("/patient/setup/limits")
async def limits_page(request: Request) -> Response:
    """The engine's personal limits: a button to work them out, "computing" while the engine
    runs (htmx polls the status), then the numbers and why."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    state = await _setup(request, principal)
    return _render_limits(request, principal, state)


def _render_limits(request: Request, principal: Principal, state: _Setup, status_code: int = 200) -> Response:
    status, value = _limits_state(request, principal, state)
    saved = None
    if status == "idle" and state.program is not None:
        saved = state.program["plan"].get("limits")
    return render(
        request,
        "patient_limits.html",
        principal,
        status_code,
        steps=_steps(state),
        status=status,
        message=value if status in ("unavailable", "failed") else None,
        limits=_limits_view(value) if status == "done" else None,
        saved=saved,
        person=state.person,
    )


@router.post("/patient/setup/limits")
async def limits_start(request: Request) -> Response:
    """Start the engine on the patient's limits (in the background) and show the page."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    form = await _form(request, principal)
    if isinstance(form, Response):
        return form
    state = await _setup(request, principal)
    key = state.limits_key
    if key is None:
        return _render_limits(request, principal, state, 400)
    person, result = state.person, state.screening
    assert person is not None and result is not None
    _jobs(request, "limits").start((principal.user.id, key), lambda: personal_limits(person, result))
    return RedirectResponse("/patient/setup/limits", status_code=303)


@router.get("/patient/setup/limits/status")
async def limits_status(request: Request) -> Response:
    """The "computing" fragment htmx polls; once the limits are there it asks for a page reload."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    state = await _setup(request, principal)
    status, _ = _limits_state(request, principal, state)
    if status != "computing":
        return Response(status_code=200, headers={"HX-Refresh": "true"})
    return render(request, "patient_limits_status.html", principal)


# -- step 4: program
class _ProgramForm(BaseModel):
    """The choices a patient makes; ranges are ProgramSettings'."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    target_angle_deg: Annotated[float, Field(ge=15, le=90)]
    days_per_week: Annotated[int, Field(ge=1, le=7)]
    sessions_per_day: Annotated[int, Field(ge=1, le=3)] = 1
    weeks: Annotated[int, Field(ge=1, le=26)]
    style: Literal["continuous", "intermittent", "oscillating"]
    start_date: date | None = None


_PROGRAM_NAMES: Final = tuple(_ProgramForm.model_fields)


def _program_view(program: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored program summarised per week, with its notes and the first session's steps."""
    if program is None:
        return None
    plan = program["plan"]
    weeks: dict[int, dict[str, Any]] = {}
    for s in plan.get("sessions", []):
        w = weeks.setdefault(
            s["week"],
            {
                "week": s["week"],
                "first": s["day"],
                "angle": s["max_angle_deg"],
                "hold_s": s["hold_s"],
                "style": s["style"],
                "minutes": round(s["duration_min"], 1),
                "sessions": 0,
            },
        )
        w["sessions"] += 1
    first = plan["sessions"][0] if plan.get("sessions") else None
    return {
        "weeks": list(weeks.values()),
        "notes": plan.get("notes", []),
        "ceiling": plan.get("ceiling_angle_deg"),
        "limits": plan.get("limits", {}),
        "first_protocol": first["protocol"] if first else "",
        "target": program.get("target_angle_deg"),
        "clinician_ceiling": program.get("ceiling_angle_deg"),
        "created_at": str(program.get("created_at", ""))[:10],
        "count": len(plan.get("sessions", [])),
    }


def _program_defaults(limits: PersonalLimits | None) -> dict[str, str]:
    target = 60.0 if limits is None else max(15.0, min(60.0, math.floor(limits.max_angle_deg)))
    return {
        "target_angle_deg": _plain(float(target)),
        "days_per_week": "5",
        "sessions_per_day": "1",
        "weeks": "6",
        "style": "continuous",
        "start_date": date.today().isoformat(),
    }


@router.get("/patient/setup/program")
async def program_page(request: Request) -> Response:
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    state = await _setup(request, principal)
    return _render_program(request, principal, state)


def _render_program(
    request: Request,
    principal: Principal,
    state: _Setup,
    status_code: int = 200,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> Response:
    status, value = _limits_state(request, principal, state)
    limits = value if status == "done" else None
    return render(
        request,
        "patient_program.html",
        principal,
        status_code,
        steps=_steps(state),
        limits_status=status,
        message=value if status in ("unavailable", "failed") else None,
        limits=_limits_view(limits) if limits else None,
        program=_program_view(state.program) if state.refusal is None else None,
        old_program=state.program is not None and state.refusal is not None,
        v=dict(values or _program_defaults(limits)),
        styles=[(s, _STYLE_WORDS[s]) for s in STYLES],
        errors=dict(errors or {}),
    )


@router.post("/patient/setup/program")
async def program_save(request: Request) -> Response:
    """Plan the program within the engine's limits (and any clinician ceiling) and make it active."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    form = await _form(request, principal)
    if isinstance(form, Response):
        return form
    state = await _setup(request, principal)
    shown = {k: _text(form, k)[:40] for k in _PROGRAM_NAMES}
    status, limits = _limits_state(request, principal, state)
    if status != "done":
        return _render_program(
            request,
            principal,
            state,
            409 if status == "computing" else 400,
            shown,
            {"form": "Work out your personal limits first (step 3)."},
        )
    try:
        data = _ProgramForm.model_validate(_filled(form, _PROGRAM_NAMES))
    except ValidationError as exc:
        return _render_program(request, principal, state, 400, shown, _form_errors(exc))
    clinician_ceiling = state.program.get("ceiling_angle_deg") if state.program else None
    lowest = min(data.target_angle_deg, clinician_ceiling if clinician_ceiling is not None else 90.0)
    try:
        settings = ProgramSettings(
            weeks=data.weeks,
            sessions_per_day=data.sessions_per_day,
            days_per_week=data.days_per_week,
            style=data.style,
            target_angle_deg=data.target_angle_deg,
            ceiling_angle_deg=clinician_ceiling,
            start_angle_deg=lowest if 15.0 <= lowest < ProgramSettings().start_angle_deg else 20.0,
            start_date=data.start_date or date.today(),
        )
    except ValidationError as exc:
        return _render_program(request, principal, state, 400, shown, _form_errors(exc))
    if settings.start_date < date.today() - timedelta(days=7):
        return _render_program(
            request, principal, state, 400, shown, {"start_date": "must not be more than a week ago"}
        )
    try:
        program = generate_program(limits.to_session_limits(), settings)
    except ProgramError as exc:
        return _render_program(request, principal, state, 400, shown, {"form": f"No program: {exc}"})
    try:
        await run_in_threadpool(
            _store(request).save_program,
            principal.actor,
            principal.user.id,
            plan_json(program, limits),
            data.target_angle_deg,
            None,  # the store keeps any clinician ceiling in force; a patient sets none
        )
    except ValueError as exc:
        name, _, msg = str(exc).partition(": ")
        return _render_program(request, principal, state, 400, shown, {name: msg or str(exc)})
    return RedirectResponse("/patient/setup/program", status_code=303)


# ---------------------------------------------------------------------------------------- diary
def _response_rows(responses: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in reversed(responses):
        try:
            meaning = score(r["instrument"], r["answers"]).interpretation
        except QuestionnaireError:
            meaning = ""
        rows.append(
            {
                "id": r["id"],
                "date": datetime.fromisoformat(r["recorded_at"])
                .astimezone(UTC)
                .strftime("%Y-%m-%d %H:%M UTC"),
                "instrument": INSTRUMENTS[r["instrument"]].name if r["instrument"] in INSTRUMENTS else "",
                "key": r["instrument"],
                "score": _fmt(r["score"]),
                "meaning": meaning,
            }
        )
    return rows


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _saved_view(responses: Sequence[Mapping[str, Any]], saved_id: int) -> dict[str, Any] | None:
    """The response just saved: its score, what it means and the change since the one before."""
    mine = [r for r in responses if r["id"] == saved_id]
    if not mine:
        return None
    r = mine[0]
    inst = INSTRUMENTS[r["instrument"]]
    result = score(r["instrument"], r["answers"])
    before = [p for p in responses if p["instrument"] == r["instrument"] and p["id"] != saved_id]
    before = [p for p in before if p["recorded_at"] <= r["recorded_at"] and p["score"] is not None]
    change = None
    if before and r["score"] is not None and inst.change_rule is not None:
        c = meaningful_change(inst.key, before[-1]["score"], r["score"])
        if c.improved_meaningfully:
            words = "better by at least the published meaningful change"
        elif c.worsened_meaningfully:
            words = "worse by at least the published meaningful change"
        else:
            words = "a change smaller than the published meaningful change"
        change = {"previous": _fmt(c.baseline), "delta": _fmt(c.change), "words": words}
    rule = inst.change_rule
    return {
        "name": inst.name,
        "score": _fmt(result.score),
        "range": f"{inst.score_range[0]:g}-{inst.score_range[1]:g}",
        "meaning": result.interpretation,
        "subscores": {k: _fmt(v) if isinstance(v, float) else v for k, v in result.subscores.items()},
        "change": change,
        "rule": None
        if rule is None
        else f"{rule.points:g} points"
        + (f" or {rule.fraction:.0%}" if rule.fraction else "")
        + f" ({rule.citation})",
        "citations": "; ".join(inst.citations),
    }


@router.get("/patient/diary")
async def diary_page(request: Request) -> Response:
    """Which questionnaires are due (and why that often), the last answers with their scores."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    store, actor, pid = _store(request), principal.actor, principal.user.id

    def read() -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return store.questionnaires(actor, pid), store.latest_experiment(actor, pid)

    responses, experiment = await run_in_threadpool(read)
    today = date.today()
    saved_text = request.query_params.get("saved", "")
    saved = _saved_view(responses, int(saved_text)) if saved_text.isdigit() and len(saved_text) < 12 else None
    return render(
        request,
        "patient_diary.html",
        principal,
        schedule=due_questionnaires(responses, today, _experiment_running(experiment, today)),
        rows=_response_rows(responses)[:30],
        saved=saved,
        again=request.query_params.get("again") == "1",
    )


def _instrument_or_404(request: Request, principal: Principal, key: str) -> Instrument | Response:
    if key not in _instruments_offered():
        why = (
            "The Oswestry Disability Index needs a licence this site has not declared."
            if key == "odi"
            else "There is no such questionnaire."
        )
        return render(request, "error.html", principal, 404, message=why)
    return INSTRUMENTS[key]


def _questionnaire_items(inst: Instrument) -> list[dict[str, Any]]:
    texts = _ITEM_TEXT.get(inst.key)
    anchors = _ANCHORS.get(inst.key)
    items = []
    for n, item in enumerate(inst.items, start=1):
        binary = item.values == (0, 1)
        items.append(
            {
                "n": n,
                "name": f"item_{n}",
                "label": texts[n - 1] if texts else item.label.capitalize(),
                "values": item.values,
                "kind": "tick" if binary and inst.key == "rmdq" else ("agree" if binary else "scale"),
                "low": anchors[n - 1][0] if anchors else "",
                "high": anchors[n - 1][1] if anchors else "",
            }
        )
    return items


def _questionnaire_page(
    request: Request,
    principal: Principal,
    inst: Instrument,
    status_code: int = 200,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    client_id: str | None = None,
    opened_at: str | None = None,
) -> Response:
    return render(
        request,
        "patient_questionnaire.html",
        principal,
        status_code,
        inst=inst,
        items=_questionnaire_items(inst),
        sheet=_PRINTED_SHEET.get(inst.key, ""),
        recall=inst.recall_period,
        v=dict(values or {}),
        errors=dict(errors or {}),
        client_id=client_id or f"web-{secrets.token_hex(12)}",
        opened_at=opened_at or datetime.now(UTC).isoformat(timespec="seconds"),
        today=date.today().isoformat(),
        free=inst.licence is Licence.FREE,
    )


@router.get("/patient/diary/{instrument}")
async def questionnaire_page(request: Request, instrument: str) -> Response:
    """One instrument as an accessible form (a fieldset per item, labelled choices)."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    inst = _instrument_or_404(request, principal, instrument[:20])
    if isinstance(inst, Response):
        return inst
    return _questionnaire_page(request, principal, inst)


class _ResponseMeta(BaseModel):
    """When the answers were given, and the form's idempotency key."""

    model_config = ConfigDict(extra="forbid")

    client_id: Annotated[str, Field(pattern=r"^web-[0-9a-f]{24}$")]
    opened_at: datetime
    day: date | None = None


@router.post("/patient/diary/{instrument}")
async def questionnaire_save(request: Request, instrument: str) -> Response:
    """Score (as published) and store one response; sending the same form twice stores it once."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    inst = _instrument_or_404(request, principal, instrument[:20])
    if isinstance(inst, Response):
        return inst
    form = await _form(request, principal, max_fields=40)
    if isinstance(form, Response):
        return form
    values = {f"item_{n}": _text(form, f"item_{n}")[:4] for n in range(1, inst.item_count + 1)}
    keep = {"client_id": _text(form, "client_id")[:64], "opened_at": _text(form, "opened_at")[:40]}
    values["day"] = _text(form, "day")[:12]
    errors: dict[str, str] = {}
    answers: list[int | None] = []
    for n, item in enumerate(inst.items, start=1):
        text = values[f"item_{n}"].strip()
        if inst.key == "rmdq":
            text = text or "0"  # a statement not ticked is "no" (Roland & Fairbank 2000)
        if not text:
            if inst.max_missing:
                answers.append(None)
                continue
            errors[f"item_{n}"] = "Please answer this item."
        elif not text.isdigit() or int(text) not in item.values:
            errors[f"item_{n}"] = f"Choose {item.describe_values()}."
        else:
            answers.append(int(text))
    recorded_at = datetime.now(UTC)
    try:
        meta = _ResponseMeta.model_validate({**keep, "day": values["day"] or None})
    except ValidationError as exc:
        errors |= _form_errors(exc)
    else:
        recorded_at = _recorded_at(meta, errors)
    if not errors:
        try:
            score(inst.key, answers)
        except QuestionnaireError as exc:
            bad = getattr(exc, "item", None)
            errors[f"item_{bad}" if bad else "form"] = str(exc)
    if errors:
        return _questionnaire_page(
            request, principal, inst, 400, values, errors, keep["client_id"], keep["opened_at"]
        )
    try:
        rid, _ = await run_in_threadpool(
            _store(request).add_questionnaire,
            principal.actor,
            principal.user.id,
            inst.key,
            answers,
            recorded_at,
            meta.client_id,
        )
    except ConflictError:
        errors = {"form": "This form was already sent with other answers. Open the questionnaire again."}
        return _questionnaire_page(request, principal, inst, 409, values, errors)
    return RedirectResponse(f"/patient/diary?saved={rid}", status_code=303)


def _recorded_at(meta: _ResponseMeta, errors: dict[str, str]) -> datetime:
    """The response's time: when the form was opened, or noon (UTC) of an earlier day chosen.
    Both come from the form, so sending it again gives the same time (and the same record)."""
    now = datetime.now(UTC)
    opened = meta.opened_at if meta.opened_at.tzinfo else meta.opened_at.replace(tzinfo=UTC)
    if opened > now + timedelta(minutes=5) or opened < now - timedelta(days=2):
        errors["opened_at"] = "This form is too old. Open the questionnaire again."
        return now
    if meta.day is None or meta.day == opened.astimezone(UTC).date():
        return opened
    if meta.day > now.date():
        errors["day"] = "must not be in the future"
    elif meta.day < now.date() - timedelta(days=30):
        errors["day"] = "must be within the last 30 days"
    return datetime.combine(meta.day, time(12, 0), tzinfo=UTC)


# ------------------------------------------------------------------------------------- progress
def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _chart(
    title: str, unit: str, series: list[dict[str, Any]], y_range: tuple[float, float] | None = None
) -> dict[str, Any]:
    """A chart over dates (see static/charts.js for the format)."""
    chart: dict[str, Any] = {"title": title, "unit": unit, "kind": "time", "series": series}
    if y_range is not None:
        chart["range"] = list(y_range)
    return chart


def _progress_charts(
    responses: Sequence[Mapping[str, Any]], sessions: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The charts' data: points [unix seconds, value] per series (charts.js aligns them)."""

    def points(instrument: str) -> list[list[float]]:
        return [
            [_epoch(r["recorded_at"]), r["score"]]
            for r in responses
            if r["instrument"] == instrument and r["score"] is not None
        ]

    before = [[_epoch(s["started_at"]), s["pain_before"]] for s in sessions if s["pain_before"] is not None]
    after = [[_epoch(s["started_at"]), s["pain_after"]] for s in sessions if s["pain_after"] is not None]
    angles = [
        [_epoch(s["started_at"]), max(a for _, a in s["angle_trace"])] for s in sessions if s["angle_trace"]
    ]
    minutes = [
        [_epoch(s["started_at"]), round((_epoch(s["ended_at"]) - _epoch(s["started_at"])) / 60.0, 1)]
        for s in sessions
    ]
    function = [{"label": "Roland-Morris (0-24)", "points": points("rmdq")}]
    if _odi_available():
        function.append({"label": "Oswestry (0-100)", "points": points("odi")})
    return {
        "pain": _chart(
            "Pain (0-10)",
            "0-10",
            [
                {"label": "PEG (weekly)", "points": points("peg")},
                {"label": "Daily pain (NRS)", "points": points("nrs")},
                {"label": "Before a session", "points": before},
                {"label": "After a session", "points": after},
            ],
            (0.0, 10.0),
        ),
        "function": _chart("Function (higher is worse)", "score", function),
        "sessions": _chart(
            "Sessions",
            "",
            [
                {"label": "Steepest angle (deg)", "points": angles, "scale": "deg"},
                {"label": "Length (min)", "points": minutes, "scale": "min"},
            ],
        ),
    }


@router.get("/patient/progress")
async def progress_page(request: Request) -> Response:
    """Charts of pain, function and sessions, the trends against published meaningful change, the
    personal experiment's honest answer, and the engine's picture of the next planned session."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    store, actor, pid = _store(request), principal.actor, principal.user.id

    def read() -> tuple[
        list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None
    ]:
        try:
            nof1 = nof1_answer(store, actor, pid)
        except Nof1Error:  # a stored schedule this version cannot read: offer a new experiment
            log.warning("patient %s: the latest n-of-1 schedule could not be read", pid)
            nof1 = None
        return (
            store.questionnaires(actor, pid),
            store.sessions(actor, pid),
            nof1,
            store.active_program(actor, pid),
        )

    responses, sessions, nof1, program = await run_in_threadpool(read)
    today = date.today()
    charts = _progress_charts(responses, sessions)
    trend_rows = [
        {
            "name": INSTRUMENTS[k].name if k in INSTRUMENTS else k,
            "n": len(t.scores),
            "baseline": _fmt(t.baseline),
            "latest": _fmt(t.latest),
            "slope": _fmt(t.slope_per_week, 2),
            "note": t.note,
        }
        for k, t in trends(responses).items()
    ]
    pain = session_pain_summary(sessions)
    nxt = _next_session(program, sessions, today)
    return render(
        request,
        "patient_progress.html",
        principal,
        charts=charts,
        charts_json={k: _script_json(v) for k, v in charts.items()},
        tables={k: _chart_table(v) for k, v in charts.items()},
        trend_rows=trend_rows,
        pain={
            "sessions": pain.sessions,
            "both": pain.with_both_ratings,
            "before": _fmt(pain.mean_before),
            "after": _fmt(pain.mean_after),
            "change": _fmt(pain.mean_change),
            "sd": _fmt(pain.sd_change),
            "symptoms": pain.sessions_with_symptoms,
        },
        nof1=_nof1_view(nof1, today),
        next_session=nxt,
        v={"start": today.isoformat(), "pairs": "3", "block_days": str(DEFAULT_BLOCK_DAYS)},
        bounds={"pairs": (MIN_PAIRS, MAX_PAIRS), "block_days": (MIN_BLOCK_DAYS, MAX_BLOCK_DAYS)},
    )


def _script_json(value: Any) -> str:
    """JSON safe inside a <script type="application/json"> block (no "</script>", no markup)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _chart_table(chart: Mapping[str, Any]) -> list[dict[str, str]]:
    """The chart's numbers as rows, for people who cannot see the chart."""
    rows = []
    for s in chart["series"]:
        for t, v in s["points"]:
            rows.append(
                {
                    "date": datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M"),
                    "series": s["label"],
                    "value": _fmt(v),
                }
            )
    return sorted(rows, key=lambda r: r["date"])


def _nof1_view(nof1: Mapping[str, Any] | None, today: date) -> dict[str, Any] | None:
    if nof1 is None:
        return None
    schedule: Schedule = nof1["schedule"]
    a = nof1["analysis"]
    ci = a.get("effect_ci95")
    condition = schedule.condition_on(today) if schedule.start <= today <= schedule.end else None
    return {
        "start": schedule.start,
        "end": schedule.end,
        "blocks": [
            {
                "pair": b.pair,
                "condition": "with inversion" if b.condition == "inversion" else "without inversion",
                "start": b.start,
                "end": b.end,
                "now": b.start <= today <= b.end,
            }
            for b in schedule.blocks
        ],
        "today": None
        if condition is None
        else ("with inversion" if condition == "inversion" else "without inversion"),
        "status": a["status"],
        "status_words": _STATUS_WORDS.get(a["status"], a["status"]),
        "summary": a.get("summary", ""),
        "recommendation": a.get("recommendation", ""),
        "effect": _fmt(a.get("effect_mean")),
        "ci": None if not ci else (_fmt(ci[0]), _fmt(ci[1])),
        "p_benefit": None
        if a.get("prob_meaningful_benefit") is None
        else round(100 * a["prob_meaningful_benefit"]),
        "p_worse": None if a.get("prob_worse") is None else round(100 * a["prob_worse"]),
        "mcid": a.get("meaningful_change"),
        "logged": nof1["logged"],
    }


class _ExperimentForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    pairs: int
    block_days: int


@router.post("/patient/progress/experiment")
async def experiment_save(request: Request) -> Response:
    """Plan a personal experiment: randomised pairs of blocks with and without inversion."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    form = await _form(request, principal)
    if isinstance(form, Response):
        return form
    names = ("start", "pairs", "block_days")
    shown = {k: _text(form, k)[:20] for k in names}
    errors: dict[str, str] = {}
    try:
        data = _ExperimentForm.model_validate(_filled(form, names))
        if data.start < date.today() - timedelta(days=7):
            raise Nof1Error("start must not be more than a week ago", field="start")
        schedule = plan_schedule(
            data.start, pairs=data.pairs, block_days=data.block_days, seed=secrets.randbelow(2**31)
        )
    except ValidationError as exc:
        errors = _form_errors(exc)
    except Nof1Error as exc:
        errors = {exc.field if exc.field in names else "form": str(exc)}
    if errors:
        return render(
            request,
            "patient_experiment.html",
            principal,
            400,
            v=shown,
            errors=errors,
            bounds={"pairs": (MIN_PAIRS, MAX_PAIRS), "block_days": (MIN_BLOCK_DAYS, MAX_BLOCK_DAYS)},
        )
    await run_in_threadpool(
        _store(request).save_experiment, principal.actor, principal.user.id, schedule.to_dict()
    )
    return RedirectResponse("/patient/progress#experiment", status_code=303)


# -- the engine's picture of the next session
#: Series of the session picture: (engine series, disc level or None, chart title, unit).
SESSION_SERIES: Final[tuple[tuple[str, str | None, str, str], ...]] = (
    ("angle_deg", None, "Table angle (deg head-down; -90 is standing)", "deg"),
    ("traction_force_n", "L4-L5", "Traction at L4/L5", "N"),
    ("disc_height_change_mm", "L4-L5", "Disc height change at L4/L5", "mm"),
    ("heart_rate_bpm", None, "Heart rate", "bpm"),
    ("intraocular_pressure_mmhg", None, "Eye pressure (IOP)", "mmHg"),
)
#: At most this many points per series are sent to the browser.
MAX_POINTS: Final = 600


def _session_picture(person: Person, protocol_text: str) -> dict[str, Any]:
    """Simulate one planned session for the person; the series the charts show, thinned, and peaks."""
    result = simulate(person, Protocol.parse(protocol_text))
    step = max(1, math.ceil(len(result.time_s) / MAX_POINTS))
    minutes = [round(float(t) / 60.0, 3) for t in result.time_s[::step]]
    charts, peaks = [], {}
    for name, level, title, unit in SESSION_SERIES:
        data = result.series[name][0]
        values = data[:, LEVELS.index(level)] if level is not None else data
        thinned = [None if not math.isfinite(float(v)) else round(float(v), 3) for v in values[::step]]
        charts.append(
            {
                "title": title,
                "unit": unit,
                "kind": "minutes",
                "x": minutes,
                "series": [{"label": title, "values": thinned}],
            }
        )
        finite = [float(v) for v in values if math.isfinite(float(v))]
        peaks[name] = {
            "title": title,
            "unit": unit,
            "min": round(min(finite), 2) if finite else None,
            "max": round(max(finite), 2) if finite else None,
        }
    return {"charts": charts, "peaks": peaks, "minutes": round(float(result.time_s[-1]) / 60.0, 1)}


@router.get("/patient/progress/simulation.json")
async def simulation_json(request: Request) -> Response:
    """The engine's picture of the next planned session: 202 while the engine runs (charts.js asks
    again), then the series. Results are kept in memory per (person, protocol)."""
    principal = await _patient(request)
    if isinstance(principal, Response):
        return principal
    store, actor, pid = _store(request), principal.actor, principal.user.id

    def read() -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[dict[str, Any]]]:
        return _load_profile(store, actor, pid), store.active_program(actor, pid), store.sessions(actor, pid)

    profile, program, sessions = await run_in_threadpool(read)
    nxt = _next_session(program, sessions, date.today())
    if nxt is None:
        return JSONResponse(
            {"status": "none", "message": "No planned session ahead: set up a program first."}
        )
    try:
        person = person_from_profile(profile or {})
    except PersonError as exc:
        return JSONResponse({"status": "error", "message": f"Please update your details: {exc}"})
    protocol_text = str(nxt["protocol"])
    key = (person.model_dump_json(), protocol_text)
    future = _jobs(request, "simulation").start(key, lambda: _session_picture(person, protocol_text))
    if not future.done():
        return JSONResponse({"status": "computing"}, status_code=202)
    failure = future.exception()
    if failure is not None:
        return JSONResponse(
            {"status": "error", "message": f"The engine could not simulate this session: {failure}"}
        )
    limits = program["plan"].get("limits", {}) if program else {}
    iop_limit = limits.get("criteria", {}).get("effective_iop_limit_mmhg")
    return JSONResponse(
        {
            "status": "done",
            "session": {
                "day": nxt["day"],
                "angle": nxt["max_angle_deg"],
                "hold_min": round(nxt["hold_min"], 2),
                "style": nxt["style"],
            },
            "iop_limit_mmhg": iop_limit,
            **future.result(),
        }
    )
