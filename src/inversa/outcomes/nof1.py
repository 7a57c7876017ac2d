"""Personal experiments (n-of-1 trials): plan alternating blocks, then analyse the pain diary honestly.

Evidence that traction helps chronic low back pain is weak *on average*; a person can still find out
whether inversion makes a difference *for them* by alternating blocks with inversion (A) and without
(B), the order inside each pair of blocks randomised, while logging pain once a day on the 0-10
numeric rating scale (NRS).

- :func:`plan_schedule` draws the block order from a seed and returns a :class:`Schedule`.
- :func:`analyse` fits a Bayesian regression with AR(1) errors to a diary and returns a
  :class:`Nof1Result` whose ``status`` only claims what the data support.
- :func:`simulate_diary` makes synthetic diaries with a known effect (for tests and demonstrations).

The statistical model, the priors and every decision threshold are stated in :func:`analyse`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from numbers import Integral, Real
from typing import Any, Final, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special, stats

__all__ = [
    "BENEFIT_PROBABILITY",
    "CONCLUSIVE_CHANCE",
    "CONDITIONS",
    "DEFAULT_BLOCK_DAYS",
    "DEFAULT_MEANINGFUL_CHANGE",
    "DEFAULT_WASHOUT_DAYS",
    "MAX_BLOCK_DAYS",
    "MAX_PAIRS",
    "MIN_BLOCKS_PER_CONDITION",
    "MIN_BLOCK_DAYS",
    "MIN_DAYS_PER_CONDITION",
    "MIN_PAIRS",
    "NO_BENEFIT_PROBABILITY",
    "RHO_GRID",
    "WORSE_PROBABILITY",
    "Block",
    "Condition",
    "DiaryEntry",
    "Nof1Error",
    "Nof1Result",
    "Schedule",
    "Status",
    "analyse",
    "diary_from_arrays",
    "diary_from_responses",
    "plan_schedule",
    "simulate_diary",
]

Condition: TypeAlias = Literal["inversion", "control"]
Status: TypeAlias = Literal["not_enough_data", "inconclusive", "benefit", "no_meaningful_benefit", "worse"]

#: The two conditions: A = inversion sessions during the block, B = no inversion.
CONDITIONS: Final[tuple[Condition, Condition]] = ("inversion", "control")

MIN_PAIRS: Final = 1
MAX_PAIRS: Final = 12
MIN_BLOCK_DAYS: Final = 3
MAX_BLOCK_DAYS: Final = 28
#: Block length assumed when a diary alone cannot tell (the default of :func:`plan_schedule`).
DEFAULT_BLOCK_DAYS: Final = 7
#: Minimal clinically important change on the 0-10 NRS, in points (Farrar et al., Pain 2001;94:149-158).
DEFAULT_MEANINGFUL_CHANGE: Final = 2.0
DEFAULT_WASHOUT_DAYS: Final = 2

#: No effect is estimated before each condition has this many completed blocks ...
MIN_BLOCKS_PER_CONDITION: Final = 2
#: ... and this many usable (post-washout) diary days.
MIN_DAYS_PER_CONDITION: Final = 8

#: "benefit" needs P(inversion lowers pain by at least the meaningful change) >= this.
BENEFIT_PROBABILITY: Final = 0.8
#: "no_meaningful_benefit" needs that probability <= this (and the 95 % interval to exclude it).
NO_BENEFIT_PROBABILITY: Final = 0.1
#: "worse" needs P(pain is higher with inversion) >= this, whatever the size of the increase.
WORSE_PROBABILITY: Final = 0.95
#: An inconclusive experiment is worth continuing when a clear answer has at least this predicted chance.
CONCLUSIVE_CHANCE: Final = 0.5

#: Grid of AR(1) coefficients (read-only), uniform prior over it.
RHO_GRID: Final[NDArray[np.float64]] = np.linspace(-0.95, 0.95, 77)
RHO_GRID.setflags(write=False)

# Conjugate normal-inverse-gamma prior. Coefficients are a priori normal *given* sigma^2 (the AR(1)
# innovation variance), with standard deviations expressed in units of sigma.
_PRIOR_MU_MEAN: Final = 5.0  # middle of the NRS
_PRIOR_MU_SD_SIGMAS: Final = 10.0  # practically flat over 0-10
_PRIOR_BETA_SD_SIGMAS: Final = 3.0  # effect of inversion, centred on no effect
_PRIOR_TREND_SD_SIGMAS: Final = 1.0  # linear drift, per week, centred on none
_PRIOR_SIGMA2_SHAPE: Final = 1.0  # sigma^2 ~ Inverse-Gamma(1, 1): median 1.44 (sigma ~ 1.2 points),
_PRIOR_SIGMA2_SCALE: Final = 1.0  # heavy right tail
_CI_LEVEL: Final = 0.95


class Nof1Error(ValueError):
    """Invalid input to planning, simulating or analysing a personal experiment.

    ``field`` names the offending argument or diary field when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------


def _as_date(value: object, name: str) -> dt.date:
    """A calendar date (``datetime.date`` or ISO ``YYYY-MM-DD`` text); datetimes are refused."""
    if isinstance(value, dt.datetime):
        raise Nof1Error(f"{name} must be a calendar date, not a date and time (got {value!r})", field=name)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise Nof1Error(
                f"{name} must be an ISO date like 2024-03-01, got {value!r}", field=name
            ) from None
    raise Nof1Error(f"{name} must be a date, got {type(value).__name__} {value!r}", field=name)


def _as_int(value: object, name: str, low: int, high: int | None = None) -> int:
    """A whole number (not a bool) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise Nof1Error(f"{name} must be a whole number, got {value!r}", field=name)
    number = int(value)
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise Nof1Error(f"{name} must be {bound}, got {number}", field=name)
    return number


def _as_float(value: object, name: str, low: float, high: float, *, open_low: bool = False) -> float:
    """A finite real number within [low, high] (or (low, high] when ``open_low``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise Nof1Error(f"{name} must be a number, got {value!r}", field=name)
    number = float(value)
    too_low = number <= low if open_low else number < low
    if not math.isfinite(number) or too_low or number > high:
        bracket = "(" if open_low else "["
        raise Nof1Error(f"{name} must be in {bracket}{low:g}, {high:g}], got {value!r}", field=name)
    return number


def _as_pain(value: object) -> int:
    """An NRS score: a whole number 0-10 (integral floats such as 3.0 are accepted)."""
    if isinstance(value, Real) and not isinstance(value, bool | Integral):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            value = int(number)
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= int(value) <= 10:
        raise Nof1Error(f"pain_nrs must be a whole number from 0 to 10, got {value!r}", field="pain_nrs")
    return int(value)


def _as_condition(value: object, name: str = "condition") -> Condition:
    if value == "inversion":
        return "inversion"
    if value == "control":
        return "control"
    raise Nof1Error(f"{name} must be 'inversion' or 'control', got {value!r}", field=name)


# --------------------------------------------------------------------------------------------------
# Diary entries and schedules
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiaryEntry:
    """One day's diary line: the date, pain on the 0-10 NRS, and the condition of that day's block.

    Raises :class:`Nof1Error` for a pain score outside 0-10 (or not whole), an unknown condition, or
    something that is not a calendar date. ISO date text is accepted and converted.
    """

    date: dt.date
    pain_nrs: int
    condition: Condition

    def __post_init__(self) -> None:
        object.__setattr__(self, "date", _as_date(self.date, "date"))
        object.__setattr__(self, "pain_nrs", _as_pain(self.pain_nrs))
        object.__setattr__(self, "condition", _as_condition(self.condition))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"date": "YYYY-MM-DD", "pain_nrs": int, "condition": str}``."""
        return {"date": self.date.isoformat(), "pain_nrs": self.pain_nrs, "condition": self.condition}


def diary_from_arrays(
    dates: Iterable[dt.date | str], pain: Iterable[object], conditions: Iterable[str]
) -> list[DiaryEntry]:
    """Build diary entries from three parallel columns (e.g. read from a CSV or a database)."""
    date_list, pain_list, condition_list = list(dates), list(pain), list(conditions)
    if not len(date_list) == len(pain_list) == len(condition_list):
        raise Nof1Error(
            f"dates, pain and conditions must have the same length, got "
            f"{len(date_list)}, {len(pain_list)} and {len(condition_list)}",
            field="dates",
        )
    entries: list[DiaryEntry] = []
    for index, (day, score, condition) in enumerate(zip(date_list, pain_list, condition_list, strict=True)):
        try:
            entries.append(DiaryEntry(_as_date(day, "date"), _as_pain(score), _as_condition(condition)))
        except Nof1Error as error:
            raise Nof1Error(f"diary row {index}: {error}", field=error.field) from None
    return entries


@dataclass(frozen=True, slots=True)
class Block:
    """One block of a schedule: ``pair`` counts from 1, ``start`` and ``end`` are inclusive dates."""

    pair: int
    condition: Condition
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        object.__setattr__(self, "pair", _as_int(self.pair, "pair", 1))
        object.__setattr__(self, "condition", _as_condition(self.condition))
        object.__setattr__(self, "start", _as_date(self.start, "start"))
        object.__setattr__(self, "end", _as_date(self.end, "end"))
        if self.end < self.start:
            raise Nof1Error(f"block end {self.end} is before its start {self.start}", field="end")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "condition": self.condition,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Schedule:
    """A plan of ``pairs`` pairs of blocks, each pair one inversion and one control block in random order.

    Blocks are consecutive, ``block_days`` long, starting on ``start``. ``seed`` is the seed the order
    was drawn from (kept so a plan can be reproduced and audited).
    """

    start: dt.date
    pairs: int
    block_days: int
    seed: int
    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _as_date(self.start, "start"))
        object.__setattr__(self, "pairs", _as_int(self.pairs, "pairs", MIN_PAIRS, MAX_PAIRS))
        object.__setattr__(
            self, "block_days", _as_int(self.block_days, "block_days", MIN_BLOCK_DAYS, MAX_BLOCK_DAYS)
        )
        object.__setattr__(self, "seed", _as_int(self.seed, "seed", 0))
        if not isinstance(self.blocks, tuple | list):
            raise Nof1Error("blocks must be a sequence of Block objects", field="blocks")
        blocks = tuple(self.blocks)
        if not all(isinstance(block, Block) for block in blocks):
            raise Nof1Error("blocks must be Block objects", field="blocks")
        object.__setattr__(self, "blocks", blocks)
        if len(blocks) != 2 * self.pairs:
            raise Nof1Error(f"blocks must hold 2 x {self.pairs} blocks, got {len(blocks)}", field="blocks")
        for index, block in enumerate(blocks):
            start = self.start + dt.timedelta(days=index * self.block_days)
            end = start + dt.timedelta(days=self.block_days - 1)
            if block.pair != index // 2 + 1 or block.start != start or block.end != end:
                raise Nof1Error(
                    f"block {index + 1} must be pair {index // 2 + 1} from {start} to {end}, "
                    f"got pair {block.pair} from {block.start} to {block.end}",
                    field="blocks",
                )
        for first, second in zip(blocks[::2], blocks[1::2], strict=True):
            if first.condition == second.condition:
                raise Nof1Error(
                    f"pair {first.pair} must have one inversion and one control block, "
                    f"got two {first.condition} blocks",
                    field="blocks",
                )

    @property
    def end(self) -> dt.date:
        """Last day of the plan (inclusive)."""
        return self.blocks[-1].end

    @property
    def days(self) -> dict[dt.date, Condition]:
        """Every planned day and its condition, in date order."""
        plan: dict[dt.date, Condition] = {}
        for block in self.blocks:
            for offset in range(block.days):
                plan[block.start + dt.timedelta(days=offset)] = block.condition
        return plan

    def condition_on(self, day: dt.date) -> Condition:
        """The planned condition on ``day``; raises :class:`Nof1Error` outside the plan."""
        day = _as_date(day, "day")
        if not self.start <= day <= self.end:
            raise Nof1Error(f"{day} is outside the schedule ({self.start} to {self.end})", field="day")
        return self.blocks[(day - self.start).days // self.block_days].condition

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``days`` (ISO date -> condition) is included for convenience."""
        return {
            "start": self.start.isoformat(),
            "pairs": self.pairs,
            "block_days": self.block_days,
            "seed": self.seed,
            "blocks": [block.to_dict() for block in self.blocks],
            "days": {day.isoformat(): condition for day, condition in self.days.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """Inverse of :meth:`to_dict`; checks the structure (and ``days``, when present)."""
        if not isinstance(data, Mapping):
            raise Nof1Error(f"a schedule must be a mapping, got {type(data).__name__}", field="schedule")
        allowed = {"start", "pairs", "block_days", "seed", "blocks", "days"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise Nof1Error(
                f"unknown schedule field(s): {', '.join(map(str, unknown))}", field=str(unknown[0])
            )
        for key in ("start", "pairs", "block_days", "seed", "blocks"):
            if key not in data:
                raise Nof1Error(f"schedule is missing the field {key!r}", field=key)
        raw_blocks = data["blocks"]
        if not isinstance(raw_blocks, Sequence) or isinstance(raw_blocks, str):
            raise Nof1Error("blocks must be a list", field="blocks")
        blocks: list[Block] = []
        for raw in raw_blocks:
            if not isinstance(raw, Mapping) or set(raw) != {"pair", "condition", "start", "end"}:
                raise Nof1Error(
                    "each block must be a mapping with exactly pair, condition, start, end", field="blocks"
                )
            blocks.append(Block(raw["pair"], raw["condition"], raw["start"], raw["end"]))
        schedule = cls(data["start"], data["pairs"], data["block_days"], data["seed"], tuple(blocks))
        if "days" in data and data["days"] != schedule.to_dict()["days"]:
            raise Nof1Error("days do not match the blocks", field="days")
        return schedule


def plan_schedule(
    start: dt.date, *, pairs: int = 3, block_days: int = DEFAULT_BLOCK_DAYS, seed: int
) -> Schedule:
    """Plan ``pairs`` pairs of ``block_days``-day blocks from ``start``, the order in each pair randomised.

    Each pair holds one inversion and one control block; a fair coin from ``numpy.random.default_rng(seed)``
    decides which comes first, so the same seed gives the same plan, and re-planning with more pairs and
    the same seed keeps the earlier pairs (an experiment can be extended). ``pairs`` must be 1-12,
    ``block_days`` 3-28 and ``seed`` a non-negative integer; otherwise :class:`Nof1Error` names the field.
    """
    start = _as_date(start, "start")
    pairs = _as_int(pairs, "pairs", MIN_PAIRS, MAX_PAIRS)
    block_days = _as_int(block_days, "block_days", MIN_BLOCK_DAYS, MAX_BLOCK_DAYS)
    seed = _as_int(seed, "seed", 0)
    inversion_first = np.random.default_rng(seed).random(pairs) < 0.5
    blocks: list[Block] = []
    for pair, first_is_inversion in enumerate(inversion_first):
        order: tuple[Condition, Condition] = (
            ("inversion", "control") if first_is_inversion else ("control", "inversion")
        )
        for position, condition in enumerate(order):
            begin = start + dt.timedelta(days=(2 * pair + position) * block_days)
            blocks.append(Block(pair + 1, condition, begin, begin + dt.timedelta(days=block_days - 1)))
    return Schedule(start, pairs, block_days, seed, tuple(blocks))


# --------------------------------------------------------------------------------------------------
# Synthetic diaries
# --------------------------------------------------------------------------------------------------


def simulate_diary(
    schedule: Schedule,
    *,
    effect: float,
    baseline: float = 5.0,
    sd: float = 1.2,
    rho: float = 0.5,
    seed: int,
    missing_fraction: float = 0.0,
) -> list[DiaryEntry]:
    """A synthetic diary for ``schedule``: pain = baseline + effect (inversion days) + AR(1) noise.

    ``effect`` is the true change in NRS points on inversion days (negative = less pain). The noise is a
    stationary AR(1) process with lag-one correlation ``rho`` and *marginal* standard deviation ``sd``
    (so changing ``rho`` changes how days cling together, not how widely pain spreads). Scores are
    rounded and clipped to whole numbers 0-10 like real NRS entries. Each day is independently left out
    with probability ``missing_fraction`` (diary gaps). There is no carry-over in the simulation.
    """
    if not isinstance(schedule, Schedule):
        raise Nof1Error("schedule must be a Schedule", field="schedule")
    effect = _as_float(effect, "effect", -10.0, 10.0)
    baseline = _as_float(baseline, "baseline", 0.0, 10.0)
    sd = _as_float(sd, "sd", 0.0, 10.0, open_low=True)
    rho = _as_float(rho, "rho", -0.99, 0.99)
    seed = _as_int(seed, "seed", 0)
    missing_fraction = _as_float(missing_fraction, "missing_fraction", 0.0, 0.95)

    plan = schedule.days
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal(len(plan))
    noise = np.empty(len(plan))
    noise[0] = sd * shocks[0]
    innovation_sd = sd * math.sqrt(1.0 - rho**2)
    for index in range(1, len(plan)):
        noise[index] = rho * noise[index - 1] + innovation_sd * shocks[index]
    kept = rng.random(len(plan)) >= missing_fraction

    entries: list[DiaryEntry] = []
    for index, (day, condition) in enumerate(plan.items()):
        if not kept[index]:
            continue
        mean = baseline + (effect if condition == "inversion" else 0.0)
        score = int(np.clip(np.rint(mean + noise[index]), 0, 10))
        entries.append(DiaryEntry(day, score, condition))
    return entries


# --------------------------------------------------------------------------------------------------
# Bayesian regression with AR(1) errors on a grid of rho
# --------------------------------------------------------------------------------------------------


def _ar1_whitening(
    days: NDArray[np.int64], rhos: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact AR(1) whitening for observations on (possibly irregular) integer days.

    For each rho returns ``phi`` and ``scale`` (shape [rho, n]) such that
    ``z_i = scale_i * (y_i - phi_i * y_{i-1})`` has independent N(0, sigma^2) errors, where the errors of
    ``y`` follow a stationary AR(1) with innovation variance sigma^2. With gap k = day_i - day_{i-1}:
    ``phi = rho^k`` and ``scale = sqrt((1 - rho^2) / (1 - rho^(2k)))``; the first observation has
    ``phi = 0`` and ``scale = sqrt(1 - rho^2)`` (the Prais-Winsten row). For k = 1 this is the usual
    Prais-Winsten transform; gaps weaken the link as rho^k, so long gaps approach a fresh start.
    The Jacobian of the transform is ``prod(scale)``.
    """
    gaps = np.diff(days).astype(np.float64)
    n = days.shape[0]
    phi = np.zeros((rhos.shape[0], n))
    phi[:, 1:] = rhos[:, None] ** gaps[None, :]
    scale = np.sqrt((1.0 - rhos[:, None] ** 2) / (1.0 - phi**2))
    return phi, scale


@dataclass(frozen=True)
class _GridPosterior:
    """Normal-inverse-gamma posterior of the coefficients and sigma^2 for each rho on the grid."""

    rhos: NDArray[np.float64]  # [g]
    log_evidence: NDArray[np.float64]  # [g], log p(y | rho), Jacobian included
    mean: NDArray[np.float64]  # [g, p]
    cov_unscaled: NDArray[np.float64]  # [g, p, p]; Cov(coef | sigma^2, rho) = sigma^2 * this
    shape: float  # a_n, the same for every rho
    rate: NDArray[np.float64]  # [g], b_n

    @property
    def weights(self) -> NDArray[np.float64]:
        """Posterior probabilities of the grid values (uniform prior over the grid)."""
        shifted = np.exp(self.log_evidence - self.log_evidence.max())
        return np.asarray(shifted / shifted.sum(), dtype=np.float64)


def _prior(p: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Prior mean and precision (in units of 1/sigma^2) of (mu, beta[, trend])."""
    mean = np.array([_PRIOR_MU_MEAN, 0.0, 0.0])[:p]
    sds = np.array([_PRIOR_MU_SD_SIGMAS, _PRIOR_BETA_SD_SIGMAS, _PRIOR_TREND_SD_SIGMAS])[:p]
    return mean, np.diag(1.0 / sds**2)


def _grid_posterior(
    y: NDArray[np.float64], design: NDArray[np.float64], days: NDArray[np.int64], rhos: NDArray[np.float64]
) -> _GridPosterior:
    """Conjugate posterior on the whitened data for every rho, vectorised over the grid."""
    n, p = design.shape
    prior_mean, prior_precision = _prior(p)
    phi, scale = _ar1_whitening(days, rhos)
    y_prev = np.concatenate(([0.0], y[:-1]))
    x_prev = np.vstack((np.zeros((1, p)), design[:-1]))
    z = scale * (y[None, :] - phi * y_prev[None, :])  # [g, n]
    w = scale[:, :, None] * (design[None, :, :] - phi[:, :, None] * x_prev[None, :, :])  # [g, n, p]

    precision = prior_precision[None, :, :] + np.einsum("gni,gnj->gij", w, w)
    rhs = (prior_precision @ prior_mean)[None, :] + np.einsum("gni,gn->gi", w, z)
    mean = np.linalg.solve(precision, rhs[:, :, None])[:, :, 0]
    cov_unscaled = np.linalg.inv(precision)
    shape = _PRIOR_SIGMA2_SHAPE + n / 2.0
    quad = np.einsum("gn,gn->g", z, z) + prior_mean @ prior_precision @ prior_mean
    quad -= np.einsum("gi,gij,gj->g", mean, precision, mean)
    rate = _PRIOR_SIGMA2_SCALE + 0.5 * quad
    _, logdet_prior = np.linalg.slogdet(prior_precision)
    _, logdet_post = np.linalg.slogdet(precision)
    log_evidence = (
        -0.5 * n * math.log(2.0 * math.pi)
        + 0.5 * (logdet_prior - logdet_post)
        + _PRIOR_SIGMA2_SHAPE * math.log(_PRIOR_SIGMA2_SCALE)
        - shape * np.log(rate)
        + math.lgamma(shape)
        - math.lgamma(_PRIOR_SIGMA2_SHAPE)
        + np.log(scale).sum(axis=1)
    )
    return _GridPosterior(rhos, log_evidence, mean, cov_unscaled, shape, rate)


@dataclass(frozen=True)
class _TMixture:
    """A finite mixture of Student-t distributions (the marginal posterior of one coefficient)."""

    weights: NDArray[np.float64]
    df: float
    loc: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def of(cls, posterior: _GridPosterior, index: int) -> _TMixture:
        scale = np.sqrt(posterior.rate / posterior.shape * posterior.cov_unscaled[:, index, index])
        return cls(posterior.weights, 2.0 * posterior.shape, posterior.mean[:, index], scale)

    def cdf(self, x: float) -> float:
        return float(np.dot(self.weights, special.stdtr(self.df, (x - self.loc) / self.scale)))

    @property
    def mean(self) -> float:
        return float(np.dot(self.weights, self.loc))

    @property
    def sd(self) -> float:
        component_var = self.scale**2 * self.df / (self.df - 2.0)
        second = float(np.dot(self.weights, component_var + self.loc**2))
        return math.sqrt(max(second - self.mean**2, 0.0))

    def quantile(self, q: float) -> float:
        low = float(np.min(self.loc - 60.0 * self.scale))
        high = float(np.max(self.loc + 60.0 * self.scale))
        return float(optimize.brentq(lambda x: self.cdf(x) - q, low, high, xtol=1e-9))


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nof1Result:
    """What a diary says about inversion for this person, and how sure that is.

    ``effect_*`` describe beta, the difference in daily pain (NRS points) on inversion days minus
    control days: negative means less pain with inversion. All effect fields are ``None`` when
    ``status`` is ``"not_enough_data"``; ``more_blocks_needed`` / ``more_days_needed`` then say what is
    missing. For ``"inconclusive"``, ``chance_conclusive`` is the predicted chance of a clear answer
    after ``additional_pairs`` more pairs (or with 12 pairs in total when ``additional_pairs`` is
    ``None`` and ``likely_to_become_conclusive`` is ``False``).
    """

    status: Status
    summary: str
    recommendation: str
    meaningful_change: float
    washout_days: int
    autocorrelation: bool
    trend: bool
    n_days_logged: int
    n_days_used: dict[Condition, int]
    blocks_completed: dict[Condition, int]
    raw_mean_pain: dict[Condition, float | None]
    effect_mean: float | None = None
    effect_sd: float | None = None
    effect_ci95: tuple[float, float] | None = None
    prob_meaningful_benefit: float | None = None
    prob_any_benefit: float | None = None
    prob_worse: float | None = None
    rho_mean: float | None = None
    trend_per_week: float | None = None
    more_blocks_needed: dict[Condition, int] | None = None
    more_days_needed: dict[Condition, int] | None = None
    additional_pairs: int | None = None
    likely_to_become_conclusive: bool | None = None
    chance_conclusive: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists, mappings are copied)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[item.name] = value
        return out


def _check_diary(diary: Sequence[DiaryEntry]) -> list[DiaryEntry]:
    if isinstance(diary, str | bytes) or not isinstance(diary, Sequence):
        raise Nof1Error("diary must be a sequence of DiaryEntry", field="diary")
    entries = list(diary)
    if not entries:
        raise Nof1Error("diary is empty", field="diary")
    for index, entry in enumerate(entries):
        if not isinstance(entry, DiaryEntry):
            raise Nof1Error(
                f"diary entry {index} must be a DiaryEntry, got {type(entry).__name__}", field="diary"
            )
        if index and entry.date <= entries[index - 1].date:
            problem = "a duplicate of" if entry.date == entries[index - 1].date else "earlier than"
            raise Nof1Error(
                f"diary entry {index} ({entry.date}) is {problem} the entry before it "
                f"({entries[index - 1].date}); one entry per day, in date order",
                field="date",
            )
    return entries


@dataclass(frozen=True)
class _Layout:
    """How the diary falls into blocks: which entries are usable, how many blocks are complete."""

    usable: list[bool]
    blocks_completed: dict[Condition, int]
    block_days: int


def _layout(
    entries: list[DiaryEntry], washout_days: int, schedule: Schedule | None, block_days: int | None
) -> _Layout:
    """Assign entries to blocks, flag washout days, and count completed blocks per condition.

    With a schedule, blocks are the planned blocks; every entry must fall inside the plan and record the
    planned condition. A block is complete once the diary reaches its last planned day. The washout
    counts from the first planned day of a stretch of blocks with the same condition (no carry-over
    between two consecutive blocks of one condition).

    Without a schedule, a switch is where the recorded condition changes; each stretch of one condition
    is cut into ``block_days`` windows from its first entry (the latest the switch can have been, so
    the washout is conservative). A window is complete once a later entry switches condition or the
    diary reaches the window's last day. Only blocks with at least one usable day count.
    """
    last = entries[-1].date
    usable: list[bool] = []
    ends: dict[tuple[int, int], dt.date] = {}
    conditions: dict[tuple[int, int], Condition] = {}
    ended_runs: set[int] = set()
    with_usable: set[tuple[int, int]] = set()
    if schedule is not None:
        length = schedule.block_days
        switches: list[dt.date] = []
        for index, block in enumerate(schedule.blocks):
            same = index > 0 and schedule.blocks[index - 1].condition == block.condition
            switches.append(switches[-1] if same else block.start)
        for entry in entries:
            if not schedule.start <= entry.date <= schedule.end:
                raise Nof1Error(
                    f"diary date {entry.date} is outside the schedule ({schedule.start} to {schedule.end})",
                    field="date",
                )
            index = (entry.date - schedule.start).days // length
            block = schedule.blocks[index]
            if entry.condition != block.condition:
                raise Nof1Error(
                    f"diary says {entry.condition} on {entry.date} but the schedule plans {block.condition}",
                    field="condition",
                )
            key = (0, index)
            ends[key], conditions[key] = block.end, block.condition
            usable.append((entry.date - switches[index]).days >= washout_days)
            if usable[-1]:
                with_usable.add(key)
    else:
        length = DEFAULT_BLOCK_DAYS if block_days is None else block_days
        run, first = 0, entries[0].date
        for position, entry in enumerate(entries):
            if position and entry.condition != entries[position - 1].condition:
                ended_runs.add(run)
                run, first = run + 1, entry.date
            offset = (entry.date - first).days
            key = (run, offset // length)
            ends[key] = first + dt.timedelta(days=(offset // length + 1) * length - 1)
            conditions[key] = entry.condition
            usable.append(offset >= washout_days)
            if usable[-1]:
                with_usable.add(key)
    counts: dict[Condition, int] = {"inversion": 0, "control": 0}
    for key in with_usable:
        if key[0] in ended_runs or last >= ends[key]:
            counts[conditions[key]] += 1
    return _Layout(usable, counts, length)


def _fmt(value: float) -> str:
    return f"{value:+.1f}".replace("-", "\u2212")


def _chance_conclusive(mean: float, sd: float, future_sd: float, mcid: float) -> float:
    """Probability that the posterior will be conclusive once its SD has shrunk to ``future_sd``.

    Normal approximation (preposterior): under the current posterior N(mean, sd^2) the future
    posterior mean is distributed N(mean, sd^2 - future_sd^2). A future posterior N(m, future_sd^2) is
    conclusive under the decision rules when m <= -mcid - z(0.8) future_sd ("benefit"), or when
    m >= min(z(0.95) future_sd, -mcid + z(0.975) future_sd) ("worse" or "no_meaningful_benefit").
    """
    benefit_edge = -mcid - float(stats.norm.ppf(BENEFIT_PROBABILITY)) * future_sd
    worse_edge = float(stats.norm.ppf(WORSE_PROBABILITY)) * future_sd
    no_benefit_edge = (
        -mcid + float(stats.norm.ppf(max(1.0 - NO_BENEFIT_PROBABILITY, 0.5 + _CI_LEVEL / 2))) * future_sd
    )
    upper_edge = min(worse_edge, no_benefit_edge)
    spread = math.sqrt(max(sd**2 - future_sd**2, 0.0))
    if spread == 0.0:
        return float(mean <= benefit_edge or mean >= upper_edge)
    return float(stats.norm.cdf((benefit_edge - mean) / spread) + stats.norm.sf((upper_edge - mean) / spread))


def analyse(
    diary: Sequence[DiaryEntry],
    *,
    meaningful_change: float = DEFAULT_MEANINGFUL_CHANGE,
    washout_days: int = DEFAULT_WASHOUT_DAYS,
    trend: bool = True,
    autocorrelation: bool = True,
    schedule: Schedule | None = None,
    block_days: int | None = None,
) -> Nof1Result:
    """Analyse a pain diary from a personal inversion experiment.

    **Model.** For the usable days t (see blocks and washout below), with day numbers d_t::

        pain_t = mu + beta * inversion_t + gamma * (d_t - mean(d)) / 7 + e_t
        e_t    = rho^k * e_{t'} + eps_t,  eps_t ~ N(0, sigma^2 (1 - rho^(2k)) / (1 - rho^2))

    where t' is the previous usable day and k = d_t - d_{t'} >= 1 (the exact stationary AR(1)
    with innovation variance sigma^2 observed on irregular days; for k = 1 it is the usual
    e_t = rho e_{t-1} + eps_t with Var eps_t = sigma^2). Diary gaps and washout days are therefore
    *missing observations of one continuing process*, not breaks of the chain: the link weakens as
    rho^k. The gamma (linear trend, points per week) term is dropped when ``trend=False``.

    **Priors** (weakly informative, conjugate given rho):
    rho uniform on :data:`RHO_GRID` (77 values, -0.95 to 0.95);
    sigma^2 ~ Inverse-Gamma(shape 1, scale 1);
    given sigma^2: mu ~ N(5, (10 sigma)^2), beta ~ N(0, (3 sigma)^2), gamma ~ N(0, (1 sigma)^2),
    independent. For each rho the data are whitened exactly (Prais-Winsten, generalised to gaps), the
    normal-inverse-gamma posterior and marginal likelihood (Jacobian included) are computed in
    closed form, and the grid is weighted by that likelihood. The marginal posterior of beta is the
    resulting mixture of Student-t distributions; its mean, SD, equal-tailed 95 % credible interval
    and tail probabilities are exact for the mixture.

    **Blocks and washout.** Pass the ``schedule`` the diary followed: blocks are then the planned
    blocks, every entry must lie inside the plan and record the planned condition, and a block counts
    as completed once the diary reaches its last planned day. Without a schedule, blocks are inferred:
    a new block starts where the recorded condition changes, and a long stretch of one condition is cut
    into ``block_days`` windows (default 7). Effects can carry over after a switch, so the first
    ``washout_days`` calendar days after each switch of condition (and at the start of the diary) are
    left out of the estimate; without a schedule they are counted from the first entry after the
    switch, which is conservative when that day was missed. Two consecutive blocks of the same
    condition need no washout between them. Raw means per condition use every logged day.

    **Decision rules** (checked in this order; P = posterior probability, mcid = ``meaningful_change``):

    - ``not_enough_data``: fewer than 2 completed blocks of either condition, or fewer than 8 usable
      days of either condition. No effect is estimated; the result says what is missing.
    - ``benefit``: P(beta < -mcid) >= 0.8.
    - ``worse``: P(beta > 0) >= 0.95 (pain credibly higher with inversion, whatever the size; for a
      possible harm, any credible increase is reported).
    - ``no_meaningful_benefit``: P(beta < -mcid) <= 0.1 and the 95 % interval lies above -mcid.
    - ``inconclusive``: anything else. The recommendation projects the posterior SD to n pairs as
      SD * sqrt(n_now / n), n_now = completed pairs (normal approximation), and the future posterior
      mean as N(mean, SD^2 - SD_n^2) (the preposterior distribution under the current posterior),
      giving the chance that the rules above would be met at n pairs. It reports the fewest extra
      pairs with a chance >= 0.5 (:data:`CONCLUSIVE_CHANCE`), up to 12 pairs in total; otherwise it
      says the experiment is unlikely to become conclusive. (Holding the mean fixed instead would
      call near-threshold results hopeless although more data usually move them.)

    ``autocorrelation=False`` fixes rho = 0 (days treated as independent). That naive analysis is
    offered only to show how much ignoring autocorrelation overstates certainty.
    """
    entries = _check_diary(diary)
    mcid = _as_float(meaningful_change, "meaningful_change", 0.0, 10.0, open_low=True)
    washout_days = _as_int(washout_days, "washout_days", 0, MAX_BLOCK_DAYS - 1)
    if not isinstance(trend, bool):
        raise Nof1Error(f"trend must be True or False, got {trend!r}", field="trend")
    if not isinstance(autocorrelation, bool):
        raise Nof1Error(
            f"autocorrelation must be True or False, got {autocorrelation!r}", field="autocorrelation"
        )
    if schedule is not None and not isinstance(schedule, Schedule):
        raise Nof1Error("schedule must be a Schedule or None", field="schedule")
    if block_days is not None:
        block_days = _as_int(block_days, "block_days", MIN_BLOCK_DAYS, MAX_BLOCK_DAYS)
        if schedule is not None and block_days != schedule.block_days:
            raise Nof1Error(
                f"block_days {block_days} contradicts the schedule's {schedule.block_days}",
                field="block_days",
            )

    layout = _layout(entries, washout_days, schedule, block_days)
    blocks, block_length, usable = layout.blocks_completed, layout.block_days, layout.usable
    used = [entry for entry, keep in zip(entries, usable, strict=True) if keep]
    n_used: dict[Condition, int] = {c: sum(e.condition == c for e in used) for c in CONDITIONS}
    raw_mean: dict[Condition, float | None] = {}
    for condition in CONDITIONS:
        scores = [e.pain_nrs for e in entries if e.condition == condition]
        raw_mean[condition] = float(np.mean(scores)) if scores else None
    common: dict[str, Any] = {
        "meaningful_change": mcid,
        "washout_days": washout_days,
        "autocorrelation": autocorrelation,
        "trend": trend,
        "n_days_logged": len(entries),
        "n_days_used": n_used,
        "blocks_completed": blocks,
        "raw_mean_pain": raw_mean,
    }

    more_blocks = {c: max(0, MIN_BLOCKS_PER_CONDITION - blocks[c]) for c in CONDITIONS}
    more_days = {c: max(0, MIN_DAYS_PER_CONDITION - n_used[c]) for c in CONDITIONS}
    if any(more_blocks.values()) or any(more_days.values()):
        return _not_enough(common, more_blocks, more_days)

    y = np.array([e.pain_nrs for e in used], dtype=np.float64)
    days = np.array([e.date.toordinal() for e in used], dtype=np.int64)
    columns = [np.ones_like(y), np.array([e.condition == "inversion" for e in used], dtype=np.float64)]
    if trend:
        columns.append((days - days.mean()) / 7.0)
    rhos = RHO_GRID if autocorrelation else np.zeros(1)
    posterior = _grid_posterior(y, np.column_stack(columns), days, rhos)
    beta = _TMixture.of(posterior, 1)

    mean, sd = beta.mean, beta.sd
    tail = (1.0 - _CI_LEVEL) / 2.0
    interval = (beta.quantile(tail), beta.quantile(1.0 - tail))
    p_meaningful = beta.cdf(-mcid)
    p_benefit = beta.cdf(0.0)
    p_worse = 1.0 - p_benefit
    status: Status
    if p_meaningful >= BENEFIT_PROBABILITY:
        status = "benefit"
    elif p_worse >= WORSE_PROBABILITY:
        status = "worse"
    elif p_meaningful <= NO_BENEFIT_PROBABILITY and interval[0] > -mcid:
        status = "no_meaningful_benefit"
    else:
        status = "inconclusive"

    additional: int | None = None
    likely: bool | None = None
    chance: float | None = None
    if status == "inconclusive":
        pairs_now = min(blocks.values())
        for total in range(pairs_now + 1, MAX_PAIRS + 1):
            chance = _chance_conclusive(mean, sd, sd * math.sqrt(pairs_now / total), mcid)
            if chance >= CONCLUSIVE_CHANCE:
                additional = total - pairs_now
                break
        likely = additional is not None

    summary, recommendation = _texts(
        status, mean, interval, p_meaningful, p_worse, mcid, additional, chance, block_length
    )
    return Nof1Result(
        status=status,
        summary=summary,
        recommendation=recommendation,
        effect_mean=mean,
        effect_sd=sd,
        effect_ci95=interval,
        prob_meaningful_benefit=p_meaningful,
        prob_any_benefit=p_benefit,
        prob_worse=p_worse,
        rho_mean=float(np.dot(posterior.weights, posterior.rhos)),
        trend_per_week=_TMixture.of(posterior, 2).mean if trend else None,
        additional_pairs=additional,
        likely_to_become_conclusive=likely,
        chance_conclusive=chance,
        **common,
    )


def _not_enough(
    common: dict[str, Any], more_blocks: dict[Condition, int], more_days: dict[Condition, int]
) -> Nof1Result:
    needs: list[str] = []
    for condition in CONDITIONS:
        parts = []
        if more_blocks[condition]:
            parts.append(f"{more_blocks[condition]} more completed {condition} block(s)")
        if more_days[condition]:
            parts.append(f"{more_days[condition]} more usable {condition} day(s)")
        needs.extend(parts)
    missing = " and ".join(needs)
    summary = (
        f"Not enough data yet to compare inversion with control: still needed {missing}. "
        "No effect is estimated until then."
    )
    recommendation = (
        f"Keep following the schedule and logging pain daily until there are at least "
        f"{MIN_BLOCKS_PER_CONDITION} completed blocks and {MIN_DAYS_PER_CONDITION} usable days of each "
        "condition (the first days of each block are set aside as washout)."
    )
    return Nof1Result(
        status="not_enough_data",
        summary=summary,
        recommendation=recommendation,
        more_blocks_needed=more_blocks,
        more_days_needed=more_days,
        **common,
    )


def _texts(
    status: Status,
    mean: float,
    interval: tuple[float, float],
    p_meaningful: float,
    p_worse: float,
    mcid: float,
    additional: int | None,
    chance: float | None,
    block_days: int,
) -> tuple[str, str]:
    direction = "lower" if mean < 0 else "higher"
    observed = (
        f"In the days analysed, pain was on average {abs(mean):.1f} points {direction} on inversion days "
        f"than on control days (95% credible interval {_fmt(interval[0])} to {_fmt(interval[1])} points)."
    )
    past = " This describes your diary so far, not what will happen in future."
    if status == "benefit":
        summary = (
            f"{observed} The probability that inversion went with at least {mcid:g} points less pain, "
            f"a meaningful difference, is {p_meaningful:.0%}.{past}"
        )
        recommendation = (
            "The result is conclusive at the thresholds used. If you continue inverting, keep logging "
            "now and then to check the difference persists, and stop if pain worsens."
        )
    elif status == "worse":
        summary = f"{observed} The probability that pain was higher with inversion is {p_worse:.0%}.{past}"
        recommendation = (
            "Pain was credibly higher during inversion blocks. Consider stopping inversion and discuss "
            "your back pain with a clinician."
        )
    elif status == "no_meaningful_benefit":
        summary = (
            f"{observed} A meaningful benefit of {mcid:g} points or more is unlikely "
            f"(probability {p_meaningful:.0%}).{past}"
        )
        recommendation = (
            "Inversion did not make a meaningful difference to your pain in this experiment; other "
            "treatments may be worth discussing with a clinician."
        )
    else:
        summary = (
            f"{observed} The data cannot yet tell whether inversion makes a meaningful difference of "
            f"{mcid:g} points or more (probability {p_meaningful:.0%}).{past}"
        )
        if additional is not None:
            days = additional * 2 * block_days
            recommendation = (
                f"Continuing for about {additional} more pair(s) of blocks (around {days} days) gives "
                f"roughly a {chance or 0.0:.0%} chance of a clear answer, if day-to-day variation stays "
                "as it has been."
            )
        else:
            recommendation = (
                f"The result is unlikely to become conclusive even with {MAX_PAIRS} pairs of blocks in "
                f"total (roughly a {chance or 0.0:.0%} chance): any difference is probably close to the "
                "meaningful threshold or small compared with day-to-day variation."
            )
    return summary, recommendation


def local_day(recorded_at: str) -> dt.date:
    """The calendar day of a stored ISO date-time in this machine's time zone (the diary's day)."""
    return dt.datetime.fromisoformat(recorded_at).astimezone().date()


def diary_from_responses(
    schedule: Schedule,
    responses: Iterable[Mapping[str, Any]],
    day_of: Callable[[str], dt.date] = local_day,
) -> list[DiaryEntry]:
    """The experiment's diary from stored daily pain (NRS) responses: the last entry of each day
    counts, unscored entries and days outside the plan are left out; oldest first."""
    by_day: dict[dt.date, int] = {}
    for r in responses:
        if r.get("score") is not None:
            by_day[day_of(str(r["recorded_at"]))] = int(r["score"])
    plan = schedule.days
    return [DiaryEntry(day, pain, plan[day]) for day, pain in sorted(by_day.items()) if day in plan]
