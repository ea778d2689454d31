/**
 * A WebTransport stream writer with a bound on the bytes it holds for a slow reader. The library's
 * writable streams count chunks, not bytes (a `{ highWaterMark: 4 }` count strategy), so their
 * `desiredSize` says nothing about memory: 100 000 queued relay frames read as -99 996. This counts
 * the bytes of every write until its promise settles (the library settles it once the chunk went to
 * the transport), and refuses a write that would pass `maxBytes`: the caller decides what a refused
 * write means (drop a relayed datagram, or close a session whose client does not read).
 */
import type { WtWriter } from '../node/webtransport-types.js';

export class BoundedWriter {
  /** Bytes written whose write has not settled yet. */
  private queued = 0;
  private readonly settle: (length: number) => void = (length) => {
    this.queued -= length;
  };

  constructor(
    readonly writer: WtWriter,
    readonly maxBytes: number,
  ) {}

  get queuedBytes(): number {
    return this.queued;
  }

  /** Writes `chunk` unless the bytes in flight would pass maxBytes; false when refused. */
  write(chunk: Uint8Array): boolean {
    const length = chunk.length;
    if (this.queued + length > this.maxBytes) return false;
    this.queued += length;
    this.writer.write(chunk).then(
      () => this.settle(length),
      () => this.settle(length),
    );
    return true;
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}
