/** Whether the real transport core is wired into the Node adapter yet, and real X25519 keys for it. */
import { sodium } from '../../src/crypto/sodium.js';
import { createCore } from '../../src/node/endpoint-core.js';

export async function realCoreAvailable(): Promise<boolean> {
  try {
    const keyPair = realKeyPair();
    createCore({ keyPair, random: (b) => sodium.randombytes_buf(b), now: 0, transport: {} });
    return true;
  } catch {
    return false;
  }
}

export function realKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const secretKey = new Uint8Array(32);
  sodium.randombytes_buf(secretKey);
  const publicKey = new Uint8Array(32);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return { publicKey, secretKey };
}
