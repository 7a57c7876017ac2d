"""Drive the pulsatile circulation: beats, reflex histories, fixed-step RK4 and beat statistics.

The model (``physiology.circulation``) gives derivatives for a time within the beat and a set of
reflex effectors. This driver owns everything that unfolds in time: it starts each beat with the
heart period the reflexes ask for, averages the sensed pressures over each reflex interval, pushes
the errors into a history and convolves it with the reflex impulse responses, integrates with RK4,
and condenses every beat into one row (mean, systolic and diastolic pressure, stroke volume...).

Before a protocol, each person is calibrated lying flat so that their resting heart rate and blood
pressure are the model's (open loop: peripheral resistance sets the mean, arterial compliance the
pulse pressure), the reflex set points are taken there, and the body settles at the start angle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inversa._compile import jit, jit_uncached
from inversa.physiology.circulation import model as cm
from inversa.physiology.layout import Layout

__all__ = ["BEAT", "TRACE", "CalibrationError", "CirculationRun", "run_circulation"]

#: One row per completed beat.
BEAT = Layout(
    tuple(
        (name, 1)
        for name in (
            "end_s",
            "period_s",
            "systolic_mmhg",
            "diastolic_mmhg",
            "mean_mmhg",
            "stroke_volume_ml",
            "central_venous_mmhg",
            "head_arterial_mmhg",
            "head_venous_mmhg",
            "intraocular_mmhg",
            "leg_volume_ml",
            "thoracic_volume_ml",
            "filtered_ml",
            "blood_volume_ml",
            "carotid_mmhg",
            "right_atrial_transmural_mmhg",
            "lv_end_diastolic_ml",
            "lv_end_systolic_ml",
            "ventricular_max_ml",
        )
    )
)
#: The pulsatile trace, sampled every ``trace_every`` steps when asked for.
TRACE = Layout(
    tuple(
        (name, 1)
        for name in (
            "time_s",
            "aortic_pressure_mmhg",
            "left_ventricular_pressure_mmhg",
            "left_ventricular_volume_ml",
            "head_arterial_pressure_mmhg",
            "intraocular_pressure_mmhg",
            "central_venous_pressure_mmhg",
        )
    )
)
#: Driver bookkeeping carried between calls (warm-up, then protocol).
_MISC = Layout(
    tuple(
        (name, 1)
        for name in (
            "t_beat",
            "ring_pos",
            "sensed_arterial",
            "sensed_cardiopulmonary",
            "delta_period",
            "b_sum_p",
            "b_max_p",
            "b_min_p",
            "b_sum_cvp",
            "b_sum_ha",
            "b_sum_hv",
            "b_sum_iop",
            "b_sum_cs",
            "b_sum_ra",
            "b_n",
            "b_sv",
            "b_edv",
            "b_esv",
            "b_vmax",
            "n_beats",
        )
    )
)
_THORACIC = np.array(cm.THORACIC, dtype=np.int64)
(
    _M_TB,
    _M_POS,
    _M_ACC_A,
    _M_ACC_CP,
    _M_DT,
    _M_SUM_P,
    _M_MAX_P,
    _M_MIN_P,
    _M_SUM_CVP,
    _M_SUM_HA,
    _M_SUM_HV,
    _M_SUM_IOP,
    _M_SUM_CS,
    _M_SUM_RA,
    _M_N,
    _M_SV,
    _M_EDV,
    _M_ESV,
    _M_VMAX,
    _M_BEATS,
) = range(_MISC.size)
#: Parameter positions read by the compiled driver (module constants are frozen into it).
_Q_DESC_THORACIC_SHARE = cm.PARAMS["desc_thoracic_share"]
_Q_GAIN_CONTRACTILITY = cm.PARAMS["gain_contractility"]
_Q_GAIN_RESISTANCE_ARTERIAL = cm.PARAMS["gain_resistance_arterial"]
_Q_GAIN_RESISTANCE_CARDIOPULMONARY = cm.PARAMS["gain_resistance_cardiopulmonary"]
_Q_GAIN_SYMPATHETIC = cm.PARAMS["gain_sympathetic"]
_Q_GAIN_VAGAL = cm.PARAMS["gain_vagal"]
_Q_GAIN_VENOUS_ARTERIAL = cm.PARAMS["gain_venous_arterial"]
_Q_GAIN_VENOUS_CARDIOPULMONARY = cm.PARAMS["gain_venous_cardiopulmonary"]
_Q_HEART_PERIOD0_S = cm.PARAMS["heart_period0_s"]
_Q_HEART_PERIOD_MAX_S = cm.PARAMS["heart_period_max_s"]
_Q_HEART_PERIOD_MIN_S = cm.PARAMS["heart_period_min_s"]
_Q_SETPOINT_ARTERIAL = cm.PARAMS["setpoint_arterial"]
_Q_SUBSTEPS = cm.PARAMS["substeps"]
_Q_SETPOINT_CARDIOPULMONARY = cm.PARAMS["setpoint_cardiopulmonary"]
_Q_VENOUS_TONE_SHARE = cm.PARAMS["venous_tone_share"]
_Q_VENOUS_TONE_MAX_FRACTION = cm.PARAMS["venous_tone_max_fraction"]


class CalibrationError(ValueError):
    """A person's resting values cannot be reached by the model; the message says which."""


def _set_effectors(q: Any, eff: Any, conv: Any) -> float:
    """Set one person's reflex effectors from the convolved errors ``conv`` (vagal and sympathetic
    of the arterial error, then alpha-resistance and alpha-venous of the arterial and the
    cardiopulmonary errors): contractility, resistance and venous tone go into ``eff``, each within
    its clamp; returns the heart-period change (s). Shared by the pulsatile and averaged drivers."""
    es = 1.0 - q[_Q_GAIN_CONTRACTILITY] * conv[1]
    eff[cm.E_ES] = min(max(es, 0.5), 2.0)
    rf = 1.0 - q[_Q_GAIN_RESISTANCE_ARTERIAL] * conv[2] - q[_Q_GAIN_RESISTANCE_CARDIOPULMONARY] * conv[3]
    eff[cm.E_R] = min(max(rf, 0.4), 3.0)
    dv0 = -(q[_Q_GAIN_VENOUS_ARTERIAL] * conv[4] + q[_Q_GAIN_VENOUS_CARDIOPULMONARY] * conv[5])
    for r in range(cm.N_TONE):
        cap = q[_Q_VENOUS_TONE_MAX_FRACTION] * q[cm.PU + cm.TONE_VEINS[r]]
        eff[cm.E_V0 + r] = min(max(q[_Q_VENOUS_TONE_SHARE + r] * dv0, -cap), cap)
    return float(q[_Q_GAIN_VAGAL] * conv[0] + q[_Q_GAIN_SYMPATHETIC] * conv[1])


set_effectors_compiled = jit(_set_effectors)
#: Interpreted effector update (the reference path).
set_effectors = _set_effectors


def _drive(
    rhs: Any,
    effectors: Any,
    x: NDArray[np.float64],
    q: NDArray[np.float64],
    eff: NDArray[np.float64],
    ring: NDArray[np.float64],
    misc: NDArray[np.float64],
    kern: NDArray[np.float64],
    kspan: NDArray[np.int64],
    sin_grid: NDArray[np.float64],
    t0: float,
    dt: float,
    n_steps: int,
    reflex_every: int,
    reflex_on: bool,
    beats: NDArray[np.float64],
    trace: NDArray[np.float64],
    trace_every: int,
) -> None:
    """Integrate every person over ``n_steps``; sin_grid[2k + m] is sin(angle) at step k + m/2."""
    n, s = x.shape
    k1, k2, k3, k4 = np.empty(s), np.empty(s), np.empty(s), np.empty(s)
    xt = np.empty(s)
    aux = np.empty(cm.N_AUX)
    work = np.empty(cm.N_COMP)
    conv = np.zeros(6)
    n_hist = ring.shape[2]
    dr = dt * reflex_every
    max_beats = beats.shape[1]
    n_trace = trace.shape[1]
    for j in range(n):
        xj = x[j]
        qj = q[j]
        ej = eff[j]
        mj = misc[j]
        t_beat = mj[_M_TB]
        n_beats = int(mj[_M_BEATS])
        for step in range(n_steps):
            t = t0 + step * dt
            if t_beat >= ej[cm.E_T]:
                # close the beat, then start the next with the period the reflexes ask for
                if n_beats < max_beats and mj[_M_N] > 0:
                    row = beats[j, n_beats]
                    inv = 1.0 / mj[_M_N]
                    row[0] = t
                    row[1] = ej[cm.E_T]
                    row[2] = mj[_M_MAX_P]
                    row[3] = mj[_M_MIN_P]
                    row[4] = mj[_M_SUM_P] * inv
                    row[5] = mj[_M_SV]
                    row[6] = mj[_M_SUM_CVP] * inv
                    row[7] = mj[_M_SUM_HA] * inv
                    row[8] = mj[_M_SUM_HV] * inv
                    row[9] = mj[_M_SUM_IOP] * inv
                    row[10] = xj[cm.IV + cm.LEGA] + xj[cm.IV + cm.LEGV]
                    tv = qj[_Q_DESC_THORACIC_SHARE] * xj[cm.IV + cm.DESC]
                    for c in _THORACIC:
                        tv += xj[cm.IV + c]
                    row[11] = tv
                    f = 0.0
                    for r in range(cm.N_FILT):
                        f += xj[cm.IF + r]
                    row[12] = f
                    b = 0.0
                    for c in range(cm.N_COMP):
                        b += xj[cm.IV + c]
                    row[13] = b
                    row[14] = mj[_M_SUM_CS] * inv
                    row[15] = mj[_M_SUM_RA] * inv
                    mj[_M_ACC_A] = 0.5 * (row[14] + row[4])
                    mj[_M_ACC_CP] = row[15]
                    row[16] = mj[_M_EDV]
                    row[17] = mj[_M_ESV]
                    row[18] = mj[_M_VMAX]
                    n_beats += 1
                t_beat -= ej[cm.E_T]
                period = qj[_Q_HEART_PERIOD0_S] + mj[_M_DT]
                ej[cm.E_T] = min(max(period, qj[_Q_HEART_PERIOD_MIN_S]), qj[_Q_HEART_PERIOD_MAX_S])
                for m in range(_M_SUM_P, _M_BEATS):
                    mj[m] = 0.0
                mj[_M_MAX_P] = -1e9
                mj[_M_MIN_P] = 1e9
                mj[_M_ESV] = 1e9
            i0 = 2 * step
            rhs(xj, qj, ej, sin_grid[i0], t_beat, k1, aux, work)
            # statistics of the state at the start of this step
            p_heart = aux[0]
            v_lv = xj[cm.IV + cm.LV]
            mj[_M_SUM_P] += p_heart
            mj[_M_MAX_P] = max(mj[_M_MAX_P], p_heart)
            mj[_M_MIN_P] = min(mj[_M_MIN_P], p_heart)
            mj[_M_SUM_CVP] += aux[2]
            mj[_M_SUM_HA] += aux[4]
            mj[_M_SUM_HV] += aux[5]
            mj[_M_SUM_IOP] += aux[6]
            mj[_M_SUM_CS] += aux[1]
            mj[_M_SUM_RA] += aux[3]
            mj[_M_N] += 1.0
            mj[_M_SV] += aux[8] * dt
            mj[_M_EDV] = max(mj[_M_EDV], v_lv)
            mj[_M_ESV] = min(mj[_M_ESV], v_lv)
            mj[_M_VMAX] = max(mj[_M_VMAX], v_lv + xj[cm.IV + cm.RV])
            if trace_every > 0 and step % trace_every == 0:
                ti = step // trace_every
                if ti < n_trace:
                    tr = trace[j, ti]
                    tr[0] = t
                    tr[1] = p_heart
                    tr[2] = aux[7]
                    tr[3] = v_lv
                    tr[4] = aux[4]
                    tr[5] = aux[6]
                    tr[6] = aux[2]
            # RK4 over the step, in substeps for people whose stiff arteries need a shorter step
            n_sub = int(qj[_Q_SUBSTEPS])
            h = dt / n_sub
            s0 = sin_grid[i0]
            s1 = sin_grid[i0 + 1]
            s2 = sin_grid[i0 + 2]
            for sub in range(n_sub):
                th = (sub + 0.5) / n_sub
                sm = s0 + (s1 - s0) * 2.0 * th if th <= 0.5 else s1 + (s2 - s1) * (2.0 * th - 1.0)
                th = (sub + 1.0) / n_sub
                se = s0 + (s1 - s0) * 2.0 * th if th <= 0.5 else s1 + (s2 - s1) * (2.0 * th - 1.0)
                if sub > 0:
                    th = sub / n_sub
                    sa = s0 + (s1 - s0) * 2.0 * th if th <= 0.5 else s1 + (s2 - s1) * (2.0 * th - 1.0)
                    rhs(xj, qj, ej, sa, t_beat, k1, aux, work)
                for m in range(s):
                    xt[m] = xj[m] + 0.5 * h * k1[m]
                rhs(xt, qj, ej, sm, t_beat + 0.5 * h, k2, aux, work)
                for m in range(s):
                    xt[m] = xj[m] + 0.5 * h * k2[m]
                rhs(xt, qj, ej, sm, t_beat + 0.5 * h, k3, aux, work)
                for m in range(s):
                    xt[m] = xj[m] + h * k3[m]
                rhs(xt, qj, ej, se, t_beat + h, k4, aux, work)
                for m in range(s):
                    xj[m] += h / 6.0 * (k1[m] + 2.0 * k2[m] + 2.0 * k3[m] + k4[m])
                t_beat += h
            if (step + 1) % reflex_every == 0:
                pos = int(mj[_M_POS])
                # the sensed pressures: means over the last completed beat (a pulse-free signal)
                ring[j, 0, pos] = mj[_M_ACC_A] - qj[_Q_SETPOINT_ARTERIAL]
                ring[j, 1, pos] = mj[_M_ACC_CP] - qj[_Q_SETPOINT_CARDIOPULMONARY]
                if reflex_on:
                    # conv: vagal(a), sympathetic(a), alpha-R(a), alpha-R(cp), alpha-V(a), alpha-V(cp)
                    for kk in range(4):
                        ca = 0.0
                        cc = 0.0
                        for m in range(kspan[kk, 0], kspan[kk, 1]):
                            idx = pos - m
                            if idx < 0:
                                idx += n_hist
                            w = kern[kk, m]
                            ca += w * ring[j, 0, idx]
                            cc += w * ring[j, 1, idx]
                        if kk < 2:
                            conv[kk] = ca * dr
                        else:
                            conv[2 * kk - 2] = ca * dr
                            conv[2 * kk - 1] = cc * dr
                    mj[_M_DT] = effectors(qj, ej, conv)
                mj[_M_POS] = (pos + 1) % n_hist
        mj[_M_TB] = t_beat
        mj[_M_BEATS] = n_beats


_drive_compiled = jit_uncached(_drive)


def _steady_volumes(q: NDArray[np.float64], blood_volume_ml: NDArray[np.float64]) -> NDArray[np.float64]:
    """A first guess lying flat: typical pressures in every compartment, scaled to the blood volume."""
    n = q.shape[0]
    guess = np.array([90, 88, 89, 86, 86, 86, 9, 6, 9, 9, 10, 7, 6, 15, 8, 6, 8, 8, 10], dtype=float)
    x = np.zeros((n, cm.STATE.size))
    v0 = q[:, cm.PU : cm.PU + cm.N_COMP]
    stressed = np.zeros((n, cm.N_COMP))
    stressed[:, : cm.N_VES] = q[:, cm.PC : cm.PC + cm.N_VES] * guess[None, : cm.N_VES]
    stressed[:, cm.N_VES :] = guess[None, cm.N_VES :] / q[:, cm.PED : cm.PED + 4]
    free = blood_volume_ml - v0.sum(axis=1)
    if np.any(free <= 0):
        raise CalibrationError("blood volume below the sum of unstressed volumes")
    stressed *= (free / stressed.sum(axis=1))[:, None]
    x[:, cm.IV : cm.IV + cm.N_COMP] = v0 + stressed
    return x


def _kernel_spans(kern: NDArray[np.float64]) -> NDArray[np.int64]:
    spans = np.zeros((kern.shape[0], 2), dtype=np.int64)
    for k, row in enumerate(kern):
        nz = np.nonzero(row)[0]
        spans[k] = (nz[0], nz[-1] + 1) if nz.size else (0, 0)
    return spans


@dataclass
class _Driver:
    """The per-person arrays the compiled driver reads and updates, carried across calls."""

    q: NDArray[np.float64]
    x: NDArray[np.float64]
    dt: float
    compiled: bool
    reflex_interval_s: float = 0.0625

    def __post_init__(self) -> None:
        n = self.q.shape[0]
        self.reflex_every = max(1, round(self.reflex_interval_s / self.dt))
        self.kern = cm.reflex_kernels(self.dt * self.reflex_every)
        self.kspan = _kernel_spans(self.kern)
        self.ring = np.zeros((n, 2, self.kern.shape[1]))
        self.eff = np.zeros((n, cm.EFFECTORS.size))
        self.eff[:, cm.E_T] = self.q[:, cm.PARAMS["heart_period0_s"]]
        self.eff[:, cm.E_ES] = 1.0
        self.eff[:, cm.E_R] = 1.0
        self.misc = np.zeros((n, _MISC.size))
        self.misc[:, _M_MAX_P] = -1e9
        self.misc[:, _M_MIN_P] = 1e9
        self.misc[:, _M_ESV] = 1e9

    def reset_reflexes(self) -> None:
        """Forget the reflex history (after the set points change)."""
        self.ring[:] = 0.0
        self.misc[:, _M_DT] = 0.0
        self.misc[:, _M_ACC_A] = self.q[:, cm.PARAMS["setpoint_arterial"]]
        self.misc[:, _M_ACC_CP] = self.q[:, cm.PARAMS["setpoint_cardiopulmonary"]]

    def run(
        self,
        sin_grid: NDArray[np.float64],
        t0: float,
        n_steps: int,
        reflex_on: bool,
        trace_every: int = 0,
    ) -> tuple[list[NDArray[np.float64]], NDArray[np.float64]]:
        """Integrate ``n_steps``; returns each person's completed beats and the trace."""
        n = self.q.shape[0]
        min_period = float(self.q[:, cm.PARAMS["heart_period_min_s"]].min())
        max_beats = int(n_steps * self.dt / min_period) + 4
        beats = np.zeros((n, max_beats, BEAT.size))
        n_trace = -(-n_steps // trace_every) if trace_every > 0 else 0
        trace = np.zeros((n, n_trace, TRACE.size))
        self.misc[:, _MISC["n_beats"]] = 0.0
        driver: Callable[..., None] = _drive_compiled if self.compiled else _drive
        rhs = cm.rhs_compiled if self.compiled else cm.rhs
        effectors = set_effectors_compiled if self.compiled else set_effectors
        driver(
            rhs,
            effectors,
            self.x,
            self.q,
            self.eff,
            self.ring,
            self.misc,
            self.kern,
            self.kspan,
            np.ascontiguousarray(sin_grid, dtype=np.float64),
            float(t0),
            float(self.dt),
            int(n_steps),
            int(self.reflex_every),
            bool(reflex_on),
            beats,
            trace,
            int(trace_every),
        )
        counts = self.misc[:, _MISC["n_beats"]].astype(int)
        return [beats[j, : counts[j]] for j in range(n)], trace

    def hold(
        self, sin_angle: float, seconds: float, reflex_on: bool, t0: float = 0.0
    ) -> list[NDArray[np.float64]]:
        """Hold one angle for a while; returns the beats."""
        n_steps = max(1, round(seconds / self.dt))
        grid = np.full(2 * n_steps + 1, sin_angle)
        return self.run(grid, t0, n_steps, reflex_on)[0]


def _tail_mean(beats: list[NDArray[np.float64]], column: str, n_last: int = 4) -> NDArray[np.float64]:
    k = BEAT[column]
    return np.array([b[-n_last:, k].mean() if len(b) else np.nan for b in beats])


@dataclass(frozen=True)
class CirculationRun:
    """Each person's beats over the protocol (times from its start) and the optional trace."""

    beats: list[NDArray[np.float64]]
    trace: NDArray[np.float64] | None
    params: cm.CirculationParameters
    calibration_residual_mmhg: NDArray[np.float64]


def calibrate(
    params: cm.CirculationParameters, dt: float, compiled: bool, start_sin: float
) -> tuple[_Driver, NDArray[np.float64]]:
    """Calibrate lying flat to the resting values, set the reflex set points, settle at the start.

    Open loop at the resting heart rate: systemic arteriolar resistance is scaled until the
    diastolic pressure is the resting one, the arterial compliances (0.15 to 3 times the thesis
    values; stiffer arteries get RK4 substeps) until the pulse pressure is. The pericardium is set
    near its limit at rest (pericardial_rest_pressure_mmhg at end-diastole).
    Returns the driver and the residual (mmHg).
    """
    q = params.matrix.copy()
    n = q.shape[0]
    sys_, dia = params.resting_systolic_mmhg, params.resting_diastolic_mmhg
    target_pp = sys_ - dia
    fk = q[:, cm.PFK : cm.PFK + cm.N_FILT].copy()
    q[:, cm.PFK : cm.PFK + cm.N_FILT] = 0.0  # no fluid shift while calibrating
    q[:, cm.PERI_V0] = 1e4  # pericardium slack until its reference volume is known
    x = _steady_volumes(q, params.blood_volume_ml)
    drv = _Driver(q=q, x=x, dt=dt, compiled=compiled)
    micro = [cm.PR + k for k in (6, 7, 8, 9)]
    peripheral = [cm.PC + i for i in (cm.ARCH, cm.UBA, cm.DESC, cm.RENA, cm.SPLA, cm.LEGA)]
    c_ref = q[:, peripheral].copy()
    beats = drv.hold(0.0, 16.0, reflex_on=False)
    for it in range(6):
        mean = _tail_mean(beats, "mean_mmhg")
        pp = _tail_mean(beats, "systolic_mmhg") - _tail_mean(beats, "diastolic_mmhg")
        cvp = _tail_mean(beats, "central_venous_mmhg")
        dia_now = _tail_mean(beats, "diastolic_mmhg")
        q[:, micro] *= np.clip((dia - cvp) / np.maximum(dia_now - cvp, 1.0), 0.5, 2.0)[:, None]
        c_new = q[:, peripheral] * np.clip(pp / np.maximum(target_pp, 5.0), 0.6, 1.6)[:, None]
        q[:, peripheral] = np.clip(c_new, 0.15 * c_ref, 3.0 * c_ref)
        # stiffer arteries shorten the fastest time constant: keep RK4 well inside its stability
        scale = (q[:, peripheral] / c_ref).min(axis=1)
        q[:, cm.PARAMS["substeps"]] = np.clip(np.ceil(0.85 / scale), 1, 6)
        if it == 2:
            p_rest = q[:, cm.PARAMS["peri_rest_pressure"]]
            vmax = _tail_mean(beats, "ventricular_max_ml")
            lam = q[:, cm.PERI_L]
            q[:, cm.PERI_V0] = vmax - np.log1p(p_rest / q[:, cm.PERI_P0]) / lam
        beats = drv.hold(0.0, 10.0, reflex_on=False)
    mean = _tail_mean(beats, "mean_mmhg")
    pp = _tail_mean(beats, "systolic_mmhg") - _tail_mean(beats, "diastolic_mmhg")
    residual = np.maximum(np.abs(_tail_mean(beats, "diastolic_mmhg") - dia), np.abs(pp - target_pp))
    residual[~np.isfinite(residual)] = np.inf
    # reflex set points and filtration references: this resting state, lying flat
    q[:, cm.PARAMS["setpoint_arterial"]] = 0.5 * (_tail_mean(beats, "carotid_mmhg") + mean)
    q[:, cm.PARAMS["setpoint_cardiopulmonary"]] = _tail_mean(beats, "right_atrial_transmural_mmhg")
    dx = np.zeros(cm.STATE.size)
    aux = np.zeros(cm.N_AUX)
    work = np.zeros(cm.N_COMP)
    for j in range(n):
        cm.rhs(drv.x[j], q[j], drv.eff[j], 0.0, 0.0, dx, aux, work)
        for r, vein in enumerate(cm.FILTER_VEINS):
            q[j, cm.PFR + r] = work[vein]
    q[:, cm.PFK : cm.PFK + cm.N_FILT] = fk
    drv.reset_reflexes()
    # settle at the start angle: fluid shift hurried for the first 40 s, then at its own pace
    tau = q[:, cm.F_TAU].copy()
    q[:, cm.F_TAU] = 5.0
    drv.hold(start_sin, 40.0, reflex_on=True, t0=-60.0)
    q[:, cm.F_TAU] = tau
    return drv, residual


def run_circulation(
    params: cm.CirculationParameters,
    angle_deg: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    duration_s: float,
    dt: float,
    compiled: bool = True,
    trace_every: int = 0,
    segment_s: float = 300.0,
) -> CirculationRun:
    """Calibrate, settle at the start angle, then run the protocol ``angle_deg(t)`` for ``duration_s``.

    The protocol is sampled every dt/2 one segment at a time, so memory does not grow with its length.
    """
    n_steps = max(1, math.ceil(duration_s / dt - 1e-9))
    seg = max(1, round(segment_s / dt))
    if trace_every:
        seg = max(trace_every, seg // trace_every * trace_every)
    start_sin = float(np.sin(np.radians(angle_deg(np.zeros(1)))[0]))
    drv, residual = calibrate(params, dt, compiled, start_sin)
    lead = drv.hold(start_sin, 20.0, reflex_on=True, t0=-20.0)
    parts: list[list[NDArray[np.float64]]] = [[b[-1:]] for b in lead]
    traces = []
    for first in range(0, n_steps, seg):
        steps = min(seg, n_steps - first)
        half = np.asarray((first + np.arange(2 * steps + 1) * 0.5) * dt, dtype=np.float64)
        sin_grid = np.sin(np.radians(angle_deg(half)))
        beats, trace = drv.run(sin_grid, first * dt, steps, reflex_on=True, trace_every=trace_every)
        for j, b in enumerate(beats):
            parts[j].append(b)
        if trace_every:
            traces.append(trace)
    return CirculationRun(
        beats=[np.concatenate(p) for p in parts],
        trace=np.concatenate(traces, axis=1) if traces else None,
        params=params,
        calibration_residual_mmhg=residual,
    )
