/**
 * The control-stream decoder (spec/transfer.md §Transfer): whatever way the stream cuts the bytes
 * (single bytes, a length prefix split in two, several frames in one piece, a large offer in many
 * pieces), the same messages come out, in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ControlMessage, ControlDecoder, encodeControl } from '../../src/transfer/wire.js';

const messages: ControlMessage[] = [
  { t: 'hello', v: 1 },
  {
    t: 'offer',
    entries: Array.from({ length: 300 }, (_, i) => ({
      path: `d${i % 7}/file-${i}`,
      kind: 'file' as const,
      size: i * 4096,
      mode: 0o644,
      mtimeMs: 1_700_000_000_000 + i,
    })),
  },
  { t: 'request', files: [{ i: 3, have: new Uint8Array(64).fill(7) }] },
  { t: 'done', bytes: 12345 },
];

/** `have` comes back as a Buffer (msgpack bin): compare its bytes. */
const plain = (list: ControlMessage[]): unknown[] =>
  list.map((m) => (m.t === 'request' ? { ...m, files: m.files.map((f) => ({ ...f, have: [...f.have] })) } : m));

describe('control decoder', () => {
  it('decodes the same messages however the bytes are cut', () => {
    const bytes = Buffer.concat(messages.map(encodeControl));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 60 }), (cuts) => {
        const points = [0, ...new Set(cuts)].sort((a, b) => a - b);
        const decoder = new ControlDecoder();
        const out: ControlMessage[] = [];
        points.forEach((from, i) => out.push(...decoder.push(bytes.subarray(from, points[i + 1] ?? bytes.length))));
        expect(plain(out)).toEqual(plain(messages));
      }),
      { numRuns: 200 },
    );
  });

  it('one byte at a time', () => {
    const bytes = Buffer.concat(messages.map(encodeControl));
    const decoder = new ControlDecoder();
    const out: ControlMessage[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...decoder.push(bytes.subarray(i, i + 1)));
    expect(plain(out)).toEqual(plain(messages));
  });
});
