/**
 * Chunk hashing, optionally off the event loop (spec/transfer.md §Integrity): with
 * PUNCHLINE_HASH_WORKER=on one worker thread per process hashes large chunks that live in shared
 * memory (sharedBuffer), so nothing is copied or transferred: the worker reads the region while the
 * main thread goes on moving packets (the transport needs the event loop for every datagram).
 * Small chunks, and chunks not in shared memory, are always hashed inline, where a thread round trip
 * would cost more than the hash. Without the worker (the default, see ensureWorker) everything is
 * hashed inline.
 *
 * Ownership: a caller hands a region to hash() and must not write to it until the promise settles
 * (the worker is reading it); it may read it meanwhile.
 */
import { Worker } from 'node:worker_threads';
import { HASH_BYTES, chunkHash } from './file-hash.js';

/** Chunks at least this long go to the worker. */
const OFFLOAD_BYTES = 64 * 1024;

// CommonJS source evaluated in the worker: the same hash as chunkHash (file-hash.ts). The reply
// carries only the 32-byte hash; the chunk stays where it is, in shared memory.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, memory, offset, length }) => {
  const digest = createHash('blake2b512').update(new Uint8Array(memory, offset, length)).digest();
  const hash = new Uint8Array(${HASH_BYTES});
  hash.set(digest.subarray(0, ${HASH_BYTES}));
  parentPort.postMessage({ id, hash }, [hash.buffer]);
});
`;

interface Pending {
  resolve(hash: Uint8Array): void;
  reject(error: Error): void;
}

class HashPool {
  private worker: Worker | null = null;
  private failed = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** Whether large chunks in shared memory go to the worker (PUNCHLINE_HASH_WORKER=on and it started). */
  get offloads(): boolean {
    return this.ensureWorker() !== null;
  }

  /**
   * chunkHash of `data`: on the worker when it runs, `data` is large and lives in shared memory
   * (see sharedBuffer), else inline. `data` must not change until the promise settles.
   */
  async hash(data: Buffer): Promise<Uint8Array> {
    const worker =
      data.length >= OFFLOAD_BYTES && data.buffer instanceof SharedArrayBuffer ? this.ensureWorker() : null;
    if (!worker) return chunkHash(data);
    const id = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      // Referenced only while hashes are outstanding: an idle worker must not keep the process alive.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, memory: data.buffer, offset: data.byteOffset, length: data.length });
    });
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.failed) return this.worker;
    if (process.env['PUNCHLINE_HASH_WORKER'] !== 'on') {
      this.failed = true;
      return null;
    }
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.on('message', (m: { id: number; hash: Uint8Array }) => {
        const pending = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (this.pending.size === 0) worker.unref();
        pending?.resolve(m.hash);
      });
      const die = (error: Error): void => {
        this.failed = true;
        this.worker = null;
        for (const pending of this.pending.values()) pending.reject(error);
        this.pending.clear();
      };
      worker.on('error', die);
      worker.on('exit', () => die(new Error('hash worker exited')));
      // After the listeners: adding a 'message' listener refs the worker again.
      worker.unref();
      this.worker = worker;
    } catch {
      this.failed = true;
    }
    return this.worker;
  }
}

/**
 * A buffer of `length` bytes the worker can read in place: shared memory when the worker runs, else
 * an ordinary unpooled buffer (the same bytes either way; SharedArrayBuffer memory starts zeroed).
 */
export function sharedBuffer(length: number): Buffer {
  return hashPool.offloads ? Buffer.from(new SharedArrayBuffer(length)) : Buffer.allocUnsafeSlow(length);
}

/** The process's hash pool. */
export const hashPool = new HashPool();
