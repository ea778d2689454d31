import { PunchlineError } from '../errors.js';

/**
 * Transport error codes carried in CLOSE frames with `application: false` (cf. RFC 9000 §20.1; the same values as
 * TransportErrorCode in src/wire/types.ts, plus TRANSPORT_PARAMETER_ERROR and HANDSHAKE_FAILED).
 * Codes from 0x10000 on are local-only: they describe why this side ended a connection without a CLOSE
 * frame (idle timeout, handshake timeout) and never appear on the wire.
 */
export const TransportErrorCode = {
  NO_ERROR: 0x0,
  INTERNAL_ERROR: 0x1,
  CONNECTION_REFUSED: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_LIMIT_ERROR: 0x4,
  STREAM_STATE_ERROR: 0x5,
  FINAL_SIZE_ERROR: 0x6,
  FRAME_ENCODING_ERROR: 0x7,
  TRANSPORT_PARAMETER_ERROR: 0x8,
  CONNECTION_ID_LIMIT_ERROR: 0x9,
  PROTOCOL_VIOLATION: 0xa,
  INVALID_TOKEN: 0xb,
  KEY_UPDATE_ERROR: 0xe,
  AEAD_LIMIT_REACHED: 0xf,
  NO_VIABLE_PATH: 0x10,
  /** The handshake failed (cf. RFC 9000 CRYPTO_ERROR range 0x100–0x1ff). */
  HANDSHAKE_FAILED: 0x100,
  /** Local only: no packet from the peer within the negotiated idle timeout. */
  IDLE_TIMEOUT: 0x10000,
  /** Local only: the handshake did not complete within `handshakeTimeoutMs`. */
  HANDSHAKE_TIMEOUT: 0x10001,
  /** Local only: the endpoint was closed before the connection could close gracefully. */
  ENDPOINT_CLOSED: 0x10002,
  /** Local only: the peer answered with a stateless reset (it lost the connection's state). */
  STATELESS_RESET: 0x10003,
} as const;
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

/** Stable string codes of TransportError (thrown by the connection API and used for CLOSE). */
export const TransportErrorName = {
  STREAM_LIMIT: 'ERR_PUNCHLINE_STREAM_LIMIT',
  STREAM_STATE: 'ERR_PUNCHLINE_STREAM_STATE',
  UNKNOWN_STREAM: 'ERR_PUNCHLINE_UNKNOWN_STREAM',
  CONNECTION_CLOSED: 'ERR_PUNCHLINE_CONNECTION_CLOSED',
  PROTOCOL: 'ERR_PUNCHLINE_TRANSPORT_PROTOCOL',
  FLOW_CONTROL: 'ERR_PUNCHLINE_FLOW_CONTROL',
  CONFIG: 'ERR_PUNCHLINE_TRANSPORT_CONFIG',
  /** A broken invariant inside the transport (a bug): the connection closes with INTERNAL_ERROR. */
  INTERNAL: 'ERR_PUNCHLINE_TRANSPORT_INTERNAL',
} as const;
export type TransportErrorName = (typeof TransportErrorName)[keyof typeof TransportErrorName];

/** Errors of the transport layer. `transportCode` is the CLOSE error code when it ends a connection. */
export class TransportError extends PunchlineError<TransportErrorName> {
  readonly transportCode: number;

  constructor(
    code: TransportErrorName,
    message: string,
    transportCode: number = TransportErrorCode.INTERNAL_ERROR,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.transportCode = transportCode;
  }
}

/** A protocol violation by the peer: the connection closes with `transportCode`. */
export function protocolError(transportCode: number, message: string): TransportError {
  return new TransportError(TransportErrorName.PROTOCOL, message, transportCode);
}

export function transportErrorName(code: number): string {
  for (const [name, value] of Object.entries(TransportErrorCode)) if (value === code) return name;
  return `0x${code.toString(16)}`;
}
