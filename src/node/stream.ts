/**
 * A punchline stream as a Node Duplex. Writes go into the sans-IO core's send buffer (handle.write),
 * reads come out of its receive buffer (handle.read); the core's flow control does the rest, so
 * backpressure is end to end: a slow reader stops pulling, the peer's core stops granting credit,
 * our core stops accepting bytes, `_write` withholds its callback, and `write()` returns false.
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import type { ConnectionHandle, StreamRead } from '../transport/api.js';
import { StreamAbortedError, ConnectionClosedError, NodeEndpointError, checkErrorCode } from './endpoint-errors.js';
import type { CloseReason } from '../transport/api.js';

/** What a stream needs from its connection (implemented by Connection in endpoint.ts). */
export interface StreamHost {
  readonly handle: ConnectionHandle;
  /** Something changed in the core (bytes queued, credit freed): flush soon. */
  wake(): void;
  /** The stream is done on both sides: forget it. */
  release(streamId: number): void;
}

export interface PunchlineStreamOptions {
  readonly readable: boolean;
  readonly writable: boolean;
  /** Node-side buffering above the core's own buffers (bytes). */
  readonly highWaterMark?: number;
}

/** Error code sent in RESET_STREAM / STOP_SENDING when a stream is destroyed without a code. */
export const STREAM_CANCELLED = 0;

const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

export class PunchlineStream extends Duplex {
  readonly id: number;
  private readonly host: StreamHost;
  /** Bytes the core has not accepted yet, with the callback that completes the write. */
  private pendingChunk: Uint8Array | null = null;
  private pendingCallback: ((error?: Error | null) => void) | null = null;
  /** `_read` was called and we have not pushed since: pull again on 'stream-readable'. */
  private wantRead = false;
  private readEnded: boolean;
  private writeEnded: boolean;
  /** @internal In the endpoint's list of streams to pull this turn (set and cleared by the endpoint). */
  pullQueued = false;
  /** Code to put in RESET_STREAM/STOP_SENDING when destroyed locally. */
  private abortCode = STREAM_CANCELLED;
  /** True when the core already knows the stream is gone (peer reset, connection closed). */
  private coreGone = false;

  constructor(host: StreamHost, id: number, options: PunchlineStreamOptions) {
    const hwm = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    // `readable`/`writable: false` end that side at construction (supported by Node, not in @types/node).
    super({
      allowHalfOpen: true,
      readable: options.readable,
      writable: options.writable,
      readableHighWaterMark: hwm,
      writableHighWaterMark: hwm,
      // Destroy happens once both sides end (autoDestroy): that is when we release the stream.
      autoDestroy: true,
    } as DuplexOptions);
    this.host = host;
    this.id = id;
    this.readEnded = !options.readable;
    this.writeEnded = !options.writable;
  }

  /** Aborts both directions with an application error code the peer will see. */
  reset(errorCode: number = STREAM_CANCELLED): void {
    checkErrorCode(errorCode);
    this.abortCode = errorCode;
    this.destroy();
  }

  // --- writable side --------------------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let accepted: number;
    try {
      accepted = this.host.handle.write(this.id, chunk);
    } catch (error) {
      // The core already closed this direction (e.g. a reset raced with this write).
      callback(error as Error);
      return;
    }
    this.host.wake();
    if (accepted === chunk.length) {
      callback();
      return;
    }
    this.pendingChunk = chunk.subarray(accepted);
    this.pendingCallback = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.host.handle.finish(this.id);
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.writeEnded = true;
    this.host.wake();
    callback();
    this.maybeRelease();
  }

  /** Core event 'stream-writable': retry the write that did not fit. */
  onWritable(): void {
    const chunk = this.pendingChunk;
    if (!chunk) return;
    let accepted: number;
    try {
      accepted = this.host.handle.write(this.id, chunk);
    } catch (error) {
      // Events of one packet arrive in order: 'stream-writable' (ACK) may precede the STOP_SENDING or
      // close that made the stream unwritable. Let that event fail the stream with its own error; if
      // none came by the next turn, fail with the core's.
      setImmediate(() => {
        if (this.pendingChunk === chunk && !this.destroyed) this.destroy(error as Error);
      });
      return;
    }
    if (accepted === 0) return;
    this.host.wake();
    if (accepted === chunk.length) {
      const callback = this.pendingCallback;
      this.pendingChunk = null;
      this.pendingCallback = null;
      callback?.();
    } else {
      this.pendingChunk = chunk.subarray(accepted);
    }
  }

  // --- readable side --------------------------------------------------------------------------

  override _read(): void {
    this.wantRead = true;
    this.pull();
  }

  /** Core event 'stream-readable'. */
  onReadable(): void {
    if (this.wantRead) this.pull();
  }

  /** Hot path: moves chunks from the core into the Readable buffer until either side is full/empty. */
  private pull(): void {
    const handle = this.host.handle;
    let pulled = false;
    while (this.wantRead && !this.destroyed) {
      // At most one high-water mark per chunk: Node-side buffering stays ~2× the mark.
      const result = handle.read(this.id, this.readableHighWaterMark);
      if (result.kind === 'blocked') break;
      pulled = true;
      if (result.kind === 'data') {
        const data = result.data;
        const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        this.wantRead = this.push(buffer);
      } else if (result.kind === 'fin') {
        this.wantRead = false;
        this.readEnded = true;
        this.push(null);
        this.maybeRelease();
      } else {
        this.wantRead = false;
        this.readEnded = true;
        this.coreGone = true;
        this.destroy(new StreamAbortedError('reset', this.id, result.errorCode));
      }
    }
    // Reading frees receive-window credit: let the core send MAX_STREAM_DATA.
    if (pulled) this.host.wake();
  }

  // --- events from the core -------------------------------------------------------------------

  /** Peer sent RESET_STREAM: the readable side fails. */
  onReset(errorCode: number): void {
    if (this.readEnded) return;
    this.readEnded = true;
    this.coreGone = this.writeEnded;
    this.destroy(new StreamAbortedError('reset', this.id, errorCode));
  }

  /** Peer sent STOP_SENDING: our writes can no longer arrive. */
  onStopSending(errorCode: number): void {
    if (this.writeEnded && this.pendingChunk === null) return;
    this.writeEnded = true;
    this.destroy(new StreamAbortedError('stop-sending', this.id, errorCode));
  }

  /**
   * The connection is gone. Data (and FIN) that arrived before the close still belongs to the
   * application: it is handed over first. Whatever cannot complete any more (a read side without
   * FIN, a write side not finished) fails with the close reason, a write side only once the reader
   * consumed what arrived (destroy would discard it).
   */
  /** The connection ended; `peerGone` (the peer vanished without a CLOSE) is the error streams fail with. */
  onConnectionClosed(reason: CloseReason, peerGone: Error | null = null): void {
    if (this.destroyed) {
      this.coreGone = true;
      return;
    }
    if (!this.readEnded) this.drainAfterClose();
    this.coreGone = true;
    if (this.destroyed) return;
    const error = peerGone ?? new ConnectionClosedError(reason);
    if (!this.readEnded) {
      this.destroy(error);
      return;
    }
    if (this.writeEnded && this.pendingChunk === null) return; // both sides complete: ends normally
    if (this.readableEnded) this.destroy(error);
    else this.once('end', () => this.destroy(error));
  }

  /** Moves everything the core still holds for this stream into the Readable buffer. */
  private drainAfterClose(): void {
    for (;;) {
      let result: StreamRead;
      try {
        result = this.host.handle.read(this.id);
      } catch {
        return;
      }
      if (result.kind === 'blocked') return;
      if (result.kind === 'data') {
        const data = result.data;
        this.push(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        continue;
      }
      // A reset here is the close discarding the stream: the close reason is the error to report.
      if (result.kind === 'reset') return;
      this.readEnded = true;
      this.push(null);
      return;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const pendingCallback = this.pendingCallback;
    this.pendingChunk = null;
    this.pendingCallback = null;
    if (!this.coreGone) {
      const code = error instanceof StreamAbortedError ? error.errorCode : this.abortCode;
      const handle = this.host.handle;
      try {
        if (!this.writeEnded) handle.resetStream(this.id, code);
        if (!this.readEnded) handle.stopSending(this.id, code);
      } catch {
        // The core may already have discarded the stream (e.g. connection closing): nothing to tell.
      }
      this.host.wake();
    }
    this.host.release(this.id);
    pendingCallback?.(
      error ?? new NodeEndpointError('ERR_PUNCHLINE_STREAM_DESTROYED', `stream ${this.id} was destroyed`),
    );
    callback(error);
  }

  private maybeRelease(): void {
    if (this.readEnded && this.writeEnded) this.host.release(this.id);
  }
}
