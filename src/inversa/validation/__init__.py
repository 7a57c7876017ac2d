"""Published datasets (cited CSV files) and the code that compares the engine with them."""

from inversa.validation.runner import (
    Outcome,
    ValidationRow,
    known_misses,
    load_rows,
    render_markdown,
    run_all,
    run_row,
)

__all__ = [
    "Outcome",
    "ValidationRow",
    "known_misses",
    "load_rows",
    "render_markdown",
    "run_all",
    "run_row",
]
