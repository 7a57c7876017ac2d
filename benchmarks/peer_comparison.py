"""Inversa's circulation from -90 to 90 deg: the table behind docs/peer-comparison.md.

Each angle is held 3 min after 3 min lying flat (the protocol of the published Heldt-model runs in
Inversa's shared physiology reference 4.1-4.2); values are changes from lying, means of the last 30 s.
Run: `python benchmarks/peer_comparison.py`.
"""

from __future__ import annotations

import numpy as np

from inversa.body import Person
from inversa.simulation import Result, simulate

ANGLES = (-90, -70, -45, -20, 0, 15, 30, 45, 60, 75, 90)


def _mean(r: Result, name: str, end: float) -> float:
    """Mean of a series over the 30 s up to ``end``."""
    mask = (r.time_s > end - 30) & (r.time_s <= end)
    return float(np.mean(r.series[name][0, mask]))


def main() -> None:
    person = Person.create(sex="male", age_years=25, height_cm=169, mass_kg=70)
    print(
        "| angle (deg) | HR (bpm) | MAP (mmHg) | CO (%) | SV (%) | CVP (mmHg) | leg blood (mL) | "
        "plasma (mL) | head venous (mmHg) | IOP (mmHg) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for a in ANGLES:
        r = simulate(person, f"lie flat for 3 min; tilt to {a} deg over 6 s; hold at {a} deg for 3 min")
        base, end = 180.0, float(r.time_s[-1])

        def delta(name: str, r: Result = r, base: float = base, end: float = end) -> float:
            return _mean(r, name, end) - _mean(r, name, base)

        def pct(name: str, r: Result = r, base: float = base, end: float = end) -> float:
            return 100.0 * (_mean(r, name, end) / _mean(r, name, base) - 1.0)

        def mean(name: str, r: Result = r, end: float = end) -> float:
            return _mean(r, name, end)

        print(
            f"| {a} | {delta('heart_rate_bpm'):+.1f} | {delta('mean_arterial_pressure_mmhg'):+.1f} | "
            f"{pct('cardiac_output_l_min'):+.0f} | {pct('stroke_volume_ml'):+.0f} | "
            f"{mean('central_venous_pressure_mmhg'):.1f} | {delta('leg_blood_volume_ml'):+.0f} | "
            f"{mean('plasma_volume_change_ml'):+.0f} | {mean('head_venous_pressure_mmhg'):.1f} | "
            f"{mean('intraocular_pressure_mmhg'):.1f} |"
        )


if __name__ == "__main__":
    main()
