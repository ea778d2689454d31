/** Real X25519 keys for tests that run the real transport core under the Node adapter. */
import { sodium } from '../../src/crypto/sodium.js';

export function realKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const secretKey = new Uint8Array(32);
  sodium.randombytes_buf(secretKey);
  const publicKey = new Uint8Array(32);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return { publicKey, secretKey };
}
