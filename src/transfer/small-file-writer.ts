/**
 * Writes verified small files (spec/transfer.md §Transfer) on a worker thread, so that creating them
 * (open O_CREAT of the partial name, write, fchmod, futimes, close, rename: the kernel's inode and
 * directory work) runs beside the event loop that receives, decrypts and hashes the next ones.
 * Profiled on the receiver of 10 000 × 4 KiB files, these calls were 46 % of its main thread, which
 * was the bottleneck of the whole transfer.
 *
 * Files are posted in batches (up to 64 files, or what came in 2 ms: one message for many) with their bytes
 * gathered into one transferred ArrayBuffer: a Buffer view into a stream's buffer would be cloned
 * whole. Without a worker (it failed to start) the same calls run inline. Every file is written to
 * its partial name and renamed only once complete, as before; the caller has checked its hashes.
 */
import { closeSync, constants, fchmodSync, futimesSync, openSync, renameSync, writeSync } from 'node:fs';
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
 * A batch is posted as soon as it holds BATCH_FILES files or BATCH_BYTES bytes, else BATCH_WAIT_MS
 * after its first file (the worker queues batches it has not started). Posting whatever
 * was there at the end of each event-loop turn sent batches of 1-3 files while the worker was
 * fast, and the event loop spent its time on messages (--cpu-prof: postMessage on both sides,
 * the worker idle 80 % of the time).
 */
const BATCH_BYTES = 1024 * 1024;
const BATCH_FILES = 64;
const BATCH_WAIT_MS = 2;

const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

// CommonJS evaluated in the worker: the same calls as writeInline below.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', ({ id, buffer, paths, numbers }) => {
  const data = new Uint8Array(buffer);
  const names = paths.split('\\0');
  const failures = [];
  let offset = 0;
  for (let i = 0; i < names.length / 2; i++) {
    const [length, mode, atime, mtime] = numbers.subarray(4 * i, 4 * i + 4);
    let fd = -1;
    let failure = null;
    try {
      fd = fs.openSync(names[2 * i], ${FLAGS}, 0o600);
      let written = 0;
      while (written < length) written += fs.writeSync(fd, data, offset + written, length - written, written);
      fs.fchmodSync(fd, mode);
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
  parentPort.postMessage({ id, failures });
});
`;

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Files waiting to be posted. Their names travel as one string and their numbers as one transferred
 * array: structured-cloning an object per file cost the event loop more than the writes it saved.
 */
interface Batch {
  /** partial and final name of each file, `\0`-separated (no path holds a NUL: safe-path.ts). */
  paths: string;
  /** length, mode, atime (s), mtime (s) of each file. */
  numbers: number[];
  readonly pieces: Uint8Array[];
  readonly waiters: Waiter[];
  bytes: number;
}

/** The rebuilt error: a NodeJS.ErrnoException-like Error, so fileSystemError maps ENOSPC etc. as before. */
function failureError(failure: FailureRecord): Error {
  return Object.assign(new Error(failure.message), { code: failure.code, syscall: failure.syscall });
}

/** Writes one file inline: partial name, bytes, mode, times, rename into place. */
function writeInline(file: SmallFile, atime: number): void {
  let fd = openSync(file.partial, FLAGS, 0o600);
  try {
    let position = 0;
    for (const piece of file.pieces) {
      let written = 0;
      while (written < piece.length)
        written += writeSync(fd, piece, written, piece.length - written, position + written);
      position += piece.length;
    }
    fchmodSync(fd, file.mode);
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
    let batch = this.batch;
    if (!batch) {
      batch = { paths: '', numbers: [], pieces: [], waiters: [], bytes: 0 };
      this.batch = batch;
      setTimeout(() => this.flush(batch!), BATCH_WAIT_MS); // unless full before
    }
    let length = 0;
    for (const piece of file.pieces) {
      batch.pieces.push(piece);
      length += piece.length;
    }
    batch.paths += `${batch.paths ? '\0' : ''}${file.partial}\0${file.final}`;
    batch.numbers.push(length, file.mode, atime, file.mtimeMs / 1000);
    batch.bytes += length;
    const done = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    if (batch.bytes >= BATCH_BYTES || batch.waiters.length >= BATCH_FILES) this.flush(batch);
    return done;
  }

  /** Stops the worker (writes not yet done fail); resolves once it has stopped writing. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.failed = true;
    this.closed = true;
    if (this.batch) this.flush(this.batch); // fails its files: nothing is written after close
    await worker?.terminate();
  }

  private flush(batch: Batch): void {
    if (this.batch !== batch) return; // already posted
    this.batch = null;
    const worker = this.worker;
    if (!worker) {
      for (const waiter of batch.waiters) waiter.reject(new Error('the file writer stopped'));
      return;
    }
    const buffer = new Uint8Array(batch.bytes);
    let offset = 0;
    for (const piece of batch.pieces) {
      buffer.set(piece, offset);
      offset += piece.length;
    }
    const id = this.nextId++;
    if (this.inFlight.size === 0) worker.ref();
    this.inFlight.set(id, batch);
    this.pendingBytes += batch.bytes;
    const numbers = Float64Array.from(batch.numbers);
    worker.postMessage({ id, buffer: buffer.buffer, paths: batch.paths, numbers }, [buffer.buffer, numbers.buffer]);
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.failed) return this.worker;
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.on('message', ({ id, failures }: { id: number; failures: [number, FailureRecord][] }) => {
        const batch = this.inFlight.get(id);
        if (!batch) return;
        this.inFlight.delete(id);
        this.pendingBytes -= batch.bytes;
        if (this.inFlight.size === 0) worker.unref();
        const failed = new Map(failures);
        batch.waiters.forEach((waiter, i) => {
          const failure = failed.get(i);
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
        if (this.batch) this.flush(this.batch); // no worker: its files fail too
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
