"""Drive the beat-averaged circulation: linearly implicit Euler steps of about a second, the same
reflexes and the same calibration targets as the pulsatile driver.

The beat-averaged model (``physiology.circulation.averaged``) is stiff (arterial time constants of
milliseconds) but smooth, so each step solves ``(I - h J) dx = h f(x)`` with a Jacobian by finite
differences, factorised once and reused while the angle changes little. The reflexes convolve
the sensed errors with the pulsatile model's impulse responses, binned to the step. Calibration
lying flat matches the pulsatile driver's: the mean pressure the pulsatile model has at the
person's resting systolic/diastolic pressure (diastolic + phi x pulse pressure), the arterial
compliance that gives their pulse pressure, the pericardium near its limit at rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inversa._compile import jit_uncached
from inversa.parameters import load_parameter_set
from inversa.physiology.circulation import averaged as av
from inversa.physiology.circulation import model as cm
from inversa.physiology.layout import Layout
from inversa.simulation.circulation import (
    _Q_DESC_THORACIC_SHARE,
    _Q_HEART_PERIOD0_S,
    _Q_HEART_PERIOD_MAX_S,
    _Q_HEART_PERIOD_MIN_S,
    _Q_SETPOINT_ARTERIAL,
    _Q_SETPOINT_CARDIOPULMONARY,
    CalibrationError,
    set_effectors,
    set_effectors_compiled,
)

__all__ = ["ROW", "AveragedRun", "run_circulation_averaged"]

#: One row per step.
ROW = Layout(
    tuple(
        (name, 1)
        for name in (
            "time_s",
            "heart_rate_bpm",
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
        )
    )
)
_PERIPHERAL = np.array([cm.ARCH, cm.UBA, cm.DESC, cm.RENA, cm.SPLA, cm.LEGA], dtype=np.int64)
_THORACIC = np.array(cm.THORACIC, dtype=np.int64)
#: Refactorise the step matrix when sin(angle) has moved this much since the last factorisation.
_REFACTOR_SIN = 0.04
_REFACTOR_STEPS = 30
#: ... or when the heart period or the resistance factor has moved by this fraction.
_REFACTOR_EFFECTOR = 0.03
#: Step of the open-loop calibration (s).
CALIBRATION_DT_S = 5.0


def averaged_constants(n: int) -> NDArray[np.float64]:
    """The beat-averaged heart's fitted constants (parameter set "circulation", averaged_*) for n
    people; the compliances are filled in at calibration."""
    s = load_parameter_set("circulation")
    f = np.zeros((n, av.N_FAST))
    f[:, av.F_KAPPA] = s["averaged_pulse_coefficient"]
    f[:, av.F_PHI] = s["averaged_mean_fraction"]
    f[:, av.F_W] = s["averaged_systole_share"]
    f[:, av.F_TG] = s["averaged_period_gain_per_s"]
    f[:, av.F_TREF] = s["averaged_period_ref_s"]
    return f


def _factor(a: Any, piv: Any) -> None:
    """LU factorisation with partial pivoting, in place (a = P L U)."""
    n = a.shape[0]
    for k in range(n):
        best = k
        big = abs(a[k, k])
        for i in range(k + 1, n):
            if abs(a[i, k]) > big:
                big = abs(a[i, k])
                best = i
        piv[k] = best
        if best != k:
            for m in range(n):
                tmp = a[k, m]
                a[k, m] = a[best, m]
                a[best, m] = tmp
        inv = 1.0 / a[k, k]
        for i in range(k + 1, n):
            a[i, k] *= inv
            lik = a[i, k]
            if lik != 0.0:
                for m in range(k + 1, n):
                    a[i, m] -= lik * a[k, m]


def _solve(a: Any, piv: Any, b: Any) -> None:
    """Solve with the factors of ``_factor``, in place in ``b``."""
    n = a.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for i in range(n):
        s = b[i]
        for m in range(i):
            s -= a[i, m] * b[m]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for m in range(i + 1, n):
            s -= a[i, m] * b[m]
        b[i] = s / a[i, i]


def _drive_averaged(
    rhs: Any,
    effectors: Any,
    factor: Any,
    solve: Any,
    x: NDArray[np.float64],
    q: NDArray[np.float64],
    f: NDArray[np.float64],
    eff: NDArray[np.float64],
    ring: NDArray[np.float64],
    pos_arr: NDArray[np.int64],
    dperiod: NDArray[np.float64],
    kern: NDArray[np.float64],
    sin_grid: NDArray[np.float64],
    t0: float,
    dt: float,
    n_steps: int,
    reflex_on: bool,
    rows: NDArray[np.float64],
) -> None:
    """Integrate every person over ``n_steps`` steps of linearly implicit Euler; sin_grid[k] is
    sin(angle) at the start of step k, and rows[:, k] hold the values at that time."""
    n, s = x.shape
    f0 = np.empty(s)
    f1 = np.empty(s)
    xp = np.empty(s)
    mat = np.empty((s, s))
    piv = np.zeros(s, dtype=np.int64)
    aux = np.zeros(av.N_AUX_FAST)
    scratch = np.zeros(av.N_AUX_FAST)
    work = np.empty(cm.N_COMP)
    conv = np.zeros(6)
    n_hist = ring.shape[2]
    n_kern = kern.shape[1]
    for j in range(n):
        xj = x[j]
        qj = q[j]
        fj = f[j]
        ej = eff[j]
        last_sin = 1e9
        last_t = 0.0
        last_r = 0.0
        since = 0
        for step in range(n_steps):
            sa = sin_grid[step]
            # the state at the start of the step: derivatives, and the values reported for it
            rhs(xj, qj, fj, ej, sa, f0, aux, work)
            row = rows[j, step]
            mean = aux[0]
            sv = aux[av.A_SV_L]
            pulse = fj[av.F_KAPPA] * sv / fj[av.F_CA]
            row[0] = t0 + step * dt
            row[1] = 60.0 / ej[cm.E_T]
            row[2] = mean + (1.0 - fj[av.F_PHI]) * pulse
            row[3] = mean - fj[av.F_PHI] * pulse
            row[4] = mean
            row[5] = sv
            row[6] = aux[2]
            row[7] = aux[4]
            row[8] = aux[5]
            row[9] = aux[6]
            row[10] = xj[cm.IV + cm.LEGA] + xj[cm.IV + cm.LEGV]
            tv = qj[_Q_DESC_THORACIC_SHARE] * xj[cm.IV + cm.DESC]
            for c in _THORACIC:
                tv += xj[cm.IV + c]
            row[11] = tv
            fsum = 0.0
            for r in range(cm.N_FILT):
                fsum += xj[cm.IF + r]
            row[12] = fsum
            bsum = 0.0
            for c in range(cm.N_COMP):
                bsum += xj[cm.IV + c]
            row[13] = bsum
            row[14] = aux[1]
            row[15] = aux[3]
            if (
                abs(sa - last_sin) > _REFACTOR_SIN
                or since >= _REFACTOR_STEPS
                or abs(ej[cm.E_T] - last_t) > _REFACTOR_EFFECTOR * last_t
                or abs(ej[cm.E_R] - last_r) > _REFACTOR_EFFECTOR * last_r
            ):
                # step matrix I - h J, J by forward differences at the current state and angle
                for m in range(s):
                    xp[m] = xj[m]
                for c in range(s):
                    hstep = 1e-6 * max(abs(xj[c]), 1.0)
                    xp[c] = xj[c] + hstep
                    rhs(xp, qj, fj, ej, sa, f1, scratch, work)
                    xp[c] = xj[c]
                    for m in range(s):
                        mat[m, c] = -dt * (f1[m] - f0[m]) / hstep
                for m in range(s):
                    mat[m, m] += 1.0
                factor(mat, piv)
                last_sin = sa
                last_t = ej[cm.E_T]
                last_r = ej[cm.E_R]
                since = 0
            since += 1
            for m in range(s):
                f0[m] *= dt
            solve(mat, piv, f0)
            for m in range(s):
                xj[m] += f0[m]
            # reflexes: the sensed errors enter the history, the effectors follow the convolution
            pos = pos_arr[j]
            ring[j, 0, pos] = 0.5 * (aux[1] + aux[0]) - qj[_Q_SETPOINT_ARTERIAL]
            ring[j, 1, pos] = aux[3] - qj[_Q_SETPOINT_CARDIOPULMONARY]
            if reflex_on:
                for kk in range(4):
                    ca = 0.0
                    cc = 0.0
                    for m in range(n_kern):
                        idx = pos - m
                        if idx < 0:
                            idx += n_hist
                        w = kern[kk, m]
                        ca += w * ring[j, 0, idx]
                        cc += w * ring[j, 1, idx]
                    if kk < 2:
                        conv[kk] = ca
                    else:
                        conv[2 * kk - 2] = ca
                        conv[2 * kk - 1] = cc
                dperiod[j] = effectors(qj, ej, conv)
                period = qj[_Q_HEART_PERIOD0_S] + dperiod[j]
                ej[cm.E_T] = min(max(period, qj[_Q_HEART_PERIOD_MIN_S]), qj[_Q_HEART_PERIOD_MAX_S])
            pos_arr[j] = (pos + 1) % n_hist


_drive_averaged_compiled = jit_uncached(_drive_averaged)
_factor_compiled = jit_uncached(_factor)
_solve_compiled = jit_uncached(_solve)


def binned_kernels(dt_s: float, fine_s: float = 0.005) -> NDArray[np.float64]:
    """The reflex impulse responses as weights per step (each row sums to 1): the fine kernels
    integrated over each step, so delays shorter than a step keep their share."""
    fine = cm.reflex_kernels(fine_s) * fine_s
    per = max(1, round(dt_s / fine_s))
    n_bins = -(-fine.shape[1] // per)
    padded = np.zeros((fine.shape[0], n_bins * per))
    padded[:, : fine.shape[1]] = fine
    binned = padded.reshape(fine.shape[0], n_bins, per).sum(axis=2)
    return np.ascontiguousarray(binned / binned.sum(axis=1, keepdims=True))


@dataclass
class _AveragedDriver:
    q: NDArray[np.float64]
    f: NDArray[np.float64]
    x: NDArray[np.float64]
    dt: float
    compiled: bool

    def __post_init__(self) -> None:
        n = self.q.shape[0]
        self.kern = binned_kernels(self.dt)
        self.ring = np.zeros((n, 2, self.kern.shape[1]))
        self.pos = np.zeros(n, dtype=np.int64)
        self.dperiod = np.zeros(n)
        self.eff = np.zeros((n, cm.EFFECTORS.size))
        self.eff[:, cm.E_T] = self.q[:, cm.PARAMS["heart_period0_s"]]
        self.eff[:, cm.E_ES] = 1.0
        self.eff[:, cm.E_R] = 1.0

    def reset_reflexes(self) -> None:
        self.ring[:] = 0.0
        self.dperiod[:] = 0.0

    def run(self, sin_grid: NDArray[np.float64], t0: float, reflex_on: bool) -> NDArray[np.float64]:
        """One step per entry of ``sin_grid``; returns the rows [people, steps, ROW]."""
        n = self.q.shape[0]
        rows = np.zeros((n, len(sin_grid), ROW.size))
        if self.compiled:
            drive: Callable[..., None] = _drive_averaged_compiled
            args: tuple[Any, ...] = (
                av.rhs_averaged_compiled,
                set_effectors_compiled,
                _factor_compiled,
                _solve_compiled,
            )
        else:
            drive = _drive_averaged
            args = (av.rhs_averaged, set_effectors, _factor, _solve)
        drive(
            *args,
            self.x,
            self.q,
            self.f,
            self.eff,
            self.ring,
            self.pos,
            self.dperiod,
            self.kern,
            np.ascontiguousarray(sin_grid, dtype=np.float64),
            float(t0),
            float(self.dt),
            len(sin_grid),
            bool(reflex_on),
            rows,
        )
        return rows

    def hold(self, sin_angle: float, seconds: float, reflex_on: bool, t0: float = 0.0) -> NDArray[np.float64]:
        return self.run(np.full(max(1, round(seconds / self.dt)), sin_angle), t0, reflex_on)


def _initial_state(q: NDArray[np.float64], blood_volume_ml: NDArray[np.float64]) -> NDArray[np.float64]:
    """A first guess lying flat, each heart side holding its atrium and a mean ventricle."""
    n = q.shape[0]
    guess = np.array([90, 88, 89, 86, 86, 86, 9, 6, 9, 9, 10, 7, 6, 15, 8], dtype=float)
    x = np.zeros((n, cm.STATE.size))
    v0 = q[:, cm.PU : cm.PU + cm.N_VES]
    stressed = q[:, cm.PC : cm.PC + cm.N_VES] * guess[None, :]
    heart_r = q[:, cm.PU + cm.RA] + q[:, cm.PU + cm.RV] + 80.0
    heart_l = q[:, cm.PU + cm.LA] + q[:, cm.PU + cm.LV] + 100.0
    free = blood_volume_ml - v0.sum(axis=1) - heart_r - heart_l
    if np.any(free <= 0):
        raise CalibrationError("blood volume below the sum of unstressed volumes")
    stressed *= (free / stressed.sum(axis=1))[:, None]
    x[:, cm.IV : cm.IV + cm.N_VES] = v0 + stressed
    x[:, cm.IV + cm.RA] = heart_r
    x[:, cm.IV + cm.LA] = heart_l
    return x


@dataclass(frozen=True)
class AveragedRun:
    """Each person's rows over the protocol (one per step, times from its start)."""

    rows: NDArray[np.float64]
    params: cm.CirculationParameters
    calibration_residual_mmhg: NDArray[np.float64]


def _last(rows: NDArray[np.float64], column: str) -> NDArray[np.float64]:
    return np.asarray(rows[:, -1, ROW[column]], dtype=np.float64)


def calibrate_averaged(
    params: cm.CirculationParameters, dt: float, compiled: bool, start_sin: float
) -> tuple[_AveragedDriver, NDArray[np.float64]]:
    """Calibrate lying flat as the pulsatile driver does (same targets, same rules), then settle."""
    q = params.matrix.copy()
    n = q.shape[0]
    sys_, dia = params.resting_systolic_mmhg, params.resting_diastolic_mmhg
    target_pp = sys_ - dia
    target_mean = dia + float(load_parameter_set("circulation")["averaged_mean_fraction"]) * target_pp
    fk = q[:, cm.PFK : cm.PFK + cm.N_FILT].copy()
    q[:, cm.PFK : cm.PFK + cm.N_FILT] = 0.0
    q[:, cm.PERI_V0] = 1e4
    f = averaged_constants(n)
    peripheral = cm.PC + _PERIPHERAL
    c_ref = q[:, peripheral].copy()
    f[:, av.F_CA] = c_ref.sum(axis=1)
    f[:, av.F_CP] = q[:, cm.PC + cm.PA]
    drv = _AveragedDriver(q=q, f=f, x=_initial_state(q, params.blood_volume_ml), dt=dt, compiled=compiled)
    micro = [cm.PR + k for k in (6, 7, 8, 9)]
    # open loop, the steps can be long: only the steady state counts (implicit Euler keeps it exact)
    drv.dt = CALIBRATION_DT_S
    rows = drv.hold(0.0, 60.0, reflex_on=False)
    for it in range(8):
        mean = _last(rows, "mean_mmhg")
        cvp = _last(rows, "central_venous_mmhg")
        sv = _last(rows, "stroke_volume_ml")
        q[:, micro] *= np.clip((target_mean - cvp) / np.maximum(mean - cvp, 1.0), 0.5, 2.0)[:, None]
        pulse = f[:, av.F_KAPPA] * sv / f[:, av.F_CA]
        c_new = q[:, peripheral] * np.clip(pulse / np.maximum(target_pp, 5.0), 0.6, 1.6)[:, None]
        q[:, peripheral] = np.clip(c_new, 0.15 * c_ref, 3.0 * c_ref)
        f[:, av.F_CA] = q[:, peripheral].sum(axis=1)
        if it == 2:
            edv = np.zeros(n)
            aux = np.zeros(av.N_AUX_FAST)
            dx = np.zeros(cm.STATE.size)
            work = np.zeros(cm.N_COMP)
            for j in range(n):
                av.rhs_averaged(drv.x[j], q[j], f[j], drv.eff[j], 0.0, dx, aux, work)
                edv[j] = _ventricles_end_diastolic_ml(drv.x[j], q[j], f[j], drv.eff[j])
            p_rest = q[:, cm.PARAMS["peri_rest_pressure"]]
            q[:, cm.PERI_V0] = edv - np.log1p(p_rest / q[:, cm.PERI_P0]) / q[:, cm.PERI_L]
        rows = drv.hold(0.0, 30.0, reflex_on=False)
    mean = _last(rows, "mean_mmhg")
    pulse = _last(rows, "systolic_mmhg") - _last(rows, "diastolic_mmhg")
    residual = np.maximum(np.abs(mean - target_mean), np.abs(pulse - target_pp))
    residual[~np.isfinite(residual)] = np.inf
    q[:, cm.PARAMS["setpoint_arterial"]] = 0.5 * (_last(rows, "carotid_mmhg") + mean)
    q[:, cm.PARAMS["setpoint_cardiopulmonary"]] = _last(rows, "right_atrial_transmural_mmhg")
    dx = np.zeros(cm.STATE.size)
    aux = np.zeros(av.N_AUX_FAST)
    work = np.zeros(cm.N_COMP)
    for j in range(n):
        av.rhs_averaged(drv.x[j], q[j], f[j], drv.eff[j], 0.0, dx, aux, work)
        for r, vein in enumerate(cm.FILTER_VEINS):
            q[j, cm.PFR + r] = work[vein]
    q[:, cm.PFK : cm.PFK + cm.N_FILT] = fk
    drv.dt = dt
    drv.reset_reflexes()
    tau = q[:, cm.F_TAU].copy()
    q[:, cm.F_TAU] = 5.0
    drv.hold(start_sin, 40.0, reflex_on=True, t0=-60.0)
    q[:, cm.F_TAU] = tau
    return drv, residual


def _ventricles_end_diastolic_ml(
    x: NDArray[np.float64], q: NDArray[np.float64], f: NDArray[np.float64], eff: NDArray[np.float64]
) -> float:
    """Both ventricles' end-diastolic volumes (for the pericardium's reference volume)."""
    aux = np.zeros(av.N_AUX_FAST)
    dx = np.zeros(cm.STATE.size)
    work = np.zeros(cm.N_COMP)
    av.rhs_averaged(x, q, f, eff, 0.0, dx, aux, work)
    edv_l = aux[av.A_EDV_L]
    # the right side's end-diastolic volume from its filling pressure (aux[3])
    edv_r = q[cm.PU + cm.RV] + aux[3] / q[cm.PED + 1]
    return float(edv_l + edv_r)


def run_circulation_averaged(
    params: cm.CirculationParameters,
    angle_deg: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    duration_s: float,
    dt: float = 1.0,
    compiled: bool = True,
) -> AveragedRun:
    """Calibrate, settle at the start angle, then run the protocol in steps of ``dt``."""
    n_steps = max(1, math.ceil(duration_s / dt - 1e-9))
    start_sin = float(np.sin(np.radians(angle_deg(np.zeros(1)))[0]))
    drv, residual = calibrate_averaged(params, dt, compiled, start_sin)
    drv.hold(start_sin, 20.0, reflex_on=True, t0=-20.0)
    times = np.asarray(np.arange(n_steps + 1) * dt, dtype=np.float64)
    sin_grid = np.sin(np.radians(angle_deg(times)))
    rows = drv.run(sin_grid, 0.0, reflex_on=True)
    return AveragedRun(rows=rows, params=params, calibration_residual_mmhg=residual)
