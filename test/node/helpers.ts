/** Shared set-up for the Node adapter tests: two endpoints on loopback, connected. */
import { Endpoint, type Connection, type CoreFactory } from '../../src/node/endpoint.js';
import { randomBytes } from 'node:crypto';
import type { UdpBackendChoice } from '../../src/node/udp/udp-socket.js';

export interface Pair {
  readonly a: Endpoint;
  readonly b: Endpoint;
  /** a's side (client) and b's side (server) of the same connection. */
  readonly client: Connection;
  readonly server: Connection;
  close(): Promise<void>;
}

function testKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  return { publicKey: randomBytes(32), secretKey: randomBytes(32) };
}

/**
 * `core` selects the sans-IO core: the fake (plaintext, loopback-only) or, when undefined, the real one.
 * With the real core keys must be real X25519 keys: pass `keyPair` then.
 */
export async function connectedPair(
  options: {
    core?: CoreFactory;
    keyPair?: () => { publicKey: Uint8Array; secretKey: Uint8Array };
    udpBackend?: UdpBackendChoice;
  } = {},
): Promise<Pair> {
  const makeKeys = options.keyPair ?? testKeyPair;
  const coreOption = {
    ...(options.core ? { core: options.core } : {}),
    ...(options.udpBackend ? { udpBackend: options.udpBackend } : {}),
  };
  const a = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair: makeKeys(), ...coreOption });
  const b = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair: makeKeys(), ...coreOption });
  const incoming = b[Symbol.asyncIterator]().next();
  const client = await a.connect({ host: '127.0.0.1', port: b.address().port, publicKey: b.publicKey });
  const first = await incoming;
  if (first.done) throw new Error('no incoming connection');
  return {
    a,
    b,
    client,
    server: first.value,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}
