/**
 * DPLPMTUD over a real link with a 1280-byte MTU (the NATed site's WAN veth; oversized packets vanish
 * without ICMP): the writer finds a size the link carries and every byte arrives. Runs over node:dgram:
 * the native backend's GSO super-datagrams cross a veth whole, skipping its MTU check (a lab
 * artifact; a real link drops each oversized segment).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import { limitWanMtu, pathsLab, runBulk } from '../../bench/lib/paths-scenarios.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('paths-mtu.test.ts');

describe.skipIf(!labAvailable)('path MTU (lab)', () => {
  let lab: Lab;
  const labs = new LabGuard();
  beforeAll(async () => {
    lab = await labs.track(pathsLab({ name: labName('paths-mtu') }));
  }, 120_000);
  afterAll(async () => {
    await labs.down();
  });

  it('a 1280-byte MTU link on the path is found and respected; without discovery, 1452-byte packets would vanish', async () => {
    await limitWanMtu(lab, 'a-host1', 1280);
    const r = await runBulk(lab, { natHost: 'a-host1', direction: 'to-nat', bytes: 8 << 20, udpBackend: 'dgram' });
    expect(r.hashesMatch).toBe(true);
    const mtu = r.writerStats?.['pathMtu'] ?? 0;
    // 1280 − 20 (IPv4) − 8 (UDP) = 1252; veth lets 4 bytes more through
    expect(mtu).toBeLessThanOrEqual(1256);
    expect(mtu).toBeGreaterThan(1230);
    // Found within 3 s of the first probe (each failed size costs its probes' timeouts).
    const searchMs = r.writerStats?.['pathMtuSearchMs'] ?? -1;
    expect(searchMs).toBeGreaterThanOrEqual(0);
    expect(searchMs).toBeLessThan(3_000);
    // The same transfer with discovery off and 1452-byte packets does not get through.
    await expect(
      runBulk(lab, {
        natHost: 'a-host1',
        direction: 'to-nat',
        bytes: 1 << 20,
        udpBackend: 'dgram',
        transport: { pathMtuDiscovery: false },
        timeoutMs: 8_000,
      }),
    ).rejects.toThrow(/no '[a-z]+' within \d+ ms/);
  }, 120_000);
});
