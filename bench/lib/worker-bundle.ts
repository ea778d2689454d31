/**
 * Runs a benchmark worker as plain JavaScript so that its RSS and CPU figures are the implementation's,
 * not a TypeScript loader's (tsx adds ~40 MB): esbuild (tsx's own dependency) bundles it once into
 * node_modules/.cache/punchline-bench/; tsx is the fallback. Returns the node arguments to run it.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bundleDir = path.join(root, 'node_modules', '.cache', 'punchline-bench');

export async function workerCommand(worker: string): Promise<string[]> {
  // The bundle lives under node_modules, which may be a symlink into another checkout (worktrees
  // share one): the add-on search relative to the bundle would then find THAT checkout's build. The
  // workers inherit this, so they load this checkout's add-on.
  const addon = path.join(root, 'build', 'Release', 'punchline_udp.node');
  if (process.env['PUNCHLINE_NATIVE_PATH'] === undefined && existsSync(addon))
    process.env['PUNCHLINE_NATIVE_PATH'] = addon;
  // Likewise the packet AEAD's add-on (loaded by src/node/openssl-aead.ts).
  const aead = path.join(root, 'build', 'Release', 'punchline_aead.node');
  if (process.env['PUNCHLINE_AEAD_NATIVE_PATH'] === undefined && existsSync(aead))
    process.env['PUNCHLINE_AEAD_NATIVE_PATH'] = aead;
  try {
    const esbuild = (await import('esbuild')) as typeof import('esbuild');
    // One file per run: several worktrees share node_modules (and so this cache) on a dev machine.
    const outfile = path.join(bundleDir, `${path.basename(worker, '.ts')}-${process.pid}.mjs`);
    await esbuild.build({
      entryPoints: [worker],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      // Only our TypeScript is bundled; every npm package stays an import resolved from node_modules at run
      // time (native add-ons cannot be bundled, and optional ones, such as webtransport's HTTP/3 quiche
      // transport, may be absent: a dynamic import of them must fail at run time, not at bundling).
      packages: 'external',
      logLevel: 'error',
    });
    process.on('exit', () => rmSync(outfile, { force: true }));
    return [outfile];
  } catch (error) {
    process.stderr.write(
      `note: esbuild bundling failed (${(error as Error).message}); running the worker with tsx (RSS +~40 MB)\n`,
    );
    return ['--import', 'tsx', worker];
  }
}
