"""The fast (beat-averaged) circulation: held against the pulsatile model across -90 to 90 deg for a
spread of people (the issue's tolerance: 5 %, or 2 mmHg / 3 bpm), blood conserved, compiled equal
to interpreted, and its settings checked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inversa.body import Person
from inversa.physiology.circulation import model as cm
from inversa.simulation import SimulationError, simulate
from inversa.simulation import circulation_fast as cf
from inversa.validation.averaged import QUANTITIES, compare_models

ADULT = Person.create(sex="male", age_years=40, height_cm=178, mass_kg=78)


def test_steady_states_agree_with_the_pulsatile_model_from_minus_90_to_90_deg() -> None:
    agreement = compare_models()
    misses = []
    for series, label, _ in QUANTITIES:
        ok = agreement.within(series)
        for i, j in zip(*np.nonzero(~ok), strict=True):
            misses.append(
                f"{label} at {agreement.angles_deg[i]:+g} deg, person {j}: pulsatile "
                f"{agreement.pulsatile[series][i, j]:.2f}, averaged {agreement.averaged[series][i, j]:.2f}"
            )
    assert not misses, "\n".join(misses)
    # and the comparison is not vacuous: the angles move heart rate, output and eye pressure well
    # beyond the tolerance (mean pressure is what the baroreflex holds, within about 10 mmHg)
    for series in ("heart_rate_bpm", "cardiac_output_l_min", "intraocular_pressure_mmhg"):
        spread = np.ptp(agreement.pulsatile[series], axis=0)
        assert np.all(spread > 2.0 * agreement.allowed(series).max(axis=0)), series


@st.composite
def protocols(draw: st.DrawFn) -> str:
    steps = ["lie flat for 20 s"]
    for _ in range(draw(st.integers(1, 5))):
        angle = draw(st.integers(-90, 90))
        steps.append(f"tilt to {angle} deg over {draw(st.integers(5, 60))} s")
        steps.append(f"hold at {angle} deg for {draw(st.integers(10, 600))} s")
    return "; ".join(steps)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol=protocols())
def test_blood_is_conserved_apart_from_fluid_shift(protocol: str) -> None:
    r = simulate(ADULT, protocol, circulation_model="averaged", record_interval_s=5.0, dt_s=0.5)
    intravascular = r.series["total_blood_volume_ml"][0] - r.series["plasma_volume_change_ml"][0]
    assert np.all(np.isfinite(intravascular))
    assert np.abs(intravascular - intravascular[0]).max() / intravascular[0] < 1e-6


def test_compiled_driver_equals_the_interpreted_reference() -> None:
    people = [ADULT, Person.create(sex="female", age_years=60, height_cm=160, mass_kg=58)]
    params = cm.build_parameters(people)
    out = []
    for compiled in (True, False):
        drv, _ = cf.calibrate_averaged(params, 1.0, compiled, 0.0)
        rows = drv.run(np.sin(np.radians(np.linspace(0.0, 70.0, 40))), 0.0, reflex_on=True)
        out.append(rows)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-8, atol=1e-8)


def test_resting_values_are_calibrated_and_reported() -> None:
    person = Person.create(
        sex="female",
        age_years=55,
        height_cm=165,
        mass_kg=70,
        resting_systolic_mmhg=140,
        resting_diastolic_mmhg=88,
        resting_heart_rate_bpm=74,
    )
    r = simulate(person, "lie flat for 60 s", circulation_model="averaged")
    assert r.settings["circulation_model"] == "averaged"
    assert r.series["systolic_bp_mmhg"][0, -1] == pytest.approx(140, abs=1.0)
    assert r.series["diastolic_bp_mmhg"][0, -1] == pytest.approx(88, abs=1.0)
    assert r.series["heart_rate_bpm"][0, -1] == pytest.approx(74, abs=0.5)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"circulation_model": "beats"}, "circulation_model"),
        ({"circulation_model": "averaged", "circulation_averaged_dt_s": 5.0}, "circulation_averaged_dt_s"),
        ({"circulation_model": "averaged", "pulsatile_trace": True}, "pulsatile_trace"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(SimulationError, match=named):
        simulate(ADULT, "lie flat for 10 s", **kwargs)  # type: ignore[arg-type]
