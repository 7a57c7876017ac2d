"""Simulate one or many people on a protocol: Simulation(people, protocol) -> Result.

Everything here is orchestration: sample the protocol, push the angle through bed friction, set up
each person's initial state from their day so far, hand the model's derivatives to a solver, and
turn the recorded states into unit-bearing series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from inversa.body import LEVELS, Person
from inversa.physiology import spine_muscle as model
from inversa.physiology.circulation import model as circ
from inversa.physiology.layout import override_column
from inversa.physiology.spine import gravity_traction_fraction
from inversa.protocol import LeafSpan, Protocol
from inversa.simulation.circulation import BEAT, TRACE, CalibrationError, run_circulation
from inversa.simulation.circulation_fast import ROW, run_circulation_averaged
from inversa.simulation.result import Result, StepSummary
from inversa.simulation.solvers import rk4_compiled, rk4_numpy

__all__ = ["Simulation", "SimulationError", "simulate"]

Method = Literal["compiled", "numpy"]
Override = float | Sequence[float] | NDArray[np.float64]


class SimulationError(ValueError):
    """Invalid simulation settings; the message names the setting."""


@dataclass(frozen=True)
class Simulation:
    """People, a protocol and numerical settings; ``run()`` gives a Result.

    dt_s: solver step (the fastest model time constant is 0.5 s or more);
    record_interval_s: spacing of the reported series (1 Hz by default);
    chunk_size: people integrated together, which bounds memory for large batches;
    circulation: run the pulsatile circulation too (beat-averaged series, RK4 at circulation_dt_s;
    with method "numpy" it runs its interpreted reference driver, about a hundred times slower);
    circulation_model: "pulsatile" (the reference: beats, RK4 every 2 ms) or "averaged" (the fast
    beat-averaged variant for cohorts and interactive use: steps of circulation_averaged_dt_s,
    held within 5 % of the pulsatile model's steady states; docs/circulation-fast.md);
    pulsatile_trace: keep the within-beat trace (aortic and ventricular pressure...) every 10 ms;
    on_error: "raise" refuses the batch when one person's circulation cannot be simulated; "mark"
    gives that person NaN circulation series and the reason in ``Result.failures`` (cohorts).
    """

    people: tuple[Person, ...]
    protocol: Protocol
    overrides: Mapping[str, Override] | None = None
    tolerance_fraction: Override | None = None
    dt_s: float = 0.25
    record_interval_s: float = 1.0
    method: Method = "compiled"
    chunk_size: int = 2048
    circulation: bool = True
    circulation_dt_s: float = 0.002
    pulsatile_trace: bool = False
    on_error: Literal["raise", "mark"] = "raise"
    circulation_model: Literal["pulsatile", "averaged"] = "pulsatile"
    circulation_averaged_dt_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.people:
            raise SimulationError("people: at least one person is needed")
        if not (0.01 <= self.dt_s <= 1.0):
            raise SimulationError(f"dt_s must be between 0.01 and 1 s, got {self.dt_s:g}")
        ratio = self.record_interval_s / self.dt_s
        if self.record_interval_s <= 0 or abs(ratio - round(ratio)) > 1e-9:
            raise SimulationError("record_interval_s must be a positive whole multiple of dt_s")
        if self.method not in ("compiled", "numpy"):
            raise SimulationError(f"method must be 'compiled' or 'numpy', got {self.method!r}")
        if self.chunk_size < 1:
            raise SimulationError("chunk_size must be at least 1")
        if self.on_error not in ("raise", "mark"):
            raise SimulationError(f"on_error must be 'raise' or 'mark', got {self.on_error!r}")
        if not (0.0005 <= self.circulation_dt_s <= 0.0025):
            raise SimulationError(
                "circulation_dt_s must be between 0.0005 and 0.0025 s (RK4 stability), "
                f"got {self.circulation_dt_s:g}"
            )
        if self.circulation_model not in ("pulsatile", "averaged"):
            raise SimulationError(
                f"circulation_model must be 'pulsatile' or 'averaged', got {self.circulation_model!r}"
            )
        if not (0.1 <= self.circulation_averaged_dt_s <= 2.0):
            raise SimulationError(
                "circulation_averaged_dt_s must be between 0.1 and 2 s, "
                f"got {self.circulation_averaged_dt_s:g}"
            )
        if self.pulsatile_trace and self.circulation_model == "averaged":
            raise SimulationError("pulsatile_trace: the averaged circulation has no beats to trace")
        unknown = sorted(set(self.overrides or {}) - set(model.OVERRIDABLE) - set(circ.OVERRIDABLE))
        if unknown:
            raise SimulationError(f"unknown parameter override(s): {', '.join(unknown)}")

    def run(self) -> Result:
        """Integrate every person over the whole protocol."""
        timeline = self.protocol.timeline()
        record_every = round(self.record_interval_s / self.dt_s)
        n_records = max(1, math.ceil(timeline.duration_s / self.record_interval_s - 1e-9))
        n_steps = n_records * record_every
        dt = self.dt_s
        half_grid = np.arange(2 * n_steps + 1) * (dt / 2.0)
        angle_deg = timeline.angle_deg(half_grid)
        spine_over = {k: v for k, v in (self.overrides or {}).items() if k in model.OVERRIDABLE}
        circ_over = {k: v for k, v in (self.overrides or {}).items() if k in circ.OVERRIDABLE}
        params = model.build_parameters(self.people, spine_over)
        tolerance = (
            np.zeros(len(self.people))
            if self.tolerance_fraction is None
            else np.broadcast_to(np.asarray(self.tolerance_fraction, dtype=float), (len(self.people),))
        )
        if np.any((tolerance < 0) | (tolerance > 1)):
            raise SimulationError("tolerance_fraction must be between 0 and 1")
        hours = np.array([p.hours_upright_h for p in self.people])
        solver = rk4_compiled if self.method == "compiled" else rk4_numpy
        rhs = model.rhs_compiled if self.method == "compiled" else model.rhs
        angle_rad = np.radians(angle_deg)

        states, tracs, slides = [], [], []
        for lo in range(0, len(self.people), self.chunk_size):
            hi = min(lo + self.chunk_size, len(self.people))
            mu = params.bed_friction_coefficient[lo:hi]
            trac, sliding = gravity_traction_fraction(angle_deg, mu)
            # guarding answers rising traction (the spine being pulled), not easing compression
            rate = np.gradient(np.maximum(trac, 0.0), dt / 2.0, axis=1)
            sub = params.matrix[lo:hi]
            sub_params = model.ModelParameters(sub, mu, params.citations)
            x0 = model.initial_state(
                sub_params, hours[lo:hi], float(angle_deg[0]), trac[:, 0], tolerance[lo:hi]
            )
            states.append(solver(rhs, x0, angle_rad, trac, rate, sub, dt, n_steps, record_every))
            step = 2 * record_every
            tracs.append(trac[:, ::step])
            # a record counts as sliding when the block moved at any sample since the previous record
            moved = np.add.reduceat(sliding, np.arange(0, sliding.shape[1], step), axis=1) > 0
            slides.append(moved[:, : n_records + 1])
        x = np.concatenate(states)
        trac_rec = np.concatenate(tracs)
        time_s = np.arange(n_records + 1, dtype=np.float64) * self.record_interval_s
        result = _assemble(
            self,
            time_s,
            angle_deg[:: 2 * record_every],
            x,
            trac_rec,
            np.concatenate(slides),
            params,
            timeline.leaf_spans,
        )
        if self.circulation:
            _add_circulation(self, result, time_s, circ_over)
        return result


def _assemble(
    sim: Simulation,
    time_s: NDArray[np.float64],
    angle_deg: NDArray[np.float64],
    x: NDArray[np.float64],
    trac: NDArray[np.float64],
    sliding: NDArray[np.bool_],
    params: model.ModelParameters,
    spans: Sequence[LeafSpan],
) -> Result:
    out = model.outputs(x, trac, params)
    n_lvl = len(LEVELS)
    disp = out["disc_displacement_mm"]
    series: dict[str, NDArray[np.float64]] = {
        "angle_deg": np.broadcast_to(angle_deg, trac.shape).copy(),
        "traction_force_n": out["axial_force_n"][:, :, :n_lvl],
        "disc_height_change_mm": disp[:, :, :n_lvl] - disp[:, :1, :n_lvl],
        "intradiscal_pressure_mpa": out["nucleus_pressure_mpa"][:, :, :n_lvl],
        "stature_change_mm": (disp - disp[:, :1, :]).sum(axis=2),
        "paraspinal_activation_pct_mvc": out["activation_pct_mvc"],
        "muscle_stress_relaxation_pct": 100.0 * out["relaxation_fraction"],
        "disc_height_mm": out["disc_height_mm"][:, :, :n_lvl],
        "gravity_traction_pct_cranial_weight": 100.0 * trac,
        "bed_sliding_flag": sliding.astype(float),
        "muscle_stretch_tolerance_pct": 100.0 * out["tolerance_fraction"],
    }
    steps = [
        StepSummary(
            text=str(span.text),
            start_s=float(span.start_s),
            end_s=float(span.end_s),
            repetition=tuple(getattr(span, "repetition", ())),
        )
        for span in spans
    ]
    return Result(
        people=sim.people,
        protocol=sim.protocol,
        time_s=time_s,
        series=series,
        steps=steps,
        citations=params.citations,
        settings={
            "dt_s": sim.dt_s,
            "record_interval_s": sim.record_interval_s,
            "method": sim.method,
        },
    )


#: A person whose resting pressures the calibration misses by more than this is refused (or marked).
MAX_CALIBRATION_RESIDUAL_MMHG = 10.0

#: Circulation series added to the result, from the beat rows: name -> function of the beats.
CIRCULATION_SERIES: tuple[str, ...] = (
    "heart_rate_bpm",
    "systolic_bp_mmhg",
    "diastolic_bp_mmhg",
    "mean_arterial_pressure_mmhg",
    "head_arterial_pressure_mmhg",
    "head_venous_pressure_mmhg",
    "intraocular_pressure_mmhg",
    "central_venous_pressure_mmhg",
    "stroke_volume_ml",
    "cardiac_output_l_min",
    "leg_blood_volume_ml",
    "thoracic_blood_volume_ml",
    "plasma_volume_change_ml",
    "total_blood_volume_ml",
)


def _beat_values(beats: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Per-beat values of every circulation series."""
    col = {name: beats[:, BEAT[name]] for name, _ in BEAT.blocks}
    period = col["period_s"]
    return {
        "heart_rate_bpm": 60.0 / period,
        "systolic_bp_mmhg": col["systolic_mmhg"],
        "diastolic_bp_mmhg": col["diastolic_mmhg"],
        "mean_arterial_pressure_mmhg": col["mean_mmhg"],
        "head_arterial_pressure_mmhg": col["head_arterial_mmhg"],
        "head_venous_pressure_mmhg": col["head_venous_mmhg"],
        "intraocular_pressure_mmhg": col["intraocular_mmhg"],
        "central_venous_pressure_mmhg": col["central_venous_mmhg"],
        "stroke_volume_ml": col["stroke_volume_ml"],
        "cardiac_output_l_min": col["stroke_volume_ml"] * 60.0 / period / 1000.0,
        "leg_blood_volume_ml": col["leg_volume_ml"],
        "thoracic_blood_volume_ml": col["thoracic_volume_ml"],
        "plasma_volume_change_ml": -col["filtered_ml"],
        "total_blood_volume_ml": col["blood_volume_ml"],
    }


def _fill_averaged(
    rows: NDArray[np.float64],
    time_s: NDArray[np.float64],
    series: dict[str, NDArray[np.float64]],
    failures: dict[int, str],
    lo: int,
) -> None:
    """Put the averaged circulation's per-step rows on the result's time grid."""
    col = {name: rows[:, :, ROW[name]] for name, _ in ROW.blocks}
    values = {
        "heart_rate_bpm": col["heart_rate_bpm"],
        "systolic_bp_mmhg": col["systolic_mmhg"],
        "diastolic_bp_mmhg": col["diastolic_mmhg"],
        "mean_arterial_pressure_mmhg": col["mean_mmhg"],
        "head_arterial_pressure_mmhg": col["head_arterial_mmhg"],
        "head_venous_pressure_mmhg": col["head_venous_mmhg"],
        "intraocular_pressure_mmhg": col["intraocular_mmhg"],
        "central_venous_pressure_mmhg": col["central_venous_mmhg"],
        "stroke_volume_ml": col["stroke_volume_ml"],
        "cardiac_output_l_min": col["stroke_volume_ml"] * col["heart_rate_bpm"] / 1000.0,
        "leg_blood_volume_ml": col["leg_volume_ml"],
        "thoracic_blood_volume_ml": col["thoracic_volume_ml"],
        "plasma_volume_change_ml": -(col["filtered_ml"] - col["filtered_ml"][:, :1]),
        "total_blood_volume_ml": col["blood_volume_ml"],
    }
    for j in range(rows.shape[0]):
        t = rows[j, :, ROW["time_s"]]
        if not np.all(np.isfinite(rows[j])):
            failures[lo + j] = "circulation: the simulation did not stay finite"
            for name in CIRCULATION_SERIES:
                series[name][lo + j] = np.nan
            continue
        for name in CIRCULATION_SERIES:
            series[name][lo + j] = np.interp(time_s, t, values[name][j])


def _add_circulation(
    sim: Simulation, result: Result, time_s: NDArray[np.float64], overrides: Mapping[str, Override]
) -> None:
    """Run the circulation over the same protocol and add its beat-averaged series to the result.

    Each beat's values sit at the beat's middle; the reported series interpolate them on the
    result's time grid (the first beat before the protocol starts supplies time 0).
    """
    dt = sim.circulation_dt_s
    duration = float(time_s[-1])
    timeline = sim.protocol.timeline()

    def angle(t: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(timeline.angle_deg(np.minimum(t, timeline.duration_s)), dtype=float)

    trace_every = max(1, round(0.01 / dt)) if sim.pulsatile_trace else 0
    n = len(sim.people)
    series = {name: np.zeros((n, len(time_s))) for name in CIRCULATION_SERIES}
    traces = []
    residuals: list[float] = []
    failures: dict[int, str] = {}
    citations: list[str] = []
    try:
        columns = {k: override_column(v, n, k) for k, v in overrides.items()}
    except ValueError as exc:
        raise SimulationError(str(exc)) from None
    for lo in range(0, n, sim.chunk_size):
        hi = min(lo + sim.chunk_size, n)
        sub_over = {k: v[lo:hi] for k, v in columns.items()}
        try:
            params = circ.build_parameters(sim.people[lo:hi], sub_over)
            if sim.circulation_model == "averaged":
                fast = run_circulation_averaged(
                    params, angle, duration, sim.circulation_averaged_dt_s, compiled=sim.method == "compiled"
                )
            else:
                run = run_circulation(
                    params, angle, duration, dt, compiled=sim.method == "compiled", trace_every=trace_every
                )
        except (ValueError, CalibrationError) as exc:
            raise SimulationError(str(exc)) from None
        citations = params.citations
        if sim.circulation_model == "averaged":
            _fill_averaged(fast.rows, time_s, series, failures, lo)
            residuals.extend(fast.calibration_residual_mmhg.tolist())
            continue
        for j, beats in enumerate(run.beats):
            if len(beats) < 2 or not np.all(np.isfinite(beats)):
                failures[lo + j] = "circulation: the simulation did not stay finite"
                for name in CIRCULATION_SERIES:
                    series[name][lo + j] = np.nan
                continue
            values = _beat_values(beats)
            mid = beats[:, BEAT["end_s"]] - 0.5 * beats[:, BEAT["period_s"]]
            start_filtered = np.interp(0.0, mid, values["plasma_volume_change_ml"])
            for name in CIRCULATION_SERIES:
                v = values[name] - (start_filtered if name == "plasma_volume_change_ml" else 0.0)
                series[name][lo + j] = np.interp(time_s, mid, v)
        residuals.extend(run.calibration_residual_mmhg.tolist())
        if run.trace is not None:
            traces.append(run.trace)
    for i, residual in enumerate(residuals):
        if residual > MAX_CALIBRATION_RESIDUAL_MMHG and i not in failures:
            p = sim.people[i]
            failures[i] = (
                f"resting_systolic_mmhg: the model cannot reproduce person {i}'s resting values "
                f"({p.resting_systolic_mmhg or 'default'}/{p.resting_diastolic_mmhg or 'default'} mmHg, "
                f"{p.resting_heart_rate_bpm or 'default'} bpm): off by {residual:.0f} mmHg"
            )
            for name in CIRCULATION_SERIES:
                series[name][i] = np.nan
    if failures and sim.on_error == "raise":
        raise SimulationError(failures[min(failures)])
    result.failures.update(failures)
    result.series.update(series)
    result.citations.extend(c for c in citations if c not in result.citations)
    result.settings["circulation_model"] = sim.circulation_model
    result.settings["circulation_dt_s"] = (
        sim.circulation_averaged_dt_s if sim.circulation_model == "averaged" else dt
    )
    result.settings["calibration_residual_mmhg"] = [round(r, 3) for r in residuals]
    if traces:
        trace = np.concatenate(traces)
        result.pulsatile.update({name: trace[:, :, TRACE[name]] for name, _ in TRACE.blocks})


def simulate(
    people: Person | Sequence[Person],
    protocol: Protocol | str,
    *,
    overrides: Mapping[str, Override] | None = None,
    tolerance_fraction: Override | None = None,
    dt_s: float = 0.25,
    record_interval_s: float = 1.0,
    method: Method = "compiled",
    chunk_size: int = 2048,
    circulation: bool = True,
    circulation_dt_s: float = 0.002,
    pulsatile_trace: bool = False,
    on_error: Literal["raise", "mark"] = "raise",
    circulation_model: Literal["pulsatile", "averaged"] = "pulsatile",
    circulation_averaged_dt_s: float = 1.0,
) -> Result:
    """Simulate people (one Person or many) on a protocol (a Protocol or its text)."""
    group = (people,) if isinstance(people, Person) else tuple(people)
    proto = Protocol.parse(protocol) if isinstance(protocol, str) else protocol
    return Simulation(
        people=group,
        protocol=proto,
        overrides=overrides,
        tolerance_fraction=tolerance_fraction,
        dt_s=dt_s,
        record_interval_s=record_interval_s,
        method=method,
        chunk_size=chunk_size,
        circulation=circulation,
        circulation_dt_s=circulation_dt_s,
        pulsatile_trace=pulsatile_trace,
        on_error=on_error,
        circulation_model=circulation_model,
        circulation_averaged_dt_s=circulation_averaged_dt_s,
    ).run()
