/**
 * What `send` offers (spec/transfer.md §Offer): the given paths, directories walked without
 * following symlinks inside them (a symlink is sent as a symlink, like rsync -l), each entry named
 * by its path relative to the parent of the argument it came from (`send dir` offers `dir/...`).
 */
import { lstatSync, readdirSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { TransferError, TransferErrorCode, fileSystemError } from './errors.js';
import type { Entry } from './wire.js';

/** An offered entry and where its bytes are on this machine. */
export interface SourceEntry extends Entry {
  readonly source: string;
}

function entryOf(path: string, source: string, stats: Stats): SourceEntry | null {
  const base = { path, source, mode: stats.mode & 0o777, mtimeMs: stats.mtimeMs };
  if (stats.isFile()) return { ...base, kind: 'file', size: stats.size };
  if (stats.isDirectory()) return { ...base, kind: 'dir', size: 0 };
  if (stats.isSymbolicLink()) return { ...base, kind: 'symlink', size: 0, target: readlinkSync(source) };
  return null; // sockets, FIFOs, devices: not sent
}

/** Builds the offer for `paths` (files, directories; a symlink given directly is followed). */
export function buildManifest(paths: readonly string[]): SourceEntry[] {
  const entries: SourceEntry[] = [];
  const seen = new Set<string>();
  const add = (entry: SourceEntry): void => {
    if (seen.has(entry.path)) {
      throw new TransferError(TransferErrorCode.BadSource, `two sources would both be sent as '${entry.path}'`);
    }
    seen.add(entry.path);
    entries.push(entry);
  };
  const walk = (dir: string, prefix: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (error) {
      throw fileSystemError(error, `reading directory ${dir}`);
    }
    for (const name of names) {
      const source = join(dir, name);
      const path = `${prefix}/${name}`;
      let stats: Stats;
      try {
        stats = lstatSync(source);
      } catch (error) {
        throw fileSystemError(error, source);
      }
      const entry = entryOf(path, source, stats);
      if (!entry) continue;
      add(entry);
      if (entry.kind === 'dir') walk(source, path);
    }
  };
  for (const given of paths) {
    const source = resolve(given);
    let stats: Stats;
    try {
      stats = statSync(source);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new TransferError(TransferErrorCode.BadSource, `no such file or directory: ${given}`);
      throw fileSystemError(error, given);
    }
    const name = basename(source);
    if (name === '' || name === '..' || name === '.') {
      throw new TransferError(TransferErrorCode.BadSource, `cannot send the file-system root '${given}'`);
    }
    const entry = entryOf(name, source, stats);
    if (!entry) throw new TransferError(TransferErrorCode.BadSource, `${given} is not a regular file or directory`);
    add(entry);
    if (entry.kind === 'dir') walk(source, name);
  }
  return entries;
}

/** Files and bytes of an offer. */
export function offerTotals(entries: readonly Entry[]): { files: number; bytes: number; dirs: number } {
  let files = 0;
  let bytes = 0;
  let dirs = 0;
  for (const entry of entries) {
    if (entry.kind === 'dir') dirs++;
    else files++;
    bytes += entry.size;
  }
  return { files, bytes, dirs };
}
