/**
 * `mkdir -p` without Node's `{ recursive: true }`: on a path whose parent cannot be created because
 * it does not exist in a pseudo file system (e.g. `/proc/x/y`), Node's recursive mkdir retries
 * forever at 100 % CPU in the thread pool. Creating one level at a time fails with the first error.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export async function makeDirectory(path: string, mode: number): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      await stat(p);
      break; // exists: mkdir of the first missing child reports ENOTDIR if it is not a directory
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      missing.push(p);
      if (dirname(p) === p) break;
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir, { mode });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
