/**
 * Stateful fuzzing smoke (the long run is `npm run fuzz:stateful`): a hostile peer holding the keys
 * sends adversarial frame sequences; nothing escapes the victim endpoint, memory stays bounded, the
 * RFC 9000 error code is the one sent, and a legitimate connection on the same endpoint still works.
 */
import { describe, expect, it } from 'vitest';
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
