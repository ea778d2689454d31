import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ackFrameLength,
  datagramFrameHeaderLength,
  decodeFrames,
  encodeFrame,
  FrameDecoder,
  frameLength,
  FrameType,
  MAX_ACK_RANGES,
  streamFrameHeaderLength,
  WireError,
  writeAckFrame,
  writeDatagramFrameHeader,
  writeStreamFrameHeader,
  utf8Length,
  type Frame,
} from '../../src/wire/index.js';
import { ackRanges, bytes, frameArbitrary, frameList, varint } from './arbitraries.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof WireError) return e.code;
    throw e;
  }
  return 'no error';
}

/** What decoding must return for an encoded frame: the frame with its length-presence made explicit. */
function normalized(frame: Frame): Frame {
  if (frame.type === FrameType.Stream || frame.type === FrameType.Datagram) {
    return { ...frame, explicitLength: frame.explicitLength ?? true };
  }
  return frame;
}

function encodeAll(frames: Frame[]): Uint8Array {
  const total = frames.reduce((n, f) => n + frameLength(f), 0);
  const buf = new Uint8Array(total);
  let o = 0;
  for (const f of frames) o = encodeFrame(f, buf, o);
  expect(o).toBe(total);
  return buf;
}

const SAMPLE_TYPES = Object.values(FrameType);

describe('frames: round trip', () => {
  it('every frame type round-trips over arbitrary field values, and frameLength is exact', () => {
    const seen = new Set<number>();
    fc.assert(
      fc.property(frameArbitrary({ last: true }), (frame) => {
        seen.add(frame.type);
        const wire = encodeAll([frame]);
        expect(wire.length).toBe(frameLength(frame));
        expect(decodeFrames(wire)).toEqual([normalized(frame)]);
      }),
      { numRuns: 300 },
    );
    // The property must actually have exercised every frame type.
    for (const t of SAMPLE_TYPES) expect(seen.has(t)).toBe(true);
  });

  it('sequences of frames decode back to the same sequence', () => {
    fc.assert(
      fc.property(frameList(), (frames) => {
        expect(decodeFrames(encodeAll(frames))).toEqual(frames.map(normalized));
      }),
      { numRuns: 200 },
    );
  });

  it('the FrameDecoder honours [start, end) and its views never leave it', () => {
    fc.assert(
      fc.property(frameList(), bytes(16), bytes(16), (frames, before, after) => {
        const wire = encodeAll(frames);
        const buf = new Uint8Array(before.length + wire.length + after.length);
        buf.set(before, 0);
        buf.set(wire, before.length);
        buf.set(after, before.length + wire.length);
        const decoder = new FrameDecoder().reset(buf, before.length, before.length + wire.length);
        const out: Frame[] = [];
        for (let f = decoder.next(); f !== null; f = decoder.next()) {
          if (f.type === FrameType.Stream || f.type === FrameType.Datagram) {
            expect(f.data.buffer).toBe(buf.buffer); // a view, not a copy
            expect(f.data.byteOffset).toBeGreaterThanOrEqual(before.length);
            expect(f.data.byteOffset + f.data.length).toBeLessThanOrEqual(before.length + wire.length);
          }
          out.push(f);
        }
        expect(out).toEqual(frames.map(normalized));
      }),
      { numRuns: 200 },
    );
  });
});

describe('frames: hot-path writers', () => {
  it('writeStreamFrameHeader + data equals encodeFrame, and its length function is exact', () => {
    fc.assert(
      fc.property(
        varint(),
        varint(),
        bytes(100),
        fc.boolean(),
        fc.boolean(),
        (streamId, offset, data, fin, explicitLength) => {
          fc.pre(offset + data.length <= Number.MAX_SAFE_INTEGER);
          const a = new Uint8Array(200);
          let o = writeStreamFrameHeader(a, 3, streamId, offset, data.length, fin, explicitLength);
          expect(o - 3).toBe(streamFrameHeaderLength(streamId, offset, data.length, explicitLength));
          a.set(data, o);
          o += data.length;
          const b = new Uint8Array(200);
          const end = encodeFrame({ type: FrameType.Stream, streamId, offset, data, fin, explicitLength }, b, 3);
          expect(end).toBe(o);
          expect(a).toEqual(b);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writeAckFrame writes a prefix of the ranges and ackFrameLength is exact', () => {
    fc.assert(
      fc.property(ackRanges(), varint(), varint(), fc.nat(), (ranges, delay, ts, k) => {
        const count = 1 + (k % ranges.length);
        const buf = new Uint8Array(4096);
        const end = writeAckFrame(buf, 0, ranges, count, delay, ts);
        expect(end).toBe(ackFrameLength(ranges, count, delay, ts));
        expect(decodeFrames(buf.subarray(0, end))).toEqual([
          { type: FrameType.Ack, ranges: ranges.slice(0, count), ackDelayMicros: delay, receiveTimestampMicros: ts },
        ]);
      }),
      { numRuns: 300 },
    );
  });

  it('writeDatagramFrameHeader matches its length function', () => {
    const buf = new Uint8Array(16);
    for (const n of [0, 63, 64, 1200]) {
      for (const explicit of [true, false]) {
        expect(writeDatagramFrameHeader(buf, 0, n, explicit)).toBe(datagramFrameHeaderLength(n, explicit));
      }
    }
  });

  it('encodes the ACK layout byte for byte (hand-computed from RFC 9000 §19.3)', () => {
    const buf = new Uint8Array(32);
    // largest 100, delay 64 µs (2-byte varint), timestamp 5, 2 ranges: [95,100] and [90,92].
    const end = writeAckFrame(
      buf,
      0,
      [
        { smallest: 95, largest: 100 },
        { smallest: 90, largest: 92 },
      ],
      2,
      64,
      5,
    );
    // 02 | 40 64 (100) | 40 40 (64) | 05 | 01 (one pair) | 05 (first range) | 01 (gap 95−92−2) | 02 (length)
    expect(Array.from(buf.subarray(0, end))).toEqual([0x02, 0x40, 0x64, 0x40, 0x40, 0x05, 0x01, 0x05, 0x01, 0x02]);
  });
});

describe('frames: encoder input validation', () => {
  const buf = new Uint8Array(2048);
  it('rejects ACK ranges that are not descending and separated, or too many', () => {
    const overlap = [
      { smallest: 5, largest: 10 },
      { smallest: 2, largest: 5 },
    ];
    const adjacent = [
      { smallest: 5, largest: 10 },
      { smallest: 2, largest: 4 },
    ];
    const inverted = [{ smallest: 10, largest: 5 }];
    for (const r of [overlap, adjacent, inverted]) {
      expect(codeOf(() => writeAckFrame(buf, 0, r, r.length, 0, 0))).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
    }
    const many = Array.from({ length: MAX_ACK_RANGES + 1 }, (_, i) => ({
      smallest: 10_000 - 3 * i,
      largest: 10_000 - 3 * i,
    }));
    expect(codeOf(() => writeAckFrame(buf, 0, many, many.length, 0, 0))).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
    expect(writeAckFrame(buf, 0, many, MAX_ACK_RANGES, 0, 0)).toBeGreaterThan(0);
    expect(codeOf(() => writeAckFrame(buf, 0, many, 0, 0, 0))).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
  });

  it('rejects oversized CLOSE reasons, bad fixed-size fields and stream offsets past 2^53−1', () => {
    expect(
      codeOf(() =>
        encodeFrame({ type: FrameType.Close, application: false, errorCode: 0, reason: 'x'.repeat(1025) }, buf, 0),
      ),
    ).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
    expect(
      encodeFrame({ type: FrameType.Close, application: false, errorCode: 0, reason: 'x'.repeat(1024) }, buf, 0),
    ).toBe(1 + 1 + 2 + 1024);
    expect(codeOf(() => encodeFrame({ type: FrameType.PathChallenge, data: new Uint8Array(7) }, buf, 0))).toBe(
      'ERR_PUNCHLINE_WIRE_INVALID_VALUE',
    );
    expect(
      codeOf(() =>
        encodeFrame(
          {
            type: FrameType.NewConnectionId,
            sequence: 1,
            retirePriorTo: 2,
            connectionId: new Uint8Array(8),
            resetToken: new Uint8Array(16),
          },
          buf,
          0,
        ),
      ),
    ).toBe('ERR_PUNCHLINE_WIRE_INVALID_VALUE');
    expect(codeOf(() => writeStreamFrameHeader(buf, 0, 0, Number.MAX_SAFE_INTEGER, 1, false))).toBe(
      'ERR_PUNCHLINE_WIRE_STREAM_OFFSET',
    );
  });

  it('never writes past the end of the caller buffer', () => {
    fc.assert(
      fc.property(frameArbitrary({ last: true }), fc.nat(), (frame, k) => {
        const n = frameLength(frame);
        const cut = k % n; // strictly too small
        const backing = new Uint8Array(n).fill(0xee);
        expect(codeOf(() => encodeFrame(frame, backing.subarray(0, cut), 0))).toBe(
          'ERR_PUNCHLINE_WIRE_BUFFER_TOO_SMALL',
        );
        expect(backing.subarray(cut).every((b) => b === 0xee)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('frames: decoder limits', () => {
  it('rejects an ACK range count above MAX_ACK_RANGES before allocating', () => {
    // Range count 2^53−1: a decoder that allocated first would die; this one throws.
    const wire = Uint8Array.from([0x02, 0x05, 0x00, 0x00, 0xc0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]);
    expect(codeOf(() => decodeFrames(wire))).toBe('ERR_PUNCHLINE_WIRE_ACK_RANGES');
    // 255 pairs claimed but only a few bytes left: truncation, not a 256-slot allocation of garbage.
    const short = Uint8Array.from([0x02, 0x40, 0xff, 0x00, 0x00, 0x40, 0xff, 0x00, 0x00, 0x00]);
    expect(codeOf(() => decodeFrames(short))).toBe('ERR_PUNCHLINE_WIRE_TRUNCATED');
  });

  it('accepts exactly MAX_ACK_RANGES ranges', () => {
    const ranges = Array.from({ length: MAX_ACK_RANGES }, (_, i) => ({
      smallest: 10_000 - 3 * i,
      largest: 10_000 - 3 * i,
    }));
    const buf = new Uint8Array(4096);
    const end = writeAckFrame(buf, 0, ranges, ranges.length, 1, 2);
    const [ack] = decodeFrames(buf.subarray(0, end));
    expect(ack?.type === FrameType.Ack && ack.ranges.length).toBe(MAX_ACK_RANGES);
  });

  it('sizes CLOSE reasons exactly as TextEncoder encodes them, lone surrogates included', () => {
    const utf16 = fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
      maxLength: 40,
    });
    const encoder = new TextEncoder();
    fc.assert(
      fc.property(utf16, (reason) => {
        expect(utf8Length(reason)).toBe(encoder.encode(reason).length);
        const [decoded] = decodeFrames(
          encodeAll([{ type: FrameType.Close, application: false, errorCode: 0, reason }]),
        );
        // Ill-formed UTF-16 is sent with U+FFFD substitutions, exactly as TextEncoder would.
        expect(decoded).toEqual({
          type: FrameType.Close,
          application: false,
          errorCode: 0,
          reason: new TextDecoder('utf-8', { ignoreBOM: true }).decode(encoder.encode(reason)),
        });
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a leading U+FEFF in a CLOSE reason', () => {
    const frame: Frame = { type: FrameType.Close, application: true, errorCode: 1, reason: '\uFEFFhi' };
    expect(decodeFrames(encodeAll([frame]))).toEqual([frame]);
  });
});

describe('FrameDecoder reuseFrames', () => {
  it('decodes packet after packet in one reused buffer: STREAM data always shows the current packet (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 3 }),
            fc.integer({ min: 0, max: 300 }),
            fc.integer({ min: 0, max: 2 ** 20 }),
            fc.boolean(),
          ),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        (packets) => {
          const buf = new Uint8Array(600);
          const other = new Uint8Array(600);
          const decoder = new FrameDecoder({ reuseFrames: true });
          let n = 0;
          for (const [pad, length, offset, useOther] of packets) {
            const target = useOther ? other : buf;
            const data = Uint8Array.from({ length }, (_, i) => (i + n * 7) & 0xff);
            // PADDING and PING first (reused objects too), then an ACK and a STREAM frame.
            let o = 0;
            for (let i = 0; i < pad; i++) target[o++] = 0;
            target[o++] = FrameType.Ping;
            o = writeAckFrame(target, o, [{ smallest: n, largest: n + 3 }], 1, 5, 7);
            o = writeStreamFrameHeader(target, o, 4, offset, length, false);
            target.set(data, o);
            o += length;
            decoder.reset(target, 0, o);
            const seen: number[] = [];
            for (let f = decoder.next(); f !== null; f = decoder.next()) {
              seen.push(f.type);
              if (f.type === FrameType.Stream) {
                expect(f.offset).toBe(offset);
                expect(f.data.buffer).toBe(target.buffer);
                expect(f.data).toEqual(data);
              } else if (f.type === FrameType.Ack) {
                expect(f.ranges).toEqual([{ smallest: n, largest: n + 3 }]);
              } else if (f.type === FrameType.Padding) {
                expect(f.length).toBe(pad);
              }
            }
            expect(seen).toEqual([
              ...(pad > 0 ? [FrameType.Padding] : []),
              FrameType.Ping,
              FrameType.Ack,
              FrameType.Stream,
            ]);
            n++;
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('returns MAX_DATA / MAX_STREAM_DATA as decoder-owned objects with the current values', () => {
    const decoder = new FrameDecoder({ reuseFrames: true });
    const buf = new Uint8Array(64);
    const seen: Frame[] = [];
    for (const maximum of [1000, 2 ** 31 + 5, 2 ** 40]) {
      let o = encodeFrame({ type: FrameType.MaxData, maximum }, buf, 0);
      o = encodeFrame({ type: FrameType.MaxStreamData, streamId: 4, maximum: maximum + 1 }, buf, o);
      decoder.reset(buf, 0, o);
      const md = decoder.next();
      expect(md).toEqual({ type: FrameType.MaxData, maximum });
      const msd = decoder.next();
      expect(msd).toEqual({ type: FrameType.MaxStreamData, streamId: 4, maximum: maximum + 1 });
      if (md !== null && msd !== null) seen.push(md, msd);
    }
    expect(seen[2]).toBe(seen[0]);
    expect(seen[3]).toBe(seen[1]);
    // Without reuseFrames every frame is a fresh object.
    const fresh = new FrameDecoder();
    const o = encodeFrame({ type: FrameType.MaxData, maximum: 7 }, buf, 0);
    expect(fresh.reset(buf, 0, o).next()).not.toBe(fresh.reset(buf, 0, o).next());
  });

  it('reuses ACK range storage without losing ranges when the count shrinks and grows', () => {
    const decoder = new FrameDecoder({ reuseFrames: true });
    const buf = new Uint8Array(200);
    for (const ranges of [
      [
        { smallest: 50, largest: 60 },
        { smallest: 30, largest: 40 },
        { smallest: 10, largest: 20 },
      ],
      [{ smallest: 70, largest: 80 }],
      [
        { smallest: 90, largest: 95 },
        { smallest: 80, largest: 85 },
      ],
    ]) {
      const end = writeAckFrame(buf, 0, ranges, ranges.length, 0, 0);
      const f = decoder.reset(buf, 0, end).next();
      expect(f?.type === FrameType.Ack && f.ranges).toEqual(ranges);
    }
  });
});
