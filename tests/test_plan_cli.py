"""`inversa plan`: a progressive program within the engine's personal limits, as JSON, a table or iCalendar.

Checked here: the JSON contract (``sessions`` of ``day``, ``protocol``, ``max_angle_deg``, ``hold_min``),
that every session parses as a protocol and never exceeds the person's computed limits (also as a
property over people and settings), the calendar, adaptation to reported symptoms, and one clean error
line for bad input. The engine runs once per distinct person (a module cache); the plan arithmetic
itself is tested in tests/test_programs.py.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inversa.cli.safety as safety_cli
from inversa.body import Person
from inversa.cli.main import main
from inversa.programs import STYLES, ProgramSettings, generate_program
from inversa.programs.plan import MIN_RETURN_REST_MIN
from inversa.protocol import LieFlat, Protocol, Tilt
from inversa.safety import LimitCriteria, PersonalLimits, compute_limits

START = date(2026, 12, 7)  # a Monday
PERSON_ARGS = ["--sex", "male", "--age", "40", "--height-cm", "175", "--mass-kg", "75"]
SESSION_KEYS = {"day", "protocol", "max_angle_deg", "hold_min"}
DEFAULT_CRITERIA = LimitCriteria()

#: A few different people (CLI arguments), each planned for from their own computed limits.
PEOPLE: dict[str, list[str]] = {
    "reference": [*PERSON_ARGS, "--resting-bp", "120/80", "--resting-iop", "15"],
    "older woman, higher eye pressure": [
        "--sex",
        "female",
        "--age",
        "66",
        "--height-cm",
        "160",
        "--mass-kg",
        "62",
        "--resting-bp",
        "132/84",
        "--resting-hr",
        "72",
        "--resting-iop",
        "19",
    ],
    "tall young man": ["--sex", "male", "--age", "24", "--height-cm", "192", "--mass-kg", "88"],
}


@cache
def limits_for(who: Person, criteria: LimitCriteria = DEFAULT_CRITERIA) -> PersonalLimits:
    """compute_limits, once per distinct person and criteria in this module."""
    return compute_limits(who, criteria)


def cached_compute(who: Person, criteria: LimitCriteria | None = None) -> PersonalLimits:
    """The CLI's compute_limits through the module cache (same results, computed once)."""
    return limits_for(who, criteria if criteria is not None else DEFAULT_CRITERIA)


@pytest.fixture(autouse=True)
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every engine call of the CLI goes through the module's cache."""
    monkeypatch.setattr(safety_cli, "compute_limits", cached_compute)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit status, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *words: str) -> None:
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for word in words:
        assert word in lines[0], (word, lines[0])


def plan_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run(["plan", *args, "--start-date", START.isoformat(), "--format", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def limits_of(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`inversa limits` for the same person (cached, so it matches the plan's limits)."""
    code, out, err = run(["limits", *args, "--format", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def rest_before_rise_s(protocol: Protocol) -> float:
    """Seconds flat right before the final rise to standing."""
    steps = protocol.steps
    rise = max(i for i, s in enumerate(steps) if isinstance(s, Tilt) and s.to_angle_deg == -90.0)
    before = steps[rise - 1]
    return before.duration_s if isinstance(before, LieFlat) else 0.0


def assert_within(sessions: list[dict[str, Any]], limits: dict[str, Any]) -> None:
    """Every session: contract keys, a protocol that parses, and nothing beyond the limits."""
    assert sessions
    for s in sessions:
        assert set(s) >= SESSION_KEYS
        protocol = Protocol.parse(s["protocol"])
        assert protocol.to_text() == s["protocol"]
        date.fromisoformat(s["day"])
        assert s["max_angle_deg"] <= limits["max_angle_deg"]
        assert s["hold_min"] <= limits["max_hold_min"]
        timeline = protocol.timeline()
        peak = float(np.max(timeline.angle_deg(np.arange(0.0, timeline.duration_s, 0.25))))
        assert peak <= limits["max_angle_deg"] + 1e-9
        rest = rest_before_rise_s(protocol)
        assert rest >= 60.0 * max(limits["return_rest_min"], MIN_RETURN_REST_MIN) - 1e-9


# ------------------------------------------------------------------------------------------------- JSON


def test_plan_json_contract_within_the_limits(capsys: pytest.CaptureFixture[str]) -> None:
    args = PEOPLE["reference"]
    data = plan_json([*args, "--weeks", "3", "--target-angle", "45"], capsys)
    assert {"sessions", "notes", "limits"} <= set(data)
    sessions = data["sessions"]
    assert len(sessions) == 3 * 5  # five session days a week by default
    assert sessions[0]["day"] == START.isoformat()
    assert all(s["max_angle_deg"] <= 45 for s in sessions)
    limits = limits_of(args, capsys)
    assert data["limits"]["max_angle_deg"] == limits["max_angle_deg"]
    assert_within(sessions, limits)
    # progression: neither angle nor hold ever falls from one session to the next
    angles = [s["max_angle_deg"] for s in sessions]
    holds = [s["hold_min"] for s in sessions]
    assert angles == sorted(angles) and holds == sorted(holds)


@pytest.mark.parametrize("who", sorted(PEOPLE))
def test_plan_sessions_never_exceed_each_persons_limits(who: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = PEOPLE[who]
    data = plan_json([*args, "--weeks", "12", "--target-angle", "90"], capsys)
    assert_within(data["sessions"], limits_of(args, capsys))


def _person(args: list[str]) -> Person:
    """The Person the CLI builds from these arguments."""
    values = dict(zip(args[::2], args[1::2], strict=True))
    bp = values.get("--resting-bp")
    return Person.create(
        sex=values["--sex"],
        age_years=float(values["--age"]),
        height_cm=float(values["--height-cm"]),
        mass_kg=float(values["--mass-kg"]),
        resting_systolic_mmhg=None if bp is None else float(bp.split("/")[0]),
        resting_diastolic_mmhg=None if bp is None else float(bp.split("/")[1]),
        resting_heart_rate_bpm=float(values["--resting-hr"]) if "--resting-hr" in values else None,
        resting_iop_mmhg=float(values["--resting-iop"]) if "--resting-iop" in values else None,
    )


@pytest.mark.parametrize("who", sorted(PEOPLE))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    weeks=st.integers(1, 26),
    target=st.floats(15, 90),
    style=st.sampled_from(STYLES),
    days=st.integers(1, 7),
    per_day=st.integers(1, 3),
    step=st.sampled_from([0.0, 2.0, 5.0, 10.0]),
)
def test_property_programs_never_exceed_the_computed_limits(
    who: str, weeks: int, target: float, style: Any, days: int, per_day: int, step: float
) -> None:
    limits = limits_for(_person(PEOPLE[who]))
    session_limits = limits.to_session_limits()
    program = generate_program(
        session_limits,
        ProgramSettings(
            weeks=weeks,
            target_angle_deg=max(target, 20.0),
            style=style,
            days_per_week=days,
            sessions_per_day=per_day,
            angle_step_deg=step,
            start_date=START,
        ),
    )
    assert_within([s.to_dict() for s in program.sessions], limits.to_dict())


# ------------------------------------------------------------------------------------- table and calendar


def test_plan_ics_is_a_calendar_of_the_sessions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [*PEOPLE["reference"], "--weeks", "2", "--start-date", START.isoformat(), "--tz", "Europe/Berlin"]
    code, out, err = run(["plan", *args, "--format", "ics"], capsys)
    assert code == 0, err
    assert out.startswith("BEGIN:VCALENDAR\r\n") and out.rstrip("\r\n").endswith("END:VCALENDAR")
    assert out.count("BEGIN:VEVENT") == 2 * 5
    assert f"DTSTART:{START:%Y%m%d}T070000Z" in out  # 08:00 in Berlin in winter
    target = tmp_path / "plan.ics"
    code, out, err = run(["plan", *args, "--format", "ics", "--out", str(target)], capsys)
    assert code == 0 and out == "", err
    assert target.read_bytes().count(b"\r\n") > 20  # CRLF kept in the file


def test_plan_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["plan", *PEOPLE["reference"], "--weeks", "1", "--start-date", START.isoformat()], capsys
    )
    assert code == 0, err
    assert "Personal limits:" in out and "Sessions" in out and "stand for 30 s" in out
    assert re.search(r"Mon 2026-12-07", out)


# --------------------------------------------------------------------------------------- adaptation


def _reports(tmp_path: Path, reports: list[dict[str, Any]]) -> str:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps(reports), encoding="utf-8")
    return str(path)


def test_plan_adapts_to_reported_symptoms(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [*PEOPLE["reference"], "--weeks", "4"]
    plain = plan_json(args, capsys)["sessions"]
    week2 = next(s for s in plain if s["day"] >= (START + timedelta(days=7)).isoformat())

    good = [{"day": plain[0]["day"], "completed": True, "pain_before": 4, "pain_after": 3}]
    data = plan_json([*args, "--reports", _reports(tmp_path, good)], capsys)
    assert [a["action"] for a in data["adaptations"]] == ["step_forward"]
    assert data["sessions"][0]["day"] == plain[1]["day"]
    assert data["sessions"][0]["max_angle_deg"] > plain[1]["max_angle_deg"]  # one step ahead

    dizzy = [{"day": week2["day"], "completed": True, "symptoms": ["dizziness"]}]
    data = plan_json([*args, "--reports", _reports(tmp_path, dizzy)], capsys)
    assert [a["action"] for a in data["adaptations"]] == ["step_back"]
    following = data["sessions"][0]
    assert following["day"] > week2["day"]
    assert following["max_angle_deg"] < week2["max_angle_deg"]  # one step back in angle
    assert following["hold_min"] < week2["hold_min"]  # and in time
    assert_within(data["sessions"], data["limits"])

    pause = [{"day": plain[0]["day"], "completed": False, "symptoms": ["eye_pressure"]}]
    data = plan_json([*args, "--reports", _reports(tmp_path, pause)], capsys)
    assert data["sessions"] == []
    assert data["adaptations"][0]["action"] == "pause" and data["adaptations"][0]["requires_rescreening"]


@pytest.mark.parametrize(
    ("reports", "words"),
    [
        ({"day": "2026-12-07"}, ["--reports", "JSON list"]),
        (
            [{"day": "2026-12-07", "completed": True, "symptoms": ["hiccups"]}],
            ["--reports: report 1", "hiccups"],
        ),
        ([{"day": "2026-12-06", "completed": True}], ["--reports: report 1", "not in the plan"]),
        ([{"day": "7 Dec", "completed": True}], ["--reports: report 1: day", "YYYY-MM-DD"]),
    ],
)
def test_plan_bad_reports(
    reports: Any, words: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps(reports), encoding="utf-8")
    code, out, err = run(
        ["plan", *PEOPLE["reference"], "--start-date", START.isoformat(), "--reports", str(path)], capsys
    )
    assert code == 2 and out == ""
    assert_one_error_line(err, *words)


# --------------------------------------------------------------------------------------------- errors


def test_no_program_when_the_limits_leave_no_room(capsys: pytest.CaptureFixture[str]) -> None:
    # a mean-pressure limit below this person's resting mean leaves no angle at all
    tight = [*PERSON_ARGS, "--resting-bp", "150/95", "--map-limit", "100"]
    code, out, err = run(["plan", *tight, "--format", "json"], capsys)
    assert limits_of(tight, capsys)["max_angle_deg"] < 10
    assert code == 1 and out == ""
    assert_one_error_line(err, "no program")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--weeks", "40"], ["--weeks", "between 1 and 26"]),
        (["--target-angle", "5"], ["--target-angle"]),
        (["--ceiling-angle", "95"], ["--ceiling-angle"]),
        (["--style", "wobble"], ["--style", "continuous"]),
        (["--days-per-week", "9"], ["--days-per-week"]),
        (["--start-date", "12/07/2026"], ["--start-date", "YYYY-MM-DD"]),
        (["--tz", "Mars/Olympus"], ["--tz", "IANA"]),
        (["--start-time", "8am"], ["--start-time", "HH:MM"]),
        (["--resting-bp", "120:80"], ["--resting-bp", "120/80"]),
        (["--format", "pdf"], ["pdf"]),
    ],
)
def test_plan_bad_options_are_one_line_exit_2(
    args: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["plan", *PERSON_ARGS, *args], capsys)
    assert code == 2 and out == ""
    assert_one_error_line(err, *words)
