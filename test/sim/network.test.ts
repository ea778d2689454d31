import { describe, expect, it } from 'vitest';
import type { Address, ConnectionEvent, SansIoEndpoint, Transmit } from '../../src/transport/api.js';
import { EchoEndpoint, PingEndpoint } from './fakes.js';
import { SimDriverError, SimNetwork, SimStallError, type LinkConfig, type Middlebox } from './index.js';

const A: Address = { host: '10.0.0.1', port: 1000 };
const B: Address = { host: '10.0.0.2', port: 2000 };

/** A pinger at A and an echo at B; `count` pings every `intervalMs` from t=1000. */
function pingPair(seed: number, link: LinkConfig, count = 100, intervalMs = 10, trace = false) {
  const net = new SimNetwork({ seed, link, trace });
  const fill = net.random.derive('payload');
  const ping = net.addEndpoint(
    A,
    new PingEndpoint(B, { startMs: net.now, intervalMs, count, size: 200, fill: (b) => fill.bytes(b) }),
  );
  const echo = net.addEndpoint(B, new EchoEndpoint());
  return { net, ping, echo };
}

const HARSH: LinkConfig = {
  delayMs: 30,
  jitterMs: 10,
  lossRate: 0.3,
  reorderRate: 0.1,
  duplicateRate: 0.05,
  corruptRate: 0.02,
  bandwidthBps: 2_000_000,
  queueBytes: 30_000,
};

describe('SimNetwork', () => {
  it('timers fire exactly at the deadlines, in order, and the RTT is twice the one-way delay', () => {
    const { net, ping, echo } = pingPair(1, { delayMs: 25 }, 20, 10);
    expect(net.now).toBe(1000);
    net.runUntil(() => ping.rtts.length === 20);
    expect(ping.timeouts).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + 10 * i));
    expect(ping.rtts.every((rtt) => rtt === 50)).toBe(true);
    expect(ping.echoedSeqs).toEqual([...Array(20).keys()]);
    expect(echo.received.map((r) => r.at)).toEqual(ping.timeouts.map((t) => t + 25));
    expect(echo.received[0]!.from).toEqual(A);
    expect(net.now).toBe(1000 + 190 + 50);
    expect(net.stats.timeouts).toBe(20);
    expect(net.step()).toBe(false); // idle: nothing scheduled any more
  });

  it('interleaves the timers of several endpoints in time order', () => {
    const net = new SimNetwork({ seed: 1 });
    const fires: string[] = [];
    const log = (name: string, p: PingEndpoint) => {
      const onTimeout = p.onTimeout.bind(p);
      p.onTimeout = (now) => {
        fires.push(`${now}:${name}`);
        onTimeout(now);
      };
      return p;
    };
    net.addEndpoint(A, log('a', new PingEndpoint(B, { startMs: 1000, intervalMs: 7, count: 4 })));
    net.addEndpoint(B, log('b', new PingEndpoint(A, { startMs: 1003, intervalMs: 5, count: 4 })));
    net.runFor(100);
    expect(fires).toEqual(['1000:a', '1003:b', '1007:a', '1008:b', '1013:b', '1014:a', '1018:b', '1021:a']);
    expect(net.now).toBe(1100);
  });

  it('same seed gives the same trace; another seed a different one (harsh impairments)', () => {
    const run = (seed: number) => {
      const { net, ping } = pingPair(seed, HARSH, 2000, 2);
      net.runFor(10_000);
      return { hash: net.traceHash(), rtts: ping.rtts, stats: JSON.stringify(net.linkStats(A, B)) };
    };
    const first = run(11);
    const again = run(11);
    expect(again).toEqual(first);
    expect(run(12).hash).not.toBe(first.hash);
    // With 30 % loss each way roughly half the round trips fail; duplicates can add some back.
    expect(first.rtts.length).toBeGreaterThan(800);
    expect(first.rtts.length).toBeLessThan(1300);
  });

  it('the trace log shows sends with their fate, deliveries and timeouts', () => {
    const { net } = pingPair(3, { delayMs: 5, lossRate: 0.5 }, 10, 10, true);
    net.runFor(200);
    expect(net.traceLog.filter((l) => l.includes(' timeout 10.0.0.1:1000'))).toHaveLength(10);
    expect(net.traceLog.some((l) => l.includes('send 10.0.0.1:1000>10.0.0.2:2000 len=200 -> drop:random'))).toBe(true);
    expect(net.traceLog.some((l) => l.includes('recv 10.0.0.1:1000>10.0.0.2:2000 len=200'))).toBe(true);
    expect(net.traceLog[0]).toBe('1000.000 timeout 10.0.0.1:1000');
  });

  it('per-direction links: setLink overrides one direction, setPath both, the default the rest', () => {
    const { net, ping } = pingPair(1, { delayMs: 10 }, 5, 10);
    net.setLink(A, B, { delayMs: 40 });
    net.runUntil(() => ping.rtts.length === 5);
    expect(ping.rtts.every((rtt) => rtt === 50)).toBe(true);
    net.setPath('10.0.0.1', '10.0.0.2', { delayMs: 1 });
    expect(net.link(B, A).config).toEqual({ delayMs: 1 });
    expect(net.reproduction()).toContain('setLink("10.0.0.1", "10.0.0.2", {"delayMs":40})');
  });

  it('a bottleneck queue shows up as RTT growth (what LEDBAT measures) and drops when full', () => {
    const link: LinkConfig = { delayMs: 20, bandwidthBps: 800_000, queueBytes: 50_000 };
    // 1000-byte pings (10 ms to serialize) every 5 ms: twice the bottleneck rate.
    const net = new SimNetwork({ seed: 1, link });
    net.setLink(B, A, { delayMs: 20 });
    const ping = net.addEndpoint(A, new PingEndpoint(B, { startMs: 1000, intervalMs: 5, count: 400, size: 1000 }));
    net.addEndpoint(B, new EchoEndpoint());
    net.runFor(5000);
    expect(ping.rtts[0]).toBe(50);
    expect(Math.max(...ping.rtts)).toBeGreaterThan(500); // 50 000 B queue at 100 kB/s
    expect(Math.max(...ping.rtts)).toBeLessThanOrEqual(550 + 1e-6);
    expect(net.linkStats(A, B).dropped.queue).toBeGreaterThan(100);
  });

  it('drains endpoints poked between runs and keeps their events, also through onEvent', () => {
    const seen: string[] = [];
    const net = new SimNetwork({
      seed: 1,
      onEvent: (address, event, now) => seen.push(`${address.port}:${event.type}@${now}`),
    });
    const ping = net.addEndpoint(A, new PingEndpoint(B, { startMs: 0, intervalMs: 1, count: 0 }));
    net.addEndpoint(B, new EchoEndpoint({ reportEvents: true }));
    ping.sendNow(new Uint8Array(20));
    net.runUntil(() => net.events(B).length === 1);
    expect(net.now).toBe(1010);
    expect(seen).toEqual(['2000:datagram@1010']);
    const [event] = net.takeEvents(B);
    expect(event?.type === 'datagram' && event.data.length).toBe(20);
    expect(net.events(B)).toHaveLength(0);
    net.runUntil(() => ping.rtts.length === 1);
    expect(ping.rtts).toHaveLength(1);
  });

  it('datagram sinks receive and answer through net.send (a STUN-like reflector)', () => {
    const net = new SimNetwork({ seed: 1, link: { delayMs: 15 } });
    const stun: Address = { host: '192.0.2.1', port: 3478 };
    net.addSink(stun, (data, from, now) => {
      const reply = new TextEncoder().encode(`${from.host}:${from.port}@${now}`);
      net.send(stun, from, reply);
      expect(data.length).toBe(12);
    });
    const client = net.addEndpoint(A, new EchoEndpoint());
    net.send(A, stun, new Uint8Array(12));
    net.runUntil(() => client.received.length > 0);
    expect(new TextDecoder().decode(client.received[0]!.data)).toBe('10.0.0.1:1000@1015');
    expect(client.received[0]!.from).toEqual(stun);
    expect(net.now).toBe(1030);
  });

  it('an intercept sees datagrams before the endpoint (a socket shared with STUN/punching)', () => {
    const net = new SimNetwork({ seed: 1 });
    const probes: number[] = [];
    const echo = net.addEndpoint(B, new EchoEndpoint(), {
      intercept: (data, from, now) => {
        if (data[0] !== 0xff) return false;
        probes.push(now);
        net.send(B, from, new Uint8Array([0xfe]));
        return true;
      },
    });
    const ping = net.addEndpoint(A, new PingEndpoint(B, { startMs: 1000, intervalMs: 10, count: 1 }));
    ping.sendNow(new Uint8Array([0xff, 0, 0]));
    net.runFor(100);
    expect(probes).toEqual([1010]);
    expect(echo.received).toHaveLength(1); // only the ping, not the probe
    expect(ping.rtts).toEqual([20]); // the 1-byte probe answer is ignored by the pinger
  });

  it('middleboxes can rewrite and drop (the NAT/firewall extension point)', () => {
    const net = new SimNetwork({ seed: 1, link: { delayMs: 5 } });
    const inside: Address = { host: '192.168.1.2', port: 5000 };
    const outside: Address = { host: '203.0.113.7', port: 6000 };
    // A one-mapping NAT: inside ↔ outside; unsolicited inbound traffic is dropped.
    let mapped = false;
    const nat: Middlebox = {
      name: 'toy-nat',
      outbound: (d) => {
        if (d.from.host !== inside.host) return d;
        mapped = true;
        return { ...d, from: outside };
      },
      inbound: (d) => {
        if (d.to.host !== outside.host) return d;
        return mapped ? { ...d, to: inside } : null;
      },
    };
    net.addMiddlebox(nat);
    const echo = net.addEndpoint(B, new EchoEndpoint());
    const behind = net.addEndpoint(inside, new PingEndpoint(B, { startMs: 1100, intervalMs: 10, count: 1 }));
    net.send(B, outside, new Uint8Array(12)); // unsolicited: blocked
    net.runUntil(() => behind.rtts.length === 1);
    expect(net.stats.blocked).toBe(1);
    expect(echo.received[0]!.from).toEqual(outside);
    expect(behind.rtts).toEqual([10]);
    expect(net.linkStats(outside, B).sent).toBe(1); // links are keyed by the rewritten hosts
    expect(net.reproduction()).toContain('addMiddlebox("toy-nat")');
  });

  it('rebind moves an endpoint; datagrams to the old address are unroutable', () => {
    const { net, ping, echo } = pingPair(1, { delayMs: 10 }, 10, 10);
    const moved: Address = { host: '10.0.0.9', port: 1001 };
    net.runFor(15); // two pings out (t=1000, 1010), echo of the first back at 1020 — not yet
    net.rebind(A, moved);
    net.runFor(500);
    expect(net.stats.unroutable).toBe(2);
    expect(echo.received.slice(2).every((r) => r.from.host === moved.host)).toBe(true);
    expect(ping.rtts).toHaveLength(8);
  });

  it('runUntil throws SimStallError with the reproduction when idle or out of time', () => {
    const { net } = pingPair(77, { delayMs: 10, lossRate: 1 }, 3, 10);
    let error: unknown;
    try {
      net.runUntil(() => false);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SimStallError);
    expect((error as SimStallError).code).toBe('ERR_PUNCHLINE_SIM_STALL');
    expect((error as Error).message).toContain('network idle');
    expect((error as Error).message).toContain('"seed":77');
    expect((error as Error).message).toContain('"lossRate":1');

    const busy = pingPair(78, { delayMs: 10 }, 1_000_000, 10).net;
    expect(() => busy.runUntil(() => false, { maxTimeMs: 1000 })).toThrow(/after 1000 ms/);
    expect(busy.now).toBe(2000);
    expect(() => busy.runUntil(() => false, { maxEvents: 10 })).toThrow(/after 10 events/);
  });

  it('detects an endpoint whose timer never moves on', () => {
    const stuck: SansIoEndpoint = {
      connections: new Map(),
      connect: () => {
        throw new Error('no');
      },
      receive: () => {},
      pollTransmit: (): Transmit | null => null,
      pollEvent: (): ConnectionEvent | null => null,
      nextDeadline: () => 0,
      onTimeout: () => {},
      close: () => {},
    };
    const net = new SimNetwork({ seed: 1 });
    net.addEndpoint(A, stuck);
    expect(() => net.runFor(10)).toThrow(SimDriverError);
  });

  it('at()/after() run callbacks inside the event loop, e.g. a link outage', () => {
    const { net, ping } = pingPair(1, { delayMs: 5 }, 100, 10);
    net.at(1200, () => net.setLink(A, B, { delayMs: 5, lossRate: 1 }));
    net.at(1500, () => net.setLink(A, B, { delayMs: 5 }));
    net.runFor(2000);
    expect(ping.rtts).toHaveLength(70);
    expect(net.linkStats(A, B).dropped.random).toBe(30);
  });

  it('randomSource streams are reproducible and independent of link randomness', () => {
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    new SimNetwork({ seed: 5 }).randomSource('alice')(a);
    const net = new SimNetwork({ seed: 5, link: { lossRate: 0.5 } });
    net.link(A, B).send(new Uint8Array(10), 0);
    net.randomSource('alice')(b);
    expect(b).toEqual(a);
    net.randomSource('bob')(b);
    expect(b).not.toEqual(a);
  });

  it('rejects taken addresses and unknown nodes; formats IPv6 addresses', () => {
    const net = new SimNetwork({ seed: 1 });
    net.addEndpoint(A, new EchoEndpoint());
    expect(() => net.addSink(A, () => {})).toThrow(/taken/);
    expect(() => net.events(B)).toThrow(/no node/);
    net.addSink({ host: '2001:db8::1', port: 443 }, () => {});
    expect(net.reproduction()).toContain('addSink({"host":"2001:db8::1","port":443})');
    expect(net.describe()).toContain('network {');
  });
});
