#!/usr/bin/env node
/**
 * Builds the native add-ons (binding.gyp → build/Release/punchline_udp.node and punchline_aead.node)
 * with node-gyp. Run by the package's `install` script and by `npm run build:native`.
 *
 * The add-ons are optimisations: without punchline_udp punchline uses node:dgram, without
 * punchline_aead libsodium. So this never fails the install: on another OS, without a compiler, or when
 * node-gyp fails, it prints one line per add-on (built, or not and why) and exits 0. When the combined
 * build fails, each add-on is retried alone (scripts/native-plan.mjs), so a Node without OpenSSL headers
 * still gets the UDP add-on. Set PUNCHLINE_SKIP_NATIVE=1 to skip the build, PUNCHLINE_SKIP_AEAD=1 to
 * build the UDP add-on only, PUNCHLINE_NATIVE_FAIL_AEAD=1 to make the AEAD fail to compile (tests the
 * retry); PUNCHLINE_NATIVE_VERBOSE=1 to see node-gyp's output.
 *
 * Offline: node-gyp downloads Node's headers unless it is given a `nodedir`. npm's own `nodedir`
 * setting (npm_config_nodedir in lifecycle scripts) is used when set; otherwise, when the running
 * Node was installed with its headers (<prefix>/include/node/node_api.h and common.gypi, as distro
 * and official tarball installs have), that prefix is passed, so no download is attempted.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDONS, planBuild, reportLines } from './native-plan.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.env.PUNCHLINE_NATIVE_VERBOSE === '1';

function skip(reason) {
  for (const addon of ADDONS) console.warn(`punchline: ${addon.label} not built (${reason}); using ${addon.fallback}`);
  process.exit(0);
}

if (process.env.PUNCHLINE_SKIP_NATIVE === '1') skip('PUNCHLINE_SKIP_NATIVE=1');
if (process.platform !== 'linux') skip(`it is Linux-only; this is ${process.platform}`);
if (!existsSync(path.join(root, 'binding.gyp'))) skip('binding.gyp is missing');

/** Node's headers without a download: npm's nodedir, else the prefix the running node came from. */
function nodedir() {
  const configured = process.env.npm_config_nodedir;
  if (configured) return configured;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const headers = path.join(prefix, 'include', 'node');
  if (existsSync(path.join(headers, 'node_api.h')) && existsSync(path.join(headers, 'common.gypi'))) return prefix;
  return null;
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

/**
 * How to run node-gyp, in order: npm's own (npm_config_node_gyp, set in lifecycle scripts), the one
 * npm bundles next to the running npm or node, then a node-gyp on PATH. Never `npm exec node-gyp`:
 * that could download a package at install time, outside package-lock.json.
 */
function nodeGyp() {
  const scripts = [];
  if (process.env.npm_config_node_gyp) scripts.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    scripts.push(
      path.resolve(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    );
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  scripts.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  scripts.push(
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  );
  try {
    scripts.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency: fine
  }
  const script = scripts.find((file) => file.endsWith('.js') && existsSync(file));
  if (script) return { command: process.execPath, args: [script], label: script };
  const bin = onPath('node-gyp');
  if (bin) return { command: bin, args: [], label: bin };
  return null;
}

const gyp = nodeGyp();
if (!gyp) skip('node-gyp not found');
const dir = nodedir();
const started = Date.now();

/** One `node-gyp rebuild` with extra gyp variables; { ok, why } with the most telling error line. */
function run(gypArgs) {
  const args = [...gyp.args, 'rebuild', '--release'];
  if (dir) args.push(`--nodedir=${dir}`);
  if (gypArgs.length > 0) args.push('--', ...gypArgs);
  const result = spawnSync(gyp.command, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: verbose ? 'inherit' : 'pipe',
    timeout: 5 * 60_000,
    env: { ...process.env, npm_config_loglevel: process.env.npm_config_loglevel ?? 'warn' },
  });
  if (!result.error && result.status === 0) return { ok: true };
  const output = `${result.stderr ?? ''}\n${result.stdout ?? ''}`;
  // The most telling line: the compiler's or gyp's first error, else the failure itself.
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const first =
    lines.find(
      (line) =>
        /\berror\b/i.test(line) && !/^gyp (ERR!|info) (stack|cwd|node -v|node-gyp -v|command|System|not ok)/.test(line),
    ) ?? lines.at(-1);
  const why = result.error
    ? result.error.message
    : `node-gyp exited with ${result.status ?? result.signal}${first ? `: ${first.slice(0, 200)}` : ''}`;
  return { ok: false, why: `${why}; PUNCHLINE_NATIVE_VERBOSE=1 npm run build:native shows the full log` };
}

const { results, attempts } = planBuild({
  run,
  built: (name) => existsSync(path.join(root, 'build', 'Release', `${name}.node`)),
  env: process.env,
});
const lines = reportLines(results);
for (const [i, line] of lines.entries()) (results[i]?.built ? console.log : console.warn)(line);
console.log(
  `punchline: native build: ${attempts.length} node-gyp run(s), ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
