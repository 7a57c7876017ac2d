"""Blood redistribution, reflexes and eye pressure: a closed-loop pulsatile circulation model."""

from inversa.physiology.circulation.model import (
    CHAMBERS,
    COMPARTMENTS,
    EFFECTORS,
    PARAMS,
    REGIONS,
    STATE,
    VESSELS,
    CirculationParameters,
    build_parameters,
    nadler_blood_volume_ml,
)

__all__ = [
    "CHAMBERS",
    "COMPARTMENTS",
    "EFFECTORS",
    "PARAMS",
    "REGIONS",
    "STATE",
    "VESSELS",
    "CirculationParameters",
    "build_parameters",
    "nadler_blood_volume_ml",
]
