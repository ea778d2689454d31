/**
 * Errors of the STUN layer (RFC 8489). Every failure a caller can act on has a stable code; hostile or
 * malformed input surfaces as a StunError, never as a RangeError from a DataView.
 */
import { PunchlineError } from '../../errors.js';

export const StunErrorCode = {
  /** Fewer bytes than a header, or than the header's length field announces. */
  Truncated: 'ERR_PUNCHLINE_STUN_TRUNCATED',
  /** Not a STUN message at all: top bits set, length not a multiple of 4, or wrong magic cookie. */
  NotStun: 'ERR_PUNCHLINE_STUN_NOT_STUN',
  /** An attribute whose value does not fit its type (bad family, bad length, bad UTF-8 ...). */
  BadAttribute: 'ERR_PUNCHLINE_STUN_BAD_ATTRIBUTE',
  /** FINGERPRINT present but wrong, or not last (RFC 8489 §14.7). */
  BadFingerprint: 'ERR_PUNCHLINE_STUN_BAD_FINGERPRINT',
  /** MESSAGE-INTEGRITY(-SHA256) does not verify with the given key. */
  BadIntegrity: 'ERR_PUNCHLINE_STUN_BAD_INTEGRITY',
  /** More attributes than a sane message carries (bounds work per datagram). */
  TooManyAttributes: 'ERR_PUNCHLINE_STUN_TOO_MANY_ATTRIBUTES',
  /** A value we were asked to encode is out of range (caller bug). */
  InvalidArgument: 'ERR_PUNCHLINE_STUN_INVALID_ARGUMENT',
  /** No response after the whole retransmission schedule (RFC 8489 §6.2.1). */
  Timeout: 'ERR_PUNCHLINE_STUN_TIMEOUT',
  /** The server answered with an error response (ERROR-CODE). */
  ErrorResponse: 'ERR_PUNCHLINE_STUN_ERROR_RESPONSE',
  /** A success response without (XOR-)MAPPED-ADDRESS. */
  NoMappedAddress: 'ERR_PUNCHLINE_STUN_NO_MAPPED_ADDRESS',
  /** The operation was cancelled through its AbortSignal. */
  Aborted: 'ERR_PUNCHLINE_STUN_ABORTED',
  /** The server cannot do RFC 5780 behaviour discovery (no OTHER-ADDRESS). */
  NoBehaviourDiscovery: 'ERR_PUNCHLINE_STUN_NO_BEHAVIOUR_DISCOVERY',
  /** A socket failed to bind or send. */
  Socket: 'ERR_PUNCHLINE_STUN_SOCKET',
} as const;
export type StunErrorCode = (typeof StunErrorCode)[keyof typeof StunErrorCode];

export class StunError extends PunchlineError<StunErrorCode> {}
