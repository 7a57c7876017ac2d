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

    angle_deg: shape [time]; mu: shape [people]; initial_fraction: [people] (default: the
    frictionless value sin(theta_0), as for a person who settled on the table before time 0).
    Returns (fraction [people, time], sliding [people, time]); sliding marks samples where the
    block moved since the previous sample.
    """
    theta = np.radians(np.asarray(angle_deg, dtype=float))
    mu = np.asarray(mu, dtype=float)
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    lower = sin_t[None, :] - mu[:, None] * cos_t[None, :]
    upper = sin_t[None, :] + mu[:, None] * cos_t[None, :]
    out = np.empty((mu.size, theta.size))
    sliding = np.zeros((mu.size, theta.size), dtype=bool)
    f = np.zeros(mu.size) if initial_fraction is None else np.asarray(initial_fraction, dtype=float)
    f = np.clip(f, lower[:, 0], upper[:, 0])
    out[:, 0] = f
    for k in range(1, theta.size):
        new = np.minimum(np.maximum(f, lower[:, k]), upper[:, k])
        sliding[:, k] = new != f
        f = new
        out[:, k] = f
    return out, sliding
