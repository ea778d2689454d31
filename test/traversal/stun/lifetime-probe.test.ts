import { describe, expect, it } from 'vitest';
import type { Address } from '../../../src/transport/api.js';
import { BindingLifetimeProbe, StunServerCore, type LifetimeResult } from '../../../src/traversal/stun/index.js';
import { SimNat } from './sim-nat.js';

const SERVER: Address = { host: '198.51.100.1', port: 3478 };
const X: Address = { host: '10.0.0.2', port: 5000 };
const Y: Address = { host: '10.0.0.2', port: 5001 };

function random(b: Uint8Array): void {
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
}

function probe(
  nat: SimNat,
  options: { initialMs?: number; maxMs?: number; resolutionMs?: number } = {},
): LifetimeResult | null {
  const server = new StunServerCore({ primary: SERVER, rateLimit: { burst: 1e9 } });
  const p = new BindingLifetimeProbe(
    { server: SERVER, random, retransmission: { rto: 100, rc: 3, rm: 2 }, ...options },
    0,
  );
  let now = 0;
  for (let guard = 0; !p.done && guard < 10_000; guard++) {
    for (let t = p.pollTransmit(now); t; t = p.pollTransmit(now)) {
      const src = nat.outbound(t.socket === 'x' ? X : Y, t.destination, now);
      const response = server.receive(t.data, src, now, 0);
      if (!response) continue;
      const inside = nat.inbound(SERVER, response.destination, false, now);
      if (inside) p.receive(response.data, SERVER, now, inside.port === X.port ? 'x' : 'y');
    }
    if (!p.done) {
      now = Math.max(now, p.nextDeadline());
      p.onTimeout(now);
    }
  }
  return p.result();
}

describe('binding lifetime probe (RFC 5780 §4.6) against a simulated NAT', () => {
  for (const lifetime of [7_000, 30_000, 65_000, 180_000]) {
    it(`brackets a ${lifetime / 1000} s mapping lifetime within the resolution`, () => {
      const r = probe(new SimNat('192.0.2.7', 'endpoint-independent', 'address-and-port-dependent', false, lifetime), {
        initialMs: 5_000,
        resolutionMs: 2_000,
      });
      expect(r).not.toBeNull();
      expect(r!.aliveMs).toBeLessThan(lifetime);
      expect(r!.expiredMs).not.toBeNull();
      expect(r!.expiredMs!).toBeGreaterThanOrEqual(lifetime);
      expect(r!.expiredMs! - r!.aliveMs).toBeLessThanOrEqual(2_000);
    });
  }

  it('reports "at least maxMs" for a binding that outlives the search', () => {
    const r = probe(new SimNat('192.0.2.7', 'endpoint-independent', 'endpoint-independent', false), {
      initialMs: 10_000,
      maxMs: 40_000,
    });
    expect(r).toMatchObject({ aliveMs: 40_000, expiredMs: null });
  });
});
