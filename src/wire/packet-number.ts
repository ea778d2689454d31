/**
 * Packet number truncation and recovery (RFC 9000 §17.1, Appendix A.2 and A.3).
 *
 * Packet numbers are conceptually 0..2^62−1 and sent as their 1–4 least significant bytes. The
 * sender picks enough bytes that the receiver, which knows the largest packet number it has
 * processed, can pick the unique candidate closest to the next expected number.
 *
 * The `number` functions are the hot path (limited to 2^53−1, see types.ts); the bigint twins
 * implement the same algorithm over the full 62-bit range and back the property test.
 */
import { WireError, WireErrorCode } from './errors.js';

/** 2^(8·n) for n = 0..4: the window a truncated packet number of n bytes can express. */
const WINDOW = [1, 0x100, 0x10000, 0x1000000, 0x100000000] as const;
/** The sender must never have more than 2^31 packets in flight: beyond that 4 bytes cannot disambiguate. */
const MAX_UNACKED = 0x80000000;
const MAX_PN_PLUS_ONE_BIGINT = 1n << 62n;

/**
 * Bytes (1–4) needed to send `packetNumber` given the largest packet number the peer has
 * acknowledged (`null` if none), per RFC 9000 §A.2: at least one bit more than log2 of the number of
 * unacknowledged packets including this one, i.e. the smallest n with unacked ≤ 2^(8n−1).
 * Throws InvalidValue if pn ≤ largestAcked or more than 2^31 packets are unacknowledged.
 */
export function packetNumberLength(packetNumber: number, largestAcked: number | null): 1 | 2 | 3 | 4 {
  const unacked = largestAcked === null ? packetNumber + 1 : packetNumber - largestAcked;
  if (!(unacked >= 1 && unacked <= MAX_UNACKED)) {
    throw new WireError(
      WireErrorCode.InvalidValue,
      `cannot truncate packet number ${packetNumber} against largest acknowledged ${largestAcked}`,
    );
  }
  if (unacked <= 0x80) return 1;
  if (unacked <= 0x8000) return 2;
  if (unacked <= 0x800000) return 3;
  return 4;
}

/** The low `pnLength` bytes of a packet number, as written on the wire. */
export function truncatePacketNumber(packetNumber: number, pnLength: 1 | 2 | 3 | 4): number {
  return packetNumber % WINDOW[pnLength];
}

/**
 * Recovers the full packet number from its truncated form (RFC 9000 §A.3). `largestReceived` is the
 * largest packet number successfully processed so far in this connection (−1 if none). The result
 * is the value congruent to `truncated` modulo 2^(8·pnLength) closest to largestReceived + 1.
 * `truncated` must be < 2^(8·pnLength) (readShortHeader guarantees it).
 */
export function decodePacketNumber(largestReceived: number, truncated: number, pnLength: 1 | 2 | 3 | 4): number {
  const win = WINDOW[pnLength];
  const hwin = win / 2;
  const expected = largestReceived + 1;
  // (expected & ~mask) | truncated, written with % because bitwise operators are 32-bit in JS.
  const candidate = expected - (expected % win) + truncated;
  // The 2^62 upper bound of §A.3 cannot bind below 2^53, so only the lower bound is checked here.
  if (candidate <= expected - hwin) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}

/** bigint twin of packetNumberLength over 0..2^62−1. */
export function packetNumberLengthBigInt(packetNumber: bigint, largestAcked: bigint | null): 1 | 2 | 3 | 4 {
  const unacked = largestAcked === null ? packetNumber + 1n : packetNumber - largestAcked;
  if (unacked < 1n || unacked > BigInt(MAX_UNACKED)) {
    throw new WireError(WireErrorCode.InvalidValue, `cannot truncate packet number ${packetNumber}`);
  }
  if (unacked <= 0x80n) return 1;
  if (unacked <= 0x8000n) return 2;
  if (unacked <= 0x800000n) return 3;
  return 4;
}

/** bigint twin of decodePacketNumber, literally RFC 9000 §A.3 including the 2^62 bound. */
export function decodePacketNumberBigInt(largestReceived: bigint, truncated: bigint, pnLength: 1 | 2 | 3 | 4): bigint {
  const win = 1n << BigInt(8 * pnLength);
  const hwin = win / 2n;
  const mask = win - 1n;
  const expected = largestReceived + 1n;
  const candidate = (expected & ~mask) | truncated;
  if (candidate <= expected - hwin && candidate < MAX_PN_PLUS_ONE_BIGINT - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}
