/**
 * A stream-relay leg of the rendezvous client: datagrams to and from the peer through the server,
 * framed on a WebTransport stream (spec/rendezvous.md §Carriers).
 */
import { EventEmitter } from 'node:events';
import type { RendezvousError } from '../traversal/rendezvous/errors.js';
import { FrameDecoder, encodeFrame } from '../traversal/rendezvous/framing.js';
import { MAX_RELAY_STREAM_DATAGRAM } from '../traversal/relay/stream-relay.js';
import type { WtReader, WtWriter } from './webtransport-types.js';

/**
 * Reads length-prefixed frames from a WebTransport stream until it ends (or fails to read), handing
 * each chunk's complete frames to `onFrames`. Resolves with the decoder's error when the peer sent a
 * bad frame (too large), else with null.
 */
export async function readFrames(
  reader: WtReader,
  maxFrame: number,
  onFrames: (frames: Uint8Array[]) => void,
): Promise<RendezvousError | null> {
  const decoder = new FrameDecoder(maxFrame);
  for (;;) {
    const next = await reader.read().catch(() => ({ done: true, value: undefined }));
    if (next.done || !next.value) return null;
    let frames: Uint8Array[];
    try {
      frames = decoder.push(next.value);
    } catch (error) {
      return error as RendezvousError;
    }
    onFrames(frames);
  }
}

/** Datagrams queued on a stream relay before send() reports backpressure (false). */
const MAX_STREAM_RELAY_BACKLOG = 256 * 1024;

/** A stream-relay leg: datagrams to/from the peer through the server, over the WebTransport session. */
export class StreamRelay extends EventEmitter {
  private closedFlag = false;

  constructor(
    readonly channel: Uint8Array,
    private readonly writer: WtWriter,
    reader: WtReader,
  ) {
    super();
    void this.readLoop(reader);
  }

  /** Sends one opaque datagram; false when it was dropped (too large, closed, or backlog full). */
  send(datagram: Uint8Array): boolean {
    if (this.closedFlag || datagram.length > MAX_RELAY_STREAM_DATAGRAM) return false;
    if (this.writer.desiredSize !== null && this.writer.desiredSize < -MAX_STREAM_RELAY_BACKLOG) return false;
    this.writer.write(encodeFrame(datagram)).catch(() => this.finish());
    return true;
  }

  close(): void {
    if (this.closedFlag) return;
    this.writer.close().catch(() => undefined);
    this.finish();
  }

  private finish(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.emit('close');
  }

  private async readLoop(reader: WtReader): Promise<void> {
    await readFrames(reader, MAX_RELAY_STREAM_DATAGRAM, (frames) => {
      for (const frame of frames) this.emit('datagram', frame);
    });
    this.finish();
  }
}
