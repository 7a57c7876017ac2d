"""Shared pieces of the command line: the input-error type and opening the store."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from inversa.store import Store, StoreError, current_revision, head_revision, make_engine, upgrade
from inversa.store.db import known_revisions

__all__ = ["DatabaseOption", "InputError", "describe_validation_error", "open_store"]


class InputError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="database URL (default: $INVERSA_DATABASE_URL, else an embedded SQLite file)",
        show_default=False,
    ),
]


def open_store(url: str | None) -> Store:
    """Open the store; a brand-new database gets the schema, an old one must be upgraded."""
    try:
        engine = make_engine(url)
        revision = current_revision(engine)
    except Exception as exc:  # driver errors vary: report them in one line
        raise StoreError(
            f"cannot open the database: {exc.__class__.__name__}: {exc}".splitlines()[0]
        ) from None
    if revision is None:
        upgrade(engine)
    elif revision != head_revision():
        if revision not in known_revisions():
            raise StoreError(
                f"the database's schema revision {revision} is newer than this Inversa: upgrade Inversa"
            )
        raise StoreError(f"the database is at schema revision {revision}; run `inversa db upgrade`")
    return Store(engine)


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """The first problem of a pydantic error, as `field: message`."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "input"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{prefix}{field}: {msg}"


def parse_blood_pressure(text: str | None, flag: str = "--resting-bp") -> tuple[float | None, float | None]:
    """'120/80' -> (120.0, 80.0); None -> (None, None); anything else is an InputError naming the flag."""
    if text is None:
        return None, None
    parts = text.replace(" ", "").split("/")
    try:
        if len(parts) != 2:
            raise ValueError
        systolic, diastolic = float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError(f"{flag}: give systolic/diastolic in mmHg, like 120/80, got {text!r}") from None
    return systolic, diastolic
