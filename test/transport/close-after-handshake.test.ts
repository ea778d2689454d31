/**
 * A connection closed the moment its handshake completes (IK and XX): the peer learns of the close
 * within a few round trips, not after its handshake or idle timeout. The CLOSE must reach a peer
 * that has not yet confirmed the handshake (RFC 9000 §10.2.3: sent at every level the peer may be at).
 */
import { expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address, ConnectionHandle } from '../../src/transport/api.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { SimNetwork } from '../sim/index.js';

const A: Address = { host: '10.0.0.1', port: 1000 };
const B: Address = { host: '10.0.0.2', port: 2000 };

for (const pattern of ['IK', 'XX'] as const) {
  for (const closer of ['client', 'server'] as const) {
    it(`${pattern}: the ${closer} closes right after its handshake completes; the peer sees it within a few RTTs`, () => {
      const net = new SimNetwork({ seed: 7, link: { delayMs: 10 } });
      const ra = net.randomSource('A');
      const rb = net.randomSource('B');
      const serverKeys = generateKeyPair(rb);
      const clientEp = net.addEndpoint(A, new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra }));
      const serverEp = net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: serverKeys, random: rb }));
      const client = clientEp.connect(B, pattern === 'IK' ? { remotePublicKey: serverKeys.publicKey } : {}, net.now);
      const server = (): ConnectionHandle | undefined => [...serverEp.connections.values()][0];
      let closedAt = Number.NaN;
      net.runUntil(() => {
        const self = closer === 'client' ? client : server();
        if (Number.isNaN(closedAt) && self?.state === 'established') {
          self.close(0, 'done');
          closedAt = net.now;
        }
        return !Number.isNaN(closedAt);
      });
      const peerClosed = () =>
        net.events(closer === 'client' ? B : A).some((e) => e.type === 'closed' && e.reason.remote);
      net.runUntil(peerClosed, { maxTimeMs: 5_000 });
      expect(peerClosed()).toBe(true);
      // 10 ms links: a few round trips, far below the 10 s handshake timeout.
      expect(net.now - closedAt).toBeLessThan(500);
    });
  }
}
