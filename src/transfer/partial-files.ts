/**
 * The receiver's files on disk before a chunk is written (spec/transfer.md §Resume): where a file's
 * partial copy lives (`.NAME.punchline-part`, next to the target), the quick size-and-mtime check,
 * and the hashes of the whole chunks a partial copy already holds, so a resumed transfer asks only
 * for the rest.
 */
import { closeSync, constants, lstatSync, mkdirSync, openSync, readSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { fileSystemError } from './errors.js';
import { CHUNK_SIZE, chunkCount, chunkHash } from './file-hash.js';
import type { Entry } from './wire.js';

const PARTIAL_SUFFIX = '.punchline-part';

/**
 * mkdir -p. Node's recursive mkdir reports ENOENT where the file system said EROFS or EACCES; one
 * plain mkdir then gives the real reason.
 */
export function mkdirp(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(path); // throws the real reason when the parent exists (else ENOENT again)
  }
}

export function partialPath(final: string): string {
  return join(dirname(final), `.${basename(final)}${PARTIAL_SUFFIX}`);
}

/** partialPath of the file `name` in `dir` (normalised, as TargetPaths gives it), without re-parsing the path. */
export function partialPathIn(dir: string, name: string): string {
  return `${dir}${dir.endsWith(sep) ? '' : sep}.${name}${PARTIAL_SUFFIX}`;
}

export function lstatOrNull(path: string): Stats | null {
  try {
    // No exception for a missing file: planning looks at thousands of names that do not exist yet.
    return lstatSync(path, { throwIfNoEntry: false }) ?? null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw fileSystemError(error, path);
  }
}

/** Same size and mtime (to the millisecond) as offered: the quick check rsync uses. */
export function sameFile(stats: Stats, entry: Entry): boolean {
  return stats.isFile() && stats.size === entry.size && Math.abs(stats.mtimeMs - entry.mtimeMs) < 1;
}

/** Hashes of the whole chunks present in a partial file (all of a chunk's bytes must be there). */
export function hashPartial(path: string, size: number): Uint8Array {
  const stats = lstatOrNull(path);
  if (!stats) return new Uint8Array(0);
  if (!stats.isFile()) {
    // Not ours (a symlink or directory where our partial file goes): remove the name, never follow it.
    unlinkSync(path);
    return new Uint8Array(0);
  }
  const chunks = chunkCount(size);
  const hashes: Uint8Array[] = [];
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
    for (let i = 0; i < chunks; i++) {
      const length = Math.min(CHUNK_SIZE, size - i * CHUNK_SIZE);
      if (i * CHUNK_SIZE + length > stats.size) break;
      let filled = 0;
      while (filled < length) {
        const n = readSync(fd, buffer, filled, length - filled, i * CHUNK_SIZE + filled);
        if (n === 0) break;
        filled += n;
      }
      if (filled < length) break;
      hashes.push(chunkHash(buffer.subarray(0, length)));
    }
  } finally {
    closeSync(fd);
  }
  return Buffer.concat(hashes);
}
