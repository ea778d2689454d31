/**
 * The data-stream decoder (spec/transfer.md §Streams): whatever way the stream cuts the bytes, the
 * same frames come out, chunk data as in-order pieces that add up to the announced length.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransferErrorCode } from '../../src/transfer/errors.js';
import { CHUNK_SIZE, chunkHash } from '../../src/transfer/file-hash.js';
import {
  DataDecoder,
  encodeChunkHeader,
  encodeEndFrame,
  encodeFileFrame,
  type DataFrame,
} from '../../src/transfer/wire.js';

/** Frames with each chunk's pieces joined back into one data buffer (what the sender wrote). */
function joined(frames: DataFrame[]): unknown[] {
  const out: unknown[] = [];
  let data: Buffer[] = [];
  let expected = 0;
  for (const frame of frames) {
    if (frame.type === 'data') {
      data.push(frame.data);
      continue;
    }
    if (data.length > 0 || expected > 0) {
      const whole = Buffer.concat(data);
      expect(whole.length).toBe(expected);
      out.push({ type: 'data', hex: whole.toString('hex') });
      data = [];
      expected = 0;
    }
    if (frame.type === 'chunk') expected = frame.length;
    out.push({ ...frame, hash: 'hash' in frame ? Buffer.from(frame.hash).toString('hex') : undefined });
  }
  if (data.length > 0) out.push({ type: 'data', hex: Buffer.concat(data).toString('hex') });
  return out;
}

describe('DataDecoder', () => {
  it('yields the same frames however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 30 }),
        (chunks, cuts) => {
          const parts: Uint8Array[] = [encodeFileFrame(3, 1)];
          for (const chunk of chunks) parts.push(encodeChunkHeader(chunk.length, chunkHash(chunk)), chunk);
          parts.push(encodeEndFrame(new Uint8Array(32).fill(9)), encodeFileFrame(4, 0));
          const bytes = Buffer.concat(parts);
          const whole = joined(new DataDecoder().push(bytes));
          const decoder = new DataDecoder();
          const frames: DataFrame[] = [];
          let at = 0;
          for (let i = 0; at < bytes.length; i++) {
            const n = cuts[i % cuts.length]!;
            // A copy: the decoder must not depend on the pushed buffers being one allocation.
            frames.push(...decoder.push(Buffer.from(bytes.subarray(at, at + n))));
            at += n;
          }
          expect(joined(frames)).toEqual(whole);
          expect(whole.filter((f) => (f as { type: string }).type === 'data')).toHaveLength(chunks.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses an unknown frame type and a chunk longer than CHUNK_SIZE', () => {
    expect(() => new DataDecoder().push(Buffer.from([0x07]))).toThrow(
      expect.objectContaining({ code: TransferErrorCode.Protocol }),
    );
    const header = encodeChunkHeader(CHUNK_SIZE + 1, new Uint8Array(32));
    expect(() => new DataDecoder().push(header.subarray(0, 3))).not.toThrow();
    const split = new DataDecoder();
    split.push(header.subarray(0, 3));
    expect(() => split.push(header.subarray(3))).toThrow(expect.objectContaining({ code: TransferErrorCode.Protocol }));
  });
});
