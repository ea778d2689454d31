/**
 * A short coverage-guided run of every fuzz target (the long one is `npm run fuzz`): catches a
 * parser regression that a few thousand mutated inputs reach. Bounded by inputs and by time so the
 * whole file stays well under a minute on a loaded machine.
 */
import { describe, expect, it } from 'vitest';
import { fuzz, type Finding } from '../../fuzz/engine/fuzzer.js';
import { TARGETS } from '../../fuzz/targets/index.js';

const INPUTS = Number(process.env['PUNCHLINE_FUZZ_SMOKE_INPUTS'] ?? 4000);
const MS_PER_TARGET = 2500;

describe('fuzz smoke', () => {
  for (const target of TARGETS) {
    it(`${target.name}: ${INPUTS} inputs, no finding`, () => {
      const findings: Finding[] = [];
      const report = fuzz(target, {
        seed: 1,
        maxInputs: INPUTS,
        timeMs: MS_PER_TARGET,
        onFinding: (f) => findings.push(f),
      });
      expect(findings.map((f) => `${f.signature}\ninput ${Buffer.from(f.input).toString('hex')}`)).toEqual([]);
      expect(report.inputs).toBeGreaterThan(0);
      expect(report.blocksCovered).toBeGreaterThan(0);
    });
  }
});
