/**
 * The small-file writer (small-file-writer.ts): files posted in batches to a worker thread land
 * under their final names with their bytes, mode and mtime, no partial name left behind; a failing
 * file rejects with its system error code while the others of its batch are still written.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { partialPath } from '../../src/transfer/partial-files.js';
import { SmallFileWriter } from '../../src/transfer/small-file-writer.js';
import { tempDir } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('small-file writer', () => {
  it('writes many files in batches: bytes (from several pieces), mode and mtime, nothing left under partial names', async () => {
    const dir = tempDir('small-writer');
    cleanups.push(dir.remove);
    const writer = new SmallFileWriter();
    cleanups.push(() => writer.close());
    const files = Array.from({ length: 600 }, (_, i) => {
      const final = join(dir.path, `f${i}`);
      // Pieces as views into a larger buffer, as the stream hands them over.
      const backing = randomBytes(3000 + i);
      return {
        final,
        partial: partialPath(final),
        pieces: [backing.subarray(7, 1000), backing.subarray(1000, 1000 + i)],
        mode: i % 2 ? 0o640 : 0o755,
        mtimeMs: 1_600_000_000_000 + i * 1000,
      };
    });
    await Promise.all(files.map((file) => writer.write(file)));
    for (const file of files) {
      expect(readFileSync(file.final).equals(Buffer.concat(file.pieces))).toBe(true);
      const stats = statSync(file.final);
      expect(stats.mode & 0o777).toBe(file.mode);
      expect(Math.abs(stats.mtimeMs - file.mtimeMs)).toBeLessThan(1);
    }
    expect(readdirSync(dir.path).filter((name) => name.endsWith('.punchline-part'))).toEqual([]);
  });

  it('keeps every mode exactly: bits the umask takes, no owner write bit, a partial file already there', async () => {
    const dir = tempDir('small-writer-modes');
    cleanups.push(dir.remove);
    const writer = new SmallFileWriter();
    cleanups.push(() => writer.close());
    const modes = [0o644, 0o600, 0o666, 0o777, 0o620, 0o755, 0o444, 0o400, 0o000, 0o070, 0o007];
    const files = modes.map((mode, i) => {
      const final = join(dir.path, `m${i}`);
      return { final, partial: partialPath(final), pieces: [randomBytes(100)], mode, mtimeMs: 1_500_000_000_000 };
    });
    // Left by an earlier run: open(O_CREAT) keeps an existing file's mode, so it must be set anyway.
    writeFileSync(files[0]!.partial, 'old and longer than the new bytes', { mode: 0o600 });
    chmodSync(files[0]!.partial, 0o4700);
    writeFileSync(files[1]!.partial, 'old', { mode: 0o640 });
    await Promise.all(files.map((file) => writer.write(file)));
    for (const file of files) {
      expect(readFileSync(file.final).equals(file.pieces[0]!)).toBe(true);
      expect((statSync(file.final).mode & 0o7777).toString(8)).toBe(file.mode.toString(8));
    }
  });

  it('a file that cannot be created rejects with its code; the rest of its batch is written', async () => {
    const dir = tempDir('small-writer-error');
    cleanups.push(dir.remove);
    const writer = new SmallFileWriter();
    cleanups.push(() => writer.close());
    mkdirSync(join(dir.path, 'ok'));
    const file = (sub: string) => {
      const final = join(dir.path, sub, 'x');
      return { final, partial: partialPath(final), pieces: [Buffer.from(sub)], mode: 0o644, mtimeMs: 0 };
    };
    const results = await Promise.allSettled([writer.write(file('missing')), writer.write(file('ok'))]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: 'ENOENT', syscall: 'open' } });
    expect(results[1]).toMatchObject({ status: 'fulfilled' });
    expect(readFileSync(join(dir.path, 'ok', 'x'), 'utf8')).toBe('ok');
    expect(existsSync(join(dir.path, 'missing'))).toBe(false);
  });
  it('writes nothing after close(), not even inline', async () => {
    const dir = tempDir('small-writer-closed');
    cleanups.push(dir.remove);
    const writer = new SmallFileWriter();
    await writer.close();
    const final = join(dir.path, 'late');
    const file = { final, partial: partialPath(final), pieces: [randomBytes(10)], mode: 0o644, mtimeMs: 0 };
    await expect(writer.write(file)).rejects.toThrow('closed');
    expect(existsSync(final)).toBe(false);
    expect(existsSync(file.partial)).toBe(false);
  });
});
