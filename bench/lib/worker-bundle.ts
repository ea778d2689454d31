/**
 * Runs a benchmark worker as plain JavaScript so that its RSS and CPU figures are the implementation's,
 * not a TypeScript loader's (tsx adds ~40 MB): esbuild (tsx's own dependency) bundles it once into
 * node_modules/.cache/punchline-bench/; tsx is the fallback. Returns the node arguments to run it.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bundleDir = path.join(root, 'node_modules', '.cache', 'punchline-bench');

export async function workerCommand(worker: string): Promise<string[]> {
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
