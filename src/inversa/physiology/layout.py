"""Named slices into flat per-person vectors, so compiled kernels can index state and parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Layout", "override_column"]


def override_column(value: Any, n: int, name: str) -> NDArray[np.float64]:
    """One parameter override per person (a scalar is repeated); a ValueError names a bad one."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"override {name!r} needs one value or one per person ({n}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"override {name!r} must be finite")
    return arr


@dataclass(frozen=True)
class Layout:
    """An ordered set of named blocks (size 1 for scalars) packed into one vector."""

    blocks: tuple[tuple[str, int], ...]
    offsets: dict[str, int] = field(init=False)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        offsets: dict[str, int] = {}
        pos = 0
        for name, length in self.blocks:
            offsets[name] = pos
            pos += length
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "size", pos)

    def __getitem__(self, name: str) -> int:
        return self.offsets[name]

    def span(self, name: str) -> slice:
        """The slice of a named block."""
        start = self.offsets[name]
        return slice(start, start + dict(self.blocks)[name])
