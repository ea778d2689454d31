/** The optional hash worker (PUNCHLINE_HASH_WORKER=on) gives the same chunk hashes as inline hashing. */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';

const previous = process.env['PUNCHLINE_HASH_WORKER'];
process.env['PUNCHLINE_HASH_WORKER'] = 'on';
const { hashPool, sharedBuffer } = await import('../../src/transfer/hash-pool.js');
const { chunkHash } = await import('../../src/transfer/file-hash.js');
afterAll(() => {
  if (previous === undefined) delete process.env['PUNCHLINE_HASH_WORKER'];
  else process.env['PUNCHLINE_HASH_WORKER'] = previous;
});

describe('hash worker', () => {
  it('hashes large shared chunks in place on the worker, the rest inline, all equal to chunkHash', async () => {
    expect(hashPool.offloads).toBe(true);
    for (const size of [100, 64 * 1024, 1024 * 1024 + 3]) {
      const bytes = randomBytes(size);
      const expected = Buffer.from(chunkHash(bytes));
      // A region at an offset inside shared memory, as the receiver's gathering buffers are.
      const shared = sharedBuffer(size + 4096).subarray(16, 16 + size);
      expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
      bytes.copy(shared);
      const results = await Promise.all([hashPool.hash(shared), hashPool.hash(Buffer.from(bytes))]);
      for (const hash of results) expect(Buffer.from(hash).equals(expected)).toBe(true);
      expect(shared.equals(bytes)).toBe(true); // in place: nothing moved or detached
    }
  });

  it('many hashes in flight each resolve to their own chunk', async () => {
    const chunks = Array.from({ length: 12 }, () => {
      const shared = sharedBuffer(256 * 1024);
      randomBytes(256 * 1024).copy(shared);
      return shared;
    });
    const hashes = await Promise.all(chunks.map((c) => hashPool.hash(c)));
    hashes.forEach((hash, i) => expect(Buffer.from(hash).equals(Buffer.from(chunkHash(chunks[i]!)))).toBe(true));
  });
});
