"""Parser of the Bluetooth Heart Rate Measurement characteristic (0x2A37, service 0x180D).

The Python twin of ``static/hrm.js``: same results, same error messages, checked by the same byte
fixtures (tests/fixtures/hrm_fixtures.json), so raw samples a phone uploads can be checked here.

Byte 0 holds the flags: bit 0 a 16-bit heart rate (else 8-bit); bits 1-2 sensor contact (0b10
supported, not in contact; 0b11 in contact; 0b0x not supported); bit 3 energy expended (uint16,
kJ) present; bit 4 RR intervals present, every remaining uint16 one interval in 1/1024 s. All
values are little-endian. Bits 5-7 are reserved and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "HEART_RATE_MEASUREMENT",
    "HEART_RATE_SERVICE",
    "HeartRateMeasurement",
    "HrmParseError",
    "parse_heart_rate_measurement",
    "parse_hex",
]

HEART_RATE_SERVICE = 0x180D
HEART_RATE_MEASUREMENT = 0x2A37

_HR_16BIT = 0x01
_CONTACT_SUPPORTED = 0x04
_CONTACT_DETECTED = 0x02
_ENERGY = 0x08
_RR = 0x10


class HrmParseError(ValueError):
    """A packet that does not hold what its flags announce (the message says what is missing)."""


@dataclass(frozen=True)
class HeartRateMeasurement:
    """One notification: heart rate (bpm), sensor contact (None: the strap cannot tell), energy
    expended since reset (kJ, None if absent) and the RR intervals in milliseconds."""

    heart_rate_bpm: int
    contact_detected: bool | None
    energy_expended_kj: int | None
    rr_intervals_ms: tuple[float, ...]

    def as_json(self) -> dict[str, Any]:
        """The same keys and values the JavaScript parser returns."""
        return {
            "heartRateBpm": self.heart_rate_bpm,
            "contactDetected": self.contact_detected,
            "energyExpendedKJ": self.energy_expended_kj,
            "rrIntervalsMs": list(self.rr_intervals_ms),
        }


def _uint16(data: bytes, offset: int, what: str) -> int:
    _need(data, offset, 2, what)
    return data[offset] | (data[offset + 1] << 8)


def _need(data: bytes, offset: int, size: int, what: str) -> None:
    if offset + size > len(data):
        raise HrmParseError(
            f"truncated packet: {what} needs bytes {offset}-{offset + size - 1} "
            f"but the packet has {len(data)} bytes"
        )


def parse_heart_rate_measurement(packet: bytes | bytearray | memoryview) -> HeartRateMeasurement:
    """Decode one 0x2A37 value; raises HrmParseError for empty, truncated or malformed packets."""
    data = bytes(packet)
    if not data:
        raise HrmParseError("empty packet: expected at least the flags byte and a heart rate")
    flags = data[0]
    offset = 1
    if flags & _HR_16BIT:
        heart_rate = _uint16(data, offset, "the 16-bit heart rate")
        offset += 2
    else:
        _need(data, offset, 1, "the 8-bit heart rate")
        heart_rate = data[offset]
        offset += 1
    contact = bool(flags & _CONTACT_DETECTED) if flags & _CONTACT_SUPPORTED else None
    energy = None
    if flags & _ENERGY:
        energy = _uint16(data, offset, "the energy expended")
        offset += 2
    rr: list[float] = []
    remaining = len(data) - offset
    if flags & _RR:
        if remaining % 2:
            raise HrmParseError(
                f"malformed packet: RR intervals take 2 bytes each but {remaining} bytes remain "
                f"after byte {offset - 1}"
            )
        rr = [_uint16(data, i, "an RR interval") * 1000 / 1024 for i in range(offset, len(data), 2)]
    elif remaining:
        raise HrmParseError(
            f"malformed packet: {remaining} unexpected byte(s) after byte {offset - 1} "
            "(the flags announce no RR intervals)"
        )
    return HeartRateMeasurement(heart_rate, contact, energy, tuple(rr))


def parse_hex(text: str) -> bytes:
    """Bytes from hex text such as ``"10 48 0a 04"`` (spaces, colons and dashes ignored)."""
    cleaned = "".join(ch for ch in text if ch not in " :-\t\n")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise HrmParseError(f"not hex bytes: {text!r}") from None
