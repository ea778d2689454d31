/**
 * Every NAT profile, measured with plain UDP probes from two server addresses and ports (RFC 5780
 * §4.3/§4.4 test logic), must show the RFC 4787 mapping and filtering behaviour it claims; plus
 * hairpinning (§6) on and off — between two LAN hosts and from a socket to its own mapping — and
 * udp-blocked letting TCP through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostProcess } from '../../src/lab/host-process.js';
import { Lab } from '../../src/lab/lab.js';
import {
  measureHairpin,
  measureSelfHairpin,
  probe,
  selfCheck,
  startProbeServer,
  type SiteCheck,
} from '../../src/lab/nat-check.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('profiles.test.ts');

describe.skipIf(!labAvailable)('NAT profiles', () => {
  let lab: Lab;
  const labs = new LabGuard();
  let checks: SiteCheck[];
  let server: HostProcess;

  beforeAll(async () => {
    lab = await labs.track(
      Lab.up({
        name: labName('profiles'),
        sites: [
          { name: 'open', profile: 'open' },
          { name: 'fw', profile: 'firewall' },
          { name: 'easy', profile: 'easy', hosts: 2, hairpin: true },
          { name: 'hard', profile: 'hard', hosts: 2, hairpin: true },
          { name: 'nohp', profile: 'easy', hosts: 2 },
          { name: 'cg', profile: 'cgnat' },
          { name: 'cgh', profile: 'cgnat', variant: 'hard' },
          { name: 'udp', profile: 'udp-blocked' },
          { name: 'pmh', profile: 'portmap', variant: 'hard' },
        ],
      }),
    );
    // All sites at once: each probe mostly waits for negative (filtered) answers.
    checks = await selfCheck(lab, 8);
    server = await startProbeServer(lab);
  }, 90_000);

  afterAll(async () => {
    await labs.down();
  });

  const check = (site: string): SiteCheck => {
    const found = checks.find((c) => c.site === site);
    if (found === undefined) throw new Error(`no check for ${site}`);
    return found;
  };

  it('open: public address, no translation, endpoint-independent filtering', () => {
    const c = check('open');
    expect(c.mismatches).toEqual([]);
    expect(c.observed?.translated).toBe(false);
    expect(c.observed?.mappings[0]).toMatch(/^198\.51\.100\.\d+:/);
    expect(c.observed?.filtering).toBe('endpoint-independent');
  });

  it('firewall: public address, address-and-port-dependent filtering', () => {
    const c = check('fw');
    expect(c.mismatches).toEqual([]);
    expect(c.observed?.translated).toBe(false);
    expect(c.observed?.filtering).toBe('address-and-port-dependent');
  });

  it('easy: endpoint-independent port-preserving mapping, address-and-port-dependent filtering', () => {
    const c = check('easy');
    expect(c.mismatches).toEqual([]);
    expect(c.observed?.mapping).toBe('endpoint-independent');
    expect(c.observed?.portPreserved).toBe(true);
    expect(c.observed?.mappings[0]).toMatch(/^203\.0\.113\.\d+:/);
    expect(c.observed?.filtering).toBe('address-and-port-dependent');
  });

  it('hard: a different random port per destination (symmetric), address-and-port-dependent filtering', () => {
    const c = check('hard');
    expect(c.mismatches).toEqual([]);
    expect(c.observed?.mapping).toBe('address-and-port-dependent');
    expect(new Set(c.observed?.mappings).size).toBe(3);
    expect(c.observed?.filtering).toBe('address-and-port-dependent');
  });

  it('cgnat: the carrier address is what the internet sees; easy or hard carrier mapping', () => {
    const easy = check('cg');
    expect(easy.mismatches).toEqual([]);
    expect(easy.observed?.mappings[0]?.startsWith(`${lab.site('cg').publicAddress}:`)).toBe(true);
    expect(easy.observed?.mapping).toBe('endpoint-independent');
    const hard = check('cgh');
    expect(hard.mismatches).toEqual([]);
    expect(hard.observed?.mapping).toBe('address-and-port-dependent');
  });

  it('portmap/hard: miniupnpd on a hard NAT keeps its random mapping and filtering', () => {
    const c = check('pmh');
    expect(c.mismatches).toEqual([]);
    expect(c.observed?.mapping).toBe('address-and-port-dependent');
  });

  it('udp-blocked: UDP gets no answer, TCP connects', async () => {
    expect(check('udp').observed).toBeUndefined();
    expect(check('udp').mismatches).toEqual([]);
    const tcp = await probe<{ connected: boolean; seen?: string }>(lab, 'udp-host1', {
      op: 'tcp',
      target: '192.0.2.10:3478',
    });
    expect(tcp.connected).toBe(true);
    expect(tcp.seen).toMatch(new RegExp(`^${lab.site('udp').publicAddress.replaceAll('.', '\\.')}:`));
  });

  it('hairpinning on: a LAN host reaches another through its external mapping, seen from the external address', async () => {
    const sites = ['easy', 'hard'];
    const results = await Promise.all(sites.map((site) => measureHairpin(lab, `${site}-host1`, `${site}-host2`)));
    sites.forEach((site, i) => {
      expect(results[i]?.received, site).toBe(true);
      expect(results[i]?.from?.startsWith(`${lab.site(site).publicAddress}:`), site).toBe(true);
    });
  });

  it('hairpinning off: the packet never reaches the mapping owner', async () => {
    const result = await measureHairpin(lab, 'nohp-host1', 'nohp-host2');
    expect(result.mapped).toBeDefined();
    expect(result.received).toBe(false);
  });

  it('hairpinning on: a socket sending to its own mapping gets the packet back from that mapping (RFC 5780 §4.5)', async () => {
    const sites = ['easy', 'hard'];
    const results = await Promise.all(sites.map((site) => measureSelfHairpin(lab, `${site}-host1`)));
    sites.forEach((site, i) => {
      const r = results[i];
      expect(r?.mapped?.startsWith(`${lab.site(site).publicAddress}:`), site).toBe(true);
      expect(r?.received, site).toBe(true);
      // RFC 4787 §6: the source is the sender's external mapping — here the socket's own (even
      // behind `hard`: the hairpin SNAT reuses the existing mapping of that internal endpoint).
      expect(r?.from, site).toBe(r?.mapped);
    });
  });

  it('hairpinning off: a socket sending to its own mapping gets nothing back', async () => {
    const result = await measureSelfHairpin(lab, 'nohp-host1');
    expect(result.mapped?.startsWith(`${lab.site('nohp').publicAddress}:`)).toBe(true);
    expect(result.received).toBe(false);
  });

  it('the probe server stays up for the whole file', () => {
    expect(server.running).toBe(true);
  });
});
