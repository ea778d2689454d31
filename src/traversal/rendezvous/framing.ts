/**
 * Length-prefixed framing for the reliable byte streams of a rendezvous session
 * (spec/rendezvous.md §Carriers): every frame is a 2-byte big-endian length followed by that many
 * bytes. A stream starts with one kind byte saying what it carries.
 */
import { RendezvousError, RendezvousErrorCode } from './errors.js';

/** First byte of a client-opened bidirectional stream. */
export const StreamKind = {
  /** Rendezvous control messages (msgpack), both directions. */
  Control: 0x01,
  /** Stream relay: followed by an 8-byte channel ID, then framed inner datagrams (spec/relay.md). */
  Relay: 0x02,
} as const;
export type StreamKind = (typeof StreamKind)[keyof typeof StreamKind];

export const FRAME_HEADER_LENGTH = 2;
export const MAX_FRAME_LENGTH = 0xffff;

/** Prefixes `payload` with its 2-byte length. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME_LENGTH) {
    throw new RendezvousError(RendezvousErrorCode.Oversize, `frame of ${payload.length} bytes`);
  }
  const out = new Uint8Array(FRAME_HEADER_LENGTH + payload.length);
  out[0] = payload.length >>> 8;
  out[1] = payload.length & 0xff;
  out.set(payload, FRAME_HEADER_LENGTH);
  return out;
}

/**
 * Sans-IO reassembly of frames from arbitrary chunks. A frame longer than `maxFrame` is a protocol
 * violation: push() throws OVERSIZE before buffering it, so memory per stream stays ≤ maxFrame + chunk.
 */
export class FrameDecoder {
  private buffer: Uint8Array = new Uint8Array(0);

  constructor(private readonly maxFrame: number) {}

  /** Bytes buffered but not yet returned as a frame. */
  get pending(): number {
    return this.buffer.length;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    let buf = this.buffer.length === 0 ? chunk : concat(this.buffer, chunk);
    const frames: Uint8Array[] = [];
    let pos = 0;
    while (buf.length - pos >= FRAME_HEADER_LENGTH) {
      const length = (buf[pos]! << 8) | buf[pos + 1]!;
      if (length > this.maxFrame) {
        this.buffer = new Uint8Array(0);
        throw new RendezvousError(RendezvousErrorCode.Oversize, `frame of ${length} bytes (limit ${this.maxFrame})`);
      }
      if (buf.length - pos - FRAME_HEADER_LENGTH < length) break;
      frames.push(buf.slice(pos + FRAME_HEADER_LENGTH, pos + FRAME_HEADER_LENGTH + length));
      pos += FRAME_HEADER_LENGTH + length;
    }
    buf = buf.subarray(pos);
    this.buffer = buf.length === 0 ? new Uint8Array(0) : buf.slice();
    return frames;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
