/**
 * The production core factory: the transport layer's sans-IO Endpoint. Loaded lazily by
 * Endpoint.bind so that tests injecting a fake core never load it.
 */
import { TransportEndpoint } from '../transport/endpoint.js';
import type { CoreFactory } from './endpoint.js';
import { useOpensslAead } from './openssl-aead.js';

export const createCore: CoreFactory = (context) => {
  // The packet AEAD through Node's OpenSSL where the add-on loads (loaded once; spec/crypto.md §5.1).
  useOpensslAead();
  return new TransportEndpoint({
    staticKeyPair: { publicKey: context.keyPair.publicKey, secretKey: context.keyPair.secretKey },
    random: context.random,
    config: context.transport,
    ...(context.psk ? { psk: context.psk } : {}),
  });
};
