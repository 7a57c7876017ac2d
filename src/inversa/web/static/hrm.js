// Parser of the Bluetooth Heart Rate Measurement characteristic (0x2A37, service 0x180D).
// Twin of src/inversa/web/hrm.py: same results and error messages, tested on the same byte
// fixtures (tests/fixtures/hrm_fixtures.json).
//
// Byte 0 holds the flags: bit 0 a 16-bit heart rate (else 8-bit); bits 1-2 sensor contact
// (0b10 supported, not in contact; 0b11 in contact; 0b0x not supported); bit 3 energy expended
// (uint16, kJ) present; bit 4 RR intervals present, every remaining uint16 one interval in
// 1/1024 s. Little-endian. Bits 5-7 are reserved and ignored.

export const HEART_RATE_SERVICE = 0x180d;
export const HEART_RATE_MEASUREMENT = 0x2a37;

const HR_16BIT = 0x01;
const CONTACT_DETECTED = 0x02;
const CONTACT_SUPPORTED = 0x04;
const ENERGY = 0x08;
const RR = 0x10;

/** A packet that does not hold what its flags announce (the message says what is missing). */
export class HrmParseError extends Error {
  constructor(message) {
    super(message);
    this.name = "HrmParseError";
  }
}

function toBytes(value) {
  if (value instanceof DataView) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) {
    return new Uint8Array(value);
  }
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new TypeError("expected a DataView, an ArrayBuffer or a typed array");
}

function need(bytes, offset, size, what) {
  if (offset + size > bytes.length) {
    throw new HrmParseError(
      `truncated packet: ${what} needs bytes ${offset}-${offset + size - 1} ` +
        `but the packet has ${bytes.length} bytes`,
    );
  }
}

function uint16(bytes, offset, what) {
  need(bytes, offset, 2, what);
  return bytes[offset] | (bytes[offset + 1] << 8);
}

/**
 * Decode one 0x2A37 value (the DataView a Web Bluetooth notification carries).
 * @returns {{heartRateBpm: number, contactDetected: boolean|null, energyExpendedKJ: number|null,
 *            rrIntervalsMs: number[]}}
 * @throws {HrmParseError} for empty, truncated or malformed packets
 */
export function parseHeartRateMeasurement(value) {
  const bytes = toBytes(value);
  if (bytes.length === 0) {
    throw new HrmParseError("empty packet: expected at least the flags byte and a heart rate");
  }
  const flags = bytes[0];
  let offset = 1;
  let heartRateBpm;
  if (flags & HR_16BIT) {
    heartRateBpm = uint16(bytes, offset, "the 16-bit heart rate");
    offset += 2;
  } else {
    need(bytes, offset, 1, "the 8-bit heart rate");
    heartRateBpm = bytes[offset];
    offset += 1;
  }
  const contactDetected = flags & CONTACT_SUPPORTED ? Boolean(flags & CONTACT_DETECTED) : null;
  let energyExpendedKJ = null;
  if (flags & ENERGY) {
    energyExpendedKJ = uint16(bytes, offset, "the energy expended");
    offset += 2;
  }
  const rrIntervalsMs = [];
  const remaining = bytes.length - offset;
  if (flags & RR) {
    if (remaining % 2) {
      throw new HrmParseError(
        `malformed packet: RR intervals take 2 bytes each but ${remaining} bytes remain ` +
          `after byte ${offset - 1}`,
      );
    }
    for (let i = offset; i < bytes.length; i += 2) {
      rrIntervalsMs.push((uint16(bytes, i, "an RR interval") * 1000) / 1024);
    }
  } else if (remaining) {
    throw new HrmParseError(
      `malformed packet: ${remaining} unexpected byte(s) after byte ${offset - 1} ` +
        "(the flags announce no RR intervals)",
    );
  }
  return { heartRateBpm, contactDetected, energyExpendedKJ, rrIntervalsMs };
}
