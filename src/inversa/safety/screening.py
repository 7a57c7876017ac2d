"""Safety screening before anyone hangs head-down: a versioned questionnaire, findings and a decision.

The questionnaire is data (``safety/data/screening_v1.json``): every row of the contraindication table
(product reference section 3), today's blood pressure and the table's size limits, each answer mapped to
a class with the reason and its source. :func:`screen` turns answers into a :class:`ScreeningResult`::

    decision = blocked > needs_clearance > caution > ok   (over the findings' effective classes)

A clinician may clear or override a finding only with a reason (:func:`apply_overrides`); red flags need
care, not clearance, and cannot be overridden. A screening expires (default 90 days), is redone when the
answers change (:func:`needs_rescreen`), and every session re-checks the day's blood pressure
(:func:`session_allowed`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Final

__all__ = [
    "DEFAULT_SETTINGS",
    "Choice",
    "Decision",
    "Finding",
    "FindingClass",
    "Item",
    "ItemType",
    "Outcome",
    "Override",
    "Questionnaire",
    "Rule",
    "ScreeningAnswerError",
    "ScreeningError",
    "ScreeningResult",
    "ScreeningSettings",
    "SessionCheck",
    "answers_fingerprint",
    "apply_overrides",
    "is_expired",
    "load_questionnaire",
    "needs_rescreen",
    "normalise_answers",
    "parse_answer",
    "screen",
    "session_allowed",
    "template",
]

AnswerValue = bool | str | float | None
"""A normalised answer: yes/no as bool, a choice as its value, a number as float, None for 'none'."""

VERSION_KEY: Final = "screening_version"
"""Optional key of an answers file naming the questionnaire version the answers were given for."""
HELP_KEY: Final = "_help"
"""Key of an answers file holding the question texts (written by :func:`template`, ignored on reading)."""

_DATA_FILE: Final = "screening_v1.json"


# --------------------------------------------------------------------------------------------- errors


class ScreeningError(ValueError):
    """Anything wrong with a screening request: bad answers, a bad override, a broken data file."""


class ScreeningAnswerError(ScreeningError):
    """An answer that is unknown, missing, of the wrong type or impossible; ``item`` names it."""

    def __init__(self, item: str, message: str) -> None:
        super().__init__(message)
        self.item = item


# -------------------------------------------------------------------------------------- enums, settings


class FindingClass(StrEnum):
    """Block: no inversion unless a clinician overrides; Clear: needs documented clinician clearance;
    Caution: warn and monitor; Cleared: a clinician has cleared the finding (only after an override)."""

    BLOCK = "block"
    CLEAR = "clear"
    CAUTION = "caution"
    CLEARED = "cleared"


class Decision(StrEnum):
    """The screening's verdict, from the most restrictive effective class among the findings."""

    OK = "ok"
    CAUTION = "caution"
    NEEDS_CLEARANCE = "needs_clearance"
    BLOCKED = "blocked"


class ItemType(StrEnum):
    """How a question is answered."""

    YES_NO = "yes_no"
    CHOICE = "choice"
    NUMBER = "number"


@dataclass(frozen=True)
class ScreeningSettings:
    """Thresholds agreed for a site or a table; the questionnaire's rules refer to these fields by name."""

    expiry_days: int = 90
    surgery_window_weeks: float = 12.0
    systolic_limit_mmhg: float = 140.0
    diastolic_limit_mmhg: float = 90.0
    table_min_height_cm: float = 142.0
    table_max_height_cm: float = 198.0
    table_max_mass_kg: float = 136.0

    def __post_init__(self) -> None:
        if (
            isinstance(self.expiry_days, bool)
            or not isinstance(self.expiry_days, int)
            or self.expiry_days < 1
        ):
            raise ScreeningError(
                f"setting expiry_days must be a whole number of days >= 1, got {self.expiry_days!r}"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value < math.inf):
                raise ScreeningError(f"setting {f.name} must be a positive number, got {value!r}")
        if self.table_min_height_cm >= self.table_max_height_cm:
            raise ScreeningError("setting table_min_height_cm must be below table_max_height_cm")
        if self.diastolic_limit_mmhg >= self.systolic_limit_mmhg:
            raise ScreeningError("setting diastolic_limit_mmhg must be below systolic_limit_mmhg")

    def limit(self, name: str) -> float:
        """The value of the setting ``name`` (a rule's threshold)."""
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, float | int]:
        """The settings as plain JSON values."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_SETTINGS: Final = ScreeningSettings()
_SETTING_NAMES: Final = frozenset(f.name for f in fields(ScreeningSettings)) - {"expiry_days"}


# -------------------------------------------------------------------------------------- questionnaire


@dataclass(frozen=True)
class Outcome:
    """What one answer means: its class, the reason shown to the person and the full source text."""

    finding_class: FindingClass
    reason: str
    source: str


_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<": operator.lt,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Rule:
    """A threshold on a number: ``value <op> settings.<setting>`` gives the outcome (reason formatted
    with ``{value}`` and ``{limit}``)."""

    op: str
    setting: str
    outcome: Outcome

    def applies(self, value: float, settings: ScreeningSettings) -> bool:
        """Whether the answer crosses this rule's threshold."""
        return _OPS[self.op](value, settings.limit(self.setting))


@dataclass(frozen=True)
class Choice:
    """One allowed answer of a choice item, with its label and outcome (None: no finding)."""

    value: str
    label: str
    outcome: Outcome | None


@dataclass(frozen=True)
class Item:
    """One question: its key, plain-language text, answer type and the mapping of answers to outcomes."""

    key: str
    question: str
    type: ItemType
    covers: tuple[str, ...]
    if_yes: Outcome | None = None
    choices: tuple[Choice, ...] = ()
    unit: str = ""
    low: float = -math.inf
    high: float = math.inf
    nullable: bool = False
    below_item: str | None = None
    rules: tuple[Rule, ...] = ()
    red_flag: bool = False
    seek_care_now: str | None = None
    overridable: bool = True
    not_overridable_because: str = ""

    @property
    def expects(self) -> str:
        """What a valid answer looks like, in words (for help texts and error messages)."""
        if self.type is ItemType.YES_NO:
            return "yes or no"
        if self.type is ItemType.CHOICE:
            return "one of " + ", ".join(c.value for c in self.choices)
        text = f"a number from {self.low:g} to {self.high:g} {self.unit}".rstrip()
        return text + (", or null for none" if self.nullable else "")


@dataclass(frozen=True)
class Questionnaire:
    """A versioned screening questionnaire: items in the order they are asked."""

    version: str
    title: str
    sources: Mapping[str, str]
    items: tuple[Item, ...]

    def item(self, key: str) -> Item:
        """The item ``key``, or a ScreeningAnswerError naming it (with a suggestion)."""
        for it in self.items:
            if it.key == key:
                return it
        keys = [it.key for it in self.items]
        close = [k for k in keys if len(key) >= 4 and key.lower() in k] or difflib.get_close_matches(
            key, keys, n=1
        )
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ScreeningAnswerError(key, f"item {key} is not in screening {self.version}{hint}")

    @property
    def keys(self) -> tuple[str, ...]:
        """Item keys in question order."""
        return tuple(it.key for it in self.items)


def _outcome(raw: Any, sources: Mapping[str, str], where: str) -> Outcome:
    if not isinstance(raw, dict) or not {"class", "reason", "source"} <= set(raw):
        raise ScreeningError(f"{where}: an outcome needs class, reason and source")
    try:
        cls = FindingClass(raw["class"])
    except ValueError:
        raise ScreeningError(f"{where}: unknown class {raw['class']!r}") from None
    if cls is FindingClass.CLEARED:
        raise ScreeningError(f"{where}: 'cleared' is set by a clinician, not by an answer")
    if raw["source"] not in sources:
        raise ScreeningError(f"{where}: unknown source {raw['source']!r}")
    return Outcome(cls, str(raw["reason"]), sources[raw["source"]])


def _item(raw: Any, sources: Mapping[str, str]) -> Item:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
        raise ScreeningError("every item needs a key")
    key: str = raw["key"]
    try:
        kind = ItemType(str(raw.get("type")))
    except ValueError:
        raise ScreeningError(f"item {key}: unknown type {raw.get('type')!r}") from None
    covers = raw.get("covers")
    if not isinstance(covers, list) or not covers or not isinstance(raw.get("question"), str):
        raise ScreeningError(f"item {key}: needs a question and the conditions it covers")
    red_flag = bool(raw.get("red_flag", False))
    if red_flag and not raw.get("seek_care_now"):
        raise ScreeningError(f"item {key}: a red flag needs a seek_care_now message")
    common: dict[str, Any] = {
        "key": key,
        "question": raw["question"],
        "type": kind,
        "covers": tuple(str(c) for c in covers),
        "red_flag": red_flag,
        "seek_care_now": raw.get("seek_care_now"),
        "overridable": bool(raw.get("overridable", True)) and not red_flag,
        "not_overridable_because": str(raw.get("not_overridable_because", "")),
    }
    if kind is ItemType.YES_NO:
        return Item(**common, if_yes=_outcome(raw.get("if_yes"), sources, f"item {key}"))
    if kind is ItemType.CHOICE:
        options = raw.get("choices")
        if not isinstance(options, list) or len(options) < 2:
            raise ScreeningError(f"item {key}: a choice item needs at least two choices")
        choices = tuple(
            Choice(
                value=str(c["value"]),
                label=str(c.get("label", c["value"])),
                outcome=None
                if c.get("outcome") is None
                else _outcome(c["outcome"], sources, f"item {key} choice {c['value']}"),
            )
            for c in options
        )
        return Item(**common, choices=choices)
    rng = raw.get("range")
    if not isinstance(rng, list) or len(rng) != 2 or not rng[0] < rng[1]:
        raise ScreeningError(f"item {key}: a number item needs a range [low, high]")
    rules = []
    for r in raw.get("rules", []):
        if r.get("op") not in _OPS or r.get("setting") not in _SETTING_NAMES:
            raise ScreeningError(f"item {key}: a rule needs an op in {sorted(_OPS)} and a known setting")
        rules.append(Rule(r["op"], r["setting"], _outcome(r, sources, f"item {key}")))
    return Item(
        **common,
        unit=str(raw.get("unit", "")),
        low=float(rng[0]),
        high=float(rng[1]),
        nullable=bool(raw.get("nullable", False)),
        below_item=raw.get("below_item"),
        rules=tuple(rules),
    )


@cache
def load_questionnaire() -> Questionnaire:
    """The current screening questionnaire from the package data (cached: it is immutable)."""
    text = resources.files("inversa.safety").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    raw = json.loads(text)
    sources = raw.get("sources")
    if not isinstance(sources, dict) or not isinstance(raw.get("items"), list):
        raise ScreeningError(f"{_DATA_FILE}: needs 'sources' and 'items'")
    items = tuple(_item(it, sources) for it in raw["items"])
    keys = [it.key for it in items]
    if len(set(keys)) != len(keys):
        raise ScreeningError(f"{_DATA_FILE}: duplicate item keys")
    for it in items:
        if it.below_item is not None and it.below_item not in keys:
            raise ScreeningError(f"item {it.key}: below_item {it.below_item!r} is not an item")
    return Questionnaire(str(raw["version"]), str(raw.get("title", "")), dict(sources), items)


# ---------------------------------------------------------------------------------- answer validation


_YES: Final = frozenset({"yes", "y", "true"})
_NO: Final = frozenset({"no", "n", "false"})


def _check_value(item: Item, value: Any) -> AnswerValue:
    """One answer from a file, normalised, or a ScreeningAnswerError naming the item."""
    if value is None:
        if item.nullable:
            return None
        raise ScreeningAnswerError(item.key, f"item {item.key} has no answer: expected {item.expects}")
    if item.type is ItemType.YES_NO:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _YES | _NO:
            return value.strip().lower() in _YES
        raise ScreeningAnswerError(item.key, f"item {item.key} must be yes or no, got {value!r}")
    if item.type is ItemType.CHOICE:
        if isinstance(value, str) and value.strip().lower() in {c.value for c in item.choices}:
            return value.strip().lower()
        raise ScreeningAnswerError(item.key, f"item {item.key} must be {item.expects}, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScreeningAnswerError(item.key, f"item {item.key} must be {item.expects}, got {value!r}")
    number = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0, so the fingerprint does not change
    if not math.isfinite(number) or not item.low <= number <= item.high:
        raise ScreeningAnswerError(
            item.key, f"item {item.key} must be between {item.low:g} and {item.high:g}, got {value!r}"
        )
    return number


def _check_pairs(q: Questionnaire, answers: Mapping[str, AnswerValue]) -> None:
    """Cross-item checks: an item that must be below another (diastolic below systolic)."""
    for it in q.items:
        if it.below_item is None:
            continue
        value, other = answers.get(it.key), answers.get(it.below_item)
        if isinstance(value, float) and isinstance(other, float) and value >= other:
            raise ScreeningAnswerError(
                it.key, f"item {it.key} ({value:g}) must be below {it.below_item} ({other:g})"
            )


def normalise_answers(answers: Mapping[str, Any]) -> dict[str, AnswerValue]:
    """Validate a complete set of answers and return them normalised, in question order.

    Unknown keys, missing items, wrong types and impossible values raise ScreeningAnswerError naming the
    item. ``screening_version`` (when given) must match; ``_help`` is ignored.
    """
    q = load_questionnaire()
    if not isinstance(answers, Mapping):
        raise ScreeningAnswerError("answers", "answers must be an object of item: answer")
    known = set(q.keys) | {VERSION_KEY, HELP_KEY}
    for key in answers:
        if key not in known:
            q.item(str(key))  # not an item: raises, naming the key and the closest item
    version = answers.get(VERSION_KEY)
    if version is not None and version != q.version:
        raise ScreeningAnswerError(
            VERSION_KEY, f"{VERSION_KEY}: the answers are for {version!r}; this screening is {q.version}"
        )
    missing = [k for k in q.keys if k not in answers]
    if len(missing) == 1:
        it = q.item(missing[0])
        raise ScreeningAnswerError(it.key, f"item {it.key} is missing: expected {it.expects}")
    if missing:
        raise ScreeningAnswerError(missing[0], f"{len(missing)} items are missing: {', '.join(missing)}")
    blank = [it.key for it in q.items if answers[it.key] is None and not it.nullable]
    if len(blank) > 1:  # e.g. a template filled in part: name them all at once
        raise ScreeningAnswerError(blank[0], f"{len(blank)} items have no answer: {', '.join(blank)}")
    normal = {it.key: _check_value(it, answers[it.key]) for it in q.items}
    _check_pairs(q, normal)
    return normal


def parse_answer(key: str, text: str, *, given: Mapping[str, AnswerValue] | None = None) -> AnswerValue:
    """One typed answer (interactive mode) as a normalised value, checked against ``given`` answers.

    Yes/no accepts y/yes/n/no; a choice its value or its number in the list; a number a decimal, or an
    empty line / "none" for an item that allows none.
    """
    it = load_questionnaire().item(key)
    raw = text.strip()
    value: Any = raw
    if it.type is ItemType.CHOICE and raw.isdigit() and 1 <= int(raw) <= len(it.choices):
        value = it.choices[int(raw) - 1].value
    elif it.type is ItemType.NUMBER:
        if raw.lower() in ("", "none", "null"):
            value = None
        else:
            try:
                value = float(raw)
            except ValueError:
                raise ScreeningAnswerError(key, f"item {key} must be {it.expects}, got {raw!r}") from None
    elif raw == "":
        value = None
    normal = _check_value(it, value)
    if given is not None:  # checks both ways: `key` may be the upper bound of an item already given
        _check_pairs(load_questionnaire(), {**given, key: normal})
    return normal


def answers_fingerprint(answers: Mapping[str, Any]) -> str:
    """sha256 of the normalised answers and the questionnaire version: equal iff the answers mean the same."""
    return _fingerprint(load_questionnaire().version, normalise_answers(answers))


def _fingerprint(version: str, normal: Mapping[str, AnswerValue]) -> str:
    payload = json.dumps(
        {VERSION_KEY: version, "answers": dict(normal)}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def template() -> dict[str, Any]:
    """An answers file to fill in: every item null, plus ``_help`` with each question and what to answer."""
    q = load_questionnaire()
    out: dict[str, Any] = {VERSION_KEY: q.version}
    out.update({key: None for key in q.keys})
    out[HELP_KEY] = {it.key: f"{it.question} Answer: {it.expects}." for it in q.items}
    return out


# ------------------------------------------------------------------------------------ findings, result


@dataclass(frozen=True)
class Finding:
    """One answer that restricts inversion: what the questionnaire says and what a clinician decided."""

    item: str
    finding_class: FindingClass
    reason: str
    source: str
    red_flag: bool = False
    seek_care_now: str | None = None
    overridable: bool = True
    effective_class: FindingClass | None = None  # None: the questionnaire's class stands
    cleared_by: str | None = None
    cleared_at: datetime | None = None
    clearance_reason: str | None = None

    @property
    def current_class(self) -> FindingClass:
        """The class that counts for the decision: the clinician's, else the questionnaire's."""
        return self.effective_class or self.finding_class

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON values; ``item``, ``class``, ``reason`` and ``source`` are the contract."""
        return {
            "item": self.item,
            "class": self.finding_class.value,
            "reason": self.reason,
            "source": self.source,
            "effective_class": self.current_class.value,
            "red_flag": self.red_flag,
            "seek_care_now": self.seek_care_now,
            "overridable": self.overridable,
            "cleared_by": self.cleared_by,
            "cleared_at": None if self.cleared_at is None else self.cleared_at.isoformat(),
            "clearance_reason": self.clearance_reason,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Finding:
        """Read back :meth:`to_dict`."""
        try:
            at = raw.get("cleared_at")
            effective = FindingClass(raw.get("effective_class") or raw["class"])
            return cls(
                item=str(raw["item"]),
                finding_class=FindingClass(raw["class"]),
                reason=str(raw["reason"]),
                source=str(raw["source"]),
                red_flag=bool(raw.get("red_flag", False)),
                seek_care_now=raw.get("seek_care_now"),
                overridable=bool(raw.get("overridable", True)),
                effective_class=None if effective.value == raw["class"] else effective,
                cleared_by=raw.get("cleared_by"),
                cleared_at=None if at is None else datetime.fromisoformat(at),
                clearance_reason=raw.get("clearance_reason"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScreeningError(f"not a screening finding: {exc}") from None


_RANK: Final = {
    FindingClass.BLOCK: (3, Decision.BLOCKED),
    FindingClass.CLEAR: (2, Decision.NEEDS_CLEARANCE),
    FindingClass.CAUTION: (1, Decision.CAUTION),
    FindingClass.CLEARED: (0, Decision.OK),
}


def _decide(findings: Sequence[Finding]) -> Decision:
    """blocked > needs_clearance > caution > ok, over the findings' current classes."""
    return max((_RANK[f.current_class] for f in findings), default=(0, Decision.OK))[1]


@dataclass(frozen=True)
class ScreeningResult:
    """The outcome of one screening: decision, findings, version, dates, answers and their fingerprint."""

    decision: Decision
    findings: tuple[Finding, ...]
    screening_version: str
    screened_on: date
    expires_on: date
    answers_fingerprint: str
    answers: Mapping[str, AnswerValue] = field(default_factory=dict)
    settings: ScreeningSettings = DEFAULT_SETTINGS

    @property
    def seek_care_now(self) -> list[str]:
        """Messages of the red flags found: the person must seek care, not invert."""
        return [f.seek_care_now for f in self.findings if f.red_flag and f.seek_care_now]

    def finding(self, item: str) -> Finding | None:
        """The finding for ``item``, or None when that answer restricts nothing."""
        return next((f for f in self.findings if f.item == item), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON values; ``decision``, ``findings`` and ``screening_version`` are the CLI contract."""
        return {
            "decision": self.decision.value,
            "findings": [f.to_dict() for f in self.findings],
            "screening_version": self.screening_version,
            "seek_care_now": self.seek_care_now,
            "screened_on": self.screened_on.isoformat(),
            "expires_on": self.expires_on.isoformat(),
            "answers_fingerprint": self.answers_fingerprint,
            "answers": dict(self.answers),
            "settings": self.settings.to_dict(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ScreeningResult:
        """Read back :meth:`to_dict` (for a stored screening)."""
        try:
            findings = tuple(Finding.from_dict(f) for f in raw["findings"])
            result = cls(
                decision=Decision(raw["decision"]),
                findings=findings,
                screening_version=str(raw["screening_version"]),
                screened_on=date.fromisoformat(raw["screened_on"]),
                expires_on=date.fromisoformat(raw["expires_on"]),
                answers_fingerprint=str(raw["answers_fingerprint"]),
                answers=dict(raw.get("answers", {})),
                settings=ScreeningSettings(**raw.get("settings", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ScreeningError):
                raise
            raise ScreeningError(f"not a screening result: {exc}") from None
        if result.decision is not _decide(findings):
            raise ScreeningError("not a screening result: the decision does not follow from the findings")
        return result


def _findings(
    q: Questionnaire, normal: Mapping[str, AnswerValue], settings: ScreeningSettings
) -> list[Finding]:
    out: list[Finding] = []
    for it in q.items:
        value = normal[it.key]
        outcome: Outcome | None = None
        reason = ""
        if it.type is ItemType.YES_NO and value is True:
            outcome = it.if_yes
        elif it.type is ItemType.CHOICE:
            outcome = next(c.outcome for c in it.choices if c.value == value)
        elif it.type is ItemType.NUMBER and isinstance(value, float):
            rule = next((r for r in it.rules if r.applies(value, settings)), None)
            if rule is not None:
                outcome = rule.outcome
                reason = outcome.reason.format(value=value, limit=settings.limit(rule.setting))
        if outcome is None:
            continue
        out.append(
            Finding(
                item=it.key,
                finding_class=outcome.finding_class,
                reason=reason or outcome.reason,
                source=outcome.source,
                red_flag=it.red_flag,
                seek_care_now=it.seek_care_now,
                overridable=it.overridable,
            )
        )
    return out


def screen(
    answers: Mapping[str, Any], *, today: date | None = None, settings: ScreeningSettings = DEFAULT_SETTINGS
) -> ScreeningResult:
    """Screen one person's answers: findings in question order and the decision they lead to.

    ``today`` is the screening date (default: today); the result expires ``settings.expiry_days`` later.
    """
    q = load_questionnaire()
    normal = normalise_answers(answers)
    day = today or date.today()
    findings = tuple(_findings(q, normal, settings))
    return ScreeningResult(
        decision=_decide(findings),
        findings=findings,
        screening_version=q.version,
        screened_on=day,
        expires_on=day + timedelta(days=settings.expiry_days),
        answers_fingerprint=_fingerprint(q.version, normal),
        answers=normal,
        settings=settings,
    )


# ------------------------------------------------------------------------------------------- overrides


@dataclass(frozen=True)
class Override:
    """A clinician's documented decision on one finding: who, when, why, and the class it now has.

    ``new_class`` is ``cleared`` (inversion allowed as far as this finding goes) or ``caution`` (allowed,
    warn and monitor). A blank reason or clinician, or a time without a time zone, raises ScreeningError.
    """

    item: str
    reason: str
    clinician: str
    at: datetime
    new_class: FindingClass = FindingClass.CLEARED

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ScreeningError(f"override of item {self.item}: a reason is required (who, when and why)")
        if not isinstance(self.clinician, str) or not self.clinician.strip():
            raise ScreeningError(f"override of item {self.item}: the clinician is required")
        if not isinstance(self.at, datetime) or self.at.utcoffset() is None:
            raise ScreeningError(f"override of item {self.item}: at must be a datetime with a time zone")
        try:
            new_class = FindingClass(self.new_class)
        except ValueError:
            new_class = FindingClass.BLOCK  # rejected just below
        if new_class not in (FindingClass.CLEARED, FindingClass.CAUTION):
            raise ScreeningError(
                f"override of item {self.item}: new_class must be cleared or caution, got {self.new_class!r}"
            )
        object.__setattr__(self, "new_class", new_class)


def _override_one(result: ScreeningResult, finding: Finding, ov: Override) -> Finding:
    if finding.red_flag:
        raise ScreeningError(
            f"item {ov.item} is a red flag: it needs medical care now, not clearance; it cannot be overridden"
        )
    if not finding.overridable:
        because = load_questionnaire().item(ov.item).not_overridable_because
        raise ScreeningError(f"item {ov.item} cannot be overridden: {because or 'not allowed'}")
    if finding.effective_class is not None:
        raise ScreeningError(
            f"item {ov.item} was already overridden by {finding.cleared_by}; screen again to start over"
        )
    if finding.finding_class is ov.new_class:
        raise ScreeningError(f"item {ov.item} is already a {ov.new_class.value} finding")
    day = ov.at.date()
    if day < result.screened_on or day >= result.expires_on:
        raise ScreeningError(
            f"override of item {ov.item} on {day} falls outside the screening's validity "
            f"({result.screened_on} to {result.expires_on - timedelta(days=1)})"
        )
    return replace(
        finding,
        effective_class=ov.new_class,
        cleared_by=ov.clinician.strip(),
        cleared_at=ov.at,
        clearance_reason=ov.reason.strip(),
    )


def apply_overrides(result: ScreeningResult, overrides: Sequence[Override]) -> ScreeningResult:
    """A new result with each clinician override recorded on its finding and the decision recomputed.

    Each override must name a finding of this screening, once; red flags and findings marked not
    overridable (the table's size limits) raise ScreeningError.
    """
    by_item: dict[str, Override] = {}
    for ov in overrides:
        if not isinstance(ov, Override):
            raise ScreeningError(f"expected an Override, got {type(ov).__name__}")
        if ov.item in by_item:
            raise ScreeningError(f"item {ov.item} has more than one override")
        if result.finding(ov.item) is None:
            raise ScreeningError(f"item {ov.item} has no finding in this screening to override")
        by_item[ov.item] = ov
    findings = tuple(
        _override_one(result, f, by_item[f.item]) if f.item in by_item else f for f in result.findings
    )
    return replace(result, findings=findings, decision=_decide(findings))


# ------------------------------------------------------------------------------- expiry and sessions


def is_expired(result: ScreeningResult, on: date) -> bool:
    """Whether the screening no longer holds on ``on``: valid from screened_on up to the day before
    expires_on (the default 90 days later)."""
    return on >= result.expires_on


def needs_rescreen(previous: ScreeningResult | str, new_answers: Mapping[str, Any]) -> bool:
    """Whether ``new_answers`` differ in meaning from those of ``previous`` (a result or its fingerprint),
    or the questionnaire version has changed since. Invalid new answers raise ScreeningAnswerError."""
    old = previous.answers_fingerprint if isinstance(previous, ScreeningResult) else previous
    if isinstance(previous, ScreeningResult) and previous.screening_version != load_questionnaire().version:
        return True
    return answers_fingerprint(new_answers) != old


@dataclass(frozen=True)
class SessionCheck:
    """Whether a session may go ahead today; the reasons if not, and cautions to show if it may."""

    allowed: bool
    reasons: tuple[str, ...]
    cautions: tuple[str, ...]
    seek_care_now: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON values."""
        return {
            "allowed": self.allowed,
            "reasons": list(self.reasons),
            "cautions": list(self.cautions),
            "seek_care_now": list(self.seek_care_now),
        }


def session_allowed(
    result: ScreeningResult, *, on: date, systolic_bp_mmhg: float, diastolic_bp_mmhg: float
) -> SessionCheck:
    """Check a session on day ``on`` against the screening and the blood pressure measured that day.

    Blocks when the screening is expired (or dated after the session), when its decision is blocked or
    needs_clearance, or when today's blood pressure is at or above the limits (default 140/90: 139/89
    passes). The limits are the settings the screening was made with; no override lifts the day's check.
    """
    q = load_questionnaire()
    sys_item, dia_item = q.item("systolic_bp_mmhg"), q.item("diastolic_bp_mmhg")
    sys_bp = _check_value(sys_item, systolic_bp_mmhg)
    dia_bp = _check_value(dia_item, diastolic_bp_mmhg)
    _check_pairs(q, {sys_item.key: sys_bp, dia_item.key: dia_bp})
    assert isinstance(sys_bp, float) and isinstance(dia_bp, float)
    s = result.settings
    reasons: list[str] = []
    if on < result.screened_on:
        reasons.append(f"the screening is dated {result.screened_on}, after this session ({on})")
    if is_expired(result, on):
        reasons.append(f"the screening expired on {result.expires_on}: screen again")
    for f in result.findings:
        if f.current_class is FindingClass.BLOCK:
            reasons.append(f"{f.item}: {f.reason}")
        elif f.current_class is FindingClass.CLEAR:
            reasons.append(f"{f.item} needs documented clinician clearance: {f.reason}")
    if sys_bp >= s.systolic_limit_mmhg or dia_bp >= s.diastolic_limit_mmhg:
        reasons.append(
            f"blood pressure today {sys_bp:g}/{dia_bp:g} mmHg is at or above "
            f"{s.systolic_limit_mmhg:g}/{s.diastolic_limit_mmhg:g}: no inversion today"
        )
    cautions = tuple(
        f"{f.item}: {f.reason}" for f in result.findings if f.current_class is FindingClass.CAUTION
    )
    return SessionCheck(
        allowed=not reasons,
        reasons=tuple(reasons),
        cautions=cautions,
        seek_care_now=tuple(result.seek_care_now),
    )
