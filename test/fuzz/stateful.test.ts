/**
 * Stateful fuzzing smoke (the long run is `npm run fuzz:stateful`): a hostile peer holding the keys
 * sends adversarial frame sequences; nothing escapes the victim endpoint, memory stays bounded, the
 * RFC 9000 error code is the one sent, and a legitimate connection on the same endpoint still works.
 */
import { describe, expect, it } from 'vitest';
import { forbiddenDestination, runAgentScenario, wrongFamily } from '../../fuzz/stateful/hostile-agent-peer.js';
import { EXPECTED_CODE, runScenario, SCENARIOS } from '../../fuzz/stateful/hostile-peer.js';

const HEAP_BOUND = 16 * 1024 * 1024;

describe('stateful connection fuzzing', () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario}: no escape, bounded memory, the right close, other connections unaffected`, () => {
      for (const seed of [1, 2]) {
        const r = runScenario(scenario, seed, 150);
        expect(r.escaped).toBeNull();
        expect(r.heapGrowthBytes).toBeLessThan(HEAP_BOUND);
        expect(r.legitDelivered).toBe(true);
        const expected = EXPECTED_CODE[scenario];
        if (expected !== undefined) expect(expected).toContain(r.closeCode);
      }
    });
  }
});

describe('stateful traversal agent fuzzing', () => {
  it('a hostile peer and rendezvous: no escape, bounded timers, pacing, destinations and memory', () => {
    let sent = 0;
    for (let seed = 1; seed <= 24; seed++) {
      const r = runAgentScenario(seed, 250);
      expect(r.failure).toBeNull();
      expect(r.heapGrowthBytes).toBeLessThan(HEAP_BOUND);
      sent += r.sent;
    }
    expect(sent).toBeGreaterThan(0); // the agent really ran
  });

  it('the destination invariant recognises what must never be probed', () => {
    for (const host of ['224.0.0.1', '239.255.255.250', '255.255.255.255', '0.0.0.0', 'ff02::1'])
      expect(forbiddenDestination({ host, port: 5000 })).toBe(true);
    expect(forbiddenDestination({ host: '203.0.113.9', port: 0 })).toBe(true);
    expect(forbiddenDestination({ host: '203.0.113.9', port: 70_000 })).toBe(true);
    expect(forbiddenDestination({ host: '203.0.113.9', port: 5000 })).toBe(false);
  });

  it('the family invariant flags an IPv6 (or not-an-IP) address on an IPv4 session', () => {
    for (const host of ['::1', '2001:db8::1', 'fe80::1', '::ffff:203.0.113.9', 'not-an-ip', ''])
      expect(wrongFamily({ host, port: 5000 })).toBe(true);
    expect(wrongFamily({ host: '203.0.113.9', port: 5000 })).toBe(false);
    expect(wrongFamily({ host: '2001:db8::1', port: 5000 }, 6)).toBe(false);
  });
});
