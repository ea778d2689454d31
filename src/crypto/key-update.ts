/**
 * Traffic key schedule (spec/crypto.md §Key derivation, §Key update), modelled on RFC 9001 §5.1 and
 * §6.1 with BLAKE2b instead of SHA-256:
 *
 *   secret_0      = Noise Split() output for the direction (32 bytes)
 *   key_n         = ExpandLabel(secret_n, "key", 32)
 *   iv_n          = ExpandLabel(secret_n, "iv", 12)
 *   secret_{n+1}  = ExpandLabel(secret_n, "ku", 32)
 *
 * ExpandLabel is HMAC-BLAKE2b(secret, "punchline/1 " ‖ label ‖ 0x01) truncated (src/crypto/hkdf.ts).
 * Key phase n uses bit (n mod 2) in the short header. Old secrets are zeroed once the next is derived.
 */
import { CryptoError, CryptoErrorCode } from './errors.js';
import { expandLabel } from './hkdf.js';

const TRAFFIC_SECRET_LENGTH = 32;
const AEAD_KEY_LENGTH = 32;
const AEAD_IV_LENGTH = 12;

export interface PhaseKeys {
  /** Generation n (0 after the handshake); the key-phase bit is n & 1. */
  readonly generation: number;
  readonly secret: Uint8Array;
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
}

export function derivePhaseKeys(secret: Uint8Array, generation = 0): PhaseKeys {
  if (!(secret instanceof Uint8Array) || secret.length !== TRAFFIC_SECRET_LENGTH) {
    throw new CryptoError(CryptoErrorCode.InvalidArgument, `traffic secret must be ${TRAFFIC_SECRET_LENGTH} bytes`);
  }
  return {
    generation,
    secret: Uint8Array.from(secret),
    key: expandLabel(secret, 'key', AEAD_KEY_LENGTH),
    iv: expandLabel(secret, 'iv', AEAD_IV_LENGTH),
  };
}

/** Keys of the next key phase (RFC 9001 §6.1: "quic ku" → here "punchline/1 ku"). */
export function nextPhaseKeys(current: PhaseKeys): PhaseKeys {
  const secret = expandLabel(current.secret, 'ku', TRAFFIC_SECRET_LENGTH);
  const next = derivePhaseKeys(secret, current.generation + 1);
  secret.fill(0);
  return next;
}

export function wipePhaseKeys(keys: PhaseKeys): void {
  keys.secret.fill(0);
  keys.key.fill(0);
  keys.iv.fill(0);
}
