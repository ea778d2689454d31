/** fast-check arbitraries for wire values, biased towards varint length boundaries. */
import fc from 'fast-check';
import { CONNECTION_ID_LENGTH, FrameType, MAX_ACK_RANGES, type AckRange, type Frame } from '../../src/wire/index.js';

/** Any varint the number API accepts, with every encoded length well represented. */
export const varint = (): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min: 0, max: 63 }),
    fc.integer({ min: 64, max: 16_383 }),
    fc.integer({ min: 16_384, max: 2 ** 30 - 1 }),
    fc.bigInt({ min: 2n ** 30n, max: 2n ** 53n - 1n }).map(Number),
    fc.constantFrom(0, 63, 64, 16_383, 16_384, 2 ** 30 - 1, 2 ** 30, Number.MAX_SAFE_INTEGER),
  );

export const bytes = (maxLength = 64): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });
export const fixedBytes = (length: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: length, maxLength: length });

/** Valid ACK ranges (descending, gaps ≥ 1 packet), 1..maxRanges of them. */
export const ackRanges = (maxRanges = 16): fc.Arbitrary<AckRange[]> =>
  fc
    .tuple(
      fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.bigInt({ min: 0n, max: 2n ** 52n }).map(Number)),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 20_000 })), {
        minLength: 1,
        maxLength: Math.min(maxRanges, MAX_ACK_RANGES),
      }),
    )
    .map(([base, pieces]) => {
      // Build ascending from `base`, then reverse: range i = [s, s + len], next s = largest + 2 + gap.
      const ranges: AckRange[] = [];
      let s = base;
      for (const [gap, len] of pieces) {
        ranges.push({ smallest: s, largest: s + len });
        s = s + len + 2 + gap;
      }
      return ranges.reverse();
    });

const utf8 = new TextEncoder();
/** Strings whose UTF-8 form fits a CLOSE reason (well-formed: no lone surrogates). */
const reason = (): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => utf8.encode(s).length <= 1024);

export function frameArbitrary(opts: { last: boolean }): fc.Arbitrary<Frame> {
  const explicit = opts.last ? fc.boolean() : fc.constant(true);
  return fc.oneof(
    fc.integer({ min: 1, max: 40 }).map((length): Frame => ({ type: FrameType.Padding, length })),
    fc.constant<Frame>({ type: FrameType.Ping }),
    fc
      .record({ ranges: ackRanges(), ackDelayMicros: varint(), receiveTimestampMicros: varint() })
      .map((f): Frame => ({ type: FrameType.Ack, ...f })),
    fc
      .record({ streamId: varint(), errorCode: varint(), finalSize: varint() })
      .map((f): Frame => ({ type: FrameType.ResetStream, ...f })),
    fc.record({ streamId: varint(), errorCode: varint() }).map((f): Frame => ({ type: FrameType.StopSending, ...f })),
    fc
      .record({ streamId: varint(), offset: varint(), data: bytes(200), fin: fc.boolean(), explicitLength: explicit })
      .filter((f) => f.offset + f.data.length <= Number.MAX_SAFE_INTEGER)
      .map((f): Frame => ({ type: FrameType.Stream, ...f })),
    varint().map((maximum): Frame => ({ type: FrameType.MaxData, maximum })),
    fc.record({ streamId: varint(), maximum: varint() }).map((f): Frame => ({ type: FrameType.MaxStreamData, ...f })),
    varint().map((maximum): Frame => ({ type: FrameType.MaxStreamsBidi, maximum })),
    varint().map((maximum): Frame => ({ type: FrameType.MaxStreamsUni, maximum })),
    varint().map((limit): Frame => ({ type: FrameType.DataBlocked, limit })),
    fc.record({ streamId: varint(), limit: varint() }).map((f): Frame => ({ type: FrameType.StreamDataBlocked, ...f })),
    fc
      .record({ a: varint(), b: varint(), connectionId: fixedBytes(CONNECTION_ID_LENGTH), resetToken: fixedBytes(16) })
      .map(
        ({ a, b, connectionId, resetToken }): Frame => ({
          type: FrameType.NewConnectionId,
          sequence: Math.max(a, b),
          retirePriorTo: Math.min(a, b),
          connectionId,
          resetToken,
        }),
      ),
    varint().map((sequence): Frame => ({ type: FrameType.RetireConnectionId, sequence })),
    fixedBytes(8).map((data): Frame => ({ type: FrameType.PathChallenge, data })),
    fixedBytes(8).map((data): Frame => ({ type: FrameType.PathResponse, data })),
    fc
      .record({ application: fc.boolean(), errorCode: varint(), reason: reason() })
      .map((f): Frame => ({ type: FrameType.Close, ...f })),
    fc.record({ data: bytes(200), explicitLength: explicit }).map((f): Frame => ({ type: FrameType.Datagram, ...f })),
  );
}

/** A list of frames that can share one payload: only the last may omit its length; no two PADDINGs adjacent. */
export const frameList = (): fc.Arbitrary<Frame[]> =>
  fc
    .tuple(fc.array(frameArbitrary({ last: false }), { maxLength: 6 }), frameArbitrary({ last: true }))
    .map(([head, last]) => [...head, last])
    .filter((frames) =>
      frames.every((f, i) => i === 0 || !(f.type === FrameType.Padding && frames[i - 1]?.type === FrameType.Padding)),
    );
