"""Questionnaire scoring: worked examples per instrument, licence gating, change rules and properties."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inversa.outcomes import (
    INSTRUMENTS,
    ChangeResult,
    InvalidAnswerError,
    LicenceError,
    QuestionnaireError,
    ScoreResult,
    meaningful_change,
    parse_answers_json,
    score,
)
from inversa.outcomes.questionnaires import ODI_LICENCE_ENV, Licence

CONTRACT_KEYS = {"instrument", "score", "subscores", "interpretation", "complete"}


def odi(answers: list[int | None]) -> ScoreResult:
    """Score ODI with the licence granted explicitly, so the environment cannot change the outcome."""
    return score("odi", answers, odi_licensed=True)


def startback(positive_items: set[int], item9: int = 0) -> list[int | None]:
    """Answers with items 1-8 agreed where listed (1-based) and item 9 set to a 0-4 answer."""
    return [*(int(i in positive_items) for i in range(1, 9)), item9]


# ------------------------------------------------------------------------------------------------ data


def test_instrument_data_matches_the_product_reference() -> None:
    assert list(INSTRUMENTS) == ["nrs", "peg", "rmdq", "startback", "odi"]
    assert dict(INSTRUMENTS["nrs"].loinc) == {"score": "72514-3"}
    assert dict(INSTRUMENTS["peg"].loinc) == {"panel": "91148-7", "score": "91147-9"}
    assert dict(INSTRUMENTS["rmdq"].loinc) == {}
    assert dict(INSTRUMENTS["startback"].loinc) == {
        "panel": "91349-1",
        "total": "91351-7",
        "distress": "91350-9",
        "risk": "91352-5",
    }
    assert dict(INSTRUMENTS["odi"].loinc) == {"panel": "97908-8", "score": "97909-6"}
    assert [INSTRUMENTS[k].item_count for k in INSTRUMENTS] == [1, 3, 24, 9, 10]
    assert {k: i.licence for k, i in INSTRUMENTS.items()} == {
        "nrs": Licence.FREE,
        "peg": Licence.FREE,
        "rmdq": Licence.FREE,
        "startback": Licence.NON_COMMERCIAL,
        "odi": Licence.LICENSED,
    }
    assert INSTRUMENTS["startback"].items[8].values == (0, 1, 2, 3, 4)
    assert all(item.values == (0, 1) for item in INSTRUMENTS["startback"].items[:8])
    assert all(i.citations and i.higher_is_worse for i in INSTRUMENTS.values())
    assert INSTRUMENTS["nrs"].recall_period is not None


def test_change_rules_are_the_published_thresholds() -> None:
    rules = {k: i.change_rule for k, i in INSTRUMENTS.items()}
    assert rules["startback"] is None
    assert [(r.points, r.fraction) for k, r in rules.items() if r is not None] == [
        (2.0, 0.30),
        (1.0, None),
        (5.0, 0.30),
        (10.0, 0.30),
    ]


def test_odi_ships_no_item_wording() -> None:
    assert [item.label for item in INSTRUMENTS["odi"].items] == [f"section {i}" for i in range(1, 11)]


# ------------------------------------------------------------------------------------------------- NRS


@pytest.mark.parametrize(
    ("value", "interpretation"),
    [
        (0, "no pain (0)"),
        (1, "mild pain (1-3)"),
        (3, "mild pain (1-3)"),
        (4, "moderate pain (4-6)"),
        (6, "moderate pain (4-6)"),
        (7, "severe pain (7-10)"),
        (10, "severe pain (7-10)"),
    ],
)
def test_nrs_is_the_integer_with_its_band(value: int, interpretation: str) -> None:
    result = score("nrs", [value])
    assert result == ScoreResult("nrs", float(value), {}, interpretation, True)


def test_nrs_requires_its_one_answer() -> None:
    with pytest.raises(InvalidAnswerError, match=r"item 1 of nrs is unanswered") as info:
        score("nrs", [None])
    assert info.value.item == 1
    with pytest.raises(InvalidAnswerError, match=r"^nrs needs 1 answers, got 0$"):
        score("nrs", [])
    with pytest.raises(InvalidAnswerError, match=r"^item 1 of nrs must be an integer 0-10, got 11$"):
        score("nrs", [11])


# ------------------------------------------------------------------------------------------------- PEG


def test_peg_worked_example_is_the_mean() -> None:
    result = score("peg", [7, 8, 6])
    assert result.score == 7.0
    assert result.subscores == {"pain": 7, "enjoyment": 8, "activity": 6}
    assert result.interpretation == "severe pain and interference (mean 7-10)"
    assert result.complete


@pytest.mark.parametrize(
    ("answers", "mean", "band"),
    [
        ([0, 0, 0], 0.0, "no pain and interference (mean 0)"),
        ([3, 4, 4], 11 / 3, "mild pain and interference (mean above 0, below 4)"),
        ([4, 4, 4], 4.0, "moderate pain and interference (mean 4 to below 7)"),
        ([6, 7, 7], 20 / 3, "moderate pain and interference (mean 4 to below 7)"),
        ([10, 10, 10], 10.0, "severe pain and interference (mean 7-10)"),
    ],
)
def test_peg_bands_use_the_mean(answers: list[int | None], mean: float, band: str) -> None:
    result = score("peg", answers)
    assert result.score == pytest.approx(mean, abs=1e-12)
    assert result.interpretation == band


def test_peg_needs_all_three() -> None:
    with pytest.raises(InvalidAnswerError, match=r"^peg needs 3 answers, got 2$"):
        score("peg", [7, 8])
    with pytest.raises(InvalidAnswerError, match=r"item 2 of peg is unanswered; all 3 items are required"):
        score("peg", [7, None, 6])


# ------------------------------------------------------------------------------------------------ RMDQ


@pytest.mark.parametrize("ticked", [0, 1, 5, 23, 24])
def test_rmdq_counts_ticked_statements(ticked: int) -> None:
    answers = [1] * ticked + [0] * (24 - ticked)
    result = score("rmdq", answers)
    assert result.score == float(ticked)
    assert result.interpretation == f"{ticked} of 24 activities limited by back pain"
    assert result.subscores == {}
    assert result.complete


def test_rmdq_rejects_blanks_and_non_binary_values() -> None:
    answers: list[int | None] = [0] * 24
    answers[4] = None
    with pytest.raises(InvalidAnswerError, match=r"item 5 of rmdq is unanswered.*send 0") as info:
        score("rmdq", answers)
    assert info.value.item == 5
    answers[4] = 2
    with pytest.raises(InvalidAnswerError, match=r"^item 5 of rmdq must be 0 or 1, got 2$"):
        score("rmdq", answers)


# ------------------------------------------------------------------------------------------- STarT Back


@pytest.mark.parametrize(
    ("answers", "total", "distress", "risk"),
    [
        (startback(set()), 0, 0, "low risk"),
        (startback({1, 2, 3}), 3, 0, "low risk"),  # total 3: low
        (startback({1, 2, 3, 4}), 4, 0, "medium risk"),  # total 4: no longer low
        (startback({5, 6, 7}), 3, 3, "low risk"),  # distress 3 but total 3: low
        (startback({1, 5, 6, 7}), 4, 3, "medium risk"),  # total 4, distress 3: medium
        (startback({5, 6, 7, 8}), 4, 4, "high risk"),  # total 4, distress 4: high
        (startback({5, 6, 7}, item9=2), 3, 3, "low risk"),  # "moderately" bothered is not positive
        (startback({5, 6, 7}, item9=3), 4, 4, "high risk"),  # "very much" is positive
        (startback({1, 2, 3, 4, 5, 6, 7, 8}, item9=4), 9, 5, "high risk"),
    ],
)
def test_startback_stratification(answers: list[int | None], total: int, distress: int, risk: str) -> None:
    result = score("startback", answers)
    expected = ScoreResult("startback", float(total), {"total": total, "distress": distress}, risk, True)
    assert result == expected


def test_startback_errors_name_the_item() -> None:
    with pytest.raises(InvalidAnswerError, match=r"^item 9 of startback must be an integer 0-4, got 5$"):
        score("startback", startback(set(), item9=5))
    with pytest.raises(InvalidAnswerError, match=r"^item 1 of startback must be 0 or 1, got 2$"):
        score("startback", [2, 0, 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(InvalidAnswerError, match=r"item 9 of startback is unanswered"):
        score("startback", [0, 0, 0, 0, 0, 0, 0, 0, None])


# ------------------------------------------------------------------------------------------------- ODI


def test_odi_all_fives_is_100_and_all_zeros_is_0() -> None:
    top = odi([5] * 10)
    assert top.score == 100.0
    assert top.interpretation == "bed-bound or exaggerating symptoms (81-100 %)"
    assert top.subscores == {"sections_answered": 10, "raw_total": 50}
    assert top.complete
    bottom = odi([0] * 10)
    assert bottom.score == 0.0
    assert bottom.interpretation == "minimal disability (0-20 %)"


@pytest.mark.parametrize(
    ("answers", "percent", "band"),
    [
        ([1] * 10, 20.0, "minimal disability (0-20 %)"),
        ([1] * 9 + [2], 22.0, "moderate disability (21-40 %)"),
        ([2, 3, 1, 0, 2, 1, 3, 1, 2, 1], 32.0, "moderate disability (21-40 %)"),
        ([2] * 10, 40.0, "moderate disability (21-40 %)"),
        ([3] * 10, 60.0, "severe disability (41-60 %)"),
        ([4] * 10, 80.0, "crippled (61-80 %)"),
        ([4] * 9 + [5], 82.0, "bed-bound or exaggerating symptoms (81-100 %)"),
    ],
)
def test_odi_percent_and_fairbank_bands(answers: list[int | None], percent: float, band: str) -> None:
    result = odi(answers)
    assert result.score == pytest.approx(percent, abs=1e-12)
    assert result.interpretation == band
    assert result.complete


def test_odi_one_missing_section_is_pro_rated() -> None:
    result = odi([2, 3, 1, 0, 4, 2, 3, 1, 2, None])  # 18 of 45 points
    assert result.score == pytest.approx(40.0, abs=1e-12)
    assert result.subscores == {"sections_answered": 9, "raw_total": 18}
    assert result.interpretation == "moderate disability (21-40 %); pro-rated from 9 of 10 sections"
    assert not result.complete


def test_odi_two_missing_sections_are_pro_rated() -> None:
    result = odi([None, 3, 3, 3, 3, 3, 3, 3, 3, None])  # 24 of 40 points
    assert result.score == pytest.approx(60.0, abs=1e-12)
    assert result.subscores == {"sections_answered": 8, "raw_total": 24}
    assert not result.complete


def test_odi_three_missing_sections_are_not_scored() -> None:
    result = odi([None, None, None, 5, 5, 5, 5, 5, 5, 5])
    assert result.score is None
    assert not result.complete
    assert result.interpretation == "not scored: 3 of 10 sections unanswered (at most 2 may be missing)"
    assert result.to_dict()["score"] is None


def test_odi_section_range_is_checked() -> None:
    with pytest.raises(InvalidAnswerError, match=r"^item 4 of odi must be an integer 0-5, got 6$"):
        odi([0, 0, 0, 6, 0, 0, 0, 0, 0, 0])


# -------------------------------------------------------------------------------------------- licence


def test_odi_refused_without_licence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ODI_LICENCE_ENV, raising=False)
    with pytest.raises(LicenceError, match=r"Mapi Research Trust.*INVERSA_ODI_LICENSED=1"):
        score("odi", [0] * 10)
    with pytest.raises(LicenceError):
        score("odi", [], odi_licensed=False)  # the licence is checked before the answers
    assert issubclass(LicenceError, QuestionnaireError)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " True "])
def test_odi_licence_from_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ODI_LICENCE_ENV, value)
    assert score("odi", [5] * 10).score == 100.0


@pytest.mark.parametrize("value", ["0", "false", "yes", ""])
def test_odi_licence_env_other_values_do_not_grant(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ODI_LICENCE_ENV, value)
    with pytest.raises(LicenceError):
        score("odi", [5] * 10)


def test_explicit_licence_flag_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ODI_LICENCE_ENV, "1")
    with pytest.raises(LicenceError):
        score("odi", [5] * 10, odi_licensed=False)
    monkeypatch.setenv(ODI_LICENCE_ENV, "0")
    assert score("odi", [5] * 10, odi_licensed=True).score == 100.0


# ------------------------------------------------------------------------------------ general answers


def test_unknown_instrument_lists_known_ones() -> None:
    with pytest.raises(QuestionnaireError, match=r"unknown instrument 'sf36'; known instruments: nrs, peg"):
        score("sf36", [1])


def test_instrument_key_ignores_case_and_spaces() -> None:
    assert score(" PEG ", [7, 8, 6]).instrument == "peg"


def test_booleans_and_floats_are_not_answers() -> None:
    with pytest.raises(InvalidAnswerError, match=r"^item 1 of nrs must be an integer 0-10, got True"):
        score("nrs", [True])  # bool is an int to the type checker, not to the scorer
    with pytest.raises(InvalidAnswerError, match=r"^item 2 of peg must be an integer 0-10, got 3.0$"):
        score("peg", [3, 3.0, 3])  # type: ignore[list-item]
    with pytest.raises(InvalidAnswerError, match=r"^item 1 of nrs must be an integer 0-10, got '7'$"):
        score("nrs", ["7"])  # type: ignore[list-item]


def test_answers_must_be_a_list_not_a_string() -> None:
    with pytest.raises(InvalidAnswerError, match=r"answers to nrs must be a list of 1 values, got str"):
        score("nrs", "7")  # type: ignore[arg-type]


def test_numpy_integers_are_accepted() -> None:
    assert score("peg", [np.int64(7), np.int32(8), np.int8(6)]).score == 7.0  # type: ignore[list-item]


def test_to_dict_has_exactly_the_contract_keys_and_is_json() -> None:
    result = score("startback", startback({5, 6, 7, 8}))
    data = result.to_dict()
    assert set(data) == CONTRACT_KEYS
    assert json.loads(json.dumps(data)) == {
        "instrument": "startback",
        "score": 4.0,
        "subscores": {"total": 4, "distress": 4},
        "interpretation": "high risk",
        "complete": True,
    }
    data["subscores"]["total"] = 0  # a copy: the result itself does not change
    assert result.subscores["total"] == 4


# -------------------------------------------------------------------------------------- parsing JSON


def test_parse_answers_json_examples() -> None:
    assert parse_answers_json("[7]") == [7]
    assert parse_answers_json("[1, null, 3]") == [1, None, 3]
    assert parse_answers_json("[]") == []


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[7", r"^answers are not valid JSON"),
        ("seven", r"^answers are not valid JSON"),
        ('{"pain": 7}', r"^answers must be a JSON list such as \[7, 8, 6\], got dict$"),
        ("7", r"^answers must be a JSON list .*got int$"),
    ],
)
def test_parse_answers_json_rejects_non_lists(text: str, pattern: str) -> None:
    with pytest.raises(QuestionnaireError, match=pattern) as info:
        parse_answers_json(text)
    assert not isinstance(info.value, InvalidAnswerError)


@pytest.mark.parametrize(
    ("text", "item", "shown"),
    [("[1, 2.5]", 2, "2.5"), ("[true]", 1, "true"), ('[1, 2, "3"]', 3, '"3"'), ("[1.0]", 1, "1.0")],
)
def test_parse_answers_json_names_the_bad_item(text: str, item: int, shown: str) -> None:
    with pytest.raises(InvalidAnswerError) as info:
        parse_answers_json(text)
    assert info.value.item == item
    assert str(info.value) == f"item {item} must be an integer or null, got {shown}"


# ---------------------------------------------------------------------------------- meaningful change


@pytest.mark.parametrize(
    ("instrument", "baseline", "follow_up", "improved"),
    [
        ("nrs", 6, 4, True),  # exactly 2 points
        ("nrs", 6, 4.5, False),  # 1.5 points, 25 %
        ("nrs", 5, 3.5, True),  # 1.5 points but exactly 30 %
        ("nrs", 5, 3.6, False),  # 28 %
        ("nrs", 3.5, 2.45, True),  # exactly 30 %, below 2 points; 3.5 - 2.45 < 0.3 * 3.5 in floats
        ("rmdq", 20, 15, True),  # exactly 5 points (25 %)
        ("rmdq", 20, 16, False),  # 4 points, 20 %
        ("rmdq", 10, 7, True),  # 3 points but exactly 30 %
        ("odi", 40, 30, True),  # exactly 10 points
        ("odi", 20, 14, True),  # 6 points but exactly 30 %
        ("odi", 20, 15, False),  # 5 points, 25 %
        ("peg", 5, 4, True),  # exactly 1 point
        ("peg", 5, 4.5, False),
        ("peg", 1, 0.5, False),  # 50 % but PEG has no relative rule
    ],
)
def test_improvement_thresholds(instrument: str, baseline: float, follow_up: float, improved: bool) -> None:
    result = meaningful_change(instrument, baseline, follow_up)
    assert result.improved_meaningfully is improved
    assert not result.worsened_meaningfully
    assert result.change == pytest.approx(follow_up - baseline)


def test_change_result_reports_thresholds() -> None:
    result = meaningful_change("nrs", 8, 5)
    assert result == ChangeResult(
        instrument="nrs",
        baseline=8.0,
        follow_up=5.0,
        change=-3.0,
        improvement=3.0,
        absolute_threshold=2.0,
        relative_threshold=0.3,
        improved_meaningfully=True,
        worsened_meaningfully=False,
    )
    assert result.to_dict()["relative_threshold"] == 0.3


@pytest.mark.parametrize(
    ("instrument", "baseline", "follow_up", "worsened"),
    [
        ("nrs", 4, 6, True),  # 2 points worse
        ("nrs", 2, 3, False),  # 50 % worse but 1 point: worsening uses points only
        ("nrs", 0, 1, False),  # baseline 0: no relative rule at all
        ("nrs", 0, 2, True),
        ("odi", 0, 9, False),
        ("odi", 0, 10, True),
        ("rmdq", 0, 5, True),
    ],
)
def test_worsening_thresholds(instrument: str, baseline: float, follow_up: float, worsened: bool) -> None:
    result = meaningful_change(instrument, baseline, follow_up)
    assert result.worsened_meaningfully is worsened
    assert not result.improved_meaningfully


def test_no_change_from_zero_is_not_meaningful() -> None:
    result = meaningful_change("nrs", 0, 0)
    assert (result.change, result.improved_meaningfully, result.worsened_meaningfully) == (0.0, False, False)


def test_startback_has_no_change_rule() -> None:
    with pytest.raises(QuestionnaireError, match=r"startback stratifies risk and has no meaningful-change"):
        meaningful_change("startback", 5, 2)


@pytest.mark.parametrize(
    ("baseline", "follow_up", "pattern"),
    [
        (11, 5, r"^baseline for nrs must be a number 0-10, got 11$"),
        (5, -1, r"^follow_up for nrs must be a number 0-10, got -1$"),
        (math.nan, 5, r"^baseline for nrs must be a number 0-10, got nan$"),
        (True, 5, r"^baseline for nrs must be a number 0-10, got True$"),
    ],
)
def test_change_inputs_are_checked(baseline: float, follow_up: float, pattern: str) -> None:
    with pytest.raises(QuestionnaireError, match=pattern):
        meaningful_change("nrs", baseline, follow_up)


# ---------------------------------------------------------------------------------------- properties


@st.composite
def valid_answers(draw: st.DrawFn, key: str) -> list[int | None]:
    """Any answer list the instrument accepts; ODI sections may be missing (also beyond the limit)."""
    inst = INSTRUMENTS[key]
    answers: list[int | None] = [draw(st.sampled_from(item.values)) for item in inst.items]
    if inst.max_missing:
        for index in draw(st.sets(st.integers(0, inst.item_count - 1))):
            answers[index] = None
    return answers


@st.composite
def instrument_and_answers(draw: st.DrawFn) -> tuple[str, list[int | None]]:
    key = draw(st.sampled_from(list(INSTRUMENTS)))
    return key, draw(valid_answers(key))


@given(instrument_and_answers())
def test_scores_stay_in_range(case: tuple[str, list[int | None]]) -> None:
    key, answers = case
    inst = INSTRUMENTS[key]
    result = score(key, answers, odi_licensed=True)
    missing = answers.count(None)
    assert result.complete is (missing == 0)
    assert set(result.to_dict()) == CONTRACT_KEYS
    if missing > inst.max_missing:
        assert result.score is None
    else:
        assert result.score is not None
        low, high = inst.score_range
        assert low <= result.score <= high


@given(st.data())
def test_rmdq_score_ignores_order(data: st.DataObject) -> None:
    answers = data.draw(valid_answers("rmdq"))
    shuffled = data.draw(st.permutations(answers))
    assert score("rmdq", shuffled) == score("rmdq", answers)
    assert score("rmdq", answers).score == sum(a for a in answers if a is not None)


@given(valid_answers("startback"))
def test_startback_groups_follow_total_and_distress(answers: list[int | None]) -> None:
    result = score("startback", answers)
    total, distress = result.subscores["total"], result.subscores["distress"]
    assert isinstance(total, int)
    assert isinstance(distress, int)
    assert 0 <= distress <= min(total, 5)
    expected = "low risk" if total <= 3 else "high risk" if distress >= 4 else "medium risk"
    assert result.interpretation == expected


def _bad_values(key: str, index: int) -> st.SearchStrategy[object]:
    item = INSTRUMENTS[key].items[index]
    out_of_range = st.integers(-1000, 1000).filter(lambda v: v not in item.values)
    options: list[st.SearchStrategy[object]] = [
        out_of_range,
        st.booleans(),
        st.floats(allow_nan=True),
        st.text(max_size=3),
    ]
    if INSTRUMENTS[key].max_missing == 0:
        options.append(st.none())
    return st.one_of(options)


@given(st.data())
def test_invalid_values_name_their_item(data: st.DataObject) -> None:
    key, answers = data.draw(instrument_and_answers())
    index = data.draw(st.integers(0, len(answers) - 1))
    bad = data.draw(_bad_values(key, index))
    broken: list[object] = list(answers)
    broken[index] = bad
    with pytest.raises(InvalidAnswerError) as info:
        score(key, broken, odi_licensed=True)  # type: ignore[arg-type]
    assert info.value.item == index + 1
    assert re.match(rf"item {index + 1} of {key} ", str(info.value))


@given(st.sampled_from(list(INSTRUMENTS)), st.integers(0, 40))
def test_wrong_answer_count_is_rejected(key: str, count: int) -> None:
    expected = INSTRUMENTS[key].item_count
    if count == expected:
        count += 1
    with pytest.raises(InvalidAnswerError, match=rf"^{key} needs {expected} answers, got {count}$") as info:
        score(key, [0] * count, odi_licensed=True)
    assert info.value.item is None


@given(st.lists(st.one_of(st.none(), st.integers(-(10**6), 10**6)), max_size=30))
def test_parse_answers_json_round_trips(values: list[int | None]) -> None:
    assert parse_answers_json(json.dumps(values)) == values


@st.composite
def change_case(draw: st.DrawFn) -> tuple[str, float, float]:
    key = draw(st.sampled_from(["nrs", "peg", "rmdq", "odi"]))
    low, high = INSTRUMENTS[key].score_range
    points = st.floats(low, high, allow_nan=False)
    return key, draw(points), draw(points)


@given(change_case())
def test_meaningful_change_is_consistent(case: tuple[str, float, float]) -> None:
    key, baseline, follow_up = case
    result = meaningful_change(key, baseline, follow_up)
    rule = INSTRUMENTS[key].change_rule
    assert rule is not None
    assert not (result.improved_meaningfully and result.worsened_meaningfully)
    assert result.change == follow_up - baseline
    if result.improved_meaningfully:
        assert follow_up < baseline
    if result.worsened_meaningfully:
        assert follow_up - baseline >= rule.points - 1e-9
    if baseline - follow_up >= rule.points:
        assert result.improved_meaningfully
    gain = baseline - follow_up
    if rule.fraction is not None and baseline > 0 and gain > 0 and gain >= rule.fraction * baseline:
        assert result.improved_meaningfully
