"""Segment masses and lengths, landmark heights and the mass cranial to each lumbar disc.

Masses follow de Leva 1996; the profile of mass cranial to each disc follows Dempster's segments
(Winter's table) with the L5 level from Pearsall 1996, scaled per sex so that the navel level
(about L3/L4) matches de Leva. In inversion, a disc is pulled by the weight of everything cranial
to it; the legs and pelvis hang from the ankle clamps and do not load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inversa.body.person import Person, Sex
from inversa.parameters import ParameterSet, load_parameter_set

__all__ = ["LEVELS", "SEGMENTS", "Anthropometry", "anthropometry", "cranial_mass_kg"]

#: Disc levels from the thoracolumbar junction to the lumbosacral disc, cranial first.
LEVELS: tuple[str, ...] = ("T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")

#: de Leva segments; the limb segments are given per side.
SEGMENTS: tuple[str, ...] = (
    "head",
    "upper_trunk",
    "middle_trunk",
    "lower_trunk",
    "upper_arm",
    "forearm",
    "hand",
    "thigh",
    "shank",
    "foot",
)
_PAIRED = {"upper_arm", "forearm", "hand", "thigh", "shank", "foot"}
_LANDMARKS = ("eye", "chin", "shoulder", "chest", "hip", "knee", "ankle")


def _params() -> ParameterSet:
    return load_parameter_set("anthropometry")


def cranial_mass_fractions(sex: Sex) -> NDArray[np.float64]:
    """Fraction of body mass cranial to each disc in LEVELS for one sex."""
    p = _params()
    t12 = p["cranial_mass_fraction.T12-L1"]
    l45 = p["cranial_mass_fraction.L4-L5"]
    # L1 to L4 share the abdomen evenly: T12/L1, then +1/4 ... +4/4 of the abdomen down to L4/L5.
    profile = t12 + (l45 - t12) * np.arange(5) / 4.0
    profile = np.append(profile, l45 + p["vertebral_mass_fraction.L5"])
    dempster_l34 = profile[LEVELS.index("L3-L4")]
    return np.asarray(profile * (p[f"cranial_mass_fraction.L3-L4.{sex.value}"] / dempster_l34))


@dataclass(frozen=True)
class Anthropometry:
    """One person's segment masses (kg), lengths (m), landmark heights (m) and cranial masses."""

    segment_mass_kg: dict[str, float]
    segment_length_m: dict[str, float]
    landmark_height_m: dict[str, float]
    cranial_mass_kg: NDArray[np.float64]  # shape [len(LEVELS)]

    def total_segment_mass_kg(self) -> float:
        """Sum of all segments, paired limbs counted twice (close to body mass by construction)."""
        return sum(m * (2 if s in _PAIRED else 1) for s, m in self.segment_mass_kg.items())


def anthropometry(person: Person) -> Anthropometry:
    """Scale the tabulated adult to this person's mass and height."""
    p = _params()
    sex = person.sex.value
    scale = person.height_cm * 10.0 / p[f"reference_stature_mm.{sex}"]
    return Anthropometry(
        segment_mass_kg={s: person.mass_kg * p[f"mass_fraction.{s}.{sex}"] for s in SEGMENTS},
        segment_length_m={s: p[f"length_mm.{s}.{sex}"] * scale / 1000.0 for s in SEGMENTS},
        landmark_height_m={
            name: person.height_m * p[f"landmark_height_fraction.{name}"] for name in _LANDMARKS
        },
        cranial_mass_kg=person.mass_kg * cranial_mass_fractions(person.sex),
    )


def cranial_mass_kg(people: Sequence[Person]) -> NDArray[np.float64]:
    """Mass cranial to each disc for many people at once: shape [people, len(LEVELS)]."""
    fractions = {s: cranial_mass_fractions(s) for s in Sex}
    out = np.empty((len(people), len(LEVELS)))
    for i, person in enumerate(people):
        out[i] = person.mass_kg * fractions[person.sex]
    return out


def anthropometry_citations() -> list[str]:
    """The references behind every anthropometric value."""
    return _params().citations()
