"""How each validation row turns a simulation into the number that was measured.

Each observable takes the row's person, protocol and bed friction and returns one simulated value
in the row's unit. Observables that need an isolated disc (in-vitro experiments) use the disc
equations directly, with the L4-L5 geometry of the row's person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inversa.body import LEVELS, Person
from inversa.physiology import spine_muscle as model
from inversa.protocol import Protocol
from inversa.simulation import Result, simulate

__all__ = ["OBSERVABLES", "Scenario", "observe"]


@dataclass(frozen=True)
class Scenario:
    """What a row sets up: the person, the protocol (may be empty) and the bed friction."""

    person: Person
    protocol: Protocol | None
    mu: float

    def run(self, record_interval_s: float = 1.0, circulation: bool = False) -> Result:
        if self.protocol is None:
            raise ValueError("this observable needs a protocol")
        return simulate(
            self.person,
            self.protocol,
            overrides={"bed_friction_coefficient": self.mu},
            record_interval_s=record_interval_s,
            circulation=circulation,
        )


def _stature(result: Result, t_s: float) -> float:
    return float(result.at("stature_change_mm", t_s))


def day_stature_loss_mm(s: Scenario) -> float:
    """Stature lost between rising and the end of the protocol."""
    r = s.run(record_interval_s=60.0)
    return -_stature(r, float(r.time_s[-1]))


def first_hour_share_pct(s: Scenario) -> float:
    """Share of the whole protocol's stature loss that happens in the first hour."""
    r = s.run(record_interval_s=60.0)
    return 100.0 * _stature(r, 3600.0) / _stature(r, float(r.time_s[-1]))


def night_first_half_pct(s: Scenario) -> float:
    """Share of the night's stature gain made in the first half of the protocol."""
    r = s.run(record_interval_s=60.0)
    end = float(r.time_s[-1])
    return 100.0 * _stature(r, end / 2.0) / _stature(r, end)


def _boocock(s: Scenario) -> tuple[float, float, float]:
    r = s.run()
    before = _stature(r, 60.0)
    back_standing = 60.0 + 6.0 + 1200.0 + 6.0 + 60.0
    return before, _stature(r, back_standing), _stature(r, float(r.time_s[-1]))


def boocock_inversion_gain_mm(s: Scenario) -> float:
    """Stature gain measured standing 1 min after 20 min of inversion."""
    before, after, _ = _boocock(s)
    return after - before


def boocock_after_change_mm(s: Scenario) -> float:
    """Stature change over the following 40 min of standing."""
    _, after, end = _boocock(s)
    return end - after


def boocock_control_gain_mm(s: Scenario) -> float:
    """Stature change between 1 min and 21 min of standing."""
    r = s.run()
    return _stature(r, 1260.0) - _stature(r, 60.0)


def lying_regain_mm(s: Scenario) -> float:
    """Standing stature after the lying step minus standing stature before it."""
    r = s.run()
    return _stature(r, float(r.time_s[-1])) - _stature(r, 60.0)


def pressure_l4l5_end_mpa(s: Scenario) -> float:
    """Intradiscal pressure at L4-L5 at the end of the protocol."""
    r = s.run(record_interval_s=60.0 if s.protocol and s.protocol.timeline().duration_s > 3600 else 1.0)
    return float(r.at("intradiscal_pressure_mpa", float(r.time_s[-1]))[LEVELS.index("L4-L5")])


def relaxation_after_90s_pct(s: Scenario) -> float:
    """Muscle stress relaxation 90 s after the end of the first tilt."""
    assert s.protocol is not None
    tilt_end = next(span.end_s for span in s.protocol.timeline().leaf_spans if span.text.startswith("tilt"))
    return float(s.run().at("muscle_stress_relaxation_pct", tilt_end + 90.0))


def traction_onset_angle_deg(s: Scenario) -> float:
    """Angle at which the gravity force on the spine first turns into traction."""
    r = s.run(record_interval_s=0.25)
    trac = r.series["gravity_traction_pct_cranial_weight"][0]
    first = int(np.argmax(trac > 1e-9))
    if trac[first] <= 1e-9:
        return float("nan")
    return float(r.series["angle_deg"][0][first])


def _disc_height(level: str) -> Callable[[Scenario], float]:
    def observe_height(s: Scenario) -> float:
        r = s.run()
        return float(r.at("disc_height_mm", 0.0)[LEVELS.index(level)])

    observe_height.__doc__ = f"Absolute {level} disc height at the protocol start."
    return observe_height


def _isolated_disc_creep(s: Scenario) -> tuple[np.ndarray, np.ndarray, float]:
    """Creep of an isolated L4-L5 disc: 1000 N for 4 h then unloaded; displacement (mm) vs time."""
    p = model.build_parameters([s.person])
    k = LEVELS.index("L4-L5")
    h, a = p.block("disc_height_mm")[0, k], p.block("disc_area_mm2")[0, k]
    col = {
        n: float(p.column(n)[0])
        for n in (
            "creep_fast_share",
            "creep_slow_share",
            "creep_fast_tau_s",
            "creep_slow_tau_s",
            "recovery_slowdown",
            "compressive_modulus_mpa",
            "tensile_modulus_mpa",
        )
    }
    d_load = float(
        model.disc_equilibrium_mm(np.array(-1000.0), np.array(h), np.array(a), lambda name: p.column(name)[0])
    )
    dt = 10.0
    t = np.arange(0.0, 40 * 3600.0 + dt, dt)
    load_end = 4 * 3600.0
    creep = np.zeros(2)
    shares = (col["creep_fast_share"], col["creep_slow_share"])
    taus = (col["creep_fast_tau_s"], col["creep_slow_tau_s"])
    out = np.empty_like(t)
    for i, ti in enumerate(t):
        loaded = ti < load_end
        d_eq = d_load if loaded else 0.0
        elastic = (1.0 - sum(shares)) * d_eq
        out[i] = elastic + creep.sum()
        for j in range(2):
            target = shares[j] * d_eq
            tau = taus[j] * (col["recovery_slowdown"] if target > creep[j] else 1.0)
            creep[j] = target + (creep[j] - target) * np.exp(-dt / tau)
    return t, out, load_end


def creep_recovery_ratio(s: Scenario) -> float:
    """Time to recover half the creep after unloading / time to creep that far under load."""
    t, disp, load_end = _isolated_disc_creep(s)
    loading = t < load_end
    elastic = disp[1]  # displacement right after the load is applied, before any creep
    creep = disp - elastic
    total_creep = creep[loading][-1]
    t_half_load = float(t[np.argmax(loading & (creep <= 0.5 * total_creep))])
    after = t >= load_end
    residual = disp[after]
    t_half_rec = float(t[after][np.argmax(residual >= 0.5 * total_creep)] - load_end)
    return t_half_rec / t_half_load


def recovery_95_time_h(s: Scenario) -> float:
    """Hours after unloading until 95 % of the displacement at unloading is recovered."""
    t, disp, load_end = _isolated_disc_creep(s)
    at_unload = disp[t < load_end][-1]
    after = t >= load_end
    done = disp[after] >= 0.05 * at_unload
    if not done.any():
        return float("inf")
    return float((t[after][np.argmax(done)] - load_end) / 3600.0)


OBSERVABLES: dict[str, Callable[[Scenario], float]] = {
    "day_stature_loss_mm": day_stature_loss_mm,
    "first_hour_share_pct": first_hour_share_pct,
    "night_first_half_pct": night_first_half_pct,
    "boocock_inversion_gain_mm": boocock_inversion_gain_mm,
    "boocock_after_change_mm": boocock_after_change_mm,
    "boocock_control_gain_mm": boocock_control_gain_mm,
    "lying_regain_mm": lying_regain_mm,
    "pressure_l4l5_end_mpa": pressure_l4l5_end_mpa,
    "relaxation_after_90s_pct": relaxation_after_90s_pct,
    "traction_onset_angle_deg": traction_onset_angle_deg,
    "creep_recovery_ratio": creep_recovery_ratio,
    "recovery_95_time_h": recovery_95_time_h,
    **{f"disc_height_mm.{lvl}": _disc_height(lvl) for lvl in LEVELS},
}


#: Averaging window before a time point for beat-averaged circulation series (beat-to-beat scatter).
WINDOW_S = 30.0


def _window_mean(r: Result, name: str, t_s: float) -> float:
    mask = (r.time_s > t_s - WINDOW_S - 1e-9) & (r.time_s <= t_s + 1e-9)
    return float(r.series[name][0, mask].mean())


def _series_observable(spec: str, s: Scenario) -> float:
    """Generic time-series observables written in the row, so each row says exactly what it reads.

    ``value:S@T`` mean of series S over the 30 s up to T; ``change:S@T0..T1`` its change;
    ``pct_change:S@T0..T1`` the change in % of the first; ``tau:S@T0..T1`` the time (min) after T0
    to reach 63.2 % of the change from T0 to T1.
    """
    kind, rest = spec.split(":", 1)
    name, times = rest.split("@", 1)
    r = s.run(circulation=True)
    if name not in r.series:
        raise ValueError(f"observable {spec!r}: no series {name!r}")
    if kind == "value":
        return _window_mean(r, name, float(times))
    t0, t1 = (float(t) for t in times.split(".."))
    v0, v1 = _window_mean(r, name, t0), _window_mean(r, name, t1)
    if kind == "change":
        return v1 - v0
    if kind == "pct_change":
        return 100.0 * (v1 / v0 - 1.0)
    if kind == "tau":
        data = r.series[name][0]
        after = (r.time_s >= t0) & (r.time_s <= t1)
        frac = (data[after] - data[r.time_s <= t0][-1]) / (data[after][-1] - data[r.time_s <= t0][-1])
        return float((r.time_s[after][np.argmax(frac >= 1.0 - np.exp(-1.0))] - t0) / 60.0)
    raise ValueError(f"unknown observable kind {kind!r} in {spec!r}")


def observe(name: str, scenario: Scenario) -> float:
    """Run one named observable (a function in OBSERVABLES or a ``kind:series@times`` spec)."""
    if ":" in name:
        return _series_observable(name, scenario)
    try:
        fn = OBSERVABLES[name]
    except KeyError:
        raise ValueError(f"unknown observable {name!r}") from None
    return fn(scenario)
