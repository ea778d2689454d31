/**
 * STUN on the Endpoint's shared socket: the Endpoint owns the only 'message' listener, classifies
 * datagrams (src/wire) and hands STUN to our client; our requests go out through endpoint.send.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Endpoint, type CoreFactory } from '../../../src/node/endpoint.js';
import { NatDiscoverySession, StunClient } from '../../../src/node/stun-client.js';
import { StunServer } from '../../../src/server/stun-server.js';

const FAST = { rto: 50, rc: 4, rm: 4 };

/** A transport core that carries no connections: this test only exercises the socket's STUN path. */
const idleCore: CoreFactory = () => ({
  connect: () => {
    throw new Error('idle core: no connections');
  },
  receive: () => undefined,
  pollTransmit: () => null,
  pollEvent: () => null,
  nextDeadline: () => Infinity,
  onTimeout: () => undefined,
  close: () => undefined,
  connections: new Map(),
});

describe('STUN through the Endpoint shared socket', () => {
  let server: StunServer;
  let endpoint: Endpoint;

  beforeAll(async () => {
    server = new StunServer({ host: '127.0.0.1', port: 0, altHost: '127.0.0.2', altPort: 0 });
    await server.listen();
    endpoint = await Endpoint.bind({
      host: '127.0.0.1',
      port: 0,
      keyPair: { publicKey: randomBytes(32), secretKey: randomBytes(32) },
      core: idleCore,
    });
  });

  afterAll(async () => {
    await Promise.all([endpoint?.close(), server?.close()]);
  });

  it('learns the mapped address of the endpoint socket', async () => {
    const client = new StunClient(endpoint, { retransmission: FAST });
    const remove = endpoint.addDatagramHandler('stun', (datagram, from) => {
      client.receive(datagram, from);
    });
    try {
      const r = await client.binding(server.addresses.primary);
      expect(r.mapped).toEqual({ host: '127.0.0.1', port: endpoint.address().port });
    } finally {
      remove();
      client.close();
    }
  });

  it('runs RFC 5780 discovery from the endpoint socket', async () => {
    const local = { host: '127.0.0.1', port: endpoint.address().port };
    const session = new NatDiscoverySession(endpoint, server.addresses.primary, local, { retransmission: FAST });
    const remove = endpoint.addDatagramHandler('stun', (datagram, from) => {
      session.receive(datagram, from);
    });
    try {
      await expect(session.result).resolves.toMatchObject({
        natPresent: false,
        mapping: 'endpoint-independent',
        filtering: 'endpoint-independent',
        hairpinning: true,
      });
    } finally {
      remove();
      session.close();
    }
  });
});
