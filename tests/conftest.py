"""Shared checks for the engine tests (kept small: the helpers are plain functions behind fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from inversa.body import LEVELS
from inversa.physiology.spine_muscle import build_parameters
from inversa.simulation import Result

ForceBalanceCheck = Callable[[Result, dict[str, Any] | None], None]


def _check_force_balance(result: Result, overrides: dict[str, Any] | None) -> None:
    """Every level, every time: traction = cranial weight x gravity fraction - muscle compression,
    and the gravity fraction lies inside the friction cone [sin - mu cos, sin + mu cos]."""
    n = len(LEVELS)
    params = build_parameters(list(result.people), overrides)
    weight = params.block("cranial_weight_n")[:, :n]
    mvc = params.block("mvc_compression_n")[:, :n]
    gravity = result.series["gravity_traction_pct_cranial_weight"] / 100.0
    activation = result.series["paraspinal_activation_pct_mvc"]
    expected = weight[:, None, :] * gravity[:, :, None] - mvc[:, None, :] * activation[:, :, None] / 100.0
    np.testing.assert_allclose(result.series["traction_force_n"], expected, rtol=1e-10, atol=1e-9)

    theta = np.radians(result.series["angle_deg"])
    mu = params.bed_friction_coefficient[:, None]
    lower = np.sin(theta) - mu * np.cos(theta)
    upper = np.sin(theta) + mu * np.cos(theta)
    assert np.all(gravity >= lower - 1e-12)
    assert np.all(gravity <= upper + 1e-12)


@pytest.fixture(scope="session")
def check_force_balance() -> ForceBalanceCheck:
    return _check_force_balance
