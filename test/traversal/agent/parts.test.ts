/**
 * The agent's building blocks on their own: RFC 8445 priorities and pair order, the offer codec
 * (strict, typed errors), the strategy table, the mapping classification, the probe keys.
 */
import { describe, expect, it } from 'vitest';
import { randomFillSync } from 'node:crypto';
import { Packr } from 'msgpackr';
import { generateKeyPair } from '../../../src/crypto/keys.js';
import {
  BirthdaySpray,
  DEFAULT_TRAVERSAL_LIMITS,
  buildCandidates,
  candidatePriority,
  chooseTechnique,
  classifyMapping,
  decodeOffer,
  deriveProbeKeys,
  encodeOffer,
  encodeProbe,
  formPairs,
  isPrivateHost,
  pairPriority,
  randomBelow,
  remoteCandidates,
  verifyProbe,
  type SideProfile,
} from '../../../src/traversal/agent/index.js';
import { PeerRoutes, isVirtualHost, relayUdpRoute } from '../../../src/node/peer-routes.js';

describe('candidates and pairs (RFC 8445)', () => {
  it('priority follows §5.1.2.1 with the recommended type preferences', () => {
    expect(candidatePriority('host', 65_535)).toBe(126 * 2 ** 24 + 65_535 * 256 + 255);
    expect(candidatePriority('srflx', 0)).toBe(100 * 2 ** 24 + 255);
    expect(candidatePriority('relay', 0)).toBe(255);
    expect(candidatePriority('mapped', 0)).toBeGreaterThan(candidatePriority('prflx', 65_535));
  });

  it('pair priority follows §6.1.2.3 and is the same value on both sides', () => {
    const g = candidatePriority('host', 1);
    const d = candidatePriority('srflx', 2);
    expect(pairPriority('controlling', g, d)).toBe(2 ** 32 * Math.min(g, d) + 2 * Math.max(g, d) + 1);
    expect(pairPriority('controlled', d, g)).toBe(pairPriority('controlling', g, d));
  });

  it('builds a de-duplicated, ordered, bounded candidate list', () => {
    const list = buildCandidates({
      host: [
        { host: '192.168.1.11', port: 5000 },
        { host: '10.0.0.2', port: 5000 },
      ],
      serverReflexive: [
        { host: '192.168.1.11', port: 5000 },
        { host: '203.0.113.10', port: 5000 },
      ],
      mapped: [{ external: { host: '203.0.113.10', port: 6000 }, protocol: 'pcp' }],
    });
    expect(list.map((c) => `${c.type} ${c.host}:${c.port}`)).toEqual([
      'host 192.168.1.11:5000', // keeps its best type
      'host 10.0.0.2:5000',
      'mapped 203.0.113.10:6000',
      'srflx 203.0.113.10:5000',
    ]);
    const many = buildCandidates({
      host: Array.from({ length: 40 }, (_, i) => ({ host: `10.0.${i}.1`, port: 1 })),
      serverReflexive: [],
      mapped: [],
    });
    expect(many).toHaveLength(16);
  });

  it('tells private from public addresses', () => {
    for (const h of [
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.0.1',
      '127.0.0.1',
      '169.254.1.1',
      'fd00::1',
      'fe80::1',
      '::1',
    ])
      expect(isPrivateHost(h), h).toBe(true);
    for (const h of ['172.32.0.1', '100.128.0.1', '198.51.100.50', '203.0.113.10', '2001:db8::1'])
      expect(isPrivateHost(h), h).toBe(false);
  });

  it('drops invalid remote candidates and relay entries; one pair per remote address of our family', () => {
    const remote = remoteCandidates([
      { type: 'host', host: '192.168.2.11', port: 6000 },
      { type: 'relay', host: '192.0.2.10', port: 3478 },
      { type: 'srflx', host: 'not-an-ip', port: 1 },
      { type: 'srflx', host: '203.0.113.11', port: 6000 },
      { type: 'srflx', host: '2001:db8::1', port: 6000 },
    ]);
    expect(remote).toHaveLength(3);
    const local = buildCandidates({
      host: [{ host: '192.168.1.11', port: 5000 }],
      serverReflexive: [{ host: '203.0.113.10', port: 5000 }],
      mapped: [],
    });
    const pairs = formPairs('controlling', 4, local, remote);
    expect(pairs.map((p) => `${p.localType}>${p.remoteType} ${p.remote.host}`)).toEqual([
      'host>host 192.168.2.11',
      'srflx>srflx 203.0.113.11',
    ]);
  });
});

describe('offer codec', () => {
  const offer = { sessionId: new Uint8Array(8).fill(3), mapping: 'edm' as const, udp: true, birthdaySockets: 256 };

  it('round-trips', () => {
    expect(decodeOffer(encodeOffer(offer))).toEqual(offer);
  });

  it('rejects anything else with ERR_PUNCHLINE_TRAVERSAL_BAD_OFFER', () => {
    const packr = new Packr({ useRecords: false });
    const bad = [
      undefined,
      new Uint8Array([0xc1]),
      packr.pack([1, 2]),
      packr.pack({ v: 2, s: offer.sessionId, m: 'eim', u: true, b: 0 }),
      packr.pack({ v: 1, s: new Uint8Array(7), m: 'eim', u: true, b: 0 }),
      packr.pack({ v: 1, s: offer.sessionId, m: 'cone', u: true, b: 0 }),
      packr.pack({ v: 1, s: offer.sessionId, m: 'eim', u: 1, b: 0 }),
      packr.pack({ v: 1, s: offer.sessionId, m: 'eim', u: true, b: 257 }),
      new Packr({ useRecords: true }).pack({ v: 1, s: offer.sessionId, m: 'eim', u: true, b: 0 }),
    ];
    for (const bytes of bad)
      expect(() => decodeOffer(bytes)).toThrow(expect.objectContaining({ code: 'ERR_PUNCHLINE_TRAVERSAL_BAD_OFFER' }));
  });
});

describe('strategy and NAT behaviour', () => {
  const side = (mapping: SideProfile['mapping'], extra: Partial<SideProfile> = {}): SideProfile => ({
    mapping,
    udp: true,
    birthdaySockets: 256,
    mapped: false,
    ...extra,
  });

  it('follows the table, symmetrically', () => {
    expect(chooseTechnique(side('eim'), side('eim'), 0)).toBe('simultaneous-open');
    expect(chooseTechnique(side('unknown'), side('eim'), 0)).toBe('simultaneous-open');
    expect(chooseTechnique(side('eim'), side('edm'), 0)).toBe('birthday-spray');
    expect(chooseTechnique(side('edm'), side('eim'), 0)).toBe('birthday-sockets');
    expect(chooseTechnique(side('edm'), side('edm'), 0)).toBe('relay-only');
    expect(chooseTechnique(side('edm', { mapped: true }), side('edm'), 0)).toBe('birthday-spray');
    expect(chooseTechnique(side('eim', { udp: false }), side('eim'), 0)).toBe('relay-only');
    // No consent to open sockets: no birthday search.
    expect(chooseTechnique(side('eim'), side('edm', { birthdaySockets: 0 }), 0)).toBe('relay-only');
    // The last attempt of easy ↔ unknown tries the birthday search.
    expect(chooseTechnique(side('eim'), side('unknown'), 2)).toBe('birthday-spray');
    expect(chooseTechnique(side('unknown'), side('eim'), 2)).toBe('birthday-sockets');
  });

  it('classifies the mapping from two server addresses', () => {
    const a = { host: '203.0.113.10', port: 5000 };
    expect(classifyMapping(a, { ...a })).toBe('eim');
    expect(classifyMapping(a, { ...a, port: 40_001 })).toBe('edm');
    expect(classifyMapping(a, null)).toBe('unknown');
    expect(classifyMapping(a, null, [a])).toBe('eim'); // no NAT
  });
});

describe('probes and the birthday spray', () => {
  it('direction keys: a reflected probe does not verify; the peer’s does', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const sid = new Uint8Array(8).fill(9);
    const ka = deriveProbeKeys(a.secretKey, a.publicKey, b.publicKey, sid);
    const kb = deriveProbeKeys(b.secretKey, b.publicKey, a.publicKey, sid);
    expect(ka.send).toEqual(kb.receive);
    const probe = encodeProbe(ka.send, false, sid, new Uint8Array(8).fill(1), 100);
    expect(probe).toHaveLength(100);
    expect(verifyProbe(kb.receive, sid, probe)).toMatchObject({ reply: false });
    expect(verifyProbe(ka.receive, sid, probe)).toBeNull(); // reflected at its sender
    const tampered = probe.slice();
    tampered[13]! ^= 1;
    expect(verifyProbe(kb.receive, sid, tampered)).toBeNull();
    expect(verifyProbe(kb.receive, new Uint8Array(8), probe)).toBeNull();
  });

  it('sprays each port once, at the bounded rate, and stops at the time cap', () => {
    const random = (b: Uint8Array): void => void randomFillSync(b);
    const spray = new BirthdaySpray('203.0.113.11', DEFAULT_TRAVERSAL_LIMITS, random, 0);
    const ports = new Set<number>();
    let sent = 0;
    for (let t = 0; t <= 20_000; t += 1) {
      for (let d = spray.next(t); d; d = spray.next(t)) {
        expect(d.port).toBeGreaterThanOrEqual(1024);
        ports.add(d.port);
        sent++;
      }
    }
    expect(sent).toBe(ports.size);
    expect(sent).toBeLessThanOrEqual((1000 * 14_000) / 1000 + 1);
    expect(sent).toBeGreaterThan(5000);
    expect(spray.nextDeadline()).toBe(Infinity);
    for (let i = 0; i < 1000; i++) expect(randomBelow(random, 7)).toBeLessThan(7);
  });
});

describe('peer routes', () => {
  it('allocates RFC 6666 virtual addresses and maps sources back to them', () => {
    const routes = new PeerRoutes();
    const v1 = routes.allocate();
    const v2 = routes.allocate();
    expect(v1.host).toBe('100::1');
    expect(isVirtualHost(v2.host)).toBe(true);
    expect(isVirtualHost('10.0.0.1')).toBe(false);
    routes.set(v1, relayUdpRoute({ host: '192.0.2.10', port: 3478 }, new Uint8Array(8).fill(5)));
    const r = routes.route(v1.host);
    expect(r && r.to !== null && r.header).toEqual(new Uint8Array([0x12, 5, 5, 5, 5, 5, 5, 5, 5]));
    routes.addSource({ host: '203.0.113.11', port: 6000 }, v1);
    expect(routes.virtualFor({ host: '203.0.113.11', port: 6000 })).toBe(v1);
    expect(routes.virtualFor({ host: '203.0.113.11', port: 6001 })).toBeNull();
    routes.remove(v1);
    expect(routes.virtualFor({ host: '203.0.113.11', port: 6000 })).toBeNull();
    expect(routes.route(v1.host)).toBeUndefined();
  });
});
