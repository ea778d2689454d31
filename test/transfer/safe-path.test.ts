/** TargetPaths builds targets by appending names: they must be exactly what join would give. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { partialPath, partialPathIn } from '../../src/transfer/partial-files.js';
import { TargetPaths } from '../../src/transfer/safe-path.js';

const base = mkdtempSync(join(tmpdir(), 'punchline-safe-path-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const name = fc.stringMatching(/^[a-z0-9._-]{1,12}$/).filter((n) => n !== '.' && n !== '..');

describe('TargetPaths', () => {
  it('final, dir and partial equal join/dirname/partialPath for any plain path under any root spelling', () => {
    const roots = [base, `${base}/`, `${base}//x/../`, '/'];
    fc.assert(
      fc.property(fc.constantFrom(...roots), fc.array(name, { minLength: 1, maxLength: 4 }), (root, parts) => {
        const path = parts.join('/');
        const { final, dir, name: last } = new TargetPaths(root).resolve(path);
        expect(final).toBe(join(root, path));
        expect(dir).toBe(join(root, ...parts.slice(0, -1)));
        expect(last).toBe(parts[parts.length - 1]);
        expect(partialPathIn(dir, last)).toBe(partialPath(final));
      }),
    );
  });

  it('still refuses unsafe paths', () => {
    const targets = new TargetPaths(base);
    for (const bad of ['../x', '/etc/passwd', 'a//b', 'a/./b', 'a\\b', ''])
      expect(() => targets.resolve(bad)).toThrow();
  });
});
