/**
 * Handshake floods at the transport endpoint (RFC 9000 §8.1): a client completes its handshake
 * through a Retry, and a flood of valid Initials from one source — ignoring Retries, as a spoofing
 * attacker must — builds no more than the capped number of half-open connections while a
 * legitimate client still connects.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address } from '../../src/transport/api.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { SimNetwork } from '../sim/index.js';

const CLIENT: Address = { host: '10.0.0.1', port: 1000 };
const SERVER: Address = { host: '10.0.0.2', port: 2000 };
const ATTACKER: Address = { host: '10.0.0.66', port: 6666 };

function setup(limits: ConstructorParameters<typeof TransportEndpoint>[0]['handshakeLimits']) {
  const net = new SimNetwork({ seed: 3, link: { delayMs: 5 } });
  const serverRandom = net.randomSource('server');
  const serverKeys = generateKeyPair(serverRandom);
  const server = net.addEndpoint(
    SERVER,
    new TransportEndpoint({ staticKeyPair: serverKeys, random: serverRandom, handshakeLimits: limits ?? {} }),
  );
  const clientRandom = net.randomSource('client');
  const client = net.addEndpoint(
    CLIENT,
    new TransportEndpoint({ staticKeyPair: generateKeyPair(clientRandom), random: clientRandom }),
  );
  return { net, server, serverKeys, client };
}

/** A valid XX Initial (what any attacker can produce once and replay with fresh DCIDs). */
function templateInitial(): Uint8Array {
  const random = (b: Uint8Array): void => {
    b.fill(7);
  };
  const attacker = new TransportEndpoint({ staticKeyPair: generateKeyPair(random), random });
  attacker.connect(SERVER, {}, 0);
  const buf = new Uint8Array(1500);
  const t = attacker.pollTransmit(0, buf)!;
  return buf.slice(0, t.length);
}

describe('handshake flood limits', () => {
  for (const pattern of ['IK', 'XX'] as const) {
    it(`a ${pattern} client connects through a Retry when the server always validates addresses`, () => {
      const { net, server, serverKeys, client } = setup({ retryThreshold: 0 });
      const conn = client.connect(SERVER, pattern === 'IK' ? { remotePublicKey: serverKeys.publicKey } : {}, net.now);
      net.runUntil(() => conn.state === 'established', { maxTimeMs: 5_000 });
      expect(server.handshakeStats.retriesSent).toBe(1);
      expect(server.handshakeStats.validatedInitials).toBe(1);
      const sid = conn.openStream(true);
      conn.write(sid, new Uint8Array(1000).fill(5));
      conn.finish(sid);
      net.runUntil(() => net.events(SERVER).some((e) => e.type === 'stream-opened'), { maxTimeMs: 5_000 });
    });
  }

  it('a flood of valid Initials builds at most the capped half-open connections; a legitimate client still connects', () => {
    const { net, server, serverKeys, client } = setup({ retryThreshold: 16, maxHalfOpen: 64, maxHalfOpenPerSource: 8 });
    const template = templateInitial();
    const flood = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const d = template.slice();
        d[6] = i & 0xff;
        d[7] = (i >> 8) & 0xff;
        d[8] = (i >> 16) & 0xff;
        server.receive(d, { host: `10.0.1.${i % 200}`, port: 5000 + (i % 7) }, net.now);
        server.receive(d, ATTACKER, net.now);
      }
    };
    flood(5000);
    expect(server.connections.size).toBeLessThanOrEqual(16);
    expect(server.handshakeStats.retriesSent + server.handshakeStats.retriesDropped).toBeGreaterThan(0);
    const conn = client.connect(SERVER, { remotePublicKey: serverKeys.publicKey }, net.now);
    for (let round = 0; round < 100 && conn.state !== 'established'; round++) {
      flood(100);
      net.runFor(20);
    }
    expect(conn.state).toBe('established');
    expect(server.handshakeStats.halfOpen).toBeLessThanOrEqual(64);
    expect(server.handshakeStats.droppedPerSource).toBeGreaterThan(0);
  });
});
