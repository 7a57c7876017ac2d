"""The beat-averaged circulation: the same vessels, reflexes and fluid shift as the pulsatile model,
with each side of the heart as a mean-flow pump (no beats, so steps of a second instead of 2 ms).

Each side of the heart is one volume: its atrium plus the mean volume of its ventricle. Lying
between beats, the ventricle fills to the atrial pressure against its diastolic elastance
(end-diastolic volume) and empties against its end-systolic elastance down to the pressure it
ejects into (end-systolic volume); its output is (EDV - ESV) per heart period. The end-systolic
pressure is the mean pressure downstream plus a share of the pulse pressure, which scales as
stroke volume over arterial compliance (kappa SV / C, kappa fitted to the pulsatile model). The
pericardium acts at end-diastole on both sides, as in the pulsatile model. Everything else (vessel
pressures, tube law, hydrostatics, intrathoracic and abdominal pressures, filtration, eye and
head pressures) is the pulsatile model's code path with the same parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from inversa._compile import jit
from inversa.physiology.circulation import model as cm
from inversa.physiology.layout import Layout

__all__ = ["FAST", "N_FAST", "rhs_averaged", "rhs_averaged_compiled"]

#: Per-person constants of the beat-averaged heart (set at calibration).
FAST = Layout(
    (
        ("arterial_compliance_ml_per_mmhg", 1),  # systemic arteries in total, after calibration
        ("pulmonary_compliance_ml_per_mmhg", 1),
        ("pulse_coefficient", 1),  # kappa: pulse pressure = kappa SV / C
        ("mean_fraction", 1),  # phi: mean = diastolic + phi (pulse pressure)
        ("systole_share", 1),  # alpha: mean ventricular volume = EDV - alpha Ts/T (EDV - ESV)
        ("period_gain_per_s", 1),  # stroke volume x (1 + g (T - T_ref)): filling time, fitted
        ("period_ref_s", 1),
    )
)
N_FAST = FAST.size
F_CA, F_CP, F_KAPPA, F_PHI, F_W, F_TG, F_TREF = range(N_FAST)

_SIDES = ((cm.RA, cm.RV, cm.PA), (cm.LA, cm.LV, cm.ARCH))
_RA, _RV, _LA, _LV = cm.RA, cm.RV, cm.LA, cm.LV
_RA_J, _RV_J, _LA_J, _LV_J = 0, 1, 2, 3  # chamber index in the elastance blocks
#: Links replaced by the pumps (valves into and out of the ventricles).
_PUMP_LINK = np.zeros(cm.N_LINKS, dtype=np.bool_)
_PUMP_LINK[[0, 17, 18, 21]] = True
#: Auxiliary outputs beyond the pulsatile model's (AUX): stroke volumes and end-diastolic volume.
N_AUX_FAST = cm.N_AUX + 4
A_SV_L, A_SV_R, A_EDV_L, A_ESV_L = cm.N_AUX, cm.N_AUX + 1, cm.N_AUX + 2, cm.N_AUX + 3


def _rhs_averaged(x: Any, q: Any, f: Any, eff: Any, sin_a: float, dx: Any, aux: Any, p: Any) -> None:
    """Derivatives of one person's beat-averaged state into ``dx``; mean pressures into ``aux``.

    ``x`` has the pulsatile state's layout: the atrium entries hold each side's whole heart volume
    and the ventricle entries stay zero. ``p`` is scratch [N_COMP]: vessel and atrial pressures.
    """
    rho_g = q[cm.RHO_G]
    p_th = q[cm.PTH0] + q[cm.PTHG] * sin_a
    top = max(-q[cm.Z_DIA] * sin_a, -q[cm.Z_PEL] * sin_a)
    for i in range(cm.N_VES):
        v0 = q[cm.PU + i]
        r = cm._TONE_OF[i]
        if r >= 0:
            v0 -= eff[cm.E_V0 + r]
        dv = x[cm.IV + i] - v0
        c = q[cm.PC + i]
        k = q[cm.PK + i]
        if dv >= 0.0 or k <= 0.0:
            if i == cm.LEGV:
                vmax = q[cm.LEG_VMAX]
                arg = min(math.pi * dv / (2.0 * vmax), 1.55)
                tm = 2.0 * vmax / (math.pi * c) * math.tan(arg)
            else:
                tm = dv / c
        else:
            ratio = v0 / max(x[cm.IV + i], 1e-3)
            tm = -k * (ratio * math.sqrt(ratio) - 1.0)
        p_abd = q[cm.PAB0] + q[cm.PABG] * max(top + q[cm.PZ + i] * sin_a, 0.0)
        p[i] = tm + q[cm.PXT + i] * p_th + q[cm.PXA + i] * p_abd

    # the two pumps: end-systolic volume from the pressure ejected into, then the filling
    period = eff[cm.E_T]
    # the ventricle's mean volume: end-diastolic except for the systolic share of the beat
    w = min(max(1.0 - f[F_W] * q[cm.TSV] / math.sqrt(period), 0.3), 0.95)
    es_scale = eff[cm.E_ES]
    # Per side, with b = (1 - phi) kappa / (C Ees) the pulse share of the end-systolic volume:
    #   ESV = e0 + b SV,  EDV = g0 - g1 ESV (the side's volume fixes the filling),  SV = EDV - ESV,
    # linear, so SV = (g0 - (1 + g1) e0) / (1 + (1 + g1) b), no ejection when that is negative.
    pulse = (1.0 - f[F_PHI]) * f[F_KAPPA]
    ees_r = q[cm.PES + _RV_J] * es_scale
    ees_l = q[cm.PES + _LV_J] * es_scale
    v0v_r = q[cm.PU + _RV]
    v0v_l = q[cm.PU + _LV]
    ed_r = q[cm.PED + _RV_J]
    ed_l = q[cm.PED + _LV_J]
    # the atria's beat-mean elastance: diastolic, plus their contraction's share of the beat
    # (raised-cosine activation over Ts_a, relaxation over Ts_a / 2: mean 0.75 Ts_a / T)
    act = 0.75 * q[cm.TSA] / math.sqrt(period)
    ea_r = q[cm.PED + _RA_J] + (q[cm.PES + _RA_J] - q[cm.PED + _RA_J]) * act
    ea_l = q[cm.PED + _LA_J] + (q[cm.PES + _LA_J] - q[cm.PED + _LA_J]) * act
    d_r = ed_r * (1.0 / ea_r + w / ed_r)
    d_l = ed_l * (1.0 / ea_l + w / ed_l)
    e0_r = v0v_r + max(p[cm.PA] - p_th, 0.0) / ees_r
    e0_l = v0v_l + max(p[cm.ARCH] - p_th, 0.0) / ees_l
    b_r = pulse / (f[F_CP] * ees_r)
    b_l = pulse / (f[F_CA] * ees_l)
    g0_r = v0v_r + (x[cm.IV + _RA] - q[cm.PU + _RA] - w * v0v_r) / d_r
    g0_l = v0v_l + (x[cm.IV + _LA] - q[cm.PU + _LA] - w * v0v_l) / d_l
    g1_r = (1.0 - w) / d_r
    g1_l = (1.0 - w) / d_l
    sv_r = max((g0_r - (1.0 + g1_r) * e0_r) / (1.0 + (1.0 + g1_r) * b_r), 0.0)
    sv_l = max((g0_l - (1.0 + g1_l) * e0_l) / (1.0 + (1.0 + g1_l) * b_l), 0.0)
    esv_r = e0_r + b_r * sv_r
    esv_l = e0_l + b_l * sv_l
    edv_r = g0_r - g1_r * esv_r
    edv_l = g0_l - g1_l * esv_l
    fill_r = (edv_r - v0v_r) * ed_r
    fill_l = (edv_l - v0v_l) * ed_l
    # the pericardium: its pressure over the beat, at end-diastolic volumes for the diastolic share
    # of the beat and at end-systolic volumes for the rest (the atria feel its beat mean)
    lam = q[cm.PERI_L]
    p_peri_ed = q[cm.PERI_P0] * (math.exp(lam * (edv_l + edv_r - q[cm.PERI_V0])) - 1.0)
    p_peri_es = q[cm.PERI_P0] * (math.exp(lam * (esv_l + esv_r - q[cm.PERI_V0])) - 1.0)
    outside = p_th + w * p_peri_ed + (1.0 - w) * p_peri_es
    p[_RA] = outside + fill_r
    p[_LA] = outside + fill_l
    p[_RV] = p[_RA]
    p[_LV] = p[_LA]
    # longer beats fill and empty more completely than the instantaneous relations say
    gain = max(1.0 + f[F_TG] * (period - f[F_TREF]), 0.5)
    # and fill for the diastole left after systole and relaxation (1.5 Ts), through the inflow
    # valve's resistance into the diastolic compliance: 1 - exp(-t_fill Ed / R)
    t_fill = max(period - 1.5 * q[cm.TSV] * math.sqrt(period), 0.02)
    sv_r *= gain * (1.0 - math.exp(-t_fill * ed_r / q[cm.PR + 17]))
    sv_l *= gain * (1.0 - math.exp(-t_fill * ed_l / q[cm.PR + 21]))
    q_r = sv_r / period
    q_l = sv_l / period

    for i in range(cm.N_STATE):
        dx[i] = 0.0
    r_factor = eff[cm.E_R]
    for k in range(cm.N_LINKS):
        if _PUMP_LINK[k]:
            continue
        a = cm._LINK_FROM[k]
        b = cm._LINK_TO[k]
        za = q[cm.PZ + a] if a < cm.N_VES else 0.0
        zb = q[cm.PZ + b] if b < cm.N_VES else 0.0
        drive = p[a] - p[b] + rho_g * (zb - za) * sin_a
        if cm._VALVE[k] and drive <= 0.0:
            continue
        res = q[cm.PR + k]
        if cm._MICRO[k]:
            res *= r_factor
        if cm._FROM_VEIN[k]:
            v0a = q[cm.PU + a]
            va = x[cm.IV + a]
            if va < v0a:
                ratio = v0a / max(va, 1e-3)
                res *= ratio * ratio
        flow = drive / res
        dx[cm.IV + a] -= flow
        dx[cm.IV + b] += flow
    dx[cm.IV + _RA] -= q_r
    dx[cm.IV + cm.PA] += q_r
    dx[cm.IV + _LA] -= q_l
    dx[cm.IV + cm.ARCH] += q_l

    for r in range(cm.N_FILT):
        vein = cm._FILTER_VEIN[r]
        dp = p[vein] - q[cm.PFR + r]
        gain = q[cm.PFK + r] if dp >= 0.0 else q[cm.PFK + r] * q[cm.F_REAB]
        rate = (gain * dp - x[cm.IF + r]) / q[cm.F_TAU]
        dx[cm.IF + r] = rate
        dx[cm.IV + vein] -= rate

    z_eye = q[cm.Z_EYE]
    aux[0] = p[cm.ARCH] - rho_g * q[cm.PZ + cm.ARCH] * sin_a
    aux[1] = p[cm.ARCH] + rho_g * (q[cm.Z_CAROTID] - q[cm.PZ + cm.ARCH]) * sin_a
    aux[2] = p[_RA]
    aux[3] = fill_r
    aux[4] = p[cm.UBA] + rho_g * (z_eye - q[cm.PZ + cm.UBA]) * sin_a
    column = p[cm.UBV] + q[cm.HV_GRAD] + rho_g * (z_eye - q[cm.PZ + cm.UBV]) * sin_a
    floor = q[cm.HV_FLOOR]
    over = column - floor
    head_vein = floor + (math.log1p(math.exp(over)) if over < 30.0 else over)
    aux[5] = head_vein
    rise = max(head_vein - floor, 0.0)
    aux[6] = q[cm.IOP_UP] + rise / (1.0 + rise / q[cm.IOP_AUTO])
    aux[7] = p[_LA]
    aux[8] = q_l
    aux[A_SV_L] = sv_l
    aux[A_SV_R] = sv_r
    aux[A_EDV_L] = edv_l
    aux[A_ESV_L] = esv_l


#: Interpreted derivatives (reference path).
rhs_averaged = _rhs_averaged
#: Compiled derivatives for one person.
rhs_averaged_compiled = jit(_rhs_averaged)
