"""The fast (beat-averaged) circulation held against the pulsatile reference model.

For a spread of people and angles from -90 to 90 degrees, both variants run the same protocol
(lying flat, a 30-second tilt, four minutes held) and the steady values of heart rate, mean arterial
pressure, cardiac output and intraocular pressure over the last ten seconds are compared. The
tolerance is the issue's: within 5 % of the reference, or within 2 mmHg (pressures) / 3 bpm.
``python -m inversa.validation.averaged`` prints the table that docs/circulation-fast.md shows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inversa.body import Person, Sex
from inversa.simulation import simulate

__all__ = ["QUANTITIES", "Agreement", "agreement_people", "compare_models", "markdown_table"]

#: Compared series, their absolute allowance (None: only the 5 %), and short names.
QUANTITIES: tuple[tuple[str, str, float | None], ...] = (
    ("heart_rate_bpm", "HR (bpm)", 3.0),
    ("mean_arterial_pressure_mmhg", "MAP (mmHg)", 2.0),
    ("cardiac_output_l_min", "CO (L/min)", None),
    ("intraocular_pressure_mmhg", "IOP (mmHg)", 2.0),
)
RELATIVE_TOLERANCE = 0.05
ANGLES_DEG: tuple[float, ...] = (-90.0, -60.0, -30.0, 0.0, 30.0, 60.0, 90.0)
HOLD_S = 240.0


def agreement_people() -> list[Person]:
    """Eight adults spanning sex, size, age and resting values (none used to fit the constants)."""
    rows = (
        (Sex.FEMALE, 24, 152, 48, 102, 62, 58, 11),
        (Sex.MALE, 31, 194, 98, 128, 72, 52, 14),
        (Sex.FEMALE, 45, 165, 92, 142, 94, 78, 17),
        (Sex.MALE, 52, 176, 71, 118, 80, 66, 21),
        (Sex.FEMALE, 63, 160, 63, 158, 88, 72, 19),
        (Sex.MALE, 70, 171, 84, 168, 96, 61, 16),
        (Sex.FEMALE, 38, 178, 118, 124, 84, 92, 13),
        (Sex.MALE, 79, 183, 66, 148, 70, 84, 22),
    )
    return [
        Person(
            sex=sex,
            age_years=age,
            height_cm=h,
            mass_kg=m,
            resting_systolic_mmhg=s,
            resting_diastolic_mmhg=d,
            resting_heart_rate_bpm=hr,
            resting_iop_mmhg=iop,
        )
        for sex, age, h, m, s, d, hr, iop in rows
    ]


@dataclass(frozen=True)
class Agreement:
    """Steady values of both variants: arrays [angles, people] per quantity."""

    angles_deg: tuple[float, ...]
    pulsatile: dict[str, np.ndarray]
    averaged: dict[str, np.ndarray]

    def allowed(self, series: str) -> np.ndarray:
        """The allowance per angle and person: 5 % of the reference or the absolute one."""
        absolute = {s: a for s, _, a in QUANTITIES}[series]
        rel = np.asarray(RELATIVE_TOLERANCE * np.abs(self.pulsatile[series]), dtype=float)
        return rel if absolute is None else np.asarray(np.maximum(rel, absolute), dtype=float)

    def difference(self, series: str) -> np.ndarray:
        return np.asarray(self.averaged[series] - self.pulsatile[series], dtype=float)

    def within(self, series: str) -> np.ndarray:
        return np.asarray(np.abs(self.difference(series)) <= self.allowed(series), dtype=bool)


def _protocol(angle_deg: float) -> str:
    if angle_deg == 0.0:
        return f"lie flat for {30 + 30 + HOLD_S:g} s"
    return (
        f"lie flat for 30 s; tilt to {angle_deg:g} deg over 30 s; hold at {angle_deg:g} deg for {HOLD_S:g} s"
    )


def compare_models(
    people: Sequence[Person] | None = None, angles_deg: Sequence[float] = ANGLES_DEG
) -> Agreement:
    """Run both variants for every angle and person; the last ten seconds' means are compared."""
    group = list(people) if people is not None else agreement_people()
    out: dict[str, dict[str, list[np.ndarray]]] = {"pulsatile": {}, "averaged": {}}
    for angle in angles_deg:
        for model in ("pulsatile", "averaged"):
            result = simulate(group, _protocol(angle), circulation_model=model)
            for series, _, _ in QUANTITIES:
                out[model].setdefault(series, []).append(result.series[series][:, -10:].mean(axis=1))
    return Agreement(
        angles_deg=tuple(angles_deg),
        pulsatile={k: np.stack(v) for k, v in out["pulsatile"].items()},
        averaged={k: np.stack(v) for k, v in out["averaged"].items()},
    )


def markdown_table(agreement: Agreement) -> str:
    """Per angle: the reference's range over people and the largest difference (worst person)."""
    head = "| angle (deg) | " + " | ".join(
        f"{label}: pulsatile | largest difference" for _, label, _ in QUANTITIES
    )
    lines = [head + " |", "|" + "---|" * (1 + 2 * len(QUANTITIES))]
    for i, angle in enumerate(agreement.angles_deg):
        cells = [f"{angle:+g}"]
        for series, _, _ in QUANTITIES:
            ref = agreement.pulsatile[series][i]
            diff = agreement.difference(series)[i]
            worst = int(np.argmax(np.abs(diff)))
            rel = 100.0 * diff[worst] / ref[worst]
            ok = "" if agreement.within(series)[i].all() else " **outside**"
            cells += [f"{ref.min():.1f}-{ref.max():.1f}", f"{diff[worst]:+.2f} ({rel:+.1f} %){ok}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(markdown_table(compare_models()))


if __name__ == "__main__":
    main()
