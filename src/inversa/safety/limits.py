"""Personal limits: the steepest angle and longest hold the engine predicts to be safe for one person.

For a person (with their resting blood pressure, heart rate and eye pressure when known) the physiology
engine is asked how far the table may go before a predicted pressure passes its limit:

- **intraocular pressure** (IOP, at the eye) <= :data:`DEFAULT_IOP_LIMIT_MMHG`, or the stricter
  :data:`CLEARED_EYE_IOP_LIMIT_MMHG` when a clinician has cleared an eye finding of the screening;
- **mean arterial pressure** at heart level <= :data:`DEFAULT_MAP_LIMIT_MMHG`;
- **head arterial pressure** (arterial pressure at eye level) <= :data:`DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG`.

The reasons for these numbers are in ``docs/safety.md``. Pressures are compared as *sustained* values:
the mean over the last :data:`SUSTAINED_WINDOW_S` seconds (a cuff reading takes about that long), so a
swing of a few heartbeats while the table moves is smoothed, but nothing that lasts is.

How the search runs (a handful of simulations, a few seconds after the engine's first-call compile):

1. **Probe.** One simulation climbs a staircase (:data:`PROBE_ANGLES_DEG`, each held
   :data:`PROBE_STEP_HOLD_S`) and reads each pressure near its plateau; the crossing of each limit is
   interpolated. Its smallest crossing is the first guess.
2. **Refine.** Session-shaped runs (safe entry, a gentle ramp at the programs' rate, a hold of
   :data:`HOLD_HORIZON_MIN`) check whole-degree angles around the guess: an angle is allowed when
   every sustained pressure stays within its limit from the start of the ramp to the end of the first
   :data:`MIN_USEFUL_HOLD_MIN` of the hold. The largest allowed angle is ``max_angle_deg``; what fails one
   degree steeper is the ``binding_constraint``.
3. **Hold.** Fluid shifts make pressures drift slowly during a hold; at ``max_angle_deg`` the hold limit
   is the time (whole half-minutes, at most :data:`HOLD_HORIZON_MIN`) before the first limit is passed.
4. **Coming up.** From ``max_angle_deg`` after ``max_hold_min``, runs bring the person back to standing
   after a rest flat of each of :data:`RETURN_REST_OPTIONS_MIN` in turn. The falls of systolic and
   diastolic pressure from the start of the rise to :data:`RETURN_WINDOW_S` seconds upright (the lowest
   beat-averaged values, not 30-s means: stricter than the "sustained" of the definition) are taken
   against the person's own standing values before the session (the last 30 s of the first stand).
   The smallest rest that keeps them below the orthostatic-hypotension thresholds (20 mmHg systolic,
   10 mmHg diastolic; Freeman et al. 2011) is ``return_rest_min``.

Everything here is a model prediction for a person like the one described, never a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from inversa.body import Person
from inversa.programs.plan import RISE_S, SESSION_HOLD_CAP_MIN, SessionLimits, ramp_s
from inversa.protocol import Hold, LieFlat, Protocol, Stand, Step, Tilt
from inversa.safety.screening import FindingClass, ScreeningResult
from inversa.simulation import Result, simulate

__all__ = [
    "BINDING_CONSTRAINTS",
    "CLEARED_EYE_IOP_LIMIT_MMHG",
    "CONSTRAINTS",
    "DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG",
    "DEFAULT_IOP_LIMIT_MMHG",
    "DEFAULT_MAP_LIMIT_MMHG",
    "DIASTOLIC_FALL_LIMIT_MMHG",
    "EYE_ITEMS",
    "HOLD_HORIZON_MIN",
    "MIN_USEFUL_HOLD_MIN",
    "PREDICTED_KEYS",
    "RETURN_REST_OPTIONS_MIN",
    "SUSTAINED_WINDOW_S",
    "SYSTOLIC_FALL_LIMIT_MMHG",
    "BindingConstraint",
    "Constraint",
    "LimitCriteria",
    "PersonalLimits",
    "ReturnFall",
    "cleared_eye_findings",
    "compute_limits",
]

Constraint: TypeAlias = Literal["intraocular_pressure", "mean_arterial_pressure", "head_arterial_pressure"]
BindingConstraint: TypeAlias = Literal[
    "intraocular_pressure", "mean_arterial_pressure", "head_arterial_pressure", "none"
]
CONSTRAINTS: Final[tuple[Constraint, ...]] = (
    "intraocular_pressure",
    "mean_arterial_pressure",
    "head_arterial_pressure",
)
#: ``"none"``: 90 deg and the longest hold are allowed.
BINDING_CONSTRAINTS: Final[tuple[BindingConstraint, ...]] = (*CONSTRAINTS, "none")
#: The engine series behind each constraint; also the keys of ``predicted`` in the JSON.
SERIES: Final[dict[Constraint, str]] = {
    "intraocular_pressure": "intraocular_pressure_mmhg",
    "mean_arterial_pressure": "mean_arterial_pressure_mmhg",
    "head_arterial_pressure": "head_arterial_pressure_mmhg",
}
PREDICTED_KEYS: Final[tuple[str, ...]] = tuple(SERIES[c] for c in CONSTRAINTS)

#: Default IOP limit (the issue's default): about twice a typical sitting IOP of 14-15 mmHg, below the
#: 35.6 +/- 4 mmHg measured in full inversion (Friberg & Weinreb 1985, JAMA 253:1755).
DEFAULT_IOP_LIMIT_MMHG: Final = 30.0
#: IOP limit when a clinician has cleared an eye finding: NICE NG81 (2017, updated 2022) offers treatment
#: to people with ocular hypertension from 24 mmHg, so an eye already under watch is kept below it.
CLEARED_EYE_IOP_LIMIT_MMHG: Final = 24.0
#: Heart-level MAP limit: the screening refuses sessions at 140/90 or more on the day (MAP ~107 mmHg);
#: inversion may not push the sustained pressure more than ~3 mmHg past that.
DEFAULT_MAP_LIMIT_MMHG: Final = 110.0
#: Arterial pressure at eye level: 20 mmHg inside the classical upper limit of cerebral autoregulation
#: (~150 mmHg, Lassen 1959), because the plateau is narrower and varies between people (Brassard et al.
#: 2021, Physiol Rep 9:e14982).
DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG: Final = 130.0
#: Orthostatic hypotension (Freeman et al. 2011, Clin Auton Res 21:69): a fall of >= 20 mmHg systolic or
#: >= 10 mmHg diastolic on standing.
SYSTOLIC_FALL_LIMIT_MMHG: Final = 20.0
DIASTOLIC_FALL_LIMIT_MMHG: Final = 10.0

#: Screening items about the eye whose risk is pressure in the eye or its blood supply. A clinician's
#: clearance of any of them makes the IOP limit stricter. Conjunctivitis (an infection) is not one.
EYE_ITEMS: Final[frozenset[str]] = frozenset(
    {
        "glaucoma_or_ocular_hypertension",
        "retinal_vascular_disease",
        "macular_degeneration",
        "retinal_detachment_history",
        "recent_eye_surgery",
        "diabetic_retinopathy",
    }
)

#: Pressures are compared as the mean over this many trailing seconds (about one cuff reading).
SUSTAINED_WINDOW_S: Final = 30
#: The longest hold considered: the manuals' "sessions ... up to about 10 min".
HOLD_HORIZON_MIN: Final = SESSION_HOLD_CAP_MIN
#: An angle counts as allowed only if at least this long a hold stays within the limits ("3-5 min").
MIN_USEFUL_HOLD_MIN: Final = 3.0
#: Hold limits are whole multiples of this (rounded down).
HOLD_RESOLUTION_MIN: Final = 0.5
#: Rests flat before standing that are tried, shortest first.
RETURN_REST_OPTIONS_MIN: Final[tuple[float, ...]] = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0)
#: The fall on coming up is looked for from the start of the rise to this long upright.
RETURN_WINDOW_S: Final = 30
#: The probe's staircase and how long it holds each step.
PROBE_ANGLES_DEG: Final[tuple[float, ...]] = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
PROBE_STEP_HOLD_S: Final = 75
#: Every simulated session starts like a planned one, with a longer stand for the baseline.
BASELINE_STAND_S: Final = 60
ENTRY_LOWER_S: Final = 15
ENTRY_FLAT_S: Final = 60
#: Refinement runs allowed (each a ~12-minute session): a safety net, the search needs 2-4.
MAX_REFINE_RUNS: Final = 12

_SUMMARY_WORDS: Final[dict[str, str]] = {
    "intraocular_pressure": "eye pressure",
    "mean_arterial_pressure": "mean blood pressure at heart level",
    "head_arterial_pressure": "arterial pressure at eye level",
}


# --------------------------------------------------------------------------------------------- criteria


class LimitCriteria(BaseModel):
    """The limits the predictions must respect (mmHg), and whether an eye finding was cleared.

    ``iop_limit_mmhg`` applies to every eye; when ``eye_finding_cleared`` the stricter of it and
    ``cleared_eye_iop_limit_mmhg`` applies. The fall limits define when a rest flat is needed before
    standing up.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    iop_limit_mmhg: float = DEFAULT_IOP_LIMIT_MMHG
    map_limit_mmhg: float = DEFAULT_MAP_LIMIT_MMHG
    head_arterial_limit_mmhg: float = DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG
    eye_finding_cleared: bool = False
    cleared_eye_iop_limit_mmhg: float = CLEARED_EYE_IOP_LIMIT_MMHG
    systolic_fall_limit_mmhg: float = SYSTOLIC_FALL_LIMIT_MMHG
    diastolic_fall_limit_mmhg: float = DIASTOLIC_FALL_LIMIT_MMHG

    @field_validator(
        "iop_limit_mmhg",
        "map_limit_mmhg",
        "head_arterial_limit_mmhg",
        "cleared_eye_iop_limit_mmhg",
        "systolic_fall_limit_mmhg",
        "diastolic_fall_limit_mmhg",
    )
    @classmethod
    def _check_range(cls, value: float, info: ValidationInfo) -> float:
        name = str(info.field_name)
        low, high = _CRITERIA_RANGES[name]
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low:g} and {high:g} mmHg, got {value:g}")
        return value

    @property
    def effective_iop_limit_mmhg(self) -> float:
        """The IOP limit that applies: the stricter one when an eye finding was cleared."""
        if self.eye_finding_cleared:
            return min(self.iop_limit_mmhg, self.cleared_eye_iop_limit_mmhg)
        return self.iop_limit_mmhg

    def limit(self, constraint: Constraint) -> float:
        """The limit (mmHg) for one constraint."""
        if constraint == "intraocular_pressure":
            return self.effective_iop_limit_mmhg
        if constraint == "mean_arterial_pressure":
            return self.map_limit_mmhg
        return self.head_arterial_limit_mmhg

    def to_dict(self) -> dict[str, Any]:
        """JSON values, with the IOP limit that applies."""
        return {**self.model_dump(), "effective_iop_limit_mmhg": self.effective_iop_limit_mmhg}


# Allowed ranges of the criteria (mmHg), inclusive: wide enough for any clinician's choice, narrow
# enough to catch a typo (a limit of 3 or 300 mmHg).
_CRITERIA_RANGES: Final[dict[str, tuple[float, float]]] = {
    "iop_limit_mmhg": (10.0, 60.0),
    "map_limit_mmhg": (60.0, 200.0),
    "head_arterial_limit_mmhg": (60.0, 250.0),
    "cleared_eye_iop_limit_mmhg": (10.0, 60.0),
    "systolic_fall_limit_mmhg": (5.0, 60.0),
    "diastolic_fall_limit_mmhg": (5.0, 40.0),
}


def cleared_eye_findings(result: ScreeningResult) -> tuple[str, ...]:
    """Eye items (:data:`EYE_ITEMS`) of a screening that a clinician cleared or set to caution."""
    return tuple(
        f.item
        for f in result.findings
        if f.item in EYE_ITEMS and f.effective_class in (FindingClass.CLEARED, FindingClass.CAUTION)
    )


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ReturnFall:
    """Predicted fall (mmHg, positive = lower than before the session) on coming up after a rest."""

    rest_min: float
    systolic_mmhg: float
    diastolic_mmhg: float
    mean_arterial_mmhg: float

    def exceeds(self, criteria: LimitCriteria) -> bool:
        """Whether the fall meets the orthostatic-hypotension thresholds."""
        return (
            self.systolic_mmhg >= criteria.systolic_fall_limit_mmhg
            or self.diastolic_mmhg >= criteria.diastolic_fall_limit_mmhg
        )

    def to_dict(self) -> dict[str, float]:
        """JSON values, rounded to 0.1 mmHg."""
        return {
            "rest_min": self.rest_min,
            "systolic_mmhg": round(self.systolic_mmhg, 1),
            "diastolic_mmhg": round(self.diastolic_mmhg, 1),
            "mean_arterial_mmhg": round(self.mean_arterial_mmhg, 1),
        }


@dataclass(frozen=True)
class PersonalLimits:
    """One person's limits with the numbers behind them and a plain-words explanation.

    ``predicted`` holds the peak sustained values (mmHg, keys :data:`PREDICTED_KEYS`) over a session at
    ``max_angle_deg`` held ``max_hold_min`` (lying flat when ``max_angle_deg`` is 0). ``returns`` lists
    the falls on coming up that were simulated, shortest rest first; the last is the chosen rest.
    """

    max_angle_deg: float
    max_hold_min: float
    binding_constraint: BindingConstraint
    predicted: dict[str, float]
    return_rest_min: float
    criteria: LimitCriteria
    explanation: tuple[str, ...]
    returns: tuple[ReturnFall, ...] = ()
    hold_constraint: Constraint | None = None
    eye_items_cleared: tuple[str, ...] = field(default_factory=tuple)

    def to_session_limits(self) -> SessionLimits:
        """The limits a program is planned within."""
        return SessionLimits(
            max_angle_deg=self.max_angle_deg,
            max_hold_min=self.max_hold_min,
            return_rest_min=self.return_rest_min,
            binding_constraint=self.binding_constraint,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON values. ``max_angle_deg``, ``max_hold_min``, ``binding_constraint``, ``predicted`` (IOP, MAP
        and head arterial pressure) and ``return_rest_min`` are the CLI contract."""
        return {
            "max_angle_deg": self.max_angle_deg,
            "max_hold_min": self.max_hold_min,
            "binding_constraint": self.binding_constraint,
            "predicted": {k: round(self.predicted[k], 1) for k in PREDICTED_KEYS},
            "return_rest_min": self.return_rest_min,
            "hold_constraint": self.hold_constraint,
            "return_falls_mmhg": [r.to_dict() for r in self.returns],
            "criteria": self.criteria.to_dict(),
            "eye_items_cleared": list(self.eye_items_cleared),
            "explanation": list(self.explanation),
        }


# ------------------------------------------------------------------------------------------ simulations


def _sustained(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Trailing mean over SUSTAINED_WINDOW_S samples (1 Hz), shorter at the very start."""
    n = values.shape[-1]
    csum = np.concatenate([np.zeros((*values.shape[:-1], 1)), np.cumsum(values, axis=-1)], axis=-1)
    idx = np.arange(n)
    start = np.maximum(0, idx - SUSTAINED_WINDOW_S + 1)
    mean: NDArray[np.float64] = (csum[..., idx + 1] - csum[..., start]) / (idx + 1 - start)
    return mean


def _entry() -> list[Step]:
    """Stand (the baseline), lower to flat, settle flat: as a planned session starts."""
    return [
        Stand(duration_s=BASELINE_STAND_S),
        Tilt(to_angle_deg=0.0, duration_s=ENTRY_LOWER_S),
        LieFlat(duration_s=ENTRY_FLAT_S),
    ]


_ENTRY_S: Final = BASELINE_STAND_S + ENTRY_LOWER_S + ENTRY_FLAT_S


def _run(person: Person, steps: Sequence[Step]) -> Result:
    """Simulate one person on the steps (circulation on)."""
    return simulate(person, Protocol(steps=list(steps)), circulation=True)


@dataclass(frozen=True)
class _Session:
    """A session-shaped run at one angle: sustained pressures, when the ramp starts and the hold begins."""

    angle_deg: float
    sustained: dict[Constraint, NDArray[np.float64]]
    ramp_start: int
    hold_start: int

    def peak(self, constraint: Constraint, hold_s: float) -> float:
        """Peak sustained value from the ramp's start to ``hold_s`` into the hold."""
        end = min(self.hold_start + math.floor(hold_s) + 1, self.sustained[constraint].shape[0])
        return float(self.sustained[constraint][self.ramp_start : end].max())

    def excess(self, criteria: LimitCriteria, hold_s: float) -> dict[Constraint, float]:
        """How far (mmHg) each peak lies above its limit, for the constraints that are exceeded."""
        out: dict[Constraint, float] = {}
        for c in CONSTRAINTS:
            over = self.peak(c, hold_s) - criteria.limit(c)
            if over > 0:
                out[c] = over
        return out

    def first_crossing_s(self, criteria: LimitCriteria) -> tuple[float, Constraint] | None:
        """Seconds into the hold at which a sustained value first passes its limit, and which."""
        best: tuple[float, Constraint] | None = None
        for c in CONSTRAINTS:
            over = np.nonzero(self.sustained[c][self.hold_start :] > criteria.limit(c))[0]
            if over.size and (best is None or over[0] < best[0]):
                best = (float(over[0]), c)
        return best


def _session_run(person: Person, angle_deg: float) -> _Session:
    """Entry, a gentle ramp to ``angle_deg`` and a hold of HOLD_HORIZON_MIN."""
    ramp = ramp_s(angle_deg)
    steps = [
        *_entry(),
        Tilt(to_angle_deg=angle_deg, duration_s=ramp),
        Hold(angle_deg=angle_deg, duration_s=HOLD_HORIZON_MIN * 60.0),
    ]
    result = _run(person, steps)
    sustained = {c: _sustained(result.series[SERIES[c]][0]) for c in CONSTRAINTS}
    return _Session(angle_deg, sustained, _ENTRY_S, _ENTRY_S + ramp)


@dataclass(frozen=True)
class _Probe:
    """Plateau values at flat and at each probe angle (mmHg), per constraint."""

    flat: dict[Constraint, float]
    steps: dict[Constraint, list[float]]

    def crossing_deg(self, constraint: Constraint, limit: float) -> float | None:
        """Interpolated angle at which the plateau first passes ``limit`` (0 when flat already does)."""
        if self.flat[constraint] > limit:
            return 0.0
        angles = [0.0, *PROBE_ANGLES_DEG]
        values = [self.flat[constraint], *self.steps[constraint]]
        for i in range(1, len(angles)):
            if values[i] > limit:
                a0, a1, v0, v1 = angles[i - 1], angles[i], values[i - 1], values[i]
                return a0 + (a1 - a0) * (limit - v0) / (v1 - v0)
        return None


def _probe(person: Person) -> _Probe:
    """The staircase: plateau values are the means of the last SUSTAINED_WINDOW_S seconds of each step."""
    steps: list[Step] = _entry()
    previous = 0.0
    for angle in PROBE_ANGLES_DEG:
        steps += [
            Tilt(to_angle_deg=angle, duration_s=ramp_s(angle - previous)),
            Hold(angle_deg=angle, duration_s=PROBE_STEP_HOLD_S),
        ]
        previous = angle
    result = _run(person, steps)
    flat_end = _ENTRY_S
    ends: list[int] = []
    t = float(_ENTRY_S)
    previous = 0.0
    for angle in PROBE_ANGLES_DEG:
        t += ramp_s(angle - previous) + PROBE_STEP_HOLD_S
        ends.append(round(t))
        previous = angle
    flat: dict[Constraint, float] = {}
    plateaus: dict[Constraint, list[float]] = {}
    for c in CONSTRAINTS:
        v = result.series[SERIES[c]][0]
        flat[c] = float(v[flat_end - SUSTAINED_WINDOW_S : flat_end].mean())
        plateaus[c] = [float(v[e - SUSTAINED_WINDOW_S : e].mean()) for e in ends]
    return _Probe(flat, plateaus)


def _return_fall(person: Person, angle_deg: float, hold_s: float, rest_min: float) -> ReturnFall:
    """Simulate a session at ``angle_deg`` held ``hold_s``, a rest flat and the rise; measure the fall."""
    ramp = ramp_s(angle_deg)
    steps: list[Step] = [
        *_entry(),
        Tilt(to_angle_deg=angle_deg, duration_s=ramp),
        Hold(angle_deg=angle_deg, duration_s=hold_s),
        Tilt(to_angle_deg=0.0, duration_s=ramp),
    ]
    if rest_min > 0:
        steps.append(LieFlat(duration_s=rest_min * 60.0))
    steps += [Tilt(to_angle_deg=-90.0, duration_s=RISE_S), Stand(duration_s=RETURN_WINDOW_S)]
    result = _run(person, steps)
    rise_start = round(_ENTRY_S + 2 * ramp + hold_s + rest_min * 60.0)
    base = slice(BASELINE_STAND_S - SUSTAINED_WINDOW_S, BASELINE_STAND_S)
    falls = []
    for name in ("systolic_bp_mmhg", "diastolic_bp_mmhg", "mean_arterial_pressure_mmhg"):
        v = result.series[name][0]
        falls.append(float(v[base].mean() - v[rise_start:].min()))
    return ReturnFall(rest_min, *falls)


# ------------------------------------------------------------------------------------------- the search


def _largest_allowed(allowed: Callable[[int], bool], guess: int) -> int:
    """Largest whole degree in 0..90 with ``allowed`` true, searching out from ``guess``.

    ``allowed(0)`` is assumed true (the caller checks lying flat first); the limits fall with the angle,
    so a gallop from the guess brackets the answer and a bisection finishes it.
    """
    lo, hi = 0, 91  # allowed(lo) is true; hi is the smallest angle known to fail (91: none known)
    guess = min(max(guess, 1), 90)
    if allowed(guess):
        lo, step = guess, 1
        while lo < 90:
            candidate = min(lo + step, 90)
            if allowed(candidate):
                lo, step = candidate, step * 2
            else:
                hi = candidate
                break
    else:
        hi, step = guess, 1
        while hi > 1:
            candidate = max(hi - step, 1)
            if allowed(candidate):
                lo = candidate
                break
            hi, step = candidate, step * 2
    while hi - lo > 1 and lo < 90:
        mid = (lo + hi) // 2
        if allowed(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _fmt(value: float) -> str:
    """A number for the explanation: no trailing zeros, one decimal at most."""
    return f"{round(value, 1):g}"


def _above(value: float, limit: float) -> str:
    """A value above ``limit``, with enough decimals to show that it is above."""
    return _fmt(value) if round(value, 1) > limit else f"{value:.2f}"


def compute_limits(person: Person, criteria: LimitCriteria | None = None) -> PersonalLimits:
    """The person's largest angle and hold within ``criteria``, what binds, and the rest before standing.

    Runs the physiology engine (see the module docstring for the search). Raises
    :class:`~inversa.simulation.SimulationError` when the engine cannot reproduce the person's resting
    values.
    """
    criteria = criteria if criteria is not None else LimitCriteria()
    probe = _probe(person)
    crossings = {c: probe.crossing_deg(c, criteria.limit(c)) for c in CONSTRAINTS}
    flat_over = [c for c in CONSTRAINTS if crossings[c] == 0.0]
    if flat_over:
        return _flat_limits(probe, criteria, flat_over)

    runs: dict[int, _Session] = {}
    min_hold_s = MIN_USEFUL_HOLD_MIN * 60.0

    def allowed(angle: int) -> bool:
        if angle not in runs:
            if len(runs) >= MAX_REFINE_RUNS:  # a safety net: treat the unknown as not allowed
                return False
            runs[angle] = _session_run(person, float(angle))
        return not runs[angle].excess(criteria, min_hold_s)

    known = [x for x in crossings.values() if x is not None]
    guess = round(min(known)) if known else 90
    angle = _largest_allowed(allowed, guess)
    if angle == 0:
        return _flat_limits(probe, criteria, [], failing=runs.get(1), min_hold_s=min_hold_s)

    session = runs[angle]
    crossing = session.first_crossing_s(criteria)
    hold_constraint: Constraint | None = None
    max_hold_min = HOLD_HORIZON_MIN
    if crossing is not None and crossing[0] <= HOLD_HORIZON_MIN * 60.0:
        safe_s = max(crossing[0] - 1.0, min_hold_s)
        steps = math.floor(safe_s / 60.0 / HOLD_RESOLUTION_MIN + 1e-9)
        max_hold_min = max(MIN_USEFUL_HOLD_MIN, steps * HOLD_RESOLUTION_MIN)
        hold_constraint = crossing[1]
    binding: BindingConstraint = "none"
    failing = runs.get(angle + 1)
    if failing is not None:
        binding = _worst(failing.excess(criteria, min_hold_s), criteria)
    elif angle < 90:  # only when MAX_REFINE_RUNS ran out: name the probe's first crossing
        crossed = sorted((x, c) for c, x in crossings.items() if x is not None)
        binding = crossed[0][1] if crossed else hold_constraint or "none"
    elif hold_constraint is not None:
        binding = hold_constraint
    hold_s = max_hold_min * 60.0
    predicted = {SERIES[c]: session.peak(c, hold_s) for c in CONSTRAINTS}
    returns = _return_rest(person, float(angle), hold_s, criteria)
    limits = PersonalLimits(
        max_angle_deg=float(angle),
        max_hold_min=max_hold_min,
        binding_constraint=binding,
        predicted=predicted,
        return_rest_min=returns[-1].rest_min,
        criteria=criteria,
        explanation=(),
        returns=tuple(returns),
        hold_constraint=hold_constraint,
    )
    steeper = None if failing is None else {SERIES[c]: failing.peak(c, min_hold_s) for c in CONSTRAINTS}
    return _explained(limits, steeper)


def _worst(excess: dict[Constraint, float], criteria: LimitCriteria) -> Constraint:
    """The constraint exceeded by the largest fraction of its limit."""
    return max(excess, key=lambda c: excess[c] / criteria.limit(c))


def _return_rest(person: Person, angle: float, hold_s: float, criteria: LimitCriteria) -> list[ReturnFall]:
    """Falls on coming up after each rest option in turn, until one stays below the thresholds."""
    falls: list[ReturnFall] = []
    for rest in RETURN_REST_OPTIONS_MIN:
        falls.append(_return_fall(person, angle, hold_s, rest))
        if not falls[-1].exceeds(criteria):
            break
    return falls


def _flat_limits(
    probe: _Probe,
    criteria: LimitCriteria,
    flat_over: Iterable[Constraint],
    failing: _Session | None = None,
    min_hold_s: float = 0.0,
) -> PersonalLimits:
    """Limits when no angle above flat is allowed: lying flat already passes a limit, or 1 deg does."""
    over = list(flat_over)
    if over:
        binding: Constraint = max(over, key=lambda c: probe.flat[c] / criteria.limit(c))
    elif failing is not None:
        binding = _worst(failing.excess(criteria, min_hold_s), criteria)
    else:  # pragma: no cover - allowed(1) was evaluated whenever the search ends at 0
        binding = "intraocular_pressure"
    limits = PersonalLimits(
        max_angle_deg=0.0,
        max_hold_min=HOLD_HORIZON_MIN,
        binding_constraint=binding,
        predicted={SERIES[c]: probe.flat[c] for c in CONSTRAINTS},
        return_rest_min=0.0,
        criteria=criteria,
        explanation=(),
    )
    return _explained(limits, None, flat_already=bool(over))


def _explained(
    limits: PersonalLimits, steeper: dict[str, float] | None, *, flat_already: bool = False
) -> PersonalLimits:
    """The same limits with the explanation: plain words first, each with its numbers."""
    c = limits.criteria
    lines: list[str] = []
    binding = limits.binding_constraint
    if c.eye_finding_cleared and c.effective_iop_limit_mmhg < c.iop_limit_mmhg:
        lines.append(
            "A clinician cleared an eye finding, so the eye-pressure limit is "
            f"{_fmt(c.effective_iop_limit_mmhg)} mmHg instead of {_fmt(c.iop_limit_mmhg)} mmHg."
        )
    if limits.max_angle_deg == 0.0:
        flat_binding = limits.binding_constraint
        assert flat_binding != "none"
        words = _SUMMARY_WORDS[flat_binding]
        value = limits.predicted[SERIES[flat_binding]]
        if flat_already:
            lines.append(
                f"Your {words} is predicted to be {_fmt(value)} mmHg already lying flat, above the limit of "
                f"{_fmt(c.limit(flat_binding))} mmHg: no head-down angle is allowed (0 deg). Please discuss "
                "with a clinician."
            )
        else:
            lines.append(
                f"Even 1 deg head-down would take your {words} above its limit of "
                f"{_fmt(c.limit(flat_binding))} mmHg: no head-down angle is allowed (0 deg). Please discuss "
                "with a clinician."
            )
        return _with_lines(limits, lines)
    angle = _fmt(limits.max_angle_deg)
    if binding == "none":
        lines.append(
            "Every pressure stays within its limit up to full inversion (90 deg) for "
            f"{_fmt(limits.max_hold_min)} min, the longest session the table makers advise."
        )
    elif steeper is not None:
        lines.append(
            f"The steepest angle is {angle} deg: one degree steeper, your {_SUMMARY_WORDS[binding]} is "
            f"predicted to reach {_above(steeper[SERIES[binding]], c.limit(binding))} mmHg, above the "
            f"limit of {_fmt(c.limit(binding))} mmHg."
        )
    else:
        lines.append(
            f"The steepest angle is {angle} deg, set by your {_SUMMARY_WORDS[binding]} (limit "
            f"{_fmt(c.limit(binding))} mmHg)."
        )
    if limits.hold_constraint is not None:
        lines.append(
            f"At {angle} deg your {_SUMMARY_WORDS[limits.hold_constraint]} creeps up as fluid shifts: "
            f"hold at most {_fmt(limits.max_hold_min)} min before it would pass its limit of "
            f"{_fmt(c.limit(limits.hold_constraint))} mmHg."
        )
    elif binding != "none":
        lines.append(
            f"At {angle} deg the pressures stay within their limits for {_fmt(limits.max_hold_min)} min, the "
            "longest session the table makers advise."
        )
    predicted = ", ".join(
        f"{_SUMMARY_WORDS[k]} {_fmt(limits.predicted[SERIES[k]])} mmHg (limit {_fmt(c.limit(k))})"
        for k in CONSTRAINTS
    )
    lines.append(f"Predicted at {angle} deg for {_fmt(limits.max_hold_min)} min: {predicted}.")
    first = limits.returns[0] if limits.returns else None
    if first is not None:
        fall = f"{_change(first)}, against your standing values before the session"
        if limits.return_rest_min == 0.0:
            lines.append(
                f"Coming straight up after the session, your {fall}: below the "
                f"{_fmt(c.systolic_fall_limit_mmhg)}/{_fmt(c.diastolic_fall_limit_mmhg)} mmHg that marks a "
                "drop on standing, so no extra rest is needed (still rest a couple of minutes flat, as the "
                "table makers advise)."
            )
        else:
            chosen = limits.returns[-1]
            still = chosen.exceeds(c)
            lines.append(
                f"Coming straight up after the session, your {fall}; that is at or past the "
                f"{_fmt(c.systolic_fall_limit_mmhg)}/{_fmt(c.diastolic_fall_limit_mmhg)} mmHg that marks a "
                f"drop on standing: rest at least {_fmt(limits.return_rest_min)} min flat before standing"
                + (
                    f" (then your {_change(chosen)})."
                    if not still
                    else f"; even then your {_change(chosen)}, so sit up slowly and sit for a while before "
                    "standing."
                )
            )
    return _with_lines(limits, lines)


def _change(fall: ReturnFall) -> str:
    """Plain words for a return fall: 'systolic pressure falls by 3 mmHg and diastolic rises by 1 mmHg'."""

    def one(name: str, value: float) -> str:
        if abs(value) < 0.05:
            return f"{name} pressure stays the same"
        return f"{name} pressure {'falls' if value > 0 else 'rises'} by {_fmt(abs(value))} mmHg"

    return f"{one('systolic', fall.systolic_mmhg)} and {one('diastolic', fall.diastolic_mmhg)}"


def _with_lines(limits: PersonalLimits, lines: list[str]) -> PersonalLimits:
    """Add the closing caveat and return a copy with the explanation."""
    lines = [
        *lines,
        "These are model predictions for a person like you, not measurements: come up at once if you feel "
        "pressure in the eyes, a headache, dizziness or nausea.",
    ]
    return replace(limits, explanation=tuple(lines))
