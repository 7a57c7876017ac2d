"""Paraspinal muscles: activation and its time course, stress relaxation, stretch tolerance."""

from inversa.physiology.muscle.paraspinal import (
    activation_target_pct_mvc,
    guarding_rate,
    relaxation_rate,
    stretch_stimulus,
    tolerance_rate,
)

__all__ = [
    "activation_target_pct_mvc",
    "guarding_rate",
    "relaxation_rate",
    "stretch_stimulus",
    "tolerance_rate",
]
