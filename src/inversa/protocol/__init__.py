"""Tilt protocols: a small text language, typed pydantic twins, and exact angle(t) sampling.

Angles are degrees past horizontal, positive head-down: flat 0, hanging 90, standing -90.

>>> protocol = Protocol.parse("lie flat for 1 min; tilt to 60 deg over 10 s")
>>> float(protocol.timeline().angle_deg(65.0))
30.0
"""

from inversa.protocol.errors import ProtocolError
from inversa.protocol.model import (
    FLAT_ANGLE_DEG,
    MAX_ANGLE_DEG,
    MAX_DURATION_S,
    MAX_EXECUTED_STEPS,
    MAX_RATE_DEG_S,
    MIN_ANGLE_DEG,
    STAND_ANGLE_DEG,
    STANDARD_SESSION_TEXT,
    Hold,
    LieFlat,
    Oscillate,
    Protocol,
    Repeat,
    Stand,
    Start,
    Step,
    Tilt,
)
from inversa.protocol.timeline import LeafSpan, Timeline

__all__ = [
    "FLAT_ANGLE_DEG",
    "MAX_ANGLE_DEG",
    "MAX_DURATION_S",
    "MAX_EXECUTED_STEPS",
    "MAX_RATE_DEG_S",
    "MIN_ANGLE_DEG",
    "STANDARD_SESSION_TEXT",
    "STAND_ANGLE_DEG",
    "Hold",
    "LeafSpan",
    "LieFlat",
    "Oscillate",
    "Protocol",
    "ProtocolError",
    "Repeat",
    "Stand",
    "Start",
    "Step",
    "Tilt",
    "Timeline",
]
