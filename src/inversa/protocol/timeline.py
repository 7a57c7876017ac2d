"""Exact, vectorised angle(t) for a validated protocol, for the ODE solver to sample.

The protocol is unrolled into closed-form segments, each
``angle = base + slope * tau + half_swing * (1 - cos(omega * tau))`` with ``tau`` the time
since the segment began: linear ramps and holds have ``half_swing = 0``, oscillations
``slope = 0``. Sampling is one ``searchsorted`` plus array arithmetic, no per-sample Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from inversa.protocol.model import (
    MAX_ANGLE_DEG,
    MAX_RATE_DEG_S,
    MIN_ANGLE_DEG,
    Hold,
    LeafStep,
    LieFlat,
    Oscillate,
    Stand,
    Step,
    Tilt,
    executed_leaves,
    implied_move_s,
    initial_angle_deg,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LeafSpan:
    """When one executed leaf step runs; spans tile [0, duration] in order.

    ``path`` indexes into the nested steps (0-based); ``repetition`` holds the 1-based
    counter of each enclosing repeat, outermost first (empty outside repeats).
    """

    text: str
    start_s: float
    end_s: float
    path: tuple[int, ...]
    repetition: tuple[int, ...]


def _frozen(values: Sequence[float] | FloatArray) -> FloatArray:
    """A read-only float64 copy, so a shared timeline cannot be altered by a caller."""
    array = np.array(values, dtype=np.float64)
    array.flags.writeable = False
    return array


def _segment_angle(
    base: FloatArray, slope: FloatArray, half: FloatArray, omega: FloatArray, tau: FloatArray
) -> FloatArray:
    """Angle ``tau`` seconds into segments with the given parameters, kept within the table."""
    angle = base + slope * tau + half * (1.0 - np.cos(omega * tau))
    return np.clip(angle, MIN_ANGLE_DEG, MAX_ANGLE_DEG)


@dataclass(frozen=True, eq=False, slots=True)
class Timeline:
    """Immutable piecewise-exact tilt angle over time; hashable by identity, safe to cache.

    Before 0 it reports the start angle, after the end the final angle, both at rate 0.
    Rates are right-continuous at breakpoints.
    """

    duration_s: float
    start_angle_deg: float
    end_angle_deg: float
    breakpoints_s: FloatArray
    leaf_spans: tuple[LeafSpan, ...]
    _start_s: FloatArray = field(repr=False)
    _base_deg: FloatArray = field(repr=False)
    _slope_deg_s: FloatArray = field(repr=False)
    _half_swing_deg: FloatArray = field(repr=False)
    _omega_rad_s: FloatArray = field(repr=False)

    def _locate(self, t_s: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.intp], FloatArray]:
        """Times clipped to the protocol, their segment indices and time into the segment."""
        t = np.asarray(t_s, dtype=np.float64)
        clipped = np.clip(t, 0.0, self.duration_s)
        index = np.searchsorted(self._start_s, clipped, side="right") - 1
        return t, index, clipped - self._start_s[index]

    def angle_deg(self, t_s: npt.ArrayLike) -> FloatArray:
        """Tilt angle (deg) at each time in ``t_s`` (s); same shape as the input."""
        _, i, tau = self._locate(t_s)
        return _segment_angle(
            self._base_deg[i],
            self._slope_deg_s[i],
            self._half_swing_deg[i],
            self._omega_rad_s[i],
            tau,
        )

    def angular_rate_deg_s(self, t_s: npt.ArrayLike) -> FloatArray:
        """Rate of tilt (deg/s) at each time in ``t_s``; 0 outside [0, duration)."""
        t, i, tau = self._locate(t_s)
        omega = self._omega_rad_s[i]
        rate = self._slope_deg_s[i] + self._half_swing_deg[i] * omega * np.sin(omega * tau)
        inside = (t >= 0.0) & (t < self.duration_s)
        return np.where(inside, rate, 0.0)


class _SegmentList:
    """Collects segments while a protocol is unrolled."""

    def __init__(self) -> None:
        self.start_s: list[float] = []
        self.base_deg: list[float] = []
        self.slope_deg_s: list[float] = []
        self.half_swing_deg: list[float] = []
        self.omega_rad_s: list[float] = []

    def add(
        self,
        start_s: float,
        base_deg: float,
        slope: float = 0.0,
        half: float = 0.0,
        omega: float = 0.0,
    ) -> None:
        """Append one segment starting at ``start_s``."""
        self.start_s.append(start_s)
        self.base_deg.append(base_deg)
        self.slope_deg_s.append(slope)
        self.half_swing_deg.append(half)
        self.omega_rad_s.append(omega)

    def add_move(self, start_s: float, from_deg: float, to_deg: float, duration_s: float) -> float:
        """Implied move at the maximum rate (or over the whole step if it needs it all).

        Returns the time the move takes.
        """
        if from_deg == to_deg:
            return 0.0
        move_s = implied_move_s(from_deg, to_deg)
        if move_s >= duration_s:  # only within the validator's float tolerance
            self.add(start_s, from_deg, (to_deg - from_deg) / duration_s)
            return duration_s
        self.add(start_s, from_deg, math.copysign(MAX_RATE_DEG_S, to_deg - from_deg))
        return move_s

    def add_leaf(self, step: LeafStep, start_s: float, from_deg: float) -> None:
        """Append the segments of one executed leaf step."""
        if isinstance(step, Tilt):
            self.add(start_s, from_deg, (step.to_angle_deg - from_deg) / step.duration_s)
        elif isinstance(step, Oscillate):
            move_s = self.add_move(start_s, from_deg, step.angle_a_deg, step.duration_s)
            if move_s < step.duration_s:
                half = (step.angle_b_deg - step.angle_a_deg) / 2.0
                omega = 2.0 * math.pi / step.period_s
                self.add(start_s + move_s, step.angle_a_deg, 0.0, half, omega)
        elif isinstance(step, Hold | Stand | LieFlat):
            move_s = self.add_move(start_s, from_deg, step.angle_deg, step.duration_s)
            if move_s < step.duration_s:
                self.add(start_s + move_s, step.angle_deg)


def build_timeline(steps: Sequence[Step]) -> Timeline:
    """Unroll validated steps into a Timeline (use ``Protocol.timeline()``, which caches)."""
    segments = _SegmentList()
    spans: list[LeafSpan] = []
    texts: dict[tuple[int, ...], str] = {}
    now_s = 0.0
    for leaf in executed_leaves(steps):
        segments.add_leaf(leaf.step, now_s, leaf.start_angle_deg)
        text = texts.get(leaf.path)
        if text is None:
            text = texts[leaf.path] = leaf.step.to_text()
        end_s = now_s + leaf.step.duration_s
        spans.append(LeafSpan(text, now_s, end_s, leaf.path, leaf.repetition))
        now_s = end_s

    start_s = np.array(segments.start_s)
    # A segment cut to nothing by float rounding is never selected; drop it to keep arrays lean.
    keep = np.append(start_s[1:] > start_s[:-1], True)
    columns = (
        segments.start_s,
        segments.base_deg,
        segments.slope_deg_s,
        segments.half_swing_deg,
        segments.omega_rad_s,
    )
    seg_start, base, slope, half, omega = (_frozen(np.array(c)[keep]) for c in columns)
    end_deg = _segment_angle(base[-1:], slope[-1:], half[-1:], omega[-1:], now_s - seg_start[-1:])
    return Timeline(
        duration_s=now_s,
        start_angle_deg=initial_angle_deg(steps),
        end_angle_deg=float(end_deg[0]),
        breakpoints_s=_frozen(np.unique(np.append(seg_start, now_s))),
        leaf_spans=tuple(spans),
        _start_s=seg_start,
        _base_deg=base,
        _slope_deg_s=slope,
        _half_swing_deg=half,
        _omega_rad_s=omega,
    )
