"""Load parameter sets from JSON data files; each value carries its unit, source and note.

A parameter set is data, not code (after PyBaMM's parameter sets): models read values by key and the
simulation collects the citations of every key a run used, so a result always names its sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "Parameter",
    "ParameterError",
    "ParameterSet",
    "available_parameter_sets",
    "load_parameter_set",
]


class ParameterError(KeyError):
    """A parameter set or key that does not exist, or a data file that breaks the format."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "parameter error"


@dataclass(frozen=True)
class Parameter:
    """One value with its unit, the key of its source and a note on how it was derived."""

    key: str
    value: float
    unit: str
    source: str
    note: str = ""
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ParameterSet:
    """A named collection of parameters and the full references their source keys point to."""

    name: str
    description: str
    sources: dict[str, str]
    parameters: dict[str, Parameter] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.get(key).value

    def get(self, key: str) -> Parameter:
        """Return the parameter record for ``key`` or raise a ParameterError naming the set."""
        try:
            return self.parameters[key]
        except KeyError:
            raise ParameterError(f"parameter set {self.name!r} has no parameter {key!r}") from None

    def citation(self, key: str) -> str:
        """The full reference behind one parameter."""
        return self.sources[self.get(key).source]

    def citations(self, keys: list[str] | None = None) -> list[str]:
        """Full references behind ``keys`` (all parameters when None), unique, in first-use order."""
        chosen = self.parameters.values() if keys is None else [self.get(k) for k in keys]
        seen: dict[str, None] = {}
        for p in chosen:
            seen.setdefault(self.sources[p.source], None)
        return list(seen)


def _parse(name: str, raw: dict[str, Any]) -> ParameterSet:
    sources = raw.get("sources")
    values = raw.get("parameters")
    if not isinstance(sources, dict) or not isinstance(values, dict):
        raise ParameterError(f"parameter set {name!r} needs 'sources' and 'parameters' objects")
    params: dict[str, Parameter] = {}
    for key, rec in values.items():
        if not isinstance(rec, dict) or "value" not in rec or "source" not in rec:
            raise ParameterError(f"parameter {key!r} in {name!r} needs a value and a source")
        if rec["source"] not in sources:
            raise ParameterError(f"parameter {key!r} in {name!r} cites unknown source {rec['source']!r}")
        params[key] = Parameter(
            key=key,
            value=float(rec["value"]),
            unit=str(rec.get("unit", "1")),
            source=str(rec["source"]),
            note=str(rec.get("note", "")),
            low=None if rec.get("low") is None else float(rec["low"]),
            high=None if rec.get("high") is None else float(rec["high"]),
        )
    return ParameterSet(
        name=name,
        description=str(raw.get("description", "")),
        sources={str(k): str(v) for k, v in sources.items()},
        parameters=params,
    )


@cache
def load_parameter_set(name: str) -> ParameterSet:
    """Load ``parameters/data/<name>.json`` (cached: sets are immutable)."""
    path = resources.files("inversa.parameters").joinpath("data", f"{name}.json")
    if not path.is_file():
        raise ParameterError(f"no parameter set {name!r}; available: {', '.join(available_parameter_sets())}")
    return _parse(name, json.loads(path.read_text(encoding="utf-8")))


def available_parameter_sets() -> list[str]:
    """Names of the parameter sets shipped with the package."""
    folder = resources.files("inversa.parameters").joinpath("data")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))
