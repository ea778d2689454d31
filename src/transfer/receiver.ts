/**
 * The receiving side of a transfer (spec/transfer.md §Transfer, §Resume, §Paths). Everything the
 * sender says is checked before it touches the disk: every path (safe-path.ts) before the offer is
 * even shown, each chunk's BLAKE2b before it is written, each file's size and hash before its
 * partial file (`.NAME.punchline-part`, next to the target) is renamed into place. Partial files
 * hold only verified chunks, so a later `receive` into the same directory resumes from them.
 */
import { constants, readlinkSync, symlinkSync, chmodSync, unlinkSync, utimesSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Connection } from '../node/endpoint.js';
import type { PunchlineStream } from '../node/stream.js';
import { ControlChannel } from './control-channel.js';
import { hashPartial, lstatOrNull, mkdirp, partialPathIn, sameFile } from './partial-files.js';
import { TransferError, TransferErrorCode, fileSystemError } from './errors.js';
import { CHUNK_SIZE, ChunkHasher, FileHasher, HASH_BYTES, SmallFileHasher, chunkHash } from './file-hash.js';
import { hashPool } from './hash-pool.js';
import { type ChunkBuffer, ChunkBuffers, openDirect, writeChunk } from './chunk-writes.js';
import { SmallFileWriter } from './small-file-writer.js';
import { offerTotals } from './manifest.js';
import type { TransferProgress, TransferSummary } from './progress.js';
import { TargetPaths, checkSymlinkTarget } from './safe-path.js';
import { DataDecoder, TRANSFER_VERSION, type DataFrame, type Entry } from './wire.js';

export { partialPath } from './partial-files.js';

/** What the receiver is asked to accept. */
export interface OfferSummary {
  readonly entries: readonly Entry[];
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  /** Bytes already in place: complete files (same size and mtime) and verified partial chunks. */
  readonly bytesPresent: number;
  /** Existing files that differ and will be replaced (only with `overwrite`). */
  readonly replacing: number;
  readonly out: string;
}

export interface ReceiveOptions {
  /** Target directory (created if missing). */
  readonly out: string;
  /** Replace existing files that differ from the offer (else ERR_PUNCHLINE_TRANSFER_EXISTS). */
  readonly overwrite?: boolean;
  /** Asked before anything is written; false declines. Default: accept. */
  readonly confirm?: (offer: OfferSummary) => boolean | Promise<boolean>;
  readonly onProgress?: (progress: TransferProgress) => void;
}

/** Bytes a data stream may have queued behind its disk work before it is paused (bounds memory). */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/** Chunk writes one file may have in flight before its stream waits for the disk. */
const MAX_QUEUED_WRITES = 4;
/**
 * Files up to this size are held in memory until verified, then written with plain synchronous
 * calls (open, write, fchmod, futimes, close, rename): for a small file the thread-pool round trip of
 * each asynchronous call costs more than the call itself (as on the sender).
 */
const SMALL_FILE_BYTES = 64 * 1024;

/**
 * The chunk being received on a data stream. A small file's chunk is kept as the stream's own
 * pieces (the file writer gathers them); a large file's chunk is gathered into one CHUNK_SIZE
 * buffer as it arrives and hashed in HASH_SLICE steps. The pieces are datagram payloads (about
 * 1.2 KiB): hashing each and writing ~900 of them with one writev cost more (profiled, 512 MiB:
 * 0.56 s in the hash's update calls, 0.36 s building writev's buffer list on the event loop) than
 * the one copy (about 0.05 s).
 */
interface ChunkInProgress {
  /** The hash the sender announced for it. */
  readonly expected: Uint8Array;
  readonly length: number;
  received: number;
  /** Large files' chunks only: a small file's chunk is hashed in one call once it is in. */
  readonly hasher: ChunkHasher | null;
  /** The whole chunk once received (a small file's pieces, or the gathered buffer). */
  pieces: Buffer[];
  /** The gathering buffer (large files: chunk-writes.ts), else null. */
  readonly gather: ChunkBuffer | null;
  /** Bytes of `gather` already hashed. */
  hashed: number;
}

/** Gathered bytes hashed per step (not per piece: each update call has a fixed cost). */
const HASH_SLICE = 256 * 1024;

interface StreamState {
  job: FileJob | null;
  chunk: ChunkInProgress | null;
}

interface FileJob {
  readonly index: number;
  readonly entry: Entry;
  readonly final: string;
  /** The directory of `final` (and of `partial`). */
  readonly dir: string;
  readonly partial: string;
  /** Hashes of the whole chunks already in the partial file, in order. */
  readonly have: Uint8Array;
  state: 'waiting' | 'open' | 'done';
  /** Held in memory and written at END (SMALL_FILE_BYTES), else written chunk by chunk to `file`. */
  small: boolean;
  /** A small file's verified data, in order. */
  pieces: Buffer[];
  file: FileHandle | null;
  /** The same file opened with O_DIRECT for whole chunks (chunk-writes.ts), while the file system takes it. */
  direct: FileHandle | null;
  /** Chunk writes in flight, in order. */
  writes: Promise<void>;
  writesQueued: number;
  hasher: FileHasher | SmallFileHasher | null;
  nextChunk: number;
  received: number;
}

export async function receiveTransfer(connection: Connection, options: ReceiveOptions): Promise<TransferSummary> {
  const started = performance.now();
  const out = resolve(options.out);
  const controlStream = connection.openStream();
  const control = new ControlChannel(controlStream);
  const openJobs = new Set<FileJob>();
  const writer = new SmallFileWriter();
  const chunkBuffers = new ChunkBuffers();
  let failure: Error | null = null;
  let rejectRun: (error: Error) => void = () => undefined;
  const fail = (error: Error): void => {
    if (failure) return;
    failure = error;
    rejectRun(error);
  };
  try {
    control.send({ t: 'hello', v: TRANSFER_VERSION });
    const offer = await control.next();
    if (offer.t !== 'offer') throw new TransferError(TransferErrorCode.Protocol, `expected an offer, got ${offer.t}`);
    const entries = offer.entries;
    const totals = offerTotals(entries);

    // Plan: every path checked and every existing file looked at before anything is written.
    try {
      mkdirp(out);
    } catch (error) {
      throw fileSystemError(error, out);
    }
    const seen = new Set<string>();
    const jobs: FileJob[] = [];
    const links: { entry: Entry; final: string }[] = [];
    const dirs: { entry: Entry; final: string }[] = [];
    let bytesPresent = 0;
    let replacing = 0;
    const targets = new TargetPaths(out);
    entries.forEach((entry, index) => {
      const { final, dir, name, dirExists } = targets.resolve(entry.path);
      if (seen.has(entry.path)) {
        throw new TransferError(TransferErrorCode.UnsafePath, `the offer names '${entry.path}' twice`);
      }
      seen.add(entry.path);
      // In a directory that does not exist yet nothing can exist: no need to look (a fresh tree).
      const existing = dirExists ? lstatOrNull(final) : null;
      if (entry.kind === 'dir') {
        if (existing && !existing.isDirectory()) {
          throw new TransferError(TransferErrorCode.Exists, `${final} exists and is not a directory`);
        }
        dirs.push({ entry, final });
        return;
      }
      if (entry.kind === 'symlink') {
        checkSymlinkTarget(out, entry.path, entry.target);
        if (existing) {
          if (existing.isSymbolicLink() && readlinkSync(final) === entry.target) return;
          if (!options.overwrite) throw exists(final);
          replacing++;
        }
        links.push({ entry, final });
        return;
      }
      if (existing) {
        if (sameFile(existing, entry)) {
          bytesPresent += entry.size;
          return;
        }
        if (!options.overwrite || !existing.isFile()) throw exists(final);
        replacing++;
      }
      const partial = partialPathIn(dir, name);
      let have: Uint8Array = new Uint8Array(0);
      try {
        if (dirExists) have = hashPartial(partial, entry.size);
      } catch (error) {
        throw fileSystemError(error, partial);
      }
      bytesPresent += Math.min(entry.size, (have.length / HASH_BYTES) * CHUNK_SIZE);
      jobs.push({
        index,
        entry,
        final,
        dir,
        partial,
        have,
        state: 'waiting',
        small: false,
        pieces: [],
        file: null,
        direct: null,
        writes: Promise.resolve(),
        writesQueued: 0,
        hasher: null,
        nextChunk: 0,
        received: 0,
      });
    });

    const accepted = options.confirm
      ? await options.confirm({ entries, ...totals, bytesPresent, replacing, out })
      : true;
    if (!accepted) {
      control.send({ t: 'decline' });
      control.end();
      throw new TransferError(TransferErrorCode.Declined, 'declined');
    }

    let bytesDone = bytesPresent;
    let bytesTransferred = 0;
    const report = (): void =>
      options.onProgress?.({ bytes: bytesDone, totalBytes: totals.bytes, bytesTransferred, files: totals.files });
    const byIndex = new Map(jobs.map((job) => [job.index, job]));
    let remaining = jobs.length;

    const finished = new Promise<void>((resolveRun, reject) => {
      rejectRun = reject;
      if (remaining === 0) resolveRun();
      const madeDirs = new Set<string>();
      /** Handles one frame; returns a promise only when it had to wait (file open, disk writes). */
      const onFrame = (stream: StreamState, frame: DataFrame): void | Promise<void> => {
        switch (frame.type) {
          case 'file': {
            if (stream.job) throw protocol('a new file started before the previous one ended');
            const job = byIndex.get(frame.index);
            if (job?.state !== 'waiting') throw protocol(`file ${frame.index} was not requested or came twice`);
            const haveChunks = job.have.length / HASH_BYTES;
            if (frame.firstChunk > haveChunks)
              throw protocol(`resume at chunk ${frame.firstChunk} of ${job.entry.path}`);
            stream.job = job;
            openJobs.add(job);
            bytesDone -= Math.min(job.entry.size, haveChunks * CHUNK_SIZE) - frame.firstChunk * CHUNK_SIZE;
            if (frame.firstChunk === 0 && job.entry.size <= SMALL_FILE_BYTES) {
              job.small = true;
              startFile(job, 0);
              return;
            }
            return openPartial(job, frame.firstChunk, madeDirs);
          }
          case 'chunk': {
            const job = stream.job;
            if (!job) throw protocol('chunk outside a file');
            const length = frame.length;
            if (job.received + length > job.entry.size) {
              throw new TransferError(
                TransferErrorCode.SizeMismatch,
                `the sender sent more than the ${job.entry.size} bytes it announced for ${job.entry.path}`,
              );
            }
            if (length !== CHUNK_SIZE && job.received + length !== job.entry.size) {
              throw protocol(`a short chunk in the middle of ${job.entry.path}`);
            }
            stream.chunk = {
              expected: frame.hash,
              length,
              received: 0,
              hasher: job.small || hashPool.offloads ? null : new ChunkHasher(),
              pieces: [],
              gather: job.small ? null : chunkBuffers.take(),
              hashed: 0,
            };
            return;
          }
          case 'data': {
            const chunk = stream.chunk!; // the decoder yields data only after a chunk header
            const offloads = hashPool.offloads; // with the hash worker, whole chunks are hashed there
            const gather = chunk.gather?.data;
            if (gather) {
              gather.set(frame.data, chunk.received);
              chunk.received += frame.data.length;
              const complete = chunk.received === chunk.length;
              if (!offloads && (chunk.received - chunk.hashed >= HASH_SLICE || complete)) {
                chunk.hasher!.update(gather.subarray(chunk.hashed, chunk.received));
                chunk.hashed = chunk.received;
              }
              if (!complete) return;
              chunk.pieces = [chunk.length === CHUNK_SIZE ? gather : gather.subarray(0, chunk.length)];
            } else {
              chunk.pieces.push(frame.data);
              chunk.received += frame.data.length;
              if (chunk.received < chunk.length) return;
              // A small file's chunk (≤ 64 KiB) in one buffer and one hash call: cheaper per file than
              // a Hash object fed piece by piece, and the file writer takes one piece.
              // Always inline: a thread round trip costs more than 64 KiB of hashing.
              if (chunk.pieces.length > 1) chunk.pieces = [Buffer.concat(chunk.pieces)];
              stream.chunk = null;
              return chunkReceived(stream.job!, chunk, chunkHash(chunk.pieces[0]!));
            }
            stream.chunk = null;
            if (!offloads) return chunkReceived(stream.job!, chunk, chunk.hasher!.digest());
            // The worker hashes the gathered chunk in place (shared memory) while the transport
            // goes on receiving the next one; the chunk is written only once its hash matched.
            const job = stream.job!;
            return hashPool.hash(chunk.pieces[0]!).then((hash) => chunkReceived(job, chunk, hash));
          }
          case 'end': {
            const job = stream.job;
            if (!job) throw protocol('end outside a file');
            if (job.received !== job.entry.size) {
              throw new TransferError(
                TransferErrorCode.SizeMismatch,
                `${job.entry.path} ended after ${job.received} of the ${job.entry.size} bytes announced`,
              );
            }
            if (!Buffer.from(job.hasher!.digest()).equals(frame.hash)) {
              throw new TransferError(
                TransferErrorCode.HashMismatch,
                `${job.entry.path}: the file's BLAKE2b does not match what the sender announced (${job.small ? 'nothing written' : 'partial kept'})`,
              );
            }
            const ended = (): void => {
              job.state = 'done';
              openJobs.delete(job);
              if (--remaining === 0) resolveRun();
            };
            stream.job = null;
            if (job.small) {
              // Written beside the event loop (small-file-writer.ts) while the stream moves on to
              // its next file; the run ends only once every file is in place.
              const written = writeSmallFile(writer, job, madeDirs).then(ended, fail);
              // Memory stays bounded when the disk is slower than the network.
              return writer.queuedBytes >= MAX_QUEUED_BYTES ? written : undefined;
            }
            return job.writes
              .catch((error: unknown) => {
                throw fileSystemError(error, job.partial);
              })
              .then(() => finishFile(job))
              .then(ended);
          }
        }
      };
      /** A whole chunk is in: checked against its announced hash before any of it is written. */
      const chunkReceived = (job: FileJob, chunk: ChunkInProgress, hash: Uint8Array): void | Promise<void> => {
        if (!Buffer.from(hash).equals(chunk.expected)) {
          throw new TransferError(
            TransferErrorCode.HashMismatch,
            `chunk ${job.nextChunk} of ${job.entry.path} does not match its BLAKE2b (not written)`,
          );
        }
        const position = job.received;
        const length = chunk.length;
        job.hasher!.addChunk(hash);
        job.received += length;
        job.nextChunk++;
        bytesDone += length;
        bytesTransferred += length;
        report();
        if (job.small) {
          job.pieces.push(...chunk.pieces);
          return;
        }
        // The write runs while the next chunk arrives; END waits for all of them.
        const file = job.file!;
        const gather = chunk.gather!;
        job.writes = job.writes
          .then(async () => {
            if (!(await writeChunk(file, job.direct, gather, length, position)) && job.direct) {
              const direct = job.direct;
              job.direct = null; // the file system refused O_DIRECT: page cache from now on
              await direct.close();
            }
          })
          .then(() => chunkBuffers.give(gather));
        job.writes.catch(() => undefined);
        // At most a few chunks wait for the disk (memory stays bounded when the disk is slower).
        if (++job.writesQueued < MAX_QUEUED_WRITES) return;
        return job.writes.then(
          () => {
            job.writesQueued = 0;
          },
          (error: unknown) => {
            throw fileSystemError(error, job.partial);
          },
        );
      };
      connection.on('stream', (stream: PunchlineStream) => {
        const decoder = new DataDecoder();
        const state: StreamState = { job: null, chunk: null };
        // Frames of one stream are handled in order, streams in parallel; a frame that has to wait
        // (a file open, the disk) holds back the ones behind it, and the stream is paused while too
        // many bytes are queued behind it.
        const queue: (DataFrame | null)[] = [];
        let head = 0;
        let queuedBytes = 0;
        let waiting = false;
        const run = (): void => {
          while (head < queue.length) {
            if (failure) return;
            const frame = queue[head]!;
            queue[head++] = null; // handled: its bytes may go once written
            if (frame.type === 'data') queuedBytes -= frame.data.length;
            let pending: void | Promise<void>;
            try {
              pending = onFrame(state, frame);
            } catch (error) {
              fail(error as Error);
              return;
            }
            if (pending) {
              waiting = true;
              pending.then(() => {
                waiting = false;
                run();
              }, fail);
              return;
            }
          }
          queue.length = 0;
          head = 0;
          if (stream.isPaused()) stream.resume();
        };
        stream.on('data', (chunk: Buffer) => {
          if (failure) return;
          let frames: DataFrame[];
          try {
            frames = decoder.push(chunk);
          } catch (error) {
            fail(error as Error);
            return;
          }
          for (const frame of frames) {
            queue.push(frame);
            if (frame.type === 'data') queuedBytes += frame.data.length;
          }
          if (!waiting) run();
          else if (queuedBytes >= MAX_QUEUED_BYTES) stream.pause();
        });
        stream.on('error', () => undefined);
      });
      connection.once('close', () =>
        fail(new TransferError(TransferErrorCode.Aborted, 'the connection closed before the transfer finished')),
      );
      control.next().then(
        (message) => fail(new TransferError(TransferErrorCode.Protocol, `unexpected ${message.t} during the transfer`)),
        (error: Error) => fail(error),
      );
    });
    control.send({ t: 'request', files: jobs.map((job) => ({ i: job.index, have: job.have })) });
    await finished;

    for (const { final } of dirs) {
      try {
        mkdirp(final);
      } catch (error) {
        throw fileSystemError(error, final);
      }
    }
    for (const { entry, final } of links) {
      try {
        if (lstatOrNull(final)) unlinkSync(final);
        mkdirp(dirname(final));
        symlinkSync(entry.target!, final);
      } catch (error) {
        throw fileSystemError(error, final);
      }
    }
    // Directory times and modes last (adding files changes a directory's mtime), deepest first.
    for (const { entry, final } of [...dirs].sort((a, b) => b.final.length - a.final.length)) {
      try {
        chmodSync(final, entry.mode | 0o700);
        utimesSync(final, Date.now() / 1000, entry.mtimeMs / 1000);
      } catch (error) {
        throw fileSystemError(error, final);
      }
    }
    control.send({ t: 'done', bytes: bytesTransferred });
    control.end();
    report();
    return {
      files: totals.files,
      bytes: totals.bytes,
      bytesTransferred,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    const reported = failure ?? (error as Error);
    if (!(reported instanceof TransferError && reported.code === TransferErrorCode.Declined)) control.abort(reported);
    throw reported;
  } finally {
    await writer.close();
    await Promise.all(
      [...openJobs].flatMap((job) => [
        job.file?.close().catch(() => undefined),
        job.direct?.close().catch(() => undefined),
      ]),
    );
  }
}

function exists(path: string): TransferError {
  return new TransferError(TransferErrorCode.Exists, `${path} exists and differs (use --overwrite to replace it)`);
}

function protocol(what: string): TransferError {
  return new TransferError(TransferErrorCode.Protocol, `transfer protocol: ${what}`);
}

/** Opens (or creates) the partial file, keeps its first `firstChunk` verified chunks, drops the rest. */
async function openPartial(job: FileJob, firstChunk: number, madeDirs: Set<string>): Promise<void> {
  const keep = Math.min(job.entry.size, firstChunk * CHUNK_SIZE);
  try {
    const dir = job.dir;
    if (!madeDirs.has(dir)) {
      mkdirp(dir);
      madeDirs.add(dir);
    }
    // O_TRUNC when nothing is kept: one system call less than truncating after opening.
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (keep === 0 ? constants.O_TRUNC : 0);
    job.file = await open(job.partial, flags, 0o600);
    if (keep > 0) await job.file.truncate(keep);
    // Whole chunks skip the page cache where they can (chunk-writes.ts).
    if (job.entry.size - keep >= CHUNK_SIZE) job.direct = await openDirect(job.partial, job.file);
  } catch (error) {
    throw fileSystemError(error, job.partial);
  }
  startFile(job, firstChunk);
}

/** The file hash and counters of a file whose first `firstChunk` chunks are already in place. */
function startFile(job: FileJob, firstChunk: number): void {
  job.state = 'open';
  job.hasher = job.small ? new SmallFileHasher(job.entry.size) : new FileHasher(job.entry.size);
  for (let i = 0; i < firstChunk; i++) job.hasher.addChunk(job.have.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES));
  job.nextChunk = firstChunk;
  job.received = Math.min(job.entry.size, firstChunk * CHUNK_SIZE);
}

/**
 * A verified small file, written in one go: into its partial file (so a crash never leaves a short
 * file under the final name), mode and mtime set, renamed into place.
 */
async function writeSmallFile(writer: SmallFileWriter, job: FileJob, madeDirs: Set<string>): Promise<void> {
  try {
    const dir = job.dir;
    if (!madeDirs.has(dir)) {
      mkdirp(dir);
      madeDirs.add(dir);
    }
    const pieces = job.pieces;
    job.pieces = [];
    await writer.write({
      partial: job.partial,
      final: job.final,
      pieces,
      mode: job.entry.mode,
      mtimeMs: job.entry.mtimeMs,
    });
  } catch (error) {
    throw fileSystemError(error, job.final);
  }
}

/** Verified: mode and mtime onto the partial file, then rename it into place. */
async function finishFile(job: FileJob): Promise<void> {
  const file = job.file!;
  try {
    const direct = job.direct;
    job.direct = null;
    await direct?.close();
    await file.chmod(job.entry.mode);
    await file.utimes(Date.now() / 1000, job.entry.mtimeMs / 1000);
    job.file = null;
    await file.close();
    await rename(job.partial, job.final);
  } catch (error) {
    throw fileSystemError(error, job.final);
  }
}
