/**
 * Untrusted input: arbitrary bytes, and valid packets with random corruption, go into every decoder.
 * The only acceptable outcomes are a value or a WireError (anything else — RangeError, TypeError,
 * a hang — fails the property).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyDatagram,
  decodeFrames,
  encodeFrame,
  frameLength,
  readDestinationConnectionId,
  readLongHeader,
  readPunchProbe,
  readRelayDatagram,
  readShortHeader,
  LongPacketType,
  WireError,
  writeLongHeader,
  writePunchProbe,
  writeRelayHeader,
  WireReader,
  type Frame,
} from '../../src/wire/index.js';
import { bytes, fixedBytes, frameList } from './arbitraries.js';

function valueOrWireError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    expect(e.code).toMatch(/^ERR_PUNCHLINE_WIRE_[A-Z0-9_]+$/);
  }
}

function decodeEverything(bytes: Uint8Array): void {
  classifyDatagram(bytes);
  valueOrWireError(() => decodeFrames(bytes));
  valueOrWireError(() => readShortHeader(bytes));
  valueOrWireError(() => readLongHeader(bytes));
  valueOrWireError(() => readPunchProbe(bytes));
  valueOrWireError(() => readRelayDatagram(bytes));
  valueOrWireError(() => readDestinationConnectionId(bytes));
  valueOrWireError(() => {
    const r = new WireReader(bytes);
    while (r.remaining > 0) r.readVarint();
  });
}

function encodeAll(frames: Frame[]): Uint8Array {
  const buf = new Uint8Array(frames.reduce((n, f) => n + frameLength(f), 0));
  let o = 0;
  for (const f of frames) o = encodeFrame(f, buf, o);
  return buf;
}

describe('untrusted input', () => {
  it('arbitrary bytes: a value or a WireError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1500 }), decodeEverything), { numRuns: 800 });
  });

  it('arbitrary bytes behind every first byte that routes somewhere', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0x00, 0x02, 0x08, 0x0e, 0x10, 0x11, 0x12, 0x1c, 0x30, 0x31, 0x40, 0x47, 0xc0, 0xd0, 0xe0),
        fc.uint8Array({ maxLength: 300 }),
        (first, rest) => {
          const bytes = new Uint8Array(rest.length + 1);
          bytes[0] = first;
          bytes.set(rest, 1);
          decodeEverything(bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('valid frame payloads with flipped bytes or truncation', () => {
    fc.assert(
      fc.property(
        frameList(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (frames, flips, cut) => {
          const wire = encodeAll(frames);
          if (wire.length === 0) return;
          for (const [at, value] of flips) wire[at % wire.length] = value;
          decodeEverything(wire.subarray(0, cut % (wire.length + 1)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('valid long headers, probes and relay datagrams with flipped bytes or truncation', () => {
    const datagram = fc.oneof(
      fc
        .record({
          type: fc.constantFrom(LongPacketType.Initial, LongPacketType.Handshake, LongPacketType.Retry),
          token: bytes(40),
          payload: bytes(100),
        })
        .map(({ type, token, payload }) => {
          const buf = new Uint8Array(1300);
          const t =
            type === LongPacketType.Handshake ? new Uint8Array(0) : token.length === 0 ? new Uint8Array(1) : token;
          const o = writeLongHeader(buf, 0, type, new Uint8Array(8), new Uint8Array(8), t, payload.length);
          buf.set(payload, o);
          return type === LongPacketType.Initial ? buf.subarray(0, 1200) : buf.subarray(0, o + payload.length);
        }),
      fc
        .record({ reply: fc.boolean(), sessionId: fixedBytes(8), nonce: fixedBytes(8), mac: fixedBytes(16) })
        .map((p) => {
          const buf = new Uint8Array(36);
          writePunchProbe(buf, 0, p);
          return buf;
        }),
      bytes(60).map((inner) => {
        const buf = new Uint8Array(9 + inner.length);
        writeRelayHeader(buf, 0, new Uint8Array(8));
        buf.set(inner, 9);
        return buf;
      }),
    );
    fc.assert(
      fc.property(
        datagram,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        fc.nat(),
        (wire, flips, cut) => {
          for (const [at, value] of flips) wire[at % wire.length] = value;
          decodeEverything(wire.subarray(0, cut % (wire.length + 1)));
        },
      ),
      { numRuns: 300 },
    );
  });
});
