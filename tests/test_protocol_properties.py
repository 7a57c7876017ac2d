"""Property tests: round trips of every valid protocol, and the physical sanity of timelines."""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from inversa.protocol import (
    MAX_DURATION_S,
    MAX_RATE_DEG_S,
    Hold,
    LieFlat,
    Oscillate,
    Protocol,
    ProtocolError,
    Repeat,
    Stand,
    Start,
    Step,
    Tilt,
)
from inversa.protocol.model import executed_step_count, total_duration_s

ANY_ANGLE_MOVE_S = 180 / MAX_RATE_DEG_S  # long enough to reach any angle from any other

angles = st.one_of(
    st.integers(-90, 90).map(float),
    st.floats(-90, 90, allow_nan=False, allow_infinity=False),
)
durations = st.one_of(
    st.integers(1, 600).map(float),
    st.integers(1, 30).map(lambda minutes: minutes * 60.0),
    st.integers(1, 2).map(lambda hours: hours * 3600.0),
    st.floats(1e-3, 600, allow_nan=False, allow_infinity=False),
)


def _needed_s(entry_deg: float | None, target_deg: float) -> float:
    """Shortest duration that reaches ``target_deg`` (from anywhere when entry is unknown)."""
    if entry_deg is None:
        return ANY_ANGLE_MOVE_S
    return abs(target_deg - entry_deg) / MAX_RATE_DEG_S


@st.composite
def blocks(draw: st.DrawFn, entry_deg: float | None, depth: int) -> tuple[list[Step], float | None]:
    """Steps valid when entered at ``entry_deg`` (None: any angle), and the angle they end at.

    Durations are drawn freely but never shorter than a move needs, so tight limit cases
    (exactly 30 deg/s) show up alongside round numbers.
    """
    steps: list[Step] = []
    angle = entry_deg
    kinds = ["stand", "lie_flat", "hold", "tilt", "oscillate"] + (["repeat"] if depth < 2 else [])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        if kind == "repeat":
            body, end = draw(blocks(None, depth + 1))
            steps.append(Repeat(times=draw(st.integers(1, 3)), steps=body))
            angle = end
        elif kind == "tilt":
            target = draw(angles)
            duration = max(draw(durations), _needed_s(angle, target))
            steps.append(Tilt(to_angle_deg=target, duration_s=duration))
            angle = target
        elif kind == "oscillate":
            a, b = draw(angles), draw(angles)
            period = max(draw(durations), math.pi * abs(b - a) / MAX_RATE_DEG_S)
            duration = max(draw(durations), _needed_s(angle, a))
            steps.append(Oscillate(angle_a_deg=a, angle_b_deg=b, period_s=period, duration_s=duration))
            angle = None  # ends mid-cycle; let the next step allow for any angle
        else:
            held = {"stand": -90.0, "lie_flat": 0.0}.get(kind)
            target = draw(angles) if held is None else held
            duration = max(draw(durations), _needed_s(angle, target))
            if kind == "stand":
                steps.append(Stand(duration_s=duration))
            elif kind == "lie_flat":
                steps.append(LieFlat(duration_s=duration))
            else:
                steps.append(Hold(angle_deg=target, duration_s=duration))
            angle = target
    return steps, angle


@st.composite
def protocols(draw: st.DrawFn) -> Protocol:
    """Valid protocols, with or without ``start at``, nested repeats included."""
    start = draw(st.none() | angles)
    steps, _ = draw(blocks(start, 0))
    if start is not None:
        steps.insert(0, Start(angle_deg=start))
    assume(total_duration_s(steps) <= MAX_DURATION_S)
    return Protocol(steps=steps)


@settings(deadline=None)
@given(protocols())
def test_text_round_trip_is_exact(protocol: Protocol) -> None:
    text = protocol.to_text()
    again = Protocol.parse(text)
    assert again == protocol
    assert again.to_text() == text


@settings(deadline=None)
@given(protocols())
def test_json_round_trip_is_exact(protocol: Protocol) -> None:
    dumped = json.loads(json.dumps(protocol.model_dump(mode="json")))
    assert Protocol.model_validate(dumped) == protocol


@settings(deadline=None)
@given(protocols())
def test_case_spacing_and_comments_do_not_matter(protocol: Protocol) -> None:
    text = protocol.to_text()
    shouted = re.sub(r" ", "   ", text.upper()).replace("\n", " ;\n\n  # comment\n")
    assert Protocol.parse(shouted) == protocol


@settings(deadline=None)
@given(protocols())
def test_timeline_stays_in_range_and_within_rate_limit(protocol: Protocol) -> None:
    timeline = protocol.timeline()
    t = np.concatenate(
        [
            np.linspace(-1.0, timeline.duration_s + 1.0, 20_001),
            timeline.breakpoints_s,
            np.nextafter(timeline.breakpoints_s, -np.inf),
        ]
    )
    angles_deg = timeline.angle_deg(t)
    rates = timeline.angular_rate_deg_s(t)
    assert np.all((angles_deg >= -90) & (angles_deg <= 90))
    assert np.all(np.abs(rates) <= MAX_RATE_DEG_S * (1 + 1e-9))


@settings(deadline=None)
@given(protocols())
def test_angle_is_continuous(protocol: Protocol) -> None:
    """No jumps: neighbouring samples never differ by more than the rate limit allows."""
    timeline = protocol.timeline()
    t = np.sort(
        np.concatenate(
            [
                np.linspace(0.0, timeline.duration_s, 20_001),
                timeline.breakpoints_s,
                timeline.breakpoints_s - 1e-6,
                timeline.breakpoints_s + 1e-6,
            ]
        )
    )
    jumps = np.abs(np.diff(timeline.angle_deg(t)))
    assert np.all(jumps <= MAX_RATE_DEG_S * np.diff(t) * (1 + 1e-6) + 1e-9)


@settings(deadline=None)
@given(protocols())
def test_timeline_duration_and_spans_match_the_steps(protocol: Protocol) -> None:
    timeline = protocol.timeline()
    assert math.isclose(timeline.duration_s, total_duration_s(protocol.steps), rel_tol=1e-12)
    spans = timeline.leaf_spans
    assert len(spans) == executed_step_count(protocol.steps)
    assert spans[0].start_s == 0 and spans[-1].end_s == timeline.duration_s
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(spans))
    assert all(span.start_s < span.end_s for span in spans)
    assert set(span.start_s for span in spans) <= set(timeline.breakpoints_s)
    assert np.all(np.diff(timeline.breakpoints_s) > 0)
    assert timeline.angle_deg(0.0) == timeline.start_angle_deg
    assert timeline.angle_deg(timeline.duration_s + 5) == timeline.end_angle_deg


@given(angles, angles, st.floats(0.0, 1.0 - 1e-6))
def test_tilting_faster_than_the_limit_is_rejected(a: float, b: float, fraction: float) -> None:
    needed_s = abs(b - a) / MAX_RATE_DEG_S
    assume(needed_s * fraction > 0)
    text = f"start at {a!r} deg; tilt to {b!r} deg over {needed_s * fraction!r} s"
    try:
        Protocol.parse(text)
    except ProtocolError as error:
        assert "faster than the 30 deg/s limit" in str(error)
        assert error.position == (2,)
    else:
        raise AssertionError(f"accepted {text!r}")
