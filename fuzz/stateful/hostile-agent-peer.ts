/**
 * Stateful fuzzing of the traversal agent (src/traversal/agent): a hostile peer that holds its own
 * static key (so it can authenticate probes and replies of the session) and a hostile rendezvous
 * (which chooses the candidate list and the server-seen host) drive a victim PunchSession with a
 * seeded sequence of adversarial inputs on a virtual clock:
 *   - candidate lists: huge, duplicated, private, loopback, multicast, broadcast, unspecified,
 *     port 0, IPv6 on an IPv4 socket, relay entries, out-of-range priorities;
 *   - valid probes and replies from the candidates and from strangers' addresses (a birthday flood
 *     of authenticated probes from every port), replies to nonces never sent, replays of the
 *     victim's own probes (reflected), probes of another session, truncated and random datagrams;
 *   - API calls in any order: start (again), socketsOpened, a new server-seen host, close.
 * Invariants:
 *   - no exception escapes receive / pollTransmit / pollEvent / nextDeadline / onTimeout (the
 *     constructor may refuse options with a TraversalError);
 *   - timers: onTimeout(now) leaves no deadline ≤ now behind for long (no busy loop);
 *   - pacing: the session sends no more than its limits allow per virtual second, and never more
 *     than maxProbes probes plus its reply budget in all;
 *   - destinations: only the peer's candidates, addresses that proved themselves with an
 *     authenticated probe, and ports of the server-seen host (birthday) — never a multicast,
 *     broadcast or unspecified address or port 0;
 *   - address family: every destination and every address an event reports is of the session's
 *     family (IPv4 here): an IPv6 candidate or server-seen host, or an IPv4-mapped IPv6 spelling,
 *     must never reach the IPv4 socket (`wrongFamily`);
 *   - memory: the heap grows by a bounded amount.
 */
import { isIP } from 'node:net';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address } from '../../src/transport/api.js';
import {
  buildCandidates,
  DEFAULT_TRAVERSAL_LIMITS,
  deriveProbeKeys,
  encodeProbe,
  PunchSession,
  type SideProfile,
} from '../../src/traversal/agent/index.js';
import { TraversalError } from '../../src/traversal/agent/errors.js';
import type { Candidate } from '../../src/traversal/rendezvous/messages.js';
import { FuzzRandom } from '../engine/random.js';

export interface AgentFuzzResult {
  readonly seed: number;
  readonly steps: number;
  /** Datagrams the hostile side delivered. */
  readonly delivered: number;
  /** Datagrams the victim sent. */
  readonly sent: number;
  /** The first invariant broken (an escaped exception or a violated bound), or null. */
  readonly failure: string | null;
  readonly heapGrowthBytes: number;
  /** The constructor refused the hostile options (a TraversalError): a valid outcome. */
  readonly refused: boolean;
}

const VICTIM: Address = { host: '198.51.100.2', port: 5000 };
const PEER_PUBLIC = '203.0.113.9';

const HOSTILE_HOSTS = [
  '203.0.113.9',
  '203.0.113.10',
  '192.0.2.44',
  '10.0.0.1',
  '192.168.1.1',
  '127.0.0.1',
  '169.254.1.1',
  '224.0.0.1',
  '239.255.255.250',
  '255.255.255.255',
  '0.0.0.0',
  '::1',
  'fe80::1',
  'ff02::1',
  '2001:db8::1',
  'not-an-ip',
  '',
];

/** True for destinations nobody may send a punch probe to. */
export function forbiddenDestination(a: Address): boolean {
  const h = a.host.toLowerCase();
  if (a.port <= 0 || a.port > 65_535) return true;
  if (h === '0.0.0.0' || h === '255.255.255.255' || h === '::') return true;
  const first = Number(h.split('.')[0]);
  if (h.includes('.') && first >= 224 && first <= 239) return true;
  if (h.includes('.') && first === 0) return true;
  return h.startsWith('ff');
}

/** The victim's socket family: the session is built with it, and sends and reports only addresses of it. */
const FAMILY = 4;

/** True for an address the session's socket cannot use: not an IP address of its family. */
export function wrongFamily(a: Address, family: 4 | 6 = FAMILY): boolean {
  return isIP(a.host) !== family;
}

function key(a: Address): string {
  return `${a.host}|${a.port}`;
}

function hostileCandidates(r: FuzzRandom): Candidate[] {
  const n = r.pick([0, 1, 3, 10, 64, 500, 5000]);
  const types = ['host', 'srflx', 'mapped', 'relay'] as const;
  const out: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    const dup = out.length > 0 && r.chance(4);
    out.push(
      dup
        ? (out[r.below(out.length)] as Candidate)
        : {
            type: r.pick(types),
            host: r.chance(3) ? `203.0.113.${r.below(256)}` : r.pick(HOSTILE_HOSTS),
            port: r.pick([0, 1, 53, 5000, 6000, 65_535, 70_000, -1, r.below(65_536)]),
            ...(r.chance(2) ? { priority: r.pick([0, 1, 2 ** 31 - 1, 2 ** 40, -5, Number.NaN]) } : {}),
          },
    );
  }
  return out;
}

export function runAgentScenario(seed: number, steps: number): AgentFuzzResult {
  const r = new FuzzRandom(seed);
  const random = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i++) b[i] = r.below(256);
  };
  const victimKeys = generateKeyPair(random);
  const peerKeys = generateKeyPair(random);
  const sessionId = new Uint8Array(8);
  random(sessionId);
  const victimProbeKeys = deriveProbeKeys(victimKeys.secretKey, victimKeys.publicKey, peerKeys.publicKey, sessionId);
  const peerProbeKeys = deriveProbeKeys(peerKeys.secretKey, peerKeys.publicKey, victimKeys.publicKey, sessionId);
  const remoteCandidates = hostileCandidates(r);
  const serverSeenHost: string | null = r.chance(4) ? null : r.pick([PEER_PUBLIC, ...HOSTILE_HOSTS]);
  const profile = (): SideProfile => ({
    mapping: r.pick(['eim', 'edm', 'unknown'] as const),
    udp: !r.chance(10),
    birthdaySockets: r.pick([0, 1, 256, 100_000]),
    mapped: r.chance(5),
  });
  const limits = DEFAULT_TRAVERSAL_LIMITS;
  const heapBefore = process.memoryUsage().heapUsed;
  let session: PunchSession;
  try {
    session = new PunchSession({
      role: r.chance(2) ? 'controlling' : 'controlled',
      family: FAMILY,
      sessionId,
      keys: victimProbeKeys,
      random,
      local: {
        candidates: buildCandidates({
          host: [VICTIM],
          serverReflexive: [{ host: '198.51.100.200', port: 5000 }],
          mapped: [],
        }),
        profile: profile(),
      },
      remote: { candidates: remoteCandidates, profile: profile(), serverSeenHost },
    });
  } catch (e) {
    const refused = e instanceof TraversalError;
    return {
      seed,
      steps: 0,
      delivered: 0,
      sent: 0,
      failure: refused ? null : `constructor threw ${(e as Error).stack ?? e}`,
      heapGrowthBytes: 0,
      refused,
    };
  }

  // What the victim may send to: the peer's candidates, proven addresses, the server-seen host's ports.
  const allowed = new Set<string>();
  for (const c of remoteCandidates) allowed.add(key(c));
  const seenHosts = new Set<string>();
  if (serverSeenHost !== null) seenHosts.add(serverSeenHost);
  const victimProbes: { data: Uint8Array; nonce: Uint8Array }[] = [];
  let now = 1000;
  let delivered = 0;
  let sent = 0;
  let failure: string | null = null;
  // Sends per virtual second, checked against what the limits allow.
  const perSecond = new Map<number, number>();
  const maxPerSecond =
    limits.birthdaySprayRate +
    limits.birthdayOpenRate +
    Math.ceil(1000 / limits.checkPacingMs) +
    limits.replyRate +
    limits.replyBurst +
    64;

  const guard = (what: string, f: () => void): void => {
    if (failure !== null) return;
    try {
      f();
    } catch (e) {
      failure = `${what} threw ${(e as Error).stack ?? e}`;
    }
  };
  const drain = (): void => {
    guard('pollTransmit', () => {
      for (let t = session.pollTransmit(now); t !== null; t = session.pollTransmit(now)) {
        sent++;
        const second = Math.floor(now / 1000);
        const n = (perSecond.get(second) ?? 0) + 1;
        perSecond.set(second, n);
        if (n > maxPerSecond && failure === null) failure = `pacing: ${n} datagrams in virtual second ${second}`;
        if (forbiddenDestination(t.destination) && failure === null)
          failure = `sent to a forbidden destination ${key(t.destination)}`;
        if (wrongFamily(t.destination) && failure === null)
          failure = `sent to ${key(t.destination)} on an IPv${FAMILY} session`;
        if (!allowed.has(key(t.destination)) && !seenHosts.has(t.destination.host) && failure === null)
          failure = `sent to ${key(t.destination)}, neither a candidate, a proven address nor the server-seen host`;
        if (t.data.length >= 36 && victimProbes.length < 64)
          victimProbes.push({ data: t.data.slice(), nonce: t.data.slice(12, 20) });
        if (sent > limits.maxProbes + limits.replyBurst + limits.replyRate * (now / 1000) + 100 && failure === null)
          failure = `sent ${sent} datagrams: more than maxProbes and the reply budget allow`;
      }
    });
    guard('pollEvent', () => {
      for (let e = session.pollEvent(); e !== null; e = session.pollEvent()) {
        if (e.type === 'open-sockets' && r.chance(2)) session.socketsOpened(r.below(e.count + 2));
        if ((e.type === 'peer-address' || e.type === 'selected' || e.type === 'lost') && failure === null)
          if (wrongFamily(e.remote)) failure = `event '${e.type}' reports ${key(e.remote)} on an IPv${FAMILY} session`;
      }
    });
  };
  const from = (): Address =>
    r.chance(2)
      ? (() => {
          const c =
            remoteCandidates.length > 0 ? (remoteCandidates[r.below(remoteCandidates.length)] as Candidate) : null;
          // A datagram never arrives from a multicast, broadcast or unspecified source or port 0, nor
          // on an IPv4 socket from an IPv6 address.
          return c !== null && !forbiddenDestination(c) && !wrongFamily(c)
            ? { host: c.host, port: c.port }
            : { host: PEER_PUBLIC, port: 6000 };
        })()
      : { host: r.chance(2) ? PEER_PUBLIC : `192.0.2.${r.below(256)}`, port: 1 + r.below(65_535) };

  for (let step = 0; step < steps && failure === null; step++) {
    const action = r.below(14);
    const socket = r.chance(8) ? r.below(300) : 0;
    if (action <= 3) {
      // An authenticated probe or reply (a birthday flood sends these from every port).
      const nonce = new Uint8Array(8);
      random(nonce);
      const reply = action === 3;
      if (reply && victimProbes.length > 0 && r.chance(2))
        nonce.set((r.pick(victimProbes) as { nonce: Uint8Array }).nonce);
      const data = encodeProbe(peerProbeKeys.send, reply, sessionId, nonce, r.pick([36, 36, 64, 1200]));
      const src = from();
      // An authenticated probe proves its address: the victim may answer (or check) it there.
      allowed.add(key(src));
      for (let k = r.chance(5) ? 50 : 1; k > 0; k--) {
        delivered++;
        guard('receive', () => session.receive(data, src, now, socket));
      }
    } else if (action === 4 && victimProbes.length > 0) {
      // The victim's own probe reflected back (must not verify: each direction has its own key).
      delivered++;
      guard('receive', () => session.receive((r.pick(victimProbes) as { data: Uint8Array }).data, from(), now, socket));
    } else if (action === 5) {
      // Another session's probe, and random bytes of probe size or less.
      const other = new Uint8Array(8);
      random(other);
      const data = r.chance(2) ? encodeProbe(peerProbeKeys.send, false, other, other) : new Uint8Array(r.below(80));
      if (!r.chance(2)) random(data);
      delivered++;
      guard('receive', () => session.receive(data, from(), now, socket));
    } else if (action === 6) {
      guard('start', () => {
        try {
          session.start(now + r.below(50));
        } catch (e) {
          if (!(e instanceof TraversalError)) throw e;
        }
      });
    } else if (action === 7) {
      guard('socketsOpened', () => session.socketsOpened(r.below(400)));
    } else if (action === 8) {
      const host = r.pick([PEER_PUBLIC, ...HOSTILE_HOSTS]);
      guard('setRemoteServerSeenHost', () => {
        try {
          session.setRemoteServerSeenHost(host);
          seenHosts.add(host);
        } catch (e) {
          if (!(e instanceof TraversalError)) throw e;
        }
      });
    } else if (action === 9 && r.chance(20)) {
      guard('close', () => session.close());
    } else {
      now += r.pick([0, 1, 5, 50, 500, 3000]);
    }
    guard('onTimeout', () => {
      for (let spins = 0; session.nextDeadline() <= now; spins++) {
        if (spins > 1000) throw new Error(`timer spin: nextDeadline ${session.nextDeadline()} ≤ now ${now}`);
        session.onTimeout(now);
        drain();
      }
    });
    drain();
  }
  const heapGrowthBytes = Math.max(0, process.memoryUsage().heapUsed - heapBefore);
  return { seed, steps, delivered, sent, failure, heapGrowthBytes, refused: false };
}
