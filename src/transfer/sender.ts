/**
 * The sending side of a transfer over an established connection (spec/transfer.md §Transfer):
 * answer the receiver's hello with the offer, take its request (files and the chunk hashes it
 * already holds), then push the files over `streams` parallel unidirectional streams, each file
 * as FILE, CHUNK..., END frames. A partial file resumes at the first chunk whose hash differs.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Connection } from '../node/endpoint.js';
import type { PunchlineStream } from '../node/stream.js';
import { ControlChannel } from './control-channel.js';
import { TransferError, TransferErrorCode, fileSystemError } from './errors.js';
import {
  CHUNK_SIZE,
  ChunkHasher,
  FileHasher,
  HASH_BYTES,
  SmallFileHasher,
  chunkCount,
  chunkHash,
} from './file-hash.js';
import { hashPool, sharedBuffer } from './hash-pool.js';
import { offerTotals, type SourceEntry } from './manifest.js';
import {
  ONE_CHUNK_DATA_OFFSET,
  ONE_CHUNK_FRAMING,
  TRANSFER_VERSION,
  encodeChunkHeader,
  encodeEndFrame,
  encodeFileFrame,
  frameOneChunkFile,
} from './wire.js';
import type { TransferProgress, TransferSummary } from './progress.js';

export interface SendOptions {
  /** Parallel data streams for files over 64 KiB (files in flight at once); smaller ones share one more. Default 8. */
  readonly streams?: number;
  /** Called as bytes leave (throttle it yourself). */
  readonly onProgress?: (progress: TransferProgress) => void;
  /** Called once the receiver accepted the offer. */
  readonly onAccepted?: (request: { files: number; bytes: number }) => void;
}

/** Files in flight: creating a file costs the receiver a thread-pool round trip, so several overlap. */
const DEFAULT_STREAMS = 8;

/** Waits until the stream can take more (write() returned false), or fails if it dies first. */
function drained(stream: PunchlineStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', onError);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(new TransferError(TransferErrorCode.Aborted, 'the connection closed during the transfer'));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new TransferError(TransferErrorCode.Aborted, `stream failed: ${error.message}`, { cause: error }));
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', onError);
  });
}

/** Writes `data`; `onTaken` runs once the stream has copied it (its buffer may then be reused). */
async function write(stream: PunchlineStream, data: Uint8Array, onTaken?: () => void): Promise<void> {
  if (stream.destroyed) throw new TransferError(TransferErrorCode.Aborted, 'the connection closed during the transfer');
  const callback = onTaken && ((error?: Error | null) => error || onTaken());
  if (!stream.write(data, callback)) await drained(stream);
}

/**
 * CHUNK_SIZE read buffers, reused once the stream has copied their bytes into its send buffer: a
 * fresh megabyte per chunk costs page faults (system time) on every chunk.
 */
class ReadBuffers {
  private readonly free: Buffer[] = [];

  take(): Buffer {
    // In shared memory when the hash worker runs: it hashes the chunk in place (hash-pool.ts).
    return this.free.pop() ?? sharedBuffer(CHUNK_SIZE);
  }

  give(buffer: Buffer): void {
    // Only whole buffers that own their memory (a short last chunk is a view of one: its length differs).
    if (this.free.length < 8 && buffer.length === CHUNK_SIZE && buffer.byteOffset === 0) this.free.push(buffer);
  }
}

/** Bytes hashed per event-loop turn: hashing a whole chunk at once would stall the transport for ms. */
const HASH_SLICE = 256 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Bytes of small files' frames that leave as one write, after which the event loop (the transport) runs. */
const YIELD_BYTES = 128 * 1024;

/** chunkHash of `data`, on the hash worker when it runs, else inline a slice per event-loop turn. */
async function hashChunk(data: Buffer): Promise<{ data: Buffer; hash: Uint8Array }> {
  if (data.length >= HASH_SLICE && hashPool.offloads) return { data, hash: await hashPool.hash(data) };
  const hasher = new ChunkHasher();
  for (let offset = 0; offset < data.length; offset += HASH_SLICE) {
    if (offset > 0) await nextTurn();
    hasher.update(data.subarray(offset, offset + HASH_SLICE));
  }
  return { data, hash: hasher.digest() };
}

/** Reads exactly `length` bytes at `position` (short only at end of file). */
function readAt(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const n = readSync(fd, buffer, filled, length - filled, position + filled);
    if (n === 0) break;
    filled += n;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** First chunk the receiver lacks: its hashes compared with ours, chunk by chunk, from the start. */
function firstMissingChunk(entry: SourceEntry, have: Uint8Array): number {
  const offered = Math.min(have.length / HASH_BYTES, chunkCount(entry.size));
  if (offered === 0) return 0;
  let fd: number;
  try {
    fd = openSync(entry.source, 'r');
  } catch (error) {
    throw fileSystemError(error, entry.source);
  }
  try {
    const hash = new Uint8Array(HASH_BYTES);
    for (let i = 0; i < offered; i++) {
      const length = Math.min(CHUNK_SIZE, entry.size - i * CHUNK_SIZE);
      const data = readAt(fd, length, i * CHUNK_SIZE);
      if (data.length !== length) return i;
      chunkHash(data, hash);
      if (!Buffer.from(hash).equals(have.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))) return i;
    }
    return offered;
  } finally {
    closeSync(fd);
  }
}

/** A requested file: its offer index and the first chunk the receiver lacks. */
interface Job {
  readonly entry: SourceEntry;
  readonly index: number;
  readonly first: number;
}

export async function sendTransfer(
  connection: Connection,
  entries: readonly SourceEntry[],
  options: SendOptions = {},
): Promise<TransferSummary> {
  const started = performance.now();
  const controlStream = await firstStream(connection);
  const control = new ControlChannel(controlStream);
  const totals = offerTotals(entries);
  let bytesTransferred = 0;
  let bytesDone = 0;
  try {
    const hello = await control.next();
    if (hello.t !== 'hello') throw new TransferError(TransferErrorCode.Protocol, `expected hello, got ${hello.t}`);
    if (hello.v !== TRANSFER_VERSION) {
      throw new TransferError(TransferErrorCode.Protocol, `the receiver speaks transfer version ${hello.v}`);
    }
    control.send({ t: 'offer', entries: entries.map(({ source: _source, ...entry }) => entry) });
    const answer = await control.next();
    if (answer.t === 'decline') throw new TransferError(TransferErrorCode.Declined, 'the receiver declined the files');
    if (answer.t !== 'request')
      throw new TransferError(TransferErrorCode.Protocol, `expected request, got ${answer.t}`);

    const jobs: Job[] = [];
    const requested = new Set<number>();
    let requestedBytes = 0;
    for (const { i, have } of answer.files) {
      const entry = entries[i];
      if (entry?.kind !== 'file' || requested.has(i)) {
        throw new TransferError(TransferErrorCode.Protocol, `the receiver asked for entry ${i}, not an offered file`);
      }
      requested.add(i);
      const first = firstMissingChunk(entry, have);
      jobs.push({ entry, index: i, first });
      requestedBytes += entry.size - Math.min(entry.size, first * CHUNK_SIZE);
    }
    // Files already complete at the receiver count as done (not transferred).
    bytesDone = totals.bytes - requestedBytes;
    options.onAccepted?.({ files: jobs.length, bytes: requestedBytes });
    const report = (): void =>
      options.onProgress?.({ bytes: bytesDone, totalBytes: totals.bytes, bytesTransferred, files: totals.files });

    const buffers = new ReadBuffers();
    const onBytes = (n: number): void => {
      bytesTransferred += n;
      bytesDone += n;
      report();
    };
    const openData = (): PunchlineStream =>
      connection.openStream({ bidirectional: false, highWaterMark: 2 * CHUNK_SIZE });
    /** Sends large files one after another over a stream of its own, taking the next from `queue`. */
    const largeWorker = async (queue: Job[], cursor: { next: number }): Promise<void> => {
      const stream = openData();
      try {
        for (let job = queue[cursor.next++]; job; job = queue[cursor.next++]) {
          await sendFile(stream, buffers, job.entry, job.index, job.first, onBytes);
        }
      } finally {
        if (!stream.destroyed) stream.end();
      }
    };
    /**
     * Sends the small files over one stream: each is read straight into its frames, which follow
     * the previous file's in a slab, and YIELD_BYTES of them leave as one write. (A write per file
     * cost a Writable round and a core write each; 10 000 × 4 KiB files are 10 000 writes.) Small
     * files are read synchronously, so without a turn of the event loop after each such write the
     * worker would fill the stream's buffer before the transport sent its first packet (measured:
     * the receiver sat idle for 0.2 s of a 1.4 s tree).
     */
    const smallWorker = async (queue: Job[]): Promise<void> => {
      const stream = openData();
      const frames = new FrameSlab();
      try {
        for (const job of queue) {
          frameSmallFile(frames, job.entry, job.index);
          onBytes(job.entry.size);
          if (frames.pending >= YIELD_BYTES) {
            for (const run of frames.runs()) await write(stream, run);
            await nextTurn();
          }
        }
        for (const run of frames.runs()) await write(stream, run);
      } finally {
        if (!stream.destroyed) stream.end();
      }
    };
    // Small files share one stream: the receiver never waits on one (it writes them beside its event
    // loop), so parallel streams gain nothing for them and cost per stream (a send ring that grows
    // from 16 KiB in doubling steps, copying as it goes; window updates): with 8 streams for
    // 10 000 × 4 KiB files, regrowRing and copyBytes were ~200 ms of the sender (--cpu-prof), with one
    // they leave the profile's top. Larger files keep `streams` parallel streams: there each file
    // open at the receiver is a thread-pool round trip to overlap.
    const small = jobs.filter((job) => isSmall(job.entry, job.first));
    const large = jobs.filter((job) => !isSmall(job.entry, job.first));
    const largeCursor = { next: 0 };
    // At least one stream whenever there are large files: 0 (or NaN) from a caller would leave them unsent.
    const wanted = Math.max(1, Math.floor(options.streams ?? DEFAULT_STREAMS) || 1);
    const count = Math.min(wanted, large.length);
    await Promise.all([
      ...(small.length > 0 ? [smallWorker(small)] : []),
      ...Array.from({ length: count }, () => largeWorker(large, largeCursor)),
    ]);
    const done = await control.next();
    if (done.t !== 'done') throw new TransferError(TransferErrorCode.Protocol, `expected done, got ${done.t}`);
    control.end();
    report();
    return {
      files: totals.files,
      bytes: totals.bytes,
      bytesTransferred,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    control.abort(error as Error);
    throw error;
  }
}

/**
 * Files up to this size are read and hashed in one go on the event loop (cheaper than a round trip)
 * and leave as one write: FILE, CHUNK and END frames together.
 */
const SMALL_FILE_BYTES = 64 * 1024;

function isSmall(entry: SourceEntry, first: number): boolean {
  return entry.size <= SMALL_FILE_BYTES && first === 0;
}

/** A file over SMALL_FILE_BYTES (or resumed): chunk by chunk, each read and hashed ahead of its write. */
async function sendFile(
  stream: PunchlineStream,
  buffers: ReadBuffers,
  entry: SourceEntry,
  index: number,
  first: number,
  onBytes: (n: number) => void,
): Promise<void> {
  let file: FileHandle;
  try {
    file = await open(entry.source, 'r');
  } catch (error) {
    throw fileSystemError(error, entry.source);
  }
  /**
   * Chunk i read (thread pool) and hashed (hash worker, or a slice per turn) while the previous one
   * is written: the event loop keeps moving packets in between.
   */
  const prepare = async (i: number): Promise<{ data: Buffer; hash: Uint8Array }> => {
    const length = Math.min(CHUNK_SIZE, entry.size - i * CHUNK_SIZE);
    const buffer = buffers.take();
    let filled = 0;
    try {
      while (filled < length) {
        const { bytesRead } = await file.read(buffer, filled, length - filled, i * CHUNK_SIZE + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
    } catch (error) {
      throw fileSystemError(error, entry.source);
    }
    if (filled !== length) {
      throw new TransferError(TransferErrorCode.SizeMismatch, `${entry.source} shrank while it was being sent`);
    }
    return hashChunk(length === CHUNK_SIZE ? buffer : buffer.subarray(0, length));
  };
  try {
    await write(stream, encodeFileFrame(index, first));
    const hasher = new FileHasher(entry.size);
    const chunks = chunkCount(entry.size);
    let next = chunks > 0 ? prepare(0) : null;
    for (let i = 0; i < chunks; i++) {
      const { data, hash } = await next!;
      next = i + 1 < chunks ? prepare(i + 1) : null;
      // A failed read-ahead is reported when its turn comes, not as an unhandled rejection.
      next?.catch(() => undefined);
      hasher.addChunk(hash);
      if (i < first) {
        buffers.give(data); // the receiver has it: hashed for the file hash, not sent
        continue;
      }
      await write(stream, encodeChunkHeader(data.length, hash));
      await write(stream, data, () => buffers.give(data));
      onBytes(data.length);
    }
    await write(stream, encodeEndFrame(hasher.digest()));
  } finally {
    await file.close();
  }
}

/**
 * Small files' frames, carved one after another from 256 KiB slabs: one allocation per many files
 * (a fresh 4 KiB Buffer is not pooled by Node and cost 15 % of the sender's event loop), and the
 * frames of consecutive files are contiguous, so many files leave as one write (runs()). A slab is
 * never reused, so a region stays valid for as long as the stream holds it.
 */
class FrameSlab {
  private slab = Buffer.alloc(0);
  private used = 0;
  /** Where the frames not yet handed out by runs() start in `slab`. */
  private runStart = 0;
  /** Frames of earlier slabs not yet handed out. */
  private earlier: Buffer[] = [];
  /** Bytes taken and not yet handed out by runs(). */
  pending = 0;

  take(length: number): Buffer {
    if (this.used + length > this.slab.length) {
      if (this.used > this.runStart) this.earlier.push(this.slab.subarray(this.runStart, this.used));
      this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, length));
      this.used = 0;
      this.runStart = 0;
    }
    const region = this.slab.subarray(this.used, this.used + length);
    this.used += length;
    this.pending += length;
    return region;
  }

  /** Everything taken since the last call, in order, as few buffers as there were slabs. */
  runs(): Buffer[] {
    const runs = this.earlier;
    this.earlier = [];
    if (this.used > this.runStart) runs.push(this.slab.subarray(this.runStart, this.used));
    this.runStart = this.used;
    this.pending = 0;
    return runs;
  }
}

const SLAB_BYTES = 256 * 1024;

/** A small file's FILE, CHUNK and END frames into `frames`, its data read straight into place. */
function frameSmallFile(frames: FrameSlab, entry: SourceEntry, index: number): void {
  if (entry.size === 0) {
    const empty = frames.take(EMPTY_FILE_FRAMES.length);
    empty.set(EMPTY_FILE_FRAMES);
    empty.writeUInt32BE(index, 1);
    return;
  }
  const region = frames.take(ONE_CHUNK_FRAMING + entry.size);
  const data = region.subarray(ONE_CHUNK_DATA_OFFSET, ONE_CHUNK_DATA_OFFSET + entry.size);
  let filled = 0;
  try {
    const fd = openSync(entry.source, 'r');
    try {
      while (filled < entry.size) {
        const n = readSync(fd, data, filled, entry.size - filled, filled);
        if (n === 0) break;
        filled += n;
      }
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw fileSystemError(error, entry.source);
  }
  if (filled !== entry.size) {
    throw new TransferError(TransferErrorCode.SizeMismatch, `${entry.source} shrank while it was being sent`);
  }
  const hash = chunkHash(data);
  const hasher = new SmallFileHasher(entry.size);
  hasher.addChunk(hash);
  frameOneChunkFile(region, index, entry.size, hash, hasher.digest());
}

/** FILE (index 0, patched per file) and END of an empty file. */
const EMPTY_FILE_FRAMES = Buffer.concat([encodeFileFrame(0, 0), encodeEndFrame(new SmallFileHasher(0).digest())]);

/** The control stream: the first stream the receiver opens (queued by the connection until asked for). */
async function firstStream(connection: Connection): Promise<PunchlineStream> {
  const next = await connection.streams()[Symbol.asyncIterator]().next();
  if (next.done) throw new TransferError(TransferErrorCode.Aborted, 'the receiver closed the connection before asking');
  return next.value;
}
