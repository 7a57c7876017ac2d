"""Bed friction as a stick/slip (play) operator: how much of gravity's pull reaches the spine.

The body cranial to a disc rests on the bed. Gravity pulls it along the body axis with
W sin(theta) (towards the head when theta > 0) and presses it on the bed with W cos(theta), so
static friction can hold up to mu W cos(theta). The block only slides, and the disc force only
changes, when gravity beats friction; otherwise friction locks in whatever force the last slide left.
For a quasi-static rigid block on a stiff spring that is exactly the play operator

    f <- clamp(f, sin(theta) - mu cos(theta), sin(theta) + mu cos(theta)),

with f the disc force as a fraction of the cranial weight (positive = traction). Because every
level's cranial mass sees the same angle history and the same mu, f is one number per person;
each disc's gravity force is f times its cranial weight (nested blocks satisfy their own friction
bounds). Standing (theta = -90) gives f = -1, full compression; hanging (theta = 90) f = +1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from inversa._compile import jit

__all__ = ["friction_threshold_angle_deg", "gravity_traction_fraction"]


def friction_threshold_angle_deg(mu: float | NDArray[np.float64]) -> NDArray[np.float64]:
    """Head-down angle above which gravity beats static friction from rest: atan(mu)."""
    return np.asarray(np.degrees(np.arctan(np.asarray(mu, dtype=float))), dtype=float)


def gravity_traction_fraction(
    angle_deg: NDArray[np.float64],
    mu: NDArray[np.float64],
    initial_fraction: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Apply the play operator along a sampled angle path for many people.

    angle_deg: shape [time]; mu: shape [people]; initial_fraction: [people] (default 0, clamped to
    the friction bounds at the first angle: the state reached by tilting there from lying flat,
    with no force locked in; e.g. 45 deg with mu 0.5 starts at sin - mu cos = 0.354).
    Returns (fraction [people, time], sliding [people, time]); sliding marks samples where the
    block moved since the previous sample.
    """
    theta = np.radians(np.asarray(angle_deg, dtype=float))
    mu = np.ascontiguousarray(mu, dtype=float).reshape(-1)
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    f0 = np.zeros(mu.size) if initial_fraction is None else np.asarray(initial_fraction, dtype=float)
    out = np.empty((mu.size, theta.size))
    sliding = np.zeros((mu.size, theta.size), dtype=np.bool_)
    _play(sin_t, cos_t, mu, np.ascontiguousarray(f0), out, sliding)
    return out, sliding


@jit
def _play(
    sin_t: NDArray[np.float64],
    cos_t: NDArray[np.float64],
    mu: NDArray[np.float64],
    f0: NDArray[np.float64],
    out: NDArray[np.float64],
    sliding: NDArray[np.bool_],
) -> None:
    """The play operator, person by person along the time samples (compiled loop)."""
    for j in range(mu.size):
        f = min(max(f0[j], sin_t[0] - mu[j] * cos_t[0]), sin_t[0] + mu[j] * cos_t[0])
        out[j, 0] = f
        for k in range(1, sin_t.size):
            new = min(max(f, sin_t[k] - mu[j] * cos_t[k]), sin_t[k] + mu[j] * cos_t[k])
            sliding[j, k] = new != f
            f = new
            out[j, k] = f
