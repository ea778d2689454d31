/**
 * probePath(remote): PATH_CHALLENGE to a new address at once (outside the congestion window, on its
 * own timer), the switch when the PATH_RESPONSE arrives, no change when validation fails
 * (RFC 9000 §8.2, §9). Relay-first-then-direct runs over a relay node in the simulator.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address, ConnectionEvent, ConnectionHandle } from '../../src/transport/api.js';
import type { TransportConfig } from '../../src/transport/config.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { SimNetwork } from '../sim/index.js';
import { drain, pattern } from './helpers.js';

const A: Address = { host: '10.0.0.1', port: 1000 };
const B: Address = { host: '10.0.0.2', port: 2000 };
/** A relay between A and B: forwards each datagram to the other side, from its own address. */
const R: Address = { host: '10.0.0.9', port: 3478 };
/** An address where nothing answers. */
const DEAD: Address = { host: '10.0.0.66', port: 6666 };

const same = (x: Address, y: Address): boolean => x.host === y.host && x.port === y.port;

interface Setup {
  net: SimNetwork;
  conn: ConnectionHandle;
  server(): ConnectionHandle;
  events(at: Address, type: ConnectionEvent['type']): ConnectionEvent[];
}

/** A dials B's key at `via` (B itself, or the relay R); B's endpoint is at B. */
function setup(
  seed: number,
  via: Address,
  prepare: (net: SimNetwork) => void = () => {},
  config: Partial<TransportConfig> = {},
): Setup {
  const net = new SimNetwork({ seed, link: { delayMs: 10 } });
  prepare(net);
  const ra = net.randomSource('A');
  const rb = net.randomSource('B');
  const serverKeys = generateKeyPair(rb);
  const client = net.addEndpoint(A, new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra, config }));
  const server = net.addEndpoint(B, new TransportEndpoint({ staticKeyPair: serverKeys, random: rb }));
  const conn = client.connect(via, { remotePublicKey: serverKeys.publicKey }, net.now);
  net.runUntil(() => conn.state === 'established' && server.connections.size > 0);
  return {
    net,
    conn,
    server: () => [...server.connections.values()][0] as ConnectionHandle,
    events: (at, type) => net.events(at).filter((e) => e.type === type),
  };
}

/** Sends `length` patterned bytes A → B on a new stream and checks every byte at B. */
function transfer(s: Setup, seed: number, length: number): void {
  const id = s.conn.openStream(false);
  const data = pattern(seed, 0, length);
  let written = 0;
  let finished = false;
  const got: number[] = [];
  s.net.runUntil(
    () => {
      if (written < length) written += s.conn.write(id, data.subarray(written));
      if (written === length && !finished) {
        s.conn.finish(id);
        finished = true;
      }
      const opened = s.events(B, 'stream-opened').some((e) => 'streamId' in e && e.streamId === id);
      return opened && drain(s.server(), id, got).fin;
    },
    { maxTimeMs: 60_000 },
  );
  expect(got.length).toBe(length);
  expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
}

describe('probePath', () => {
  it('upgrades a relayed connection to the direct path when the PATH_RESPONSE arrives (both sides switch)', () => {
    // The relay is slower than the direct path, as a TURN-like detour is.
    let relayed = 0;
    const s = setup(1, R, (net) => {
      net.addSink(R, (data, from) => {
        relayed++;
        net.send(R, same(from, A) ? B : A, data);
      });
      net.setPath(A, R, { delayMs: 40 });
      net.setPath(B, R, { delayMs: 40 });
    });
    expect(s.conn.remoteAddress).toEqual(R);
    expect(s.server().remoteAddress).toEqual(R);
    transfer(s, 1, 50_000);

    s.conn.probePath(B);
    s.net.runUntil(() => s.events(A, 'path-changed').length > 0);
    const changed = s.events(A, 'path-changed')[0] as Extract<ConnectionEvent, { type: 'path-changed' }>;
    expect(changed.remote).toEqual(B);
    expect(s.conn.remoteAddress).toEqual(B);
    expect(s.events(A, 'path-validation-failed')).toHaveLength(0);
    // B saw A's packets arrive directly and followed them.
    s.net.runUntil(() => same(s.server().remoteAddress, A));
    expect(s.events(B, 'path-changed').at(-1)).toMatchObject({ remote: A });

    // Data keeps flowing, now without the relay.
    const before = relayed;
    transfer(s, 2, 200_000);
    expect(relayed - before).toBeLessThan(5); // stragglers only
    expect(s.conn.remoteAddress).toEqual(B);
  });

  it('stays on the current path when nothing answers, after repeating the challenge on its own timer', () => {
    const s = setup(2, B);
    transfer(s, 2, 20_000); // an RTT sample: the repetition interval starts at one PTO
    const probes: number[] = [];
    s.net.addSink(DEAD, (data) => probes.push(data.length));
    const t0 = s.net.now;
    s.conn.probePath(DEAD);
    s.net.runUntil(() => s.events(A, 'path-validation-failed').length > 0, { maxTimeMs: 30_000 });
    const failed = s.events(A, 'path-validation-failed')[0] as Extract<
      ConnectionEvent,
      { type: 'path-validation-failed' }
    >;
    expect(failed.remote).toEqual(DEAD);
    expect(s.events(A, 'path-changed')).toHaveLength(0);
    expect(s.conn.remoteAddress).toEqual(B);
    expect(probes.length).toBeGreaterThanOrEqual(3); // first challenge plus repetitions
    for (const n of probes) expect(n).toBeGreaterThanOrEqual(1200); // padded (RFC 9000 §8.2.1)
    // Abandoned after three PTOs, at least three initial PTOs (RFC 9000 §8.2.4): ~3 s here, not forever.
    const elapsed = s.net.now - t0;
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(elapsed).toBeLessThan(5_000);
    transfer(s, 3, 100_000);
    expect(s.conn.state).toBe('established');
  });

  it('sends the challenge at once even when the congestion window is full', () => {
    // NewReno without pacing sends up to the window at once: the window is full whenever data waits.
    const s = setup(3, B, () => {}, { congestionController: 'newreno', pacing: false });
    const id = s.conn.openStream(false);
    const data = pattern(4, 0, 4_000_000);
    let written = 0;
    s.net.runUntil(() => {
      written += s.conn.write(id, data.subarray(written));
      const st = s.conn.stats();
      return st.bytesInFlight + 1200 > st.congestionWindowBytes;
    });
    const arrivals: number[] = [];
    s.net.addSink(DEAD, () => arrivals.push(s.net.now));
    const t0 = s.net.now;
    s.conn.probePath(DEAD);
    s.net.runFor(15); // one drain later the challenge is on a 10 ms link
    expect(arrivals).toHaveLength(1);
    expect((arrivals[0] as number) - t0).toBeLessThanOrEqual(11);
  });

  it('probing the active address or before the handshake is refused without effect', () => {
    const s = setup(4, B);
    s.conn.probePath(B); // already the active path: nothing to validate
    s.net.runFor(2_000);
    expect(s.events(A, 'path-changed')).toHaveLength(0);
    expect(s.events(A, 'path-validation-failed')).toHaveLength(0);
    s.conn.close();
    expect(() => s.conn.probePath(DEAD)).toThrow(expect.objectContaining({ code: 'ERR_PUNCHLINE_CONNECTION_CLOSED' }));
  });
});
