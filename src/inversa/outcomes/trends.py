"""Trends over a date range: change from baseline against each instrument's meaningful change.

The baseline is the first scored response in the range and the follow-up the last; the slope
(score per week, least squares) says where things are heading. STarT Back stratifies risk and has
no meaningful-change rule, so only its latest risk group is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from inversa.outcomes.questionnaires import ChangeResult, QuestionnaireError, meaningful_change

__all__ = ["SessionPainSummary", "Trend", "session_pain_summary", "trends"]


@dataclass(frozen=True)
class Trend:
    """One instrument's scores in the range, baseline to latest, and what the change means."""

    instrument: str
    times: tuple[datetime, ...]
    scores: tuple[float, ...]
    baseline: float | None
    latest: float | None
    change: ChangeResult | None
    slope_per_week: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "n": len(self.scores),
            "times": [t.isoformat() for t in self.times],
            "scores": list(self.scores),
            "baseline": self.baseline,
            "latest": self.latest,
            "change": None if self.change is None else self.change.to_dict(),
            "slope_per_week": self.slope_per_week,
            "note": self.note,
        }


def _slope_per_week(times: Sequence[datetime], scores: Sequence[float]) -> float | None:
    if len(scores) < 3:
        return None
    days = np.array([(t - times[0]).total_seconds() / 86400.0 for t in times])
    if np.ptp(days) < 1.0:
        return None
    slope_per_day = np.polyfit(days, np.asarray(scores, dtype=float), 1)[0]
    return float(slope_per_day * 7.0)


def trends(
    responses: Sequence[Mapping[str, Any]], start: datetime | None = None, end: datetime | None = None
) -> dict[str, Trend]:
    """Group scored responses (as the store returns them) by instrument within [start, end]."""
    grouped: dict[str, list[tuple[datetime, float]]] = {}
    for r in responses:
        if r.get("score") is None:
            continue
        when = (
            r["recorded_at"]
            if isinstance(r["recorded_at"], datetime)
            else datetime.fromisoformat(r["recorded_at"])
        )
        if (start is not None and when < start) or (end is not None and when > end):
            continue
        grouped.setdefault(str(r["instrument"]), []).append((when, float(r["score"])))
    out: dict[str, Trend] = {}
    for instrument, points in sorted(grouped.items()):
        points.sort()
        times = tuple(p[0] for p in points)
        scores = tuple(p[1] for p in points)
        change: ChangeResult | None = None
        note = ""
        if len(points) < 2:
            note = "one response in this range: no change to report yet"
        else:
            try:
                change = meaningful_change(instrument, scores[0], scores[-1])
            except QuestionnaireError as exc:
                note = str(exc)
            else:
                if change.improved_meaningfully:
                    note = "improved by at least the published meaningful change"
                elif change.worsened_meaningfully:
                    note = "worse by at least the published meaningful change"
                else:
                    note = "changed less than the published meaningful change"
        out[instrument] = Trend(
            instrument=instrument,
            times=times,
            scores=scores,
            baseline=scores[0] if scores else None,
            latest=scores[-1] if scores else None,
            change=change,
            slope_per_week=_slope_per_week(times, scores),
            note=note,
        )
    return out


@dataclass(frozen=True)
class SessionPainSummary:
    """Pain before vs after sessions: what a session does in the short term, with its spread."""

    sessions: int
    with_both_ratings: int
    mean_before: float | None
    mean_after: float | None
    mean_change: float | None
    sd_change: float | None
    sessions_with_symptoms: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def session_pain_summary(sessions: Sequence[Mapping[str, Any]]) -> SessionPainSummary:
    """Summarise pain before/after and symptoms over sessions (as the store returns them)."""
    pairs = [
        (s["pain_before"], s["pain_after"])
        for s in sessions
        if s.get("pain_before") is not None and s.get("pain_after") is not None
    ]
    before = np.array([p[0] for p in pairs], dtype=float)
    after = np.array([p[1] for p in pairs], dtype=float)
    diff = after - before
    return SessionPainSummary(
        sessions=len(sessions),
        with_both_ratings=len(pairs),
        mean_before=float(before.mean()) if pairs else None,
        mean_after=float(after.mean()) if pairs else None,
        mean_change=float(diff.mean()) if pairs else None,
        sd_change=float(diff.std(ddof=1)) if len(pairs) > 1 else None,
        sessions_with_symptoms=sum(1 for s in sessions if s.get("symptoms")),
    )
