import { describe, expect, it } from 'vitest';
import { EventHeap } from '../../src/sim/heap.js';
import { SimRandom } from '../../src/sim/random.js';

describe('EventHeap', () => {
  it('pops in (time, seq) order, so equal times keep scheduling order', () => {
    const r = new SimRandom(3);
    const heap = new EventHeap<{ time: number; seq: number }>();
    const items = Array.from({ length: 2000 }, (_, seq) => ({ time: r.int(0, 50), seq }));
    const popped: { time: number; seq: number }[] = [];
    // Interleave pushes and pops, as the simulator does.
    for (const item of items) {
      heap.push(item);
      if (r.chance(0.3)) popped.push(heap.pop()!);
    }
    while (heap.size > 0) popped.push(heap.pop()!);
    expect(heap.pop()).toBeUndefined();
    expect(popped).toHaveLength(2000);
    const fresh = new EventHeap<{ time: number; seq: number }>();
    items.forEach((item) => fresh.push(item));
    const drained = Array.from({ length: items.length }, () => fresh.pop()!);
    expect(drained).toEqual([...items].sort((a, b) => a.time - b.time || a.seq - b.seq));
  });
});
