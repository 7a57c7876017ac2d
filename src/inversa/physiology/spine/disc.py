"""Disc mechanics: axial force, creep with fast and slow elements, intradiscal pressure.

Equations are written as plain arithmetic so that the same source runs on NumPy arrays (people
vectorised) and, compiled by numba, on one person's scalars. Sign convention: force and stress are
positive in tension (traction), negative in compression; displacement is positive when the disc
gets taller.

Creep model (after O'Connell et al. 2011): the equilibrium displacement under a sustained stress
is D = H * sigma / E (E softer in tension); an immediate elastic share of D appears at once, a fast
and a slow Kelvin-Voigt element each relax towards their share with a loading time constant, and
recovery (the disc getting taller) runs 3-4 times slower. Zero load relaxes the creep elements
towards zero, the fully hydrated height: that is the osmotic swelling that makes an unloaded disc
regain height.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

from inversa._compile import jit

__all__ = [
    "creep_rate_mm_s",
    "disc_axial_force_n",
    "equilibrium_displacement_mm",
    "nucleus_pressure_mpa",
]

#: A float on the compiled path, an array of people on the NumPy path.
A: TypeAlias = Any


def disc_axial_force_n(cranial_weight_n: A, traction_fraction: A, muscle_compression_n: A) -> A:
    """Net axial force on a disc: the gravity share that passed friction minus muscle compression."""
    return cranial_weight_n * traction_fraction - muscle_compression_n


def equilibrium_displacement_mm(
    force_n: A,
    height_mm: A,
    area_mm2: A,
    compressive_modulus_mpa: float | A,
    tensile_modulus_mpa: float | A,
    stiffening_stress_mpa: float | A,
) -> A:
    """Height change the disc would reach if this force were held for ever (N/mm^2 = MPa).

    Compression stiffens the disc (Gardner-Morse & Stokes 2004): the tangent modulus grows as
    E (1 + s / s0) with compressive stress s, so the strain is (s0 / E) ln(1 + s / s0); it is
    applied as a true (logarithmic) strain, so a disc can approach but never reach zero height.
    Tension is linear with the softer tensile modulus.
    """
    stress_mpa = force_n / area_mm2
    tension = (stress_mpa > 0.0) * 1.0
    compressive = (1.0 - tension) * -stress_mpa
    strain = (
        stiffening_stress_mpa / compressive_modulus_mpa * np.log(1.0 + compressive / stiffening_stress_mpa)
    )
    shortening = height_mm * (np.exp(-strain) - 1.0)
    lengthening = height_mm * stress_mpa * tension / tensile_modulus_mpa
    return tension * lengthening + (1.0 - tension) * shortening


def creep_rate_mm_s(
    displacement_mm: A, target_mm: A, loading_tau_s: float | A, recovery_slowdown: float | A
) -> A:
    """First-order creep towards the target; slower by ``recovery_slowdown`` when regaining height."""
    recovering = (target_mm > displacement_mm) * 1.0
    tau = loading_tau_s * (1.0 + (recovery_slowdown - 1.0) * recovering)
    return (target_mm - displacement_mm) / tau


def nucleus_pressure_mpa(
    force_n: A,
    area_mm2: A,
    creep_mm: A,
    standing_creep_mm: A,
    unloaded_pressure_mpa: float | A,
    stress_factor: float | A,
    tension_factor: float | A,
    minimum_pressure_mpa: float | A,
) -> A:
    """Intradiscal (nucleus) pressure: osmotic pre-stress plus a factor times compressive stress.

    The pre-stress is the unloaded, fully hydrated value (Schroeder 2006) scaled by hydration,
    which falls linearly from 1 at full hydration (creep 0) to 0 at the relaxed-standing creep
    equilibrium (an assumption). Compression raises the pressure by ``stress_factor`` times the mean
    stress (Nachemson); in distraction the annulus carries most of the load, so tension lowers it by
    the smaller ``tension_factor``; never below minus one atmosphere.
    """
    hydration = np.minimum(1.0, np.maximum(0.0, 1.0 + creep_mm / standing_creep_mm))
    stress = force_n / area_mm2
    tension = (stress > 0.0) * 1.0
    factor = tension * tension_factor + (1.0 - tension) * stress_factor
    pressure = unloaded_pressure_mpa * hydration - factor * stress
    return np.maximum(minimum_pressure_mpa, pressure)


disc_axial_force_n_jit = jit(disc_axial_force_n)
equilibrium_displacement_mm_jit = jit(equilibrium_displacement_mm)
creep_rate_mm_s_jit = jit(creep_rate_mm_s)
nucleus_pressure_mpa_jit = jit(nucleus_pressure_mpa)
