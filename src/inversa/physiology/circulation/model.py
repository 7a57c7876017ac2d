"""Closed-loop pulsatile circulation after Heldt 2002/2004, extended for head-down tilt.

Nineteen volumes: systemic arteries and veins with their vertical positions along the body, the
pulmonary circulation and four heart chambers with time-varying elastance. Flow between two
compartments is driven by their pressure difference plus the hydrostatic column between their
centroids, ``rho g (z_to - z_from) sin(angle)`` (z along the body towards the head, angle positive
head-down). Inversa's head-down fixes (see docs/model.md): veins collapse below their unstressed
volume (tube law) and their outflow resistance rises as they empty, a pericardial pressure limits
cardiac filling, intrathoracic and abdominal pressures rise head-down, the eye and the carotid sinus
sit at explicit heights, and fluid filters out in the upper body as well as the legs.

The model holds no solver: ``rhs`` gives derivatives for one person given the reflex effectors and
the time within the beat; ``simulation.circulation`` owns beats, reflex histories and time stepping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inversa._compile import jit
from inversa.body import Person, Sex
from inversa.body.anthropometry import anthropometry
from inversa.parameters import ParameterSet, load_parameter_set
from inversa.physiology.layout import Layout, override_column

__all__ = [
    "CHAMBERS",
    "COMPARTMENTS",
    "EFFECTORS",
    "PARAMS",
    "REGIONS",
    "STATE",
    "VESSELS",
    "CirculationParameters",
    "build_parameters",
    "nadler_blood_volume_ml",
    "rhs",
    "rhs_compiled",
]

#: Vessel compartments in state order (pressure = transmural + external).
VESSELS: tuple[str, ...] = (
    "aortic_arch",
    "upper_body_arteries",
    "descending_aorta",
    "renal_arteries",
    "splanchnic_arteries",
    "leg_arteries",
    "upper_body_veins",
    "superior_vena_cava",
    "renal_veins",
    "splanchnic_veins",
    "leg_veins",
    "abdominal_veins",
    "thoracic_ivc",
    "pulmonary_arteries",
    "pulmonary_veins",
)
CHAMBERS: tuple[str, ...] = ("right_atrium", "right_ventricle", "left_atrium", "left_ventricle")
COMPARTMENTS: tuple[str, ...] = (*VESSELS, *CHAMBERS)
#: Regions whose capillaries filter fluid and whose veins carry reflex venous tone.
REGIONS: tuple[str, ...] = ("upper_body", "renal", "splanchnic", "legs")
FILTERING: tuple[str, ...] = ("upper_body", "splanchnic", "legs")

N_VES = len(VESSELS)
N_COMP = len(COMPARTMENTS)
(ARCH, UBA, DESC, RENA, SPLA, LEGA, UBV, SVC, RENV, SPLV, LEGV, ABDV, TIVC, PA, PV) = range(N_VES)
RA, RV, LA, LV = range(N_VES, N_COMP)
VEINS: tuple[int, ...] = (UBV, SVC, RENV, SPLV, LEGV, ABDV, TIVC)
THORACIC: tuple[int, ...] = (ARCH, SVC, TIVC, PA, PV, RA, RV, LA, LV)

STATE = Layout((("volume_ml", N_COMP), ("filtered_ml", len(FILTERING))))
IV = STATE["volume_ml"]
N_STATE = STATE.size
IF = STATE["filtered_ml"]

#: Reflex effectors, updated by the driver and read by ``rhs``.
EFFECTORS = Layout(
    (
        ("heart_period_s", 1),
        ("contractility_factor", 1),
        ("resistance_factor", 1),
        ("venous_tone_ml", len(REGIONS)),
    )
)
E_T, E_ES, E_R, E_V0 = (
    EFFECTORS[k] for k in ("heart_period_s", "contractility_factor", "resistance_factor", "venous_tone_ml")
)

#: Flow links (from, to): the order of the resistance block.
LINKS: tuple[tuple[int, int], ...] = (
    (LV, ARCH),  # 0 aortic valve
    (ARCH, UBA),  # 1
    (ARCH, DESC),  # 2
    (DESC, RENA),  # 3
    (DESC, SPLA),  # 4
    (DESC, LEGA),  # 5
    (UBA, UBV),  # 6 microvascular, upper body
    (RENA, RENV),  # 7 microvascular, kidney
    (SPLA, SPLV),  # 8 microvascular, splanchnic
    (LEGA, LEGV),  # 9 microvascular, legs
    (UBV, SVC),  # 10
    (SVC, RA),  # 11
    (RENV, ABDV),  # 12
    (SPLV, ABDV),  # 13
    (LEGV, ABDV),  # 14 venous valves
    (ABDV, TIVC),  # 15
    (TIVC, RA),  # 16
    (RA, RV),  # 17 tricuspid valve
    (RV, PA),  # 18 pulmonic valve
    (PA, PV),  # 19 pulmonary microvascular
    (PV, LA),  # 20
    (LA, LV),  # 21 mitral valve
)
N_LINKS = len(LINKS)
_LINK_FROM = np.array([a for a, _ in LINKS], dtype=np.int64)
_LINK_TO = np.array([b for _, b in LINKS], dtype=np.int64)

_SCALARS: tuple[str, ...] = (
    "rho_g",
    "leg_vmax",
    "p_th0",
    "p_th_gain",
    "p_abd0",
    "abdominal_gradient",
    "z_diaphragm_cm",
    "z_pelvis_cm",
    "venous_tone_max_fraction",
    "desc_thoracic_share",
    "peri_p0",
    "peri_lambda",
    "peri_v0",
    "peri_rest_pressure",
    "ts_atrial",
    "ts_ventricular",
    "pr_interval",
    "filtration_tau_s",
    "reabsorption_fraction",
    "z_eye_cm",
    "z_carotid_cm",
    "head_vein_floor",
    "head_vein_gradient",
    "iop_upright",
    "iop_autoregulation",
    "heart_period0_s",
    "heart_period_min_s",
    "heart_period_max_s",
    "gain_vagal",
    "gain_sympathetic",
    "gain_contractility",
    "gain_resistance_arterial",
    "gain_resistance_cardiopulmonary",
    "gain_venous_arterial",
    "gain_venous_cardiopulmonary",
    "setpoint_arterial",
    "setpoint_cardiopulmonary",
    "substeps",
)

PARAMS = Layout(
    (
        ("compliance", N_VES),
        ("unstressed", N_COMP),
        ("resistance", N_LINKS),
        ("z_cm", N_VES),
        ("collapse_k", N_VES),
        ("external_thoracic", N_VES),
        ("external_abdominal", N_VES),
        ("es", 4),
        ("ed", 4),
        ("filtration_k", len(FILTERING)),
        ("filtration_ref_mmhg", len(FILTERING)),
        ("venous_tone_share", len(REGIONS)),
        *((name, 1) for name in _SCALARS),
    )
)
_P = {name: PARAMS[name] for name in _SCALARS}
PC, PU, PR, PZ, PK = (PARAMS[k] for k in ("compliance", "unstressed", "resistance", "z_cm", "collapse_k"))
PXT, PXA, PES, PED = (PARAMS[k] for k in ("external_thoracic", "external_abdominal", "es", "ed"))
PFK, PFR = PARAMS["filtration_k"], PARAMS["filtration_ref_mmhg"]
(RHO_G, LEG_VMAX, PTH0, PTHG, PAB0, PABG, Z_DIA, Z_PEL) = (
    _P["rho_g"],
    _P["leg_vmax"],
    _P["p_th0"],
    _P["p_th_gain"],
    _P["p_abd0"],
    _P["abdominal_gradient"],
    _P["z_diaphragm_cm"],
    _P["z_pelvis_cm"],
)
(PERI_P0, PERI_L, PERI_V0, TSA, TSV, TPR_) = (
    _P["peri_p0"],
    _P["peri_lambda"],
    _P["peri_v0"],
    _P["ts_atrial"],
    _P["ts_ventricular"],
    _P["pr_interval"],
)
F_TAU, F_REAB = _P["filtration_tau_s"], _P["reabsorption_fraction"]
Z_EYE, Z_CAROTID, HV_GRAD, HV_FLOOR = (
    _P["z_eye_cm"],
    _P["z_carotid_cm"],
    _P["head_vein_gradient"],
    _P["head_vein_floor"],
)
IOP_UP, IOP_AUTO = _P["iop_upright"], _P["iop_autoregulation"]
N_FILT = len(FILTERING)
N_TONE = len(REGIONS)
#: Veins draining each filtering region, and each reflex region.
_FILTER_VEIN = np.array([UBV, SPLV, LEGV], dtype=np.int64)
FILTER_VEINS: tuple[int, ...] = (UBV, SPLV, LEGV)
_TONE_VEIN = (UBV, RENV, SPLV, LEGV)
TONE_VEINS = np.array(_TONE_VEIN, dtype=np.int64)
#: Auxiliary outputs written by ``rhs`` (pressures for the driver's sensors and beat statistics).
AUX = Layout(
    (
        ("aortic_pressure_heart_level_mmhg", 1),
        ("carotid_sinus_pressure_mmhg", 1),
        ("right_atrial_pressure_mmhg", 1),
        ("right_atrial_transmural_mmhg", 1),
        ("head_arterial_pressure_mmhg", 1),
        ("head_venous_pressure_mmhg", 1),
        ("intraocular_pressure_mmhg", 1),
        ("left_ventricular_pressure_mmhg", 1),
        ("aortic_valve_flow_ml_s", 1),
    )
)
N_AUX = AUX.size


def nadler_blood_volume_ml(sex: Sex, height_cm: float, mass_kg: float) -> float:
    """Nadler 1962 total blood volume (the coefficients of the published equations)."""
    h = height_cm / 100.0
    if sex is Sex.MALE:
        return 1000.0 * (0.3669 * h**3 + 0.03219 * mass_kg + 0.6041)
    return 1000.0 * (0.3561 * h**3 + 0.03308 * mass_kg + 0.1833)


#: Per-link flags (module constants, frozen into the compiled code).
_VALVE = np.zeros(N_LINKS, dtype=np.bool_)
_VALVE[[0, 14, 17, 18, 21]] = True
_MICRO = np.zeros(N_LINKS, dtype=np.bool_)
_MICRO[[6, 7, 8, 9]] = True
_FROM_VEIN = np.array([a in VEINS for a, _ in LINKS], dtype=np.bool_)
#: Reflex venous-tone region of each vessel (-1: none).
_TONE_OF = np.full(N_VES, -1, dtype=np.int64)
for _r, _v in enumerate(_TONE_VEIN):
    _TONE_OF[_v] = _r
_IS_ATRIUM = np.array([True, False, True, False])


def _rhs(
    x: Any,
    q: Any,
    eff: Any,
    sin_a: float,
    t_beat: float,
    dx: Any,
    aux: Any,
    p: Any,
) -> None:
    """Derivatives of one person's state into ``dx``, sensed pressures into ``aux`` (p: scratch [N_COMP]).

    Vessel pressure: linear above V0 (arctangent curve for the leg veins), tube law below V0 for veins;
    chambers: time-varying elastance, raised-cosine contraction over Ts then relaxation over Ts/2.
    """
    rho_g = q[RHO_G]
    p_th = q[PTH0] + q[PTHG] * sin_a
    # abdominal contents: a fluid column whose top (the highest end of the abdomen) is at p_abd0
    top = max(-q[Z_DIA] * sin_a, -q[Z_PEL] * sin_a)
    root = math.sqrt(eff[E_T])
    # atrial and ventricular activation (0..1) at this time in the beat
    ts_a = q[TSA] * root
    s_a = t_beat
    a_atr = 0.0
    if 0.0 <= s_a < ts_a:
        a_atr = 0.5 * (1.0 - math.cos(math.pi * s_a / ts_a))
    elif ts_a <= s_a < 1.5 * ts_a:
        a_atr = 0.5 * (1.0 + math.cos(2.0 * math.pi * (s_a - ts_a) / ts_a))
    ts_v = q[TSV] * root
    s_v = t_beat - q[TPR_] * root
    a_ven = 0.0
    if 0.0 <= s_v < ts_v:
        a_ven = 0.5 * (1.0 - math.cos(math.pi * s_v / ts_v))
    elif ts_v <= s_v < 1.5 * ts_v:
        a_ven = 0.5 * (1.0 + math.cos(2.0 * math.pi * (s_v - ts_v) / ts_v))
    p_peri = q[PERI_P0] * (math.exp(q[PERI_L] * (x[IV + LV] + x[IV + RV] - q[PERI_V0])) - 1.0)
    outside = p_th + p_peri

    for i in range(N_VES):
        v0 = q[PU + i]
        r = _TONE_OF[i]
        if r >= 0:
            v0 -= eff[E_V0 + r]
        dv = x[IV + i] - v0
        c = q[PC + i]
        k = q[PK + i]
        if dv >= 0.0 or k <= 0.0:
            if i == LEGV:
                vmax = q[LEG_VMAX]
                arg = min(math.pi * dv / (2.0 * vmax), 1.55)
                tm = 2.0 * vmax / (math.pi * c) * math.tan(arg)
            else:
                tm = dv / c
        else:
            ratio = v0 / max(x[IV + i], 1e-3)
            tm = -k * (ratio * math.sqrt(ratio) - 1.0)
        p_abd = q[PAB0] + q[PABG] * max(top + q[PZ + i] * sin_a, 0.0)
        p[i] = tm + q[PXT + i] * p_th + q[PXA + i] * p_abd
    es_scale = eff[E_ES]
    for j in range(4):
        act = a_atr if _IS_ATRIUM[j] else a_ven
        es = q[PES + j] if _IS_ATRIUM[j] else q[PES + j] * es_scale
        e = q[PED + j] + (es - q[PED + j]) * act
        p[N_VES + j] = e * (x[IV + N_VES + j] - q[PU + N_VES + j]) + outside

    for i in range(N_STATE):
        dx[i] = 0.0
    r_factor = eff[E_R]
    aortic_flow = 0.0
    for k in range(N_LINKS):
        a = _LINK_FROM[k]
        b = _LINK_TO[k]
        za = q[PZ + a] if a < N_VES else 0.0
        zb = q[PZ + b] if b < N_VES else 0.0
        drive = p[a] - p[b] + rho_g * (zb - za) * sin_a
        if _VALVE[k] and drive <= 0.0:  # valves: one way only
            continue
        res = q[PR + k]
        if _MICRO[k]:
            res *= r_factor
        if _FROM_VEIN[k]:
            v0a = q[PU + a]
            va = x[IV + a]
            if va < v0a:  # a collapsing vein narrows: resistance rises as its area (volume) falls
                ratio = v0a / max(va, 1e-3)
                res *= ratio * ratio
        flow = drive / res
        if k == 0:
            aortic_flow = flow
        dx[IV + a] -= flow
        dx[IV + b] += flow

    # transcapillary fluid shift, drawn from (or returned to) the region's veins
    for r in range(N_FILT):
        vein = _FILTER_VEIN[r]
        dp = p[vein] - q[PFR + r]
        gain = q[PFK + r] if dp >= 0.0 else q[PFK + r] * q[F_REAB]
        rate = (gain * dp - x[IF + r]) / q[F_TAU]
        dx[IF + r] = rate
        dx[IV + vein] -= rate

    # sensed and reported pressures
    z_eye = q[Z_EYE]
    aux[0] = p[ARCH] - rho_g * q[PZ + ARCH] * sin_a
    aux[1] = p[ARCH] + rho_g * (q[Z_CAROTID] - q[PZ + ARCH]) * sin_a
    aux[2] = p[RA]
    aux[3] = p[RA] - outside
    aux[4] = p[UBA] + rho_g * (z_eye - q[PZ + UBA]) * sin_a
    column = p[UBV] + q[HV_GRAD] + rho_g * (z_eye - q[PZ + UBV]) * sin_a
    floor = q[HV_FLOOR]
    over = column - floor
    # smooth maximum of the column and the floor (the neck veins collapse upright)
    head_vein = floor + (math.log1p(math.exp(over)) if over < 30.0 else over)
    aux[5] = head_vein
    rise = max(head_vein - floor, 0.0)
    aux[6] = q[IOP_UP] + rise / (1.0 + rise / q[IOP_AUTO])
    aux[7] = p[LV]
    aux[8] = aortic_flow


#: Interpreted derivatives (the reference path): Python floats through the same source.
rhs = _rhs
#: Compiled derivatives for one person.
rhs_compiled = jit(_rhs)


@dataclass(frozen=True)
class CirculationParameters:
    """Per-person parameter matrix [people, PARAMS.size] and the citations behind it."""

    matrix: NDArray[np.float64]
    blood_volume_ml: NDArray[np.float64]
    resting_systolic_mmhg: NDArray[np.float64]
    resting_diastolic_mmhg: NDArray[np.float64]
    resting_heart_rate_bpm: NDArray[np.float64]
    resting_iop_mmhg: NDArray[np.float64]
    citations: list[str]

    @property
    def n_people(self) -> int:
        return int(self.matrix.shape[0])

    def column(self, name: str) -> NDArray[np.float64]:
        """One named scalar for every person."""
        return self.matrix[:, PARAMS[name]]


def _set() -> ParameterSet:
    return load_parameter_set("circulation")


#: Overridable scalar parameters (data-file keys) for sensitivity work and cohorts.
OVERRIDABLE: tuple[str, ...] = (
    "heart_period_vagal_gain_s_per_mmhg",
    "heart_period_sympathetic_gain_s_per_mmhg",
    "contractility_gain_per_mmhg",
    "arterial_resistance_gain_per_mmhg",
    "cardiopulmonary_resistance_gain_per_mmhg",
    "arterial_venous_tone_gain_ml_per_mmhg",
    "cardiopulmonary_venous_tone_gain_ml_per_mmhg",
    "intrathoracic_pressure_tilt_gain_mmhg",
    "abdominal_contents_hydrostatic_mmhg_per_cm",
    "venous_tone_max_fraction",
    "collapse_stiffness_factor",
    "filtration_coefficient_ml_per_mmhg_kg",
    "filtration_reabsorption_fraction",
    "iop_autoregulation_pressure_mmhg",
    "head_vein_floor_mmhg",
    "leg_vein_max_volume_ml",
    "pericardial_stiffness_per_ml",
)

_VENOUS_TONE_SHARE = (0.23, 0.06, 0.59, 0.12)
_ABDOMINAL = ("renal_arteries", "splanchnic_arteries", "renal_veins", "splanchnic_veins", "abdominal_veins")


def _vertical_positions_cm(length: Mapping[str, float]) -> dict[str, float]:
    """Centroid of each vessel along the body (cm towards the head from the right atrium)."""
    arch_top = 10.0 + 4.5  # ascending aorta (10 cm) then brachiocephalic arteries (4.5 cm)
    hip = -length["descending_aorta"] + 10.0  # the aorta runs from the arch (10 cm) to the bifurcation
    ub_top = arch_top + length["upper_body_arteries"]
    return {
        "aortic_arch": (0.28 * 5.0 + 0.13 * 12.25) / 0.41,  # compliance-weighted centroid of the two
        "upper_body_arteries": (arch_top + ub_top) / 2.0,
        "descending_aorta": (0.21 * 2.0 + 0.10 * -13.25) / 0.31,
        "renal_arteries": hip,
        "splanchnic_arteries": hip - length["splanchnic_arteries"] / 2.0,
        "leg_arteries": hip - length["leg_arteries"] / 2.0,
        "upper_body_veins": (arch_top + ub_top) / 2.0,
        "superior_vena_cava": length["superior_vena_cava"] / 2.0,
        "renal_veins": hip,
        "splanchnic_veins": hip - length["splanchnic_veins"] / 2.0,
        "leg_veins": hip - length["leg_veins"] / 2.0,
        "abdominal_veins": -length["thoracic_ivc"] - length["abdominal_veins"] / 2.0,
        "thoracic_ivc": -length["thoracic_ivc"] / 2.0,
        "pulmonary_arteries": 0.0,
        "pulmonary_veins": 0.0,
    }


def _leg_centroid_cm(body: Any) -> float:
    """Height of the legs' mass centroid relative to the heart (cm, negative: below), standing."""
    length = body.segment_length_m
    mass = body.segment_mass_kg
    below_hip = {
        "thigh": 0.5 * length["thigh"],
        "shank": length["thigh"] + 0.5 * length["shank"],
        "foot": length["thigh"] + length["shank"] + 0.5 * body.landmark_height_m["ankle"],
    }
    total = sum(mass[s] for s in below_hip)
    centroid = sum(mass[s] * d for s, d in below_hip.items()) / total
    hip = body.landmark_height_m["hip"] - body.landmark_height_m["chest"]
    return float(100.0 * (hip - centroid))


def build_parameters(
    people: Sequence[Person],
    overrides: Mapping[str, Any] | None = None,
) -> CirculationParameters:
    """Every person's circulation: reference values scaled to their blood volume and height.

    Volumes and compliances scale with Nadler's blood volume for the person over Nadler's for the
    reference (169 cm, 70 kg man, whose volume is the thesis's 5150 mL); resistances and elastances
    scale inversely (the same pressures at a flow in proportion to size); lengths scale with height.
    Resting values (set points) come from the person when given, else from the data file.
    """
    s = _set()
    n = len(people)
    over = dict(overrides or {})
    unknown = sorted(set(over) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown parameter override(s): {', '.join(unknown)}")
    cols = {k: override_column(v, n, k) for k, v in over.items()}

    def val(key: str) -> NDArray[np.float64]:
        return cols[key] if key in cols else np.full(n, s[key])

    ref_bv = nadler_blood_volume_ml(Sex.MALE, s["reference_height_cm"], s["reference_mass_kg"])
    size = np.array([nadler_blood_volume_ml(p.sex, p.height_cm, p.mass_kg) / ref_bv for p in people])
    tall = np.array([p.height_cm for p in people]) / s["reference_height_cm"]
    m = np.zeros((n, PARAMS.size))
    lengths = {v: s[f"vertical_length_cm.{v}"] for v in VESSELS if f"vertical_length_cm.{v}" in s.parameters}
    z_ref = _vertical_positions_cm(lengths)
    collapse = val("collapse_stiffness_factor")
    for i, name in enumerate(VESSELS):
        c = s[f"compliance_ml_per_mmhg.{name}"] * size
        v0 = s[f"unstressed_volume_ml.{name}"] * size
        m[:, PC + i] = c
        m[:, PU + i] = v0
        m[:, PZ + i] = z_ref[name] * tall
        if i in VEINS:
            m[:, PK + i] = collapse * 2.0 * v0 / (3.0 * c)
        if i in THORACIC or name.startswith("pulmonary"):
            m[:, PXT + i] = 1.0
        elif name in _ABDOMINAL:
            m[:, PXA + i] = 1.0
    share = s["descending_aorta_thoracic_share"]
    m[:, PXT + DESC] = share
    m[:, PXA + DESC] = 1.0 - share
    for j, ch in enumerate(CHAMBERS):
        m[:, PU + N_VES + j] = s[f"unstressed_volume_ml.{ch}"] * size
        m[:, PES + j] = s[f"end_systolic_elastance_mmhg_per_ml.{ch}"] / size
        m[:, PED + j] = s[f"end_diastolic_elastance_mmhg_per_ml.{ch}"] / size
    link_keys = (
        "resistance_mmhg_s_per_ml.aortic_valve",
        "resistance_mmhg_s_per_ml.upper_body_arteries",
        "resistance_mmhg_s_per_ml.descending_aorta",
        "resistance_mmhg_s_per_ml.renal_arteries",
        "resistance_mmhg_s_per_ml.splanchnic_arteries",
        "resistance_mmhg_s_per_ml.leg_arteries",
        "microvascular_resistance_mmhg_s_per_ml.upper_body",
        "microvascular_resistance_mmhg_s_per_ml.renal",
        "microvascular_resistance_mmhg_s_per_ml.splanchnic",
        "microvascular_resistance_mmhg_s_per_ml.legs",
        "resistance_mmhg_s_per_ml.upper_body_veins",
        "resistance_mmhg_s_per_ml.superior_vena_cava",
        "resistance_mmhg_s_per_ml.renal_veins",
        "resistance_mmhg_s_per_ml.splanchnic_veins",
        "resistance_mmhg_s_per_ml.leg_veins",
        "resistance_mmhg_s_per_ml.abdominal_veins",
        "resistance_mmhg_s_per_ml.thoracic_ivc",
        "resistance_mmhg_s_per_ml.tricuspid_valve",
        "resistance_mmhg_s_per_ml.pulmonary_arteries",
        "microvascular_resistance_mmhg_s_per_ml.pulmonary",
        "resistance_mmhg_s_per_ml.pulmonary_veins",
        "resistance_mmhg_s_per_ml.mitral_valve",
    )
    for k, key in enumerate(link_keys):
        m[:, PR + k] = s[key] / size
    fk = val("filtration_coefficient_ml_per_mmhg_kg")
    masses = np.array([p.mass_kg for p in people])
    for r, region in enumerate(FILTERING):
        m[:, PFK + r] = fk * masses * s[f"tissue_mass_fraction.{region}"]
    m[:, PARAMS.span("venous_tone_share")] = np.array(_VENOUS_TONE_SHARE)[None, :] * size[:, None]

    def put(name: str, value: Any) -> None:
        m[:, PARAMS[name]] = value

    put("rho_g", s["blood_hydrostatic_mmhg_per_cm"])
    put("leg_vmax", val("leg_vein_max_volume_ml") * size)
    put("p_th0", s["intrathoracic_pressure_supine_mmhg"])
    put("p_th_gain", val("intrathoracic_pressure_tilt_gain_mmhg"))
    put("p_abd0", s["abdominal_pressure_supine_mmhg"])
    put("abdominal_gradient", val("abdominal_contents_hydrostatic_mmhg_per_cm"))
    put("z_diaphragm_cm", -s["vertical_length_cm.thoracic_ivc"] * tall)
    put("z_pelvis_cm", -(s["vertical_length_cm.thoracic_ivc"] + s["abdominal_length_cm"]) * tall)
    put("venous_tone_max_fraction", val("venous_tone_max_fraction"))
    put("desc_thoracic_share", share)
    put("peri_p0", s["pericardial_pressure_scale_mmhg"])
    put("peri_lambda", val("pericardial_stiffness_per_ml") / size)
    put("peri_v0", 0.0)  # set at calibration (pericardial_rest_pressure_mmhg)
    put("peri_rest_pressure", s["pericardial_rest_pressure_mmhg"])
    put("ts_atrial", s["atrial_systole_coefficient"])
    put("ts_ventricular", s["ventricular_systole_coefficient"])
    put("pr_interval", s["pr_interval_coefficient"])
    put("filtration_tau_s", s["filtration_time_constant_s"])
    put("reabsorption_fraction", val("filtration_reabsorption_fraction"))
    bodies = [anthropometry(p) for p in people]
    z_eye = np.array([100.0 * (b.landmark_height_m["eye"] - b.landmark_height_m["chest"]) for b in bodies])
    put("z_eye_cm", z_eye)
    # the legs' blood sits at their mass centroid (segments' middles weighted by mass), not half-way
    m[:, PZ + LEGA] = m[:, PZ + LEGV] = np.array([_leg_centroid_cm(b) for b in bodies])
    put("z_carotid_cm", s["carotid_sinus_height_cm"] * tall)
    put("head_vein_floor", val("head_vein_floor_mmhg"))
    put("head_vein_gradient", s["head_vein_gradient_mmhg"])

    def resting(field: str, key: str) -> NDArray[np.float64]:
        return np.array([float(getattr(p, field, None) or s[key]) for p in people])

    sys_ = resting("resting_systolic_mmhg", "resting_systolic_mmhg")
    dia = resting("resting_diastolic_mmhg", "resting_diastolic_mmhg")
    hr = resting("resting_heart_rate_bpm", "resting_heart_rate_bpm")
    iop = resting("resting_iop_mmhg", "resting_iop_mmhg")
    put("iop_upright", iop)
    put("iop_autoregulation", val("iop_autoregulation_pressure_mmhg"))
    put("heart_period0_s", 60.0 / hr)
    put("substeps", 1.0)
    put("heart_period_min_s", s["heart_period_min_s"])
    put("heart_period_max_s", s["heart_period_max_s"])
    put("gain_vagal", val("heart_period_vagal_gain_s_per_mmhg"))
    put("gain_sympathetic", val("heart_period_sympathetic_gain_s_per_mmhg"))
    put("gain_contractility", val("contractility_gain_per_mmhg"))
    put("gain_resistance_arterial", val("arterial_resistance_gain_per_mmhg"))
    put("gain_resistance_cardiopulmonary", val("cardiopulmonary_resistance_gain_per_mmhg"))
    put("gain_venous_arterial", val("arterial_venous_tone_gain_ml_per_mmhg"))
    put("gain_venous_cardiopulmonary", val("cardiopulmonary_venous_tone_gain_ml_per_mmhg"))
    bv = s["reference_blood_volume_ml"] * size
    citations = s.citations()
    return CirculationParameters(
        matrix=m,
        blood_volume_ml=bv,
        resting_systolic_mmhg=sys_,
        resting_diastolic_mmhg=dia,
        resting_heart_rate_bpm=hr,
        resting_iop_mmhg=iop,
        citations=citations,
    )


def reflex_kernels(dt_s: float) -> NDArray[np.float64]:
    """Unit-area impulse responses sampled every ``dt_s``: rows vagal, sympathetic, alpha-R, alpha-V."""
    s = _set()
    names = ("vagal", "sympathetic", "alpha_resistance", "alpha_venous")
    end = max(s[f"reflex_end_s.{k}"] for k in names)
    t = np.arange(math.ceil(end / dt_s) + 1) * dt_s
    rows = []
    for k in names:
        d, pk, e = s[f"reflex_delay_s.{k}"], s[f"reflex_peak_s.{k}"], s[f"reflex_end_s.{k}"]
        h = np.interp(t, [d, pk, e], [0.0, 1.0, 0.0], left=0.0, right=0.0)
        rows.append(h / (h.sum() * dt_s))
    return np.ascontiguousarray(np.stack(rows))
