/**
 * punchline: encrypted, reliable, multiplexed streams between peers over one UDP socket.
 *
 * The root entry is the Node.js API most programs need. Each layer also has its own entry:
 * `punchline/wire`, `punchline/crypto`, `punchline/transport` (sans-IO core), `punchline/traversal`,
 * `punchline/node`, `punchline/lab`, and `punchline/sim` (the deterministic network simulator).
 */
export { PunchlineError } from './errors.js';
export * from './node/index.js';
export {
  generateKeyPair,
  generateIdentity,
  saveIdentity,
  loadIdentity,
  encodePublicKey,
  decodePublicKey,
  type KeyPair,
} from './crypto/index.js';
