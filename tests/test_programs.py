"""Progressive programs: each session a safe, runnable protocol within personal limits; adaptation; iCal.

The central guarantees are property tests over many people (random limits) and settings:

- the angle never exceeds ``limits.max_angle_deg``, the clinician ceiling or the target, checked on the
  protocol's own timeline (dense samples plus every breakpoint);
- the *dwell* - the longest continuous stretch at or above (session peak - 1 deg), its ends found by
  bisection on the timeline - never exceeds ``limits.max_hold_min``;
- every session starts and ends standing, with a flat rest of at least ``return_rest_min`` (and 2 min)
  right before the final rise;
- from week to week neither angle nor hold decreases, and days and sessions per day are as configured;
- adaptation (any sequence of reports, limits changing between sessions) never breaks the above.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from inversa.programs import (
    ACTIONS,
    STYLES,
    SYMPTOMS,
    PlannedSession,
    Program,
    ProgramError,
    ProgramSettings,
    SessionLimits,
    SessionReport,
    adapt,
    decide,
    generate_program,
    to_ical,
)
from inversa.programs.adapt import PAUSE_SYMPTOMS
from inversa.programs.ical import MAX_LINE_OCTETS, escape_text, fold_line
from inversa.programs.plan import (
    GENTLE_RATE_DEG_S,
    MIN_PROGRAM_ANGLE_DEG,
    TOP_BAND_S_PER_RAMP,
    ramp_s,
    session_day_offsets,
)
from inversa.protocol import Oscillate, Protocol, Tilt

MONDAY = date(2025, 3, 3)
GENEROUS = SessionLimits(max_angle_deg=90, max_hold_min=30, return_rest_min=0, binding_constraint="none")
EYE = SessionLimits(
    max_angle_deg=45, max_hold_min=4, return_rest_min=3, binding_constraint="intraocular_pressure"
)


# ------------------------------------------------------------------------------------------- helpers


def sample_times(protocol: Protocol, step_s: float = 0.1) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Dense grid over the whole protocol, every breakpoint, and the peak of every oscillation cycle."""
    timeline = protocol.timeline()
    extra = [timeline.breakpoints_s]
    for span in timeline.leaf_spans:
        if span.text.startswith("oscillate"):
            period = float(re.findall(r"every ([\d.]+) s", span.text)[0])
            extra.append(np.arange(span.start_s + period / 2, span.end_s, period))
    grid = np.arange(0.0, timeline.duration_s, step_s)
    return np.unique(np.concatenate([grid, *extra, [timeline.duration_s]]))


def longest_dwell_s(protocol: Protocol, band_deg: float = 1.0) -> float:
    """Longest continuous time at or above (peak - band_deg), run ends refined by bisection to 1e-9 s."""
    timeline = protocol.timeline()
    t = sample_times(protocol, 0.25)
    angle = timeline.angle_deg(t)
    threshold = float(angle.max()) - band_deg
    above = angle >= threshold
    edges = np.diff(above.astype(np.int8))
    rises = np.flatnonzero(edges == 1)  # above from index i+1 on
    falls = np.flatnonzero(edges == -1)  # last above at index i
    assert not above[0] and not above[-1], "sessions start and end standing, far below any peak"

    def crossing(lo: np.ndarray[Any, Any], hi: np.ndarray[Any, Any], rising: bool) -> np.ndarray[Any, Any]:
        lo, hi = lo.copy(), hi.copy()
        for _ in range(60):
            mid = (lo + hi) / 2
            inside = timeline.angle_deg(mid) >= threshold
            go_hi = inside if rising else ~inside
            hi = np.where(go_hi, mid, hi)
            lo = np.where(go_hi, lo, mid)
        return hi if rising else lo

    starts = crossing(t[rises], t[rises + 1], rising=True)
    ends = crossing(t[falls], t[falls + 1], rising=False)
    return float(np.max(ends - starts))


def check_session_safe(session: PlannedSession, limits: SessionLimits, settings_: ProgramSettings) -> None:
    """Every guarantee a single planned session must meet under ``limits`` and ``settings_``."""
    protocol = session.protocol
    assert Protocol.parse(protocol.to_text()) == protocol
    assert session.protocol_text == protocol.to_text()
    timeline = protocol.timeline()
    t = sample_times(protocol)
    angle = timeline.angle_deg(t)
    peak = float(angle.max())
    assert peak <= limits.max_angle_deg + 1e-9
    assert peak <= settings_.target_angle_deg + 1e-9
    if settings_.ceiling_angle_deg is not None:
        assert peak <= settings_.ceiling_angle_deg + 1e-9
    assert peak <= session.max_angle_deg + 1e-9
    assert peak >= session.max_angle_deg - 1e-6, "the session reaches its stated angle"
    assert session.hold_s <= limits.max_hold_min * 60
    assert session.hold_s <= 600
    assert longest_dwell_s(protocol) <= limits.max_hold_min * 60 + 1e-6
    # Gentle: nothing faster than the 6 deg/s of the entry (ramps 2, rise 3, rocking ~5, one-cycle <= 10.1).
    assert float(np.abs(timeline.angular_rate_deg_s(t)).max()) <= 10.1
    # Starts and ends standing; entry first, then return: flat rest >= limits, rise, stand.
    assert timeline.start_angle_deg == -90.0
    assert timeline.end_angle_deg == -90.0
    spans = timeline.leaf_spans
    assert [s.text for s in spans[:3]] == ["stand for 30 s", "tilt to 0 deg over 15 s", "lie flat for 1 min"]
    rest, rise, stand = spans[-3:]
    assert rest.text.startswith("lie flat for")
    assert rise.text == "tilt to -90 deg over 30 s"
    assert stand.text == "stand for 30 s"
    assert rest.end_s - rest.start_s >= max(limits.return_rest_min, 2.0) * 60 - 1e-9
    rest_t = np.linspace(rest.start_s, rest.end_s, 50)
    np.testing.assert_array_equal(timeline.angle_deg(rest_t), 0.0)
    # The stated hold is the time spent holding at the angle (intermittent: summed over bursts).
    if session.style != "oscillating":
        holds = [s for s in spans if s.text.startswith("hold at")]
        assert math.isclose(sum(s.end_s - s.start_s for s in holds), session.hold_s)
        assert all(s.end_s - s.start_s <= (30 if session.style == "intermittent" else 600) for s in holds)
    else:
        rocking = [s for s in spans if s.text.startswith("oscillate")]
        assert len(rocking) == 1 and math.isclose(rocking[0].end_s - rocking[0].start_s, session.hold_s)


def unique_sessions(program: Program) -> list[PlannedSession]:
    """One session per distinct protocol (sessions of the same level share it)."""
    seen: dict[str, PlannedSession] = {}
    for session in program.sessions:
        seen.setdefault(session.protocol_text, session)
    return list(seen.values())


# ------------------------------------------------------------------------------------------- strategies


def floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite floats in [low, high]."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


limits_strategy = st.builds(
    SessionLimits,
    max_angle_deg=st.one_of(st.integers(10, 90).map(float), floats(MIN_PROGRAM_ANGLE_DEG, 90)),
    max_hold_min=st.one_of(st.sampled_from([0.5, 1.0, 2.0, 3.0, 10.0]), floats(0.5, 15)),
    return_rest_min=st.one_of(st.just(0.0), floats(0, 10)),
    binding_constraint=st.sampled_from(["intraocular_pressure", "blood_pressure", "disc_pressure"]),
)


@st.composite
def settings_strategy(draw: st.DrawFn, max_weeks: int = 26) -> ProgramSettings:
    """Any valid settings, round numbers and awkward floats alike."""
    start = draw(st.one_of(st.sampled_from([15.0, 20.0, 30.0]), floats(15, 30)))
    ceiling = draw(st.one_of(st.none(), floats(start, 90)))
    return ProgramSettings(
        weeks=draw(st.integers(1, max_weeks)),
        sessions_per_day=draw(st.integers(1, 3)),
        days_per_week=draw(st.integers(1, 7)),
        style=draw(st.sampled_from(STYLES)),
        start_angle_deg=start,
        start_hold_min=draw(st.one_of(st.sampled_from([1.0, 1.5, 2.0]), floats(1, 2))),
        angle_step_deg=draw(st.one_of(st.sampled_from([0.0, 2.0, 5.0, 10.0]), floats(1, 10))),
        hold_step_min=draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), floats(0.25, 2))),
        target_angle_deg=draw(st.one_of(st.just(60.0), floats(start, 90))),
        ceiling_angle_deg=ceiling,
        start_date=draw(st.dates(date(2020, 1, 1), date(2035, 12, 31))),
    )


reports_strategy = st.builds(
    SessionReport,
    pain_before=st.one_of(st.none(), st.integers(0, 10)),
    pain_after=st.one_of(st.none(), st.integers(0, 10)),
    symptoms=st.one_of(
        st.just(frozenset()),  # most sessions go well
        st.frozensets(st.sampled_from(SYMPTOMS), max_size=3),
    ),
    completed=st.booleans(),
)


# ------------------------------------------------------------------------------------------- properties


@settings(max_examples=400, deadline=None)
@given(limits=limits_strategy, settings_=settings_strategy())
def test_every_session_stays_within_limits_and_progresses(
    limits: SessionLimits, settings_: ProgramSettings
) -> None:
    program = generate_program(limits, settings_)

    # Days, weeks and sessions per day exactly as configured.
    per_week = settings_.days_per_week * settings_.sessions_per_day
    assert len(program.sessions) == settings_.weeks * per_week
    offsets = session_day_offsets(settings_.days_per_week)
    for i, session in enumerate(program.sessions):
        week, slot = divmod(i, per_week)
        day_slot, index = divmod(slot, settings_.sessions_per_day)
        assert session.week == week + 1
        assert session.index_in_day == index + 1
        assert session.day == settings_.start_date + timedelta(days=7 * week + offsets[day_slot])
        assert session.style == settings_.style
    assert len({s.key for s in program.sessions}) == len(program.sessions)

    for session in unique_sessions(program):
        check_session_safe(session, limits, settings_)

    # Same session all week; neither angle nor hold ever decreases from week to week.
    by_week: dict[int, set[tuple[float, int]]] = {}
    for session in program.sessions:
        by_week.setdefault(session.week, set()).add((session.max_angle_deg, session.hold_s))
    levels = [by_week[w].pop() for w in sorted(by_week) if len(by_week[w]) == 1]
    assert len(levels) == settings_.weeks
    assert all(a0 <= a1 and h0 <= h1 for (a0, h0), (a1, h1) in itertools.pairwise(levels))

    # Week 1 is the start (or the limit, when the limit is lower).
    ceiling = min(settings_.target_angle_deg, settings_.ceiling_angle_deg or 90.0, limits.max_angle_deg)
    assert program.ceiling_angle_deg == ceiling
    assert levels[0][0] == min(settings_.start_angle_deg, ceiling)
    assert levels[0][1] <= math.floor(settings_.start_hold_min * 60)
    json.dumps(program.to_dict())


@settings(max_examples=250, deadline=None)
@given(
    limits=limits_strategy,
    settings_=settings_strategy(max_weeks=6),
    steps=st.lists(
        st.tuples(
            st.integers(0, 2),  # which of the next sessions is reported (earlier ones were skipped)
            reports_strategy,
            st.one_of(st.none(), limits_strategy),  # new limits from a fresh engine run, or unchanged
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_adaptation_never_exceeds_limits(
    limits: SessionLimits,
    settings_: ProgramSettings,
    steps: list[tuple[int, SessionReport, SessionLimits | None]],
) -> None:
    program = generate_program(limits, settings_)
    for skip, report, new_limits in steps:
        if not program.sessions:
            break
        done = program.sessions[min(skip, len(program.sessions) - 1)]
        current = new_limits if new_limits is not None else program.limits
        result = adapt(program, done, report, current)
        decision = decide(report)
        later = [s for s in program.sessions if s.key > done.key]
        assert result.program.limits == current
        assert [s.key for s in result.program.sessions] == (
            [s.key for s in later] if result.program.sessions else []
        )

        if decision.action == "pause":
            assert result.action == "pause" and result.program.sessions == []
            assert result.requires_rescreening == bool(report.symptoms & PAUSE_SYMPTOMS)
        elif result.action == "pause":  # only when the new limits leave no room for a program
            assert current.max_angle_deg < MIN_PROGRAM_ANGLE_DEG or current.max_hold_min < 0.5
        else:
            assert result.action == decision.action
            assert len(result.program.sessions) == len(later)

        for session in unique_sessions(result.program):
            check_session_safe(session, current, settings_)

        if result.program.sessions and new_limits is None:
            following = result.program.sessions[0]
            if result.action == "step_back":
                assert following.angle_level == max(done.angle_level - 1, 0)
                assert following.hold_level == max(done.hold_level - 1, 0)
                assert following.max_angle_deg < done.max_angle_deg or done.angle_level == 0
                assert following.hold_s < done.hold_s or done.hold_level == 0
            elif result.action == "hold":
                assert (following.max_angle_deg, following.hold_s) == (done.max_angle_deg, done.hold_s)
            else:
                assert following.max_angle_deg >= done.max_angle_deg and following.hold_s >= done.hold_s
                assert following.angle_level <= min(done.angle_level + 1, following.week)
                assert following.hold_level <= min(done.hold_level + 1, following.week)
            # The weekly progression resumes from the new level: never downwards without a report.
            pairs = [(s.max_angle_deg, s.hold_s) for s in result.program.sessions]
            assert all(a0 <= a1 and h0 <= h1 for (a0, h0), (a1, h1) in itertools.pairwise(pairs))
        program = result.program


# ------------------------------------------------------------------------------------------- plan examples


def test_default_plan_follows_the_manuals() -> None:
    """Defaults: 6 weeks, 5 days, once a day, 20 deg for 1 min, +5 deg and +1 min a week, continuous."""
    program = generate_program(GENEROUS, ProgramSettings(start_date=MONDAY))
    assert len(program.sessions) == 30
    weeks = sorted({(s.week, s.max_angle_deg, s.hold_min) for s in program.sessions})
    assert weeks == [(w, 20.0 + 5 * (w - 1), float(w)) for w in range(1, 7)]
    first_week_days = [s.day.strftime("%a") for s in program.sessions if s.week == 1]
    assert first_week_days == ["Mon", "Tue", "Wed", "Fri", "Sat"]
    assert program.sessions[0].protocol_text == (
        "stand for 30 s\n"
        "tilt to 0 deg over 15 s\n"
        "lie flat for 1 min\n"
        "tilt to 20 deg over 10 s\n"
        "hold at 20 deg for 1 min\n"
        "tilt to 0 deg over 10 s\n"
        "lie flat for 2 min\n"
        "tilt to -90 deg over 30 s\n"
        "stand for 30 s"
    )
    assert "The last week reaches 45 deg; 60 deg would take 9 weeks at +5 deg a week." in program.notes


def test_default_settings_are_as_documented() -> None:
    defaults = ProgramSettings()
    assert defaults.model_dump(exclude={"start_date"}) == {
        "weeks": 6,
        "sessions_per_day": 1,
        "days_per_week": 5,
        "style": "continuous",
        "start_angle_deg": 20.0,
        "start_hold_min": 1.0,
        "angle_step_deg": 5.0,
        "hold_step_min": 1.0,
        "target_angle_deg": 60.0,
        "ceiling_angle_deg": None,
    }
    assert len(generate_program(GENEROUS).sessions) == 30


def test_long_program_stops_at_target_and_ten_minutes() -> None:
    program = generate_program(GENEROUS, ProgramSettings(weeks=26, start_date=MONDAY))
    assert max(s.max_angle_deg for s in program.sessions) == 60.0
    assert max(s.hold_s for s in program.sessions) == 600
    assert program.sessions[-1].max_angle_deg == 60.0


def test_clinician_ceiling_and_target_bind() -> None:
    ceiling = generate_program(GENEROUS, ProgramSettings(weeks=12, ceiling_angle_deg=35, start_date=MONDAY))
    assert ceiling.ceiling_angle_deg == 35.0
    assert max(s.max_angle_deg for s in ceiling.sessions) == 35.0
    assert any("set by your clinician" in note for note in ceiling.notes)
    target = generate_program(GENEROUS, ProgramSettings(weeks=12, target_angle_deg=40, start_date=MONDAY))
    assert [s.max_angle_deg for s in target.sessions][-1] == 40.0


def test_personal_limits_cap_angle_and_hold() -> None:
    program = generate_program(EYE, ProgramSettings(weeks=10, start_date=MONDAY))
    assert max(s.max_angle_deg for s in program.sessions) == 45.0
    # 4 min limit on the dwell within 1 deg of the peak, less 2 x 0.6 s of ramp, in whole seconds.
    assert max(s.hold_s for s in program.sessions) == math.floor(240 - 2 * TOP_BAND_S_PER_RAMP) == 238
    assert any("intraocular_pressure" in note for note in program.notes)
    assert all("lie flat for 3 min" in s.protocol_text for s in program.sessions)


def test_start_above_the_limit_starts_at_the_limit() -> None:
    limits = SessionLimits(max_angle_deg=12, max_hold_min=0.75, binding_constraint="intraocular_pressure")
    program = generate_program(limits, ProgramSettings(start_date=MONDAY))
    assert {s.max_angle_deg for s in program.sessions} == {12.0}
    assert {s.hold_s for s in program.sessions} == {math.floor(45 - 1.2)}
    assert any("below the usual start of 20 deg" in note for note in program.notes)
    assert any("below the usual start of 1 min" in note for note in program.notes)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            SessionLimits(max_angle_deg=9.5, max_hold_min=5, binding_constraint="intraocular_pressure"),
            "angle limit of 9.5 deg (intraocular_pressure) is below the 10 deg",
        ),
        (
            SessionLimits(max_angle_deg=40, max_hold_min=0.4, binding_constraint="blood_pressure"),
            "hold limit of 0.4 min (blood_pressure) is below the 0.5 min",
        ),
    ],
)
def test_limits_too_low_for_any_program_are_refused(limits: SessionLimits, message: str) -> None:
    with pytest.raises(ProgramError, match=re.escape(message)):
        generate_program(limits, ProgramSettings(start_date=MONDAY))


def test_gentle_ramps_and_styles() -> None:
    assert ramp_s(10) == 5 and ramp_s(60) == 30 and ramp_s(90) == 45
    assert all(a / ramp_s(a) <= GENTLE_RATE_DEG_S for a in np.linspace(0.5, 90, 400))
    assert all(ramp_s(a) / a <= TOP_BAND_S_PER_RAMP for a in np.linspace(10, 90, 4000))

    limits = SessionLimits(max_angle_deg=60, max_hold_min=10, binding_constraint="none")
    base = {"weeks": 9, "start_date": MONDAY, "hold_step_min": 0.5}
    intermittent = generate_program(limits, ProgramSettings(style="intermittent", **base)).sessions[-1]
    assert (intermittent.max_angle_deg, intermittent.hold_s) == (60.0, 300)
    assert "repeat 10 times: (tilt to 60 deg over 30 s; hold at 60 deg for 30 s" in intermittent.protocol_text

    rocking = generate_program(limits, ProgramSettings(style="oscillating", **base)).sessions[-1]
    steps = rocking.protocol.steps
    oscillation = next(s for s in steps if isinstance(s, Oscillate))
    assert (oscillation.angle_a_deg, oscillation.angle_b_deg, oscillation.duration_s) == (0.0, 60.0, 300.0)
    assert oscillation.period_s == math.ceil(math.pi * 60 / 5) == 38
    assert oscillation.peak_rate_deg_s <= 5.0
    assert isinstance(steps[steps.index(oscillation) + 1], Tilt)

    continuous = generate_program(limits, ProgramSettings(**base)).sessions[-1]
    assert [type(s).__name__ for s in continuous.protocol.steps[3:6]] == ["Tilt", "Hold", "Tilt"]


def test_one_session_runs_through_the_engine() -> None:
    """A planned session is a protocol the physiology engine simulates as written."""
    from inversa.body import Person
    from inversa.simulation import simulate

    session = generate_program(EYE, ProgramSettings(style="intermittent", start_date=MONDAY)).sessions[0]
    result = simulate(Person(sex="male", age_years=40, height_cm=175, mass_kg=75), session.protocol)
    angle = result.series["angle_deg"][0]
    assert angle.max() == session.max_angle_deg
    assert angle[0] == angle[-1] == -90.0
    assert np.all(np.isfinite(result.series["intraocular_pressure_mmhg"]))


def test_to_dict_meets_the_cli_contract() -> None:
    data = generate_program(EYE, ProgramSettings(weeks=1, start_date=MONDAY)).to_dict()
    assert json.loads(json.dumps(data)) == data
    first = data["sessions"][0]
    assert {"day", "protocol", "max_angle_deg", "hold_min"} <= first.keys()
    assert first["day"] == "2025-03-03" and first["max_angle_deg"] == 20.0 and first["hold_min"] == 1.0
    assert Protocol.parse(first["protocol"]).to_text() == first["protocol"]


# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"max_angle_deg": 95}, "max_angle_deg"),
        ({"max_angle_deg": -1}, "max_angle_deg"),
        ({"max_hold_min": 0}, "max_hold_min"),
        ({"return_rest_min": -1}, "return_rest_min"),
        ({"return_rest_min": 61}, "return_rest_min"),
        ({"binding_constraint": " "}, "binding_constraint"),
        ({"max_angle_deg": float("nan")}, "max_angle_deg"),
    ],
)
def test_limits_validation_names_the_field(fields: dict[str, Any], name: str) -> None:
    good: dict[str, Any] = {
        "max_angle_deg": 40,
        "max_hold_min": 3,
        "return_rest_min": 2,
        "binding_constraint": "x",
    }
    with pytest.raises(ValidationError, match=name):
        SessionLimits(**{**good, **fields})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"weeks": 27}, "weeks must be between 1 and 26"),
        ({"sessions_per_day": 4}, "sessions_per_day must be between 1 and 3"),
        ({"days_per_week": 0}, "days_per_week must be between 1 and 7"),
        ({"start_angle_deg": 35}, "start_angle_deg must be between 15 and 30 deg"),
        ({"start_hold_min": 3}, "start_hold_min must be between 1 and 2 min"),
        ({"angle_step_deg": 0.5}, "angle_step_deg must be 0 (no progression) or at least 1 deg"),
        ({"hold_step_min": 0.1}, "hold_step_min must be 0 (no progression) or at least 0.25 min"),
        ({"target_angle_deg": 95}, "target_angle_deg must be between 15 and 90 deg"),
        (
            {"start_angle_deg": 25, "target_angle_deg": 20},
            "target_angle_deg (20 deg) must not be below start",
        ),
        ({"ceiling_angle_deg": 18}, "ceiling_angle_deg (18 deg) must not be below start_angle_deg (20 deg)"),
        ({"style": "wild"}, "style"),
        ({"speed": 3}, "speed"),
    ],
)
def test_settings_validation_names_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ProgramSettings(**fields)


# ------------------------------------------------------------------------------------------- adaptation


@pytest.mark.parametrize(
    ("report", "action", "rescreen"),
    [
        ({"symptoms": ["eye_pressure"], "completed": True, "pain_before": 5, "pain_after": 2}, "pause", True),
        ({"symptoms": ["palpitations"], "completed": True}, "pause", True),
        ({"symptoms": ["stop_now", "headache"], "completed": False}, "pause", True),
        ({"symptoms": ["nausea", "dizziness"], "completed": True}, "pause", False),
        ({"symptoms": ["headache", "dizziness"], "completed": True}, "pause", False),
        (
            {"symptoms": ["dizziness"], "completed": True, "pain_before": 5, "pain_after": 2},
            "step_back",
            False,
        ),
        ({"symptoms": ["headache"], "completed": False}, "step_back", False),
        ({"symptoms": ["nausea"], "completed": True}, "step_back", False),
        ({"completed": True, "pain_before": 3, "pain_after": 5}, "step_back", False),
        ({"completed": False, "pain_before": 3, "pain_after": 5}, "step_back", False),
        ({"completed": False, "pain_before": 5, "pain_after": 3}, "hold", False),
        ({"completed": True, "pain_before": 5, "pain_after": 5}, "step_forward", False),
        ({"completed": True, "pain_before": 5, "pain_after": 2}, "step_forward", False),
        ({"completed": True, "pain_before": 3, "pain_after": 4}, "hold", False),
        ({"completed": True, "pain_before": 3}, "hold", False),
        ({"completed": True}, "hold", False),
    ],
)
def test_decision_rules(report: dict[str, Any], action: str, rescreen: bool) -> None:
    decision = decide(SessionReport.model_validate(report))
    assert (decision.action, decision.requires_rescreening) == (action, rescreen)
    assert decision.action in ACTIONS and decision.reason


def test_reasons_are_plain_language() -> None:
    eye = decide(SessionReport(symptoms=frozenset({"eye_pressure"}), completed=True))
    assert "pressure in the eyes" in eye.reason and "screened again" in eye.reason
    both = decide(SessionReport(symptoms=frozenset({"nausea", "dizziness"}), completed=True))
    assert "dizziness and nausea together" in both.reason
    worse = decide(SessionReport(pain_before=2, pain_after=6, completed=True))
    assert worse.reason.startswith("Your pain was worse after the session")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pain_before": 11, "completed": True}, "pain_before must be between 0 and 10"),
        ({"pain_after": -1, "completed": True}, "pain_after must be between 0 and 10"),
        ({"pain_after": 2.5, "completed": True}, "pain_after"),
        ({"symptoms": ["vertigo"], "completed": True}, "unknown vertigo; expected any of dizziness"),
        ({"symptoms": "nausea", "completed": True}, "not one string"),
        ({}, "completed"),
    ],
)
def test_report_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        SessionReport.model_validate(fields)


GOOD = SessionReport(pain_before=4, pain_after=3, completed=True)
DIZZY = SessionReport(symptoms=frozenset({"dizziness"}), completed=True)
STOPPED = SessionReport(completed=False)


def _levels(program: Program) -> list[tuple[int, float, int]]:
    return [(s.week, s.max_angle_deg, s.hold_s) for s in program.sessions]


def test_step_back_lowers_the_next_session_then_progression_resumes() -> None:
    program = generate_program(GENEROUS, ProgramSettings(weeks=4, days_per_week=2, start_date=MONDAY))
    week2_first = program.sessions[2]
    assert (week2_first.max_angle_deg, week2_first.hold_s) == (25.0, 120)
    result = adapt(program, week2_first, DIZZY, GENEROUS)
    assert result.action == "step_back" and not result.requires_rescreening
    assert _levels(result.program) == [
        (2, 20.0, 60),
        (3, 25.0, 120),
        (3, 25.0, 120),
        (4, 30.0, 180),
        (4, 30.0, 180),
    ]
    assert "step back" in result.program.notes[-1]

    # At the start there is nothing lower: the start values stay.
    first = adapt(program, program.sessions[0], DIZZY, GENEROUS)
    assert _levels(first.program)[:3] == [(1, 20.0, 60), (2, 25.0, 120), (2, 25.0, 120)]


def test_last_session_of_a_week_steps_back_below_it() -> None:
    program = generate_program(GENEROUS, ProgramSettings(weeks=3, days_per_week=2, start_date=MONDAY))
    end_of_week2 = program.sessions[3]
    result = adapt(program, end_of_week2, DIZZY, GENEROUS)
    assert _levels(result.program) == [(3, 20.0, 60), (3, 20.0, 60)]


def test_hold_repeats_the_level_even_across_a_week() -> None:
    program = generate_program(GENEROUS, ProgramSettings(weeks=3, days_per_week=2, start_date=MONDAY))
    result = adapt(program, program.sessions[1], STOPPED, GENEROUS)
    assert result.action == "hold"
    assert _levels(result.program) == [(2, 20.0, 60), (2, 20.0, 60), (3, 25.0, 120), (3, 25.0, 120)]


def test_step_forward_goes_at_most_one_level_ahead_and_never_past_the_ceiling() -> None:
    limits = SessionLimits(max_angle_deg=30, max_hold_min=20, binding_constraint="none")
    program = generate_program(limits, ProgramSettings(weeks=3, days_per_week=3, start_date=MONDAY))
    result = adapt(program, program.sessions[0], GOOD, limits)
    assert result.action == "step_forward"
    assert _levels(result.program)[:3] == [(1, 25.0, 120), (1, 25.0, 120), (2, 30.0, 180)]
    again = adapt(result.program, result.program.sessions[0], GOOD, limits)
    assert _levels(again.program)[:2] == [(1, 25.0, 120), (2, 30.0, 180)], "one level ahead at most"
    program = again.program
    while program.sessions:
        program = adapt(program, program.sessions[0], GOOD, limits).program
        assert all(s.max_angle_deg <= 30.0 for s in program.sessions)


def test_pause_ends_the_program_and_says_why() -> None:
    program = generate_program(EYE, ProgramSettings(start_date=MONDAY))
    result = adapt(
        program, program.sessions[4], SessionReport(symptoms=frozenset({"eye_pressure"}), completed=True), EYE
    )
    assert (result.action, result.requires_rescreening, result.program.sessions) == ("pause", True, [])
    assert "pressure in the eyes" in result.reason
    assert result.program.notes[-1].startswith("After session 1 on 2025-03-08: pause.")
    with pytest.raises(ValueError, match="no sessions to put in a calendar"):
        to_ical(result.program)


def test_new_limits_are_applied_to_the_rest_of_the_program() -> None:
    program = generate_program(GENEROUS, ProgramSettings(weeks=8, start_date=MONDAY))
    lower = SessionLimits(max_angle_deg=32, max_hold_min=2, binding_constraint="intraocular_pressure")
    result = adapt(program, program.sessions[10], GOOD, lower)
    assert result.action == "step_forward"
    assert max(s.max_angle_deg for s in result.program.sessions) == 32.0
    assert max(s.hold_s for s in result.program.sessions) == 118
    assert any("32 deg, your personal limit (intraocular_pressure)" in n for n in result.program.notes)

    too_low = SessionLimits(max_angle_deg=5, max_hold_min=2, binding_constraint="intraocular_pressure")
    refused = adapt(program, program.sessions[10], GOOD, too_low)
    assert (refused.action, refused.program.sessions) == ("pause", [])
    assert "no longer allow a useful session" in refused.reason


def test_last_session_and_unknown_session() -> None:
    program = generate_program(EYE, ProgramSettings(weeks=1, start_date=MONDAY))
    last = adapt(program, program.sessions[-1], GOOD, EYE)
    assert last.action == "step_forward" and last.program.sessions == []
    assert "last session of the plan" in last.reason
    other = generate_program(EYE, ProgramSettings(weeks=1, start_date=date(2025, 6, 2))).sessions[0]
    with pytest.raises(ValueError, match="session 1 on 2025-06-02 is not in this program"):
        adapt(program, other, GOOD, EYE)


# ------------------------------------------------------------------------------------------- iCalendar


def unfold(text: str) -> list[str]:
    """Content lines of an iCalendar text (CRLF-separated, continuation lines start with a space)."""
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", ""), "only CRLF line endings"
    physical = text[:-2].split("\r\n")
    assert all(len(line.encode()) <= MAX_LINE_OCTETS for line in physical)
    return text[:-2].replace("\r\n ", "").split("\r\n")


def unescape(value: str) -> str:
    """Inverse of TEXT escaping."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def parse_ical(text: str) -> list[dict[str, str]]:
    """VEVENTs as name -> raw value, checking BEGIN/END nesting on the way."""
    stack: list[str] = []
    events: list[dict[str, str]] = []
    for line in unfold(text):
        name, _, value = line.partition(":")
        assert re.fullmatch(r"[A-Z-]+", name), line
        if name == "BEGIN":
            stack.append(value)
            if value == "VEVENT":
                events.append({})
        elif name == "END":
            assert stack.pop() == value
        else:
            assert stack, "properties only inside a component"
            if stack[-1] == "VEVENT":
                assert name not in events[-1]
                events[-1][name] = value
    assert stack == []
    return events


def ical_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def test_ical_round_trip() -> None:
    program = generate_program(
        EYE, ProgramSettings(weeks=3, sessions_per_day=2, style="intermittent", start_date=MONDAY)
    )
    stamp = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    text = to_ical(program, stamp=stamp)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Inversa//Inversion program//EN\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    events = parse_ical(text)
    assert len(events) == len(program.sessions) == 30
    assert len({e["UID"] for e in events}) == 30
    for event, session in zip(events, program.sessions, strict=True):
        assert event["UID"] == f"inversa-{session.day:%Y%m%d}-{session.index_in_day}@inversa"
        assert event["DTSTAMP"] == "20250301T120000Z"
        start, end = ical_time(event["DTSTART"]), ical_time(event["DTEND"])
        assert start == datetime.combine(session.day, time(8 + 4 * (session.index_in_day - 1)), UTC)
        assert end - start == timedelta(seconds=math.ceil(session.duration_s))
        description = unescape(event["DESCRIPTION"])
        assert description.endswith("Protocol:\n" + session.protocol_text)
        assert Protocol.parse(description.split("Protocol:\n")[1]) == session.protocol
        summary = unescape(event["SUMMARY"])
        assert f"{session.max_angle_deg:g} deg" in summary
        assert summary.startswith("Inversion session: ")
    assert "\\;" in text and "\\," in text  # the repeat's semicolons and the description's comma are escaped
    # UIDs are stable: a later export (new stamp) updates the same events.
    later = parse_ical(to_ical(program, stamp=stamp + timedelta(days=3)))
    assert [e["UID"] for e in later] == [e["UID"] for e in events]


def test_ical_local_time_zone_and_errors() -> None:
    program = generate_program(EYE, ProgramSettings(weeks=1, days_per_week=1, start_date=date(2025, 1, 6)))
    summer = generate_program(EYE, ProgramSettings(weeks=1, days_per_week=1, start_date=date(2025, 7, 7)))
    assert parse_ical(to_ical(program, tz="Europe/Berlin"))[0]["DTSTART"] == "20250106T070000Z"
    assert parse_ical(to_ical(summer, tz="Europe/Berlin"))[0]["DTSTART"] == "20250707T060000Z"
    custom = parse_ical(to_ical(program, summary_prefix="Tisch; Übung, täglich", start_time=time(18, 30)))
    assert unescape(custom[0]["SUMMARY"]).startswith("Tisch; Übung, täglich: 20 deg for 1 min")
    assert custom[0]["DTSTART"] == "20250106T183000Z"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        to_ical(program, tz="Mars/Olympus")
    three = generate_program(EYE, ProgramSettings(weeks=1, sessions_per_day=3, start_date=MONDAY))
    with pytest.raises(ValueError, match="would run past midnight"):
        to_ical(three, start_time=time(20, 0))


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=400))
def test_folding_and_escaping_round_trip(value: str) -> None:
    line = "DESCRIPTION:" + escape_text(value)
    folded = fold_line(line)
    physical = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= MAX_LINE_OCTETS for p in physical)
    assert all(p.startswith(" ") for p in physical[1:])
    unfolded = folded.replace("\r\n ", "")
    assert unfolded == line
    assert "\r" not in unfolded and "\n" not in unfolded
    expected = value.replace("\r\n", "\n").replace("\r", "\n")
    assert unescape(unfolded.removeprefix("DESCRIPTION:")) == expected
    assert not re.search(r"(?<!\\)(?:\\\\)*[;,]", unfolded.removeprefix("DESCRIPTION:"))


def test_session_days_are_spread_over_the_week() -> None:
    assert session_day_offsets(1) == [0]
    assert session_day_offsets(3) == [0, 2, 4]
    assert session_day_offsets(5) == [0, 1, 2, 4, 5]
    assert session_day_offsets(7) == list(range(7))
    program = generate_program(
        EYE, ProgramSettings(weeks=2, days_per_week=3, sessions_per_day=2, start_date=MONDAY)
    )
    assert Counter(s.day for s in program.sessions) == Counter(
        {MONDAY + timedelta(days=d): 2 for d in (0, 2, 4, 7, 9, 11)}
    )
