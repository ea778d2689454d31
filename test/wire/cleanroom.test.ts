import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Clean-room check of spec/wire.md: an independent Python decoder, written from the spec alone,
// must decode every vector in spec/vectors/wire-{frames,packets}.json (see cleanroom/decode.py).
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = 'test/wire/cleanroom/decode.py';
const probe = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const hasPython = probe.error === undefined && probe.status === 0;
const skipReason = 'skipped: python3 not found on PATH';

describe('spec/wire.md clean-room decoder', () => {
  it.skipIf(!hasPython)(
    hasPython ? 'decodes every wire vector from the spec alone' : skipReason,
    () => {
      const run = spawnSync('python3', [script], { cwd: root, encoding: 'utf8', timeout: 15_000 });
      expect(run.error).toBeUndefined();
      const out = `${run.stdout}${run.stderr}`;
      expect(out).toMatch(/^\d+ passed, \d+ failed$/m);
      expect(run.status, out).toBe(0);
    },
    20_000,
  );
});
