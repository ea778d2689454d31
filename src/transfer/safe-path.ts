/**
 * Paths a sender offers are untrusted (spec/transfer.md §Paths): relative, `/`-separated, each part
 * a plain name. Where they land is checked against the real file system too: no existing component
 * under --out may be a symlink (it could point anywhere), and a symlink entry may only point inside
 * --out.
 */
import { lstatSync } from 'node:fs';
import { dirname, join, normalize, posix, resolve, sep } from 'node:path';
import { TransferError, TransferErrorCode } from './errors.js';

const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;

function unsafe(path: string, why: string): TransferError {
  return new TransferError(TransferErrorCode.UnsafePath, `refused path ${JSON.stringify(path).slice(0, 200)}: ${why}`);
}

/** Throws UNSAFE_PATH unless `path` is a relative path of plain names. Returns its parts. */
function checkRelativePath(path: unknown): string[] {
  if (typeof path !== 'string' || path.length === 0) throw unsafe(String(path), 'empty');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw unsafe(path, 'too long');
  if (path.includes('\0')) throw unsafe(path, 'contains NUL');
  if (path.includes('\\')) throw unsafe(path, 'contains a backslash');
  if (path.startsWith('/')) throw unsafe(path, 'absolute');
  const parts = path.split('/');
  for (const part of parts) {
    if (part === '' || part === '.') throw unsafe(path, 'empty or "." component');
    if (part === '..') throw unsafe(path, '".." component');
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) throw unsafe(path, 'a name longer than 255 bytes');
  }
  return parts;
}

/** Whether `target` is `root` or inside it (both absolute, normalised). */
function isInside(root: string, target: string): boolean {
  return target === root || target.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * Targets of the entries of one offer under `root`: each directory on the way is checked once (no
 * existing one may be a symlink or a non-directory, else UNSAFE_PATH) and the answer kept, and the
 * caller learns whether the target's directory exists at all (when it does not, neither does the
 * target nor its partial file, so the receiver need not look for them).
 */
export class TargetPaths {
  /** Directory → true when it is a real directory, false when it does not exist (yet). */
  private readonly dirs = new Map<string, boolean>();

  /** `root` normalised: then joining a plain name is appending it (what join would return). */
  private readonly root: string;

  constructor(root: string) {
    this.root = normalize(root);
  }

  /**
   * The target of the relative `path`, its directory and name, and whether that directory exists.
   * Paths are built by appending checked plain names to the normalised root: the same strings as
   * join gives, without normalising the whole path again per entry (profiled, 10 000 entries: join
   * and dirname were ~50 ms of the receiver's event loop).
   */
  resolve(path: string): { final: string; dir: string; name: string; dirExists: boolean } {
    const parts = checkRelativePath(path);
    let current = this.root;
    let dirExists = true;
    for (let i = 0; i < parts.length - 1; i++) {
      current = child(current, parts[i]!);
      let exists = this.dirs.get(current);
      if (exists === undefined) {
        exists = checkDirectory(current, path);
        this.dirs.set(current, exists);
      }
      dirExists = exists;
    }
    const name = parts[parts.length - 1]!;
    return { final: child(current, name), dir: current, name, dirExists };
  }
}

/** join(dir, name) for a normalised `dir` and a plain `name` (no separator, not "." or ".."). */
function child(dir: string, name: string): string {
  return dir.endsWith(sep) ? dir + name : dir + sep + name;
}

/** Whether `dir` (on the way to `path`) exists; throws UNSAFE_PATH when it is not a real directory. */
function checkDirectory(dir: string, path: string): boolean {
  let stats: ReturnType<typeof lstatSync> | undefined;
  try {
    stats = lstatSync(dir, { throwIfNoEntry: false });
  } catch {
    return false; // e.g. ENOTDIR: a file on the way is reported at its own component
  }
  if (!stats) return false; // does not exist yet: created as a real directory later
  if (stats.isSymbolicLink()) throw unsafe(path, `${dir} is a symlink`);
  if (!stats.isDirectory()) throw unsafe(path, `${dir} is not a directory`);
  return true;
}

/** Throws UNSAFE_PATH unless a symlink at `path` (under `root`) with this target stays inside `root`. */
export function checkSymlinkTarget(root: string, path: string, target: unknown): void {
  if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) throw unsafe(path, 'bad link');
  if (posix.isAbsolute(target)) throw unsafe(path, `symlink to an absolute path ${target}`);
  const resolved = resolve(dirname(join(root, path)), target);
  if (!isInside(root, resolved)) throw unsafe(path, `symlink ${target} points out of the target directory`);
}
