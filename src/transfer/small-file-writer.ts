/**
 * Writes verified small files (spec/transfer.md §Transfer) on a worker thread, so that creating them
 * (open O_CREAT of the partial name, write, fchmod, futimes, close, rename: the kernel's inode and
 * directory work) runs beside the event loop that receives, decrypts and hashes the next ones.
 * Profiled on the receiver of 10 000 × 4 KiB files, these calls were 46 % of its main thread, which
 * was the bottleneck of the whole transfer.
 *
 * Files are posted in batches (one message for many, see BATCH_FILES) with their bytes copied into a
 * slab that travels to the worker and back (transferred, not copied): a Buffer view into a stream's
 * buffer would be cloned whole. Without
 * a worker (it failed to start) the same calls run inline. Every file is written to
 * its partial name and renamed only once complete, as before; the caller has checked its hashes.
 */
import { closeSync, constants, fchmodSync, fstatSync, futimesSync, openSync, renameSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

export interface SmallFile {
  readonly partial: string;
  readonly final: string;
  /** The verified bytes, in order. */
  readonly pieces: readonly Uint8Array[];
  readonly mode: number;
  readonly mtimeMs: number;
}

/** What the worker sends back for a file that failed: enough to rebuild a file-system error. */
interface FailureRecord {
  readonly code?: string;
  readonly syscall?: string;
  readonly message: string;
}

/**
 * When a batch is posted: at once when it holds BATCH_FILES files or its slab is full; else as soon
 * as the worker has nothing to do (at the end of this event-loop turn), or when the worker answers
 * the batch it is writing. While the worker writes, the next batch fills, so batches grow with the
 * worker's work and every message moves many files. (A 2 ms timer per batch posted them whether the
 * worker was busy or not: --cpu-prof of 10 000 × 4 KiB files, postMessage 284 ms and the gathering
 * flush 143 ms of the receiver's event loop, contended.) Posting whatever was there at the end of
 * every turn, busy or not, sent batches of 1-3 files and the event loop spent its time on messages.
 */
const BATCH_FILES = 256;
/**
 * Bytes of a slab: the memory a batch's files are copied into as they come (one copy, as before at
 * posting). The worker transfers a slab back with its answer, and it is reused: a fresh ArrayBuffer
 * per batch was zeroed and page-faulted on every batch. Not a SharedArrayBuffer: V8 copies into
 * shared memory with relaxed atomics, 1.7 µs per 4 KiB file against 0.25 µs (node, this machine).
 */
const SLAB_BYTES = 1024 * 1024;
/** Free slabs kept for reuse (more in flight are dropped once answered). */
const SPARE_SLABS = 4;

const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
/**
 * A partial file is created with its final mode (as the umask and a default ACL leave it) and the
 * owner's write bit, so that a partial file left behind stays writable for a later run. fstat then
 * says whether the mode is already the one wanted: it usually is (0o644 under umask 022), and fstat
 * reads the inode where fchmod writes it (profiled, 10 000 × 4 KiB: fchmod 49 ms of the writer's
 * thread). Where it differs (umask, an ACL, no write bit, an existing partial file), fchmod sets it.
 */
const OWNER_WRITE = 0o200;

// CommonJS evaluated in the worker: the same calls as writeInline below.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', ({ id, buffer, paths, numberBuffer }) => {
  const data = new Uint8Array(buffer);
  const numbers = new Float64Array(numberBuffer);
  const names = paths.split('\\0');
  const failures = [];
  let offset = 0;
  for (let i = 0; i < names.length / 2; i++) {
    const [length, mode, atime, mtime] = numbers.subarray(4 * i, 4 * i + 4);
    let fd = -1;
    let failure = null;
    try {
      fd = fs.openSync(names[2 * i], ${FLAGS}, mode | ${OWNER_WRITE});
      let written = 0;
      while (written < length) written += fs.writeSync(fd, data, offset + written, length - written, written);
      if ((fs.fstatSync(fd).mode & 0o7777) !== mode) fs.fchmodSync(fd, mode);
      fs.futimesSync(fd, atime, mtime);
      fs.closeSync(fd);
      fd = -1;
      fs.renameSync(names[2 * i], names[2 * i + 1]);
    } catch (error) {
      failure = { code: error.code, syscall: error.syscall, message: String(error.message) };
    } finally {
      if (fd >= 0) try { fs.closeSync(fd); } catch {}
    }
    offset += length;
    if (failure) failures.push([i, failure]);
  }
  parentPort.postMessage({ id, failures, buffer, numberBuffer }, [buffer, numberBuffer]);
});
`;

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/** The worker's answer to a batch: the files that failed, and the batch's slab back. */
interface Answer {
  readonly id: number;
  readonly failures: [number, FailureRecord][];
  readonly buffer: ArrayBuffer;
  readonly numberBuffer: ArrayBuffer;
}

/** Memory for one batch: its files' bytes, and 4 numbers per file. */
interface Slab {
  readonly bytes: Uint8Array;
  readonly numbers: Float64Array;
}

function newSlab(bytes: number): Slab {
  return {
    bytes: new Uint8Array(bytes),
    numbers: new Float64Array(4 * BATCH_FILES),
  };
}

/**
 * Files waiting to be posted, their bytes already in the batch's slab. Their names travel as one
 * string: structured-cloning an object per file cost the event loop more than the writes it saved.
 */
interface Batch {
  /** partial and final name of each file, `\0`-separated (no path holds a NUL: safe-path.ts). */
  paths: string;
  /** Bytes, and length, mode, atime (s), mtime (s) of each file. */
  readonly slab: Slab;
  readonly waiters: Waiter[];
  bytes: number;
  /** A post at the end of this event-loop turn is scheduled. */
  scheduled: boolean;
}

/** The rebuilt error: a NodeJS.ErrnoException-like Error, so fileSystemError maps ENOSPC etc. as before. */
function failureError(failure: FailureRecord): Error {
  return Object.assign(new Error(failure.message), { code: failure.code, syscall: failure.syscall });
}

/** Writes one file inline: partial name, bytes, mode, times, rename into place. */
function writeInline(file: SmallFile, atime: number): void {
  let fd = openSync(file.partial, FLAGS, file.mode | OWNER_WRITE);
  try {
    let position = 0;
    for (const piece of file.pieces) {
      let written = 0;
      while (written < piece.length)
        written += writeSync(fd, piece, written, piece.length - written, position + written);
      position += piece.length;
    }
    if ((fstatSync(fd).mode & 0o7777) !== file.mode) fchmodSync(fd, file.mode);
    futimesSync(fd, atime, file.mtimeMs / 1000);
    closeSync(fd);
    fd = -1;
    renameSync(file.partial, file.final);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

export class SmallFileWriter {
  private worker: Worker | null = null;
  private failed = false;
  /** close() was called: nothing more is written, not even inline. */
  private closed = false;
  private batch: Batch | null = null;
  private readonly inFlight = new Map<number, Batch>();
  private readonly spareSlabs: Slab[] = [];
  private nextId = 1;
  /** Bytes posted to the worker and not yet written. */
  private pendingBytes = 0;

  /** Bytes handed over and not yet on disk (the caller bounds its memory with it). */
  get queuedBytes(): number {
    return this.pendingBytes + (this.batch?.bytes ?? 0);
  }

  /**
   * Writes `file`; resolves once it is renamed into place, rejects with the system error (`code`,
   * `syscall`) of the call that failed (the partial file may then exist: it is resumable as before).
   */
  write(file: SmallFile): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the file writer is closed'));
    const atime = Date.now() / 1000;
    if (!this.ensureWorker()) {
      try {
        writeInline(file, atime);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    let length = 0;
    for (const piece of file.pieces) length += piece.length;
    let batch = this.batch;
    if (batch && batch.bytes + length > batch.slab.bytes.length) {
      this.post(batch);
      batch = null;
    }
    if (!batch) {
      const spare = this.spareSlabs.pop();
      const slab = spare && spare.bytes.length >= length ? spare : newSlab(Math.max(SLAB_BYTES, length));
      batch = { paths: '', slab, waiters: [], bytes: 0, scheduled: false };
      this.batch = batch;
    }
    const bytes = batch.slab.bytes;
    for (const piece of file.pieces) {
      bytes.set(piece, batch.bytes);
      batch.bytes += piece.length;
    }
    const n = 4 * batch.waiters.length;
    const numbers = batch.slab.numbers;
    numbers[n] = length;
    numbers[n + 1] = file.mode;
    numbers[n + 2] = atime;
    numbers[n + 3] = file.mtimeMs / 1000;
    batch.paths += `${batch.paths ? '\0' : ''}${file.partial}\0${file.final}`;
    const done = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    if (batch.waiters.length >= BATCH_FILES) this.post(batch);
    else if (this.inFlight.size === 0 && !batch.scheduled) {
      // The worker is idle: hand it what this event-loop turn brings (the answer posts the next).
      batch.scheduled = true;
      setImmediate(() => this.post(batch!));
    }
    return done;
  }

  /** Stops the worker (writes not yet done fail); resolves once it has stopped writing. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.failed = true;
    this.closed = true;
    if (this.batch) this.post(this.batch); // fails its files: nothing is written after close
    await worker?.terminate();
  }

  private post(batch: Batch): void {
    if (this.batch !== batch) return; // already posted
    this.batch = null;
    const worker = this.worker;
    if (!worker) {
      for (const waiter of batch.waiters) waiter.reject(new Error('the file writer stopped'));
      return;
    }
    const id = this.nextId++;
    if (this.inFlight.size === 0) worker.ref();
    this.inFlight.set(id, batch);
    this.pendingBytes += batch.bytes;
    // Plain ArrayBuffers (newSlab), moved to the worker; it moves them back with its answer.
    const buffer = batch.slab.bytes.buffer as ArrayBuffer;
    const numberBuffer = batch.slab.numbers.buffer as ArrayBuffer;
    worker.postMessage({ id, buffer, paths: batch.paths, numberBuffer }, [buffer, numberBuffer]);
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.failed) return this.worker;
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.on('message', ({ id, failures, buffer, numberBuffer }: Answer) => {
        const batch = this.inFlight.get(id);
        if (!batch) return;
        this.inFlight.delete(id);
        this.pendingBytes -= batch.bytes;
        if (this.spareSlabs.length < SPARE_SLABS) {
          this.spareSlabs.push({ bytes: new Uint8Array(buffer), numbers: new Float64Array(numberBuffer) });
        }
        if (this.inFlight.size === 0) {
          // What came in while the worker wrote goes now, in one message.
          if (this.batch) this.post(this.batch);
          else worker.unref();
        }
        const failed = failures.length > 0 ? new Map(failures) : null;
        batch.waiters.forEach((waiter, i) => {
          const failure = failed?.get(i);
          if (failure) waiter.reject(failureError(failure));
          else waiter.resolve();
        });
      });
      const die = (error: Error): void => {
        this.failed = true;
        this.worker = null;
        for (const batch of this.inFlight.values()) for (const waiter of batch.waiters) waiter.reject(error);
        this.inFlight.clear();
        this.pendingBytes = 0;
        if (this.batch) this.post(this.batch); // no worker: its files fail too
      };
      worker.on('error', die);
      worker.on('exit', () => die(new Error('the file writer thread exited')));
      // After the listeners: adding a 'message' listener refs the worker again.
      worker.unref();
      this.worker = worker;
    } catch {
      this.failed = true;
    }
    return this.worker;
  }
}
