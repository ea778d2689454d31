/** The optional hash worker (PUNCHLINE_HASH_WORKER=on) gives the same chunk hashes as inline hashing. */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';

const previous = process.env['PUNCHLINE_HASH_WORKER'];
process.env['PUNCHLINE_HASH_WORKER'] = 'on';
const { hashPool } = await import('../../src/transfer/hash-pool.js');
const { chunkHash } = await import('../../src/transfer/file-hash.js');
afterAll(() => {
  if (previous === undefined) delete process.env['PUNCHLINE_HASH_WORKER'];
  else process.env['PUNCHLINE_HASH_WORKER'] = previous;
});

describe('hash worker', () => {
  it('hashes large chunks on the worker, small ones inline, all equal to chunkHash', async () => {
    expect(hashPool.offloads).toBe(true);
    for (const size of [100, 64 * 1024, 1024 * 1024 + 3]) {
      const bytes = randomBytes(size);
      const expected = Buffer.from(chunkHash(bytes));
      const copy = Buffer.allocUnsafeSlow(size);
      bytes.copy(copy);
      const results = await Promise.all([hashPool.hash(copy), hashPool.hash(Buffer.from(bytes))]);
      for (const { hash, data } of results) {
        expect(Buffer.from(hash).equals(expected)).toBe(true);
        expect(data.equals(bytes)).toBe(true);
      }
    }
  });
});
