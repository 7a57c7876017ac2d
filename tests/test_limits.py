"""Personal limits from the engine: relations and contracts, never hard-coded predictions.

The engine's parameters may still move, so these tests check what must hold whatever the numbers:

- limits shrink (never grow) when resting eye pressure or blood pressure rise, and when a cleared eye
  finding makes the eye-pressure limit stricter;
- the binding constraint is one of the allowed names, and the predicted values at the limit respect the
  criteria (except when lying flat already exceeds one, which gives an angle of 0);
- the hold limit, the rest before standing and the explanation follow their rules;
- a planned session at the limits, simulated, keeps every sustained pressure within the criteria;
- `inversa limits`: the JSON contract, the table for people, and one clean error line for bad input.

Engine runs are shared through a cache (each distinct person and criteria is computed once per module).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import inversa.cli.safety as safety_cli
from inversa.body import Person
from inversa.cli.main import main
from inversa.programs import ProgramSettings, generate_program
from inversa.safety import (
    BINDING_CONSTRAINTS,
    LimitCriteria,
    Override,
    PersonalLimits,
    apply_overrides,
    cleared_eye_findings,
    compute_limits,
    load_questionnaire,
    screen,
)
from inversa.safety.limits import (
    CLEARED_EYE_IOP_LIMIT_MMHG,
    CONSTRAINTS,
    DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG,
    DEFAULT_IOP_LIMIT_MMHG,
    DEFAULT_MAP_LIMIT_MMHG,
    HOLD_HORIZON_MIN,
    MIN_USEFUL_HOLD_MIN,
    PREDICTED_KEYS,
    RETURN_REST_OPTIONS_MIN,
    SERIES,
    SUSTAINED_WINDOW_S,
)
from inversa.simulation import simulate

PERSON = {"sex": "male", "age_years": 40.0, "height_cm": 175.0, "mass_kg": 75.0}
PERSON_ARGS = ["--sex", "male", "--age", "40", "--height-cm", "175", "--mass-kg", "75"]
CONTRACT_KEYS = {"max_angle_deg", "max_hold_min", "binding_constraint", "predicted", "return_rest_min"}
#: JSON rounds predictions to 0.1 mmHg.
ROUNDING = 0.05


def person(**changes: Any) -> Person:
    """The reference adult with resting 120/80 mmHg and eye pressure 15 mmHg, some values changed."""
    fields: dict[str, Any] = {
        **PERSON,
        "resting_systolic_mmhg": 120.0,
        "resting_diastolic_mmhg": 80.0,
        "resting_iop_mmhg": 15.0,
    }
    fields.update(changes)
    return Person.create(**fields)


DEFAULT_CRITERIA = LimitCriteria()


@cache
def limits_for(who: Person, criteria: LimitCriteria = DEFAULT_CRITERIA) -> PersonalLimits:
    """compute_limits, once per distinct person and criteria in this module."""
    return compute_limits(who, criteria)


def cached_compute(who: Person, criteria: LimitCriteria | None = None) -> PersonalLimits:
    """Stand-in for the CLI's compute_limits that shares the cache (same results, computed once)."""
    return limits_for(who, criteria if criteria is not None else DEFAULT_CRITERIA)


def assert_within_criteria(limits: PersonalLimits) -> None:
    """Predicted values at a non-zero limit respect every criterion."""
    assert limits.max_angle_deg > 0
    for c in CONSTRAINTS:
        assert limits.predicted[SERIES[c]] <= limits.criteria.limit(c) + 1e-9, c


# ------------------------------------------------------------------------------------------- criteria


def test_default_criteria_and_the_stricter_eye_limit() -> None:
    c = LimitCriteria()
    assert (c.iop_limit_mmhg, c.map_limit_mmhg, c.head_arterial_limit_mmhg) == (
        DEFAULT_IOP_LIMIT_MMHG,
        DEFAULT_MAP_LIMIT_MMHG,
        DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG,
    )
    assert c.effective_iop_limit_mmhg == DEFAULT_IOP_LIMIT_MMHG == 30.0
    cleared = LimitCriteria(eye_finding_cleared=True)
    assert cleared.effective_iop_limit_mmhg == CLEARED_EYE_IOP_LIMIT_MMHG < DEFAULT_IOP_LIMIT_MMHG
    assert cleared.limit("intraocular_pressure") == CLEARED_EYE_IOP_LIMIT_MMHG
    # a limit already stricter than the cleared-eye one stays
    assert LimitCriteria(iop_limit_mmhg=20, eye_finding_cleared=True).effective_iop_limit_mmhg == 20


@pytest.mark.parametrize(
    ("field", "value"),
    [("iop_limit_mmhg", 3.0), ("map_limit_mmhg", 500.0), ("head_arterial_limit_mmhg", float("nan"))],
)
def test_criteria_out_of_range_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        LimitCriteria(**{field: value})


def _clean_answers(**changes: Any) -> dict[str, Any]:
    """Screening answers with nothing to find, some changed."""
    answers: dict[str, Any] = {}
    for it in load_questionnaire().items:
        kind = it.type.value
        answers[it.key] = False if kind == "yes_no" else "none" if kind == "choice" else None
    answers.update(systolic_bp_mmhg=120, diastolic_bp_mmhg=80, height_cm=175, mass_kg=75)
    answers.update(changes)
    return answers


def _cleared(item: str) -> Any:
    result = screen(_clean_answers(**{item: True}))
    at = datetime.now(UTC)
    return apply_overrides(
        result, [Override(item=item, reason="seen by eye clinic", clinician="dr.o", at=at)]
    )


def test_cleared_eye_findings_come_from_clinician_decisions_on_eye_items() -> None:
    assert cleared_eye_findings(_cleared("diabetic_retinopathy")) == ("diabetic_retinopathy",)
    assert cleared_eye_findings(_cleared("glaucoma_or_ocular_hypertension")) == (
        "glaucoma_or_ocular_hypertension",
    )
    assert cleared_eye_findings(_cleared("conjunctivitis")) == ()  # an infection, not eye pressure
    assert cleared_eye_findings(_cleared("ventral_hernia")) == ()
    assert cleared_eye_findings(screen(_clean_answers(diabetic_retinopathy=True))) == ()  # not cleared


# --------------------------------------------------------------------------------- engine relations


def test_limits_shrink_when_resting_eye_pressure_rises() -> None:
    angles = [limits_for(person(resting_iop_mmhg=iop)).max_angle_deg for iop in (15.0, 18.0, 22.0)]
    assert angles == sorted(angles, reverse=True), angles
    assert angles[-1] < angles[0], angles
    high = limits_for(person(resting_iop_mmhg=22.0))
    assert high.binding_constraint == "intraocular_pressure"


def test_limits_shrink_when_resting_blood_pressure_rises() -> None:
    ladder = [(120.0, 80.0), (135.0, 88.0), (150.0, 95.0)]
    results = [limits_for(person(resting_systolic_mmhg=s, resting_diastolic_mmhg=d)) for s, d in ladder]
    angles = [r.max_angle_deg for r in results]
    assert angles == sorted(angles, reverse=True), angles
    assert angles[-1] < angles[0], angles
    # the higher pressure is what stops it: heart-level or eye-level arterial pressure binds
    assert results[-1].binding_constraint in ("mean_arterial_pressure", "head_arterial_pressure")
    maps = [r.predicted["mean_arterial_pressure_mmhg"] for r in results if r.max_angle_deg > 0]
    assert all(m <= DEFAULT_MAP_LIMIT_MMHG for m in maps)


def test_a_cleared_eye_finding_never_allows_more() -> None:
    base = limits_for(person())
    eye = limits_for(person(), LimitCriteria(eye_finding_cleared=True))
    assert eye.max_angle_deg <= base.max_angle_deg
    assert eye.predicted["intraocular_pressure_mmhg"] <= CLEARED_EYE_IOP_LIMIT_MMHG + 1e-9
    assert "eye-pressure limit is 24 mmHg instead of 30 mmHg" in eye.explanation[0]


def test_head_arterial_pressure_can_bind() -> None:
    criteria = LimitCriteria(iop_limit_mmhg=60, head_arterial_limit_mmhg=110)
    limits = limits_for(person(), criteria)
    assert limits.binding_constraint == "head_arterial_pressure"
    assert 0 < limits.max_angle_deg < 90
    assert_within_criteria(limits)


def test_nothing_binds_under_generous_criteria() -> None:
    criteria = LimitCriteria(iop_limit_mmhg=60, map_limit_mmhg=200, head_arterial_limit_mmhg=250)
    limits = limits_for(person(), criteria)
    assert (limits.max_angle_deg, limits.max_hold_min) == (90.0, HOLD_HORIZON_MIN)
    assert limits.binding_constraint == "none" and limits.hold_constraint is None
    assert "full inversion (90 deg)" in limits.explanation[0]


def _all_computed() -> list[PersonalLimits]:
    """A spread of results: IOP-bound, flat-bound by blood pressure, the stricter eye limit (cached)."""
    return [
        limits_for(person()),
        limits_for(person(resting_iop_mmhg=22.0)),
        limits_for(person(resting_systolic_mmhg=150.0, resting_diastolic_mmhg=95.0)),
        limits_for(person(), LimitCriteria(eye_finding_cleared=True)),
    ]


def test_binding_names_predictions_and_holds_follow_the_rules() -> None:
    for limits in _all_computed():
        assert limits.binding_constraint in BINDING_CONSTRAINTS
        assert set(limits.predicted) == set(PREDICTED_KEYS)
        assert 0.0 <= limits.max_angle_deg <= 90.0 and float(limits.max_angle_deg).is_integer()
        assert MIN_USEFUL_HOLD_MIN <= limits.max_hold_min <= HOLD_HORIZON_MIN
        assert (limits.max_hold_min * 2).is_integer()  # whole half-minutes
        if limits.hold_constraint is not None:
            assert limits.max_hold_min < HOLD_HORIZON_MIN
        if limits.max_angle_deg > 0:
            assert_within_criteria(limits)
        else:  # lying flat (or 1 deg) already passes the binding limit
            assert limits.binding_constraint != "none"
            assert "no head-down angle is allowed" in " ".join(limits.explanation)
        assert limits.explanation[-1].startswith("These are model predictions")
        assert f"{limits.max_angle_deg:g} deg" in " ".join(limits.explanation)


def test_rest_before_standing_is_the_shortest_that_keeps_the_fall_small() -> None:
    for limits in _all_computed():
        if limits.max_angle_deg == 0:
            assert limits.returns == () and limits.return_rest_min == 0
            continue
        assert limits.return_rest_min in RETURN_REST_OPTIONS_MIN
        rests = [r.rest_min for r in limits.returns]
        assert rests == list(RETURN_REST_OPTIONS_MIN[: len(rests)])  # tried shortest first
        assert all(r.exceeds(limits.criteria) for r in limits.returns[:-1])  # each shorter rest failed
        last = limits.returns[-1]
        assert last.rest_min == limits.return_rest_min
        assert not last.exceeds(limits.criteria) or last.rest_min == RETURN_REST_OPTIONS_MIN[-1]


def test_session_limits_and_a_program_within_them() -> None:
    limits = limits_for(person())
    session = limits.to_session_limits()
    assert (session.max_angle_deg, session.max_hold_min, session.return_rest_min) == (
        limits.max_angle_deg,
        limits.max_hold_min,
        limits.return_rest_min,
    )
    assert session.binding_constraint == limits.binding_constraint
    program = generate_program(session, ProgramSettings(weeks=26, target_angle_deg=90, angle_step_deg=10))
    assert max(s.max_angle_deg for s in program.sessions) == limits.max_angle_deg
    assert all(s.hold_min <= limits.max_hold_min for s in program.sessions)


def test_the_hardest_planned_session_simulated_stays_within_the_criteria() -> None:
    """Close the loop: plan up to the limits, simulate the last (hardest) session, check the pressures."""
    who = person()
    limits = limits_for(who)
    settings = ProgramSettings(weeks=26, target_angle_deg=90, angle_step_deg=10, hold_step_min=2)
    hardest = generate_program(limits.to_session_limits(), settings).sessions[-1]
    assert hardest.max_angle_deg == limits.max_angle_deg
    result = simulate(who, hardest.protocol)
    inverted = np.nonzero(result.series["angle_deg"][0] > 0)[0]
    window = slice(int(inverted[0]), int(inverted[-1]) + 1)
    for c in CONSTRAINTS:
        values = result.series[SERIES[c]][0]
        sustained = np.convolve(values, np.ones(SUSTAINED_WINDOW_S) / SUSTAINED_WINDOW_S, mode="full")
        peak = float(sustained[: values.size][window].max())
        assert peak <= limits.criteria.limit(c) + 0.5, (c, peak)  # 0.5 mmHg: entry stands 30 s, not 60


# ------------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's engine calls go through the module's cache."""
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


RESTING = ["--resting-bp", "120/80", "--resting-iop", "15"]


def test_cli_json_contract(shared: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["limits", *PERSON_ARGS, *RESTING, "--format", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= CONTRACT_KEYS
    assert set(data["predicted"]) == {
        "intraocular_pressure_mmhg",
        "mean_arterial_pressure_mmhg",
        "head_arterial_pressure_mmhg",
    }
    assert data["binding_constraint"] in BINDING_CONSTRAINTS
    for key in ("max_angle_deg", "max_hold_min", "return_rest_min"):
        assert isinstance(data[key], float), key
    expected = limits_for(person())
    assert data["max_angle_deg"] == expected.max_angle_deg
    assert data["predicted"]["intraocular_pressure_mmhg"] <= DEFAULT_IOP_LIMIT_MMHG + ROUNDING
    assert data["predicted"]["mean_arterial_pressure_mmhg"] <= DEFAULT_MAP_LIMIT_MMHG + ROUNDING
    assert data["predicted"]["head_arterial_pressure_mmhg"] <= DEFAULT_HEAD_ARTERIAL_LIMIT_MMHG + ROUNDING
    assert data["explanation"] and data["criteria"]["effective_iop_limit_mmhg"] == 30.0


def test_cli_table_explains_in_plain_words(shared: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["limits", *PERSON_ARGS, *RESTING], capsys)
    assert code == 0, err
    expected = limits_for(person())
    assert "steepest angle" in out and f"{expected.max_angle_deg:g} deg" in out
    assert "Predicted at the limit" in out and "model predictions" in out


def test_cli_eye_finding_cleared_flag_and_screening_file(
    shared: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        ["limits", *PERSON_ARGS, *RESTING, "--eye-finding-cleared", "--format", "json"], capsys
    )
    assert code == 0, err
    flag = json.loads(out)
    assert flag["criteria"]["effective_iop_limit_mmhg"] == CLEARED_EYE_IOP_LIMIT_MMHG
    result = tmp_path / "screening.json"
    result.write_text(json.dumps(_cleared("diabetic_retinopathy").to_dict()), encoding="utf-8")
    code, out, err = run(
        ["limits", *PERSON_ARGS, *RESTING, "--screening", str(result), "--format", "json"], capsys
    )
    assert code == 0, err
    derived = json.loads(out)
    assert derived["eye_items_cleared"] == ["diabetic_retinopathy"]
    assert derived["max_angle_deg"] == flag["max_angle_deg"] <= limits_for(person()).max_angle_deg


def test_cli_refuses_when_the_screening_forbids_inversion(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(_clean_answers(glaucoma_or_ocular_hypertension=True)), encoding="utf-8")
    code, out, err = run(["limits", *PERSON_ARGS, "--screening", str(answers)], capsys)
    assert code == 1 and out == ""
    assert_one_error_line(err, "blocked", "glaucoma_or_ocular_hypertension")
    answers.write_text("{not json", encoding="utf-8")
    code, _, err = run(["limits", *PERSON_ARGS, "--screening", str(answers)], capsys)
    assert code == 2
    assert_one_error_line(err, "--screening", "not valid JSON")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--resting-bp", "120-80"], ["--resting-bp", "120/80"]),
        (["--resting-bp", "high"], ["--resting-bp"]),
        (["--resting-bp", "120/"], ["--resting-bp"]),
        (["--resting-bp", "80/120"], ["--resting-bp", "exceed"]),
        (["--resting-bp", "300/80"], ["--resting-bp", "between"]),
        (["--resting-hr", "300"], ["--resting-hr", "between"]),
        (["--resting-iop", "2"], ["--resting-iop", "between"]),
        (["--iop-limit", "2"], ["--iop-limit", "between"]),
        (["--map-limit", "500"], ["--map-limit"]),
        (["--head-arterial-limit", "20"], ["--head-arterial-limit"]),
        (["--screening", "/no/such/file.json"], ["--screening", "cannot read"]),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(
    args: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["limits", *PERSON_ARGS, *args, "--format", "json"], capsys)
    assert code == 2 and out == ""
    assert_one_error_line(err, *words)
