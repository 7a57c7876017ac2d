"""Simulation results: unit-bearing series for every person, per-step summaries and sources."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inversa import __version__
from inversa.body import LEVELS, Person
from inversa.protocol import Protocol

__all__ = ["CONTRACT_SERIES", "LEVEL_SERIES", "Result", "StepSummary"]

#: Series whose values are per disc level, keyed by the names in LEVELS.
LEVEL_SERIES: frozenset[str] = frozenset(
    {"traction_force_n", "disc_height_change_mm", "intradiscal_pressure_mpa", "disc_height_mm"}
)

#: The series promised by the JSON contract of `inversa simulate`, in order.
CONTRACT_SERIES: tuple[str, ...] = (
    "angle_deg",
    "traction_force_n",
    "disc_height_change_mm",
    "intradiscal_pressure_mpa",
    "stature_change_mm",
    "paraspinal_activation_pct_mvc",
    "muscle_stress_relaxation_pct",
)


@dataclass(frozen=True)
class StepSummary:
    """One executed protocol step (repeats unrolled) and when it ran."""

    text: str
    start_s: float
    end_s: float
    repetition: tuple[int, ...] = ()


def _clean(values: NDArray[np.float64]) -> list[float]:
    return [round(float(v), 6) + 0.0 for v in values]


@dataclass(frozen=True)
class Result:
    """Series shaped [people, time] or [people, time, level]; time_s shaped [time]."""

    people: tuple[Person, ...]
    protocol: Protocol
    time_s: NDArray[np.float64]
    series: dict[str, NDArray[np.float64]]
    steps: list[StepSummary]
    citations: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    #: Within-beat circulation trace when asked for: name -> [people, samples] (time_s included).
    pulsatile: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    #: People whose circulation could not be simulated (``on_error="mark"``): index -> reason.
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def n_people(self) -> int:
        return len(self.people)

    def _person(self, person: int) -> int:
        if not -self.n_people <= person < self.n_people:
            raise IndexError(f"person index {person} out of range for {self.n_people} people")
        return person

    def at(self, name: str, time_s: float | NDArray[np.float64], person: int = 0) -> Any:
        """Series value(s) at given times, linearly interpolated (per level for level series)."""
        data = self.series[name][self._person(person)]
        t = np.asarray(time_s, dtype=float)
        if name in LEVEL_SERIES:
            return np.stack([np.interp(t, self.time_s, data[:, k]) for k in range(len(LEVELS))], axis=-1)
        return np.interp(t, self.time_s, data)

    def level(self, name: str, level: str) -> NDArray[np.float64]:
        """One level of a level series for every person: [people, time]."""
        return self.series[name][:, :, LEVELS.index(level)]

    def end_values(self, time_s: float, person: int = 0) -> dict[str, Any]:
        """Every series at one time, level series as {level: value}."""
        values: dict[str, Any] = {}
        for name in self.series:
            v = self.at(name, time_s, person)
            if name in LEVEL_SERIES:
                values[name] = {lvl: round(float(x), 6) + 0.0 for lvl, x in zip(LEVELS, v, strict=True)}
            else:
                values[name] = round(float(v), 6) + 0.0
        return values

    def to_dict(self, person: int = 0) -> dict[str, Any]:
        """The JSON contract of ``inversa simulate`` for one person."""
        p = self._person(person)
        series: dict[str, Any] = {}
        for name in (*CONTRACT_SERIES, *[s for s in self.series if s not in CONTRACT_SERIES]):
            data = self.series[name][p]
            if name in LEVEL_SERIES:
                series[name] = {lvl: _clean(data[:, k]) for k, lvl in enumerate(LEVELS)}
            else:
                series[name] = _clean(data)
        out: dict[str, Any] = {
            "inversa_version": __version__,
            "person": self.people[p].model_dump(mode="json"),
            "protocol": [step.model_dump(mode="json") for step in self.protocol.steps],
            "protocol_text": self.protocol.to_text(),
            "time_s": _clean(self.time_s),
            "series": series,
            "steps": [
                {
                    "text": s.text,
                    "start_s": s.start_s,
                    "end_s": s.end_s,
                    "repetition": list(s.repetition),
                    "end_values": self.end_values(s.end_s, p),
                }
                for s in self.steps
            ],
            "settings": dict(self.settings),
            "citations": list(self.citations),
        }
        if self.pulsatile:
            out["pulsatile"] = {name: _clean(data[p]) for name, data in self.pulsatile.items()}
        return out

    def columns(self) -> list[str]:
        """CSV column names, each with its unit: level series expand to name[level]."""
        cols = ["time_s"]
        for name in self.series:
            cols += [f"{name}[{lvl}]" for lvl in LEVELS] if name in LEVEL_SERIES else [name]
        return cols

    def to_csv(self, person: int = 0) -> str:
        """All series of one person as CSV text, one row per recorded time."""
        p = self._person(person)
        blocks = [self.time_s[:, None]]
        for data in self.series.values():
            d = data[p]
            blocks.append(d if d.ndim == 2 else d[:, None])
        table = np.hstack(blocks)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns())
        for row in table:
            writer.writerow([f"{v:.6g}" for v in row])
        return buf.getvalue()

    def _circulation_columns(self, p: int, mask: NDArray[np.bool_], end_s: float) -> dict[str, float]:
        """Peak eye pressure and end heart rate and blood pressure of a step, when simulated."""
        if "intraocular_pressure_mmhg" not in self.series:
            return {}
        iop = self.series["intraocular_pressure_mmhg"][p, mask]
        return {
            "peak_iop_mmhg": float(iop.max()) if iop.size else float("nan"),
            "end_heart_rate_bpm": float(self.at("heart_rate_bpm", end_s, p)),
            "end_mean_arterial_pressure_mmhg": float(self.at("mean_arterial_pressure_mmhg", end_s, p)),
        }

    def step_table(self, person: int = 0, level: str = "L4-L5") -> list[dict[str, Any]]:
        """Per-step summary rows for a terminal table: what each step did to the body."""
        p = self._person(person)
        k = LEVELS.index(level)
        rows = []
        for s in self.steps:
            mask = (self.time_s >= s.start_s) & (self.time_s <= s.end_s)
            force = self.series["traction_force_n"][p, mask, k]
            rows.append(
                {
                    "step": s.text,
                    "start_s": s.start_s,
                    "end_s": s.end_s,
                    "end_angle_deg": float(self.at("angle_deg", s.end_s, p)),
                    "peak_traction_n": float(force.max()) if force.size else float("nan"),
                    "end_disc_change_mm": float(self.at("disc_height_change_mm", s.end_s, p)[k]),
                    "end_pressure_mpa": float(self.at("intradiscal_pressure_mpa", s.end_s, p)[k]),
                    "end_stature_change_mm": float(self.at("stature_change_mm", s.end_s, p)),
                    "end_activation_pct_mvc": float(self.at("paraspinal_activation_pct_mvc", s.end_s, p)),
                    "end_relaxation_pct": float(self.at("muscle_stress_relaxation_pct", s.end_s, p)),
                    **self._circulation_columns(p, mask, s.end_s),
                }
            )
        return rows
