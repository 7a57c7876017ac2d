"""Reproducible calibrations: parameters fitted to one dataset, so other datasets stay independent.

The equilibrium compressive modulus of the discs is fitted so that the model's own diurnal rhythm
gives the mean AM-to-PM loss of L4-L5 disc height seen on MRI (Martin et al. 2022: 6.1-8.0 %,
mean about 7.05 %). MRI is taken lying, so the AM-to-PM difference is the creep part only. Stature
over the day (Tyrrell 1985) is then a prediction, not an input.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from inversa.body import LEVELS, Person, Sex
from inversa.physiology import spine_muscle as model

__all__ = [
    "MARTIN2022_L4L5_DIURNAL_STRAIN",
    "PM_SCAN_HOURS_UPRIGHT",
    "diurnal_l4l5_strain",
    "fit_compressive_modulus_mpa",
]

#: Mean AM-to-PM loss of lumbar disc height on MRI (Martin et al. 2022: 6.1 to 8.0 % by level).
MARTIN2022_L4L5_DIURNAL_STRAIN = 0.0705
#: Hours upright at the evening scan (assumed: a morning scan on rising, an evening scan 10 h later).
PM_SCAN_HOURS_UPRIGHT = 10.0

_REFERENCE = Person(sex=Sex.MALE, age_years=25, height_cm=170, mass_kg=70)


def diurnal_l4l5_strain(compressive_modulus_mpa: float, person: Person = _REFERENCE) -> float:
    """AM-to-PM creep loss at L4-L5 as a fraction of its rested height, for a given modulus."""
    params = model.build_parameters([person], {"compressive_modulus_mpa": compressive_modulus_mpa})
    k = LEVELS.index("L4-L5")

    def creep_at(hours: float) -> float:
        x = model.initial_state(params, np.array([hours]), -90.0, np.array([-1.0]))
        return float(x[0, model.STATE["creep_fast_mm"] + k] + x[0, model.STATE["creep_slow_mm"] + k])

    height = float(params.block("disc_height_mm")[0, k])
    return (creep_at(0.0) - creep_at(PM_SCAN_HOURS_UPRIGHT)) / height


def fit_compressive_modulus_mpa(target_strain: float = MARTIN2022_L4L5_DIURNAL_STRAIN) -> float:
    """The modulus for which the model's diurnal L4-L5 strain equals ``target_strain``."""
    return float(brentq(lambda e: diurnal_l4l5_strain(e) - target_strain, 0.2, 20.0, xtol=1e-6))
