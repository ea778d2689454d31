/**
 * Errors of the crypto layer. Codes are stable API (`ERR_PUNCHLINE_CRYPTO_...`); programs switch on
 * `code`, people read `message`.
 */
import { PunchlineError } from '../errors.js';

export const CryptoErrorCode = {
  /** A handshake message was written/read out of turn, or after the handshake completed. */
  WrongTurn: 'ERR_PUNCHLINE_CRYPTO_WRONG_TURN',
  /** A handshake payload names a pattern id we do not know (spec/crypto.md §3.1). */
  UnknownPattern: 'ERR_PUNCHLINE_CRYPTO_UNKNOWN_PATTERN',
  /** A handshake message is shorter than its pattern requires. */
  Truncated: 'ERR_PUNCHLINE_CRYPTO_TRUNCATED',
  /** A handshake message or payload exceeds 65535 bytes (Noise §3). */
  MessageTooLong: 'ERR_PUNCHLINE_CRYPTO_MESSAGE_TOO_LONG',
  /** AEAD authentication failed (wrong key, tampered or replayed bytes). */
  DecryptFailed: 'ERR_PUNCHLINE_CRYPTO_DECRYPT_FAILED',
  /** X25519 produced the all-zero output (low-order public key). */
  BadPublicKey: 'ERR_PUNCHLINE_CRYPTO_BAD_PUBLIC_KEY',
  /** A key, psk or option has the wrong length or shape. */
  InvalidArgument: 'ERR_PUNCHLINE_CRYPTO_INVALID_ARGUMENT',
  /** split()/remoteStaticKey used before the handshake finished. */
  NotComplete: 'ERR_PUNCHLINE_CRYPTO_HANDSHAKE_NOT_COMPLETE',
  /** A nonce / packet number would repeat or run out (Noise §5.1, RFC 9001 §6.6). */
  NonceExhausted: 'ERR_PUNCHLINE_CRYPTO_NONCE_EXHAUSTED',
  /** Transport parameters are malformed, unknown or out of range. */
  TransportParameters: 'ERR_PUNCHLINE_CRYPTO_TRANSPORT_PARAMETERS',
  /** Public key text is not a valid z-base-32 key. */
  BadKeyText: 'ERR_PUNCHLINE_CRYPTO_BAD_KEY_TEXT',
  /** Identity file missing. */
  IdentityMissing: 'ERR_PUNCHLINE_CRYPTO_IDENTITY_MISSING',
  /** Identity file malformed (or the public key does not match the secret key). */
  IdentityFormat: 'ERR_PUNCHLINE_CRYPTO_IDENTITY_FORMAT',
  /** Identity file readable by group/others (0600 expected). */
  IdentityPermissions: 'ERR_PUNCHLINE_CRYPTO_IDENTITY_PERMISSIONS',
  /** Refused to overwrite an existing identity file. */
  IdentityExists: 'ERR_PUNCHLINE_CRYPTO_IDENTITY_EXISTS',
} as const;
export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

export class CryptoError extends PunchlineError<CryptoErrorCode> {}
