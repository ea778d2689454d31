/**
 * Transfer wire formats (spec/transfer.md §Streams).
 *
 * Control stream (opened by the receiver): frames of a u32 big-endian length and a msgpack map
 * (`ControlMessage`). Data streams (unidirectional, opened by the sender): a sequence of binary
 * frames, no msgpack on this hot path:
 *   FILE  0x01 | index u32 | first chunk u32
 *   CHUNK 0x02 | length u32 | chunk hash (32, file-hash.ts) | data (length ≤ CHUNK_SIZE)
 *   END   0x03 | file hash (32)
 */
import { Packr } from 'msgpackr';
import { TransferError, TransferErrorCode } from './errors.js';
import { CHUNK_SIZE, HASH_BYTES } from './file-hash.js';

export const TRANSFER_VERSION = 1;
/** Largest control frame (an offer of many files is the big one). */
const MAX_CONTROL_FRAME = 64 * 1024 * 1024;
const MAX_ENTRIES = 1_000_000;

type EntryKind = 'file' | 'dir' | 'symlink';

/** One offered entry. Paths are relative, `/`-separated (checked by the receiver: safe-path.ts). */
export interface Entry {
  readonly path: string;
  readonly kind: EntryKind;
  readonly size: number;
  /** Permission bits (0o777 at most: no setuid/setgid/sticky). */
  readonly mode: number;
  readonly mtimeMs: number;
  /** Symlink target (relative, inside the tree). */
  readonly target?: string;
}

export type ControlMessage =
  | { readonly t: 'hello'; readonly v: number }
  | { readonly t: 'offer'; readonly entries: readonly Entry[] }
  /** Files to send (by offer index), each with the hashes of the whole chunks already on disk. */
  | { readonly t: 'request'; readonly files: readonly { readonly i: number; readonly have: Uint8Array }[] }
  | { readonly t: 'decline' }
  | { readonly t: 'done'; readonly bytes: number }
  | { readonly t: 'error'; readonly code: string; readonly message: string };

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

function protocol(what: string): TransferError {
  return new TransferError(TransferErrorCode.Protocol, `transfer protocol: ${what}`);
}

export function encodeControl(message: ControlMessage): Buffer {
  const body = packr.pack(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, 4);
  return frame;
}

function isUint(value: unknown, max = Number.MAX_SAFE_INTEGER): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

function checkEntry(value: unknown): Entry {
  const e = value as Record<string, unknown>;
  if (typeof e !== 'object' || e === null) throw protocol('entry is not a map');
  const { path, kind, size, mode, mtimeMs, target } = e;
  if (typeof path !== 'string') throw protocol('entry path');
  if (kind !== 'file' && kind !== 'dir' && kind !== 'symlink') throw protocol(`entry kind ${String(kind)}`);
  if (!isUint(size)) throw protocol('entry size');
  if (!isUint(mode, 0o7777)) throw protocol('entry mode');
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) throw protocol('entry mtime');
  if (kind === 'symlink' && typeof target !== 'string') throw protocol('symlink target');
  return {
    path,
    kind,
    size: kind === 'file' ? size : 0,
    mode: mode & 0o777,
    mtimeMs,
    ...(kind === 'symlink' ? { target: target as string } : {}),
  };
}

/** Validates a decoded control message's shape (never trusts the peer). */
function checkControl(value: unknown): ControlMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw protocol('control is not a map');
  const m = value as Record<string, unknown>;
  switch (m['t']) {
    case 'hello':
      if (!isUint(m['v'])) throw protocol('hello version');
      return { t: 'hello', v: m['v'] };
    case 'offer': {
      const entries = m['entries'];
      if (!Array.isArray(entries) || entries.length > MAX_ENTRIES) throw protocol('offer entries');
      return { t: 'offer', entries: entries.map(checkEntry) };
    }
    case 'request': {
      const files = m['files'];
      if (!Array.isArray(files) || files.length > MAX_ENTRIES) throw protocol('request files');
      return {
        t: 'request',
        files: files.map((f: Record<string, unknown>) => {
          if (typeof f !== 'object' || f === null || !isUint(f['i'])) throw protocol('request index');
          const have = f['have'];
          if (!(have instanceof Uint8Array) || have.length % HASH_BYTES !== 0) throw protocol('request hashes');
          return { i: f['i'], have };
        }),
      };
    }
    case 'decline':
      return { t: 'decline' };
    case 'done':
      if (!isUint(m['bytes'])) throw protocol('done bytes');
      return { t: 'done', bytes: m['bytes'] };
    case 'error':
      return {
        t: 'error',
        code: String(m['code']).slice(0, 64),
        message: String(m['message']).slice(0, 1000),
      };
    default:
      throw protocol(`unknown control message ${String(m['t']).slice(0, 40)}`);
  }
}

/** Splits a byte stream into control messages. */
export class ControlDecoder {
  private buffered: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): ControlMessage[] {
    this.buffered.push(chunk);
    this.length += chunk.length;
    const out: ControlMessage[] = [];
    for (;;) {
      if (this.length < 4) return out;
      if (this.buffered[0]!.length < 4) this.buffered = [Buffer.concat(this.buffered)];
      const size = this.buffered[0]!.readUInt32BE(0);
      if (size > MAX_CONTROL_FRAME) throw protocol(`control frame of ${size} bytes`);
      // Joined once the whole frame is in (joining on every push copied a large offer quadratically).
      if (this.length < 4 + size) return out;
      const head = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
      let value: unknown;
      try {
        value = packr.unpack(head.subarray(4, 4 + size));
      } catch {
        throw protocol('control frame is not msgpack');
      }
      out.push(checkControl(value));
      const rest = head.subarray(4 + size);
      this.buffered = rest.length > 0 ? [rest] : [];
      this.length = rest.length;
    }
  }
}

const FrameType = { File: 0x01, Chunk: 0x02, End: 0x03 } as const;

/**
 * What the data-stream decoder yields. A CHUNK frame comes out as its header (`chunk`) followed by
 * its data in one or more `data` pieces (views of the stream's buffers, never copied), so the
 * receiver hashes and writes a chunk as it arrives.
 */
export type DataFrame =
  | { readonly type: 'file'; readonly index: number; readonly firstChunk: number }
  | { readonly type: 'chunk'; readonly hash: Uint8Array; readonly length: number }
  | { readonly type: 'data'; readonly data: Buffer }
  | { readonly type: 'end'; readonly hash: Uint8Array };

export function encodeFileFrame(index: number, firstChunk: number): Buffer {
  const frame = Buffer.allocUnsafe(9);
  frame[0] = FrameType.File;
  frame.writeUInt32BE(index, 1);
  frame.writeUInt32BE(firstChunk, 5);
  return frame;
}

/** CHUNK header (the data follows as its own write: no copy of the chunk). */
export function encodeChunkHeader(length: number, hash: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + HASH_BYTES);
  frame[0] = FrameType.Chunk;
  frame.writeUInt32BE(length, 1);
  frame.set(hash, 5);
  return frame;
}

export function encodeEndFrame(hash: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(1 + HASH_BYTES);
  frame[0] = FrameType.End;
  frame.set(hash, 1);
  return frame;
}

/** Where a one-chunk file's data goes in its frames: after FILE (9 bytes) and the CHUNK header. */
export const ONE_CHUNK_DATA_OFFSET = 9 + 5 + HASH_BYTES;
/** Bytes of a one-chunk file's frames besides its data: FILE, CHUNK header, END. */
export const ONE_CHUNK_FRAMING = ONE_CHUNK_DATA_OFFSET + 1 + HASH_BYTES;

/**
 * FILE (first chunk 0), CHUNK and END of a file of one non-empty chunk, in one buffer the sender
 * has already read the data into (at ONE_CHUNK_DATA_OFFSET): one write per small file, no copy.
 */
export function frameOneChunkFile(
  frames: Buffer,
  index: number,
  length: number,
  chunkHash: Uint8Array,
  fileHash: Uint8Array,
): void {
  frames[0] = FrameType.File;
  frames.writeUInt32BE(index, 1);
  frames.writeUInt32BE(0, 5);
  frames[9] = FrameType.Chunk;
  frames.writeUInt32BE(length, 10);
  frames.set(chunkHash, 14);
  const end = ONE_CHUNK_DATA_OFFSET + length;
  frames[end] = FrameType.End;
  frames.set(fileHash, end + 1);
}

/** Header bytes of a data frame by its type byte (-1: unknown type). */
function headerLength(type: number | undefined): number {
  switch (type) {
    case FrameType.File:
      return 9;
    case FrameType.Chunk:
      return 5 + HASH_BYTES;
    case FrameType.End:
      return 1 + HASH_BYTES;
    default:
      return -1;
  }
}

const NO_BYTES = Buffer.alloc(0);

/**
 * Splits a data stream into frames (hot path: every received byte passes here once). Chunk data is
 * passed on as views of the pushed buffers; only a header split across two pushes is copied. A
 * chunk longer than CHUNK_SIZE or an unknown frame type is a protocol error.
 */
export class DataDecoder {
  /** Data bytes of the current CHUNK frame not yet passed on. */
  private remaining = 0;
  /** The start of a header that straddles pushes. */
  private head: Buffer = NO_BYTES;

  push(input: Buffer): DataFrame[] {
    const out: DataFrame[] = [];
    let buffer = input;
    while (buffer.length > 0) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, buffer.length);
        out.push({ type: 'data', data: buffer.subarray(0, n) });
        this.remaining -= n;
        buffer = buffer.subarray(n);
        continue;
      }
      const type = this.head.length > 0 ? this.head[0] : buffer[0];
      const need = headerLength(type);
      if (need < 0) throw protocol(`unknown data frame type ${String(type)}`);
      let header: Buffer;
      if (this.head.length === 0 && buffer.length >= need) {
        header = buffer.subarray(0, need);
        buffer = buffer.subarray(need);
      } else {
        const take = Math.min(need - this.head.length, buffer.length);
        this.head = Buffer.concat([this.head, buffer.subarray(0, take)]);
        buffer = buffer.subarray(take);
        if (this.head.length < need) return out;
        header = this.head;
        this.head = NO_BYTES;
      }
      if (type === FrameType.File) {
        out.push({ type: 'file', index: header.readUInt32BE(1), firstChunk: header.readUInt32BE(5) });
      } else if (type === FrameType.End) {
        out.push({ type: 'end', hash: new Uint8Array(header.subarray(1, 1 + HASH_BYTES)) });
      } else {
        const length = header.readUInt32BE(1);
        if (length === 0 || length > CHUNK_SIZE) throw protocol(`chunk of ${length} bytes`);
        out.push({ type: 'chunk', hash: new Uint8Array(header.subarray(5, 5 + HASH_BYTES)), length });
        this.remaining = length;
      }
    }
    return out;
  }
}
