/**
 * Demultiplexing one UDP socket by the first byte of each datagram (spec/wire.md §Demultiplexing),
 * in the spirit of RFC 7983: every protocol sharing the socket owns a disjoint first-byte range, so
 * one comparison routes a datagram without parsing it.
 *
 *   0x00–0x03  STUN (RFC 8489 §6: top two bits 00) — and only with magic cookie 0x2112A442 at 4–7
 *   0x10       punch probe            0x11  punch probe reply
 *   0x12       relay-encapsulated datagram
 *   0x40–0x7F  short header (form bit 0, fixed bit 1)
 *   0x80–0xFF  long header (form bit 1)
 *   otherwise  unknown: dropped
 *
 * Hot path: no allocation.
 */
import { DatagramKind } from './types.js';

export const STUN_MAGIC_COOKIE = 0x2112a442;
/** A STUN message is at least its 20-byte header (RFC 8489 §5). */
export const STUN_HEADER_LENGTH = 20;
export const PUNCH_PROBE_TYPE = 0x10;
export const PUNCH_PROBE_REPLY_TYPE = 0x11;
export const RELAY_TYPE = 0x12;

/** Classifies the datagram buf[0, length) by its first byte (and, for STUN, the magic cookie). */
export function classifyDatagram(buf: Uint8Array, length: number = buf.length): DatagramKind {
  const end = Math.min(length, buf.length);
  if (end < 1) return DatagramKind.Unknown;
  const first = buf[0] as number;
  if (first >= 0x40) return first >= 0x80 ? DatagramKind.Long : DatagramKind.Short;
  if (first <= 0x03) {
    if (end >= STUN_HEADER_LENGTH && buf[4] === 0x21 && buf[5] === 0x12 && buf[6] === 0xa4 && buf[7] === 0x42) {
      return DatagramKind.Stun;
    }
    return DatagramKind.Unknown;
  }
  if (first === PUNCH_PROBE_TYPE || first === PUNCH_PROBE_REPLY_TYPE) return DatagramKind.PunchProbe;
  if (first === RELAY_TYPE) return DatagramKind.Relay;
  return DatagramKind.Unknown;
}
