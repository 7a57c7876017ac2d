"""Shared pieces of the command line: the input-error type, opening the store, person options."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from inversa.body import Person, PersonError
from inversa.store import Store, StoreError, current_revision, head_revision, make_engine, upgrade
from inversa.store.db import known_revisions

__all__ = [
    "AgeOption",
    "DatabaseOption",
    "HeightOption",
    "HoursOption",
    "InputError",
    "MassOption",
    "RestingBpOption",
    "RestingHrOption",
    "RestingIopOption",
    "SexOption",
    "describe_validation_error",
    "open_store",
    "parse_blood_pressure",
    "person_from_options",
]


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


# Person options shared by every command that simulates someone (simulate, limits, plan).
SexOption = Annotated[str, typer.Option("--sex", help="male or female")]
AgeOption = Annotated[float, typer.Option("--age", help="age in years (16-100)")]
HeightOption = Annotated[float, typer.Option("--height-cm", help="height in cm (120-230)")]
MassOption = Annotated[float, typer.Option("--mass-kg", help="body mass in kg (30-250)")]
HoursOption = Annotated[float, typer.Option("--hours-upright", help="hours upright since waking (0-24)")]
RestingBpOption = Annotated[
    str | None,
    typer.Option(
        "--resting-bp", help="resting blood pressure SYS/DIA in mmHg, e.g. 120/80", show_default=False
    ),
]
RestingHrOption = Annotated[
    float | None, typer.Option("--resting-hr", help="resting heart rate in bpm (35-120)", show_default=False)
]
RestingIopOption = Annotated[
    float | None,
    typer.Option("--resting-iop", help="resting eye pressure in mmHg (5-40)", show_default=False),
]

_PERSON_FLAGS: dict[str, str] = {
    "sex": "--sex",
    "age_years": "--age",
    "height_cm": "--height-cm",
    "mass_kg": "--mass-kg",
    "hours_upright_h": "--hours-upright",
    "resting_systolic_mmhg": "--resting-bp",
    "resting_diastolic_mmhg": "--resting-bp",
    "resting_heart_rate_bpm": "--resting-hr",
    "resting_iop_mmhg": "--resting-iop",
}


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
        raise InputError(f"{flag}: expected systolic/diastolic in mmHg, e.g. 120/80, got {text!r}") from None
    return systolic, diastolic


def person_from_options(
    sex: str,
    age: float,
    height_cm: float,
    mass_kg: float,
    hours_upright: float,
    resting_bp: str | None = None,
    resting_hr: float | None = None,
    resting_iop: float | None = None,
) -> Person:
    """The person from the command-line options; an error names the option, not the field."""
    systolic, diastolic = parse_blood_pressure(resting_bp)
    try:
        return Person.create(
            sex=sex,
            age_years=age,
            height_cm=height_cm,
            mass_kg=mass_kg,
            hours_upright_h=hours_upright,
            resting_systolic_mmhg=systolic,
            resting_diastolic_mmhg=diastolic,
            resting_heart_rate_bpm=resting_hr,
            resting_iop_mmhg=resting_iop,
        )
    except PersonError as exc:
        raise InputError(f"{_PERSON_FLAGS.get(exc.field, exc.field)}: {exc}") from None
