"""The circulation: conservation, the compiled path against the interpreted one, calibration to a
person's resting values, and the directions of the postural responses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inversa.body import Person
from inversa.parameters import load_parameter_set
from inversa.parameters.calibration import (
    LUNDVALL_PLASMA_LOSS_ML,
    fit_filtration_coefficient,
    fit_iop_autoregulation_pressure,
    hut85_plasma_change_ml,
)
from inversa.physiology.circulation import model as cm
from inversa.simulation import SimulationError, simulate
from inversa.simulation import circulation as sc

ADULT = Person.create(sex="male", age_years=40, height_cm=175, mass_kg=75)


def _hold(angle: float, minutes: float = 3.0, person: Person = ADULT) -> dict[str, float]:
    """Steady values (mean of the last 30 s) after lying flat then holding an angle."""
    r = simulate(
        person,
        f"lie flat for 1 min; tilt to {angle:g} deg over 6 s; hold at {angle:g} deg for {minutes:g} min",
    )
    last = r.time_s > r.time_s[-1] - 30
    return {k: float(v[0, last].mean()) for k, v in r.series.items() if v.ndim == 2}


@st.composite
def hour_protocols(draw: st.DrawFn) -> str:
    """Random holds and tilts filling one hour, starting standing."""
    steps = ["stand for 1 min"]
    left = 59 * 60
    while left > 0:
        angle = draw(st.integers(-90, 90))
        hold = min(left, draw(st.integers(30, 1200)))
        steps.append(f"tilt to {angle} deg over 10 s")
        steps.append(f"hold at {angle} deg for {hold} s")
        left -= hold + 10
    return "; ".join(steps)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol=hour_protocols())
def test_blood_volume_is_conserved_over_an_hour_apart_from_fluid_shift(protocol: str) -> None:
    r = simulate(ADULT, protocol, record_interval_s=10.0, dt_s=0.5)
    total = r.series["total_blood_volume_ml"][0]
    shifted = r.series["plasma_volume_change_ml"][0]
    intravascular = total - shifted  # blood plus what left it: constant
    drift = np.abs(intravascular - intravascular[0]).max() / intravascular[0]
    assert drift < 1e-3
    assert np.all(np.isfinite(total))


def test_compiled_driver_equals_the_interpreted_reference() -> None:
    params = cm.build_parameters(
        [ADULT, Person.create(sex="female", age_years=60, height_cm=160, mass_kg=58)]
    )
    results = []
    for compiled in (True, False):
        q = params.matrix.copy()
        q[:, cm.PERI_V0] = 300.0
        drv = sc._Driver(q=q, x=sc._steady_volumes(q, params.blood_volume_ml), dt=0.002, compiled=compiled)
        angle = np.linspace(0.0, 0.9, 2 * 1500 + 1)  # a tilt towards head-down over 3 s
        beats, trace = drv.run(np.sin(angle), 0.0, 1500, reflex_on=True, trace_every=5)
        results.append((drv.x.copy(), trace, [b.copy() for b in beats]))
    (x_c, tr_c, b_c), (x_p, tr_p, b_p) = results
    np.testing.assert_allclose(x_c, x_p, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(tr_c, tr_p, rtol=1e-10, atol=1e-8)
    for a, b in zip(b_c, b_p, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-8)


def test_resting_values_are_the_models_lying_flat() -> None:
    person = Person.create(
        sex="female",
        age_years=55,
        height_cm=165,
        mass_kg=70,
        resting_systolic_mmhg=135,
        resting_diastolic_mmhg=85,
        resting_heart_rate_bpm=60,
    )
    flat = _hold(0.0, 1.0, person)
    assert flat["heart_rate_bpm"] == pytest.approx(60.0, abs=1.0)
    assert flat["systolic_bp_mmhg"] == pytest.approx(135.0, abs=2.0)
    assert flat["diastolic_bp_mmhg"] == pytest.approx(85.0, abs=2.0)
    # the time-averaged mean lies between diastolic and systolic
    assert 85.0 + 50.0 / 3 - 1.0 < flat["mean_arterial_pressure_mmhg"] < 135.0


def test_eye_pressure_starts_at_the_resting_value_and_rises_head_down() -> None:
    standing = simulate(ADULT, "stand for 2 min")
    assert standing.series["intraocular_pressure_mmhg"][0, -1] == pytest.approx(15.0, abs=0.5)
    iop = [_hold(a)["intraocular_pressure_mmhg"] for a in (0.0, 30.0, 60.0, 90.0)]
    assert all(b > a for a, b in itertools.pairwise(iop))
    higher = Person.create(sex="male", age_years=40, height_cm=175, mass_kg=75, resting_iop_mmhg=21)
    assert _hold(90.0, 2.0, higher)["intraocular_pressure_mmhg"] > iop[-1] + 3.0


def test_postural_directions() -> None:
    flat, up, down = _hold(0.0), _hold(-70.0), _hold(70.0)
    # blood moves with gravity: into the legs head-up, out of them and into the chest head-down
    assert up["leg_blood_volume_ml"] > flat["leg_blood_volume_ml"] > down["leg_blood_volume_ml"]
    assert (
        down["thoracic_blood_volume_ml"] > flat["thoracic_blood_volume_ml"] > up["thoracic_blood_volume_ml"]
    )
    # the baroreflex speeds the heart head-up and slows it head-down
    assert up["heart_rate_bpm"] > flat["heart_rate_bpm"] > down["heart_rate_bpm"]
    # the head lies below the heart head-down: its arterial and venous pressures exceed heart level
    assert down["head_arterial_pressure_mmhg"] > down["mean_arterial_pressure_mmhg"]
    assert up["head_arterial_pressure_mmhg"] < up["mean_arterial_pressure_mmhg"]
    assert down["head_venous_pressure_mmhg"] > down["central_venous_pressure_mmhg"]
    # fluid leaves the blood head-up (legs) and comes back from the legs head-down
    assert up["plasma_volume_change_ml"] < 0.0
    assert down["cardiac_output_l_min"] == pytest.approx(
        down["stroke_volume_ml"] * down["heart_rate_bpm"] / 1000.0, rel=0.05
    )


def test_pulsatile_trace_on_request() -> None:
    r = simulate(ADULT, "lie flat for 10 s", pulsatile_trace=True)
    trace = r.pulsatile
    assert set(trace) >= {"time_s", "aortic_pressure_mmhg", "left_ventricular_volume_ml"}
    aortic = trace["aortic_pressure_mmhg"][0]
    assert aortic.max() - aortic.min() > 25.0  # the pulse is there
    assert np.all(np.diff(trace["time_s"][0]) > 0)
    assert "pulsatile" in r.to_dict()
    assert simulate(ADULT, "lie flat for 10 s").pulsatile == {}


def test_bad_circulation_settings_are_errors_naming_them() -> None:
    with pytest.raises(SimulationError, match="circulation_dt_s"):
        simulate(ADULT, "lie flat for 10 s", circulation_dt_s=0.01)
    with pytest.raises(SimulationError, match="unknown parameter override"):
        simulate(ADULT, "lie flat for 10 s", overrides={"baroreflex_magic": 1.0})
    with pytest.raises(SimulationError, match="filtration_coefficient_ml_per_mmhg_kg"):
        simulate(ADULT, "lie flat for 10 s", overrides={"filtration_coefficient_ml_per_mmhg_kg": [1.0, 2.0]})


def test_circulation_can_be_left_out() -> None:
    r = simulate(ADULT, "lie flat for 10 s", circulation=False)
    assert "heart_rate_bpm" not in r.series


def test_nadler_blood_volume() -> None:
    from inversa.body import Sex

    assert cm.nadler_blood_volume_ml(Sex.MALE, 169, 70) == pytest.approx(4630, abs=10)
    assert cm.nadler_blood_volume_ml(Sex.FEMALE, 169, 70) == pytest.approx(4220, abs=10)


@pytest.mark.slow
def test_shipped_circulation_calibrations_hold() -> None:
    """The filtration coefficient and the IOP constant are the fits to Lundvall and LeMarr."""
    s = load_parameter_set("circulation")
    k = s["filtration_coefficient_ml_per_mmhg_kg"]
    assert hut85_plasma_change_ml(k) == pytest.approx(LUNDVALL_PLASMA_LOSS_ML, abs=5.0)
    assert fit_filtration_coefficient() == pytest.approx(k, rel=0.01)
    assert fit_iop_autoregulation_pressure() == pytest.approx(s["iop_autoregulation_pressure_mmhg"], rel=0.02)


def test_resting_pressures_across_the_adult_range_are_reproduced() -> None:
    """Wide and narrow pulse pressures, slow and fast hearts: calibration holds every one."""
    cases = [(100, 70, 60), (110, 60, 45), (140, 90, 110), (160, 80, 70), (200, 90, 60), (220, 130, 90)]
    people = [
        Person.create(
            sex="female",
            age_years=70,
            height_cm=160,
            mass_kg=65,
            resting_systolic_mmhg=s,
            resting_diastolic_mmhg=d,
            resting_heart_rate_bpm=h,
        )
        for s, d, h in cases
    ]
    r = simulate(people, "lie flat for 40 s")
    for i, (s, d, h) in enumerate(cases):
        assert r.series["systolic_bp_mmhg"][i, -10:].mean() == pytest.approx(s, abs=1.5)
        assert r.series["diastolic_bp_mmhg"][i, -10:].mean() == pytest.approx(d, abs=1.5)
        assert r.series["heart_rate_bpm"][i, -10:].mean() == pytest.approx(h, abs=1.0)


def test_a_person_the_model_cannot_calibrate_is_refused_or_marked() -> None:
    """A pulse pressure of 180 mmHg at 40 bpm is beyond the calibration: refused by default, marked
    (NaN circulation, reason kept) with on_error="mark" while the others keep their results."""
    odd = Person.create(
        sex="female",
        age_years=80,
        height_cm=160,
        mass_kg=60,
        resting_systolic_mmhg=220,
        resting_diastolic_mmhg=40,
        resting_heart_rate_bpm=40,
    )
    with pytest.raises(SimulationError, match="resting_systolic_mmhg: the model cannot reproduce"):
        simulate([ADULT, odd], "lie flat for 20 s")
    r = simulate([ADULT, odd, ADULT], "lie flat for 20 s", on_error="mark")
    assert set(r.failures) == {1} and "cannot reproduce" in r.failures[1]
    assert np.all(np.isnan(r.series["heart_rate_bpm"][1]))
    assert np.all(np.isfinite(r.series["heart_rate_bpm"][[0, 2]]))
    assert np.all(np.isfinite(r.series["stature_change_mm"][1]))  # the spine still ran
    with pytest.raises(SimulationError, match="on_error"):
        simulate(ADULT, "lie flat for 5 s", on_error="ignore")  # type: ignore[arg-type]
