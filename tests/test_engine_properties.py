"""Property tests of the engine: finite results, force balance, symmetries and solver agreement for
any valid person on short random protocols.

The protocol strategy of test_protocol_properties draws steps of up to hours (to 24 h in total);
these properties integrate every protocol, so they use a smaller strategy of short steps that
always starts with ``start at`` (which also makes mirror images well defined).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from inversa.body import Person, Sex, cranial_mass_kg
from inversa.body.person import STANDARD_GRAVITY_M_S2
from inversa.protocol import (
    MAX_RATE_DEG_S,
    Hold,
    LieFlat,
    Oscillate,
    Protocol,
    Repeat,
    Stand,
    Start,
    Step,
    Tilt,
)
from inversa.simulation import Result
from inversa.simulation import simulate as simulate_all

ForceBalanceCheck = Callable[[Result, dict[str, Any] | None], None]
ANY_MOVE_S = 180.0 / MAX_RATE_DEG_S  # enough to reach any angle from any other

angles = st.one_of(
    st.integers(-90, 90).map(float),
    st.floats(-90, 90, allow_nan=False, allow_infinity=False),
)
durations = st.one_of(st.integers(1, 40).map(float), st.floats(0.5, 40.0))

people = st.builds(
    Person,
    sex=st.sampled_from(list(Sex)),
    age_years=st.floats(16, 100),
    height_cm=st.floats(120, 230),
    mass_kg=st.floats(30, 250),
    hours_upright_h=st.floats(0, 24),
)


def simulate(*args: Any, **kwargs: Any) -> Result:
    """The spine and muscles alone: these tests are about them (the circulation has its own)."""
    kwargs.setdefault("circulation", False)
    return simulate_all(*args, **kwargs)


def _needed_s(entry_deg: float | None, target_deg: float) -> float:
    return ANY_MOVE_S if entry_deg is None else abs(target_deg - entry_deg) / MAX_RATE_DEG_S


@st.composite
def _leaf(draw: st.DrawFn, entry_deg: float | None) -> tuple[Step, float | None]:
    """One leaf step valid from ``entry_deg`` (None: from anywhere) and the angle it ends at."""
    kind = draw(st.sampled_from(["stand", "lie_flat", "hold", "tilt", "oscillate"]))
    if kind == "oscillate":
        a, b = draw(angles), draw(angles)
        period = max(draw(durations), math.pi * abs(b - a) / MAX_RATE_DEG_S)
        duration = max(draw(durations), _needed_s(entry_deg, a))
        return Oscillate(angle_a_deg=a, angle_b_deg=b, period_s=period, duration_s=duration), None
    target = {"stand": -90.0, "lie_flat": 0.0}.get(kind)
    if target is None:
        target = draw(angles)
    duration = max(draw(durations), _needed_s(entry_deg, target))
    if kind == "stand":
        return Stand(duration_s=duration), target
    if kind == "lie_flat":
        return LieFlat(duration_s=duration), target
    if kind == "hold":
        return Hold(angle_deg=target, duration_s=duration), target
    return Tilt(to_angle_deg=target, duration_s=duration), target


@st.composite
def short_protocols(draw: st.DrawFn) -> Protocol:
    """Valid protocols of up to about 11 minutes: ``start at``, then 1-4 steps or small repeats."""
    start = draw(angles)
    steps: list[Step] = [Start(angle_deg=start)]
    angle: float | None = start
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 4)) == 0:  # a repeat: its body is entered from anywhere
            body = []
            for _ in range(draw(st.integers(1, 2))):
                step, _end = draw(_leaf(None))
                body.append(step)
            steps.append(Repeat(times=draw(st.integers(1, 2)), steps=body))
            angle = None
        else:
            step, angle = draw(_leaf(angle))
            steps.append(step)
    return Protocol(steps=steps)


def _mirror_step(step: Step) -> Step:
    """The same step with every angle negated (standing becomes hanging)."""
    if isinstance(step, Start):
        return Start(angle_deg=-step.angle_deg)
    if isinstance(step, Stand):
        return Hold(angle_deg=90.0, duration_s=step.duration_s)
    if isinstance(step, LieFlat):
        return step
    if isinstance(step, Hold):
        return Hold(angle_deg=-step.angle_deg, duration_s=step.duration_s)
    if isinstance(step, Tilt):
        return Tilt(to_angle_deg=-step.to_angle_deg, duration_s=step.duration_s)
    if isinstance(step, Oscillate):
        return Oscillate(
            angle_a_deg=-step.angle_a_deg,
            angle_b_deg=-step.angle_b_deg,
            period_s=step.period_s,
            duration_s=step.duration_s,
        )
    return Repeat(times=step.times, steps=[_mirror_step(s) for s in step.steps])


def mirror(protocol: Protocol) -> Protocol:
    return Protocol(steps=[_mirror_step(s) for s in protocol.steps])


def _finite(result: Result) -> None:
    for name, values in result.series.items():
        assert np.all(np.isfinite(values)), name
    assert np.all(np.isfinite(result.time_s))


# --------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(st.lists(people, min_size=1, max_size=3), short_protocols(), st.floats(0.0, 2.0))
def test_nothing_goes_nan_or_infinite(group: list[Person], protocol: Protocol, mu: float) -> None:
    result = simulate(group, protocol, overrides={"bed_friction_coefficient": mu})
    _finite(result)
    duration = protocol.timeline().duration_s
    assert result.time_s[0] == 0.0 and result.time_s[-1] >= duration - 1e-9
    assert result.series["angle_deg"].shape == (len(group), result.time_s.size)
    assert result.series["traction_force_n"].shape == (len(group), result.time_s.size, 6)
    assert np.all(np.abs(result.series["angle_deg"]) <= 90.0)
    assert np.all(np.abs(result.series["gravity_traction_pct_cranial_weight"]) <= 100.0 + 1e-9)
    assert np.all(result.series["intradiscal_pressure_mpa"] >= -0.1 - 1e-12)
    relaxation = result.series["muscle_stress_relaxation_pct"]
    assert np.all((relaxation >= -1e-9) & (relaxation <= 28.9 + 1e-6))
    assert np.all(result.series["paraspinal_activation_pct_mvc"] >= 0)


@settings(max_examples=30, deadline=None)
@given(st.lists(people, min_size=1, max_size=3), short_protocols(), st.floats(0.0, 2.0))
def test_discs_keep_a_positive_height(group: list[Person], protocol: Protocol, mu: float) -> None:
    """Every accepted person, however short and heavy: compression stiffens and is a true strain."""
    result = simulate(group, protocol, overrides={"bed_friction_coefficient": mu})
    assert np.all(result.series["disc_height_mm"] > 0)


@settings(max_examples=30, deadline=None)
@given(st.lists(people, min_size=1, max_size=2), short_protocols(), st.floats(0.0, 1.0))
def test_forces_balance(
    check_force_balance: ForceBalanceCheck, group: list[Person], protocol: Protocol, mu: float
) -> None:
    overrides = {"bed_friction_coefficient": mu}
    check_force_balance(simulate(group, protocol, overrides=overrides), overrides)


@settings(max_examples=30, deadline=None)
@given(people, st.floats(0.0, 90.0), st.integers(1, 30))
def test_frictionless_gravity_is_odd_in_the_angle(person: Person, angle: float, hold_s: int) -> None:
    frictionless = {"bed_friction_coefficient": 0.0}
    down = simulate(person, f"hold at {angle!r} deg for {hold_s} s", overrides=frictionless)
    up = simulate(person, f"hold at {-angle!r} deg for {hold_s} s", overrides=frictionless)
    g_down = down.series["gravity_traction_pct_cranial_weight"]
    g_up = up.series["gravity_traction_pct_cranial_weight"]
    np.testing.assert_allclose(g_down, -g_up, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g_down, 100 * math.sin(math.radians(angle)), rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(people, short_protocols(), st.floats(0.0, 1.0))
def test_mirrored_protocol_mirrors_gravity_traction(person: Person, protocol: Protocol, mu: float) -> None:
    """Bed friction is symmetric: negate every angle and the gravity traction changes sign."""
    overrides = {"bed_friction_coefficient": mu}
    original = simulate(person, protocol, overrides=overrides)
    mirrored = simulate(person, mirror(protocol), overrides=overrides)
    np.testing.assert_allclose(mirrored.series["angle_deg"], -original.series["angle_deg"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        mirrored.series["gravity_traction_pct_cranial_weight"],
        -original.series["gravity_traction_pct_cranial_weight"],
        rtol=0,
        atol=1e-7,
    )


@settings(max_examples=30, deadline=None)
@given(
    people,
    st.integers(-90, 90),
    st.integers(0, 120),
    st.integers(0, 120),
)
def test_palindromic_protocol_gives_palindromic_gravity_without_friction(
    person: Person, target: int, ramp_extra_s: int, hold_s: int
) -> None:
    ramp_s = max(1, math.ceil(abs(target) / MAX_RATE_DEG_S)) + ramp_extra_s
    text = f"start at 0 deg; tilt to {target} deg over {ramp_s} s; "
    if hold_s:
        text += f"hold at {target} deg for {hold_s} s; "
    text += f"tilt to 0 deg over {ramp_s} s"
    r = simulate(person, text, overrides={"bed_friction_coefficient": 0.0})
    assert r.time_s[-1] == 2 * ramp_s + hold_s
    angle = r.series["angle_deg"][0]
    gravity = r.series["gravity_traction_pct_cranial_weight"][0]
    np.testing.assert_allclose(angle, angle[::-1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(gravity, gravity[::-1], rtol=0, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(people, st.floats(30, 250), short_protocols(), st.floats(0.01, 1.0))
def test_gravity_force_is_proportional_to_cranial_weight(
    person: Person, other_mass: float, protocol: Protocol, mu: float
) -> None:
    """Two people differing only in mass: same friction history and muscles, gravity scaled by mass."""
    twin = person.model_copy(update={"mass_kg": other_mass})
    r = simulate([person, twin], protocol, overrides={"bed_friction_coefficient": mu})
    for name in ("gravity_traction_pct_cranial_weight", "paraspinal_activation_pct_mvc"):
        np.testing.assert_array_equal(r.series[name][0], r.series[name][1])
    # muscles do not depend on mass, so the force difference is gravity's alone:
    # (m1 - m2) g x (cranial mass fraction of the level) x (gravity traction fraction)
    fractions = cranial_mass_kg([person])[0] / person.mass_kg
    gravity_fraction = r.series["gravity_traction_pct_cranial_weight"][0] / 100.0
    expected = (person.mass_kg - other_mass) * STANDARD_GRAVITY_M_S2 * np.outer(gravity_fraction, fractions)
    force = r.series["traction_force_n"]
    np.testing.assert_allclose(force[0] - force[1], expected, rtol=1e-9, atol=1e-8)


@settings(max_examples=15, deadline=None)
@given(st.lists(people, min_size=1, max_size=3), short_protocols(), st.floats(0.0, 1.0))
def test_compiled_and_numpy_agree(group: list[Person], protocol: Protocol, mu: float) -> None:
    overrides = {"bed_friction_coefficient": mu}
    compiled = simulate(group, protocol, overrides=overrides, dt_s=0.5, method="compiled")
    reference = simulate(group, protocol, overrides=overrides, dt_s=0.5, method="numpy")
    for name, values in compiled.series.items():
        np.testing.assert_allclose(reference.series[name], values, rtol=1e-9, atol=1e-9, err_msg=name)
