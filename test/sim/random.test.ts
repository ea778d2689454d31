import { describe, expect, it } from 'vitest';
import { SimRandom } from '../../src/sim/random.js';

const take = (r: SimRandom, n: number) => Array.from({ length: n }, () => r.next());

describe('SimRandom', () => {
  it('is reproducible from the seed and differs between seeds and labels', () => {
    expect(take(new SimRandom(42), 50)).toEqual(take(new SimRandom(42), 50));
    expect(take(new SimRandom(42), 50)).not.toEqual(take(new SimRandom(43), 50));
    expect(take(new SimRandom(42).derive('a'), 50)).toEqual(take(new SimRandom(42).derive('a'), 50));
    expect(take(new SimRandom(42).derive('a'), 50)).not.toEqual(take(new SimRandom(42).derive('b'), 50));
  });

  it('derived streams do not depend on how much the parent was used', () => {
    const fresh = new SimRandom(7);
    const used = new SimRandom(7);
    take(used, 1000);
    expect(take(used.derive('x'), 20)).toEqual(take(fresh.derive('x'), 20));
    expect(used.derive('x').derive('y').label).toBe('x/y');
  });

  it('gives values in range with roughly uniform frequencies', () => {
    const r = new SimRandom(1);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) {
      counts[r.int(1, 6) - 1]!++;
    }
    expect(counts.reduce((a, b) => a + b)).toBe(60_000);
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    const floats = Array.from({ length: 10_000 }, () => r.float());
    expect(floats.every((f) => f >= 0 && f < 1)).toBe(true);
    const sum = floats.reduce((a, b) => a + b);
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02);
    expect(take(r, 1000).every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)).toBe(true);
  });

  it('fills byte buffers of any length and works as a RandomSource', () => {
    const a = new Uint8Array(33);
    const b = new Uint8Array(33);
    new SimRandom(5).bytes(a);
    const source = new SimRandom(5).source;
    source(b);
    expect(a).toEqual(b);
    expect(a.some((x) => x !== 0)).toBe(true);
    expect(a[32]).not.toBeUndefined();
  });

  it('rejects seeds that are not safe integers', () => {
    expect(() => new SimRandom(1.5)).toThrow(RangeError);
  });
});
