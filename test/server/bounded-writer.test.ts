/**
 * The server's WebTransport writers hold at most a fixed number of bytes for a reader that does not
 * read (bounded-writer.ts): the library's own streams count chunks, so their desiredSize does not
 * bound memory.
 */
import { describe, expect, it } from 'vitest';
import type { WtWriter } from '../../src/node/webtransport-types.js';
import { BoundedWriter } from '../../src/server/bounded-writer.js';
import { MAX_CONTROL_BACKLOG, MAX_RELAY_BACKLOG } from '../../src/server/server.js';

/** A writer whose reader never reads: every write stays pending until settle() is called. */
function stalledWriter() {
  const pending: { resolve: () => void; reject: (e: Error) => void; bytes: number }[] = [];
  let chunks = 0;
  const writer: WtWriter = {
    get desiredSize() {
      return 4 - chunks; // the library's count strategy ({ highWaterMark: 4 })
    },
    write(chunk) {
      chunks++;
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject, bytes: chunk.length }));
    },
    close: () => Promise.resolve(),
    abort: () => Promise.resolve(),
    releaseLock: () => undefined,
  };
  return { writer, pending };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('BoundedWriter', () => {
  for (const [name, bound] of [
    ['relay stream', MAX_RELAY_BACKLOG],
    ['control stream', MAX_CONTROL_BACKLOG],
  ] as const) {
    it(`a ${name} to a slow reader holds at most ${bound} bytes; settled writes free room`, async () => {
      const { writer, pending } = stalledWriter();
      const bounded = new BoundedWriter(writer, bound);
      const frame = new Uint8Array(1400);
      let accepted = 0;
      let refused = 0;
      for (let i = 0; i < 10_000; i++) {
        if (bounded.write(frame)) accepted++;
        else refused++;
      }
      const held = pending.reduce((n, p) => n + p.bytes, 0);
      expect(held).toBeLessThanOrEqual(bound);
      expect(bounded.queuedBytes).toBe(held);
      expect(accepted).toBe(Math.floor(bound / frame.length));
      expect(refused).toBe(10_000 - accepted);
      // The library's desiredSize still looks harmless by its own measure: it counts chunks.
      expect(writer.desiredSize).toBeGreaterThan(-bound);
      // The reader catches up (or the write fails): the room comes back.
      pending.shift()?.resolve();
      pending.shift()?.reject(new Error('stream reset'));
      await tick();
      expect(bounded.queuedBytes).toBe(held - 2 * frame.length);
      expect(bounded.write(frame)).toBe(true);
      expect(bounded.write(frame)).toBe(true);
      expect(bounded.write(frame)).toBe(false);
    });
  }
});
