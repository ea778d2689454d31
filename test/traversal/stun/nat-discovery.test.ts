import { describe, expect, it } from 'vitest';
import type { Address } from '../../../src/transport/api.js';
import {
  NatBehaviourDiscovery,
  StunServerCore,
  type NatBehaviour,
  type SocketIndex,
} from '../../../src/traversal/stun/index.js';
import { SimNat, type Behaviour } from './sim-nat.js';

const PRIMARY: Address = { host: '198.51.100.1', port: 3478 };
const ALTERNATE: Address = { host: '198.51.100.2', port: 3479 };
const INTERNAL: Address = { host: '10.0.0.2', port: 5000 };

function seeded(seed: number): (b: Uint8Array) => void {
  let s = seed >>> 0;
  return (b) => {
    for (let i = 0; i < b.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      b[i] = s >>> 24;
    }
  };
}

/** Runs discovery over an in-memory network in virtual time. `nat` null: the client is public. */
function discover(
  nat: SimNat | null,
  options: { dropFirst?: number; alternate?: Address | null } = {},
): { result: NatBehaviour | null; now: number; discovery: NatBehaviourDiscovery } {
  const server = new StunServerCore({
    primary: PRIMARY,
    ...(options.alternate === null ? {} : { alternate: options.alternate ?? ALTERNATE }),
  });
  const serverSockets = new Map<string, SocketIndex>(
    server.sockets.map((i) => [`${server.socketAddress(i).host}:${server.socketAddress(i).port}`, i]),
  );
  const local = nat ? INTERNAL : { host: '203.0.113.9', port: 5000 };
  let now = 0;
  let toDrop = options.dropFirst ?? 0;
  const d = new NatBehaviourDiscovery(
    { server: PRIMARY, local, random: seeded(7), retransmission: { rto: 100, rc: 3, rm: 2 } },
    now,
  );
  for (let guard = 0; !d.done && guard < 1000; guard++) {
    for (let t = d.pollTransmit(now); t; t = d.pollTransmit(now)) {
      if (toDrop > 0) {
        toDrop--;
        continue;
      }
      const src = nat ? nat.outbound(local, t.destination) : local;
      if (nat && t.destination.host === nat.publicIp) {
        // hairpin: the NAT loops the packet back if it supports it
        const inside = nat.hairpin ? nat.inbound(src, t.destination, true) : null;
        if (inside) d.receive(t.data, src, now);
        continue;
      }
      if (!nat && t.destination.host === local.host && t.destination.port === local.port) {
        d.receive(t.data, src, now);
        continue;
      }
      const socket = serverSockets.get(`${t.destination.host}:${t.destination.port}`);
      if (socket === undefined) continue;
      const response = server.receive(t.data, src, now, socket);
      if (!response) continue;
      const origin = server.socketAddress(response.socket);
      const inside = nat ? nat.inbound(origin, response.destination) : response.destination;
      if (inside) d.receive(response.data, origin, now);
    }
    if (!d.done) {
      now = Math.max(now, d.nextDeadline());
      d.onTimeout(now);
    }
  }
  return { result: d.result(), now, discovery: d };
}

const behaviours: Behaviour[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'];

describe('NAT behaviour discovery against a simulated NAT (RFC 5780 §4.3–4.4, hairpinning)', () => {
  for (const mapping of behaviours) {
    for (const filtering of behaviours) {
      it(`classifies mapping ${mapping}, filtering ${filtering}`, () => {
        const { result } = discover(new SimNat('192.0.2.7', mapping, filtering, false));
        expect(result).not.toBeNull();
        expect(result!.natPresent).toBe(true);
        expect(result!.mapped.host).toBe('192.0.2.7');
        expect(result!.mapping).toBe(mapping);
        expect(result!.filtering).toBe(filtering);
        expect(result!.hairpinning).toBe(false);
      });
    }
  }

  for (const mapping of behaviours) {
    it(`detects hairpinning behind a ${mapping}-mapping NAT`, () => {
      const { result } = discover(new SimNat('192.0.2.7', mapping, 'address-and-port-dependent', true));
      expect(result!.hairpinning).toBe(true);
    });
  }

  it('reports no NAT when the mapped address is the local one', () => {
    const { result } = discover(null);
    expect(result!.natPresent).toBe(false);
    expect(result!.mapping).toBe('endpoint-independent');
    expect(result!.filtering).toBe('endpoint-independent');
  });

  it('survives loss of the first transmissions (retransmission carries Test I)', () => {
    const { result } = discover(new SimNat('192.0.2.7', 'endpoint-independent', 'endpoint-independent', false), {
      dropFirst: 2,
    });
    expect(result!.mapping).toBe('endpoint-independent');
  });

  it('reports unknown mapping/filtering against a single-address server', () => {
    const { result } = discover(new SimNat('192.0.2.7', 'address-dependent', 'address-dependent', false), {
      alternate: null,
    });
    expect(result!.behaviourDiscovery).toBe(false);
    expect(result!.mapping).toBe('unknown');
    expect(result!.filtering).toBe('unknown');
  });

  it('fails with a typed timeout when the server never answers', () => {
    const d = new NatBehaviourDiscovery(
      { server: PRIMARY, random: seeded(1), retransmission: { rto: 100, rc: 3, rm: 2 } },
      0,
    );
    let now = 0;
    while (!d.done) {
      while (d.pollTransmit(now));
      now = d.nextDeadline();
      d.onTimeout(now);
    }
    expect(d.result()).toBeNull();
    expect(d.error?.code).toBe('ERR_PUNCHLINE_STUN_TIMEOUT');
    expect(now).toBe(0 + 100 + 200 + 200); // last send at 300 ms, + Rm·RTO
  });
});
