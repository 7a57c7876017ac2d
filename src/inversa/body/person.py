"""A person described by sex, age, height, mass and how long they have been upright today."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

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
    "resting_systolic_mmhg": (80.0, 220.0, "mmHg"),
    "resting_diastolic_mmhg": (40.0, 130.0, "mmHg"),
    "resting_heart_rate_bpm": (35.0, 120.0, "bpm"),
    "resting_iop_mmhg": (5.0, 40.0, "mmHg"),
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
    #: Measured resting values, when known (seated clinic readings; the engine takes them lying flat).
    resting_systolic_mmhg: float | None = None
    resting_diastolic_mmhg: float | None = None
    resting_heart_rate_bpm: float | None = None
    resting_iop_mmhg: float | None = None

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

    @field_validator(
        "resting_systolic_mmhg", "resting_diastolic_mmhg", "resting_heart_rate_bpm", "resting_iop_mmhg"
    )
    @classmethod
    def _optional_in_range(cls, value: float | None, info: Any) -> float | None:
        return None if value is None else _check_range(str(info.field_name), float(value))

    @model_validator(mode="after")
    def _blood_pressure_pair(self) -> Self:
        sys_, dia = self.resting_systolic_mmhg, self.resting_diastolic_mmhg
        if (sys_ is None) != (dia is None):
            raise ValueError("resting_systolic_mmhg: give systolic and diastolic resting pressure together")
        if sys_ is not None and dia is not None and sys_ - dia < 10.0:
            raise ValueError(
                f"resting_systolic_mmhg: systolic ({sys_:g}) must exceed diastolic ({dia:g}) "
                "by at least 10 mmHg"
            )
        return self

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """Build a person, turning pydantic's error into a PersonError that names the field."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            msg = str(err["msg"]).removeprefix("Value error, ")
            field = ".".join(str(p) for p in err["loc"]) or msg.split(":", 1)[0]
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
