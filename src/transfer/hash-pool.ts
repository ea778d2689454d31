/**
 * Chunk hashing, optionally off the event loop: with PUNCHLINE_HASH_WORKER=on one worker thread per
 * process hashes large chunks (the transport, which needs the event loop for every datagram, keeps
 * it). Small chunks are always hashed inline, where a thread round trip would cost more than the
 * hash. Without the worker (the default, see ensureWorker) everything is hashed inline.
 */
import { Worker } from 'node:worker_threads';
import { HASH_BYTES, chunkHash } from './file-hash.js';

/** Chunks at least this long go to the worker. */
const OFFLOAD_BYTES = 64 * 1024;

// CommonJS source evaluated in the worker: the same hash as chunkHash (file-hash.ts).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, buffer, length }) => {
  const digest = createHash('blake2b512').update(new Uint8Array(buffer, 0, length)).digest();
  const hash = new Uint8Array(${HASH_BYTES});
  hash.set(digest.subarray(0, ${HASH_BYTES}));
  parentPort.postMessage({ id, buffer, hash }, [buffer]);
});
`;

interface Pending {
  resolve(result: { hash: Uint8Array; buffer: ArrayBuffer }): void;
  reject(error: Error): void;
}

class HashPool {
  private worker: Worker | null = null;
  private failed = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** Whether large chunks go to the worker (PUNCHLINE_HASH_WORKER=on and it started). */
  get offloads(): boolean {
    return this.ensureWorker() !== null;
  }

  /**
   * Hashes `data` (a Buffer that owns its whole ArrayBuffer, e.g. from Buffer.allocUnsafeSlow, when
   * it is large: the ArrayBuffer travels to the worker and back). Resolves with the hash and the
   * data (the same bytes, possibly in a new Buffer object).
   */
  async hash(data: Buffer): Promise<{ hash: Uint8Array; data: Buffer }> {
    const worker = data.length >= OFFLOAD_BYTES && ownsBuffer(data) ? this.ensureWorker() : null;
    if (!worker) return { hash: chunkHash(data), data };
    const id = this.nextId++;
    const length = data.length; // `data` is detached once its buffer is transferred
    const result = await new Promise<{ hash: Uint8Array; buffer: ArrayBuffer }>((resolve, reject) => {
      // Referenced only while hashes are outstanding: an idle worker must not keep the process alive.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, buffer: data.buffer, length }, [data.buffer as ArrayBuffer]);
    });
    return { hash: result.hash, data: Buffer.from(result.buffer, 0, length) };
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.failed) return this.worker;
    // Off unless PUNCHLINE_HASH_WORKER=on: measured on the 2-core project machine (sender and
    // receiver on it), the thread hop and copies cost more than they free (256 MiB in-process over
    // loopback: 646 Mbit/s inline, 475 with the worker). Where each side has spare cores, turn it on.
    if (process.env['PUNCHLINE_HASH_WORKER'] !== 'on') {
      this.failed = true;
      return null;
    }
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.on('message', (m: { id: number; hash: Uint8Array; buffer: ArrayBuffer }) => {
        const pending = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (this.pending.size === 0) worker.unref();
        pending?.resolve({ hash: m.hash, buffer: m.buffer });
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

/** True when `data` spans its whole ArrayBuffer (so transferring that buffer moves nothing else). */
function ownsBuffer(data: Buffer): boolean {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
}

/** The process's hash pool. */
export const hashPool = new HashPool();
