"""Typed protocol steps (pydantic v2) and the cross-step checks that make a protocol runnable.

Angles are degrees past horizontal, positive head-down (flat 0, hanging 90, standing -90);
durations are seconds. Field names carry their unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from inversa.protocol.errors import ProtocolError
from inversa.protocol.grammar import ParsedStep, format_leaf, format_repeat, parse_text

if TYPE_CHECKING:
    from inversa.protocol.timeline import Timeline

MIN_ANGLE_DEG = -90.0
MAX_ANGLE_DEG = 90.0
STAND_ANGLE_DEG = -90.0
FLAT_ANGLE_DEG = 0.0
MAX_RATE_DEG_S = 30.0
MAX_DURATION_S = 24 * 3600.0
MAX_EXECUTED_STEPS = 100_000
# Relative slack on rate limits so a ramp at exactly 30 deg/s survives float rounding.
_RATE_TOLERANCE = 1e-9

STANDARD_SESSION_TEXT = """\
stand for 1 min
tilt to 0 deg over 15 s
lie flat for 1 min
tilt to 60 deg over 10 s
hold at 60 deg for 3 min
tilt to 0 deg over 10 s
lie flat for 2 min
tilt to -90 deg over 15 s
stand for 2 min"""


def _check_angle(value: float) -> float:
    """Reject angles the table cannot reach."""
    if not MIN_ANGLE_DEG <= value <= MAX_ANGLE_DEG:
        raise ValueError(f"angle {value:g} deg is outside the table's range [-90, 90] deg")
    return value


def _check_duration(value: float) -> float:
    """Reject zero or negative durations."""
    if not value > 0:
        raise ValueError(f"duration must be positive, got {value:g} s")
    return value


def _check_period(value: float) -> float:
    """Reject zero or negative oscillation periods."""
    if not value > 0:
        raise ValueError(f"period must be positive, got {value:g} s")
    return value


def _check_times(value: int) -> int:
    """A repeat must run its body at least once."""
    if value < 1:
        raise ValueError(f"repeat count must be at least 1, got {value}")
    return value


def _check_body(value: list[Step]) -> list[Step]:
    """A repeat must have something to repeat."""
    if not value:
        raise ValueError("a repeat needs at least one step in its parentheses")
    return value


AngleDeg = Annotated[float, AfterValidator(_check_angle)]
DurationS = Annotated[float, AfterValidator(_check_duration)]
PeriodS = Annotated[float, AfterValidator(_check_period)]


def _rate_text(rate: float) -> str:
    """Rate with one decimal, or exact when rounding would hide that it exceeds the limit."""
    short = f"{rate:.1f}"
    return short if float(short) > MAX_RATE_DEG_S else repr(rate)


def _too_fast(rate_deg_s: float) -> bool:
    """Whether a rate exceeds the table's limit (beyond float rounding)."""
    return rate_deg_s > MAX_RATE_DEG_S * (1 + _RATE_TOLERANCE)


def implied_move_s(from_deg: float, to_deg: float) -> float:
    """Time the table needs to move between two angles at its maximum rate."""
    return abs(to_deg - from_deg) / MAX_RATE_DEG_S


class _Model(BaseModel):
    """Shared config: immutable, strict about unknown keys, finite numbers only."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class _Leaf(_Model):
    """A step that is not a repeat; its text comes straight from the grammar's template."""

    def to_text(self) -> str:
        """Canonical text of this step, e.g. ``hold at 60 deg for 3 min``."""
        fields = self.model_dump()
        return format_leaf(fields.pop("kind"), fields)


class Start(_Leaf):
    """Sets the initial angle without taking time; only allowed as the very first step."""

    kind: Literal["start"] = "start"
    angle_deg: AngleDeg


class Stand(_Leaf):
    """Hold upright (-90 deg) for a while."""

    kind: Literal["stand"] = "stand"
    duration_s: DurationS

    @property
    def angle_deg(self) -> float:
        """The held angle: standing upright."""
        return STAND_ANGLE_DEG


class LieFlat(_Leaf):
    """Hold horizontal (0 deg) for a while."""

    kind: Literal["lie_flat"] = "lie_flat"
    duration_s: DurationS

    @property
    def angle_deg(self) -> float:
        """The held angle: flat."""
        return FLAT_ANGLE_DEG


class Hold(_Leaf):
    """Hold an angle; a different current angle is first reached at the maximum rate."""

    kind: Literal["hold"] = "hold"
    angle_deg: AngleDeg
    duration_s: DurationS


class Tilt(_Leaf):
    """Linear ramp from the current angle to ``to_angle_deg`` over ``duration_s``."""

    kind: Literal["tilt"] = "tilt"
    to_angle_deg: AngleDeg
    duration_s: DurationS


class Oscillate(_Leaf):
    """Cosine cycle a -> b -> a with full period ``period_s``, run for ``duration_s``."""

    kind: Literal["oscillate"] = "oscillate"
    angle_a_deg: AngleDeg
    angle_b_deg: AngleDeg
    period_s: PeriodS
    duration_s: DurationS

    @property
    def peak_rate_deg_s(self) -> float:
        """Fastest rate in the cycle: pi * |b - a| / period."""
        return math.pi * abs(self.angle_b_deg - self.angle_a_deg) / self.period_s

    @model_validator(mode="after")
    def _check_peak_rate(self) -> Self:
        """The cycle itself must respect the table's rate limit."""
        if _too_fast(self.peak_rate_deg_s):
            raise ValueError(
                f"oscillating between {self.angle_a_deg:g} and {self.angle_b_deg:g} deg every "
                f"{self.period_s:g} s peaks at {_rate_text(self.peak_rate_deg_s)} deg/s, "
                f"faster than the {MAX_RATE_DEG_S:g} deg/s limit"
            )
        return self

    def angle_at_deg(self, phase_s: float) -> float:
        """Angle ``phase_s`` seconds into the cycle (after any implied move)."""
        swing = (1.0 - math.cos(2.0 * math.pi * phase_s / self.period_s)) / 2.0
        return self.angle_a_deg + (self.angle_b_deg - self.angle_a_deg) * swing


class Repeat(_Model):
    """Run ``steps`` ``times`` times in a row; repeats may nest."""

    kind: Literal["repeat"] = "repeat"
    times: Annotated[int, AfterValidator(_check_times)]
    steps: Annotated[list[Step], AfterValidator(_check_body)]

    def to_text(self) -> str:
        """Canonical one-line text, e.g. ``repeat 3 times: (hold at 30 deg for 30 s; ...)``."""
        return format_repeat(self.times, [step.to_text() for step in self.steps])


Step = Annotated[Start | Stand | LieFlat | Hold | Tilt | Oscillate | Repeat, Field(discriminator="kind")]
LeafStep = Stand | LieFlat | Hold | Tilt | Oscillate
Repeat.model_rebuild()


class Protocol(_Model):
    """A whole session: steps run in order, checked as a sequence against the table's limits."""

    steps: list[Step]

    @model_validator(mode="after")
    def _check_sequence(self) -> Self:
        """Run the cross-step checks (rates from the actual current angle, totals, placement)."""
        check_steps(self.steps)
        return self

    @classmethod
    def parse(cls, text: str) -> Protocol:
        """Read protocol text; any problem raises ProtocolError quoting the step as written."""
        parsed = parse_text(text)
        steps = [_build_step(p) for p in parsed]
        try:
            return cls(steps=steps)
        except ValidationError:
            check_steps(steps, sources=_source_texts(parsed))
            raise  # pragma: no cover - check_steps raises first

    def to_text(self) -> str:
        """Canonical text: one top-level step per line; ``parse`` reads it back exactly."""
        return "\n".join(step.to_text() for step in self.steps)

    def timeline(self) -> Timeline:
        """Angle over time as an immutable, vectorised timeline (built once, then cached)."""
        return self._timeline

    @cached_property
    def _timeline(self) -> Timeline:
        # Imported here: timeline.py builds on this module.
        from inversa.protocol.timeline import build_timeline

        return build_timeline(self.steps)


# --------------------------------------------------------------------------- parse support


def _build_step(parsed: ParsedStep) -> Step:
    """Validate one parsed step into its model, turning field errors into ProtocolError."""
    fields: dict[str, object] = dict(parsed.fields)
    if parsed.fields["kind"] == "repeat":
        fields["steps"] = [_build_step(child) for child in parsed.body]
    step_type = _STEP_TYPES[str(parsed.fields["kind"])]
    try:
        return step_type.model_validate(fields)
    except ValidationError as exc:
        raise ProtocolError(_first_reason(exc), step_text=parsed.text, position=parsed.position) from None


_STEP_TYPES: dict[str, type[Start | Stand | LieFlat | Hold | Tilt | Oscillate | Repeat]] = {
    "start": Start,
    "stand": Stand,
    "lie_flat": LieFlat,
    "hold": Hold,
    "tilt": Tilt,
    "oscillate": Oscillate,
    "repeat": Repeat,
}


def _first_reason(exc: ValidationError) -> str:
    """Our own message for a failed validator, else ``field: pydantic's message``."""
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ValueError):
        return str(cause)
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {error['msg']}" if field else error["msg"]


def _source_texts(parsed: Sequence[ParsedStep]) -> dict[tuple[int, ...], str]:
    """Map each step's 0-based path to its text as written."""
    texts: dict[tuple[int, ...], str] = {}
    for step in parsed:
        texts[tuple(p - 1 for p in step.position)] = step.text
        texts.update(_source_texts(step.body))
    return texts


# --------------------------------------------------------------------------- execution walk


@dataclass(frozen=True, slots=True)
class ExecutedLeaf:
    """One leaf step as it actually runs: repeats unrolled, with the angle it starts from."""

    step: LeafStep
    path: tuple[int, ...]
    repetition: tuple[int, ...]
    start_angle_deg: float


def initial_angle_deg(steps: Sequence[Step]) -> float:
    """``start at`` if given, else the first step's own angle; a leading tilt starts standing."""
    if not steps:
        return STAND_ANGLE_DEG
    first = steps[0]
    if isinstance(first, Repeat):
        return initial_angle_deg(first.steps)
    if isinstance(first, Tilt):
        return STAND_ANGLE_DEG
    if isinstance(first, Oscillate):
        return first.angle_a_deg
    return first.angle_deg


def leaf_end_angle_deg(step: LeafStep, start_angle_deg: float) -> float:
    """Angle at the end of a leaf step that began at ``start_angle_deg``."""
    if isinstance(step, Tilt):
        return step.to_angle_deg
    if isinstance(step, Oscillate):
        move_s = min(implied_move_s(start_angle_deg, step.angle_a_deg), step.duration_s)
        return step.angle_at_deg(step.duration_s - move_s)
    return step.angle_deg


def executed_leaves(steps: Sequence[Step]) -> Iterator[ExecutedLeaf]:
    """Walk the protocol as it runs, yielding each leaf with its path and start angle."""
    angle = initial_angle_deg(steps)

    def walk(
        block: Sequence[Step], prefix: tuple[int, ...], repetition: tuple[int, ...]
    ) -> Iterator[ExecutedLeaf]:
        nonlocal angle
        for index, step in enumerate(block):
            path = (*prefix, index)
            if isinstance(step, Repeat):
                for count in range(1, step.times + 1):
                    yield from walk(step.steps, path, (*repetition, count))
            elif not isinstance(step, Start):
                yield ExecutedLeaf(step, path, repetition, angle)
                angle = leaf_end_angle_deg(step, angle)

    yield from walk(steps, (), ())


def _all_steps(steps: Sequence[Step], prefix: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Step]]:
    """Every step in the nested structure (not unrolled), with its 0-based path."""
    for index, step in enumerate(steps):
        yield (*prefix, index), step
        if isinstance(step, Repeat):
            yield from _all_steps(step.steps, (*prefix, index))


def total_duration_s(steps: Sequence[Step]) -> float:
    """Total running time, repeats multiplied out."""
    total = 0.0
    for step in steps:
        if isinstance(step, Repeat):
            total += step.times * total_duration_s(step.steps)
        elif not isinstance(step, Start):
            total += step.duration_s
    return total


def executed_step_count(steps: Sequence[Step]) -> int:
    """Number of leaf steps run, repeats multiplied out."""
    count = 0
    for step in steps:
        if isinstance(step, Repeat):
            count += step.times * executed_step_count(step.steps)
        elif not isinstance(step, Start):
            count += 1
    return count


def _leaf_problem(step: LeafStep, start_angle_deg: float) -> str | None:
    """Why a leaf cannot run from ``start_angle_deg`` (too fast, too short), or None."""
    if isinstance(step, Tilt):
        rate = abs(step.to_angle_deg - start_angle_deg) / step.duration_s
        if _too_fast(rate):
            return f"tilting at {_rate_text(rate)} deg/s is faster than the {MAX_RATE_DEG_S:g} deg/s limit"
        return None
    target = step.angle_a_deg if isinstance(step, Oscillate) else step.angle_deg
    move_s = implied_move_s(start_angle_deg, target)
    if _too_fast(move_s * MAX_RATE_DEG_S / step.duration_s):
        return (
            f"{step.duration_s:g} s is shorter than the {move_s:g} s needed to move from "
            f"{start_angle_deg:g} to {target:g} deg at {MAX_RATE_DEG_S:g} deg/s"
        )
    return None


def check_steps(steps: Sequence[Step], sources: Mapping[tuple[int, ...], str] | None = None) -> None:
    """Raise ProtocolError unless the steps form a runnable protocol.

    ``sources`` maps 0-based step paths to the text as written, for quoting in messages;
    without it the canonical text is quoted.
    """

    def fail(reason: str, step: Step, path: tuple[int, ...], repetition: tuple[int, ...] = ()) -> NoReturn:
        text = sources.get(path) if sources else None
        raise ProtocolError(
            reason,
            step_text=text if text is not None else step.to_text(),
            position=tuple(i + 1 for i in path),
            repetition=repetition,
        )

    if all(isinstance(step, Start) for step in steps):
        raise ProtocolError("the protocol is empty: it needs at least one step that takes time")
    for path, step in _all_steps(steps):
        if isinstance(step, Start) and path != (0,):
            fail('"start at" is only allowed as the very first step', step, path)
    total_s = total_duration_s(steps)
    if total_s > MAX_DURATION_S:
        raise ProtocolError(
            f"the total duration of {total_s / 3600:g} h is over the {MAX_DURATION_S / 3600:g} h limit"
        )
    count = executed_step_count(steps)
    if count > MAX_EXECUTED_STEPS:
        raise ProtocolError(
            f"the protocol runs {count} steps once repeats are unrolled, "
            f"more than the limit of {MAX_EXECUTED_STEPS}"
        )
    for leaf in executed_leaves(steps):
        problem = _leaf_problem(leaf.step, leaf.start_angle_deg)
        if problem is not None:
            fail(problem, leaf.step, leaf.path, leaf.repetition)
