/**
 * An Endpoint bound with a rendezvous server behind a NAT that forgets idle mappings after 5 s
 * measures that lifetime by itself in the background (RFC 5780 §4.6 against the server's STUN
 * service), with default options; `measureBindingLifetime: false` turns it off.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('paths-lifetime-default.test.ts');

const PEER = fileURLToPath(new URL('../node/fixtures/lifetime-peer.ts', import.meta.url));

describe.skipIf(!labAvailable)('background binding-lifetime measurement (lab)', () => {
  let lab: Lab;
  const labs = new LabGuard();
  beforeAll(async () => {
    lab = await labs.track(
      Lab.up(
        { name: labName('paths-lt'), servers: 1, sites: [{ name: 'a', profile: 'easy', udpTimeout: 5 }] },
        { server: true },
      ),
    );
  }, 120_000);
  afterAll(async () => {
    await labs.down();
  }, 60_000);

  const lastJson = (out: string): Record<string, unknown> =>
    JSON.parse(
      out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .at(-1) as string,
    );

  it('behind a 5 s NAT, bind({ server }) alone learns the lifetime within a minute', async () => {
    const started = performance.now();
    const r = await lab.runNode('a-host1', PEER, [lab.serverAddress as string, '60000'], { timeoutMs: 90_000 });
    const lifetime = lastJson(r.stdout)['lifetime'] as { aliveMs: number; expiredMs: number | null } | null;
    expect(lifetime).not.toBeNull();
    expect(lifetime!.aliveMs).toBeGreaterThanOrEqual(2_000);
    expect(lifetime!.aliveMs).toBeLessThan(5_500);
    expect(lifetime!.expiredMs).toBeGreaterThanOrEqual(4_500);
    expect(lifetime!.expiredMs).toBeLessThanOrEqual(8_000);
    expect(performance.now() - started).toBeLessThan(60_000);
  }, 120_000);

  it('measureBindingLifetime: false does not measure', async () => {
    // 45 s: longer than a measurement behind this 5 s NAT takes (trials of 2, 4 and 8 s, then bisection
    // at 1 s resolution: about 30 s), so a null here means it did not run, not that it was not done yet.
    const r = await lab.runNode('a-host1', PEER, [lab.serverAddress as string, '45000', '--no-measure'], {
      timeoutMs: 80_000,
    });
    expect(lastJson(r.stdout)['lifetime']).toBeNull();
  }, 110_000);
});
