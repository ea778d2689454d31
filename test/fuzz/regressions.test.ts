/**
 * Every input a fuzzer run ever found a problem with (fuzz/regressions/<target>/*.bin) runs through
 * its target again: none may throw. A new finding is fixed, then its input is copied here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { targetByName } from '../../fuzz/targets/index.js';

const ROOT = fileURLToPath(new URL('../../fuzz/regressions/', import.meta.url));

describe('fuzz regressions', () => {
  const targets = readdirSync(ROOT);
  it('has regression inputs', () => {
    expect(targets.length).toBeGreaterThan(0);
  });
  for (const name of targets) {
    for (const file of readdirSync(join(ROOT, name))) {
      it(`${name}/${file} no longer fails`, () => {
        const input = Uint8Array.from(readFileSync(join(ROOT, name, file)));
        expect(() => targetByName(name).run(input)).not.toThrow();
      });
    }
  }
});
