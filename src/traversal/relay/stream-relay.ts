/**
 * Stream relay framing (spec/relay.md §Stream relay): a client-opened bidirectional WebTransport
 * stream starting with StreamKind.Relay (0x02) and the 8-byte leg ID, then inner datagrams each
 * framed with a 2-byte length. The server writes the other peer's datagrams back the same way.
 */
import { CHANNEL_ID_LENGTH } from '../rendezvous/messages.js';
import { FrameDecoder, StreamKind, encodeFrame } from '../rendezvous/framing.js';

export const RELAY_STREAM_HEADER_LENGTH = 1 + CHANNEL_ID_LENGTH;
/** Largest inner datagram carried on a relay stream (a UDP payload never exceeds this in practice). */
export const MAX_RELAY_STREAM_DATAGRAM = 2048;

export function relayStreamHeader(leg: Uint8Array): Uint8Array {
  const out = new Uint8Array(RELAY_STREAM_HEADER_LENGTH);
  out[0] = StreamKind.Relay;
  out.set(leg, 1);
  return out;
}

export function encodeRelayFrame(datagram: Uint8Array): Uint8Array {
  return encodeFrame(datagram);
}

export function relayFrameDecoder(): FrameDecoder {
  return new FrameDecoder(MAX_RELAY_STREAM_DATAGRAM);
}
