/**
 * The ACK's ACK Delay and Receive Timestamp (spec/wire.md §6.3) are microseconds of the receiver's
 * clock: after an hour the timestamp needs the 8-byte varint (≥ 2^30 µs), after 71.6 min it is past
 * 2^32 µs. A clock beyond those points must still give the sender exact one-way delays (LEDBAT's
 * input, RFC 6817 §3.2) and ACK delays: no truncation to 32 bits, no sign flip at 2^31.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { TransportConnection } from '../../src/transport/connection.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { SimNetwork } from '../sim/index.js';
import { A, B } from './helpers.js';

/** One-way delays (ms) the client's congestion controller sees while sending 1 MiB from `startMs`. */
function oneWayDelays(startMs: number): { delays: number[]; smoothedRtt: number } {
  const net = new SimNetwork({ seed: 3, link: { delayMs: 10 }, startTimeMs: startMs });
  const ra = net.randomSource('A');
  const rb = net.randomSource('B');
  const keysB = generateKeyPair(rb);
  const a = net.addEndpoint(A, new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra }));
  net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: keysB, random: rb }));
  const conn = a.connect(B, { remotePublicKey: keysB.publicKey }, net.now) as TransportConnection;
  net.runUntil(() => conn.state === 'established');
  const delays: number[] = [];
  const cc = conn.recovery.cc;
  const onAck = cc.onAck.bind(cc);
  cc.onAck = (now, sample) => {
    if (Number.isFinite(sample.oneWayDelay)) delays.push(sample.oneWayDelay);
    onAck(now, sample);
  };
  const id = conn.openStream(false);
  conn.write(id, new Uint8Array(1024 * 1024));
  conn.finish(id);
  net.runFor(3_000);
  return { delays, smoothedRtt: conn.stats().smoothedRttMs };
}

describe('ACK timestamps on a clock beyond an hour', () => {
  // Just below 2^31 µs (the sign bit of a 32-bit integer) and just below 2^32 µs: the transfer
  // crosses the boundary; a day: far beyond.
  for (const startMs of [2 ** 31 / 1000 - 100, 2 ** 32 / 1000 - 100, 86_400_000]) {
    it(`one-way delays stay the link's 10 ms from a clock at ${Math.round(startMs / 60_000)} min`, () => {
      const { delays, smoothedRtt } = oneWayDelays(startMs);
      expect(delays.length).toBeGreaterThan(20);
      // Same simulated clock on both ends: receive time − send time is the link delay (10 ms) plus
      // serialisation/queueing, never negative or off by 2^32 µs.
      for (const d of delays) {
        expect(d).toBeGreaterThanOrEqual(9.99);
        expect(d).toBeLessThan(200);
      }
      expect(smoothedRtt).toBeGreaterThanOrEqual(19);
      expect(smoothedRtt).toBeLessThan(200);
    });
  }
});
