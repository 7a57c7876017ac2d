"""Text form of protocols: split and match steps, and format them back, from one template table.

Parsing stops at syntax (and unit conversion); the result is a tree of ``ParsedStep`` whose
fields are named exactly like the pydantic model fields, so ``model.py`` can validate them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from inversa.protocol.errors import ProtocolError

# Each leaf step's canonical text. Placeholders ending in ``_deg`` are angles (unit optional when
# parsing), those ending in ``_s`` are durations (unit required); the word ``deg`` after an angle
# is the optional unit. The parser's regexes are generated from these, so both directions agree.
LEAF_TEMPLATES: dict[str, str] = {
    "start": "start at {angle_deg} deg",
    "stand": "stand for {duration_s}",
    "lie_flat": "lie flat for {duration_s}",
    "hold": "hold at {angle_deg} deg for {duration_s}",
    "tilt": "tilt to {to_angle_deg} deg over {duration_s}",
    "oscillate": ("oscillate between {angle_a_deg} and {angle_b_deg} deg every {period_s} for {duration_s}"),
}
REPEAT_USAGE = "repeat <n> times: (<step>; <step>; ...)"

DURATION_UNITS_S: dict[str, float] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
_ANGLE_UNIT = r"(?:°|deg(?:ree)?s?)"
_DURATION_UNIT = "(?:" + "|".join(sorted(DURATION_UNITS_S, key=len, reverse=True)) + r")\b"
_REPEAT = re.compile(
    rf"repeat\s+(?P<times>{_NUMBER})\s+times?\s*:?\s*\((?P<body>.*)\)", re.IGNORECASE | re.DOTALL
)
_DURATION_HINT = "durations are a number with s, min or h, e.g. 20 s, 1.5 min, 1 h"


@dataclass(frozen=True)
class ParsedStep:
    """One step as written: its text, 1-based (dotted) position, model fields and repeat body."""

    text: str
    position: tuple[int, ...]
    fields: Mapping[str, str | float | int]
    body: tuple[ParsedStep, ...] = ()


def _template_regex(template: str) -> re.Pattern[str]:
    """Compile a leaf template into a case-insensitive, whitespace-tolerant regex."""
    parts: list[str] = []
    for word in template.split():
        name = word.strip("{}")
        if word == "deg":
            continue  # folded into the preceding angle as an optional unit
        if word.startswith("{") and name.endswith("_deg"):
            parts.append(rf"(?P<{name}>{_NUMBER})(?:\s*{_ANGLE_UNIT})?")
        elif word.startswith("{"):
            parts.append(rf"(?P<{name}>{_NUMBER})\s*(?P<{name}__unit>{_DURATION_UNIT})")
        else:
            parts.append(re.escape(word))
    return re.compile(r"\s+".join(parts), re.IGNORECASE)


def _usage(template: str) -> str:
    """Human form of a template, e.g. ``hold at <angle> deg for <duration>``."""
    text = re.sub(r"\{\w+_deg\}", "<angle>", template)
    return re.sub(r"\{\w+_s\}", "<duration>", text)


_LEAF_PATTERNS = {kind: _template_regex(t) for kind, t in LEAF_TEMPLATES.items()}
_USAGE_BY_KEYWORD = {t.split()[0]: _usage(t) for t in LEAF_TEMPLATES.values()}
_USAGE_BY_KEYWORD["repeat"] = REPEAT_USAGE


# --------------------------------------------------------------------------- formatting


def format_number(value: float) -> str:
    """Shortest text that reads back as exactly ``value``: ``60`` not ``60.0``, else repr."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def format_duration(seconds: float) -> str:
    """Duration in h if a whole number of hours, else min if whole minutes, else s."""
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds % size == 0:
            return f"{format_number(seconds / size)} {unit}"
    return f"{format_number(seconds)} s"


def format_leaf(kind: str, fields: Mapping[str, float]) -> str:
    """Canonical text of a leaf step from its model fields (angles in deg, durations in s)."""
    texts = {
        name: format_duration(value) if name.endswith("_s") else format_number(value)
        for name, value in fields.items()
    }
    return LEAF_TEMPLATES[kind].format(**texts)


def format_repeat(times: int, body_texts: Sequence[str]) -> str:
    """Canonical one-line text of a repeat around already formatted body steps."""
    return f"repeat {times} {'time' if times == 1 else 'times'}: ({'; '.join(body_texts)})"


# --------------------------------------------------------------------------- parsing


def parse_text(text: str) -> list[ParsedStep]:
    """Split protocol text into parsed steps; raises ProtocolError on any syntax problem."""
    without_comments = re.sub(r"#[^\n]*", "", text)
    return _parse_block(without_comments, ())


def _parse_block(text: str, prefix: tuple[int, ...]) -> list[ParsedStep]:
    """Parse a ``;``/newline separated sequence of steps (top level or a repeat body)."""
    chunks = _split_steps(text, prefix)
    return [_parse_step(chunk, (*prefix, i)) for i, chunk in enumerate(chunks, start=1)]


def _split_steps(text: str, prefix: tuple[int, ...]) -> list[str]:
    """Split at ``;`` and newlines that are not inside parentheses; drop blank steps."""
    chunks: list[str] = []
    current: list[str] = []
    depth = 0

    def close_chunk() -> None:
        chunk = "".join(current).strip()
        if chunk:
            chunks.append(chunk)
        current.clear()

    def unbalanced(reason: str) -> ProtocolError:
        shown = " ".join("".join(current).split())
        return ProtocolError(reason, step_text=shown, position=(*prefix, len(chunks) + 1))

    for char in text:
        if char in ";\n" and depth == 0:
            close_chunk()
            continue
        current.append(char)
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise unbalanced('unexpected ")" without a matching "("')
    if depth > 0:
        raise unbalanced('"(" is never closed with ")"')
    close_chunk()
    return chunks


def _parse_step(chunk: str, position: tuple[int, ...]) -> ParsedStep:
    """Parse one step (a leaf, or a repeat with its body) at the given position."""
    shown = " ".join(chunk.split())
    repeat = _REPEAT.fullmatch(chunk)
    if repeat:
        times = float(repeat["times"])
        if not times.is_integer():
            raise ProtocolError(
                f"repeat count must be a whole number, got {repeat['times']}",
                step_text=shown,
                position=position,
            )
        body = _parse_block(repeat["body"], position)
        return ParsedStep(shown, position, {"kind": "repeat", "times": int(times)}, tuple(body))
    for kind, pattern in _LEAF_PATTERNS.items():
        match = pattern.fullmatch(shown)
        if match:
            return ParsedStep(shown, position, {"kind": kind, **_values(match)})
    raise ProtocolError(_expectation(shown), step_text=shown, position=position)


def _values(match: re.Match[str]) -> dict[str, float]:
    """Numbers captured by a leaf regex, durations converted to seconds."""
    groups = match.groupdict()
    values: dict[str, float] = {}
    for name, text in groups.items():
        if name.endswith("__unit") or text is None:
            continue
        unit = groups.get(f"{name}__unit")
        values[name] = float(text) * (DURATION_UNITS_S[unit.lower()] if unit else 1.0)
    return values


def _expectation(shown: str) -> str:
    """Say what a step starting like ``shown`` should have looked like."""
    keyword = shown.split()[0].lower() if shown else ""
    usage = _USAGE_BY_KEYWORD.get(keyword)
    if usage is not None:
        hint = f" ({_DURATION_HINT})" if "<duration>" in usage else ""
        return f'expected "{usage}"{hint}'
    known = ", ".join(f'"{u}"' for u in _USAGE_BY_KEYWORD.values())
    return f"expected one of {known}"
