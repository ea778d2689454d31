#!/usr/bin/env node
/**
 * Builds the native UDP add-on (binding.gyp → build/Release/punchline_udp.node) with node-gyp.
 * Run by the package's `install` script and by `npm run build:native`.
 *
 * The add-on is an optimisation: without it punchline uses node:dgram. So this never fails the
 * install: on another OS, without a compiler, or when node-gyp fails, it prints one warning line and
 * exits 0. Set PUNCHLINE_SKIP_NATIVE=1 to skip the build; PUNCHLINE_NATIVE_VERBOSE=1 to see
 * node-gyp's output.
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

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.env.PUNCHLINE_NATIVE_VERBOSE === '1';

function skip(reason) {
  console.warn(`punchline: native UDP add-on not built (${reason}); using node:dgram`);
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
const args = [...gyp.args, 'rebuild', '--release'];
if (dir) args.push(`--nodedir=${dir}`);
const started = Date.now();
const result = spawnSync(gyp.command, args, {
  cwd: root,
  encoding: 'utf8',
  stdio: verbose ? 'inherit' : 'pipe',
  timeout: 5 * 60_000,
  env: { ...process.env, npm_config_loglevel: process.env.npm_config_loglevel ?? 'warn' },
});

const built = path.join(root, 'build', 'Release', 'punchline_udp.node');
if (result.error || result.status !== 0 || !existsSync(built)) {
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
  skip(`${why}; PUNCHLINE_NATIVE_VERBOSE=1 npm run build:native shows the full log`);
}
console.log(
  `punchline: native UDP add-on built (${path.relative(root, built)}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
