"""Scoring of the pain and back-pain questionnaires Inversa tracks, and meaningful change between visits.

Instruments are plain data (:data:`INSTRUMENTS`) so the CLI, the web form and FHIR export read one
source. :func:`score` turns a list of answers in the instrument's item order into a
:class:`ScoreResult` whose :meth:`ScoreResult.to_dict` keys are a contract for the CLI::

    >>> score("peg", [7, 8, 6]).to_dict()["score"]
    7.0

No item text is shipped; labels are "item 1" style or short domain names. The Oswestry Disability
Index is licensed (Mapi Research Trust): its scoring code is here but only runs behind a licence
setting (argument ``odi_licensed`` or environment variable ``INVERSA_ODI_LICENSED``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "INSTRUMENTS",
    "ODI_LICENCE_ENV",
    "ODI_MAX_MISSING_SECTIONS",
    "ChangeResult",
    "ChangeRule",
    "Instrument",
    "InvalidAnswerError",
    "Item",
    "Licence",
    "LicenceError",
    "QuestionnaireError",
    "ScoreResult",
    "meaningful_change",
    "parse_answers_json",
    "score",
]

ODI_LICENCE_ENV: Final = "INVERSA_ODI_LICENSED"
"""Environment variable that, set to ``1`` or ``true``, declares that this site holds an ODI licence."""

ODI_MAX_MISSING_SECTIONS: Final = 2
"""ODI sections that may be unanswered and still pro-rated (common practice after Fairbank & Pynsent 2000);
with more missing the score is not computed."""

_EPS: Final = 1e-9  # threshold comparisons absorb float noise, e.g. 3.5 - 2.45 vs 0.3 * 3.5


# --------------------------------------------------------------------------------------------- errors


class QuestionnaireError(ValueError):
    """Anything wrong with a questionnaire request: unknown instrument, bad answers, missing licence."""


class InvalidAnswerError(QuestionnaireError):
    """An answer list that does not fit the instrument; ``item`` is the 1-based item, or None for the list."""

    def __init__(self, message: str, *, instrument: str | None = None, item: int | None = None) -> None:
        super().__init__(message)
        self.instrument = instrument
        self.item = item


class LicenceError(QuestionnaireError):
    """Scoring a licensed instrument without the licence setting; shipping it unlicensed is not allowed."""


# ----------------------------------------------------------------------------------------------- data


class Licence(StrEnum):
    """Terms under which an instrument may be used, which decide whether Inversa may score it."""

    FREE = "free"
    NON_COMMERCIAL = "non-commercial"
    LICENSED = "licensed"


@dataclass(frozen=True, slots=True)
class Item:
    """One item: a short label (never the licensed wording) and the integer answers it accepts."""

    label: str
    values: tuple[int, ...]

    def describe_values(self) -> str:
        """Say what is allowed, e.g. ``0 or 1`` or ``an integer 0-10``, for error messages."""
        if len(self.values) == 2:
            return f"{self.values[0]} or {self.values[1]}"
        return f"an integer {self.values[0]}-{self.values[-1]}"


@dataclass(frozen=True, slots=True)
class ChangeRule:
    """Published minimal important change: ``points`` on the score scale, or ``fraction`` of baseline."""

    points: float
    fraction: float | None
    citation: str


@dataclass(frozen=True, slots=True)
class Instrument:
    """Everything Inversa needs to know about one questionnaire, kept as data rather than code."""

    key: str
    name: str
    items: tuple[Item, ...]
    score_range: tuple[float, float]
    loinc: Mapping[str, str] = field(hash=False)
    licence: Licence
    citations: tuple[str, ...]
    recall_period: str | None
    change_rule: ChangeRule | None
    higher_is_worse: bool
    max_missing: int
    missing_rule: str

    @property
    def item_count(self) -> int:
        """Number of answers expected in an answer list."""
        return len(self.items)


def _items(labels: Sequence[str], low: int, high: int) -> tuple[Item, ...]:
    return tuple(Item(label, tuple(range(low, high + 1))) for label in labels)


_FARRAR_2001 = "Farrar JT et al. Pain 2001;94:149-158"
_OSTELO_2008 = "Ostelo RW et al. Spine 2008;33:90-94"
_KREBS_2009 = "Krebs EE et al. J Gen Intern Med 2009;24(6):733-738"
_ROLAND_1983 = "Roland M, Morris R. Spine 1983;8:141-144"
_ROLAND_2000 = "Roland M, Fairbank J. Spine 2000;25:3115-3124"
_HILL_2008 = "Hill JC et al. Arthritis Rheum 2008;59(5):632-641"
_FAIRBANK_2000 = "Fairbank JC, Pynsent PB. Spine 2000;25:2940-2952"

_STARTBACK_DISTRESS_ITEMS: Final = (5, 6, 7, 8, 9)  # 1-based, Hill 2008
_STARTBACK_ITEM9_POSITIVE: Final = frozenset({3, 4})  # "very much", "extremely" on 0-4

INSTRUMENTS: Final[Mapping[str, Instrument]] = MappingProxyType(
    {
        "nrs": Instrument(
            key="nrs",
            name="Pain numeric rating scale (0-10)",
            items=_items(["pain"], 0, 10),
            score_range=(0.0, 10.0),
            loinc=MappingProxyType({"score": "72514-3"}),
            licence=Licence.FREE,
            citations=(_FARRAR_2001, _OSTELO_2008),
            recall_period="average pain over the past 24 hours",
            change_rule=ChangeRule(2.0, 0.30, f"{_FARRAR_2001}; {_OSTELO_2008}"),
            higher_is_worse=True,
            max_missing=0,
            missing_rule="the one answer is required",
        ),
        "peg": Instrument(
            key="peg",
            name="PEG-3 (pain, enjoyment of life, general activity)",
            items=_items(["pain", "enjoyment", "activity"], 0, 10),
            score_range=(0.0, 10.0),
            loinc=MappingProxyType({"panel": "91148-7", "score": "91147-9"}),
            licence=Licence.FREE,
            citations=(_KREBS_2009,),
            recall_period="past week",
            # "About 1 point" (product reference, section 4); no relative rule is adopted for PEG.
            change_rule=ChangeRule(1.0, None, "product reference section 4: about 1 point"),
            higher_is_worse=True,
            max_missing=0,
            missing_rule="all 3 items are required (the score is their mean)",
        ),
        "rmdq": Instrument(
            key="rmdq",
            name="Roland-Morris Disability Questionnaire (RMDQ-24)",
            items=_items([f"item {i}" for i in range(1, 25)], 0, 1),
            score_range=(0.0, 24.0),
            loinc=MappingProxyType({}),  # no LOINC code found
            licence=Licence.FREE,  # free when reproduced as published (Roland & Fairbank 2000)
            citations=(_ROLAND_1983, _ROLAND_2000, _OSTELO_2008),
            recall_period="today",
            change_rule=ChangeRule(5.0, 0.30, _OSTELO_2008),
            higher_is_worse=True,
            max_missing=0,
            missing_rule="all 24 statements must be sent as 0 (not ticked) or 1 (ticked)",
        ),
        "startback": Instrument(
            key="startback",
            name="Keele STarT Back Screening Tool (9 items)",
            items=(
                *_items(
                    [
                        "referred leg pain",
                        "comorbid shoulder or neck pain",
                        "disability: walking",
                        "disability: dressing",
                        "fear",
                        "anxiety",
                        "catastrophising",
                        "low mood",
                    ],
                    0,
                    1,
                ),
                Item("bothersomeness", (0, 1, 2, 3, 4)),
            ),
            score_range=(0.0, 9.0),
            loinc=MappingProxyType(
                {"panel": "91349-1", "total": "91351-7", "distress": "91350-9", "risk": "91352-5"}
            ),
            licence=Licence.NON_COMMERCIAL,
            citations=(_HILL_2008,),
            recall_period="past 2 weeks",
            change_rule=None,  # a stratification tool, not an outcome measure
            higher_is_worse=True,
            max_missing=0,
            missing_rule="all 9 items are required",
        ),
        "odi": Instrument(
            key="odi",
            name="Oswestry Disability Index 2.1a",
            items=_items([f"section {i}" for i in range(1, 11)], 0, 5),
            score_range=(0.0, 100.0),
            loinc=MappingProxyType({"panel": "97908-8", "score": "97909-6"}),
            licence=Licence.LICENSED,  # Mapi Research Trust
            citations=(_FAIRBANK_2000, _OSTELO_2008),
            recall_period=None,  # not fixed by this module
            change_rule=ChangeRule(10.0, 0.30, _OSTELO_2008),
            higher_is_worse=True,
            max_missing=ODI_MAX_MISSING_SECTIONS,
            missing_rule=(
                f"up to {ODI_MAX_MISSING_SECTIONS} sections may be null and the score is pro-rated; "
                "with more the score is not computed"
            ),
        ),
    }
)
"""The instruments by key (``nrs``, ``peg``, ``rmdq``, ``startback``, ``odi``)."""


# -------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """One scored questionnaire. ``complete`` is true when every item was answered; ``score`` is None
    when too much is missing to score (only ODI allows missing items at all)."""

    instrument: str
    score: float | None
    subscores: dict[str, float | int | None]
    interpretation: str
    complete: bool

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON contract: exactly instrument, score, subscores, interpretation, complete."""
        return {
            "instrument": self.instrument,
            "score": self.score,
            "subscores": dict(self.subscores),
            "interpretation": self.interpretation,
            "complete": self.complete,
        }


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """Change between two scores and whether it is meaningful by the instrument's published rule.

    ``improvement`` is positive when the follow-up is better (lower, for these instruments).
    ``relative_threshold`` is a fraction of the baseline and applies to improvement only.
    """

    instrument: str
    baseline: float
    follow_up: float
    change: float
    improvement: float
    absolute_threshold: float
    relative_threshold: float | None
    improved_meaningfully: bool
    worsened_meaningfully: bool

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dictionary."""
        return {
            "instrument": self.instrument,
            "baseline": self.baseline,
            "follow_up": self.follow_up,
            "change": self.change,
            "improvement": self.improvement,
            "absolute_threshold": self.absolute_threshold,
            "relative_threshold": self.relative_threshold,
            "improved_meaningfully": self.improved_meaningfully,
            "worsened_meaningfully": self.worsened_meaningfully,
        }


# ------------------------------------------------------------------------------------------ scoring


def _instrument(name: str) -> Instrument:
    """Look an instrument up by key (case and outer spaces ignored), listing the known ones if absent."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key is None or key not in INSTRUMENTS:
        known = ", ".join(INSTRUMENTS)
        raise QuestionnaireError(f"unknown instrument {name!r}; known instruments: {known}")
    return INSTRUMENTS[key]


def _odi_licensed(flag: bool | None) -> bool:
    """The explicit flag wins; otherwise ``INVERSA_ODI_LICENSED`` set to ``1`` or ``true`` grants it."""
    if flag is not None:
        return flag
    return os.environ.get(ODI_LICENCE_ENV, "").strip().lower() in {"1", "true"}


def _validate(inst: Instrument, answers: Sequence[int | None]) -> list[int | None]:
    """Check count, type and range of every answer, naming the first bad item (1-based)."""
    key = inst.key
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
        raise InvalidAnswerError(
            f"answers to {key} must be a list of {inst.item_count} values, got {type(answers).__name__}",
            instrument=key,
        )
    if len(answers) != inst.item_count:
        raise InvalidAnswerError(f"{key} needs {inst.item_count} answers, got {len(answers)}", instrument=key)
    clean: list[int | None] = []
    for number, (item, value) in enumerate(zip(inst.items, answers, strict=True), start=1):
        where = f"item {number} of {key}"
        if value is None:
            if inst.max_missing == 0:
                hint = " (send 0 for a statement not ticked)" if key == "rmdq" else ""
                raise InvalidAnswerError(
                    f"{where} is unanswered; {inst.missing_rule}{hint}", instrument=key, item=number
                )
            clean.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, Integral):
            kind = " (booleans are not answers)" if isinstance(value, bool) else ""
            raise InvalidAnswerError(
                f"{where} must be {item.describe_values()}, got {value!r}{kind}", instrument=key, item=number
            )
        if int(value) not in item.values:
            raise InvalidAnswerError(
                f"{where} must be {item.describe_values()}, got {int(value)}", instrument=key, item=number
            )
        clean.append(int(value))
    return clean


def _answered(answers: list[int | None]) -> list[int]:
    return [a for a in answers if a is not None]


def _pain_band(value: float) -> tuple[str, str]:
    """Common 0-10 bands: 0 none, up to 3 mild, 4 to below 7 moderate, 7-10 severe (means fall between)."""
    if value == 0:
        return "no", "0"
    if value < 4:
        return "mild", "1-3"
    if value < 7:
        return "moderate", "4-6"
    return "severe", "7-10"


def _score_nrs(inst: Instrument, answers: list[int | None]) -> ScoreResult:
    value = _answered(answers)[0]
    band, span = _pain_band(value)
    return ScoreResult(inst.key, float(value), {}, f"{band} pain ({span})", True)


def _score_peg(inst: Instrument, answers: list[int | None]) -> ScoreResult:
    values = _answered(answers)
    mean = sum(values) / len(values)
    band, _ = _pain_band(mean)
    span = {"no": "mean 0", "mild": "mean above 0, below 4", "moderate": "mean 4 to below 7"}.get(
        band, "mean 7-10"
    )
    subscores: dict[str, float | int | None] = {
        item.label: value for item, value in zip(inst.items, values, strict=True)
    }
    return ScoreResult(inst.key, mean, subscores, f"{band} pain and interference ({span})", True)


def _score_rmdq(inst: Instrument, answers: list[int | None]) -> ScoreResult:
    ticked = sum(_answered(answers))
    text = f"{ticked} of {inst.item_count} activities limited by back pain"
    return ScoreResult(inst.key, float(ticked), {}, text, True)


def _score_startback(inst: Instrument, answers: list[int | None]) -> ScoreResult:
    values = _answered(answers)
    positive = [*values[:8], int(values[8] in _STARTBACK_ITEM9_POSITIVE)]
    total = sum(positive)
    distress = sum(positive[i - 1] for i in _STARTBACK_DISTRESS_ITEMS)
    if total <= 3:
        risk = "low"
    elif distress <= 3:
        risk = "medium"
    else:
        risk = "high"
    return ScoreResult(inst.key, float(total), {"total": total, "distress": distress}, f"{risk} risk", True)


def _odi_band(percent: float) -> str:
    """Fairbank & Pynsent 2000 bands, read as upper bounds so pro-rated scores between them fall upward."""
    if percent <= 20:
        return "minimal disability (0-20 %)"
    if percent <= 40:
        return "moderate disability (21-40 %)"
    if percent <= 60:
        return "severe disability (41-60 %)"
    if percent <= 80:
        return "crippled (61-80 %)"
    return "bed-bound or exaggerating symptoms (81-100 %)"


def _score_odi(inst: Instrument, answers: list[int | None]) -> ScoreResult:
    values = _answered(answers)
    answered, missing = len(values), inst.item_count - len(values)
    total = sum(values)
    subscores: dict[str, float | int | None] = {"sections_answered": answered, "raw_total": total}
    if missing > inst.max_missing:
        text = (
            f"not scored: {missing} of {inst.item_count} sections unanswered "
            f"(at most {inst.max_missing} may be missing)"
        )
        return ScoreResult(inst.key, None, subscores, text, False)
    percent = total / (5 * answered) * 100.0
    text = _odi_band(percent)
    if missing:
        text += f"; pro-rated from {answered} of {inst.item_count} sections"
    return ScoreResult(inst.key, percent, subscores, text, missing == 0)


_SCORERS: Final[Mapping[str, Callable[[Instrument, list[int | None]], ScoreResult]]] = MappingProxyType(
    {
        "nrs": _score_nrs,
        "peg": _score_peg,
        "rmdq": _score_rmdq,
        "startback": _score_startback,
        "odi": _score_odi,
    }
)


def score(instrument: str, answers: Sequence[int | None], *, odi_licensed: bool | None = None) -> ScoreResult:
    """Score one completed questionnaire given its answers in item order.

    Answers are integers in each item's range (see ``INSTRUMENTS[key].items``); None marks an unanswered
    item and is accepted only for ODI sections (up to 2 pro-rated, more leaves the score None). Booleans and
    floats are rejected, even 1.0: a form answer is a ticked box. For ODI a section with two boxes ticked
    must be sent as the higher one. ``odi_licensed`` None reads ``INVERSA_ODI_LICENSED``.

    Raises InvalidAnswerError naming the item, QuestionnaireError for an unknown instrument, and
    LicenceError for ODI without a licence (checked before the answers).
    """
    inst = _instrument(instrument)
    if inst.licence is Licence.LICENSED and not _odi_licensed(odi_licensed):
        raise LicenceError(
            f"{inst.name} is licensed by the Mapi Research Trust; scoring it needs a licence: "
            f"pass odi_licensed=True or set {ODI_LICENCE_ENV}=1 once your organisation holds one"
        )
    return _SCORERS[inst.key](inst, _validate(inst, answers))


# ------------------------------------------------------------------------------------ meaningful change


def _check_score(inst: Instrument, name: str, value: float) -> float:
    low, high = inst.score_range
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise QuestionnaireError(f"{name} for {inst.key} must be a number {low:g}-{high:g}, got {value!r}")
    if not low <= float(value) <= high:
        raise QuestionnaireError(
            f"{name} for {inst.key} must be a number {low:g}-{high:g}, got {float(value):g}"
        )
    return float(value)


def meaningful_change(instrument: str, baseline: float, follow_up: float) -> ChangeResult:
    """Compare two scores of one instrument against its published minimal important change.

    Improvement is meaningful when it reaches the absolute points or, with a baseline above 0, the
    relative fraction of baseline (either suffices: "2 points or 30 %", Ostelo 2008, Farrar 2001).
    Worsening is judged on the absolute points only: the relative rules were established for
    improvement, and near a zero baseline they would flag changes within measurement noise.
    STarT Back is a stratification tool with no change rule and raises QuestionnaireError.
    """
    inst = _instrument(instrument)
    rule = inst.change_rule
    if rule is None:
        raise QuestionnaireError(
            f"{inst.key} stratifies risk and has no meaningful-change rule; compare its risk groups instead"
        )
    before = _check_score(inst, "baseline", baseline)
    after = _check_score(inst, "follow_up", follow_up)
    change = after - before
    improvement = -change if inst.higher_is_worse else change
    by_points = abs(improvement) >= rule.points - _EPS
    by_fraction = rule.fraction is not None and before > 0 and improvement >= rule.fraction * before - _EPS
    return ChangeResult(
        instrument=inst.key,
        baseline=before,
        follow_up=after,
        change=change,
        improvement=improvement,
        absolute_threshold=rule.points,
        relative_threshold=rule.fraction,
        improved_meaningfully=improvement > 0 and (by_points or by_fraction),
        worsened_meaningfully=improvement < 0 and by_points,
    )


# ------------------------------------------------------------------------------------------ JSON input


def parse_answers_json(text: str) -> list[int | None]:
    """Read the CLI's ``--answers`` JSON: a list of integers or nulls (:func:`score` checks ranges)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise QuestionnaireError(f"answers are not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise QuestionnaireError(f"answers must be a JSON list such as [7, 8, 6], got {type(data).__name__}")
    parsed: list[int | None] = []
    for number, value in enumerate(data, start=1):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidAnswerError(
                f"item {number} must be an integer or null, got {json.dumps(value)}", item=number
            )
        parsed.append(value)
    return parsed
