/**
 * The wire layer's one error type. Decoding untrusted bytes throws nothing but a WireError, so
 * callers can `catch (e) { if (e instanceof WireError) drop(); else throw e; }` and never crash on
 * a hostile datagram. Codes are stable (programs switch on them); messages are for humans.
 */
import { PunchlineError } from '../errors.js';

export const WireErrorCode = {
  /** A field would extend past the end of the input (or of a length-delimited region). */
  Truncated: 'ERR_PUNCHLINE_WIRE_TRUNCATED',
  /** A varint on the wire is above Number.MAX_SAFE_INTEGER (valid QUIC, unsupported here). */
  VarintUnsafe: 'ERR_PUNCHLINE_WIRE_VARINT_UNSAFE',
  /** Encoding: a value is negative, not an integer, or above its field's range. */
  InvalidValue: 'ERR_PUNCHLINE_WIRE_INVALID_VALUE',
  /** Encoding: the caller's buffer is too small for what is being written. */
  BufferTooSmall: 'ERR_PUNCHLINE_WIRE_BUFFER_TOO_SMALL',
  /** A frame type this version does not define (RFC 9000 §12.4: FRAME_ENCODING_ERROR). */
  UnknownFrame: 'ERR_PUNCHLINE_WIRE_UNKNOWN_FRAME',
  /** A frame is syntactically complete but violates a field rule (spec/wire.md §Limits). */
  FrameEncoding: 'ERR_PUNCHLINE_WIRE_FRAME_ENCODING',
  /** An ACK frame has too many ranges or ranges that run below packet number 0. */
  AckRanges: 'ERR_PUNCHLINE_WIRE_ACK_RANGES',
  /** STREAM offset + length exceeds the maximum stream offset. */
  StreamOffset: 'ERR_PUNCHLINE_WIRE_STREAM_OFFSET',
  /** A CLOSE reason is longer than MAX_CLOSE_REASON_BYTES or is not valid UTF-8. */
  Reason: 'ERR_PUNCHLINE_WIRE_REASON',
  /** A connection ID length other than CONNECTION_ID_LENGTH. */
  ConnectionIdLength: 'ERR_PUNCHLINE_WIRE_CID_LENGTH',
  /** A header's fixed bit, reserved bits or packet type are invalid. */
  Header: 'ERR_PUNCHLINE_WIRE_HEADER',
  /** A long header carries a version this implementation does not speak. */
  Version: 'ERR_PUNCHLINE_WIRE_VERSION',
  /** A token longer than MAX_TOKEN_LENGTH. */
  Token: 'ERR_PUNCHLINE_WIRE_TOKEN',
  /** A punch probe with a bad first byte or magic. */
  Probe: 'ERR_PUNCHLINE_WIRE_PROBE',
  /** A relay-encapsulated datagram that is empty, nested, or has a bad first byte. */
  Relay: 'ERR_PUNCHLINE_WIRE_RELAY',
} as const;
export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

export class WireError extends PunchlineError<WireErrorCode> {}
