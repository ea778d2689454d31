import { describe, expect, it } from 'vitest';
import * as natCheck from '../../../src/cli/commands/nat-check.js';
import { connectivityVerdict, type PortmapResult } from '../../../src/traversal/portmap/index.js';
import type { NatBehaviour } from '../../../src/traversal/stun/index.js';

const behaviour = (over: Partial<NatBehaviour>): NatBehaviour =>
  ({
    server: { host: '192.0.2.10', port: 3478 },
    local: undefined,
    mapped: { host: '203.0.113.10', port: 40000 },
    natPresent: true,
    behaviourDiscovery: true,
    mapping: 'endpoint-independent',
    filtering: 'address-and-port-dependent',
    hairpinning: null,
    ...over,
  }) as NatBehaviour;

const mapped = (host: string): PortmapResult[] => [
  { protocol: 'pcp', offered: true, external: { host, port: 50000 } },
  { protocol: 'upnp', offered: false, external: undefined },
];

describe('connectivity verdict', () => {
  it('a mapping on the public address: direct, whatever the NAT', () => {
    const v = connectivityVerdict(behaviour({ mapping: 'address-and-port-dependent' }), mapped('203.0.113.10'));
    expect(v).toMatchObject({ kind: 'direct', text: 'direct connections likely' });
    expect(v.reason).toContain('203.0.113.10:50000');
  });
  it('a mapping on a private address behind another NAT does not count', () => {
    const v = connectivityVerdict(behaviour({ mapping: 'address-and-port-dependent' }), mapped('100.64.1.2'));
    expect(v.kind).toBe('relay');
    expect(v.reason).toContain('another NAT sits above it');
  });
  it('easy NAT: cooperation; hard NAT: relay; open: direct', () => {
    expect(connectivityVerdict(behaviour({}), []).text).toBe("need the other side's cooperation");
    expect(connectivityVerdict(behaviour({ mapping: 'address-dependent' }), []).text).toBe('relay needed');
    expect(connectivityVerdict(behaviour({ natPresent: false, filtering: 'endpoint-independent' }), []).kind).toBe(
      'direct',
    );
    expect(connectivityVerdict(behaviour({ filtering: 'endpoint-independent' }), []).kind).toBe('direct');
    expect(connectivityVerdict(behaviour({ behaviourDiscovery: false, mapping: 'unknown' }), []).kind).toBe(
      'cooperation',
    );
  });
  it('no UDP answer: relay, unless a public mapping exists', () => {
    expect(connectivityVerdict(null, []).kind).toBe('relay');
    expect(connectivityVerdict(null, mapped('198.51.100.9')).kind).toBe('direct');
    expect(connectivityVerdict(null, mapped('192.168.0.2')).kind).toBe('relay');
  });
});

describe('nat-check port-mapping flags', () => {
  it.each([
    [['--server', '127.0.0.1', '--portmap-timeout', '5']],
    [['--server', '127.0.0.1', '--portmap-timeout', 'x']],
    [['--server', '127.0.0.1', '--gateway', 'router.local']],
    [['--server', '127.0.0.1', '--gateway', '::1']],
  ])('nat-check %j exits 2', async (argv) => {
    const write = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      expect(await natCheck.run(argv)).toBe(2);
    } finally {
      process.stderr.write = write;
    }
  });
});
