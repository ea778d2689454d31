/**
 * Which native add-ons scripts/build-native.mjs builds, and what it says about each: the decision logic,
 * without I/O (the caller passes how to run one node-gyp build and how to check for a built add-on), so
 * that test/scripts/native-plan.test.ts can drive it with failing builds.
 *
 * The two add-ons are targets of one binding.gyp, so one `node-gyp rebuild` compiles both and a compile
 * error in either fails it. Both are optimisations with a JS fallback (punchline_udp → node:dgram,
 * punchline_aead → libsodium), so a failure of one must not cost the other: after a failed combined build
 * each add-on is built alone (the gyp variables punchline_udp / punchline_aead switch a target off), and
 * the report has one line per add-on, built or not, with the reason.
 */

/** The add-ons, in binding.gyp order: the gyp variable that switches each off, and what runs without it. */
export const ADDONS = [
  { name: 'punchline_udp', label: 'native UDP add-on', fallback: 'node:dgram' },
  { name: 'punchline_aead', label: 'OpenSSL AEAD add-on', fallback: 'libsodium' },
];

/** Extra gyp arguments building exactly the add-ons named in `only`. */
function gypArgs(only, env) {
  const args = ADDONS.filter((addon) => !only.includes(addon.name)).map((addon) => `-D${addon.name}=0`);
  if (env.PUNCHLINE_NATIVE_FAIL_AEAD === '1') args.push('-Dpunchline_aead_fail=1');
  return args;
}

/**
 * Builds what can be built. `run(gypArgs)` performs one rebuild (it starts from a clean build/) and
 * returns { ok, why }; `built(name)` says whether build/Release/<name>.node exists after it. Returns one
 * result per add-on: { name, label, fallback, built, why } (why: null when built), and the attempts made.
 *
 * Order: both together (one compile, the usual case); if that does not give both, the UDP add-on alone
 * (it matters most), and the AEAD alone only when the UDP add-on failed alone too: a rebuild starts from
 * a clean build/, so the last rebuild must be the one whose add-on is kept. PUNCHLINE_SKIP_AEAD=1
 * builds the UDP add-on only.
 */
export function planBuild({ run, built, env }) {
  const attempts = [];
  const attempt = (only) => {
    const result = run(gypArgs(only, env));
    attempts.push({ only, ok: result.ok, why: result.why ?? null });
    return result;
  };
  const reason = (result, name) =>
    result.ok ? `node-gyp succeeded but build/Release/${name}.node is missing` : result.why;
  const why = new Map();
  const skipAead = env.PUNCHLINE_SKIP_AEAD === '1';
  if (skipAead) why.set('punchline_aead', 'PUNCHLINE_SKIP_AEAD=1');

  let have;
  const together = attempt(skipAead ? ['punchline_udp'] : ['punchline_udp', 'punchline_aead']);
  if (skipAead) {
    have = built('punchline_udp') ? ['punchline_udp'] : [];
    if (have.length === 0) why.set('punchline_udp', reason(together, 'punchline_udp'));
  } else if (built('punchline_udp') && built('punchline_aead')) {
    have = ['punchline_udp', 'punchline_aead'];
  } else {
    const udp = attempt(['punchline_udp']);
    if (built('punchline_udp')) {
      have = ['punchline_udp'];
      why.set('punchline_aead', reason(together, 'punchline_aead'));
    } else {
      why.set('punchline_udp', reason(udp, 'punchline_udp'));
      const aead = attempt(['punchline_aead']);
      have = built('punchline_aead') ? ['punchline_aead'] : [];
      if (have.length === 0) why.set('punchline_aead', reason(aead, 'punchline_aead'));
    }
  }
  const results = ADDONS.map((addon) => ({
    ...addon,
    built: have.includes(addon.name),
    why: have.includes(addon.name) ? null : (why.get(addon.name) ?? 'not built'),
  }));
  return { results, attempts };
}

/** One line per add-on, for the install log. */
export function reportLines(results) {
  return results.map((result) =>
    result.built
      ? `punchline: ${result.label} built (build/Release/${result.name}.node)`
      : `punchline: ${result.label} not built (${result.why}); using ${result.fallback}`,
  );
}
