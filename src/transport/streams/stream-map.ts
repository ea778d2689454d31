import type { TransportConfig } from '../config.js';
import type { PacketBuilder } from '../packet-builder.js';
import { protocolError, TransportError, TransportErrorCode, TransportErrorName } from '../errors.js';
import { isBidirectional, isClientInitiated, makeStreamId, Stream, streamIndex } from './stream.js';

const BIDI = 0;
const UNI = 1;

/**
 * All streams of a connection and the stream-count limits of RFC 9000 §4.6: IDs we may open (the
 * peer's MAX_STREAMS), IDs the peer may open (ours, re-issued as the peer's streams close), implicit
 * opening of lower-numbered streams, and recognising frames for streams that already closed.
 */
export class StreamMap {
  readonly streams = new Map<number, Stream>();
  /** Next index we open, per direction. */
  private readonly nextLocal = [0, 0];
  /** Peer's MAX_STREAMS, per direction. */
  readonly peerMax = [0, 0];
  /** Streams the peer opened (next index), per direction. */
  private readonly remoteOpened = [0, 0];
  /** Peer streams that closed, per direction. */
  private readonly remoteClosed = [0, 0];
  /** Our current MAX_STREAMS, per direction. */
  readonly localMax: number[];
  /** A MAX_STREAMS frame must be sent, per direction. */
  private readonly maxStreamsPending = [false, false];
  /** Streams opened by the peer since the last call of takeOpened() (for 'stream-opened' events). */
  readonly newlyOpened: number[] = [];

  /**
   * The peer's initial MAX_STREAM_DATA (set when its transport parameters arrive): [bidi streams the
   * peer opens, bidi streams we open, unidirectional].
   */
  private peerStreamDataLimits = [0, 0, 0];

  constructor(
    private readonly isClient: boolean,
    private readonly config: TransportConfig,
  ) {
    this.localMax = [config.maxStreamsBidi, config.maxStreamsUni];
  }

  private create(id: number, local: boolean): Stream {
    const s = new Stream(id, local, {
      sendBufferSize: this.config.sendBufferSize,
      peerMaxStreamData: this.peerStreamDataLimits[isBidirectional(id) ? (local ? 1 : 0) : 2] as number,
      localWindow: this.config.initialStreamWindow,
      maxLocalWindow: this.config.maxStreamWindow,
      maxFrameBytes: this.config.maxUdpPayloadSize,
    });
    this.streams.set(id, s);
    return s;
  }

  /** Opens a stream of ours; throws ERR_PUNCHLINE_STREAM_LIMIT when the peer's MAX_STREAMS forbids it. */
  open(bidirectional: boolean): Stream {
    const dir = bidirectional ? BIDI : UNI;
    const index = this.nextLocal[dir] as number;
    if (index >= (this.peerMax[dir] as number)) {
      throw new TransportError(
        TransportErrorName.STREAM_LIMIT,
        `peer allows ${this.peerMax[dir]} ${bidirectional ? 'bidirectional' : 'unidirectional'} streams`,
        TransportErrorCode.STREAM_LIMIT_ERROR,
      );
    }
    this.nextLocal[dir] = index + 1;
    return this.create(makeStreamId(index, this.isClient, bidirectional), true);
  }

  /** How many more streams of this kind we may open now. */
  available(bidirectional: boolean): number {
    const dir = bidirectional ? BIDI : UNI;
    return (this.peerMax[dir] as number) - (this.nextLocal[dir] as number);
  }

  isLocal(id: number): boolean {
    return isClientInitiated(id) === this.isClient;
  }

  /**
   * The stream a peer frame refers to: existing, implicitly opened (RFC 9000 §3.2), or null when it
   * already closed (late frame, ignore). Throws a protocol error for streams we never opened or
   * beyond our limit. `forSending` marks frames only valid on a stream the peer can send on.
   */
  getForFrame(id: number): Stream | null {
    const existing = this.streams.get(id);
    if (existing !== undefined) return existing;
    const dir = isBidirectional(id) ? BIDI : UNI;
    const index = streamIndex(id);
    if (this.isLocal(id)) {
      if (index >= (this.nextLocal[dir] as number)) {
        throw protocolError(TransportErrorCode.STREAM_STATE_ERROR, `frame for stream ${id} we never opened`);
      }
      return null; // closed
    }
    if (index < (this.remoteOpened[dir] as number)) return null; // closed
    if (index >= (this.localMax[dir] as number)) {
      throw protocolError(TransportErrorCode.STREAM_LIMIT_ERROR, `peer opened stream ${id} beyond our limit`);
    }
    let s: Stream | null = null;
    for (let i = this.remoteOpened[dir] as number; i <= index; i++) {
      const sid = makeStreamId(i, !this.isClient, dir === BIDI);
      s = this.create(sid, false);
      this.newlyOpened.push(sid);
    }
    this.remoteOpened[dir] = index + 1;
    return s;
  }

  /** Removes a finished stream; re-issues stream credit for the peer's streams. */
  remove(stream: Stream): void {
    if (!this.streams.delete(stream.id)) return;
    if (!stream.locallyInitiated) {
      const dir = stream.bidirectional ? BIDI : UNI;
      const closed = (this.remoteClosed[dir] as number) + 1;
      this.remoteClosed[dir] = closed;
      const limit = dir === BIDI ? this.config.maxStreamsBidi : this.config.maxStreamsUni;
      const next = closed + limit;
      // Re-issue in batches (an eighth of the limit, at least one) to keep MAX_STREAMS traffic low.
      if (next - (this.localMax[dir] as number) >= Math.max(1, Math.floor(limit / 8))) {
        this.localMax[dir] = next;
        this.maxStreamsPending[dir] = true;
      }
    }
  }

  /** The peer's initial MAX_STREAM_DATA from its transport parameters (RFC 9000 §18.2). */
  setPeerStreamDataLimits(bidiLocal: number, bidiRemote: number, uni: number): void {
    this.peerStreamDataLimits = [bidiLocal, bidiRemote, uni];
  }

  /** A MAX_STREAMS frame was lost: send the current limit again. */
  resendMaxStreams(bidirectional: boolean): void {
    this.maxStreamsPending[bidirectional ? BIDI : UNI] = true;
  }

  get hasMaxStreamsPending(): boolean {
    return (this.maxStreamsPending[BIDI] as boolean) || (this.maxStreamsPending[UNI] as boolean);
  }

  /** MAX_STREAMS frames that are due, as far as they fit. */
  writeMaxStreams(b: PacketBuilder): void {
    const pending = this.maxStreamsPending;
    if (pending[BIDI] && b.writeMaxStreams(true, this.localMax[BIDI] as number)) pending[BIDI] = false;
    if (pending[UNI] && b.writeMaxStreams(false, this.localMax[UNI] as number)) pending[UNI] = false;
  }

  /** Peer's MAX_STREAMS (only increases count). */
  onMaxStreams(bidirectional: boolean, maximum: number): boolean {
    const dir = bidirectional ? BIDI : UNI;
    if (maximum <= (this.peerMax[dir] as number)) return false;
    this.peerMax[dir] = maximum;
    return true;
  }

  /** true for a stream ID that names a stream we opened before and that has closed. */
  wasClosed(id: number): boolean {
    if (this.streams.has(id)) return false;
    const dir = isBidirectional(id) ? BIDI : UNI;
    const index = streamIndex(id);
    return this.isLocal(id) ? index < (this.nextLocal[dir] as number) : index < (this.remoteOpened[dir] as number);
  }
}
