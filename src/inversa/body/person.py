"""A person described by sex, age, height, mass and how long they have been upright today."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

__all__ = ["RANGES", "Person", "PersonError", "Sex"]


class Sex(StrEnum):
    """Sex as used by the anthropometric tables (de Leva 1996 gives male and female sets)."""

    MALE = "male"
    FEMALE = "female"


# Allowed ranges: (low, high, unit). The anthropometric and physiological sources cover adults in
# these ranges; outside them the engine would extrapolate silently, so it refuses instead.
RANGES: dict[str, tuple[float, float, str]] = {
    "age_years": (16.0, 100.0, "years"),
    "height_cm": (120.0, 230.0, "cm"),
    "mass_kg": (30.0, 250.0, "kg"),
    "hours_upright_h": (0.0, 24.0, "h"),
}


class PersonError(ValueError):
    """Invalid person data; the message names the field and its allowed range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _check_range(name: str, value: float) -> float:
    low, high, unit = RANGES[name]
    if not (low <= value <= high):  # also false for NaN
        raise ValueError(f"{name} must be between {low:g} and {high:g} {unit}, got {value:g}")
    return value


class Person(BaseModel):
    """One adult on the table. Values are as a person states them (height in cm, mass in kg)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sex: Sex
    age_years: float
    height_cm: float
    mass_kg: float
    hours_upright_h: float = 8.0

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in {"male", "female", "m", "f"}:
            v = value.strip().lower()
            return {"m": "male", "f": "female"}.get(v, v)
        if isinstance(value, Sex):
            return value
        raise ValueError(f"sex must be one of 'male' or 'female', got {value!r}")

    @field_validator("age_years", "height_cm", "mass_kg", "hours_upright_h")
    @classmethod
    def _in_range(cls, value: float, info: Any) -> float:
        return _check_range(str(info.field_name), float(value))

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """Build a person, turning pydantic's error into a PersonError that names the field."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "person"
            msg = str(err["msg"]).removeprefix("Value error, ")
            if field not in msg:
                msg = f"{field}: {msg}"
            raise PersonError(field, msg) from None

    @property
    def height_m(self) -> float:
        """Stature in metres (SI inside the engine)."""
        return self.height_cm / 100.0

    @property
    def weight_n(self) -> float:
        """Body weight in newtons (standard gravity)."""
        return self.mass_kg * STANDARD_GRAVITY_M_S2


STANDARD_GRAVITY_M_S2 = 9.80665
