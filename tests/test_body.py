"""The person on the table: input validation, and the anthropometry that loads each disc."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from inversa.body import LEVELS, Person, PersonError, Sex, anthropometry, cranial_mass_kg
from inversa.body.anthropometry import SEGMENTS
from inversa.body.person import RANGES

BASE: dict[str, Any] = {
    "sex": "male",
    "age_years": 40.0,
    "height_cm": 175.0,
    "mass_kg": 75.0,
    "hours_upright_h": 8.0,
}

#: Field, lowest and highest accepted value, as the brief for the engine states them.
BOUNDS = [
    ("height_cm", 120.0, 230.0),
    ("mass_kg", 30.0, 250.0),
    ("age_years", 16.0, 100.0),
    ("hours_upright_h", 0.0, 24.0),
]

PAIRED = {"upper_arm", "forearm", "hand", "thigh", "shank", "foot"}

#: de Leva 1996: mass cranial to the navel (about L3/L4) as a fraction of body mass.
DE_LEVA_NAVEL = {Sex.MALE: 0.4911, Sex.FEMALE: 0.4576}
#: Dempster (via Winter) profile before scaling: T12/L1 0.397, L4/L5 0.536 (abdomen interpolated
#: evenly over L1 to L4), L5/S1 adds the L5 level's 0.026 (Pearsall 1996).
DEMPSTER_PROFILE = np.array([0.397, 0.43175, 0.4665, 0.50125, 0.536, 0.562])


def person(**changes: Any) -> Person:
    return Person.create(**{**BASE, **changes})


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("field", "low", "high"), BOUNDS)
def test_range_ends_are_accepted(field: str, low: float, high: float) -> None:
    assert getattr(person(**{field: low}), field) == low
    assert getattr(person(**{field: high}), field) == high


@pytest.mark.parametrize(("field", "low", "high"), BOUNDS)
def test_just_outside_the_range_is_rejected(field: str, low: float, high: float) -> None:
    for value in (low - 0.1, high + 0.1):
        with pytest.raises(PersonError) as info:
            person(**{field: value})
        assert info.value.field == field


def test_bounds_table_matches_the_published_ranges() -> None:
    assert {field: (low, high) for field, low, high in BOUNDS} == {
        k: (lo, hi) for k, (lo, hi, _) in RANGES.items() if not k.startswith("resting_")
    }


RESTING = {"resting_systolic_mmhg": 130.0, "resting_diastolic_mmhg": 85.0}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resting_systolic_mmhg", 79.0),
        ("resting_systolic_mmhg", 221.0),
        ("resting_diastolic_mmhg", 39.0),
        ("resting_heart_rate_bpm", 34.0),
        ("resting_heart_rate_bpm", 121.0),
        ("resting_iop_mmhg", 41.0),
        ("resting_iop_mmhg", math.nan),
    ],
)
def test_resting_values_out_of_range_name_their_field(field: str, value: float) -> None:
    paired = field in ("resting_systolic_mmhg", "resting_diastolic_mmhg")
    fields = {**RESTING, field: value} if paired else {field: value}
    with pytest.raises(PersonError) as info:
        person(**fields)
    assert info.value.field == field


def test_resting_blood_pressure_comes_as_a_pair_with_a_pulse() -> None:
    ok = person(**RESTING, resting_heart_rate_bpm=60, resting_iop_mmhg=16)
    assert ok.resting_systolic_mmhg == 130.0 and ok.resting_iop_mmhg == 16.0
    with pytest.raises(PersonError, match="together"):
        person(resting_systolic_mmhg=130.0)
    with pytest.raises(PersonError, match="exceed diastolic"):
        person(resting_systolic_mmhg=100.0, resting_diastolic_mmhg=95.0)


@pytest.mark.parametrize("field", ["age_years", "height_cm", "mass_kg", "hours_upright_h"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected(field: str, value: float) -> None:
    with pytest.raises(PersonError) as info:
        person(**{field: value})
    assert info.value.field == field
    with pytest.raises(ValueError):
        Person(**{**BASE, field: value})


@pytest.mark.parametrize(("field", "value", "low", "high", "unit"), [
    ("age_years", 12.0, "16", "100", "years"),
    ("height_cm", 300.0, "120", "230", "cm"),
    ("mass_kg", 10.0, "30", "250", "kg"),
    ("hours_upright_h", 30.0, "0", "24", "h"),
])  # fmt: skip
def test_error_names_the_field_and_its_range(
    field: str, value: float, low: str, high: str, unit: str
) -> None:
    with pytest.raises(PersonError) as info:
        person(**{field: value})
    error = info.value
    assert isinstance(error, ValueError)
    assert error.field == field
    message = str(error)
    assert field in message
    assert f"between {low} and {high} {unit}" in message
    assert f"{value:g}" in message
    assert "\n" not in message


@pytest.mark.parametrize("sex", ["x", "", "other", "mal", "females", None, 1])
def test_unknown_sex_is_rejected(sex: Any) -> None:
    with pytest.raises(PersonError) as info:
        person(sex=sex)
    assert info.value.field == "sex"
    assert "sex" in str(info.value)
    assert "male" in str(info.value) and "female" in str(info.value)


@pytest.mark.parametrize(
    ("given", "sex"),
    [
        ("m", Sex.MALE),
        ("M", Sex.MALE),
        ("male", Sex.MALE),
        ("Male", Sex.MALE),
        (" MALE ", Sex.MALE),
        ("f", Sex.FEMALE),
        ("F", Sex.FEMALE),
        ("Female", Sex.FEMALE),
        (Sex.FEMALE, Sex.FEMALE),
    ],
)
def test_sex_spellings_are_accepted(given: Any, sex: Sex) -> None:
    assert person(sex=given).sex is sex


def test_unknown_fields_are_rejected_by_name() -> None:
    with pytest.raises(PersonError) as info:
        person(weight_kg=70.0)
    assert info.value.field == "weight_kg"
    assert "weight_kg" in str(info.value)


def test_missing_field_is_named() -> None:
    fields = {k: v for k, v in BASE.items() if k != "mass_kg"}
    with pytest.raises(PersonError) as info:
        Person.create(**fields)
    assert info.value.field == "mass_kg"
    assert "mass_kg" in str(info.value)


def test_defaults_units_and_immutability() -> None:
    p = Person(sex=Sex.FEMALE, age_years=30, height_cm=160, mass_kg=60)
    assert p.hours_upright_h == 8.0
    assert p.height_m == pytest.approx(1.60)
    assert p.weight_n == pytest.approx(60 * 9.80665)
    with pytest.raises(ValueError):
        p.mass_kg = 70.0  # type: ignore[misc]


# --------------------------------------------------------------------------- anthropometry


@pytest.mark.parametrize("sex", list(Sex))
@pytest.mark.parametrize("mass_kg", [30.0, 75.0, 250.0])
def test_segment_masses_sum_to_body_mass(sex: Sex, mass_kg: float) -> None:
    a = anthropometry(person(sex=sex, mass_kg=mass_kg))
    assert set(a.segment_mass_kg) == set(SEGMENTS)
    by_hand = sum(m * (2 if s in PAIRED else 1) for s, m in a.segment_mass_kg.items())
    assert by_hand == pytest.approx(mass_kg, rel=0.005)
    assert a.total_segment_mass_kg() == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("sex", list(Sex))
def test_cranial_mass_grows_from_t12_to_the_sacrum(sex: Sex) -> None:
    cranial = anthropometry(person(sex=sex)).cranial_mass_kg
    assert cranial.shape == (len(LEVELS),)
    assert np.all(np.diff(cranial) > 0)
    # less than the whole body, more than the head and arms alone
    assert cranial[0] > 0.3 * 75.0 and cranial[-1] < 0.6 * 75.0


@pytest.mark.parametrize("sex", list(Sex))
def test_navel_level_matches_de_leva(sex: Sex) -> None:
    mass = 82.0
    cranial = anthropometry(person(sex=sex, mass_kg=mass)).cranial_mass_kg
    assert cranial[LEVELS.index("L3-L4")] / mass == pytest.approx(DE_LEVA_NAVEL[sex], rel=1e-12)


def test_male_profile_is_dempster_scaled_to_de_leva() -> None:
    mass = 75.0
    cranial = anthropometry(person(sex="male", mass_kg=mass)).cranial_mass_kg
    assert cranial[0] / mass == pytest.approx(0.397 * 0.4911 / 0.50125, rel=1e-12)
    np.testing.assert_allclose(cranial / mass, DEMPSTER_PROFILE * 0.4911 / 0.50125, rtol=1e-12)


def test_female_profile_is_lighter_above_every_disc() -> None:
    male = anthropometry(person(sex="male")).cranial_mass_kg
    female = anthropometry(person(sex="female")).cranial_mass_kg
    np.testing.assert_allclose(female / male, 0.4576 / 0.4911, rtol=1e-12)


def test_batch_cranial_mass_matches_each_person() -> None:
    people = [
        person(sex="male", mass_kg=30.0),
        person(sex="female", mass_kg=250.0, height_cm=120.0),
        person(sex="f", mass_kg=61.5, age_years=99.0),
        person(sex="male", mass_kg=100.0, hours_upright_h=0.0),
    ]
    batch = cranial_mass_kg(people)
    assert batch.shape == (len(people), len(LEVELS))
    for row, p in zip(batch, people, strict=True):
        np.testing.assert_allclose(row, anthropometry(p).cranial_mass_kg, rtol=1e-15)
    assert cranial_mass_kg([]).shape == (0, len(LEVELS))


@pytest.mark.parametrize("sex", list(Sex))
def test_lengths_scale_with_height_not_mass(sex: Sex) -> None:
    short = anthropometry(person(sex=sex, height_cm=120.0, mass_kg=40.0))
    tall = anthropometry(person(sex=sex, height_cm=180.0, mass_kg=40.0))
    heavy = anthropometry(person(sex=sex, height_cm=180.0, mass_kg=200.0))
    for segment in SEGMENTS:
        assert short.segment_length_m[segment] > 0
        assert tall.segment_length_m[segment] / short.segment_length_m[segment] == pytest.approx(1.5)
        assert heavy.segment_length_m[segment] == tall.segment_length_m[segment]
        assert heavy.segment_mass_kg[segment] / tall.segment_mass_kg[segment] == pytest.approx(5.0)
    for name, height in tall.landmark_height_m.items():
        assert height / short.landmark_height_m[name] == pytest.approx(1.5)


@pytest.mark.parametrize(("sex", "stature_cm", "head_mm", "thigh_mm"), [
    ("male", 174.1, 242.9, 422.2),
    ("female", 173.5, 243.7, 368.5),
])  # fmt: skip
def test_reference_stature_gives_de_leva_lengths(
    sex: str, stature_cm: float, head_mm: float, thigh_mm: float
) -> None:
    a = anthropometry(person(sex=sex, height_cm=stature_cm))
    assert a.segment_length_m["head"] == pytest.approx(head_mm / 1000, rel=1e-12)
    assert a.segment_length_m["thigh"] == pytest.approx(thigh_mm / 1000, rel=1e-12)


def test_landmarks_are_ordered_head_to_foot_and_within_stature() -> None:
    a = anthropometry(person(height_cm=190.0))
    order = ["eye", "chin", "shoulder", "chest", "hip", "knee", "ankle"]
    heights = [a.landmark_height_m[name] for name in order]
    assert heights == sorted(heights, reverse=True)
    assert heights[-1] > 0 and heights[0] < 1.90
