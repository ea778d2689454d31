/** bench:portmap's command line: --help (exit 0), usage errors (exit 2), as the other benches. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BENCH = fileURLToPath(new URL('../../bench/portmap.ts', import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', BENCH, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('bench:portmap command line', () => {
  it('--help prints the usage line and exits 0', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run bench:portmap -- \[--samples 10\] \[--only pcp,pmp,upnp,all\]\n$/);
  });

  it('an unknown option, an unknown site or a bad sample count is a usage error: exit 2, one line why', () => {
    for (const args of [['--bogus'], ['--only', 'pcp,nope'], ['--samples', '0']]) {
      const r = run(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^bench:portmap: .+\nusage: /);
      expect(r.stdout).toBe('');
    }
  });
});
