"""Paraspinal muscle equations: activation, guarding, after-effect, stress relaxation, tolerance.

- Activation (% MVC) follows a target: a posture baseline (higher the more body weight is borne
  axially, as when standing), changed by the after-effect of inversion, plus transient guarding
  when traction rises, which settles over minutes (traction EMG studies).
- The after-effect of inversion on resting activity is a parameter whose sign is disputed
  (deVries & Cailliet 1985: down; Kim & Kang 2016: up); it builds during traction and fades after.
- Stress relaxation of the stretched muscles (Magnusson 1995/1996, Peixoto 2015) relaxes towards
  a maximum while stretched and recovers slowly after.
- Stretch tolerance grows with stretch exposure and fades without it; programs carry it across
  sessions.

The same arithmetic runs on arrays (NumPy path) and, compiled, on scalars.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

from inversa._compile import jit

__all__ = [
    "activation_target_pct_mvc",
    "guarding_rate",
    "relaxation_rate",
    "stretch_stimulus",
    "tolerance_rate",
]

#: A float on the compiled path, an array of people on the NumPy path.
A: TypeAlias = Any


def activation_target_pct_mvc(
    angle_rad: A,
    standing_pct: float | A,
    lying_pct: float | A,
    after_effect_fraction: A,
    guarding_pct: A,
) -> A:
    """Target activation: posture baseline (axial share -sin(angle)), after-effect and guarding."""
    axial_share = np.maximum(0.0, -np.sin(angle_rad))
    baseline = lying_pct + (standing_pct - lying_pct) * axial_share
    return baseline * (1.0 + after_effect_fraction) + guarding_pct


def stretch_stimulus(traction_fraction: A, onset_fraction: float | A) -> A:
    """How stretched the back muscles are, 0 to 1, from the gravity traction that reaches them."""
    return np.minimum(1.0, np.maximum(0.0, traction_fraction / onset_fraction))


def guarding_rate(guarding_pct: A, traction_rate_per_s: A, gain_pct: float | A, tau_s: float | A) -> A:
    """Guarding rises with rising traction and settles with its own time constant."""
    return gain_pct * np.maximum(0.0, traction_rate_per_s) - guarding_pct / tau_s


def relaxation_rate(value: A, target: A, tau_towards_s: float | A, tau_back_s: float | A) -> A:
    """First-order approach to ``target``: one time constant away from zero, another back."""
    growing = (np.abs(target) > np.abs(value)) * 1.0
    tau = tau_back_s + (tau_towards_s - tau_back_s) * growing
    return (target - value) / tau


def tolerance_rate(tolerance: A, stimulus: A, exposure_tau_s: float | A, decay_tau_s: float | A) -> A:
    """Stretch tolerance (0 to 1) grows with stretch exposure and decays without it."""
    return stimulus * (1.0 - tolerance) / exposure_tau_s - tolerance / decay_tau_s


activation_target_pct_mvc_jit = jit(activation_target_pct_mvc)
stretch_stimulus_jit = jit(stretch_stimulus)
guarding_rate_jit = jit(guarding_rate)
relaxation_rate_jit = jit(relaxation_rate)
tolerance_rate_jit = jit(tolerance_rate)
