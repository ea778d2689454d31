/**
 * Runs system commands (`ip`, `nft`, `tc`, `sysctl`, ...) with argument arrays — never through a
 * shell — and turns a non-zero exit into a typed LabCommandError carrying stderr.
 */
import { execFile, execFileSync } from 'node:child_process';
import { LabCommandError } from './errors.js';

export interface ExecOptions {
  /** Written to the command's stdin (e.g. an nftables ruleset for `nft -f -`). */
  readonly input?: string;
  /** Kill the command after this many milliseconds (default 15 s). */
  readonly timeoutMs?: number;
}

/** Runs `argv[0]` with `argv.slice(1)`; resolves with stdout, rejects with LabCommandError. */
export function exec(argv: readonly string[], options: ExecOptions = {}): Promise<string> {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('exec: empty argv');
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { encoding: 'utf8', timeout: options.timeoutMs ?? 15_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === 'number' ? error.code : null;
          reject(new LabCommandError(argv, code, stderr || error.message, { cause: error }));
        } else {
          resolve(stdout);
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Synchronous variant, only for cleanup inside a process 'exit' handler. Never throws. */
export function execQuietSync(argv: readonly string[]): boolean {
  const [file, ...args] = argv;
  if (file === undefined) return false;
  try {
    execFileSync(file, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Runs `argv` inside network namespace `ns` (`ip netns exec NS ...`). */
export function execIn(ns: string, argv: readonly string[], options: ExecOptions = {}): Promise<string> {
  return exec(['ip', 'netns', 'exec', ns, ...argv], options);
}

/**
 * Sets sysctls inside namespace `ns` (everything under net.* is per network namespace). Writes the
 * /proc/sys files with `tee` run inside the namespace — one process per distinct value, and no
 * dependency on procps' `sysctl`.
 */
export async function sysctlIn(ns: string, values: Readonly<Record<string, string | number>>): Promise<void> {
  const byValue = new Map<string, string[]>();
  for (const [key, value] of Object.entries(values)) {
    const files = byValue.get(String(value)) ?? [];
    files.push(`/proc/sys/${key.replaceAll('.', '/')}`);
    byValue.set(String(value), files);
  }
  for (const [value, files] of byValue) await execIn(ns, ['tee', ...files], { input: `${value}\n` });
}
