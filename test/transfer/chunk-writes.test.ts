/**
 * Chunk writes (chunk-writes.ts): whole chunks go through O_DIRECT where the file system takes it
 * (the buffer's data offset is found by trial), a short last chunk through the page cache, and the
 * file holds exactly the bytes either way; where O_DIRECT refuses every alignment, the page cache.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkBuffer, openDirect, writeChunk } from '../../src/transfer/chunk-writes.js';
import { CHUNK_SIZE } from '../../src/transfer/file-hash.js';
import { tempDir } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function directSupported(): Promise<string | null> {
  const dir = tempDir('direct-probe');
  try {
    const path = join(dir.path, 'x');
    await (await open(path, 'w')).close();
    const direct = await openDirect(path);
    await direct?.close();
    return direct ? null : `the temporary directory's file system has no O_DIRECT`;
  } finally {
    dir.remove();
  }
}
const skipReason = await directSupported();

describe.skipIf(skipReason !== null)(`O_DIRECT chunk writes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('writes whole chunks directly and a short last chunk buffered; the file holds exactly the bytes', async () => {
    const dir = tempDir('chunk-writes');
    cleanups.push(dir.remove);
    const path = join(dir.path, 'f');
    const content = randomBytes(3 * CHUNK_SIZE + 1234);
    const buffered = await open(path, 'w');
    const direct = await openDirect(path);
    expect(direct).not.toBeNull();
    cleanups.push(
      () => buffered.close(),
      () => direct?.close(),
    );
    const buffers = [new ChunkBuffer(), new ChunkBuffer()];
    for (let i = 0; i * CHUNK_SIZE < content.length; i++) {
      const buffer = buffers[i % 2]!;
      const chunk = content.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
      buffer.data.set(chunk);
      if (chunk.length === CHUNK_SIZE) {
        // Directly: the kernel accepted an alignment of this buffer's data.
        expect(await buffer.writeDirect(direct!, chunk.length, i * CHUNK_SIZE)).toBe(true);
      } else {
        expect(await writeChunk(buffered, direct, buffer, chunk.length, i * CHUNK_SIZE)).toBe(true);
      }
    }
    expect(readFileSync(path).equals(content)).toBe(true);
  });
});

describe.skipIf(skipReason !== null)(
  `O_DIRECT on the same file only${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('the direct descriptor is the open file: a name replaced (or hard-linked) in between gets none', async () => {
      const dir = tempDir('direct-same');
      cleanups.push(dir.remove);
      const path = join(dir.path, '.f.punchline-part');
      const buffered = await open(path, 'w');
      cleanups.push(() => buffered.close());
      const same = await openDirect(path, buffered);
      expect(same).not.toBeNull();
      await same?.close();
      // Someone in --out puts another file under the partial file's name (a hard link to a file
      // elsewhere would look the same): our open descriptor keeps the old inode.
      const other = join(dir.path, 'elsewhere');
      writeFileSync(other, 'not ours');
      renameSync(other, path);
      expect(await openDirect(path, buffered)).toBeNull();
      expect(readFileSync(path, 'utf8')).toBe('not ours');
    });
  },
);

describe('O_DIRECT refused', () => {
  it('every alignment refused (EINVAL): writeChunk says so and writes the bytes through the page cache', async () => {
    const dir = tempDir('direct-refused');
    cleanups.push(dir.remove);
    const path = join(dir.path, 'f');
    const buffered = await open(path, 'w');
    cleanups.push(() => buffered.close());
    let attempts = 0;
    const refusing = {
      write: async () => {
        attempts++;
        throw Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' });
      },
    } as unknown as FileHandle;
    const buffer = new ChunkBuffer();
    const content = randomBytes(CHUNK_SIZE);
    buffer.data.set(content);
    expect(await writeChunk(buffered, refusing, buffer, CHUNK_SIZE, 0)).toBe(false);
    expect(attempts).toBe(4096 / 16); // each 16-byte-aligned offset tried once
    expect(readFileSync(path).equals(content)).toBe(true);
    // The buffer remembers: no second round of trials.
    expect(await buffer.writeDirect(refusing, CHUNK_SIZE, 0)).toBe(false);
    expect(attempts).toBe(4096 / 16);
  });
});
