"""The spine: bed friction, gravity traction, disc creep and pressure at every lumbar level."""

from inversa.physiology.spine.disc import (
    creep_rate_mm_s,
    disc_axial_force_n,
    equilibrium_displacement_mm,
    nucleus_pressure_mpa,
)
from inversa.physiology.spine.friction import (
    friction_threshold_angle_deg,
    gravity_traction_fraction,
)

__all__ = [
    "creep_rate_mm_s",
    "disc_axial_force_n",
    "equilibrium_displacement_mm",
    "friction_threshold_angle_deg",
    "gravity_traction_fraction",
    "nucleus_pressure_mpa",
]
