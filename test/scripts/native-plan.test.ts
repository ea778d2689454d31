/**
 * The build script's decisions (scripts/native-plan.mjs): a failing add-on never costs the other, and
 * every add-on gets one report line, built or not with the reason. node-gyp is simulated: `run` builds
 * the add-ons the gyp arguments leave on, minus those told to fail.
 */
import { describe, expect, it } from 'vitest';
import { planBuild, reportLines } from '../../scripts/native-plan.mjs';

type Name = 'punchline_udp' | 'punchline_aead';

/** A fake node-gyp: each rebuild wipes build/, then compiles the enabled targets; one failure fails it. */
function fakeGyp(failing: readonly Name[]) {
  let present = new Set<Name>();
  const calls: string[][] = [];
  return {
    calls,
    run(gypArgs: string[]) {
      calls.push(gypArgs);
      present = new Set();
      const enabled = (['punchline_udp', 'punchline_aead'] as const).filter((name) => !gypArgs.includes(`-D${name}=0`));
      const forced = gypArgs.includes('-Dpunchline_aead_fail=1');
      const broken = enabled.filter((name) => failing.includes(name) || (forced && name === 'punchline_aead'));
      if (broken.length > 0) return { ok: false, why: `${broken[0]}.c: error` };
      for (const name of enabled) present.add(name);
      return { ok: true };
    },
    built: (name: string) => present.has(name as Name),
  };
}

describe('native build plan', () => {
  it('builds both in one run when both compile', () => {
    const gyp = fakeGyp([]);
    const { results, attempts } = planBuild({ ...gyp, env: {} });
    expect(attempts).toHaveLength(1);
    expect(gyp.calls[0]).toEqual([]);
    expect(results.map((r) => r.built)).toEqual([true, true]);
    expect(reportLines(results)).toEqual([
      'punchline: native UDP add-on built (build/Release/punchline_udp.node)',
      'punchline: OpenSSL AEAD add-on built (build/Release/punchline_aead.node)',
    ]);
  });

  it('keeps the UDP add-on when the AEAD fails to compile, and says why', () => {
    const gyp = fakeGyp(['punchline_aead']);
    const { results } = planBuild({ ...gyp, env: {} });
    expect(gyp.calls).toEqual([[], ['-Dpunchline_aead=0']]);
    expect(gyp.built('punchline_udp')).toBe(true);
    expect(results.map((r) => [r.built, r.why])).toEqual([
      [true, null],
      [false, 'punchline_aead.c: error'],
    ]);
    expect(reportLines(results)[1]).toBe(
      'punchline: OpenSSL AEAD add-on not built (punchline_aead.c: error); using libsodium',
    );
  });

  it('keeps the AEAD when the UDP add-on fails, the last rebuild being the AEAD alone', () => {
    const gyp = fakeGyp(['punchline_udp']);
    const { results } = planBuild({ ...gyp, env: {} });
    expect(gyp.calls).toEqual([[], ['-Dpunchline_aead=0'], ['-Dpunchline_udp=0']]);
    expect(gyp.built('punchline_aead')).toBe(true);
    expect(results.map((r) => r.built)).toEqual([false, true]);
    expect(reportLines(results)[0]).toBe(
      'punchline: native UDP add-on not built (punchline_udp.c: error); using node:dgram',
    );
  });

  it('reports both when neither compiles', () => {
    const gyp = fakeGyp(['punchline_udp', 'punchline_aead']);
    const { results, attempts } = planBuild({ ...gyp, env: {} });
    expect(attempts.map((a) => a.ok)).toEqual([false, false, false]);
    expect(results.map((r) => [r.built, r.why])).toEqual([
      [false, 'punchline_udp.c: error'],
      [false, 'punchline_aead.c: error'],
    ]);
  });

  it('PUNCHLINE_NATIVE_FAIL_AEAD=1 reaches the compiler and takes the retry path', () => {
    const gyp = fakeGyp([]);
    const { results } = planBuild({ ...gyp, env: { PUNCHLINE_NATIVE_FAIL_AEAD: '1' } });
    expect(gyp.calls[0]).toEqual(['-Dpunchline_aead_fail=1']);
    expect(results.map((r) => r.built)).toEqual([true, false]);
  });

  it('PUNCHLINE_SKIP_AEAD=1 builds the UDP add-on alone in one run', () => {
    const gyp = fakeGyp([]);
    const { results, attempts } = planBuild({ ...gyp, env: { PUNCHLINE_SKIP_AEAD: '1' } });
    expect(attempts).toHaveLength(1);
    expect(gyp.calls[0]).toEqual(['-Dpunchline_aead=0']);
    expect(results.map((r) => [r.built, r.why])).toEqual([
      [true, null],
      [false, 'PUNCHLINE_SKIP_AEAD=1'],
    ]);
  });
});
