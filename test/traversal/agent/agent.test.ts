/**
 * The traversal agent in the simulator, behind easy and hard NAT middleboxes (nat-middlebox.ts):
 * which technique each pair of NATs gets, that the pair it selects really carries datagrams both
 * ways, the birthday search against a symmetric NAT, and the bounds (probes, replies, forged or
 * misdirected answers, a vanishing peer).
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../src/crypto/keys.js';
import type { Address } from '../../../src/transport/api.js';
import {
  PunchSession,
  buildCandidates,
  deriveProbeKeys,
  encodeProbe,
  type SideProfile,
  type TraversalLimits,
} from '../../../src/traversal/agent/index.js';
import { SimNetwork } from '../../../src/sim/network.js';
import { SimRandom } from '../../../src/sim/random.js';
import { NatMiddlebox } from './nat-middlebox.js';
import { AgentNode } from './sim-agent.js';

type Kind = 'easy' | 'hard' | 'open';

interface SideSpec {
  readonly kind: Kind;
  readonly inside: Address;
  readonly publicHost: string;
  /** Hosts share one NAT (same site). */
  readonly natOf?: string;
}

function setup(
  a: SideSpec,
  b: SideSpec,
  seed: number,
  options: { limits?: Partial<TraversalLimits>; lossRate?: number; sameNat?: boolean } = {},
) {
  const net = new SimNetwork({
    seed,
    link: { delayMs: 15, ...(options.lossRate ? { lossRate: options.lossRate } : {}) },
  });
  const rng = new SimRandom(seed, 'test');
  const natFor = (s: SideSpec, inside: Set<string>): NatMiddlebox | null =>
    s.kind === 'open' ? null : new NatMiddlebox(s.kind, s.publicHost, inside, rng.derive(s.publicHost));
  let natA: NatMiddlebox | null;
  let natB: NatMiddlebox | null;
  if (options.sameNat) {
    natA = natFor(a, new Set([a.inside.host, b.inside.host]));
    natB = natA;
    if (natA) net.addMiddlebox(natA);
  } else {
    natA = natFor(a, new Set([a.inside.host]));
    natB = natFor(b, new Set([b.inside.host]));
    if (natA) net.addMiddlebox(natA);
    if (natB) net.addMiddlebox(natB);
  }
  const keysA = generateKeyPair(net.randomSource('key-a'));
  const keysB = generateKeyPair(net.randomSource('key-b'));
  const sessionId = new Uint8Array(8);
  net.randomSource('session')(sessionId);
  // What the server would see: easy NATs preserve the port, hard ones pick another for it.
  const srflx = (s: SideSpec): Address =>
    s.kind === 'open' ? s.inside : { host: s.publicHost, port: s.kind === 'easy' ? s.inside.port : 40_001 };
  const profile = (s: SideSpec): SideProfile => ({
    mapping: s.kind === 'hard' ? 'edm' : 'eim',
    udp: true,
    birthdaySockets: 256,
    mapped: false,
  });
  const candidates = (s: SideSpec) =>
    buildCandidates({ host: [s.inside], serverReflexive: s.kind === 'open' ? [] : [srflx(s)], mapped: [] });
  const make = (self: SideSpec, peer: SideSpec, role: 'controlling' | 'controlled', label: string) => {
    const mine = role === 'controlling' ? keysA : keysB;
    const theirs = role === 'controlling' ? keysB : keysA;
    return new PunchSession({
      role,
      family: 4,
      sessionId,
      keys: deriveProbeKeys(mine.secretKey, mine.publicKey, theirs.publicKey, sessionId),
      random: net.randomSource(label),
      local: { candidates: candidates(self), profile: profile(self) },
      remote: { candidates: candidates(peer), profile: profile(peer), serverSeenHost: srflx(peer).host },
      ...(options.limits ? { limits: options.limits } : {}),
    });
  };
  const nodeA = new AgentNode(net, a.inside, make(a, b, 'controlling', 'agent-a'), natA);
  const nodeB = new AgentNode(net, b.inside, make(b, a, 'controlled', 'agent-b'), natB);
  return { net, nodeA, nodeB, natA, natB, keysA, keysB, sessionId };
}

const EASY_A: SideSpec = { kind: 'easy', inside: { host: '192.168.1.11', port: 5000 }, publicHost: '203.0.113.10' };
const EASY_B: SideSpec = { kind: 'easy', inside: { host: '192.168.2.11', port: 6000 }, publicHost: '203.0.113.11' };
const HARD_A: SideSpec = { ...EASY_A, kind: 'hard' };
const HARD_B: SideSpec = { ...EASY_B, kind: 'hard' };

/** Starts both at the same instant (what punch-go arranges) and runs until both selected or `ms` passed. */
function punch(env: ReturnType<typeof setup>, ms: number): void {
  const at = env.net.now + 5;
  env.nodeA.session.start(at);
  env.nodeB.session.start(at);
  env.net.runFor(1);
  const deadline = env.net.now + ms;
  while (env.net.now < deadline && !(env.nodeA.selected() && env.nodeB.selected())) env.net.runFor(50);
}

describe('traversal agent in the simulator', () => {
  it('easy ↔ easy: simultaneous open selects the public pair on both sides', () => {
    const env = setup(EASY_A, EASY_B, 1);
    punch(env, 5000);
    const a = env.nodeA.selected();
    const b = env.nodeB.selected();
    expect(a?.remote).toEqual({ host: '203.0.113.11', port: 6000 });
    expect(b?.remote).toEqual({ host: '203.0.113.10', port: 5000 });
    expect(a?.socket).toBe(0);
    expect(env.nodeA.session.stats().technique).toBe('simultaneous-open');
    // Within a few round trips of the start, not after retransmission timeouts.
    expect((a?.at ?? Infinity) - 1000).toBeLessThan(500);
  });

  it('open ↔ easy and easy ↔ open connect directly', () => {
    const open: SideSpec = { kind: 'open', inside: { host: '198.51.100.50', port: 7000 }, publicHost: '198.51.100.50' };
    for (const [x, y] of [
      [open, EASY_B],
      [EASY_A, { ...open, inside: { host: '198.51.100.51', port: 7001 } }],
    ] as const) {
      const env = setup(x, y, 2);
      punch(env, 5000);
      expect(env.nodeA.selected()).toBeDefined();
      expect(env.nodeB.selected()).toBeDefined();
    }
  });

  it('same NAT: the host pair wins over hairpinning', () => {
    const a: SideSpec = { ...EASY_A };
    const b: SideSpec = { kind: 'easy', inside: { host: '192.168.1.12', port: 6000 }, publicHost: '203.0.113.10' };
    const env = setup(a, b, 3, { sameNat: true });
    punch(env, 5000);
    expect(env.nodeA.selected()?.remote).toEqual(b.inside);
    expect(env.nodeB.selected()?.remote).toEqual(a.inside);
  });

  it.each([1, 2, 3, 4, 5])(
    'easy ↔ hard (seed %i): the birthday search finds a port and keeps only the winning socket',
    (seed) => {
      const env = setup(EASY_A, HARD_B, 100 + seed);
      punch(env, 20_000);
      const easy = env.nodeA.selected();
      const hard = env.nodeB.selected();
      expect(env.nodeA.session.stats().technique).toBe('birthday-spray');
      expect(env.nodeB.session.stats().technique).toBe('birthday-sockets');
      expect(easy?.remote.host).toBe('203.0.113.11');
      expect(hard?.remote).toEqual({ host: '203.0.113.10', port: 5000 });
      // The hard side continues on the socket that won; the others closed after the grace period,
      // except those the easy side proved itself on (a few at most: the spray stopped at its hit).
      env.net.runFor(1500);
      const closes = env.nodeB.events.filter((e) => e.type === 'close-sockets');
      expect(closes).toHaveLength(1);
      const keep = (closes[0] as { keep: readonly number[] }).keep;
      if (hard!.socket > 0) expect(keep).toContain(hard!.socket);
      expect(keep.length).toBeLessThanOrEqual(3);
      expect([...env.nodeB.open].sort((x, y) => x - y)).toEqual(keep);
      // Bounded: the spray stopped at the hit, well under its cap.
      expect(env.nodeA.session.stats().sprayed).toBeLessThan(1000 * 14);
      // Consent keeps the winning pair alive afterwards.
      env.net.runFor(10_000);
      expect(env.nodeA.events.some((e) => e.type === 'lost')).toBe(false);
      expect(env.nodeB.events.some((e) => e.type === 'lost')).toBe(false);
    },
  );

  it('public host ↔ hard: the birthday search aims the sockets at the public host candidate', () => {
    const open: SideSpec = { kind: 'open', inside: { host: '198.51.100.50', port: 7000 }, publicHost: '198.51.100.50' };
    const env = setup(open, HARD_B, 21);
    punch(env, 20_000);
    expect(env.nodeB.session.stats().technique).toBe('birthday-sockets');
    expect(env.nodeA.selected()?.remote.host).toBe('203.0.113.11');
    expect(env.nodeB.selected()?.remote).toEqual(open.inside);
  });

  it('hard ↔ easy: roles follow the NATs, whichever side initiates', () => {
    const env = setup(HARD_A, EASY_B, 7);
    punch(env, 20_000);
    expect(env.nodeA.session.stats().technique).toBe('birthday-sockets');
    expect(env.nodeB.session.stats().technique).toBe('birthday-spray');
    expect(env.nodeA.selected()).toBeDefined();
    expect(env.nodeB.selected()).toBeDefined();
  });

  it('hard ↔ hard: relay only — the attempt fails in bounded time with bounded probes', () => {
    const env = setup(HARD_A, HARD_B, 8);
    punch(env, 10_000);
    for (const node of [env.nodeA, env.nodeB]) {
      expect(node.selected()).toBeUndefined();
      expect(node.session.stats().technique).toBe('relay-only');
      const failed = node.events.find((e) => e.type === 'attempt-failed');
      expect(failed).toMatchObject({ retry: true });
      expect(failed!.at - 1005).toBeLessThanOrEqual(6000 + 1);
      // 2 pairs × 7 transmissions, plus replies: no spray, no sockets.
      expect(node.session.stats().probesSent).toBeLessThanOrEqual(14);
      expect(node.events.some((e) => e.type === 'open-sockets')).toBe(false);
    }
  });

  it('a peer that vanishes mid-punch: the attempt fails within its timeout and birthday sockets are closed', () => {
    const env = setup(EASY_A, HARD_B, 9);
    const at = env.net.now + 5;
    env.nodeB.session.start(at); // the hard side starts, the easy one never does (gone)
    env.net.removeNode(EASY_A.inside);
    env.net.runFor(20_000);
    const failed = env.nodeB.events.find((e) => e.type === 'attempt-failed');
    expect(failed).toBeDefined();
    expect(failed!.at - at).toBeLessThanOrEqual(14_000 + 1);
    expect(env.nodeB.events.filter((e) => e.type === 'close-sockets').at(-1)).toMatchObject({ keep: [] });
    expect(env.nodeB.open.size).toBe(0);
    expect(env.nodeB.session.nextDeadline()).toBe(Infinity);
  });

  it('loses consent when the peer stops answering, then reports the pair lost', () => {
    const env = setup(EASY_A, EASY_B, 10);
    punch(env, 5000);
    expect(env.nodeA.selected()).toBeDefined();
    const cut = env.net.now;
    env.net.removeNode(EASY_B.inside);
    env.net.runFor(15_000);
    const lost = env.nodeA.events.find((e) => e.type === 'lost');
    expect(lost).toMatchObject({ remote: { host: '203.0.113.11', port: 6000 } });
    expect(lost!.at - cut).toBeLessThanOrEqual(8000 + 2000 + 1);
  });

  it('tolerates 20 % loss (retransmitted checks)', () => {
    const env = setup(EASY_A, EASY_B, 11, { lossRate: 0.2 });
    punch(env, 8000);
    expect(env.nodeA.selected()).toBeDefined();
    expect(env.nodeB.selected()).toBeDefined();
  });

  it('forged probes get no reply and misdirected replies validate nothing', () => {
    const env = setup({ kind: 'open', inside: { host: '198.51.100.50', port: 7000 }, publicHost: '' }, EASY_B, 12);
    const attacker = { host: '198.51.100.66', port: 9999 };
    const seen: Uint8Array[] = [];
    env.net.addSink(attacker, (d) => seen.push(d));
    const session = env.nodeA.session;
    env.nodeA.session.start(env.net.now);
    env.net.runFor(1);
    const rejectedBefore = session.stats().rejected;
    const repliesBefore = session.stats().repliesSent;
    // A probe with the right session ID but a key nobody derived: consumed, dropped, no reply.
    const wrongKey = new Uint8Array(32).fill(7);
    const nonce = new Uint8Array(8).fill(1);
    expect(session.receive(encodeProbe(wrongKey, false, env.sessionId, nonce), attacker, env.net.now)).toBe(true);
    // The peer's real key, but replying from an address that was never probed: no validation.
    const peerKeys = deriveProbeKeys(env.keysB.secretKey, env.keysB.publicKey, env.keysA.publicKey, env.sessionId);
    expect(session.receive(encodeProbe(peerKeys.send, true, env.sessionId, nonce), attacker, env.net.now)).toBe(true);
    // Another session's probe is not consumed (the node layer offers it to other sessions).
    expect(session.receive(encodeProbe(peerKeys.send, false, new Uint8Array(8), nonce), attacker, env.net.now)).toBe(
      false,
    );
    expect(session.stats().rejected - rejectedBefore).toBe(2);
    expect(session.stats().repliesSent - repliesBefore).toBe(0);
    env.net.runFor(200);
    expect(seen).toHaveLength(0);
  });

  it('replies to a flood of authentic probes are rate-limited', () => {
    const env = setup(EASY_A, EASY_B, 13);
    const session = env.nodeA.session;
    const peerKeys = deriveProbeKeys(env.keysB.secretKey, env.keysB.publicKey, env.keysA.publicKey, env.sessionId);
    const nonce = new Uint8Array(8);
    for (let i = 0; i < 5000; i++) {
      new DataView(nonce.buffer).setUint32(0, i);
      session.receive(encodeProbe(peerKeys.send, false, env.sessionId, nonce), EASY_B.inside, env.net.now);
    }
    let replies = 0;
    while (session.pollTransmit(env.net.now)) replies++;
    expect(replies).toBe(400); // the burst, nothing more at one instant
  });
});
