/**
 * Frame decoder for the plaintext payload of a short-header packet (spec/wire.md §Frames).
 *
 * Input is untrusted (authenticated only means "from the peer", not "well-formed"): every length is
 * compared with the bytes actually left before it is used, no allocation is sized by a length field
 * that has not been so checked (ACK ranges are bounded by MAX_ACK_RANGES and by the bytes left), and
 * anything malformed throws WireError. STREAM and DATAGRAM data are subarray views of the input.
 *
 * Hot path: one FrameDecoder per connection, reset per packet; it allocates only the frame objects.
 * With `reuseFrames`, STREAM, ACK, PING and PADDING frames (the per-packet ones) and MAX_DATA and
 * MAX_STREAM_DATA (the bulk sender's flow-control updates) are instead one object each, owned by the decoder and overwritten by the next call (ACK ranges too): use a frame
 * before asking for the next one and keep nothing of it. STREAM data stays a view into the packet;
 * in this mode the view is also reused when the next packet in the same buffer has its data at the
 * same place (a receiver that decrypts every packet into one scratch buffer sees the same layout
 * packet after packet), so steady-state decoding allocates nothing.
 */
import { WireError, WireErrorCode } from './errors.js';
import { WireReader } from './reader.js';
import {
  FRAME_TYPE_CLOSE_APPLICATION,
  FRAME_TYPE_DATAGRAM_WITH_LENGTH,
  PATH_DATA_LENGTH,
  STATELESS_RESET_TOKEN_LENGTH,
  STREAM_FIN_BIT,
  STREAM_LEN_BIT,
  STREAM_OFF_BIT,
} from './frames-encode.js';
import {
  CONNECTION_ID_LENGTH,
  FrameType,
  MAX_ACK_RANGES,
  MAX_CLOSE_REASON_BYTES,
  MAX_STREAMS_LIMIT,
  type AckFrame,
  type AckRange,
  type Frame,
  type MaxDataFrame,
  type MaxStreamDataFrame,
  type StreamFrame,
} from './types.js';

/**
 * Entries of the reuseFrames STREAM data view cache (power of two): the data's place varies with the
 * ACK frame before it, so a few dozen layouts recur.
 */
const DATA_VIEW_CACHE_SIZE = 64;
const EMPTY = new Uint8Array(0);

// fatal: reject invalid UTF-8 instead of substituting; ignoreBOM: keep a leading U+FEFF (round trip).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface FrameDecoderOptions {
  /**
   * Return STREAM, ACK, PING, PADDING, MAX_DATA and MAX_STREAM_DATA frames as decoder-owned objects,
   * overwritten by the next next() (hot path).
   */
  readonly reuseFrames?: boolean;
}

export class FrameDecoder {
  private readonly reader = new WireReader();
  private readonly reuse: boolean;
  private readonly streamFrame: StreamFrame = {
    type: FrameType.Stream,
    streamId: 0,
    offset: 0,
    data: new Uint8Array(0),
    fin: false,
    explicitLength: false,
  };
  private readonly ackFrame: AckFrame = {
    type: FrameType.Ack,
    ranges: [],
    ackDelayMicros: 0,
    receiveTimestampMicros: 0,
  };
  private readonly pingFrame: Frame = { type: FrameType.Ping };
  private readonly paddingFrame: { type: typeof FrameType.Padding; length: number } = {
    type: FrameType.Padding,
    length: 0,
  };
  // MAX_DATA / MAX_STREAM_DATA come with every flow-control update, i.e. on the ACK path of a bulk
  // sender; limits beyond 2^31 are doubles, so a fresh frame would also box its `maximum`.
  private readonly maxDataFrame: MaxDataFrame = { type: FrameType.MaxData, maximum: 0 };
  private readonly maxStreamDataFrame: MaxStreamDataFrame = { type: FrameType.MaxStreamData, streamId: 0, maximum: 0 };
  /** Range objects behind ackFrame.ranges, grown on demand (at most MAX_ACK_RANGES). */
  private readonly rangePool: AckRange[] = [];
  /** reuseFrames: STREAM data views into `viewBuf`, direct-mapped by (start, end). */
  private viewBuf: Uint8Array | null = null;
  private readonly viewStart = new Int32Array(DATA_VIEW_CACHE_SIZE).fill(-1);
  private readonly viewEnd = new Int32Array(DATA_VIEW_CACHE_SIZE);
  private readonly views: Uint8Array[] = new Array<Uint8Array>(DATA_VIEW_CACHE_SIZE).fill(EMPTY);

  constructor(options: FrameDecoderOptions = {}) {
    this.reuse = options.reuseFrames === true;
  }

  /** Decodes frames from buf[start, end). */
  reset(buf: Uint8Array, start = 0, end: number = buf.length): this {
    this.reader.reset(buf, start, end);
    return this;
  }

  /** reuseFrames: a view of buf[start, start + length), reused while the buffer and place repeat. */
  private dataView(length: number): Uint8Array {
    const r = this.reader;
    r.need(length, 'bytes');
    const buf = r.buf;
    const start = r.offset;
    const end = start + length;
    r.offset = end;
    if (buf !== this.viewBuf) {
      this.viewBuf = buf;
      this.viewStart.fill(-1);
    }
    const i = (start ^ (end << 3)) & (DATA_VIEW_CACHE_SIZE - 1);
    if (this.viewStart[i] === start && this.viewEnd[i] === end) return this.views[i] as Uint8Array;
    const view = buf.subarray(start, end);
    this.viewStart[i] = start;
    this.viewEnd[i] = end;
    this.views[i] = view;
    return view;
  }

  /** Offset of the next undecoded byte (after a throw: somewhere inside the bad frame). */
  get offset(): number {
    return this.reader.offset;
  }

  /** The next frame, or null at the end of the payload. Throws WireError on malformed input. */
  next(): Frame | null {
    const r = this.reader;
    if (r.offset >= r.end) return null;
    const type = r.readUint8();
    switch (type) {
      case FrameType.Padding: {
        // A run of 0x00 is one PADDING frame (RFC 9000 §19.1 treats each byte as a frame; one object is cheaper).
        const start = r.offset - 1;
        const b = r.buf;
        let o = r.offset;
        while (o < r.end && b[o] === 0) o++;
        r.offset = o;
        if (this.reuse) {
          this.paddingFrame.length = o - start;
          return this.paddingFrame;
        }
        return { type: FrameType.Padding, length: o - start };
      }
      case FrameType.Ping:
        return this.reuse ? this.pingFrame : { type: FrameType.Ping };
      case FrameType.Ack:
        return this.reuse ? decodeAckInto(r, this.ackFrame, this.rangePool) : decodeAck(r);
      case FrameType.ResetStream:
        return {
          type: FrameType.ResetStream,
          streamId: r.readVarint(),
          errorCode: r.readVarint(),
          finalSize: r.readVarint(),
        };
      case FrameType.StopSending:
        return { type: FrameType.StopSending, streamId: r.readVarint(), errorCode: r.readVarint() };
      case 0x08:
      case 0x09:
      case 0x0a:
      case 0x0b:
      case 0x0c:
      case 0x0d:
      case 0x0e:
      case 0x0f: {
        const streamId = r.readVarint();
        const offset = (type & STREAM_OFF_BIT) !== 0 ? r.readVarint() : 0;
        const explicitLength = (type & STREAM_LEN_BIT) !== 0;
        const length = explicitLength ? r.readVarint() : r.remaining;
        // RFC 9000 §19.8: offset + length ≤ 2^62 − 1; here the tighter implementation bound 2^53 − 1.
        if (offset + length > Number.MAX_SAFE_INTEGER) {
          throw new WireError(WireErrorCode.StreamOffset, 'STREAM offset + length exceeds the maximum stream offset');
        }
        const fin = (type & STREAM_FIN_BIT) !== 0;
        if (this.reuse) {
          const data = this.dataView(length);
          const f = this.streamFrame;
          f.streamId = streamId;
          f.offset = offset;
          f.data = data;
          f.fin = fin;
          f.explicitLength = explicitLength;
          return f;
        }
        return { type: FrameType.Stream, streamId, offset, data: r.readBytes(length), fin, explicitLength };
      }
      case FrameType.MaxData: {
        const maximum = r.readVarint();
        if (!this.reuse) return { type: FrameType.MaxData, maximum };
        this.maxDataFrame.maximum = maximum;
        return this.maxDataFrame;
      }
      case FrameType.MaxStreamData: {
        const streamId = r.readVarint();
        const maximum = r.readVarint();
        if (!this.reuse) return { type: FrameType.MaxStreamData, streamId, maximum };
        const f = this.maxStreamDataFrame;
        f.streamId = streamId;
        f.maximum = maximum;
        return f;
      }
      case FrameType.MaxStreamsBidi:
      case FrameType.MaxStreamsUni: {
        const maximum = r.readVarint();
        // RFC 9000 §19.11 (unreachable below 2^53 but kept so the rule lives where the spec puts it).
        if (maximum > MAX_STREAMS_LIMIT) throw new WireError(WireErrorCode.FrameEncoding, 'MAX_STREAMS above 2^60');
        return { type, maximum };
      }
      case FrameType.DataBlocked:
        return { type: FrameType.DataBlocked, limit: r.readVarint() };
      case FrameType.StreamDataBlocked:
        return { type: FrameType.StreamDataBlocked, streamId: r.readVarint(), limit: r.readVarint() };
      case FrameType.NewConnectionId: {
        const sequence = r.readVarint();
        const retirePriorTo = r.readVarint();
        // RFC 9000 §19.15: Retire Prior To greater than Sequence Number is FRAME_ENCODING_ERROR.
        if (retirePriorTo > sequence) {
          throw new WireError(WireErrorCode.FrameEncoding, 'NEW_CONNECTION_ID retire prior to exceeds sequence');
        }
        const length = r.readUint8();
        if (length !== CONNECTION_ID_LENGTH) {
          throw new WireError(
            WireErrorCode.ConnectionIdLength,
            `connection id length ${length}, expected ${CONNECTION_ID_LENGTH}`,
          );
        }
        const connectionId = r.readBytes(CONNECTION_ID_LENGTH);
        const resetToken = r.readBytes(STATELESS_RESET_TOKEN_LENGTH);
        return { type: FrameType.NewConnectionId, sequence, retirePriorTo, connectionId, resetToken };
      }
      case FrameType.RetireConnectionId:
        return { type: FrameType.RetireConnectionId, sequence: r.readVarint() };
      case FrameType.PathChallenge:
      case FrameType.PathResponse:
        return { type, data: r.readBytes(PATH_DATA_LENGTH) };
      case FrameType.Close:
      case FRAME_TYPE_CLOSE_APPLICATION: {
        const errorCode = r.readVarint();
        const length = r.readVarint();
        if (length > MAX_CLOSE_REASON_BYTES) {
          throw new WireError(
            WireErrorCode.Reason,
            `CLOSE reason of ${length} bytes exceeds ${MAX_CLOSE_REASON_BYTES}`,
          );
        }
        const bytes = r.readBytes(length);
        let reason: string;
        try {
          reason = utf8Decoder.decode(bytes);
        } catch {
          throw new WireError(WireErrorCode.Reason, 'CLOSE reason is not valid UTF-8');
        }
        return { type: FrameType.Close, application: type === FRAME_TYPE_CLOSE_APPLICATION, errorCode, reason };
      }
      case FrameType.Datagram:
        return { type: FrameType.Datagram, data: r.readBytes(r.remaining), explicitLength: false };
      case FRAME_TYPE_DATAGRAM_WITH_LENGTH:
        return { type: FrameType.Datagram, data: r.readBytes(r.readVarint()), explicitLength: true };
      default:
        // Includes first bytes ≥ 0x40: multi-byte frame-type varints, none of which v1 defines.
        throw new WireError(WireErrorCode.UnknownFrame, `unknown frame type 0x${type.toString(16)}`);
    }
  }
}

function decodeAck(r: WireReader): AckFrame {
  // A fresh frame and range pool: the pool grows only after the range count has been validated.
  return decodeAckInto(r, { type: FrameType.Ack, ranges: [], ackDelayMicros: 0, receiveTimestampMicros: 0 }, []);
}

/** The ACK's receive timestamp, read unboxed (WireReader.readVarintInto: past 2^30 µs it is no Smi). */
const timestampScratch = new Float64Array(1);

/** Decodes an ACK into `frame`, reusing the range objects of `pool` (the hot path passes reused ones). */
function decodeAckInto(r: WireReader, frame: AckFrame, pool: AckRange[]): AckFrame {
  const largest = r.readVarint();
  const ackDelayMicros = r.readVarint();
  r.readVarintInto(timestampScratch, 0);
  const pairCount = r.readVarint();
  // Bound the allocation before making it: at most MAX_ACK_RANGES ranges, and every (Gap, Length)
  // pair occupies at least two bytes of what is left.
  if (pairCount + 1 > MAX_ACK_RANGES) {
    throw new WireError(WireErrorCode.AckRanges, `ACK with ${pairCount + 1} ranges exceeds ${MAX_ACK_RANGES}`);
  }
  const firstRange = r.readVarint();
  if (pairCount * 2 > r.remaining) throw new WireError(WireErrorCode.Truncated, 'ACK ranges past end of frame');
  let smallest = largest - firstRange;
  if (smallest < 0) throw new WireError(WireErrorCode.AckRanges, 'ACK range below packet number 0');
  const ranges = frame.ranges;
  while (pool.length <= pairCount) pool.push({ smallest: 0, largest: 0 });
  // Ranges are assigned by index and the length set once at the end (≥ 1): emptying the array
  // would drop its backing store and make the next ACK allocate a new one.
  let range = pool[0] as AckRange;
  range.smallest = smallest;
  range.largest = largest;
  ranges[0] = range;
  for (let i = 1; i <= pairCount; i++) {
    const gap = r.readVarint();
    const length = r.readVarint();
    // RFC 9000 §19.3.1: next largest = previous smallest − gap − 2; next smallest = largest − length.
    const rangeLargest = smallest - gap - 2;
    const rangeSmallest = rangeLargest - length;
    if (rangeSmallest < 0) throw new WireError(WireErrorCode.AckRanges, 'ACK range below packet number 0');
    range = pool[i] as AckRange;
    range.smallest = rangeSmallest;
    range.largest = rangeLargest;
    ranges[i] = range;
    smallest = rangeSmallest;
  }
  if (ranges.length !== pairCount + 1) ranges.length = pairCount + 1;
  frame.ackDelayMicros = ackDelayMicros;
  frame.receiveTimestampMicros = timestampScratch[0] as number;
  return frame;
}

const sharedDecoder = new FrameDecoder();

/** Decodes every frame of a payload into an array (convenience and tests; the hot path uses FrameDecoder). */
export function decodeFrames(payload: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  const decoder = sharedDecoder.reset(payload);
  for (let frame = decoder.next(); frame !== null; frame = decoder.next()) frames.push(frame);
  return frames;
}
