/**
 * Packet headers (spec/wire.md §Long header, §Short header).
 *
 * Long header (handshake phase; layout in the spirit of RFC 9000 §17.2):
 *   byte 0 = 1 | fixed 1 | type (2 bits) | reserved 0000; version u32 BE; DCID len (= 8) + DCID;
 *   SCID len (= 8) + SCID; [Initial, Retry: token length varint + token]; payload length varint +
 *   payload. One long-header packet per datagram; any bytes after it are padding and ignored.
 *
 * Short header (RFC 9000 §17.3 without header protection):
 *   byte 0 = 0 | fixed 1 | reserved (3 bits) | key phase | pn length − 1 (2 bits); DCID (8 bytes);
 *   truncated packet number (1–4 bytes BE); then the AEAD-protected payload. The header bytes are
 *   the AEAD associated data, so an on-path attacker cannot alter them undetected. There is no
 *   header protection: it would cost a second cipher call per packet, and the packet number is not a
 *   secret here (WireGuard sends its counter in clear too); linkability across paths is handled by
 *   connection-ID rotation, not by hiding the packet number.
 *
 * Writers write into caller buffers and return the new offset (no allocation); readers return views.
 */
import { WireError, WireErrorCode } from './errors.js';
import { WireReader } from './reader.js';
import { tooSmall, varintLength, writeVarint } from './varint.js';
import {
  AEAD_TAG_LENGTH,
  CONNECTION_ID_LENGTH,
  LongPacketType,
  MAX_TOKEN_LENGTH,
  MIN_INITIAL_DATAGRAM_SIZE,
  PROTOCOL_VERSION,
  type LongHeader,
  type ShortHeader,
} from './types.js';

const HEADER_FORM_BIT = 0x80;
const FIXED_BIT = 0x40;
const SHORT_KEY_PHASE_BIT = 0x04;
const SHORT_RESERVED_BITS = 0x38;
const SHORT_PN_LENGTH_MASK = 0x03;
const LONG_TYPE_MASK = 0x30;
const LONG_RESERVED_BITS = 0x0f;

/** Bytes of a short header with a `pnLength`-byte packet number: 1 + 8 + pnLength. */
export function shortHeaderLength(pnLength: 1 | 2 | 3 | 4): number {
  return 1 + CONNECTION_ID_LENGTH + pnLength;
}

/** Smallest valid short-header packet: header, one frame byte, AEAD tag. */
export function minShortPacketLength(pnLength: 1 | 2 | 3 | 4): number {
  return shortHeaderLength(pnLength) + 1 + AEAD_TAG_LENGTH;
}

/**
 * Writes a short header with the low `pnLength` bytes of `packetNumber` and returns the offset of the
 * payload. Hot path: no allocation.
 */
export function writeShortHeader(
  buf: Uint8Array,
  offset: number,
  dcid: Uint8Array,
  packetNumber: number,
  pnLength: 1 | 2 | 3 | 4,
  keyPhase: 0 | 1,
): number {
  if (dcid.length !== CONNECTION_ID_LENGTH) {
    throw new WireError(WireErrorCode.ConnectionIdLength, `connection id must be ${CONNECTION_ID_LENGTH} bytes`);
  }
  if (!(pnLength >= 1 && pnLength <= 4) || (keyPhase !== 0 && keyPhase !== 1)) {
    throw new WireError(WireErrorCode.InvalidValue, 'packet number length must be 1..4 and key phase 0 or 1');
  }
  if (!Number.isSafeInteger(packetNumber) || packetNumber < 0) {
    throw new WireError(WireErrorCode.InvalidValue, `packet number ${packetNumber} out of range`);
  }
  const end = offset + 1 + CONNECTION_ID_LENGTH + pnLength;
  if (end > buf.length) throw tooSmall(end, buf.length);
  buf[offset] = FIXED_BIT | (keyPhase << 2) | (pnLength - 1);
  // 8 bytes: a loop is cheaper than TypedArray#set's call (hot path).
  for (let i = 0; i < CONNECTION_ID_LENGTH; i++) buf[offset + 1 + i] = dcid[i] as number;
  // Low bytes, big-endian. `%`/division rather than shifts: packet numbers exceed 32 bits.
  let v = packetNumber % 0x100000000;
  for (let i = end - 1; i >= end - pnLength; i--) {
    buf[i] = v & 0xff;
    v = Math.floor(v / 256);
  }
  return end;
}

/**
 * Parses the short header of the datagram buf[0, length). Does not check the reserved bits (they are
 * checked after authentication, see ShortHeader.reservedBits). Throws WireError Header/Truncated.
 */
export function readShortHeader(buf: Uint8Array, length: number = buf.length): ShortHeader {
  const end = Math.min(length, buf.length);
  if (end < 1) throw new WireError(WireErrorCode.Truncated, 'empty datagram');
  const first = buf[0] as number;
  if ((first & (HEADER_FORM_BIT | FIXED_BIT)) !== FIXED_BIT) {
    throw new WireError(WireErrorCode.Header, 'not a short header (form bit set or fixed bit clear)');
  }
  const pnLength = ((first & SHORT_PN_LENGTH_MASK) + 1) as 1 | 2 | 3 | 4;
  const headerLength = 1 + CONNECTION_ID_LENGTH + pnLength;
  if (end < headerLength + 1 + AEAD_TAG_LENGTH) {
    throw new WireError(WireErrorCode.Truncated, `short-header packet of ${end} bytes is too short`);
  }
  let truncated = 0;
  for (let i = 1 + CONNECTION_ID_LENGTH; i < headerLength; i++) truncated = truncated * 256 + (buf[i] as number);
  return {
    form: 'short',
    keyPhase: ((first & SHORT_KEY_PHASE_BIT) >> 2) as 0 | 1,
    destinationConnectionId: buf.subarray(1, 1 + CONNECTION_ID_LENGTH),
    truncatedPacketNumber: truncated,
    packetNumberLength: pnLength,
    headerLength,
    reservedBits: (first & SHORT_RESERVED_BITS) >> 3,
  };
}

/** The fields of a short header the receive path needs, in an object the caller owns and reuses. */
export interface ShortHeaderFields {
  packetNumberLength: 1 | 2 | 3 | 4;
  headerLength: number;
  keyPhase: 0 | 1;
  /** Must be 0, checked only after authentication (RFC 9000 §17.3.1). */
  reservedBits: number;
  truncatedPacketNumber: number;
}

export function newShortHeaderFields(): ShortHeaderFields {
  return { packetNumberLength: 1, headerLength: 0, keyPhase: 0, reservedBits: 0, truncatedPacketNumber: 0 };
}

/**
 * readShortHeader for the receive path (hot path: no allocation): parses the short header of
 * buf[0, length) into `out`; false when the datagram is too short to hold a packet. The form and fixed
 * bits were checked by whoever routed the datagram here.
 */
export function parseShortHeader(buf: Uint8Array, length: number, out: ShortHeaderFields): boolean {
  const first = buf[0] as number;
  const pnLength = ((first & SHORT_PN_LENGTH_MASK) + 1) as 1 | 2 | 3 | 4;
  const headerLength = 1 + CONNECTION_ID_LENGTH + pnLength;
  if (length < headerLength + 1 + AEAD_TAG_LENGTH) return false;
  let truncated = 0;
  for (let i = 1 + CONNECTION_ID_LENGTH; i < headerLength; i++) truncated = truncated * 256 + (buf[i] as number);
  out.packetNumberLength = pnLength;
  out.headerLength = headerLength;
  out.keyPhase = ((first & SHORT_KEY_PHASE_BIT) >> 2) as 0 | 1;
  out.reservedBits = (first & SHORT_RESERVED_BITS) >> 3;
  out.truncatedPacketNumber = truncated;
  return true;
}

function hasToken(packetType: LongPacketType): boolean {
  return packetType === LongPacketType.Initial || packetType === LongPacketType.Retry;
}

/** Bytes of a long header up to the payload (through the Length field). */
export function longHeaderLength(packetType: LongPacketType, tokenLength: number, payloadLength: number): number {
  return (
    1 +
    4 +
    1 +
    CONNECTION_ID_LENGTH +
    1 +
    CONNECTION_ID_LENGTH +
    (hasToken(packetType) ? varintLength(tokenLength) + tokenLength : 0) +
    varintLength(payloadLength)
  );
}

/**
 * Writes a long header through its Length field and returns the offset where the caller writes the
 * `payloadLength`-byte payload. The token must be empty for Handshake packets.
 */
export function writeLongHeader(
  buf: Uint8Array,
  offset: number,
  packetType: LongPacketType,
  dcid: Uint8Array,
  scid: Uint8Array,
  token: Uint8Array,
  payloadLength: number,
): number {
  if (
    packetType !== LongPacketType.Initial &&
    packetType !== LongPacketType.Handshake &&
    packetType !== LongPacketType.Retry
  ) {
    throw new WireError(WireErrorCode.InvalidValue, `unknown long packet type ${packetType}`);
  }
  if (dcid.length !== CONNECTION_ID_LENGTH || scid.length !== CONNECTION_ID_LENGTH) {
    throw new WireError(WireErrorCode.ConnectionIdLength, `connection ids must be ${CONNECTION_ID_LENGTH} bytes`);
  }
  if (
    token.length > MAX_TOKEN_LENGTH ||
    (!hasToken(packetType) && token.length !== 0) ||
    (packetType === LongPacketType.Retry && token.length === 0)
  ) {
    throw new WireError(WireErrorCode.Token, 'token too long, present on a Handshake packet, or missing from a Retry');
  }
  const headerLength = longHeaderLength(packetType, token.length, payloadLength);
  if (offset + headerLength > buf.length) throw tooSmall(offset + headerLength, buf.length);
  let o = offset;
  buf[o++] = HEADER_FORM_BIT | FIXED_BIT | (packetType << 4);
  buf[o++] = PROTOCOL_VERSION >>> 24;
  buf[o++] = (PROTOCOL_VERSION >>> 16) & 0xff;
  buf[o++] = (PROTOCOL_VERSION >>> 8) & 0xff;
  buf[o++] = PROTOCOL_VERSION & 0xff;
  buf[o++] = CONNECTION_ID_LENGTH;
  buf.set(dcid, o);
  o += CONNECTION_ID_LENGTH;
  buf[o++] = CONNECTION_ID_LENGTH;
  buf.set(scid, o);
  o += CONNECTION_ID_LENGTH;
  if (hasToken(packetType)) {
    o = writeVarint(buf, o, token.length);
    buf.set(token, o);
    o += token.length;
  }
  return writeVarint(buf, o, payloadLength);
}

/**
 * Zero-fills buf[length, minimum) so a datagram carrying an Initial reaches `minimum` bytes
 * (RFC 9000 §14.1 anti-amplification) and returns the new datagram length.
 */
export function padDatagram(buf: Uint8Array, length: number, minimum: number = MIN_INITIAL_DATAGRAM_SIZE): number {
  if (length >= minimum) return length;
  if (minimum > buf.length) throw tooSmall(minimum, buf.length);
  buf.fill(0, length, minimum);
  return minimum;
}

const longReader = new WireReader();

/**
 * Parses the long-header packet at the start of the datagram buf[0, length). Enforces: form and
 * fixed bits set, reserved bits zero, type ≠ 3, version = PROTOCOL_VERSION, both CID lengths = 8,
 * token ≤ MAX_TOKEN_LENGTH (Initial/Retry only; non-empty in a Retry), payload within the datagram, and an Initial's
 * datagram ≥ MIN_INITIAL_DATAGRAM_SIZE. Bytes after `packetLength` are padding.
 */
export function readLongHeader(buf: Uint8Array, length: number = buf.length): LongHeader {
  const r = longReader.reset(buf, 0, length);
  const first = r.readUint8();
  if ((first & (HEADER_FORM_BIT | FIXED_BIT)) !== (HEADER_FORM_BIT | FIXED_BIT)) {
    throw new WireError(WireErrorCode.Header, 'not a long header (form or fixed bit clear)');
  }
  if ((first & LONG_RESERVED_BITS) !== 0) throw new WireError(WireErrorCode.Header, 'long header reserved bits set');
  const packetType = ((first & LONG_TYPE_MASK) >> 4) as LongPacketType | 3;
  if (packetType === 3) throw new WireError(WireErrorCode.Header, 'reserved long packet type 3');
  const version = r.readUint32();
  if (version !== PROTOCOL_VERSION) {
    throw new WireError(WireErrorCode.Version, `unsupported version 0x${version.toString(16)}`);
  }
  const destinationConnectionId = readCid(r);
  const sourceConnectionId = readCid(r);
  let token = buf.subarray(0, 0);
  if (hasToken(packetType)) {
    const tokenLength = r.readVarint();
    if (tokenLength > MAX_TOKEN_LENGTH)
      throw new WireError(WireErrorCode.Token, `token of ${tokenLength} bytes too long`);
    // A Retry exists to deliver a token (spec/wire.md §5.2).
    if (tokenLength === 0 && packetType === LongPacketType.Retry)
      throw new WireError(WireErrorCode.Token, 'Retry without a token');
    token = r.readBytes(tokenLength);
  }
  const payloadLength = r.readVarint();
  const headerLength = r.offset;
  const payload = r.readBytes(payloadLength);
  if (packetType === LongPacketType.Initial && r.end < MIN_INITIAL_DATAGRAM_SIZE) {
    throw new WireError(
      WireErrorCode.Truncated,
      `Initial in a datagram of ${r.end} bytes (< ${MIN_INITIAL_DATAGRAM_SIZE})`,
    );
  }
  return {
    form: 'long',
    packetType,
    version,
    destinationConnectionId,
    sourceConnectionId,
    token,
    payload,
    headerLength,
    packetLength: r.offset,
  };
}

function readCid(r: WireReader): Uint8Array {
  const length = r.readUint8();
  if (length !== CONNECTION_ID_LENGTH) {
    throw new WireError(
      WireErrorCode.ConnectionIdLength,
      `connection id length ${length}, expected ${CONNECTION_ID_LENGTH}`,
    );
  }
  return r.readBytes(CONNECTION_ID_LENGTH);
}

/** Offset of the DCID in a long header: first byte, version, DCID length byte. */
const LONG_DCID_OFFSET = 6;

/**
 * The destination connection ID of a short- or long-header packet, as a view, without parsing the
 * rest: enough to route a datagram to its connection. Throws WireError Header/Truncated/CidLength.
 */
export function readDestinationConnectionId(buf: Uint8Array, length: number = buf.length): Uint8Array {
  const end = Math.min(length, buf.length);
  if (end < 1) throw new WireError(WireErrorCode.Truncated, 'empty datagram');
  const first = buf[0] as number;
  if ((first & FIXED_BIT) === 0) throw new WireError(WireErrorCode.Header, 'fixed bit clear: not a transport packet');
  if ((first & HEADER_FORM_BIT) === 0) {
    if (end < 1 + CONNECTION_ID_LENGTH) throw new WireError(WireErrorCode.Truncated, 'short header truncated in DCID');
    return buf.subarray(1, 1 + CONNECTION_ID_LENGTH);
  }
  if (end < LONG_DCID_OFFSET + CONNECTION_ID_LENGTH)
    throw new WireError(WireErrorCode.Truncated, 'long header truncated in DCID');
  if (buf[LONG_DCID_OFFSET - 1] !== CONNECTION_ID_LENGTH) {
    throw new WireError(WireErrorCode.ConnectionIdLength, 'long header DCID length is not 8');
  }
  return buf.subarray(LONG_DCID_OFFSET, LONG_DCID_OFFSET + CONNECTION_ID_LENGTH);
}
