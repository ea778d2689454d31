/**
 * Relay encapsulation (spec/wire.md §Relay): a datagram relayed by `punchline server` is
 *
 *   0     0x12
 *   1–8   relay channel ID (8 bytes, assigned by the relay)
 *   9–    the inner datagram (a transport packet or a punch probe), at least 1 byte
 *
 * Nesting is forbidden: an inner datagram starting with 0x12 is rejected, so a crafted datagram
 * cannot make a receiver recurse.
 */
import { WireError, WireErrorCode } from './errors.js';
import { tooSmall } from './varint.js';
import { RELAY_TYPE } from './demux.js';

export const RELAY_CHANNEL_ID_LENGTH = 8;
export const RELAY_HEADER_LENGTH = 1 + RELAY_CHANNEL_ID_LENGTH;

export interface RelayDatagram {
  /** 8-byte channel ID (a view). */
  channelId: Uint8Array;
  /** The inner datagram (a view). */
  inner: Uint8Array;
}

/** Writes the 9-byte relay header and returns the offset where the inner datagram goes. */
export function writeRelayHeader(buf: Uint8Array, offset: number, channelId: Uint8Array): number {
  if (channelId.length !== RELAY_CHANNEL_ID_LENGTH) {
    throw new WireError(WireErrorCode.InvalidValue, `relay channel id must be ${RELAY_CHANNEL_ID_LENGTH} bytes`);
  }
  if (offset + RELAY_HEADER_LENGTH > buf.length) throw tooSmall(offset + RELAY_HEADER_LENGTH, buf.length);
  buf[offset] = RELAY_TYPE;
  buf.set(channelId, offset + 1);
  return offset + RELAY_HEADER_LENGTH;
}

/** Splits buf[0, length) into channel ID and inner datagram. Throws WireError Relay/Truncated. */
export function readRelayDatagram(buf: Uint8Array, length: number = buf.length): RelayDatagram {
  const end = Math.min(length, buf.length);
  if (end < RELAY_HEADER_LENGTH + 1) throw new WireError(WireErrorCode.Truncated, 'relay datagram too short');
  if (buf[0] !== RELAY_TYPE) throw new WireError(WireErrorCode.Relay, 'not a relay datagram');
  if (buf[RELAY_HEADER_LENGTH] === RELAY_TYPE) throw new WireError(WireErrorCode.Relay, 'nested relay encapsulation');
  return {
    channelId: buf.subarray(1, RELAY_HEADER_LENGTH),
    inner: buf.subarray(RELAY_HEADER_LENGTH, end),
  };
}
