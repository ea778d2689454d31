/**
 * Relay control and data plane: parseRelayDatagram/parseControl/verify* on raw bytes, and a fresh
 * RelayCore with one allocation whose two legs are bound (through the real BIND/CHALLENGE exchange)
 * fed a sequence of datagrams cut from the input. Invariants: data only ever goes to a validated
 * address; to anyone else the relay sends no more than it received (spec/relay.md, RFC 9000 §8).
 */
import type { Address } from '../../src/transport/api.js';
import { RelayCore } from '../../src/server/relay-core.js';
import {
  encapsulate,
  encodeBind,
  encodeBound,
  encodeChallenge,
  encodeNotify,
  parseControl,
  parseRelayDatagram,
  RelayControlType,
  verifyBind,
  verifyBound,
  verifyNotify,
} from '../../src/traversal/relay/udp-control.js';
import { bytesEqual, invariant, type FuzzTarget } from '../engine/target.js';

const KEY = new Uint8Array(32).fill(7);
const LEG = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const ZERO_CHANNEL = new Uint8Array(8);

export const relayControl: FuzzTarget = {
  name: 'relay-control',
  description: 'parseRelayDatagram, parseControl, verifyBind/Bound/Notify and re-encoding (spec/relay.md)',
  maxLength: 1500,
  seeds: () => [
    encodeBind(LEG, KEY, 1),
    encodeBind(LEG, KEY, 2 ** 40, new Uint8Array(16).fill(3)),
    encodeChallenge(LEG, new Uint8Array(16).fill(9)),
    encodeBound(LEG, KEY, 5, { host: '192.0.2.7', port: 4000 }),
    encodeBound(LEG, KEY, 5, { host: '2001:db8::1', port: 4000 }),
    encodeNotify(LEG, KEY, Uint8Array.of(0x81, 0xa1, 0x74, 0xa4, 0x70, 0x6f, 0x6e, 0x67)),
    encapsulate(LEG, Uint8Array.of(0x40, 1, 2, 3)),
  ],
  dictionary: [
    Uint8Array.of(0x12),
    ZERO_CHANNEL,
    Uint8Array.of(1),
    Uint8Array.of(2),
    Uint8Array.of(3),
    Uint8Array.of(4),
  ],
  run(data) {
    const relayed = parseRelayDatagram(data);
    if (relayed === null) return;
    const control = parseControl(relayed.inner);
    if (control === null) return;
    switch (control.type) {
      case RelayControlType.Bind: {
        verifyBind(control, KEY);
        const again = parseControl(encodeBind(control.leg, KEY, control.counter, control.cookie).subarray(9));
        invariant(again?.type === control.type && again.counter === control.counter, 'BIND round trip');
        invariant(bytesEqual(again.cookie, control.cookie) && bytesEqual(again.leg, control.leg), 'BIND fields');
        break;
      }
      case RelayControlType.Bound: {
        verifyBound(control, KEY);
        const again = parseControl(encodeBound(control.leg, KEY, control.counter, control.observed).subarray(9));
        invariant(again?.type === control.type && again.counter === control.counter, 'BOUND round trip');
        invariant(again.observed.port === control.observed.port, 'BOUND port');
        break;
      }
      case RelayControlType.Notify:
        verifyNotify(control, KEY);
        break;
      case RelayControlType.Challenge: {
        const again = parseControl(encodeChallenge(control.leg, control.cookie).subarray(9));
        invariant(again?.type === control.type && bytesEqual(again.cookie, control.cookie), 'CHALLENGE round trip');
        break;
      }
    }
  },
};

const PEER_A: Address = { host: '192.0.2.1', port: 1111 };
const PEER_B: Address = { host: '198.51.100.2', port: 2222 };
const ATTACKER: Address = { host: '203.0.113.66', port: 6666 };
const SOURCES = [PEER_A, PEER_B, ATTACKER, { host: PEER_A.host, port: 1112 }] as const;

function deterministicRandom(): (buffer: Uint8Array) => void {
  let x = 0x1234567;
  return (buffer) => {
    for (let i = 0; i < buffer.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      buffer[i] = x >>> 24;
    }
  };
}

function boundRelay(): { core: RelayCore; legs: [Uint8Array, Uint8Array]; keys: [Uint8Array, Uint8Array] } {
  const core = new RelayCore({ random: deterministicRandom(), limits: { burstBytes: 64 * 1024 } });
  const [a, b] = core.allocate({ sessionId: 1, owner: 'a' }, { sessionId: 2, owner: 'b' }, 0);
  for (const [grant, from] of [
    [a, PEER_A],
    [b, PEER_B],
  ] as const) {
    core.receive(encodeBind(grant.id, grant.key, 1), from, 0);
    const challenge = core.pollOutput();
    invariant(challenge?.kind === 'udp', 'relay answers a BIND with a CHALLENGE');
    const parsed = parseControl(parseRelayDatagram(challenge.data)!.inner);
    invariant(parsed?.type === RelayControlType.Challenge, 'CHALLENGE parses');
    core.receive(encodeBind(grant.id, grant.key, 2, parsed.cookie), from, 0);
    while (core.pollOutput() !== null);
  }
  return { core, legs: [a.id, b.id], keys: [a.key, b.key] };
}

export const relayCore: FuzzTarget = {
  name: 'relay-core',
  description: 'RelayCore.receive/onTimeout with two bound legs; datagrams cut from the input',
  maxLength: 4096,
  seeds: () => {
    const legs = [Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0)];
    return [
      Uint8Array.of(0x01, 0x00, 0x0d, ...encapsulate(legs[0]!, Uint8Array.of(0x40, 1, 2, 3))),
      Uint8Array.of(0x42, 0x00, 0x0d, ...encapsulate(legs[0]!, Uint8Array.of(0x40, 9, 9, 9))),
    ];
  },
  dictionary: [Uint8Array.of(0x12), ZERO_CHANNEL, Uint8Array.of(1)],
  run(data) {
    const { core, legs, keys } = boundRelay();
    const sentTo = new Map<string, number>();
    const receivedFrom = new Map<string, number>();
    let now = 0;
    // Records: [flags][len hi][len lo][datagram]; flags: bits 0-1 source, bit 2-3 leg ID to splice
    // in (none / A / B / a BIND with a valid MAC for leg A), bits 4-7 time step.
    let p = 0;
    while (p + 3 <= data.length) {
      const flags = data[p]!;
      const length = Math.min(((data[p + 1]! << 8) | data[p + 2]!) & 0x7ff, data.length - p - 3);
      let datagram: Uint8Array = data.slice(p + 3, p + 3 + length);
      p += 3 + length;
      const from = SOURCES[flags & 3]!;
      const splice = (flags >> 2) & 3;
      if (splice === 1 || splice === 2) {
        if (datagram.length >= 9) datagram.set(legs[splice - 1]!, 1);
      } else if (splice === 3) {
        datagram = encodeBind(
          legs[0]!,
          keys[0]!,
          datagram.length * 1000 + (datagram[0] ?? 0),
          datagram.length >= 16 ? datagram.subarray(0, 16) : new Uint8Array(0),
        );
      }
      now += (flags >> 4) * 997;
      const key = `${from.host}|${from.port}`;
      receivedFrom.set(key, (receivedFrom.get(key) ?? 0) + datagram.length);
      if (datagram[0] === 0x12) core.receive(datagram, from, now);
      if (core.nextDeadline() <= now) core.onTimeout(now);
      for (let out = core.pollOutput(); out !== null; out = core.pollOutput()) {
        if (out.kind !== 'udp') continue;
        const to = `${out.to.host}|${out.to.port}`;
        sentTo.set(to, (sentTo.get(to) ?? 0) + out.data.length);
      }
    }
    for (const [to, bytes] of sentTo) {
      const validated = to === `${PEER_A.host}|${PEER_A.port}` || to === `${PEER_B.host}|${PEER_B.port}`;
      invariant(validated || bytes <= (receivedFrom.get(to) ?? 0), `relay amplified towards ${to}`);
    }
    const stats = core.stats();
    invariant(stats.unvalidatedBytesSent <= stats.unvalidatedBytesReceived, 'relay unvalidated sent > received');
  },
};
