/**
 * How the receiver puts a large file's verified chunks on disk: whole chunks with O_DIRECT where the
 * file system takes it, the rest (a short last chunk, a file system without O_DIRECT, e.g. some FUSE)
 * through the page cache.
 *
 * Why: copying into newly allocated page-cache pages is what a buffered write costs, and on the
 * project machine (a VM with virtio-balloon/virtio-mem: fresh guest pages fault to the host) that
 * copy dominated the receiver's kernel time: `dd bs=1M count=1024` to /tmp took 1.89 s of system
 * time buffered and 0.09 s with oflag=direct (0.49 s wall); perf on a buffered 512 MiB write showed
 * 87 % in copy_folio_from_iter_atomic. A plain punchline stream writes nothing, so this is most of
 * the gap between it and a transfer. The file then is not in the page cache afterwards (as with
 * `dd oflag=direct`); durability is unchanged (no fsync either way, spec/transfer.md §Transfer).
 *
 * O_DIRECT wants the memory address aligned (to the device's logical block, 512 or 4096 bytes), and
 * JavaScript cannot see addresses: each buffer holds CHUNK_SIZE + 4 KiB, and the first direct write
 * from it tries data offsets until the kernel accepts one (EINVAL, before any byte is written, for
 * a misaligned one; the data is moved with copyWithin). A buffer that finds none, or a file system
 * that refuses, falls back to buffered writes: the bytes written are the same either way.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { CHUNK_SIZE } from './file-hash.js';
import { sharedBuffer } from './hash-pool.js';

/** Largest memory alignment O_DIRECT asks for (a 4 KiB logical block). */
const ALIGN = 4096;
/** Heap allocations are 16-byte aligned: the offsets worth trying. */
const STEP = 16;
/** How a kernel or file system says no to an O_DIRECT request (misaligned, or not supported). */
const REFUSED = new Set(['EINVAL', 'EOPNOTSUPP', 'ENOTSUP']);

/** A chunk's gathering buffer; `data` is where the chunk goes (CHUNK_SIZE bytes). */
export class ChunkBuffer {
  // Shared memory when the hash worker runs: it hashes the gathered chunk in place (hash-pool.ts).
  private readonly backing = sharedBuffer(CHUNK_SIZE + ALIGN);
  private offset = 0;
  /** Offset found to suit O_DIRECT; null until probed, false when none did. */
  private direct: boolean | null = null;
  data = this.backing.subarray(0, CHUNK_SIZE);

  /** Moves the first `length` bytes of `data` to start at `offset` in the backing buffer. */
  private moveTo(offset: number, length: number): void {
    this.backing.copyWithin(offset, this.offset, this.offset + length);
    this.offset = offset;
    this.data = this.backing.subarray(offset, offset + CHUNK_SIZE);
  }

  /**
   * Writes the first `length` bytes of `data` at `position` with `file` (opened with O_DIRECT);
   * false when the kernel refuses every alignment (then nothing was written).
   */
  async writeDirect(file: FileHandle, length: number, position: number): Promise<boolean> {
    if (this.direct === false) return false;
    const first = this.offset;
    for (let step = 0; step < ALIGN / STEP; step++) {
      if (this.direct === null && step > 0) this.moveTo((first + step * STEP) % ALIGN, length);
      try {
        await writeAll(file, this.data, length, position);
        this.direct = true;
        return true;
      } catch (error) {
        if (!REFUSED.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
        if (this.direct === true) break; // it worked from here before: the file refuses now
      }
    }
    this.direct = false;
    return false;
  }
}

/** Gathering buffers, reused once their chunk is written (fresh megabytes cost page faults). */
export class ChunkBuffers {
  private readonly free: ChunkBuffer[] = [];

  take(): ChunkBuffer {
    return this.free.pop() ?? new ChunkBuffer();
  }

  give(buffer: ChunkBuffer): void {
    if (this.free.length < 16) this.free.push(buffer);
  }
}

/**
 * A second descriptor of the partial file with O_DIRECT, or null where the file system has none or
 * (given `same`, the descriptor already open) where the name no longer leads to the same file.
 */
export async function openDirect(path: string, same?: FileHandle): Promise<FileHandle | null> {
  let direct: FileHandle;
  try {
    direct = await open(path, constants.O_WRONLY | constants.O_DIRECT | constants.O_NOFOLLOW);
  } catch (error) {
    if (REFUSED.has((error as NodeJS.ErrnoException).code ?? '')) return null;
    throw error;
  }
  if (same !== undefined) {
    // A second open by name: if the name now holds another file (replaced or hard-linked in between
    // by someone else in --out), verified chunks would land there and leave holes in ours. Only the
    // same inode may be written directly; otherwise every chunk goes through `same`.
    try {
      const [a, b] = await Promise.all([direct.stat({ bigint: true }), same.stat({ bigint: true })]);
      if (a.dev === b.dev && a.ino === b.ino) return direct;
    } catch (error) {
      await direct.close();
      throw error;
    }
    await direct.close();
    return null;
  }
  return direct;
}

/**
 * Writes a verified chunk held in `buffer`: directly when `direct` is given and the chunk is whole
 * blocks, else (or when O_DIRECT refuses) through `buffered`. Returns false when O_DIRECT refused,
 * so the caller stops trying it for this file.
 */
export async function writeChunk(
  buffered: FileHandle,
  direct: FileHandle | null,
  buffer: ChunkBuffer,
  length: number,
  position: number,
): Promise<boolean> {
  if (direct && length % ALIGN === 0 && position % ALIGN === 0) {
    if (await buffer.writeDirect(direct, length, position)) return true;
    await writeAll(buffered, buffer.data, length, position);
    return false;
  }
  await writeAll(buffered, buffer.data, length, position);
  return true;
}

/** Writes `length` bytes of `data` at `position` (again from where it stopped after a short write). */
async function writeAll(file: FileHandle, data: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await file.write(data, done, length - done, position + done);
    done += bytesWritten;
  }
}
