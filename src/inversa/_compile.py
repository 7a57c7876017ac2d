"""A typed wrapper around numba's njit, so compiled functions keep their signatures for mypy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["jit", "jit_uncached"]


def jit(fn: F) -> F:
    """Compile ``fn`` in nopython mode with the on-disk cache; the Python original stays usable.

    Only for leaf functions that call no other compiled function: numba's cache does not notice
    when a compiled callee defined in another file changes, so composite kernels use
    ``jit_uncached`` and are compiled afresh in each process.
    """
    return cast(F, numba.njit(cache=True, fastmath=False)(fn))


def jit_uncached(fn: F) -> F:
    """Compile without the on-disk cache: for kernels that call or take other compiled functions
    (the cache would not see their changes, and cannot pickle function-typed arguments)."""
    return cast(F, numba.njit(cache=False, fastmath=False)(fn))
