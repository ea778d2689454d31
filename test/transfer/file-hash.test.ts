/** SmallFileHasher (one BLAKE2b call) gives the same file hash as FileHasher (a hash state per file). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FileHasher, HASH_BYTES, SmallFileHasher } from '../../src/transfer/file-hash.js';

describe('SmallFileHasher', () => {
  it('equals FileHasher for any size and any number of chunk hashes', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.nat(64 * 1024), fc.nat(Number.MAX_SAFE_INTEGER)),
        fc.array(fc.uint8Array({ minLength: HASH_BYTES, maxLength: HASH_BYTES }), { maxLength: 3 }),
        (size, chunks) => {
          const reference = new FileHasher(size);
          const small = new SmallFileHasher(size);
          for (const chunk of chunks) {
            reference.addChunk(chunk);
            small.addChunk(chunk);
          }
          expect(Buffer.from(small.digest())).toEqual(Buffer.from(reference.digest()));
        },
      ),
    );
  });

  it('a second digest of another file is not affected by the reused input buffer', () => {
    const a = new SmallFileHasher(4096);
    a.addChunk(new Uint8Array(HASH_BYTES).fill(1));
    const first = Buffer.from(a.digest());
    const b = new SmallFileHasher(0);
    b.digest();
    expect(Buffer.from(a.digest())).toEqual(first);
    expect(first).not.toEqual(Buffer.from(new SmallFileHasher(4096).digest()));
  });
});
