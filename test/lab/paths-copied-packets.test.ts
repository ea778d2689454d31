/**
 * The copied-packet attack over real netfilter NATs (RFC 9000 §9.3, §21.1.3): while the NATed host
 * writes to the public host, an attacker on the internet re-sends a copy of every genuine datagram
 * from its own address, and the copies arrive ahead of the originals (which queue where the copies
 * do not). The listener must not move its path to the attacker, the transfer must not stall beyond
 * one path-validation timeout, and the listener may aim at most 3× what it got from the attacker's
 * address at it (anti-amplification on an unvalidated path, RFC 9000 §8.1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import { type CopyAttackCounts, pathsLab, runBulk, startCopyAttack } from '../../bench/lib/paths-scenarios.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('paths-copied-packets.test.ts');

/** 3 × the initial PTO (initialRttMs 333 → ~1 s): how long one unanswered PATH_CHALLENGE is retried. */
const VALIDATION_TIMEOUT_MS = 3_000;

describe.skipIf(!labAvailable)('copied packets from an attacker (lab)', () => {
  let lab: Lab;
  const labs = new LabGuard();
  beforeAll(async () => {
    lab = await labs.track(pathsLab({ name: labName('paths-copy') }));
  }, 120_000);
  afterAll(async () => {
    await labs.down();
  });

  it('no path move, no stall beyond one validation timeout, at most 3× to the attacker', async () => {
    let stop: (() => Promise<CopyAttackCounts>) | undefined;
    let attack: CopyAttackCounts | undefined;
    try {
      const r = await runBulk(lab, {
        natHost: 'a-host1',
        direction: 'from-nat',
        bytes: 64 << 20,
        fault: async (l) => {
          stop = await startCopyAttack(l, { natHost: 'a-host1' });
        },
        faultAfterMs: 0,
      });
      attack = await stop?.();
      stop = undefined;
      expect(r.hashesMatch).toBe(true);
      expect(r.pathChanges).toBe(0);
      expect(r.stallMs).toBeLessThan(VALIDATION_TIMEOUT_MS);
    } finally {
      await stop?.().catch(() => undefined);
    }
    // The attack really ran: thousands of copies reached the listener from the attacker's address.
    expect(attack?.copiesSent).toBeGreaterThan(100);
    expect(attack?.fromVictimBytes).toBeLessThanOrEqual(3 * (attack?.copyBytes ?? 0));
  }, 180_000);
});
