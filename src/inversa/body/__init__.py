"""The person on the table and their anthropometry (segment masses, lengths, landmarks)."""

from inversa.body.anthropometry import (
    LEVELS,
    Anthropometry,
    anthropometry,
    cranial_mass_kg,
)
from inversa.body.person import Person, PersonError, Sex

__all__ = [
    "LEVELS",
    "Anthropometry",
    "Person",
    "PersonError",
    "Sex",
    "anthropometry",
    "cranial_mass_kg",
]
