/**
 * The crypto layer: Noise handshakes (IK, XX, IKpsk2, XXpsk3 over 25519/ChaChaPoly/BLAKE2b), packet
 * protection with key update and replay window, identities, transport parameters. spec/crypto.md is
 * the normative description.
 */
export { CryptoError, CryptoErrorCode } from './errors.js';
export { systemRandom, type RandomSource } from './sodium.js';
export { generateKeyPair, keyPairFromSecretKey, KEY_LENGTH, type KeyPair } from './keys.js';
export {
  HandshakeState,
  MAX_NOISE_MESSAGE,
  PSK_LENGTH,
  type InitiatorOptions,
  type ResponderOptions,
} from './noise/handshake-state.js';
export {
  PATTERNS,
  patternById,
  protocolName,
  resolvePattern,
  type HandshakePattern,
  type PatternDefinition,
} from './noise/patterns.js';
export { makePrologue } from './prologue.js';
export { decodeHandshakePayload, encodeHandshakePayload } from './handshake-payload.js';
export {
  PacketProtection,
  OpenResult,
  AEAD_TAG_LENGTH,
  CHACHA20_POLY1305_INTEGRITY_LIMIT,
  DEFAULT_KEY_UPDATE_AFTER_PACKETS,
  type PacketProtectionOptions,
  type PacketProtectionStats,
} from './packet-protection.js';
export { ReplayWindow, ReplayCheck } from './replay-window.js';
export { derivePhaseKeys, nextPhaseKeys, type PhaseKeys } from './key-update.js';
export {
  decodeTransportParameters,
  encodeTransportParameters,
  validateTransportParameters,
  DEFAULT_TRANSPORT_PARAMETERS,
  MAX_TRANSPORT_PARAMETERS_BYTES,
  TRANSPORT_PARAMETERS_VERSION,
  type TransportParameters,
} from './transport-parameters.js';
export { decodePublicKey, encodePublicKey, PUBLIC_KEY_TEXT_LENGTH } from './key-text.js';
export {
  defaultIdentityPath,
  generateIdentity,
  loadIdentity,
  saveIdentity,
  parseIdentity,
  serializeIdentity,
  type LoadIdentityOptions,
  type SaveIdentityOptions,
} from './identity.js';
