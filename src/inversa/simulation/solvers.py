"""Fixed-step fourth-order Runge-Kutta over many people: a compiled and a NumPy driver.

Models give derivatives only; the solver owns time stepping. Inputs are sampled on a half-step
grid (index 2k is step k's start, 2k+1 its midpoint), so RK4's stages see the exact protocol.
Both drivers record the state every ``record_every`` steps, the first record being the start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inversa._compile import jit_uncached

__all__ = ["rk4_compiled", "rk4_numpy"]


@jit_uncached
def _rk4_kernel(
    rhs: Any,
    x0: NDArray[np.float64],
    angle: NDArray[np.float64],
    trac: NDArray[np.float64],
    rate: NDArray[np.float64],
    params: NDArray[np.float64],
    dt: float,
    n_steps: int,
    record_every: int,
    out: NDArray[np.float64],
) -> None:
    n, s = x0.shape
    k1, k2, k3, k4 = np.empty(s), np.empty(s), np.empty(s), np.empty(s)
    xt = np.empty(s)
    u = np.empty(3)
    for j in range(n):
        x = x0[j].copy()
        q = params[j]
        out[j, 0] = x
        rec = 1
        for step in range(n_steps):
            i0 = 2 * step
            u[0], u[1], u[2] = angle[i0], trac[j, i0], rate[j, i0]
            rhs(x, u, q, k1)
            u[0], u[1], u[2] = angle[i0 + 1], trac[j, i0 + 1], rate[j, i0 + 1]
            for m in range(s):
                xt[m] = x[m] + 0.5 * dt * k1[m]
            rhs(xt, u, q, k2)
            for m in range(s):
                xt[m] = x[m] + 0.5 * dt * k2[m]
            rhs(xt, u, q, k3)
            u[0], u[1], u[2] = angle[i0 + 2], trac[j, i0 + 2], rate[j, i0 + 2]
            for m in range(s):
                xt[m] = x[m] + dt * k3[m]
            rhs(xt, u, q, k4)
            for m in range(s):
                x[m] += dt / 6.0 * (k1[m] + 2.0 * k2[m] + 2.0 * k3[m] + k4[m])
            if (step + 1) % record_every == 0:
                out[j, rec] = x
                rec += 1


def _n_records(n_steps: int, record_every: int) -> int:
    if n_steps % record_every:
        raise ValueError("n_steps must be a whole number of record intervals")
    return n_steps // record_every + 1


def rk4_compiled(
    rhs: Callable[..., None],
    x0: NDArray[np.float64],
    angle: NDArray[np.float64],
    trac: NDArray[np.float64],
    rate: NDArray[np.float64],
    params: NDArray[np.float64],
    dt: float,
    n_steps: int,
    record_every: int,
) -> NDArray[np.float64]:
    """Integrate with a compiled per-person ``rhs(x[S], u[3], q[P], dx[S])``: [people, records, S]."""
    out = np.empty((x0.shape[0], _n_records(n_steps, record_every), x0.shape[1]))
    _rk4_kernel(
        rhs,
        np.ascontiguousarray(x0),
        np.ascontiguousarray(angle),
        np.ascontiguousarray(trac),
        np.ascontiguousarray(rate),
        np.ascontiguousarray(params),
        float(dt),
        int(n_steps),
        int(record_every),
        out,
    )
    return out


def rk4_numpy(
    rhs: Callable[..., None],
    x0: NDArray[np.float64],
    angle: NDArray[np.float64],
    trac: NDArray[np.float64],
    rate: NDArray[np.float64],
    params: NDArray[np.float64],
    dt: float,
    n_steps: int,
    record_every: int,
) -> NDArray[np.float64]:
    """The same integration vectorised over people with the NumPy ``rhs`` (x[S, people])."""
    out = np.empty((x0.shape[0], _n_records(n_steps, record_every), x0.shape[1]))
    x = np.ascontiguousarray(x0.T)
    q = np.ascontiguousarray(params.T)
    out[:, 0] = x.T
    k = [np.empty_like(x) for _ in range(4)]
    n = x.shape[1]

    def inputs(i: int) -> NDArray[np.float64]:
        return np.stack([np.full(n, angle[i]), trac[:, i], rate[:, i]])

    rec = 1
    for step in range(n_steps):
        i0 = 2 * step
        u0, um, u1 = inputs(i0), inputs(i0 + 1), inputs(i0 + 2)
        rhs(x, u0, q, k[0])
        rhs(x + 0.5 * dt * k[0], um, q, k[1])
        rhs(x + 0.5 * dt * k[1], um, q, k[2])
        rhs(x + dt * k[2], u1, q, k[3])
        x = x + dt / 6.0 * (k[0] + 2.0 * k[1] + 2.0 * k[2] + k[3])
        if (step + 1) % record_every == 0:
            out[:, rec] = x.T
            rec += 1
    return out
