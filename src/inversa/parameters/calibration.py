"""Reproducible calibrations: parameters fitted to one dataset, so other datasets stay independent.

The equilibrium compressive modulus of the discs is fitted so that the model's own diurnal rhythm
gives the mean AM-to-PM loss of L4-L5 disc height seen on MRI (Martin et al. 2022: 6.1-8.0 %,
mean about 7.05 %). MRI is taken lying, so the AM-to-PM difference is the creep part only. Stature
over the day (Tyrrell 1985) is then a prediction, not an input.

Two circulation constants are fitted the same way, each to one dataset that no validation row uses
as an independent check: the transcapillary filtration coefficient to Lundvall's plasma loss at
85 deg head-up (-707 mL at steady state; the validation rows on it are marked calibration checks),
and the pressure constant of Inversa's saturating IOP rise to LeMarr 1984 (+16.4 mmHg from standing
after 3 min of full inversion); Friberg 1985 (another full-inversion study) then checks it.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from inversa.body import LEVELS, Person, Sex
from inversa.physiology import spine_muscle as model

__all__ = [
    "LEMARR1984_IOP_RISE_MMHG",
    "LUNDVALL_PLASMA_LOSS_ML",
    "MARTIN2022_L4L5_DIURNAL_STRAIN",
    "PM_SCAN_HOURS_UPRIGHT",
    "diurnal_l4l5_strain",
    "fit_compressive_modulus_mpa",
    "fit_filtration_coefficient",
    "fit_iop_autoregulation_pressure",
    "hut85_plasma_change_ml",
    "inversion_iop_rise_mmhg",
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


#: Plasma volume lost at steady state of 85 deg head-up tilt (Lundvall, via the physiology reference).
LUNDVALL_PLASMA_LOSS_ML = -707.0
#: Mean rise of IOP from standing after 3 min of full inversion (LeMarr 1984: 16.4/15.9 -> 34/31 mmHg).
LEMARR1984_IOP_RISE_MMHG = ((34.0 - 16.4) + (31.0 - 15.9)) / 2.0
LEMARR1984_STANDING_IOP_MMHG = (16.4 + 15.9) / 2.0
_HUT85 = "lie flat for 2 min; tilt to -85 deg over 4 s; hold at -85 deg for 25 min"
_INVERSION = "stand for 2 min; tilt to 90 deg over 6 s; hold at 90 deg for 3 min"


def hut85_plasma_change_ml(coefficient: float, person: Person = _REFERENCE) -> float:
    """Plasma volume change after 25 min (5.4 time constants) at 85 deg head-up."""
    from inversa.simulation import simulate

    r = simulate(
        person,
        _HUT85,
        overrides={"filtration_coefficient_ml_per_mmhg_kg": coefficient},
        record_interval_s=5.0,
    )
    return float(r.series["plasma_volume_change_ml"][0, -1])


def fit_filtration_coefficient(target_ml: float = LUNDVALL_PLASMA_LOSS_ML) -> float:
    """Filtration coefficient (mL per mmHg per kg of regional tissue) giving ``target_ml`` at 85 deg."""
    return float(brentq(lambda k: hut85_plasma_change_ml(k) - target_ml, 0.05, 2.0, xtol=1e-4))


def inversion_iop_rise_mmhg(pressure_mmhg: float, person: Person | None = None) -> float:
    """IOP rise from standing to 3 min of full inversion for a given autoregulation constant."""
    from inversa.simulation import simulate

    p = person or Person(
        sex=Sex.MALE, age_years=25, height_cm=175, mass_kg=72, resting_iop_mmhg=LEMARR1984_STANDING_IOP_MMHG
    )
    r = simulate(p, _INVERSION, overrides={"iop_autoregulation_pressure_mmhg": pressure_mmhg})
    return float(r.at("intraocular_pressure_mmhg", r.time_s[-1]) - r.at("intraocular_pressure_mmhg", 110.0))


def fit_iop_autoregulation_pressure(target_mmhg: float = LEMARR1984_IOP_RISE_MMHG) -> float:
    """The saturation pressure of the IOP rise that reproduces LeMarr 1984's +16.4 mmHg."""
    return float(brentq(lambda p: inversion_iop_rise_mmhg(p) - target_mmhg, 5.0, 500.0, xtol=1e-3))
