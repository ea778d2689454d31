/**
 * Hole-punch probes (spec/wire.md §Punch probe). The wire layer only lays the bytes out; the
 * traversal layer chooses the values and computes/verifies the MAC (keyed BLAKE2b-128 over bytes
 * 0–19, i.e. PUNCH_PROBE_AUTHENTICATED_LENGTH).
 *
 *   0      type: 0x10 probe, 0x11 reply
 *   1–3    "PNL" (0x50 0x4e 0x4c)
 *   4–11   punch session ID (8 bytes)
 *   12–19  probe nonce (8 bytes; a reply echoes the probe's)
 *   20–35  MAC (16 bytes)
 *   36–    zero padding, any length (path MTU probing); not MAC-covered, ignored by receivers
 */
import { WireError, WireErrorCode } from './errors.js';
import { tooSmall } from './varint.js';
import { PUNCH_PROBE_REPLY_TYPE, PUNCH_PROBE_TYPE } from './demux.js';

export const PUNCH_SESSION_ID_LENGTH = 8;
export const PUNCH_NONCE_LENGTH = 8;
export const PUNCH_MAC_LENGTH = 16;
/** Bytes covered by the MAC: type, magic, session ID, nonce. */
export const PUNCH_PROBE_AUTHENTICATED_LENGTH = 20;
/** Offset of the MAC field. */
export const PUNCH_PROBE_MAC_OFFSET = 20;
/** A probe without padding. */
export const PUNCH_PROBE_LENGTH = 36;

const MAGIC_0 = 0x50; // 'P'
const MAGIC_1 = 0x4e; // 'N'
const MAGIC_2 = 0x4c; // 'L'

export interface PunchProbe {
  /** false: probe (0x10); true: reply (0x11). */
  reply: boolean;
  /** 8 bytes (a view when decoded). */
  sessionId: Uint8Array;
  /** 8 bytes (a view when decoded). */
  nonce: Uint8Array;
  /** 16 bytes (a view when decoded). */
  mac: Uint8Array;
}

export interface DecodedPunchProbe extends PunchProbe {
  /** View of bytes 0–19: what the MAC covers. */
  authenticated: Uint8Array;
  /** Datagram length including padding. */
  length: number;
}

/**
 * Writes type, magic, session ID and nonce (bytes 0–19), zeroes the MAC field and any padding up
 * to `totalLength`, and returns the offset of the MAC field so the caller can compute the MAC over
 * buf[offset, offset + 20) and write it there. Returns nothing else: the datagram is `totalLength` long.
 */
export function writePunchProbeHeader(
  buf: Uint8Array,
  offset: number,
  reply: boolean,
  sessionId: Uint8Array,
  nonce: Uint8Array,
  totalLength: number = PUNCH_PROBE_LENGTH,
): number {
  if (sessionId.length !== PUNCH_SESSION_ID_LENGTH || nonce.length !== PUNCH_NONCE_LENGTH) {
    throw new WireError(WireErrorCode.InvalidValue, 'punch session id and nonce must be 8 bytes each');
  }
  if (!Number.isSafeInteger(totalLength) || totalLength < PUNCH_PROBE_LENGTH) {
    throw new WireError(WireErrorCode.InvalidValue, `punch probe length must be ≥ ${PUNCH_PROBE_LENGTH}`);
  }
  if (offset + totalLength > buf.length) throw tooSmall(offset + totalLength, buf.length);
  buf[offset] = reply ? PUNCH_PROBE_REPLY_TYPE : PUNCH_PROBE_TYPE;
  buf[offset + 1] = MAGIC_0;
  buf[offset + 2] = MAGIC_1;
  buf[offset + 3] = MAGIC_2;
  buf.set(sessionId, offset + 4);
  buf.set(nonce, offset + 12);
  buf.fill(0, offset + PUNCH_PROBE_MAC_OFFSET, offset + totalLength);
  return offset + PUNCH_PROBE_MAC_OFFSET;
}

/** Writes a complete probe (MAC already computed) padded to `totalLength`; returns the end offset. */
export function writePunchProbe(
  buf: Uint8Array,
  offset: number,
  probe: PunchProbe,
  totalLength: number = PUNCH_PROBE_LENGTH,
): number {
  if (probe.mac.length !== PUNCH_MAC_LENGTH)
    throw new WireError(WireErrorCode.InvalidValue, 'punch MAC must be 16 bytes');
  const macOffset = writePunchProbeHeader(buf, offset, probe.reply, probe.sessionId, probe.nonce, totalLength);
  buf.set(probe.mac, macOffset);
  return offset + totalLength;
}

/** Parses the probe in buf[0, length). Throws WireError Probe/Truncated. Does not verify the MAC. */
export function readPunchProbe(buf: Uint8Array, length: number = buf.length): DecodedPunchProbe {
  const end = Math.min(length, buf.length);
  if (end < PUNCH_PROBE_LENGTH)
    throw new WireError(WireErrorCode.Truncated, `punch probe of ${end} bytes is too short`);
  const type = buf[0];
  if (
    (type !== PUNCH_PROBE_TYPE && type !== PUNCH_PROBE_REPLY_TYPE) ||
    buf[1] !== MAGIC_0 ||
    buf[2] !== MAGIC_1 ||
    buf[3] !== MAGIC_2
  ) {
    throw new WireError(WireErrorCode.Probe, 'not a punch probe (type or magic)');
  }
  return {
    reply: type === PUNCH_PROBE_REPLY_TYPE,
    sessionId: buf.subarray(4, 12),
    nonce: buf.subarray(12, 20),
    mac: buf.subarray(PUNCH_PROBE_MAC_OFFSET, PUNCH_PROBE_MAC_OFFSET + PUNCH_MAC_LENGTH),
    authenticated: buf.subarray(0, PUNCH_PROBE_AUTHENTICATED_LENGTH),
    length: end,
  };
}
