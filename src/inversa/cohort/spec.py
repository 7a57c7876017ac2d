"""Cohort specifications: who is in a virtual cohort and how the engine's uncertain parameters vary.

A spec (YAML or JSON) gives each person variable and each model parameter a marginal distribution,
optionally a Gaussian-copula correlation matrix over named variables, and the sampling, simulation and
output settings. Validation happens in two layers: pydantic checks the structure (unknown keys, bad
numbers), then ``validate_spec`` checks names and cross-references against a ``Catalog`` of what the
engine knows (Person fields, parameter sets), so every error names the field it is about.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from inversa.body import LEVELS

__all__ = [
    "COVARIATES",
    "DEFAULT_SPEC_DATA",
    "Catalog",
    "Categorical",
    "CohortSpec",
    "Conditional",
    "Correlation",
    "Fixed",
    "LogNormal",
    "Marginal",
    "Normal",
    "OutputSettings",
    "ParameterInfo",
    "ParameterRange",
    "SamplingSettings",
    "SimulationSettings",
    "SpecError",
    "TruncNormal",
    "Uniform",
    "default_spec",
    "default_spec_data",
    "engine_catalog",
    "load_spec",
    "spec_hash",
    "spec_to_yaml",
    "validate_spec",
]


class SpecError(ValueError):
    """An invalid cohort spec; ``field`` is the dotted path of the offending entry."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.detail = message


# --------------------------------------------------------------------------- distributions

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Dist(BaseModel):
    """Fields every distribution shares: where its numbers come from, and a free note."""

    model_config = _STRICT

    source: str | None = None
    note: str | None = None


def _check_bounds(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and not low < high:
        raise ValueError(f"low ({low:g}) must be below high ({high:g})")


class Normal(_Dist):
    """Normal distribution, no bounds."""

    dist: Literal["normal"]
    mean: float
    sd: float = Field(gt=0)


class TruncNormal(_Dist):
    """Normal distribution truncated to [low, high] (sampled by inverse CDF, never by rejection)."""

    dist: Literal["truncnormal"]
    mean: float
    sd: float = Field(gt=0)
    low: float
    high: float

    @model_validator(mode="after")
    def _bounds(self) -> TruncNormal:
        _check_bounds(self.low, self.high)
        return self


class LogNormal(_Dist):
    """Lognormal distribution given by its mean and SD on the natural scale, optionally truncated."""

    dist: Literal["lognormal"]
    mean: float = Field(gt=0)
    sd: float = Field(gt=0)
    low: float | None = Field(default=None, ge=0)
    high: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> LogNormal:
        _check_bounds(self.low, self.high)
        return self

    @property
    def log_params(self) -> tuple[float, float]:
        """(mu, sigma) of the underlying normal."""
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        return math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)


class Uniform(_Dist):
    """Uniform distribution on [low, high]."""

    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _bounds(self) -> Uniform:
        _check_bounds(self.low, self.high)
        return self


class Categorical(_Dist):
    """Categories with probabilities (they must sum to 1), e.g. sex."""

    dist: Literal["categorical"]
    probabilities: dict[str, float]

    @field_validator("probabilities")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("at least one category is needed")
        for key, p in value.items():
            if not 0.0 < p <= 1.0:
                raise ValueError(f"probability of {key!r} must be in (0, 1], got {p:g}")
        total = sum(value.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1, got {total:g}")
        return value

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.probabilities)


class Fixed(_Dist):
    """One value for everybody (a number, or a category)."""

    dist: Literal["fixed"]
    value: float | str


class ParameterRange(_Dist):
    """Uniform over the [low, high] range documented in the parameter's own data file.

    Resolved into a ``Uniform`` (with the parameter's source) by ``validate_spec``.
    """

    dist: Literal["parameter_range"]


_TAGS = ("normal", "truncnormal", "lognormal", "uniform", "categorical", "fixed", "parameter_range")


def _dist_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "by" in value or "cases" in value:
            return "conditional"
        tag = value.get("dist")
        return tag if isinstance(tag, str) else None
    if isinstance(value, Conditional):
        return "conditional"
    tag = getattr(value, "dist", None)
    return tag if isinstance(tag, str) else None


_DIST_HELP = f"give 'dist' (one of {', '.join(_TAGS)}) or 'by' and 'cases'"

Distribution = Annotated[
    Annotated[Normal, Tag("normal")]
    | Annotated[TruncNormal, Tag("truncnormal")]
    | Annotated[LogNormal, Tag("lognormal")]
    | Annotated[Uniform, Tag("uniform")]
    | Annotated[Categorical, Tag("categorical")]
    | Annotated[Fixed, Tag("fixed")]
    | Annotated[ParameterRange, Tag("parameter_range")],
    Discriminator(_dist_tag, custom_error_type="distribution", custom_error_message=_DIST_HELP),
]


class Conditional(BaseModel):
    """A distribution that depends on a categorical variable, e.g. height by sex."""

    model_config = _STRICT

    by: str
    cases: dict[str, Distribution]
    source: str | None = None
    note: str | None = None


Marginal = Annotated[
    Annotated[Conditional, Tag("conditional")]
    | Annotated[Normal, Tag("normal")]
    | Annotated[TruncNormal, Tag("truncnormal")]
    | Annotated[LogNormal, Tag("lognormal")]
    | Annotated[Uniform, Tag("uniform")]
    | Annotated[Categorical, Tag("categorical")]
    | Annotated[Fixed, Tag("fixed")]
    | Annotated[ParameterRange, Tag("parameter_range")],
    Discriminator(_dist_tag, custom_error_type="distribution", custom_error_message=_DIST_HELP),
]


# --------------------------------------------------------------------------- settings


class SamplingSettings(BaseModel):
    """How the unit hypercube is filled: scrambled Sobol' or Latin hypercube, seed, size, chunking."""

    model_config = _STRICT

    method: Literal["sobol", "lhs"] = "sobol"
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    size: int = Field(default=1024, ge=1, le=100_000_000)
    chunk_size: int = Field(default=256, ge=1, le=65_536)


class SimulationSettings(BaseModel):
    """Numerical settings passed to ``simulate`` (they change results, so they live in the spec)."""

    model_config = _STRICT

    dt_s: float = Field(default=0.25, ge=0.01, le=1.0)
    record_interval_s: float = Field(default=1.0, gt=0)
    method: Literal["compiled", "numpy"] = "compiled"
    #: the circulation variant: "averaged" (fast, beat-averaged; held within 5 % of the pulsatile
    #: model's steady states, docs/circulation-fast.md) or "pulsatile" (the reference, ~50x slower)
    circulation_model: Literal["averaged", "pulsatile"] = "averaged"
    #: further keyword arguments of ``simulate`` by name, e.g. {"circulation": false}
    options: dict[str, bool | int | float | str] = Field(default_factory=dict)


Stat = Literal["max", "min", "end", "start", "mean"]
_DEFAULT_STATS: tuple[Stat, ...] = ("max", "min", "end")


class OutputSettings(BaseModel):
    """Which series to reduce to per-person columns, by which statistics, at which disc levels."""

    model_config = _STRICT

    series: list[str] | None = None
    stats: list[Stat] = Field(default_factory=lambda: list(_DEFAULT_STATS), min_length=1)
    levels: list[str] = Field(default_factory=lambda: ["L4-L5"], min_length=1)

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[str]) -> list[str]:
        for lvl in value:
            if lvl not in LEVELS:
                raise ValueError(f"unknown level {lvl!r}; levels are {', '.join(LEVELS)}")
        return value


class Correlation(BaseModel):
    """A correlation matrix (of the copula's normal scores) over named spec variables."""

    model_config = _STRICT

    variables: list[str] = Field(min_length=2)
    matrix: list[list[float]]


class CohortSpec(BaseModel):
    """A whole cohort spec. Use ``validate_spec``/``load_spec``: they also check names."""

    model_config = _STRICT

    version: Literal[1] = 1
    name: str = "cohort"
    description: str = ""
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    person: dict[str, Marginal]
    parameters: dict[str, Marginal] = Field(default_factory=dict)
    correlation: Correlation | None = None
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    outputs: OutputSettings = Field(default_factory=OutputSettings)

    def marginal(self, name: str) -> Marginal:
        """The marginal of a person variable or parameter."""
        if name in self.person:
            return self.person[name]
        return self.parameters[name]

    @property
    def variables(self) -> list[str]:
        """All variable names in sampling order: person variables, then parameters."""
        return [*self.person, *self.parameters]


# --------------------------------------------------------------------------- catalog

#: Person-level quantities a cohort may sample even when ``Person`` does not (yet) take them: they
#: are stored with the results (for subgroups such as resting blood-pressure band) and passed to
#: Person automatically once it gains a field of the same name.
COVARIATES: tuple[str, ...] = (
    "resting_systolic_mmhg",
    "resting_diastolic_mmhg",
    "resting_heart_rate_bpm",
    "resting_iop_mmhg",
)


@dataclass(frozen=True)
class ParameterInfo:
    """One model parameter as the parameter sets describe it."""

    name: str
    set_name: str
    value: float
    low: float | None
    high: float | None
    unit: str
    source: str


@dataclass(frozen=True)
class Catalog:
    """What an evaluator understands: person fields, covariates and parameters.

    ``parameters`` None accepts any parameter name. ``accepts_overrides`` (optional) is asked which
    of the named parameters the evaluator rejects as per-person overrides.
    """

    person_fields: tuple[str, ...]
    required_person_fields: tuple[str, ...] = ()
    covariates: tuple[str, ...] = COVARIATES
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    numeric_fields: tuple[str, ...] = ()
    parameters: Mapping[str, ParameterInfo] | None = None
    rejected_overrides: Callable[[Sequence[str]], list[str]] | None = None
    simulation_options: tuple[str, ...] | None = None

    @property
    def person_variables(self) -> tuple[str, ...]:
        """Names allowed in the spec's person section."""
        return (*self.person_fields, *(c for c in self.covariates if c not in self.person_fields))


def _enum_values(annotation: Any) -> tuple[str, ...] | None:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(str(m.value) for m in annotation)
    return None


def _engine_rejected_overrides(names: Sequence[str]) -> list[str]:
    """Ask the engine which parameter names it refuses as per-person overrides.

    ``Simulation`` checks override names when it is built, before anything runs, so this is cheap.
    """
    from inversa.body import Person
    from inversa.protocol import Protocol
    from inversa.simulation import Simulation

    person = Person.create(sex="female", age_years=40.0, height_cm=165.0, mass_kg=65.0)
    protocol = Protocol.parse("lie flat for 1 s")

    def ok(subset: Sequence[str]) -> bool:
        try:
            Simulation(people=(person,), protocol=protocol, overrides=dict.fromkeys(subset, 1.0))
        except ValueError:
            return False
        return True

    if not names or ok(names):
        return []
    return [n for n in names if not ok([n])]


def _parameter_catalog() -> dict[str, ParameterInfo]:
    from inversa.parameters import available_parameter_sets, load_parameter_set

    out: dict[str, ParameterInfo] = {}
    for set_name in available_parameter_sets():
        pset = load_parameter_set(set_name)
        for key, p in pset.parameters.items():
            out.setdefault(
                key,
                ParameterInfo(
                    key, set_name, p.value, p.low, p.high, p.unit, pset.sources.get(p.source, p.source)
                ),
            )
    return out


#: ``simulate`` arguments the cohort runner sets itself (not allowed in simulation.options).
_SET_BY_COHORT = frozenset(
    {"overrides", "dt_s", "record_interval_s", "method", "chunk_size", "on_error", "circulation_model"}
)


def engine_catalog() -> Catalog:
    """The real engine's catalog: Person's fields (read from the model, so new fields count at once)
    and every parameter of every shipped parameter set."""
    import inspect

    from inversa.body import Person
    from inversa.simulation import simulate

    fields = Person.model_fields
    options = tuple(
        name
        for name, p in inspect.signature(simulate).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in _SET_BY_COHORT
    )
    categories: dict[str, tuple[str, ...]] = {}
    numeric: list[str] = []
    for name, info in fields.items():
        values = _enum_values(info.annotation)
        if values is not None:
            categories[name] = values
        elif info.annotation in (float, int, float | None, int | None):
            numeric.append(name)
    return Catalog(
        person_fields=tuple(fields),
        required_person_fields=tuple(n for n, f in fields.items() if f.is_required()),
        categories=categories,
        numeric_fields=(*numeric, *COVARIATES),
        parameters=_parameter_catalog(),
        rejected_overrides=_engine_rejected_overrides,
        simulation_options=options,
    )


# --------------------------------------------------------------------------- defaults

_SRC_NHANES_ANTHRO = (
    "Fryar CD, Carroll MD, Gu Q, Afful J, Ogden CL. Anthropometric reference data for children and "
    "adults: United States, 2015-2018. NCHS Vital Health Stat 3(46), 2021 (means; SDs approximated "
    "from the reported percentiles)"
)
_SRC_BP = (
    "Wright JD, Hughes JP, Ostchega Y, Yoon SS, Nwankwo T. Mean systolic and diastolic blood pressure in "
    "adults aged 18 and over in the United States, 2001-2008. NCHS National Health Statistics Reports 35, "
    "2011 (means; SDs approximate)"
)
_SRC_HR = (
    "Ostchega Y, Porter KS, Hughes J, Dillon CF, Nwankwo T. Resting pulse rate reference data for "
    "children, adolescents, and adults: United States, 1999-2008. NCHS National Health Statistics "
    "Reports 41, 2011 (approximate summary)"
)
_SRC_IOP = (
    "Colton T, Ederer F. The distribution of intraocular pressures in the general population. "
    "Surv Ophthalmol 1980;25:123-129 (mean about 15.5, SD about 2.6 mmHg)"
)
_SRC_TABLE = (
    "Inversion-table size limits 142-198 cm and 136 kg (Inversa product reference, table makers' manuals)"
)

#: Person and parameter defaults for an adult cohort; see docs/cohorts.md for what is approximate.
DEFAULT_SPEC_DATA: dict[str, Any] = {
    "version": 1,
    "name": "adults-default",
    "description": "Adults 18-85 on a common inversion table: US survey summaries, approximate.",
    "sampling": {"method": "sobol", "seed": 20261125, "size": 1024, "chunk_size": 256},
    "person": {
        "sex": {
            "dist": "categorical",
            "probabilities": {"male": 0.49, "female": 0.51},
            "source": "US Census 2020, adults (approximate)",
        },
        "age_years": {
            "dist": "truncnormal",
            "mean": 47.0,
            "sd": 17.0,
            "low": 18.0,
            "high": 85.0,
            "source": "approximation of the US adult age structure (Census 2020); not a fit",
        },
        "height_cm": {
            "by": "sex",
            "cases": {
                "male": {"dist": "truncnormal", "mean": 175.4, "sd": 7.5, "low": 142.0, "high": 198.0},
                "female": {"dist": "truncnormal", "mean": 161.7, "sd": 7.0, "low": 142.0, "high": 198.0},
            },
            "source": _SRC_NHANES_ANTHRO,
            "note": _SRC_TABLE,
        },
        "mass_kg": {
            "by": "sex",
            "cases": {
                "male": {"dist": "lognormal", "mean": 90.6, "sd": 21.0, "low": 40.0, "high": 136.0},
                "female": {"dist": "lognormal", "mean": 77.5, "sd": 21.0, "low": 40.0, "high": 136.0},
            },
            "source": _SRC_NHANES_ANTHRO,
            "note": _SRC_TABLE,
        },
        "hours_upright_h": {
            "dist": "uniform",
            "low": 1.0,
            "high": 14.0,
            "source": "Inversa assumption: sessions at any time of a waking day",
        },
        "resting_systolic_mmhg": {
            "dist": "truncnormal",
            "mean": 122.0,
            "sd": 17.0,
            "low": 85.0,
            "high": 200.0,
            "source": _SRC_BP,
        },
        "resting_diastolic_mmhg": {
            "dist": "truncnormal",
            "mean": 71.0,
            "sd": 11.0,
            "low": 45.0,
            "high": 120.0,
            "source": _SRC_BP,
        },
        "resting_heart_rate_bpm": {
            "by": "sex",
            "cases": {
                "male": {"dist": "truncnormal", "mean": 70.0, "sd": 11.0, "low": 40.0, "high": 120.0},
                "female": {"dist": "truncnormal", "mean": 74.0, "sd": 11.0, "low": 40.0, "high": 120.0},
            },
            "source": _SRC_HR,
        },
        "resting_iop_mmhg": {
            "dist": "truncnormal",
            "mean": 15.5,
            "sd": 2.6,
            "low": 8.0,
            "high": 30.0,
            "source": _SRC_IOP,
        },
    },
    "parameters": {
        name: {"dist": "parameter_range"}
        for name in (
            "bed_friction_coefficient",
            "compressive_modulus_mpa",
            "tensile_modulus_mpa",
            "creep_slow_share",
            "pressure_tension_factor",
            "mvc_compression_n",
            "guarding_gain_pct_mvc",
            "inversion_emg_change_fraction",
            "stress_relaxation_max_fraction",
        )
    },
    "correlation": {
        "variables": [
            "age_years",
            "height_cm",
            "mass_kg",
            "resting_systolic_mmhg",
            "resting_diastolic_mmhg",
            "resting_heart_rate_bpm",
            "resting_iop_mmhg",
        ],
        # Normal-score correlations within sex; approximations of survey-level associations
        # (systolic pressure rises with age and mass, height and mass go together), not fits.
        "matrix": [
            [1.00, -0.10, 0.05, 0.45, 0.05, -0.05, 0.10],
            [-0.10, 1.00, 0.45, 0.00, 0.00, -0.05, 0.00],
            [0.05, 0.45, 1.00, 0.20, 0.20, 0.05, 0.05],
            [0.45, 0.00, 0.20, 1.00, 0.65, 0.10, 0.15],
            [0.05, 0.00, 0.20, 0.65, 1.00, 0.15, 0.10],
            [-0.05, -0.05, 0.05, 0.10, 0.15, 1.00, 0.00],
            [0.10, 0.00, 0.05, 0.15, 0.10, 0.00, 1.00],
        ],
    },
}


def _is_reflex_gain(name: str) -> bool:
    """Baroreflex gains join the default spec automatically: the circulation set names them
    ``*gain*per_mmhg`` (a response per mmHg of pressure error); ``baroreflex`` names count too."""
    return "baroreflex" in name or ("gain" in name and name.endswith("per_mmhg"))


def default_spec_data(catalog: Catalog | None = None) -> dict[str, Any]:
    """The default spec as plain data, plus the engine's ranged baroreflex gains (if it has any)."""
    catalog = catalog if catalog is not None else engine_catalog()
    data: dict[str, Any] = json.loads(json.dumps(DEFAULT_SPEC_DATA))
    params: dict[str, Any] = data["parameters"]
    if catalog.parameters is not None:
        extra = [
            p.name
            for p in catalog.parameters.values()
            if _is_reflex_gain(p.name) and p.low is not None and p.high is not None
        ]
        rejected = set(catalog.rejected_overrides(extra)) if extra and catalog.rejected_overrides else set()
        for name in extra:
            if name not in rejected:
                params.setdefault(name, {"dist": "parameter_range"})
        for name in list(params):
            if name not in catalog.parameters:
                del params[name]
    return data


def default_spec(catalog: Catalog | None = None) -> CohortSpec:
    """The validated default spec."""
    catalog = catalog if catalog is not None else engine_catalog()
    return validate_spec(default_spec_data(catalog), catalog)


# --------------------------------------------------------------------------- validation


def _format_pydantic(exc: ValidationError) -> SpecError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if str(p) not in (*_TAGS, "conditional")]
    path = ""
    for part in loc:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key missing"
    elif err["type"] == "distribution" and isinstance(err.get("input"), dict) and "dist" in err["input"]:
        msg = f"unknown dist {err['input']['dist']!r}; {_DIST_HELP}"
    return SpecError(path or "spec", msg)


def _numeric(m: Marginal) -> bool:
    if isinstance(m, Categorical):
        return False
    if isinstance(m, Fixed):
        return not isinstance(m.value, str)
    if isinstance(m, Conditional):
        return all(_numeric(c) for c in m.cases.values())
    return True


def _resolve_range(name: str, where: str, info: ParameterInfo | None) -> Uniform:
    if info is None:
        raise SpecError(where, "parameter_range needs a known parameter")
    if info.low is None or info.high is None or not info.low < info.high:
        raise SpecError(where, f"parameter set {info.set_name!r} documents no [low, high] range for {name!r}")
    return Uniform(
        dist="uniform",
        low=info.low,
        high=info.high,
        source=f"documented range in parameter set {info.set_name!r}; {info.source}",
    )


def _check_names(spec: CohortSpec, catalog: Catalog) -> CohortSpec:
    allowed = catalog.person_variables
    for name, m in spec.person.items():
        where = f"person.{name}"
        if name not in allowed:
            raise SpecError(
                where,
                f"unknown person variable; known: {', '.join(allowed)}",
            )
        if isinstance(m, ParameterRange) or (
            isinstance(m, Conditional) and any(isinstance(c, ParameterRange) for c in m.cases.values())
        ):
            raise SpecError(where, "parameter_range is only for the parameters section")
        if name in catalog.categories:
            cats = catalog.categories[name]
            values: list[str] = []
            if isinstance(m, Categorical):
                values = list(m.categories)
            elif isinstance(m, Fixed):
                values = [str(m.value)]
            else:
                raise SpecError(where, f"needs a categorical or fixed distribution over {', '.join(cats)}")
            for v in values:
                if v not in cats:
                    raise SpecError(where, f"{v!r} is not one of {', '.join(cats)}")
        elif name in catalog.numeric_fields and not _numeric(m):
            raise SpecError(where, "is numeric: a categorical distribution cannot be used")
    for name in catalog.required_person_fields:
        if name not in spec.person:
            raise SpecError(f"person.{name}", "required by Person: give it a distribution")
    params = dict(spec.parameters)
    for name, m in spec.parameters.items():
        where = f"parameters.{name}"
        if name in spec.person:
            raise SpecError(where, "is also a person variable")
        if catalog.parameters is not None and name not in catalog.parameters:
            raise SpecError(where, "unknown parameter; `inversa parameters` lists them all")
        if not _numeric(m):
            raise SpecError(where, "parameters are numbers: categorical distributions are not allowed")
        info = None if catalog.parameters is None else catalog.parameters.get(name)
        if isinstance(m, ParameterRange):
            params[name] = _resolve_range(name, where, info)
        elif isinstance(m, Conditional):
            cases = {
                k: _resolve_range(name, f"{where}.cases.{k}", info) if isinstance(c, ParameterRange) else c
                for k, c in m.cases.items()
            }
            params[name] = m.model_copy(update={"cases": cases})
    if catalog.rejected_overrides is not None and params:
        rejected = catalog.rejected_overrides(list(params))
        if rejected:
            raise SpecError(
                f"parameters.{rejected[0]}",
                "the engine does not accept this parameter as a per-person override",
            )
    if catalog.simulation_options is not None:
        for name in spec.simulation.options:
            if name not in catalog.simulation_options:
                known = ", ".join(catalog.simulation_options) or "none"
                raise SpecError(
                    f"simulation.options.{name}", f"simulate() has no such option; options: {known}"
                )
    return spec.model_copy(update={"parameters": params})


def _check_structure(spec: CohortSpec) -> None:
    every: dict[str, Marginal] = {**spec.person, **spec.parameters}
    section = {**dict.fromkeys(spec.person, "person"), **dict.fromkeys(spec.parameters, "parameters")}
    for name, m in every.items():
        if not isinstance(m, Conditional):
            continue
        where = f"{section[name]}.{name}"
        by = every.get(m.by)
        if not isinstance(by, Categorical):
            raise SpecError(f"{where}.by", f"{m.by!r} is not a categorical variable of this spec")
        missing = [c for c in by.categories if c not in m.cases]
        unknown = [c for c in m.cases if c not in by.categories]
        if missing:
            raise SpecError(f"{where}.cases", f"missing case(s) {', '.join(map(repr, missing))}")
        if unknown:
            raise SpecError(f"{where}.cases", f"unknown case(s) {', '.join(map(repr, unknown))}")
        for case, c in m.cases.items():
            if isinstance(c, Categorical) or (isinstance(c, Fixed) and isinstance(c.value, str)):
                raise SpecError(f"{where}.cases.{case}", "a conditional case must be numeric")
    corr = spec.correlation
    if corr is None:
        return
    seen: set[str] = set()
    for i, name in enumerate(corr.variables):
        where = f"correlation.variables[{i}]"
        if name not in every:
            raise SpecError(where, f"{name!r} is not a variable of this spec")
        if isinstance(every[name], Fixed):
            raise SpecError(where, f"{name!r} is fixed: a fixed variable cannot be correlated")
        if name in seen:
            raise SpecError(where, f"{name!r} is listed twice")
        seen.add(name)
    k = len(corr.variables)
    if len(corr.matrix) != k or any(len(row) != k for row in corr.matrix):
        raise SpecError("correlation.matrix", f"must be {k} x {k}, one row and column per variable")
    mat = np.asarray(corr.matrix, dtype=float)
    for i in range(k):
        if mat[i, i] != 1.0:
            raise SpecError(f"correlation.matrix[{i}][{i}]", "the diagonal must be 1")
        for j in range(i + 1, k):
            if mat[i, j] != mat[j, i]:
                raise SpecError(f"correlation.matrix[{j}][{i}]", f"must equal matrix[{i}][{j}] (symmetric)")
            if not -1.0 < mat[i, j] < 1.0:
                raise SpecError(f"correlation.matrix[{i}][{j}]", "off-diagonal entries must lie in (-1, 1)")
    smallest = float(np.linalg.eigvalsh(mat).min())
    if smallest <= 1e-10:
        raise SpecError(
            "correlation.matrix", f"is not positive definite (smallest eigenvalue {smallest:.3g})"
        )


def validate_spec(data: Mapping[str, Any] | CohortSpec, catalog: Catalog | None = None) -> CohortSpec:
    """Validate spec data (structure, names against ``catalog``, correlations); SpecError on a fault.

    ``parameter_range`` entries come back resolved into uniform distributions with their source.
    """
    catalog = catalog if catalog is not None else engine_catalog()
    raw = data.model_dump(mode="json", exclude_none=True) if isinstance(data, CohortSpec) else data
    try:
        spec = CohortSpec.model_validate(raw)
    except ValidationError as exc:
        raise _format_pydantic(exc) from None
    spec = _check_names(spec, catalog)
    _check_structure(spec)
    return spec


def load_spec(
    source: str | Path | Mapping[str, Any],
    catalog: Catalog | None = None,
) -> CohortSpec:
    """Read a spec from a YAML/JSON file (or the word ``default``, or a mapping) and validate it."""
    if isinstance(source, Mapping):
        return validate_spec(source, catalog)
    if str(source) == "default":
        return default_spec(catalog)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError("spec", f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError("spec", f"{path} is not UTF-8 text") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SpecError("spec", f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise SpecError("spec", f"{path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise SpecError("spec", f"{path} must hold a mapping (person:, parameters:, ...)")
    return validate_spec(data, catalog)


def spec_hash(spec: CohortSpec) -> str:
    """SHA-256 of the validated spec's canonical JSON: equal specs, equal hashes."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spec_to_yaml(data: Mapping[str, Any] | CohortSpec) -> str:
    """A spec (model or plain data) as YAML text, in field order."""
    raw = data.model_dump(mode="json", exclude_none=True) if isinstance(data, CohortSpec) else dict(data)
    return yaml.safe_dump(raw, sort_keys=False, width=110)
