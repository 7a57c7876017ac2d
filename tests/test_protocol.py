"""Example-based tests for protocol text, typed models, errors and timeline sampling."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest
from pydantic import ValidationError

from inversa.protocol import (
    MAX_RATE_DEG_S,
    STANDARD_SESSION_TEXT,
    Hold,
    LeafSpan,
    LieFlat,
    Oscillate,
    Protocol,
    ProtocolError,
    Repeat,
    Stand,
    Start,
    Tilt,
)


def angle(text: str, t_s: float) -> float:
    """Angle of the protocol in ``text`` at one time."""
    return float(Protocol.parse(text).timeline().angle_deg(t_s))


def rate(text: str, t_s: float) -> float:
    """Angular rate of the protocol in ``text`` at one time."""
    return float(Protocol.parse(text).timeline().angular_rate_deg_s(t_s))


# --------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    ("text", "step"),
    [
        ("stand for 5 min", Stand(duration_s=300)),
        ("lie flat for 10 min", LieFlat(duration_s=600)),
        ("hold at 60 deg for 3 min", Hold(angle_deg=60, duration_s=180)),
        ("tilt to 60 deg over 20 s", Tilt(to_angle_deg=60, duration_s=20)),
        (
            "oscillate between 0 and 45 deg every 20 s for 3 min",
            Oscillate(angle_a_deg=0, angle_b_deg=45, period_s=20, duration_s=180),
        ),
        (
            "repeat 3 times: (hold at 30 deg for 30 s; lie flat for 30 s)",
            Repeat(times=3, steps=[Hold(angle_deg=30, duration_s=30), LieFlat(duration_s=30)]),
        ),
    ],
)
def test_each_step_form_parses_to_its_model(text: str, step: object) -> None:
    assert Protocol.parse(text).steps == [step]


def test_start_at_sets_initial_angle() -> None:
    protocol = Protocol.parse("start at 0 deg; tilt to 60 deg over 20 s")
    assert protocol.steps[0] == Start(angle_deg=0)
    assert protocol.timeline().start_angle_deg == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("stand for 20 s", 20),
        ("stand for 20 sec", 20),
        ("stand for 1 second", 1),
        ("stand for 20 seconds", 20),
        ("stand for 2 min", 120),
        ("stand for 1 minute", 60),
        ("stand for 2 minutes", 120),
        ("stand for 1.5 min", 90),
        ("stand for 1 h", 3600),
        ("stand for 1 hour", 3600),
        ("stand for 0.5 hours", 1800),
        ("stand for 20s", 20),
        ("stand for .5 s", 0.5),
        ("stand for 1e1 s", 10),
    ],
)
def test_duration_units(text: str, seconds: float) -> None:
    assert Protocol.parse(text).steps == [Stand(duration_s=seconds)]


@pytest.mark.parametrize(
    "text",
    [
        "hold at 60 deg for 3 min",
        "hold at 60 degrees for 3 min",
        "hold at 60 degree for 3 min",
        "hold at 60° for 3 min",
        "hold at 60 ° for 3 min",
        "hold at 60deg for 3 min",
        "hold at 60 for 3 min",
        "HOLD AT 60 DEG FOR 3 MIN",
        "  hold   at\t60   deg for  3   min  ",
    ],
)
def test_angle_units_case_and_whitespace(text: str) -> None:
    assert Protocol.parse(text).steps == [Hold(angle_deg=60, duration_s=180)]


def test_oscillate_accepts_units_on_both_angles() -> None:
    expected = Oscillate(angle_a_deg=-10, angle_b_deg=45, period_s=20, duration_s=60)
    for text in (
        "oscillate between -10 and 45 deg every 20 s for 1 min",
        "oscillate between -10 deg and 45 deg every 20 s for 1 min",
        "oscillate between -10° and 45° every 20 sec for 60 seconds",
    ):
        assert Protocol.parse(text).steps == [expected]


def test_separators_comments_and_blank_lines() -> None:
    text = """
    # a warm-up
    Stand for 1 min;   lie flat for 1 min   # rest a bit

    repeat 2 times: (
        hold at 30 deg for 30 s   # gentle
        lie flat for 30 s;
    )
    """
    protocol = Protocol.parse(text)
    assert protocol == Protocol.parse(
        "stand for 1 min; lie flat for 1 min; repeat 2 times: (hold at 30 deg for 30 s; lie flat for 30 s)"
    )


def test_nested_repeats_parse() -> None:
    protocol = Protocol.parse(
        "lie flat for 10 s; repeat 2 times: (repeat 3 times: (hold at 20 deg for 5 s; "
        "lie flat for 5 s); stand for 10 s)"
    )
    outer = protocol.steps[1]
    assert isinstance(outer, Repeat) and outer.times == 2
    inner = outer.steps[0]
    assert isinstance(inner, Repeat) and inner.times == 3 and len(inner.steps) == 2


def test_to_text_is_canonical() -> None:
    protocol = Protocol.parse(
        "start at 0 DEG\nHold at 60.0 degrees for 180 seconds; stand for 7200 s\n"
        "tilt to -75° over 1.5 sec\n"
        "oscillate between 0 and 10 every 0.5 min for 90 s\n"
        "repeat 1 times: (lie flat for 1 h)"
    )
    assert protocol.to_text() == (
        "start at 0 deg\n"
        "hold at 60 deg for 3 min\n"
        "stand for 2 h\n"
        "tilt to -75 deg over 1.5 s\n"
        "oscillate between 0 and 10 deg every 30 s for 90 s\n"
        "repeat 1 time: (lie flat for 1 h)"
    )


def test_floats_print_exactly() -> None:
    step = Hold(angle_deg=0.1 + 0.2, duration_s=1 / 3)
    assert step.to_text() == "hold at 0.30000000000000004 deg for 0.3333333333333333 s"
    assert Protocol.parse(step.to_text()).steps == [step]


def test_standard_session_round_trips_and_runs() -> None:
    protocol = Protocol.parse(STANDARD_SESSION_TEXT)
    assert protocol.to_text() == STANDARD_SESSION_TEXT
    assert protocol == Protocol.parse(
        "stand for 1 min; tilt to 0 deg over 15 s; lie flat for 1 min; tilt to 60 deg over 10 s;"
        " hold at 60 deg for 3 min; tilt to 0 deg over 10 s; lie flat for 2 min;"
        " tilt to -90 deg over 15 s; stand for 2 min"
    )
    timeline = protocol.timeline()
    assert timeline.duration_s == 590
    assert timeline.start_angle_deg == timeline.end_angle_deg == -90
    samples = timeline.angle_deg(np.linspace(0, 590, 5901))
    assert samples.max() == 60 and samples.min() == -90


# --------------------------------------------------------------------------- angle(t)


def test_hold_and_stand_and_lie_flat_values() -> None:
    assert angle("stand for 5 min", 100) == -90
    assert angle("lie flat for 10 min", 100) == 0
    assert angle("hold at 60 deg for 3 min", 179) == 60


def test_tilt_is_linear_from_current_angle() -> None:
    text = "lie flat for 10 s; tilt to 60 deg over 20 s"
    assert angle(text, 10) == 0
    assert angle(text, 20) == pytest.approx(30)
    assert angle(text, 30) == pytest.approx(60)
    assert rate(text, 15) == pytest.approx(3)


def test_leading_tilt_starts_standing() -> None:
    text = "tilt to 0 deg over 30 s"
    assert angle(text, 0) == -90
    assert angle(text, 15) == pytest.approx(-45)


def test_initial_angle_comes_from_first_leaf() -> None:
    assert Protocol.parse("hold at 45 deg for 1 min").timeline().start_angle_deg == 45
    osc = "oscillate between 10 and 20 deg every 10 s for 1 min"
    assert Protocol.parse(osc).timeline().start_angle_deg == 10
    nested = "repeat 2 times: (repeat 2 times: (lie flat for 5 s; hold at 10 deg for 5 s))"
    assert Protocol.parse(nested).timeline().start_angle_deg == 0
    assert Protocol.parse("repeat 2 times: (tilt to 0 over 1 min)").timeline().start_angle_deg == -90


def test_oscillation_follows_cosine_from_first_angle() -> None:
    text = "oscillate between 0 and 45 deg every 20 s for 3 min"
    assert angle(text, 0) == 0
    assert angle(text, 5) == pytest.approx(22.5)
    assert angle(text, 10) == pytest.approx(45)
    assert angle(text, 20) == pytest.approx(0, abs=1e-12)
    assert angle(text, 25) == pytest.approx(22.5)
    assert rate(text, 5) == pytest.approx(math.pi * 45 / 20)
    assert rate(text, 15) == pytest.approx(-math.pi * 45 / 20)


def test_hold_at_new_angle_moves_at_max_rate_inside_its_duration() -> None:
    text = "lie flat for 1 min; hold at 60 deg for 3 min; lie flat for 1 min"
    timeline = Protocol.parse(text).timeline()
    assert timeline.duration_s == 300
    assert angle(text, 61) == pytest.approx(30)
    assert rate(text, 61) == MAX_RATE_DEG_S
    assert angle(text, 62) == 60
    assert rate(text, 62) == 0
    assert angle(text, 241) == pytest.approx(30)
    assert rate(text, 241) == -MAX_RATE_DEG_S
    assert list(timeline.breakpoints_s) == [0, 60, 62, 240, 242, 300]


def test_oscillation_with_different_first_angle_moves_first() -> None:
    text = "stand for 10 s; oscillate between 0 and 30 deg every 20 s for 1 min"
    assert angle(text, 11.5) == pytest.approx(-45)
    assert angle(text, 13) == pytest.approx(0)
    assert angle(text, 23) == pytest.approx(30)
    assert Protocol.parse(text).timeline().duration_s == 70


def test_hold_exactly_as_long_as_its_move_is_allowed() -> None:
    assert angle("lie flat for 1 s; hold at 60 deg for 2 s", 3) == 60


def test_repeat_values_and_duration() -> None:
    text = "repeat 3 times: (hold at 30 deg for 30 s; lie flat for 30 s)"
    timeline = Protocol.parse(text).timeline()
    assert timeline.duration_s == 180
    assert angle(text, 10) == 30
    assert angle(text, 61) == 30  # back up from 0 at 30 deg/s, within the hold
    assert angle(text, 60.5) == pytest.approx(15)
    assert angle(text, 170) == 0


def test_times_outside_the_protocol_hold_end_angles() -> None:
    timeline = Protocol.parse("lie flat for 10 s; tilt to 60 deg over 20 s").timeline()
    assert list(timeline.angle_deg(np.array([-5.0, 30.0, 1e9]))) == [0, 60, 60]
    assert list(timeline.angular_rate_deg_s(np.array([-5.0, 30.0, 1e9]))) == [0, 0, 0]


def test_sampling_keeps_input_shape() -> None:
    timeline = Protocol.parse(STANDARD_SESSION_TEXT).timeline()
    assert timeline.angle_deg(np.zeros((3, 4))).shape == (3, 4)
    assert timeline.angle_deg(1.0).shape == ()


def test_leaf_spans_unroll_repeats() -> None:
    protocol = Protocol.parse(
        "start at 0 deg; repeat 2 times: (hold at 10 deg for 5 s; "
        "repeat 2 times: (lie flat for 1 s)); stand for 1 min"
    )
    spans = protocol.timeline().leaf_spans
    assert [(s.text, s.path, s.repetition) for s in spans] == [
        ("hold at 10 deg for 5 s", (1, 0), (1,)),
        ("lie flat for 1 s", (1, 1, 0), (1, 1)),
        ("lie flat for 1 s", (1, 1, 0), (1, 2)),
        ("hold at 10 deg for 5 s", (1, 0), (2,)),
        ("lie flat for 1 s", (1, 1, 0), (2, 1)),
        ("lie flat for 1 s", (1, 1, 0), (2, 2)),
        ("stand for 1 min", (2,), ()),
    ]
    assert spans[3] == LeafSpan("hold at 10 deg for 5 s", 7.0, 12.0, (1, 0), (2,))
    assert spans[-1].end_s == protocol.timeline().duration_s == 74


def test_timeline_is_cached_and_immutable() -> None:
    protocol = Protocol.parse(STANDARD_SESSION_TEXT)
    timeline = protocol.timeline()
    assert protocol.timeline() is timeline
    assert protocol == Protocol.parse(STANDARD_SESSION_TEXT)  # the cache does not affect equality
    with pytest.raises(ValueError, match="read-only"):
        timeline.breakpoints_s[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        timeline.duration_s = 1.0  # type: ignore[misc]
    assert hash(timeline) == hash(timeline)


def test_sampling_many_points_keeps_shape_and_bounds() -> None:
    """Vectorised sampling of a long, many-segment protocol (speed lives in benchmarks/)."""
    timeline = Protocol.parse(
        STANDARD_SESSION_TEXT + "\nrepeat 50 times: (oscillate between -90 and 0 every 10 s for 15 s)"
    ).timeline()
    t = np.linspace(-10, timeline.duration_s + 10, 100_000)
    angles = timeline.angle_deg(t)
    rates = timeline.angular_rate_deg_s(t)
    assert angles.shape == rates.shape == t.shape
    assert np.all((angles >= -90) & (angles <= 90))
    assert np.all(np.abs(rates) <= 30 + 1e-9)


# --------------------------------------------------------------------------- errors


def test_error_message_quotes_step_and_position() -> None:
    with pytest.raises(ProtocolError) as caught:
        Protocol.parse("lie flat for 1 min; stand for 1 min; tilt to 60 deg over 1 s")
    assert str(caught.value) == (
        'step 3 "tilt to 60 deg over 1 s": tilting at 150.0 deg/s is faster than the 30 deg/s limit'
    )
    assert caught.value.position == (3,)
    assert caught.value.step_text == "tilt to 60 deg over 1 s"
    assert isinstance(caught.value, ValueError)


def test_error_quotes_step_as_written() -> None:
    # Quoted as written, whitespace collapsed.
    with pytest.raises(ProtocolError, match=re.escape('step 2 "Tilt to 60° over 1 SEC": tilting at 60.0')):
        Protocol.parse("lie flat for 1 min\n  Tilt  to 60° over 1 SEC  ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hover at 3 deg for 1 min", 'step 1 "hover at 3 deg for 1 min": expected one of'),
        ("tilt to 60", 'step 1 "tilt to 60": expected "tilt to <angle> deg over <duration>"'),
        ("stand for 5", 'expected "stand for <duration>"'),
        ("stand for 5 parsecs", 'expected "stand for <duration>"'),
        ("lie flat for 1 min; hold at 91 deg for 1 min", "step 2 .*outside the table's range"),
        ("start at -91 deg; stand for 1 min", "step 1 .*angle -91 deg is outside"),
        ("tilt to -100 deg over 1 min", "outside the table's range"),
        ("oscillate between 0 and 95 every 1 min for 1 min", "angle 95 deg is outside"),
        ("stand for 0 s", 'step 1 "stand for 0 s": duration must be positive'),
        ("stand for -1 min", "duration must be positive"),
        ("oscillate between 0 and 10 every 0 s for 1 min", "period must be positive"),
        ("repeat 0 times: (stand for 1 min)", "repeat count must be at least 1, got 0"),
        ("repeat 1.5 times: (stand for 1 min)", "repeat count must be a whole number"),
        ("repeat 2 times: ()", "a repeat needs at least one step"),
        ("stand for 1 min; tilt to 60 deg over 4 s", "step 2 .*tilting at 37.5 deg/s is faster"),
        ("oscillate between 0 and 90 deg every 5 s for 1 min", "peaks at 56.5 deg/s, faster"),
        ("lie flat for 1 min; hold at 60 deg for 1 s", "1 s is shorter than the 2 s needed"),
        ("stand for 1 min; oscillate between 0 and 10 every 10 s for 2 s", "shorter than the 3 s"),
        ("", "the protocol is empty"),
        ("# nothing here\n\n ; ;", "the protocol is empty"),
        ("start at 0 deg", "the protocol is empty"),
        ("lie flat for 1 min; start at 0 deg", 'step 2 "start at 0 deg": "start at" is only'),
        ("repeat 2 times: (start at 0; stand for 1 s)", 'step 1.1 "start at 0": "start at"'),
        ("stand for 25 h", "total duration of 25 h is over the 24 h limit"),
        ("repeat 25 times: (stand for 1 h)", "total duration of 25 h is over"),
        ("stand for 1 min; repeat 2 times: (stand for 1 s", '"\\(" is never closed'),
        ("stand for 1 min)", 'step 1 "stand for 1 min\\)": unexpected "\\)"'),
        ("repeat 2 times: (lie flat for 1 s; tilt to 60 over 2 s; nope)", 'step 1.3 "nope"'),
        ("stand for 1e999 s", "duration_s: Input should be a finite number"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        Protocol.parse(text)


def test_error_names_the_repetition_where_it_happens() -> None:
    # First pass enters at 30 deg (fine); later passes enter from 60 deg, too far for 1 s.
    text = "hold at 30 deg for 1 min; repeat 3 times: (tilt to 10 deg over 1 s; hold at 60 for 5 s)"
    with pytest.raises(ProtocolError) as caught:
        Protocol.parse(text)
    assert caught.value.position == (2, 1)
    assert caught.value.repetition == (2,)
    assert str(caught.value).startswith('step 2.1 "tilt to 10 deg over 1 s" (repetition 2):')


def test_too_many_unrolled_steps_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="more than the limit"):
        Protocol.parse("repeat 1000 times: (repeat 1000 times: (stand for 0.01 s))")


# --------------------------------------------------------------------------- pydantic twin


def test_json_round_trip_is_exact() -> None:
    protocol = Protocol.parse(
        "start at 0.1 deg; repeat 2 times: (oscillate between 0.1 and 45.3 deg every 20.7 s "
        "for 1 min; tilt to 33.3 over 1.1 min); stand for 5 s"
    )
    dumped = json.loads(json.dumps(protocol.model_dump(mode="json")))
    assert dumped["steps"][1]["kind"] == "repeat"
    assert Protocol.model_validate(dumped) == protocol


def test_bad_angle_in_json_names_the_field() -> None:
    with pytest.raises(ValidationError, match="angle_deg") as caught:
        Protocol.model_validate({"steps": [{"kind": "hold", "angle_deg": 120, "duration_s": 60}]})
    assert "outside the table's range" in str(caught.value)


def test_models_forbid_extra_fields_and_unknown_kinds() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Protocol.model_validate({"steps": [{"kind": "stand", "duration_s": 1, "angle_deg": 3}]})
    with pytest.raises(ValidationError, match="kind"):
        Protocol.model_validate({"steps": [{"kind": "jump", "duration_s": 1}]})


def test_model_validate_runs_cross_step_checks() -> None:
    too_fast = {
        "steps": [
            {"kind": "lie_flat", "duration_s": 60},
            {"kind": "tilt", "to_angle_deg": 60, "duration_s": 1},
        ]
    }
    with pytest.raises(ValidationError, match=re.escape('step 2 "tilt to 60 deg over 1 s": tilting at 60.0')):
        Protocol.model_validate(too_fast)
    with pytest.raises(ValidationError, match="empty"):
        Protocol(steps=[])
    with pytest.raises(ValidationError, match="start at"):
        Protocol(steps=[Stand(duration_s=1), Start(angle_deg=0)])


def test_models_are_frozen() -> None:
    step = Hold(angle_deg=10, duration_s=5)
    with pytest.raises(ValidationError, match="frozen"):
        step.angle_deg = 20  # type: ignore[misc]


def test_step_to_text() -> None:
    assert Start(angle_deg=-90).to_text() == "start at -90 deg"
    assert Stand(duration_s=90).to_text() == "stand for 90 s"
    assert LieFlat(duration_s=120).to_text() == "lie flat for 2 min"
    assert Tilt(to_angle_deg=45, duration_s=0.25).to_text() == "tilt to 45 deg over 0.25 s"
    osc = Oscillate(angle_a_deg=0, angle_b_deg=-45, period_s=60, duration_s=3600)
    assert osc.to_text() == "oscillate between 0 and -45 deg every 1 min for 1 h"
    rep = Repeat(times=2, steps=[Stand(duration_s=1), Repeat(times=3, steps=[osc])])
    assert rep.to_text() == (
        "repeat 2 times: (stand for 1 s; repeat 3 times: "
        "(oscillate between 0 and -45 deg every 1 min for 1 h))"
    )
