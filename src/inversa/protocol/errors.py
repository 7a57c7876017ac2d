"""The one error type raised for protocols that cannot be read or must not be run."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A protocol step that is unparsable, out of the table's limits, or inconsistent.

    The message names the offending step by its 1-based position (dotted inside repeats,
    e.g. ``step 2.1``) and quotes its text, so a user can find it in what they wrote.
    """

    def __init__(
        self,
        reason: str,
        *,
        step_text: str | None = None,
        position: tuple[int, ...] = (),
        repetition: tuple[int, ...] = (),
    ) -> None:
        self.reason = reason
        self.step_text = step_text
        self.position = position
        self.repetition = repetition
        super().__init__(_compose(reason, step_text, position, repetition))


def _compose(
    reason: str, step_text: str | None, position: tuple[int, ...], repetition: tuple[int, ...]
) -> str:
    """Build ``step 3 "tilt to ..." (repetition 2): reason`` from whatever is known."""
    where: list[str] = []
    if position:
        where.append("step " + ".".join(str(p) for p in position))
    if step_text is not None:
        where.append(f'"{step_text}"')
    if any(r > 1 for r in repetition):
        where.append("(repetition " + ".".join(str(r) for r in repetition) + ")")
    return f"{' '.join(where)}: {reason}" if where else reason
