"""Safety screening: every contraindication path, boundaries, expiry, overrides, validation and the CLI."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from inversa.cli.common import InputError
from inversa.cli.safety import screen_cmd
from inversa.safety import (
    Decision,
    FindingClass,
    ItemType,
    Override,
    ScreeningAnswerError,
    ScreeningError,
    ScreeningResult,
    ScreeningSettings,
    answers_fingerprint,
    apply_overrides,
    is_expired,
    load_questionnaire,
    needs_rescreen,
    normalise_answers,
    parse_answer,
    screen,
    session_allowed,
    template,
)

DAY = date(2026, 11, 25)
AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)

CLEAN: dict[str, Any] = {
    "glaucoma_or_ocular_hypertension": False,
    "retinal_vascular_disease": False,
    "macular_degeneration": False,
    "retinal_detachment_history": False,
    "recent_eye_surgery": False,
    "diabetic_retinopathy": False,
    "conjunctivitis": False,
    "hypertension": "none",
    "systolic_bp_mmhg": 120,
    "diastolic_bp_mmhg": 80,
    "heart_disease": False,
    "carotid_stenosis": False,
    "stroke_tia_or_intracranial_bleed": False,
    "brain_injury": False,
    "severe_headaches": False,
    "seizures_or_neurological_symptoms": False,
    "dizziness_or_impaired_alertness": False,
    "pregnancy": False,
    "hiatal_hernia": False,
    "ventral_hernia": False,
    "recent_fracture_or_spinal_instability": False,
    "orthopaedic_implants": False,
    "osteoporosis": "none",
    "spinal_cord_compression": False,
    "malignancy": False,
    "spinal_infection_or_inflammatory_disease": False,
    "acute_trauma": False,
    "recent_surgery_weeks": None,
    "red_flag_cauda_equina": False,
    "red_flag_progressive_weakness": False,
    "red_flag_fever": False,
    "red_flag_unexplained_weight_loss": False,
    "anticoagulants": False,
    "drugs_raising_blood_or_head_pressure": False,
    "middle_ear_infection": False,
    "height_cm": 175,
    "mass_kg": 75,
}

# The class each "yes" leads to, written from the product reference's table (not read from the data file).
YES_CLASS: dict[str, FindingClass] = {
    "glaucoma_or_ocular_hypertension": FindingClass.BLOCK,
    "retinal_vascular_disease": FindingClass.BLOCK,
    "macular_degeneration": FindingClass.BLOCK,
    "retinal_detachment_history": FindingClass.BLOCK,
    "recent_eye_surgery": FindingClass.BLOCK,
    "heart_disease": FindingClass.BLOCK,
    "carotid_stenosis": FindingClass.BLOCK,
    "stroke_tia_or_intracranial_bleed": FindingClass.BLOCK,
    "brain_injury": FindingClass.BLOCK,
    "severe_headaches": FindingClass.BLOCK,
    "seizures_or_neurological_symptoms": FindingClass.BLOCK,
    "dizziness_or_impaired_alertness": FindingClass.BLOCK,
    "pregnancy": FindingClass.BLOCK,
    "hiatal_hernia": FindingClass.BLOCK,
    "ventral_hernia": FindingClass.CLEAR,
    "recent_fracture_or_spinal_instability": FindingClass.BLOCK,
    "orthopaedic_implants": FindingClass.BLOCK,
    "spinal_cord_compression": FindingClass.BLOCK,
    "malignancy": FindingClass.BLOCK,
    "spinal_infection_or_inflammatory_disease": FindingClass.BLOCK,
    "acute_trauma": FindingClass.BLOCK,
    "red_flag_cauda_equina": FindingClass.BLOCK,
    "red_flag_progressive_weakness": FindingClass.BLOCK,
    "red_flag_fever": FindingClass.BLOCK,
    "red_flag_unexplained_weight_loss": FindingClass.BLOCK,
    "anticoagulants": FindingClass.CLEAR,
    "diabetic_retinopathy": FindingClass.CLEAR,
    "drugs_raising_blood_or_head_pressure": FindingClass.CLEAR,
    "middle_ear_infection": FindingClass.CLEAR,
    "conjunctivitis": FindingClass.CLEAR,
}
RED_FLAGS = [k for k in YES_CLASS if k.startswith("red_flag_")]
EYE_ITEMS = [
    "glaucoma_or_ocular_hypertension",
    "retinal_vascular_disease",
    "macular_degeneration",
    "retinal_detachment_history",
    "recent_eye_surgery",
    "diabetic_retinopathy",
]
# Every condition named in the product reference's contraindication table (section 3), plus size limits.
TABLE_CONDITIONS = [
    "glaucoma",
    "ocular hypertension",
    "retinal vascular disease",
    "macular degeneration",
    "retinal detachment (history)",
    "recent eye surgery",
    "uncontrolled hypertension",
    "controlled hypertension",
    "blood pressure on the day",
    "heart disease",
    "heart failure",
    "circulatory disorders",
    "carotid stenosis",
    "stroke",
    "TIA",
    "intracranial bleed",
    "brain injury",
    "severe headaches",
    "neurological symptoms",
    "seizures",
    "dizziness",
    "anything impairing strength or alertness",
    "pregnancy",
    "hiatal hernia",
    "ventral hernia",
    "recent fracture",
    "spinal instability",
    "orthopaedic implants",
    "severe osteoporosis",
    "milder bone weakness",
    "spinal cord compression",
    "malignancy",
    "infection",
    "inflammatory disease",
    "acute trauma",
    "recent surgery of any kind",
    "cauda equina signs",
    "progressive neurological deficit",
    "fever",
    "unexplained weight loss",
    "anticoagulants",
    "high-dose aspirin",
    "diabetes with retinal changes",
    "drugs raising blood or head pressure",
    "middle-ear infection",
    "conjunctivitis",
    "above the table's height limit",
    "above the table's weight limit",
]


def answers(**changes: Any) -> dict[str, Any]:
    """The clean answers with some changed."""
    out = dict(CLEAN)
    out.update(changes)
    return out


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in CLEAN.items() if k != key}


def classes(result: ScreeningResult) -> dict[str, FindingClass]:
    return {f.item: f.finding_class for f in result.findings}


def override(item: str, reason: str = "seen in clinic, fit to invert", **kw: Any) -> Override:
    return Override(
        item=item, reason=reason, clinician=kw.pop("clinician", "dr.lee"), at=kw.pop("at", AT), **kw
    )


# ------------------------------------------------------------------------------------ the questionnaire


def test_questionnaire_is_versioned_and_covers_every_row_of_the_table() -> None:
    q = load_questionnaire()
    assert q.version == "2026-11-v1"
    covered = {c for it in q.items for c in it.covers}
    assert [c for c in TABLE_CONDITIONS if c not in covered] == []
    assert set(q.keys) == set(CLEAN)


def test_every_item_has_plain_question_and_sourced_outcomes() -> None:
    for it in load_questionnaire().items:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", it.key), it.key
        assert len(it.question) > 15 and it.question[-1] in ".?", it.key
        outcomes = [it.if_yes] + [c.outcome for c in it.choices] + [r.outcome for r in it.rules]
        real = [o for o in outcomes if o is not None]
        assert real, it.key
        for o in real:
            assert o.reason and o.source, it.key
        if it.type is ItemType.NUMBER:
            assert it.low < it.high and it.unit, it.key


def test_template_has_every_item_null_and_help() -> None:
    t = template()
    assert t["screening_version"] == "2026-11-v1"
    items = {k: v for k, v in t.items() if k not in ("screening_version", "_help")}
    assert set(items) == set(CLEAN) and all(v is None for v in items.values())
    assert set(t["_help"]) == set(CLEAN)
    assert "yes or no" in t["_help"]["pregnancy"]
    assert "60 to 280 mmHg" in t["_help"]["systolic_bp_mmhg"]
    # a filled template, _help and version included, screens cleanly
    assert screen({**t, **CLEAN}, today=DAY).decision is Decision.OK
    with pytest.raises(ScreeningAnswerError, match="36 items have no answer"):  # surgery may be null
        screen(t, today=DAY)


# ---------------------------------------------------------------------------- contraindication paths


def test_clean_answers_are_ok_and_expire_after_90_days() -> None:
    result = screen(CLEAN, today=DAY)
    assert result.decision is Decision.OK
    assert result.findings == ()
    assert result.screening_version == "2026-11-v1"
    assert result.expires_on == DAY + timedelta(days=90)
    assert result.seek_care_now == []


def test_every_yes_no_item_is_mapped() -> None:
    yes_no = {it.key for it in load_questionnaire().items if it.type is ItemType.YES_NO}
    assert yes_no == set(YES_CLASS)


@pytest.mark.parametrize("item", sorted(YES_CLASS))
def test_yes_gives_the_tables_class_with_reason_and_source(item: str) -> None:
    result = screen(answers(**{item: True}), today=DAY)
    assert classes(result) == {item: YES_CLASS[item]}
    expected = Decision.BLOCKED if YES_CLASS[item] is FindingClass.BLOCK else Decision.NEEDS_CLEARANCE
    assert result.decision is expected
    finding = result.findings[0]
    assert len(finding.reason) > 20 and len(finding.source) > 20
    assert finding.red_flag is (item in RED_FLAGS)
    if item in EYE_ITEMS:
        assert "Friberg & Weinreb 1985, JAMA 253:1755" in finding.source
    else:
        assert "Friberg" not in finding.source


@pytest.mark.parametrize(
    ("item", "value", "expected"),
    [
        ("hypertension", "none", None),
        ("hypertension", "controlled", FindingClass.CLEAR),
        ("hypertension", "uncontrolled", FindingClass.BLOCK),
        ("osteoporosis", "none", None),
        ("osteoporosis", "mild", FindingClass.CLEAR),
        ("osteoporosis", "severe", FindingClass.BLOCK),
    ],
)
def test_choice_items(item: str, value: str, expected: FindingClass | None) -> None:
    result = screen(answers(**{item: value}), today=DAY)
    assert classes(result) == ({} if expected is None else {item: expected})


@pytest.mark.parametrize(
    ("systolic", "diastolic", "blocked_items"),
    [
        (139, 89, set()),
        (139.9, 89.9, set()),
        (140, 89, {"systolic_bp_mmhg"}),
        (139, 90, {"diastolic_bp_mmhg"}),
        (140, 90, {"systolic_bp_mmhg", "diastolic_bp_mmhg"}),
        (185, 110, {"systolic_bp_mmhg", "diastolic_bp_mmhg"}),
    ],
)
def test_blood_pressure_today_boundary(systolic: float, diastolic: float, blocked_items: set[str]) -> None:
    result = screen(answers(systolic_bp_mmhg=systolic, diastolic_bp_mmhg=diastolic), today=DAY)
    assert set(classes(result)) == blocked_items
    assert all(c is FindingClass.BLOCK for c in classes(result).values())
    assert result.decision is (Decision.BLOCKED if blocked_items else Decision.OK)
    for f in result.findings:
        assert "at or above" in f.reason


@pytest.mark.parametrize(
    ("height", "mass", "blocked_items"),
    [
        (142, 136, set()),
        (198, 60, set()),
        (141.9, 60, {"height_cm"}),
        (198.1, 60, {"height_cm"}),
        (175, 136.1, {"mass_kg"}),
        (205, 150, {"height_cm", "mass_kg"}),
    ],
)
def test_table_size_limits(height: float, mass: float, blocked_items: set[str]) -> None:
    result = screen(answers(height_cm=height, mass_kg=mass), today=DAY)
    assert set(classes(result)) == blocked_items
    for f in result.findings:
        assert f.finding_class is FindingClass.BLOCK
        assert "142-198 cm, 136 kg" in f.source


def test_table_limits_are_settings() -> None:
    big_table = ScreeningSettings(table_max_height_cm=210, table_max_mass_kg=160)
    tall = answers(height_cm=205, mass_kg=150)
    assert screen(tall, today=DAY, settings=big_table).decision is Decision.OK
    result = screen(answers(height_cm=215), today=DAY, settings=big_table)
    assert "maximum of 210 cm" in result.findings[0].reason


@pytest.mark.parametrize(
    ("weeks", "blocked"), [(None, False), (0, True), (11.9, True), (12, False), (52, False)]
)
def test_recent_surgery_window_default_12_weeks(weeks: float | None, blocked: bool) -> None:
    result = screen(answers(recent_surgery_weeks=weeks), today=DAY)
    assert (classes(result) == {"recent_surgery_weeks": FindingClass.BLOCK}) is blocked


def test_surgery_window_is_a_setting() -> None:
    short = ScreeningSettings(surgery_window_weeks=6)
    assert screen(answers(recent_surgery_weeks=8), today=DAY, settings=short).decision is Decision.OK
    result = screen(answers(recent_surgery_weeks=5), today=DAY, settings=short)
    assert "first 6 weeks" in result.findings[0].reason


@pytest.mark.parametrize("item", RED_FLAGS)
def test_red_flags_block_and_say_seek_care_now(item: str) -> None:
    result = screen(answers(**{item: True}), today=DAY)
    assert result.decision is Decision.BLOCKED
    finding = result.findings[0]
    assert finding.red_flag and not finding.overridable
    assert finding.seek_care_now is not None
    assert result.seek_care_now == [finding.seek_care_now]
    assert re.search(r"(emergency|doctor) (department )?(now|today)", finding.seek_care_now)
    check = session_allowed(result, on=DAY, systolic_bp_mmhg=120, diastolic_bp_mmhg=80)
    assert check.seek_care_now == (finding.seek_care_now,)


def test_decision_precedence() -> None:
    both = screen(answers(ventral_hernia=True, pregnancy=True), today=DAY)
    assert both.decision is Decision.BLOCKED
    clears = screen(answers(ventral_hernia=True, anticoagulants=True), today=DAY)
    assert clears.decision is Decision.NEEDS_CLEARANCE
    caution = apply_overrides(clears, [override("ventral_hernia", new_class=FindingClass.CAUTION)])
    assert caution.decision is Decision.NEEDS_CLEARANCE  # anticoagulants still needs clearance
    caution = apply_overrides(caution, [override("anticoagulants")])
    assert caution.decision is Decision.CAUTION


@settings(max_examples=150, deadline=None)
@given(st.sets(st.sampled_from(sorted(YES_CLASS))))
def test_decision_is_the_most_restrictive_yes(yes: set[str]) -> None:
    result = screen(answers(**dict.fromkeys(yes, True)), today=DAY)
    assert set(classes(result)) == yes
    if any(YES_CLASS[k] is FindingClass.BLOCK for k in yes):
        assert result.decision is Decision.BLOCKED
    elif yes:
        assert result.decision is Decision.NEEDS_CLEARANCE
    else:
        assert result.decision is Decision.OK


# ----------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("bad", "item", "words"),
    [
        (answers(glaucoma=True), "glaucoma", "did you mean glaucoma_or_ocular_hypertension"),
        (without("pregnancy"), "pregnancy", "missing"),
        ({k: v for k, v in CLEAN.items() if k not in ("pregnancy", "mass_kg")}, "pregnancy", "2 items"),
        (without("recent_surgery_weeks"), "recent_surgery_weeks", "missing"),
        (answers(pregnancy=None), "pregnancy", "no answer: expected yes or no"),
        (answers(pregnancy=None, mass_kg=None), "pregnancy", "2 items have no answer: pregnancy, mass_kg"),
        (answers(pregnancy="maybe"), "pregnancy", "yes or no"),
        (answers(pregnancy=1), "pregnancy", "yes or no"),
        (answers(hypertension="high"), "hypertension", "none, controlled, uncontrolled"),
        (answers(hypertension=True), "hypertension", "one of"),
        (answers(height_cm="175"), "height_cm", "a number"),
        (answers(height_cm=True), "height_cm", "a number"),
        (answers(height_cm=None), "height_cm", "no answer"),
        (answers(mass_kg=math.nan), "mass_kg", "between 20 and 350"),
        (answers(height_cm=49), "height_cm", "between 50 and 260, got 49"),
        (answers(height_cm=261), "height_cm", "between 50 and 260, got 261"),
        (answers(systolic_bp_mmhg=400), "systolic_bp_mmhg", "must be between 60 and 280, got 400"),
        (answers(systolic_bp_mmhg=59), "systolic_bp_mmhg", "between 60 and 280"),
        (answers(diastolic_bp_mmhg=181), "diastolic_bp_mmhg", "between 30 and 180"),
        (answers(systolic_bp_mmhg=100, diastolic_bp_mmhg=100), "diastolic_bp_mmhg", "below systolic"),
        (answers(recent_surgery_weeks=-1), "recent_surgery_weeks", "between 0 and 5200"),
        (answers(screening_version="2025-01-v0"), "screening_version", "2026-11-v1"),
    ],
)
def test_bad_answers_name_the_item(bad: dict[str, Any], item: str, words: str) -> None:
    with pytest.raises(ScreeningAnswerError) as info:
        screen(bad, today=DAY)
    assert info.value.item == item
    assert item in str(info.value)
    assert words in str(info.value)


def test_answers_must_be_a_mapping() -> None:
    with pytest.raises(ScreeningAnswerError, match="object of item"):
        screen([("pregnancy", False)], today=DAY)  # type: ignore[arg-type]


def test_yes_no_words_and_case_are_normalised() -> None:
    normal = normalise_answers(answers(pregnancy="Yes", malignancy=" no ", hypertension="Controlled"))
    assert normal["pregnancy"] is True and normal["malignancy"] is False
    assert normal["hypertension"] == "controlled"
    assert normal["height_cm"] == 175.0 and isinstance(normal["height_cm"], float)
    assert list(normal) == list(load_questionnaire().keys)


def test_parse_answer_for_typed_input() -> None:
    assert parse_answer("pregnancy", "Y") is True
    assert parse_answer("pregnancy", "no") is False
    assert parse_answer("hypertension", "2") == "controlled"
    assert parse_answer("osteoporosis", "severe") == "severe"
    assert parse_answer("recent_surgery_weeks", "") is None
    assert parse_answer("height_cm", " 172.5 ") == 172.5
    for key, text in [("pregnancy", ""), ("hypertension", "4"), ("height_cm", "tall"), ("height_cm", "")]:
        with pytest.raises(ScreeningAnswerError) as info:
            parse_answer(key, text)
        assert info.value.item == key
    with pytest.raises(ScreeningAnswerError, match="below systolic_bp_mmhg"):
        parse_answer("diastolic_bp_mmhg", "95", given={"systolic_bp_mmhg": 90.0})


# ------------------------------------------------------------------------------ fingerprint, rescreen


def test_fingerprint_ignores_form_but_not_meaning() -> None:
    base = answers_fingerprint(CLEAN)
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    reordered = dict(reversed(list(CLEAN.items())))
    assert answers_fingerprint(reordered) == base
    assert answers_fingerprint(answers(height_cm=175.0, pregnancy="no")) == base
    assert answers_fingerprint({**CLEAN, "_help": {"x": "y"}, "screening_version": "2026-11-v1"}) == base
    changed = {
        answers_fingerprint(answers(**{k: not v})) for k, v in CLEAN.items() if isinstance(v, bool)
    } | {answers_fingerprint(answers(height_cm=176)), answers_fingerprint(answers(recent_surgery_weeks=30))}
    assert base not in changed and len(changed) == sum(isinstance(v, bool) for v in CLEAN.values()) + 2
    assert screen(CLEAN, today=DAY).answers_fingerprint == base


def test_needs_rescreen_when_answers_change() -> None:
    result = screen(CLEAN, today=DAY)
    assert not needs_rescreen(result, dict(CLEAN))
    assert not needs_rescreen(result.answers_fingerprint, answers(mass_kg=75.0))
    assert needs_rescreen(result, answers(mass_kg=76))
    assert needs_rescreen(result.answers_fingerprint, answers(anticoagulants=True))
    old_version = ScreeningResult.from_dict({**result.to_dict(), "screening_version": "2025-01-v0"})
    assert needs_rescreen(old_version, CLEAN)
    with pytest.raises(ScreeningAnswerError):
        needs_rescreen(result, answers(height_cm=10))


# ---------------------------------------------------------------------------------------------- expiry


def test_expiry_boundary_default_90_days() -> None:
    result = screen(CLEAN, today=DAY)
    assert not is_expired(result, DAY)
    assert not is_expired(result, DAY + timedelta(days=89))
    assert is_expired(result, DAY + timedelta(days=90))
    assert is_expired(result, DAY + timedelta(days=400))


def test_expiry_is_configurable() -> None:
    result = screen(CLEAN, today=DAY, settings=ScreeningSettings(expiry_days=30))
    assert result.expires_on == DAY + timedelta(days=30)
    assert not is_expired(result, DAY + timedelta(days=29))
    assert is_expired(result, DAY + timedelta(days=30))


@pytest.mark.parametrize(
    "bad",
    [
        {"expiry_days": 0},
        {"expiry_days": 1.5},
        {"surgery_window_weeks": -1},
        {"table_max_mass_kg": math.inf},
        {"table_min_height_cm": 200},
        {"diastolic_limit_mmhg": 150},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ScreeningError, match="setting"):
        ScreeningSettings(**bad)


# ------------------------------------------------------------------------------------------- overrides


def test_clearing_every_clear_finding_turns_needs_clearance_into_ok_and_keeps_the_record() -> None:
    result = screen(answers(ventral_hernia=True, hypertension="controlled"), today=DAY)
    assert result.decision is Decision.NEEDS_CLEARANCE
    half = apply_overrides(result, [override("ventral_hernia", "small reducible hernia, examined")])
    assert half.decision is Decision.NEEDS_CLEARANCE
    done = apply_overrides(half, [override("hypertension", "BP 128/82 on treatment", clinician="dr.kim")])
    assert done.decision is Decision.OK
    hernia = done.finding("ventral_hernia")
    assert hernia is not None
    assert hernia.finding_class is FindingClass.CLEAR  # the questionnaire's class is kept
    assert hernia.current_class is FindingClass.CLEARED
    assert (hernia.cleared_by, hernia.cleared_at, hernia.clearance_reason) == (
        "dr.lee",
        AT,
        "small reducible hernia, examined",
    )
    row = next(f for f in done.to_dict()["findings"] if f["item"] == "hypertension")
    assert row["cleared_by"] == "dr.kim" and row["clearance_reason"] == "BP 128/82 on treatment"
    assert row["cleared_at"] == AT.isoformat() and row["effective_class"] == "cleared"
    assert result.decision is Decision.NEEDS_CLEARANCE  # the original result is unchanged


def test_block_can_be_overridden_by_a_clinician_with_a_reason() -> None:
    result = screen(answers(orthopaedic_implants=True), today=DAY)
    cleared = apply_overrides(
        result, [override("orthopaedic_implants", "old knee plate, surgeon agrees", new_class="caution")]
    )
    assert cleared.decision is Decision.CAUTION
    check = session_allowed(cleared, on=DAY, systolic_bp_mmhg=120, diastolic_bp_mmhg=80)
    assert check.allowed and check.cautions == (f"orthopaedic_implants: {result.findings[0].reason}",)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_override_without_reason_is_refused(reason: Any) -> None:
    with pytest.raises(ScreeningError, match="reason"):
        Override(item="ventral_hernia", reason=reason, clinician="dr.lee", at=AT)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"clinician": " "}, "clinician"),
        ({"at": datetime(2026, 11, 26, 9, 30)}, "time zone"),
        ({"new_class": FindingClass.BLOCK}, "cleared or caution"),
        ({"new_class": "gone"}, "cleared or caution"),
    ],
)
def test_override_needs_clinician_aware_time_and_a_lower_class(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ScreeningError, match=words):
        override("ventral_hernia", **kwargs)


@pytest.mark.parametrize("item", RED_FLAGS)
def test_red_flags_cannot_be_overridden(item: str) -> None:
    result = screen(answers(**{item: True}), today=DAY)
    with pytest.raises(ScreeningError, match="red flag: it needs medical care now, not clearance"):
        apply_overrides(result, [override(item)])


@pytest.mark.parametrize(("item", "value"), [("height_cm", 200), ("mass_kg", 140)])
def test_table_limits_cannot_be_overridden(item: str, value: float) -> None:
    result = screen(answers(**{item: value}), today=DAY)
    with pytest.raises(ScreeningError, match="cannot be overridden: a clinician cannot change"):
        apply_overrides(result, [override(item)])


def test_bad_override_requests() -> None:
    result = screen(answers(ventral_hernia=True), today=DAY)
    with pytest.raises(ScreeningError, match="pregnancy has no finding"):
        apply_overrides(result, [override("pregnancy")])
    with pytest.raises(ScreeningError, match="more than one override"):
        apply_overrides(result, [override("ventral_hernia"), override("ventral_hernia")])
    once = apply_overrides(result, [override("ventral_hernia")])
    with pytest.raises(ScreeningError, match=r"already overridden by dr\.lee"):
        apply_overrides(once, [override("ventral_hernia")])
    early = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    late = datetime.combine(result.expires_on, datetime.min.time(), tzinfo=timezone(timedelta(hours=1)))
    for at in (early, late):
        with pytest.raises(ScreeningError, match="outside the screening's validity"):
            apply_overrides(result, [override("ventral_hernia", at=at)])
    assert apply_overrides(result, []) == result


# -------------------------------------------------------------------------------------- session check


@pytest.mark.parametrize(
    ("systolic", "diastolic", "allowed"),
    [(139, 89, True), (140, 89, False), (139, 90, False), (140, 90, False)],
)
def test_session_blocked_by_blood_pressure_on_the_day(
    systolic: float, diastolic: float, allowed: bool
) -> None:
    result = screen(CLEAN, today=DAY)
    check = session_allowed(
        result, on=DAY + timedelta(days=3), systolic_bp_mmhg=systolic, diastolic_bp_mmhg=diastolic
    )
    assert check.allowed is allowed
    if not allowed:
        assert check.reasons == (
            f"blood pressure today {systolic:g}/{diastolic:g} mmHg is at or above 140/90: no inversion today",
        )


def test_session_blocked_when_expired_or_dated_after_the_session() -> None:
    result = screen(CLEAN, today=DAY)
    assert session_allowed(
        result, on=DAY + timedelta(days=89), systolic_bp_mmhg=120, diastolic_bp_mmhg=80
    ).allowed
    expired = session_allowed(result, on=DAY + timedelta(days=90), systolic_bp_mmhg=120, diastolic_bp_mmhg=80)
    assert not expired.allowed and "expired on 2027-02-23" in expired.reasons[0]
    before = session_allowed(result, on=DAY - timedelta(days=1), systolic_bp_mmhg=120, diastolic_bp_mmhg=80)
    assert not before.allowed and "after this session" in before.reasons[0]


def test_session_blocked_until_cleared_and_when_blocked() -> None:
    clear = screen(answers(anticoagulants=True), today=DAY)
    check = session_allowed(clear, on=DAY, systolic_bp_mmhg=120, diastolic_bp_mmhg=80)
    assert not check.allowed and check.reasons[0].startswith(
        "anticoagulants needs documented clinician clearance"
    )
    cleared = apply_overrides(clear, [override("anticoagulants", "INR stable, low bleeding risk")])
    assert session_allowed(
        cleared, on=DAY + timedelta(days=1), systolic_bp_mmhg=120, diastolic_bp_mmhg=80
    ).allowed
    blocked = screen(answers(pregnancy=True), today=DAY)
    check = session_allowed(blocked, on=DAY, systolic_bp_mmhg=120, diastolic_bp_mmhg=80)
    assert not check.allowed and check.reasons[0].startswith("pregnancy: ")


def test_session_blood_pressure_override_does_not_lift_the_days_check() -> None:
    result = screen(answers(systolic_bp_mmhg=142), today=DAY)
    cleared = apply_overrides(result, [override("systolic_bp_mmhg", "white-coat reading; home BP 125/80")])
    assert cleared.decision is Decision.OK
    assert not session_allowed(cleared, on=DAY, systolic_bp_mmhg=142, diastolic_bp_mmhg=80).allowed
    assert session_allowed(cleared, on=DAY, systolic_bp_mmhg=126, diastolic_bp_mmhg=80).allowed


def test_session_refuses_impossible_blood_pressure() -> None:
    result = screen(CLEAN, today=DAY)
    for sys_bp, dia_bp, item in [
        (300, 80, "systolic_bp_mmhg"),
        (120, 20, "diastolic_bp_mmhg"),
        (90, 95, "diastolic"),
    ]:
        with pytest.raises(ScreeningAnswerError) as info:
            session_allowed(result, on=DAY, systolic_bp_mmhg=sys_bp, diastolic_bp_mmhg=dia_bp)
        assert info.value.item.startswith(item)


# ---------------------------------------------------------------------------------------------- storage


def test_result_round_trips_through_json() -> None:
    result = screen(
        answers(ventral_hernia=True, pregnancy=True), today=DAY, settings=ScreeningSettings(expiry_days=60)
    )
    result = apply_overrides(result, [override("ventral_hernia")])
    back = ScreeningResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back == result
    with pytest.raises(ScreeningError, match="does not follow"):
        ScreeningResult.from_dict({**result.to_dict(), "decision": "ok"})
    with pytest.raises(ScreeningError, match="not a screening result"):
        ScreeningResult.from_dict({"decision": "ok"})


# -------------------------------------------------------------------------------------------------- CLI


def cli() -> typer.Typer:
    """A fresh app with the command registered as the lead will register it."""
    app = typer.Typer()
    app.command("screen")(screen_cmd)

    @app.callback()
    def root() -> None:
        """Test root (keeps `screen` a named sub-command)."""

    return app


def invoke(args: list[str], stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli(), ["screen", *args], input=stdin)


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_cli_json_contract(tmp_path: Path) -> None:
    res = invoke(
        ["--answers", str(write(tmp_path / "a.json", answers(hiatal_hernia=True))), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["decision"] == "blocked" and data["screening_version"] == "2026-11-v1"
    assert data["findings"] == [screen(answers(hiatal_hernia=True)).to_dict()["findings"][0]]
    assert {"item", "class", "reason", "source"} <= set(data["findings"][0])
    assert data["findings"][0]["class"] == "block"
    assert data["expires_on"] == (date.today() + timedelta(days=90)).isoformat()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({}, "OK: nothing in your answers rules inversion out"),
        ({"anticoagulants": True}, "NEEDS CLEARANCE"),
        ({"red_flag_fever": True}, "SEEK CARE NOW"),
    ],
)
def test_cli_table_for_people(tmp_path: Path, changes: dict[str, Any], words: str) -> None:
    res = invoke(["--answers", str(write(tmp_path / "a.json", answers(**changes)))])
    assert res.exit_code == 0, res.output
    assert words in res.stdout
    if changes:
        assert next(iter(changes)) in res.stdout


def test_cli_red_flag_message_comes_first(tmp_path: Path) -> None:
    res = invoke(["--answers", str(write(tmp_path / "a.json", answers(red_flag_cauda_equina=True)))])
    assert res.exit_code == 0
    assert res.stdout.index("SEEK CARE NOW") < res.stdout.index("BLOCKED: do not invert")
    assert "emergency department now" in res.stdout


def test_cli_print_template_to_stdout_and_file(tmp_path: Path) -> None:
    res = invoke(["--print-template"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == template()
    out = tmp_path / "fill-me.json"
    res = invoke(["--print-template", "--out", str(out)])
    assert res.exit_code == 0 and res.stdout == ""
    filled = {**json.loads(out.read_text(encoding="utf-8")), **CLEAN}
    res = invoke(["--answers", str(write(out, filled)), "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["decision"] == "ok"


def test_cli_out_writes_the_result(tmp_path: Path) -> None:
    out = tmp_path / "result.txt"
    res = invoke(["--answers", str(write(tmp_path / "a.json", CLEAN)), "--out", str(out)])
    assert res.exit_code == 0 and res.stdout == ""
    assert "OK: nothing in your answers" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            answers(systolic_bp_mmhg=400),
            "--answers: item systolic_bp_mmhg must be between 60 and 280, got 400",
        ),
        (answers(glaucoma=False), "--answers: item glaucoma is not in screening 2026-11-v1"),
        (without("mass_kg"), "--answers: item mass_kg is missing"),
        ([1, 2], "must hold a JSON object"),
        ("{not json", "is not valid JSON (line 1"),
    ],
)
def test_cli_bad_answers_raise_input_error(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "a.json"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        write(path, content)
    res = invoke(["--answers", str(path), "--format", "json"])
    assert isinstance(res.exception, InputError)
    assert str(res.exception).startswith("--answers: ") and message in str(res.exception)
    assert "\n" not in str(res.exception)
    assert res.stdout == ""


def test_cli_refuses_missing_file_and_conflicting_options(tmp_path: Path) -> None:
    res = invoke(["--answers", str(tmp_path / "nope.json")])
    assert isinstance(res.exception, InputError) and "--answers: cannot read" in str(res.exception)
    res = invoke(["--print-template", "--answers", str(write(tmp_path / "a.json", CLEAN))])
    assert isinstance(res.exception, InputError) and "not both" in str(res.exception)


def typed(values: dict[str, Any]) -> str:
    """The clean answers as someone would type them, one line per question in question order."""
    lines = []
    for key in load_questionnaire().keys:
        v = values[key]
        lines.append("yes" if v is True else "no" if v is False else "" if v is None else str(v))
    return "\n".join(lines) + "\n"


def test_cli_interactive_asks_every_question() -> None:
    given_answers = answers(ventral_hernia=True, hypertension="controlled", recent_surgery_weeks=30)
    res = invoke(["--format", "json"], stdin=typed(given_answers))
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)  # prompts go to stderr: stdout holds the JSON only
    expected = screen(given_answers).to_dict()
    assert data == expected
    assert data["decision"] == "needs_clearance"
    for it in load_questionnaire().items:
        assert it.question in res.stderr


def test_cli_interactive_asks_again_after_a_bad_answer() -> None:
    lines = typed(CLEAN).splitlines()
    keys = list(load_questionnaire().keys)
    i = keys.index("systolic_bp_mmhg")
    lines[i : i + 1] = ["400", "135"]
    j = keys.index("pregnancy") + 1
    lines[j : j + 1] = ["perhaps", "no"]
    res = invoke(["--format", "json"], stdin="\n".join(lines) + "\n")
    assert res.exit_code == 0, res.output
    assert "item systolic_bp_mmhg must be between 60 and 280, got 400" in res.stderr
    assert "item pregnancy must be yes or no" in res.stderr
    assert json.loads(res.stdout)["answers"]["systolic_bp_mmhg"] == 135.0


def test_cli_interactive_stops_when_input_ends() -> None:
    res = invoke([], stdin="no\nno\n")
    assert res.exit_code != 0
    assert "3/37." in res.stderr and "4/37." not in res.stderr
    assert "BLOCKED" not in res.stdout and "OK:" not in res.stdout
