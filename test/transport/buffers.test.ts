import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RangeSet } from '../../src/transport/range-set.js';
import { ReceiveBuffer } from '../../src/transport/streams/receive-buffer.js';
import { SendBuffer } from '../../src/transport/streams/send-buffer.js';

describe('RangeSet', () => {
  it('merges adjacent and overlapping ranges and counts new elements', () => {
    const r = new RangeSet();
    expect(r.add(10, 20)).toBe(10);
    expect(r.add(30, 40)).toBe(10);
    expect(r.add(20, 30)).toBe(10);
    expect(r.toArray()).toEqual([[10, 40]]);
    expect(r.add(5, 45)).toBe(10);
    expect(r.toArray()).toEqual([[5, 45]]);
    r.remove(10, 20);
    expect(r.toArray()).toEqual([
      [5, 10],
      [20, 45],
    ]);
    r.removeBelow(25);
    expect(r.toArray()).toEqual([[25, 45]]);
    expect(r.has(25)).toBe(true);
    expect(r.has(45)).toBe(false);
    expect(r.contiguousEnd(30)).toBe(45);
  });

  it('matches a reference set (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 30 }))),
        (ops) => {
          const r = new RangeSet();
          const ref = new Set<number>();
          for (const [add, s, len] of ops) {
            if (add) {
              let fresh = 0;
              for (let i = s; i < s + len; i++) if (!ref.has(i)) fresh++, ref.add(i);
              expect(r.add(s, s + len)).toBe(fresh);
            } else {
              for (let i = s; i < s + len; i++) ref.delete(i);
              r.remove(s, s + len);
            }
          }
          const arr = r.toArray();
          for (let i = 1; i < arr.length; i++) expect(arr[i]![0]).toBeGreaterThan(arr[i - 1]![1]);
          const flat = new Set<number>();
          for (const [s, e] of arr) for (let i = s; i < e; i++) flat.add(i);
          expect([...flat].sort((a, b) => a - b)).toEqual([...ref].sort((a, b) => a - b));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('caps the number of ranges by dropping the lowest', () => {
    const r = new RangeSet(3);
    for (let i = 0; i < 10; i++) r.add(i * 10, i * 10 + 1);
    expect(r.count).toBe(3);
    expect(r.min).toBe(70);
  });
});

describe('SendBuffer', () => {
  it('accepts up to its capacity and frees space on in-order ACKs', () => {
    const b = new SendBuffer(100, 16);
    expect(b.write(new Uint8Array(80))).toBe(80);
    expect(b.write(new Uint8Array(80))).toBe(20);
    expect(b.space).toBe(0);
    b.markSent(100);
    b.onAck(50, 50);
    expect(b.space).toBe(0); // out of order: prefix not acknowledged yet
    b.onAck(0, 50);
    expect(b.space).toBe(100);
    expect(b.allAcked).toBe(true);
  });

  it('retransmits only the unacknowledged parts of a lost range', () => {
    const b = new SendBuffer(1000);
    const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    b.write(data);
    b.markSent(300);
    b.onAck(100, 50);
    b.onLost(0, 300);
    const ranges: Array<[number, number]> = [];
    while (b.hasRetransmit()) {
      const off = b.nextRetransmitOffset();
      const len = b.nextRetransmitLength(1000);
      ranges.push([off, len]);
      const out = new Uint8Array(len);
      b.copyTo(off, len, out, 0);
      expect([...out]).toEqual([...data.subarray(off, off + len)]);
      b.markRetransmitted(off, len);
    }
    expect(ranges).toEqual([
      [0, 100],
      [150, 150],
    ]);
  });

  it('keeps bytes intact across ring growth and wrap-around (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 30 }), (writes) => {
        const b = new SendBuffer(1 << 20, 16);
        let offset = 0;
        for (const n of writes) {
          const d = Uint8Array.from({ length: n }, (_, i) => (offset + i) % 251);
          expect(b.write(d)).toBe(n);
          // acknowledge half of what is held to move the ring's start
          const held = b.end - b.ackedPrefix;
          b.markSent(b.end - b.unsent);
          b.onAck(b.ackedPrefix, Math.floor(held / 2));
          const check = b.end - b.ackedPrefix;
          const out = new Uint8Array(check);
          b.copyTo(b.ackedPrefix, check, out, 0);
          let bad = -1;
          for (let i = 0; i < check && bad < 0; i++) if (out[i] !== (b.ackedPrefix + i) % 251) bad = i;
          expect(bad).toBe(-1);
          offset += n;
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('ReceiveBuffer', () => {
  it('reassembles out-of-order, duplicated, overlapping frames exactly once (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 3000 })), { maxLength: 60 }),
        fc.integer({ min: 1, max: 4096 }),
        (total, pieces, readSize) => {
          const data = Uint8Array.from({ length: total }, (_, i) => (i * 13) & 0xff);
          const b = new ReceiveBuffer(16);
          const out: number[] = [];
          // random pieces, then a full cover in order to make sure everything arrives
          const all = [
            ...pieces.map(([o, l]) => [o % total, l] as const),
            ...Array.from({ length: Math.ceil(total / 1000) }, (_, i) => [i * 1000, 1000] as const),
          ];
          for (const [o, l] of all) {
            const end = Math.min(total, o + l);
            b.insert(o, data.subarray(o, end));
            for (let r = b.read(readSize); r !== null; r = b.read(readSize)) out.push(...r);
          }
          expect(out.length).toBe(total);
          expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
          expect(b.readOffset).toBe(total);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('reports complete and finished', () => {
    const b = new ReceiveBuffer();
    b.finalSize = 10;
    b.insert(5, new Uint8Array(5));
    expect(b.complete).toBe(false);
    b.insert(0, new Uint8Array(5));
    expect(b.complete).toBe(true);
    expect(b.finished).toBe(false);
    expect(b.read(100)?.length).toBe(10);
    expect(b.finished).toBe(true);
  });
});

describe('stream buffers with a staging / overflow area (the allocation-free hot path)', () => {
  it('SendBuffer.copyTo returns the right bytes for any range, across wrap-around and growth (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 1500 }),
        fc.array(
          fc.tuple(
            fc.integer({ min: 1, max: 6000 }),
            fc.integer({ min: 1, max: 1600 }),
            fc.integer({ min: 0, max: 3 }),
          ),
          { minLength: 1, maxLength: 40 },
        ),
        (staging, steps) => {
          const b = new SendBuffer(1 << 16, 16, staging);
          const byte = (off: number): number => (off * 7 + (off >> 9)) & 0xff;
          const dst = new Uint8Array(1700);
          for (const [write, frame, ackShift] of steps) {
            const d = Uint8Array.from({ length: write }, (_, i) => byte(b.end + i));
            b.write(d);
            // send frames of up to `frame` bytes until nothing is unsent, checking every copy
            while (b.unsent < b.end) {
              const len = Math.min(frame, b.end - b.unsent);
              dst.fill(0xee);
              b.copyTo(b.unsent, len, dst, 3);
              for (let i = 0; i < len; i++)
                if (dst[3 + i] !== byte(b.unsent + i)) expect.fail(`byte ${b.unsent + i} wrong`);
              expect(dst[2]).toBe(0xee); // nothing written before or after the range
              expect(dst[3 + len]).toBe(0xee);
              b.markSent(len);
            }
            // acknowledge part of what is held (moves the ring's start), then re-copy a held range
            const held = b.end - b.ackedPrefix;
            b.onAck(b.ackedPrefix, Math.floor((held * ackShift) / 4));
            const len = Math.min(frame, b.end - b.ackedPrefix);
            if (len > 0) {
              b.copyTo(b.ackedPrefix, len, dst, 0);
              for (let i = 0; i < len; i++)
                if (dst[i] !== byte(b.ackedPrefix + i)) expect.fail(`re-copy of byte ${b.ackedPrefix + i} wrong`);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('ReceiveBuffer.insert reassembles exactly with an overflow area: whole frames across the ring end (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30_000 }),
        fc.integer({ min: 1, max: 1500 }),
        fc.integer({ min: 0, max: 1500 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 2000 })), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5000 }),
        (total, frame, overflow, extra, readSize) => {
          const data = Uint8Array.from({ length: total }, (_, i) => (i * 31 + (i >> 8)) & 0xff);
          const b = new ReceiveBuffer(16, overflow);
          const out: number[] = [];
          // in-order frames with random duplicates and overlaps interleaved, reads in between; the
          // frames are copied into one reused scratch buffer first, as the connection's decoder hands them
          const scratch = new Uint8Array(4096);
          const insert = (o: number, l: number): void => {
            const end = Math.min(total, o + l);
            if (o >= total || end <= o) return;
            scratch.set(data.subarray(o, end), 100);
            b.insert(o, scratch.subarray(100, 100 + end - o));
          };
          let next = 0;
          let k = 0;
          while (next < total) {
            insert(next, frame);
            next += frame;
            const e = extra[k++ % Math.max(1, extra.length)];
            if (e !== undefined && extra.length > 0) insert(Math.max(b.readOffset, e[0] % total), e[1]);
            // the peer may not run ahead of what flow control allows: read when far ahead
            if (next - b.readOffset > 8000 || k % 3 === 0)
              for (let r = b.read(readSize); r !== null; r = b.read(readSize)) out.push(...r);
          }
          for (let r = b.read(readSize); r !== null; r = b.read(readSize)) out.push(...r);
          expect(out.length).toBe(total);
          expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});
