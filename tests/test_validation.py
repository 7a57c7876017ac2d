"""Every published validation row runs; rows not listed as known misses must pass their tolerance.

A known miss is run too: it is expected to miss (strict), so a model change that makes it pass
fails here until the miss list and the report are updated.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from inversa.validation import known_misses, load_rows, render_markdown, run_all, run_row
from inversa.validation.observables import OBSERVABLES
from inversa.validation.runner import ValidationRow, sources

ROWS = load_rows()
MISSES = known_misses()
REPORT = Path(__file__).resolve().parents[1] / "docs" / "validation.md"


def _params() -> list[object]:
    out: list[object] = []
    for row in ROWS:
        marks = []
        if row.id in MISSES:
            marks.append(pytest.mark.xfail(strict=True, reason=f"known miss: {MISSES[row.id]}"))
        out.append(pytest.param(row, id=row.id, marks=marks))
    return out


SERIES_KINDS = {"value", "change", "pct_change", "tau"}


def test_rows_are_complete_and_cited() -> None:
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids)), "duplicate validation ids"
    for row in ROWS:
        assert row.source in sources(), f"{row.id}: unknown source {row.source}"
        known = row.observable in OBSERVABLES or row.observable.split(":")[0] in SERIES_KINDS
        assert known, f"{row.id}: unknown observable {row.observable}"
        assert row.comparison in {"within", "at_least", "at_most"}
        assert row.kind in {"validation", "calibration check"}
        assert row.tolerance >= 0 and math.isfinite(row.measured)
        assert row.tolerance_basis.strip(), f"{row.id}: tolerance needs a stated basis"
        assert row.conditions.strip()
    assert set(MISSES) <= set(ids), "known misses must name existing rows"
    assert all(reason.strip() for reason in MISSES.values())


def test_required_datasets_are_covered() -> None:
    datasets = {r.dataset for r in ROWS}
    for name in ("Tyrrell 1985", "Boocock 1990", "Wilke 1999", "O'Connell 2011", "Magnusson 1996"):
        assert name in datasets
    assert any(r.observable == "traction_onset_angle_deg" for r in ROWS)
    assert sum(r.observable.startswith("disc_height_mm.") for r in ROWS) == 5
    # the circulation, head-up and head-down, as issue 3 lists
    for name in (
        "Heldt 2004 thesis, Table 7.2",
        "Clin Auton Res 1997",
        "Med Sci Sports Exerc 2017 (abstract)",
        "Arch Intern Med 1985",
        "Friberg & Weinreb 1985",
        "JAMA Ophthalmol 2019",
        "Gianakopoulos 1985",
        "Lundvall (via Heldt)",
    ):
        assert name in datasets, name


@pytest.mark.parametrize("row", _params())
def test_row_within_tolerance(row: ValidationRow) -> None:
    outcome = run_row(row)
    assert math.isfinite(outcome.simulated)
    assert outcome.passed, (
        f"{row.id}: simulated {outcome.simulated:.4g} vs measured {row.measured:g} ({row.tolerance_text()})"
    )


def test_tolerance_rules() -> None:
    row = ROWS[0]
    base = {k: getattr(row, k) for k in row.__dataclass_fields__}
    within = ValidationRow(**{**base, "measured": 10.0, "tolerance": 2.0, "comparison": "within"})
    assert within.accepts(12.0) and within.accepts(8.0) and not within.accepts(12.01)
    assert not within.accepts(float("nan"))
    at_least = ValidationRow(**{**base, "measured": 8.0, "tolerance": 0.0, "comparison": "at_least"})
    assert at_least.accepts(8.0) and at_least.accepts(30.0) and not at_least.accepts(7.9)
    at_most = ValidationRow(**{**base, "measured": 1.0, "tolerance": 0.5, "comparison": "at_most"})
    assert at_most.accepts(1.5) and not at_most.accepts(1.6)


def test_report_is_current_and_keeps_misses_with_reasons() -> None:
    outcomes = run_all()
    text = render_markdown(outcomes)
    for o in outcomes:
        assert f"### {o.row.id}:" in text
        if not o.passed:
            assert MISSES.get(o.row.id, "not yet analysed") in text
    assert REPORT.read_text(encoding="utf-8") == text, (
        "docs/validation.md is stale: run `inversa validate` and commit the report"
    )
