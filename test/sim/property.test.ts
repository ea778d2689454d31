import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Address } from '../../src/transport/api.js';
import { EchoEndpoint, PingEndpoint } from './fakes.js';
import { SimNetwork, impairedLink, simSeed, withReproduction, type LinkConfig } from './index.js';

const A: Address = { host: '10.0.0.1', port: 1000 };
const B: Address = { host: '10.0.0.2', port: 2000 };

function run(seed: number, link: LinkConfig) {
  const net = new SimNetwork({ seed, link });
  const ping = net.addEndpoint(A, new PingEndpoint(B, { startMs: net.now, intervalMs: 3, count: 300, size: 300 }));
  const echo = net.addEndpoint(B, new EchoEndpoint());
  net.runFor(5000);
  return { net, ping, echo };
}

describe('simulator properties (the pattern for transport property tests)', () => {
  it('conserves datagrams on any impaired link and replays identically from the seed', () => {
    fc.assert(
      fc.property(simSeed(), impairedLink({ bottleneck: true }), (seed, link) => {
        const { net, ping, echo } = run(seed, link);
        withReproduction(net, () => {
          for (const [from, to] of [
            [A, B],
            [B, A],
          ] as const) {
            const s = net.linkStats(from, to);
            const dropped = s.dropped.mtu + s.dropped.queue + s.dropped.burst + s.dropped.random;
            expect(s.delivered + dropped).toBe(s.sent + s.duplicated);
          }
          expect(net.linkStats(A, B).sent).toBe(ping.sent);
          expect(echo.received).toHaveLength(net.linkStats(A, B).delivered);
          expect(ping.rtts).toHaveLength(net.linkStats(B, A).delivered);
          expect(run(seed, link).net.traceHash()).toBe(net.traceHash());
        });
      }),
      { numRuns: 15 },
    );
  });

  it('withReproduction appends the seed and links to a failing assertion', () => {
    const { net } = run(1234, { delayMs: 5, lossRate: 0.1 });
    expect(() => withReproduction(net, () => expect(1).toBe(2))).toThrow(/"seed":1234.*"lossRate":0.1/s);
  });
});
