"""A typed wrapper around numba's njit, so compiled functions keep their signatures for mypy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["jit"]


def jit(fn: F) -> F:
    """Compile ``fn`` in nopython mode with the on-disk cache; the Python original stays usable."""
    return cast(F, numba.njit(cache=True, fastmath=False)(fn))
