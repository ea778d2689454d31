import { describe, expect, it } from 'vitest';
import { ipBatches } from '../../src/lab/build.js';
import { LabError } from '../../src/lab/errors.js';
import { routerRuleset } from '../../src/lab/nat-profiles.js';
import { miniupnpdConfig } from '../../src/lab/portmap.js';
import { classifyFiltering, classifyMapping } from '../../src/lab/probes/protocol.js';
import { defaultQueueBytes, lossRuleset, rateToBitsPerSecond, shapingCommands } from '../../src/lab/shaping.js';
import { allNodes, parseSiteArg, planLab, planNamespaces, type LabSpec } from '../../src/lab/topology.js';
import { compareBehaviour, expectedBehaviour } from '../../src/lab/nat-check.js';

const spec: LabSpec = {
  name: 'unit',
  sites: [
    { name: 'a', profile: 'easy', hosts: 2 },
    { name: 'b', profile: 'cgnat', variant: 'hard' },
    { name: 'o', profile: 'open' },
  ],
};

describe('planLab', () => {
  const plan = planLab(spec, 'pl0000');

  it('names every namespace with the prefix and keeps interface names short', () => {
    for (const ns of planNamespaces(plan)) expect(ns.startsWith('pl0000-')).toBe(true);
    for (const link of plan.links) {
      expect(link.a.length).toBeLessThanOrEqual(15);
      expect(link.b.length).toBeLessThanOrEqual(15);
    }
    expect(allNodes(plan).map((n) => n.name)).toEqual([
      'inet',
      'server1',
      'server2',
      'a-router',
      'a-host1',
      'a-host2',
      'b-carrier',
      'b-router',
      'b-host1',
      'o-router',
      'o-host1',
    ]);
  });

  it('uses documentation ranges outside, private ranges inside and 100.64/10 for the carrier link', () => {
    expect(plan.servers[0]?.addresses).toEqual(['192.0.2.10', '192.0.2.11']);
    const [a, b, o] = plan.sites;
    expect(a?.router.wan.address).toBe('203.0.113.10');
    expect(a?.hosts.map((h) => h.addresses[0])).toEqual(['192.168.1.11', '192.168.1.12']);
    expect(b?.carrier?.wan.address).toBe('203.0.113.11');
    expect(b?.carrier?.nat).toBe('hard');
    expect(b?.router.wan.address).toBe('100.64.1.2');
    expect(b?.router.nat).toBe('easy');
    expect(b?.publicAddress).toBe('203.0.113.11');
    expect(o?.router.nat).toBe('none');
    expect(o?.hosts[0]?.addresses[0]).toBe('198.51.100.50');
    expect(plan.internetRoutes).toEqual([['198.51.100.48/28', '203.0.113.12']]);
  });

  it('rejects bad specs with ERR_PUNCHLINE_LAB_SPEC', () => {
    const bad: LabSpec[] = [
      { name: 'Bad Name', sites: [] },
      {
        name: 'x',
        sites: [
          { name: 'a', profile: 'easy' },
          { name: 'a', profile: 'hard' },
        ],
      },
      { name: 'x', sites: [{ name: 'a', profile: 'nope' as 'easy' }] },
      { name: 'x', sites: [{ name: 'a', profile: 'easy', variant: 'hard' }] },
      { name: 'x', sites: [{ name: 'a', profile: 'easy', loss: 101 }] },
      { name: 'x', sites: [{ name: 'a', profile: 'easy', rate: 'fast' }] },
      { name: 'x', sites: [{ name: 'a', profile: 'open', hairpin: true }] },
      { name: 'x', sites: [{ name: 'server1', profile: 'easy' }] },
    ];
    for (const s of bad) {
      expect(() => planLab(s, 'pl0000')).toThrow(LabError);
      try {
        planLab(s, 'pl0000');
      } catch (error) {
        expect((error as LabError).code).toBe('ERR_PUNCHLINE_LAB_SPEC');
      }
    }
  });
});

describe('ipBatches', () => {
  it('configures each namespace in one batch: loopback, bridges before their ports, addresses before routes', () => {
    const plan = planLab(spec, 'pl0000');
    const batches = ipBatches(plan);
    expect([...batches.keys()].sort()).toEqual(planNamespaces(plan).sort());
    for (const lines of batches.values()) expect(lines[0]).toEqual(['link', 'set', 'lo', 'up']);
    const router = (batches.get('pl0000-a-router') ?? []).map((l) => l.join(' '));
    expect(router.indexOf('link add lan type bridge')).toBeLessThan(router.indexOf('link set h1 master lan'));
    expect(router.indexOf('addr add 203.0.113.10/24 dev wan')).toBeLessThan(
      router.indexOf('route add default via 203.0.113.1'),
    );
    expect(router).toContain('addr add 192.168.1.1/24 dev lan');
    const home = (batches.get('pl0000-b-router') ?? []).map((l) => l.join(' '));
    expect(home).toContain('route add default via 100.64.1.1');
    const inet = (batches.get('pl0000-inet') ?? []).map((l) => l.join(' '));
    expect(inet).toContain('route add 198.51.100.48/28 via 203.0.113.12');
    expect(inet).toContain('link set site1 master br0');
  });
});

describe('parseSiteArg', () => {
  it('parses profile, variant, hosts and options', () => {
    expect(parseSiteArg('a:easy')).toEqual({ name: 'a', profile: 'easy' });
    expect(parseSiteArg('c:cgnat/hard:3,hairpin,loss=5,rate=10mbit,queue=30000,timeout=10')).toEqual({
      name: 'c',
      profile: 'cgnat',
      variant: 'hard',
      hosts: 3,
      hairpin: true,
      loss: 5,
      rate: '10mbit',
      queueBytes: 30000,
      udpTimeout: 10,
    });
    expect(() => parseSiteArg('a')).toThrow(LabError);
    expect(() => parseSiteArg('a:easy,wat')).toThrow(/unknown option/);
  });
});

describe('rulesets', () => {
  const plan = planLab(
    {
      name: 'r',
      sites: [
        { name: 'e', profile: 'easy', hairpin: true },
        { name: 'h', profile: 'hard' },
        { name: 'f', profile: 'firewall' },
        { name: 'u', profile: 'udp-blocked' },
      ],
    },
    'pl0000',
  );
  const [e, h, f, u] = plan.sites;
  it('easy masquerades port-preserving; hard fully random', () => {
    const easy = routerRuleset({ router: e!.router, hairpin: true });
    expect(easy).toContain(`oifname "wan" ip saddr != 203.0.113.10 masquerade comment`);
    expect(easy).toContain('map hairpin');
    expect(easy).toContain('snat ip to 203.0.113.10');
    const hard = routerRuleset({ router: h!.router });
    expect(hard).toContain('masquerade fully-random');
    expect(hard).not.toContain('map hairpin');
  });
  it('firewall filters without translating; udp-blocked drops UDP from the LAN', () => {
    const fw = routerRuleset({ router: f!.router });
    expect(fw).toContain('ct state established,related accept');
    expect(fw).not.toContain('masquerade');
    expect(routerRuleset({ router: u!.router, blockUdp: true })).toContain('iifname "lan" meta l4proto udp drop');
  });
  it('loss and shaping', () => {
    expect(lossRuleset(5)).toContain('numgen random mod 100 < 5 drop');
    expect(rateToBitsPerSecond('10mbit')).toBe(10e6);
    expect(rateToBitsPerSecond('1kbps')).toBe(8000);
    expect(defaultQueueBytes('10mbit')).toBe(125_000);
    expect(shapingCommands('ns', 'wan', '1mbit', 20000).map((c) => c.join(' '))).toEqual([
      'tc -n ns qdisc replace dev wan root handle 1: htb default 10',
      'tc -n ns class add dev wan parent 1: classid 1:10 htb rate 1mbit ceil 1mbit',
      'tc -n ns qdisc add dev wan parent 1:10 handle 10: bfifo limit 20000',
    ]);
  });
  it('miniupnpd listens on the LAN with NAT-PMP/PCP on', () => {
    const conf = miniupnpdConfig(e!.router, '/tmp/leases');
    expect(conf).toContain('listening_ip=lan');
    expect(conf).toContain('enable_natpmp=yes');
    expect(conf).toContain('allow 1024-65535 192.168.1.0/24 1024-65535');
  });
});

describe('behaviour classification (RFC 5780 §4.3/§4.4 logic, RFC 4787 terms)', () => {
  it('classifies mapping and filtering', () => {
    expect(classifyMapping('x:1', 'x:1', 'x:1')).toBe('endpoint-independent');
    expect(classifyMapping('x:1', 'x:2', 'x:2')).toBe('address-dependent');
    expect(classifyMapping('x:1', 'x:2', 'x:3')).toBe('address-and-port-dependent');
    expect(classifyFiltering(true, true)).toBe('endpoint-independent');
    expect(classifyFiltering(false, true)).toBe('address-dependent');
    expect(classifyFiltering(false, false)).toBe('address-and-port-dependent');
  });
  it('compares observations with the profile', () => {
    const plan = planLab(
      {
        name: 'c',
        sites: [
          { name: 'h', profile: 'hard' },
          { name: 'u', profile: 'udp-blocked' },
        ],
      },
      'pl0000',
    );
    const hard = expectedBehaviour(plan.sites[0]!);
    expect(hard.mapping).toBe('address-and-port-dependent');
    const easyLooking = {
      local: '0.0.0.0:5000',
      mappings: ['203.0.113.10:5000', '203.0.113.10:5000', '203.0.113.10:5000'] as const,
      translated: true,
      portPreserved: true,
      mapping: 'endpoint-independent' as const,
      filtering: 'address-and-port-dependent' as const,
    };
    expect(compareBehaviour(hard, easyLooking)).toHaveLength(1);
    expect(compareBehaviour(expectedBehaviour(plan.sites[1]!), undefined)).toEqual([]);
    expect(compareBehaviour(hard, undefined)).toEqual(['no UDP answer from the probe server']);
  });
});
