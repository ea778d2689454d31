/**
 * Frame encoder (spec/wire.md §Frames; layouts follow RFC 9000 §19 with the differences noted there).
 *
 * Everything writes into a caller-provided buffer at an offset and returns the offset after the
 * frame. Hot path (per packet): writeStreamFrameHeader, writeAckFrame, writeDatagramFrameHeader and
 * their *Length twins allocate nothing. encodeFrame/frameLength serve everything else.
 *
 * Encoders validate their input and throw WireError InvalidValue / BufferTooSmall; after a throw the
 * bytes from `offset` on are unspecified.
 */
import { WireError, WireErrorCode } from './errors.js';
import {
  checkVarintValue,
  checkedVarintLengthAt,
  tooSmall,
  varintLength,
  writeVarint,
  writeVarintAt,
} from './varint.js';
import {
  CONNECTION_ID_LENGTH,
  FrameType,
  MAX_ACK_RANGES,
  MAX_CLOSE_REASON_BYTES,
  type AckRange,
  type Frame,
} from './types.js';

/** STREAM type bits (RFC 9000 §19.8). */
export const STREAM_FIN_BIT = 0x01;
export const STREAM_LEN_BIT = 0x02;
export const STREAM_OFF_BIT = 0x04;
/** CLOSE with an application error code (0x1c is the transport variant). */
export const FRAME_TYPE_CLOSE_APPLICATION = 0x1d;
/** DATAGRAM with a Length field (0x30 extends to the end of the packet). */
export const FRAME_TYPE_DATAGRAM_WITH_LENGTH = 0x31;
export const STATELESS_RESET_TOKEN_LENGTH = 16;
export const PATH_DATA_LENGTH = 8;

const textEncoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// STREAM

/** Bytes of a STREAM frame header (type, id, offset if non-zero, length if explicit). */
export function streamFrameHeaderLength(
  streamId: number,
  streamOffset: number,
  dataLength: number,
  explicitLength = true,
): number {
  return (
    1 +
    varintLength(streamId) +
    (streamOffset > 0 ? varintLength(streamOffset) : 0) +
    (explicitLength ? varintLength(dataLength) : 0)
  );
}

/**
 * Writes a STREAM frame header; the caller copies `dataLength` bytes of data right after it. The
 * Offset field is omitted when `streamOffset` is 0 (OFF bit clear). With `explicitLength` false the
 * data runs to the end of the packet, so the frame must be the packet's last.
 */
export function writeStreamFrameHeader(
  buf: Uint8Array,
  offset: number,
  streamId: number,
  streamOffset: number,
  dataLength: number,
  fin: boolean,
  explicitLength = true,
): number {
  checkVarintValue(streamId, 'stream id');
  checkVarintValue(streamOffset, 'stream offset');
  checkVarintValue(dataLength, 'stream data length');
  // RFC 9000 §19.8: offset + length must stay within a varint; this implementation's bound is 2^53−1.
  if (streamOffset + dataLength > Number.MAX_SAFE_INTEGER) {
    throw new WireError(WireErrorCode.StreamOffset, 'stream offset + length exceeds 2^53-1');
  }
  let type = FrameType.Stream as number;
  if (streamOffset > 0) type |= STREAM_OFF_BIT;
  if (explicitLength) type |= STREAM_LEN_BIT;
  if (fin) type |= STREAM_FIN_BIT;
  if (offset >= buf.length) throw tooSmall(offset + 1, buf.length);
  buf[offset] = type;
  let o = writeVarint(buf, offset + 1, streamId);
  if (streamOffset > 0) o = writeVarint(buf, o, streamOffset);
  if (explicitLength) o = writeVarint(buf, o, dataLength);
  return o;
}

// ---------------------------------------------------------------------------------------------
// DATAGRAM

export function datagramFrameHeaderLength(dataLength: number, explicitLength = true): number {
  return explicitLength ? 1 + varintLength(dataLength) : 1;
}

/** Writes a DATAGRAM frame header (0x31 with length, 0x30 to end of packet); the caller copies the data. */
export function writeDatagramFrameHeader(
  buf: Uint8Array,
  offset: number,
  dataLength: number,
  explicitLength = true,
): number {
  if (offset >= buf.length) throw tooSmall(offset + 1, buf.length);
  if (!explicitLength) {
    buf[offset] = FrameType.Datagram;
    return offset + 1;
  }
  buf[offset] = FRAME_TYPE_DATAGRAM_WITH_LENGTH;
  return writeVarint(buf, offset + 1, dataLength);
}

// ---------------------------------------------------------------------------------------------
// ACK

/**
 * Validates ranges[0..rangeCount) (descending, non-overlapping, non-adjacent, ≥ 0) and returns the
 * encoded length of the ACK frame. Throws InvalidValue on bad input.
 */
export function ackFrameLength(
  ranges: readonly AckRange[],
  rangeCount: number,
  ackDelayMicros: number,
  receiveTimestampMicros: number,
): number {
  const times = scratchTimes;
  times[ACK_DELAY] = ackDelayMicros;
  times[ACK_TIMESTAMP] = receiveTimestampMicros;
  return ackFrameLengthOf(ranges, rangeCount, times);
}

/**
 * Index of the ACK Delay (µs) in an AckTimes array. The ACK's two times travel in a Float64Array
 * because the receive timestamp passes 2^30 µs after ~18 min of clock: from then on a double passed as
 * an argument to a call that is not inlined is boxed, one heap number per ACK written. Read out of the
 * array inside the encoder, it stays an unboxed float64.
 */
export const ACK_DELAY = 0;
/** Index of the Receive Timestamp (µs) in an AckTimes array. */
export const ACK_TIMESTAMP = 1;
const scratchTimes = new Float64Array(2);

/** ackFrameLength with the two times read from times[ACK_DELAY], times[ACK_TIMESTAMP] (no boxing). */
export function ackFrameLengthOf(ranges: readonly AckRange[], rangeCount: number, times: Float64Array): number {
  if (!(rangeCount >= 1 && rangeCount <= MAX_ACK_RANGES && rangeCount <= ranges.length)) {
    throw new WireError(WireErrorCode.InvalidValue, `ACK range count ${rangeCount} outside 1..${MAX_ACK_RANGES}`);
  }
  const delayLength = checkedVarintLengthAt(times, ACK_DELAY, 'ack delay');
  const timestampLength = checkedVarintLengthAt(times, ACK_TIMESTAMP, 'receive timestamp');
  const first = ranges[0] as AckRange;
  checkRange(first);
  let length =
    1 +
    varintLength(first.largest) +
    delayLength +
    timestampLength +
    varintLength(rangeCount - 1) +
    varintLength(first.largest - first.smallest);
  let previousSmallest = first.smallest;
  for (let i = 1; i < rangeCount; i++) {
    const r = ranges[i] as AckRange;
    checkRange(r);
    // RFC 9000 §19.3.1: Gap = previous smallest − this largest − 2 (so adjacent ranges must be merged).
    const gap = previousSmallest - r.largest - 2;
    if (gap < 0) {
      throw new WireError(
        WireErrorCode.InvalidValue,
        'ACK ranges must be descending, non-overlapping and non-adjacent',
      );
    }
    length += varintLength(gap) + varintLength(r.largest - r.smallest);
    previousSmallest = r.smallest;
  }
  return length;
}

function checkRange(r: AckRange): void {
  checkVarintValue(r.smallest, 'ACK range smallest');
  checkVarintValue(r.largest, 'ACK range largest');
  if (r.smallest > r.largest) throw new WireError(WireErrorCode.InvalidValue, 'ACK range smallest > largest');
}

/**
 * Writes an ACK frame for ranges[0..rangeCount) (descending; ranges[0].largest is the largest
 * acknowledged). Layout: type 0x02, Largest Acknowledged, ACK Delay (µs), Receive Timestamp (µs),
 * ACK Range Count (= rangeCount − 1), First ACK Range, then (Gap, ACK Range Length) pairs.
 */
export function writeAckFrame(
  buf: Uint8Array,
  offset: number,
  ranges: readonly AckRange[],
  rangeCount: number,
  ackDelayMicros: number,
  receiveTimestampMicros: number,
): number {
  const times = scratchTimes;
  times[ACK_DELAY] = ackDelayMicros;
  times[ACK_TIMESTAMP] = receiveTimestampMicros;
  return writeAckFrameOf(buf, offset, ranges, rangeCount, times);
}

/** writeAckFrame with the two times read from times[ACK_DELAY], times[ACK_TIMESTAMP] (no boxing). */
export function writeAckFrameOf(
  buf: Uint8Array,
  offset: number,
  ranges: readonly AckRange[],
  rangeCount: number,
  times: Float64Array,
): number {
  const length = ackFrameLengthOf(ranges, rangeCount, times);
  if (offset + length > buf.length) throw tooSmall(offset + length, buf.length);
  const first = ranges[0] as AckRange;
  buf[offset] = FrameType.Ack;
  let o = writeVarint(buf, offset + 1, first.largest);
  o = writeVarintAt(buf, o, times, ACK_DELAY);
  o = writeVarintAt(buf, o, times, ACK_TIMESTAMP);
  o = writeVarint(buf, o, rangeCount - 1);
  o = writeVarint(buf, o, first.largest - first.smallest);
  let previousSmallest = first.smallest;
  for (let i = 1; i < rangeCount; i++) {
    const r = ranges[i] as AckRange;
    o = writeVarint(buf, o, previousSmallest - r.largest - 2);
    o = writeVarint(buf, o, r.largest - r.smallest);
    previousSmallest = r.smallest;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Generic

/** UTF-8 length of a JS string as TextEncoder would encode it (lone surrogates become U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function checkFixed(bytes: Uint8Array, length: number, field: string): void {
  if (bytes.length !== length) {
    throw new WireError(WireErrorCode.InvalidValue, `${field} must be ${length} bytes, got ${bytes.length}`);
  }
}

/** Encoded length of any frame (validating it as encodeFrame would). */
export function frameLength(frame: Frame): number {
  switch (frame.type) {
    case FrameType.Padding:
      if (!(Number.isSafeInteger(frame.length) && frame.length >= 1)) {
        throw new WireError(WireErrorCode.InvalidValue, 'PADDING length must be ≥ 1');
      }
      return frame.length;
    case FrameType.Ping:
      return 1;
    case FrameType.Ack:
      return ackFrameLength(frame.ranges, frame.ranges.length, frame.ackDelayMicros, frame.receiveTimestampMicros);
    case FrameType.ResetStream:
      checkVarints3(frame.streamId, frame.errorCode, frame.finalSize);
      return 1 + varintLength(frame.streamId) + varintLength(frame.errorCode) + varintLength(frame.finalSize);
    case FrameType.StopSending:
      checkVarints3(frame.streamId, frame.errorCode, 0);
      return 1 + varintLength(frame.streamId) + varintLength(frame.errorCode);
    case FrameType.Stream: {
      const explicit = frame.explicitLength ?? true;
      checkVarints3(frame.streamId, frame.offset, 0);
      return streamFrameHeaderLength(frame.streamId, frame.offset, frame.data.length, explicit) + frame.data.length;
    }
    case FrameType.MaxData:
      checkVarints3(frame.maximum, 0, 0);
      return 1 + varintLength(frame.maximum);
    case FrameType.MaxStreamData:
      checkVarints3(frame.streamId, frame.maximum, 0);
      return 1 + varintLength(frame.streamId) + varintLength(frame.maximum);
    case FrameType.MaxStreamsBidi:
    case FrameType.MaxStreamsUni:
      checkVarints3(frame.maximum, 0, 0);
      return 1 + varintLength(frame.maximum);
    case FrameType.DataBlocked:
      checkVarints3(frame.limit, 0, 0);
      return 1 + varintLength(frame.limit);
    case FrameType.StreamDataBlocked:
      checkVarints3(frame.streamId, frame.limit, 0);
      return 1 + varintLength(frame.streamId) + varintLength(frame.limit);
    case FrameType.NewConnectionId:
      checkVarints3(frame.sequence, frame.retirePriorTo, 0);
      if (frame.retirePriorTo > frame.sequence) {
        throw new WireError(WireErrorCode.InvalidValue, 'NEW_CONNECTION_ID retire prior to > sequence');
      }
      checkFixed(frame.connectionId, CONNECTION_ID_LENGTH, 'connection id');
      checkFixed(frame.resetToken, STATELESS_RESET_TOKEN_LENGTH, 'reset token');
      return (
        1 +
        varintLength(frame.sequence) +
        varintLength(frame.retirePriorTo) +
        1 +
        CONNECTION_ID_LENGTH +
        STATELESS_RESET_TOKEN_LENGTH
      );
    case FrameType.RetireConnectionId:
      checkVarints3(frame.sequence, 0, 0);
      return 1 + varintLength(frame.sequence);
    case FrameType.PathChallenge:
    case FrameType.PathResponse:
      checkFixed(frame.data, PATH_DATA_LENGTH, 'path data');
      return 1 + PATH_DATA_LENGTH;
    case FrameType.Close: {
      checkVarints3(frame.errorCode, 0, 0);
      const n = utf8Length(frame.reason);
      if (n > MAX_CLOSE_REASON_BYTES) {
        throw new WireError(WireErrorCode.InvalidValue, `CLOSE reason is ${n} bytes, limit ${MAX_CLOSE_REASON_BYTES}`);
      }
      return 1 + varintLength(frame.errorCode) + varintLength(n) + n;
    }
    case FrameType.Datagram:
      return datagramFrameHeaderLength(frame.data.length, frame.explicitLength ?? true) + frame.data.length;
    default:
      throw new WireError(WireErrorCode.InvalidValue, `unknown frame type ${(frame as { type: unknown }).type}`);
  }
}

function checkVarints3(a: number, b: number, c: number): void {
  checkVarintValue(a, 'frame field');
  checkVarintValue(b, 'frame field');
  checkVarintValue(c, 'frame field');
}

/** Encodes any frame at `offset` and returns the offset after it. */
export function encodeFrame(frame: Frame, buf: Uint8Array, offset: number): number {
  const length = frameLength(frame); // validates every field
  if (offset + length > buf.length) throw tooSmall(offset + length, buf.length);
  let o = offset + 1;
  switch (frame.type) {
    case FrameType.Padding:
      buf.fill(0, offset, offset + length);
      return offset + length;
    case FrameType.Ping:
      buf[offset] = FrameType.Ping;
      return o;
    case FrameType.Ack:
      return writeAckFrame(
        buf,
        offset,
        frame.ranges,
        frame.ranges.length,
        frame.ackDelayMicros,
        frame.receiveTimestampMicros,
      );
    case FrameType.ResetStream:
      buf[offset] = frame.type;
      o = writeVarint(buf, o, frame.streamId);
      o = writeVarint(buf, o, frame.errorCode);
      return writeVarint(buf, o, frame.finalSize);
    case FrameType.StopSending:
      buf[offset] = frame.type;
      o = writeVarint(buf, o, frame.streamId);
      return writeVarint(buf, o, frame.errorCode);
    case FrameType.Stream:
      o = writeStreamFrameHeader(
        buf,
        offset,
        frame.streamId,
        frame.offset,
        frame.data.length,
        frame.fin,
        frame.explicitLength ?? true,
      );
      buf.set(frame.data, o);
      return o + frame.data.length;
    case FrameType.MaxData:
    case FrameType.MaxStreamsBidi:
    case FrameType.MaxStreamsUni:
      buf[offset] = frame.type;
      return writeVarint(buf, o, frame.maximum);
    case FrameType.MaxStreamData:
      buf[offset] = frame.type;
      o = writeVarint(buf, o, frame.streamId);
      return writeVarint(buf, o, frame.maximum);
    case FrameType.DataBlocked:
      buf[offset] = frame.type;
      return writeVarint(buf, o, frame.limit);
    case FrameType.StreamDataBlocked:
      buf[offset] = frame.type;
      o = writeVarint(buf, o, frame.streamId);
      return writeVarint(buf, o, frame.limit);
    case FrameType.NewConnectionId:
      buf[offset] = frame.type;
      o = writeVarint(buf, o, frame.sequence);
      o = writeVarint(buf, o, frame.retirePriorTo);
      buf[o++] = CONNECTION_ID_LENGTH;
      buf.set(frame.connectionId, o);
      buf.set(frame.resetToken, o + CONNECTION_ID_LENGTH);
      return o + CONNECTION_ID_LENGTH + STATELESS_RESET_TOKEN_LENGTH;
    case FrameType.RetireConnectionId:
      buf[offset] = frame.type;
      return writeVarint(buf, o, frame.sequence);
    case FrameType.PathChallenge:
    case FrameType.PathResponse:
      buf[offset] = frame.type;
      buf.set(frame.data, o);
      return o + PATH_DATA_LENGTH;
    case FrameType.Close: {
      buf[offset] = frame.application ? FRAME_TYPE_CLOSE_APPLICATION : FrameType.Close;
      o = writeVarint(buf, o, frame.errorCode);
      const end = offset + length;
      const n = utf8Length(frame.reason);
      o = writeVarint(buf, o, n);
      textEncoder.encodeInto(frame.reason, buf.subarray(o, end));
      return end;
    }
    case FrameType.Datagram:
      o = writeDatagramFrameHeader(buf, offset, frame.data.length, frame.explicitLength ?? true);
      buf.set(frame.data, o);
      return o + frame.data.length;
  }
}
