"""Cohort analyses: safety margins by subgroup (Wilson 95 % intervals), the largest safe angle per
subgroup from an angle sweep, and global sensitivity (Sobol' indices via SALib)."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from inversa.cohort.run import OK
from inversa.cohort.sampling import CohortSampler, SampleChunk, n_chunks
from inversa.cohort.spec import CohortSpec, Fixed

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "DEFAULT_AGE_EDGES",
    "DEFAULT_LIMITS",
    "Limit",
    "MarginReport",
    "MarginRow",
    "SafeAngle",
    "SaltelliSource",
    "SensitivityError",
    "SobolResult",
    "bp_band",
    "largest_safe_angles",
    "margin_columns",
    "safety_margins",
    "sobol_indices",
    "wilson_interval",
]

Z95 = 1.959963984540054
NOT_AVAILABLE = "output not available in this run"


def wilson_interval(
    k: NDArray[np.float64] | float, n: NDArray[np.float64] | float, z: float = Z95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval for a share k/n (NaN where n is 0); good at shares near 0 and 1."""
    k_arr = np.asarray(k, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        z2 = z * z
        denom = 1.0 + z2 / n_arr
        centre = (p + z2 / (2.0 * n_arr)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z2 / (4.0 * n_arr * n_arr)) / denom
        lo = np.where(n_arr > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        hi = np.where(n_arr > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lo, hi


# --------------------------------------------------------------------------- limits

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_LIMIT = re.compile(
    rf"^\s*(?P<column>[^\s<>=]+__(?:max|min|end|start|mean))\s*(?P<op><=|<|>=|>)\s*(?P<value>{_NUMBER})\s*$"
)
_OPS = {"<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater}


@dataclass(frozen=True)
class Limit:
    """A safe condition on one output column, e.g. ``intraocular_pressure_mmhg__max <= 30``."""

    column: str
    op: str
    value: float
    source: str = ""

    @property
    def text(self) -> str:
        return f"{self.column} {self.op} {self.value:g}"

    def safe(self, values: NDArray[np.float64]) -> NDArray[np.bool_]:
        """True where the condition holds (NaN is never safe)."""
        return np.asarray(_OPS[self.op](values, self.value), dtype=bool)

    @classmethod
    def parse(cls, text: str) -> Limit:
        """Parse ``SERIES__STAT <= VALUE`` (also <, >=, >); ValueError names the text."""
        m = _LIMIT.match(text)
        if m is None:
            raise ValueError(
                f"limit {text!r}: write it as SERIES__STAT <= VALUE, "
                "e.g. 'intraocular_pressure_mmhg__max <= 30' (stats: max, min, end, start, mean)"
            )
        return cls(m["column"], m["op"], float(m["value"]))


#: Defaults; each is an Inversa assumption for screening a cohort, not a clinical rule.
DEFAULT_LIMITS: tuple[Limit, ...] = (
    Limit(
        "intraocular_pressure_mmhg__max",
        "<=",
        30.0,
        "Inversa default: inversion roughly doubles IOP (14 -> 36 mmHg, Friberg & Weinreb 1985); "
        "30 mmHg is a common threshold for urgent treatment of ocular hypertension",
    ),
    Limit(
        "head_arterial_pressure_mmhg__max",
        "<=",
        150.0,
        "Inversa default: upper end of the classic cerebral autoregulation plateau (about 50-150 mmHg; "
        "Lassen 1959, Paulson et al. 1990)",
    ),
    Limit(
        "mean_arterial_pressure_mmhg__max",
        "<=",
        130.0,
        "Inversa default: about the mean pressure of 180/110 mmHg, the usual threshold of a hypertensive "
        "urgency",
    ),
)

DEFAULT_AGE_EDGES: tuple[float, ...] = (18.0, 40.0, 60.0)


# --------------------------------------------------------------------------- subgroups


def bp_band(systolic: NDArray[np.float64], diastolic: NDArray[np.float64] | None) -> NDArray[np.str_]:
    """Resting blood-pressure category (ACC/AHA 2017): normal, elevated, stage 1, stage 2."""
    sbp = np.asarray(systolic, dtype=float)
    dbp = np.full(sbp.shape, -np.inf) if diastolic is None else np.asarray(diastolic, dtype=float)
    out = np.full(sbp.shape, "unknown", dtype=object)
    out[(sbp < 120) & (dbp < 80)] = "normal (<120/<80)"
    out[(sbp >= 120) & (sbp < 130) & (dbp < 80)] = "elevated (120-129/<80)"
    out[((sbp >= 130) & (sbp < 140)) | ((dbp >= 80) & (dbp < 90))] = "stage 1 (130-139 or 80-89)"
    out[(sbp >= 140) | (dbp >= 90)] = "stage 2 (>=140 or >=90)"
    return np.asarray(out, dtype=str)


def _age_band(age: NDArray[np.float64], edges: Sequence[float]) -> NDArray[np.str_]:
    labels = [f"<{edges[0]:g}"]
    labels += [f"{a:g}-{b:g}" for a, b in itertools.pairwise(edges)]
    labels.append(f"{edges[-1]:g}+")
    idx = np.searchsorted(np.asarray(edges, dtype=float), np.asarray(age, dtype=float), side="right")
    return np.asarray(labels, dtype=str)[idx]


def _subgroups(
    cols: Mapping[str, NDArray[Any]], age_edges: Sequence[float]
) -> list[tuple[str, NDArray[Any]]]:
    n = len(cols["status"])
    groups: list[tuple[str, NDArray[Any]]] = [("all", np.full(n, "all"))]
    if "sex" in cols:
        groups.append(("sex", np.asarray(cols["sex"], dtype=str)))
    if "age_years" in cols:
        groups.append(("age band", _age_band(cols["age_years"], age_edges)))
    if "resting_systolic_mmhg" in cols:
        groups.append(
            ("resting BP band", bp_band(cols["resting_systolic_mmhg"], cols.get("resting_diastolic_mmhg")))
        )
    return groups


# --------------------------------------------------------------------------- margins


@dataclass(frozen=True)
class MarginRow:
    """Share of a subgroup outside one limit ('any' = outside at least one), with its 95 % CI."""

    scenario: str
    angle_deg: float | None
    group: str
    subgroup: str
    limit: str
    n: int
    n_excluded: int
    n_exceed: int
    share: float
    ci_low: float
    ci_high: float


@dataclass
class MarginReport:
    """All margin rows, the limits used and those whose output the run does not have."""

    rows: list[MarginRow]
    limits: list[Limit]
    unavailable: list[Limit] = field(default_factory=list)

    def notes(self) -> list[str]:
        """One line per limit that could not be checked."""
        return [f"{lim.text}: {NOT_AVAILABLE}" for lim in self.unavailable]

    def as_dict(self) -> dict[str, Any]:
        return {
            "limits": [{"limit": lim.text, "source": lim.source} for lim in self.limits],
            "unavailable": [{"limit": lim.text, "note": NOT_AVAILABLE} for lim in self.unavailable],
            "rows": [asdict(r) for r in self.rows],
        }


def margin_columns(limits: Sequence[Limit]) -> list[str]:
    """Columns a margins analysis reads from the results."""
    base = [
        "scenario",
        "angle_deg",
        "status",
        "sex",
        "age_years",
        "resting_systolic_mmhg",
        "resting_diastolic_mmhg",
    ]
    return list(dict.fromkeys([*base, *(lim.column for lim in limits)]))


def _columns(table: pa.Table | Mapping[str, Any]) -> dict[str, NDArray[Any]]:
    if isinstance(table, Mapping):
        return {k: np.asarray(v) for k, v in table.items()}
    out: dict[str, NDArray[Any]] = {}
    for name in table.column_names:
        col = table.column(name)
        import pyarrow as pa

        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            out[name] = col.to_numpy(zero_copy_only=False).astype(float)
        else:
            out[name] = np.asarray(col.to_pylist(), dtype=object)
    return out


def safety_margins(
    table: pa.Table | Mapping[str, Any],
    limits: Sequence[Limit] = DEFAULT_LIMITS,
    age_edges: Sequence[float] = DEFAULT_AGE_EDGES,
) -> MarginReport:
    """Per scenario and subgroup (all, sex, age band, resting BP band): how many evaluable people
    exceed each limit and any limit, with Wilson 95 % intervals. People whose status is not 'ok'
    are left out of the denominators (counted in ``n_excluded``)."""
    cols = _columns(table)
    available = [lim for lim in limits if lim.column in cols]
    unavailable = [lim for lim in limits if lim.column not in cols]
    status = np.asarray(cols["status"], dtype=object)
    scen = np.asarray(cols.get("scenario", np.full(len(status), "protocol")), dtype=object)
    angle = np.asarray(cols.get("angle_deg", np.full(len(status), np.nan)), dtype=float)
    ok = status == OK
    groups = _subgroups(cols, age_edges)
    checks: list[tuple[str, NDArray[np.bool_], NDArray[np.bool_]]] = []  # (label, evaluable, unsafe)
    any_valid = ok.copy()
    any_unsafe = np.zeros(len(status), dtype=bool)
    for lim in available:
        values = np.asarray(cols[lim.column], dtype=float)
        valid = ok & np.isfinite(values)
        unsafe = valid & ~lim.safe(values)
        checks.append((lim.text, valid, unsafe))
        any_valid &= np.isfinite(values)
        any_unsafe |= unsafe
    if available:
        checks.insert(0, ("any", any_valid, any_unsafe & any_valid))
    rows: list[MarginRow] = []
    for label in dict.fromkeys(scen.tolist()):
        in_s = scen == label
        a = angle[in_s]
        a_val = float(a[0]) if a.size and np.isfinite(a[0]) else None
        for group, values in groups:
            for sub in sorted(set(values[in_s].tolist())):
                mask = in_s & (values == sub)
                for lim_text, valid, unsafe in checks:
                    n = int(np.sum(mask & valid))
                    k = int(np.sum(mask & unsafe))
                    lo, hi = wilson_interval(k, n)
                    rows.append(
                        MarginRow(
                            scenario=str(label),
                            angle_deg=a_val,
                            group=group,
                            subgroup=str(sub),
                            limit=lim_text,
                            n=n,
                            n_excluded=int(np.sum(mask)) - n,
                            n_exceed=k,
                            share=k / n if n else math.nan,
                            ci_low=float(lo),
                            ci_high=float(hi),
                        )
                    )
    return MarginReport(rows, list(limits), unavailable)


@dataclass(frozen=True)
class SafeAngle:
    """The largest swept angle at which a subgroup stays within the limits."""

    group: str
    subgroup: str
    angle_deg: float | None
    basis: str
    note: str = ""


def largest_safe_angles(
    report: MarginReport, max_share: float = 0.05, conservative: bool = True
) -> list[SafeAngle]:
    """Per subgroup: the largest angle such that at it and every smaller swept angle the share of
    people outside any limit is at most ``max_share`` (by the upper 95 % bound when conservative)."""
    basis = f"{'upper 95% bound' if conservative else 'point estimate'} of share <= {max_share:g}"
    if not report.rows or all(r.limit != "any" for r in report.rows):
        return []
    by: dict[tuple[str, str], list[MarginRow]] = {}
    for r in report.rows:
        if r.limit == "any" and r.angle_deg is not None:
            by.setdefault((r.group, r.subgroup), []).append(r)
    out: list[SafeAngle] = []
    for (group, sub), rows in by.items():
        rows.sort(key=lambda r: float(r.angle_deg or 0.0))
        best: float | None = None
        note = ""
        for r in rows:
            value = r.ci_high if conservative else r.share
            if r.n == 0 or not np.isfinite(value):
                note = f"no evaluable people at {r.angle_deg:g} deg"
                break
            if value > max_share:
                what = "upper 95% bound" if conservative else "share"
                where = "the smallest angle tried" if best is None else "the next angle"
                note = f"{what} {value:.1%} > {max_share:.1%} at {r.angle_deg:g} deg, {where} (n = {r.n})"
                break
            best = r.angle_deg
        else:
            note = "safe at every angle tried"
        out.append(SafeAngle(group, sub, best, basis, note))
    return out


# --------------------------------------------------------------------------- sensitivity


class SensitivityError(ValueError):
    """Bad sensitivity settings; the message names the option."""


class SaltelliSource:
    """A Saltelli/Sobol' design over chosen spec variables, as a sample source for ``run_source``.

    Chosen variables vary independently over their marginals (Sobol' indices assume independent
    inputs, so the spec's correlations are not applied); all others are held at their median (for a
    categorical, the category at cumulative probability 0.5).
    """

    def __init__(
        self,
        spec: CohortSpec,
        variables: Sequence[str],
        n_base: int,
        seed: int,
        chunk_size: int | None = None,
    ) -> None:
        from SALib.sample import sobol as sobol_sample

        if n_base < 2 or n_base & (n_base - 1):
            raise SensitivityError(f"--n: must be a power of 2 (Sobol' balance), e.g. 256; got {n_base}")
        sampler = CohortSampler(spec)
        for name in variables:
            if name not in spec.variables:
                raise SensitivityError(f"--variable: {name!r} is not a variable of the spec")
            if isinstance(spec.marginal(name), Fixed):
                raise SensitivityError(f"--variable: {name!r} is fixed in the spec")
        if not variables:
            raise SensitivityError("--variable: no free variable to vary")
        if len(set(variables)) != len(variables):
            raise SensitivityError("--variable: each variable once")
        self.sampler = sampler
        self._variables = tuple(variables)
        self.n_base = n_base
        self.seed = seed
        self.problem: dict[str, Any] = {
            "num_vars": len(variables),
            "names": list(variables),
            "bounds": [[0.0, 1.0]] * len(variables),
        }
        self.unit = np.asarray(
            sobol_sample.sample(self.problem, n_base, calc_second_order=False, seed=seed), dtype=float
        )
        self._chunk = chunk_size or spec.sampling.chunk_size
        self._cols = [sampler.free.index(v) for v in variables]

    @property
    def n_rows(self) -> int:
        return int(self.unit.shape[0])

    @property
    def chunk_size(self) -> int:
        return self._chunk

    @property
    def variables(self) -> tuple[str, ...]:
        return self.sampler.variables

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "sensitivity",
            "design": "saltelli (SALib sobol.sample, first and total order)",
            "variables": list(self._variables),
            "n_base": self.n_base,
            "seed": self.seed,
            "chunk_size": self._chunk,
        }

    def iter_chunks(self, skip: Collection[int] = ()) -> Iterator[SampleChunk]:
        for k in range(n_chunks(self.n_rows, self._chunk)):
            if k in skip:
                continue
            start, stop = k * self._chunk, min((k + 1) * self._chunk, self.n_rows)
            u = np.full((stop - start, len(self.sampler.free)), 0.5)
            u[:, self._cols] = self.unit[start:stop]
            yield SampleChunk(
                k, np.arange(start, stop, dtype=np.int64), self.sampler.values(u, correlate=False)
            )


@dataclass(frozen=True)
class SobolResult:
    """First-order and total Sobol' indices of one output, each with its 95 % half-width."""

    output: str
    available: bool
    note: str = ""
    s1: dict[str, float] = field(default_factory=dict)
    s1_conf: dict[str, float] = field(default_factory=dict)
    st: dict[str, float] = field(default_factory=dict)
    st_conf: dict[str, float] = field(default_factory=dict)


def sobol_indices(
    table: pa.Table | Mapping[str, Any],
    variables: Sequence[str],
    outputs: Sequence[str],
    *,
    seed: int = 0,
    num_resamples: int = 200,
) -> list[SobolResult]:
    """Sobol' indices (SALib ``sobol.analyze``) of each output over ``variables``, from evaluations
    in Saltelli order (``person_id`` 0..N-1). An output with failed evaluations gets a note instead."""
    from SALib.analyze import sobol as sobol_analyze

    cols = _columns(table)
    order = np.argsort(np.asarray(cols["person_id"], dtype=float), kind="stable")
    problem = {"num_vars": len(variables), "names": list(variables), "bounds": [[0.0, 1.0]] * len(variables)}
    results: list[SobolResult] = []
    for out in outputs:
        if out not in cols:
            results.append(SobolResult(out, False, NOT_AVAILABLE))
            continue
        y = np.asarray(cols[out], dtype=float)[order]
        bad = int(np.sum(~np.isfinite(y)))
        if bad:
            results.append(
                SobolResult(
                    out, False, f"{bad} of {y.size} evaluations failed: Sobol' indices need every one"
                )
            )
            continue
        if np.ptp(y) == 0.0:
            results.append(SobolResult(out, False, "constant output: no variance to apportion"))
            continue
        res = sobol_analyze.analyze(
            problem, y, calc_second_order=False, num_resamples=num_resamples, conf_level=0.95, seed=seed
        )

        def named(key: str, res: Any = res) -> dict[str, float]:
            return {v: float(x) for v, x in zip(variables, res[key], strict=True)}

        results.append(
            SobolResult(out, True, "", named("S1"), named("S1_conf"), named("ST"), named("ST_conf"))
        )
    return results
