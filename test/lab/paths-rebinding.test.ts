/**
 * Paths that survive, over real netfilter NATs: the router forgets every UDP mapping (`conntrack -D`)
 * in the middle of a transfer, with the NATed host reading or writing, behind a port-preserving
 * (easy) and a random-port (hard) NAT. No byte may be lost and the delivery gap stays under 1 s
 * (before: 15 s, one keepalive interval, when the NATed host was the reader).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import { forgetMappings, pathsLab, runBulk } from '../../bench/lib/paths-scenarios.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('paths-rebinding.test.ts');

describe.skipIf(!labAvailable)('rebinding mid-transfer (lab)', () => {
  let lab: Lab;
  const labs = new LabGuard();
  beforeAll(async () => {
    lab = await labs.track(pathsLab({ name: labName('paths-rebind') }));
  }, 120_000);
  afterAll(async () => {
    await labs.down();
  });

  for (const natHost of ['a-host1', 'h-host1']) {
    for (const direction of ['to-nat', 'from-nat'] as const) {
      it(`${natHost === 'a-host1' ? 'easy' : 'hard'} NAT, NATed host ${direction === 'to-nat' ? 'reading' : 'writing'}`, async () => {
        const r = await runBulk(lab, {
          natHost,
          direction,
          // Large enough that the fault (an exec in the router's namespace, slow on a loaded machine)
          // lands mid-transfer even on a fast loopback.
          bytes: 64 << 20,
          fault: (l) => forgetMappings(l, natHost),
          faultAfterMs: 200,
        });
        expect(r.faultMidTransfer).toBe(true);
        expect(r.hashesMatch).toBe(true);
        expect(r.stallMs).toBeLessThan(1000);
        // behind the random-port NAT the peer really moved (and followed after validation)
        if (natHost === 'h-host1') expect(r.pathChanges).toBeGreaterThanOrEqual(1);
      }, 120_000);
    }
  }
});
