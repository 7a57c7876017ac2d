"""Parameter sets: every value has a unit, a known source and a sane range; calibrations hold."""

from __future__ import annotations

import math

import pytest

from inversa.parameters import ParameterError, available_parameter_sets, load_parameter_set
from inversa.parameters.calibration import (
    MARTIN2022_L4L5_DIURNAL_STRAIN,
    diurnal_l4l5_strain,
    fit_compressive_modulus_mpa,
)


@pytest.mark.parametrize("name", available_parameter_sets())
def test_every_value_is_cited_and_in_range(name: str) -> None:
    pset = load_parameter_set(name)
    assert pset.parameters, name
    for p in pset.parameters.values():
        assert math.isfinite(p.value), p.key
        assert p.source in pset.sources, p.key
        assert pset.citation(p.key).strip()
        assert p.unit, p.key
        if p.low is not None and p.high is not None:
            assert p.low <= p.value <= p.high, f"{name}.{p.key} outside its own range"
        if p.source == "assumption":
            assert p.note.strip(), f"{name}.{p.key}: an assumption must give its reasoning"


def test_expected_sets_ship() -> None:
    assert {"anthropometry", "spine", "muscle"} <= set(available_parameter_sets())


def test_unknown_set_and_key_are_clear_errors() -> None:
    with pytest.raises(ParameterError, match="available"):
        load_parameter_set("no_such_set")
    with pytest.raises(ParameterError, match="no parameter 'nope'"):
        load_parameter_set("spine").get("nope")


def test_citations_are_unique_and_complete() -> None:
    spine = load_parameter_set("spine")
    cites = spine.citations()
    assert len(cites) == len(set(cites))
    assert any("O'Connell" in c for c in cites)


def test_compressive_modulus_matches_its_calibration() -> None:
    """The shipped modulus is the one that reproduces Martin 2022's diurnal MRI strain."""
    shipped = load_parameter_set("spine")["compressive_modulus_mpa"]
    assert fit_compressive_modulus_mpa() == pytest.approx(shipped, rel=0.01)
    assert diurnal_l4l5_strain(shipped) == pytest.approx(MARTIN2022_L4L5_DIURNAL_STRAIN, rel=0.02)
    # a stiffer disc loses less height over the day
    assert diurnal_l4l5_strain(2 * shipped) < diurnal_l4l5_strain(shipped)
