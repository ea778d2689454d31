/**
 * Processes inside a lab host: `ip netns exec NS argv...` with argument arrays (no shell). `run`
 * waits and collects output; `spawn` returns a handle for long-running processes (servers, peers)
 * that the lab kills on teardown. `nodeArgv` builds the argv to run one of our TypeScript or
 * JavaScript scripts with the current Node binary (TypeScript through tsx).
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { LabError, LabErrorCode } from './errors.js';

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Kill the process (SIGKILL) after this many ms and reject with ERR_PUNCHLINE_LAB_TIMEOUT (default 30 s). */
  readonly timeoutMs?: number;
  /** Written to stdin, which is then closed. */
  readonly input?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** A running process inside a lab host. */
export class HostProcess {
  readonly child: ChildProcess;
  readonly host: string;
  /** Resolves when the process exits, with everything it printed. */
  readonly exited: Promise<RunResult>;
  #stdout = '';
  #stderr = '';

  constructor(host: string, child: ChildProcess) {
    this.host = host;
    this.child = child;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => (this.#stdout += chunk));
    child.stderr?.on('data', (chunk: string) => (this.#stderr += chunk));
    this.exited = new Promise((resolve, reject) => {
      child.once('error', (error) =>
        reject(
          new LabError(LabErrorCode.Process, `cannot start process in ${host}: ${error.message}`, { cause: error }),
        ),
      );
      child.once('close', (code, signal) => resolve({ code, signal, stdout: this.#stdout, stderr: this.#stderr }));
    });
    // A rejected `exited` nobody awaits must not crash the caller.
    this.exited.catch(() => undefined);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first stdout line matching `pattern` (e.g. a "ready" line). */
  waitForLine(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const line = this.#stdout.split('\n').find((l) => pattern.test(l));
        if (line === undefined) return false;
        cleanup();
        resolve(line);
        return true;
      };
      const onData = (): void => void check();
      const onClose = (): void => {
        if (check()) return;
        cleanup();
        reject(
          new LabError(
            LabErrorCode.Process,
            `process in ${this.host} exited before printing ${String(pattern)}: ${this.#stderr.trim()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new LabError(
            LabErrorCode.Timeout,
            `process in ${this.host} did not print ${String(pattern)} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.child.stdout?.off('data', onData);
        this.child.off('close', onClose);
      };
      if (check()) return;
      this.child.stdout?.on('data', onData);
      this.child.once('close', onClose);
    });
  }

  /** Sends `signal` (default SIGTERM) and waits for exit; SIGKILL after `graceMs`. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 2_000): Promise<RunResult> {
    if (this.running) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }
}

/** Starts `argv` inside namespace `ns`. */
export function spawnIn(
  host: string,
  ns: string,
  argv: readonly string[],
  options: Omit<RunOptions, 'timeoutMs'> = {},
): HostProcess {
  if (argv.length === 0) throw new LabError(LabErrorCode.Spec, 'empty command');
  const child = spawnChild('ip', ['netns', 'exec', ns, ...argv], {
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  return new HostProcess(host, child);
}

/** Runs `argv` inside `ns` to completion; never rejects for a non-zero exit (see `code`). */
export async function runIn(
  host: string,
  ns: string,
  argv: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const process_ = spawnIn(host, ns, argv, options);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      process_.child.kill('SIGKILL');
      reject(
        new LabError(LabErrorCode.Timeout, `'${argv.join(' ')}' in ${host} did not finish within ${timeoutMs} ms`),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([process_.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts a daemon (miniupnpd, the lab's STUN server) inside `ns` with stdout and stderr appended to
 * `logFile`, unreferenced so that it never keeps this process alive: a persistent lab's daemons
 * outlive `punchline lab up` (then in their own session, `detached`). Namespace teardown kills them.
 */
export function spawnDaemon(
  ns: string,
  argv: readonly string[],
  logFile: string,
  detached: boolean,
): number | undefined {
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawnChild('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', fd, fd], detached });
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Resolves once `logFile` contains `pattern`; rejects with its last lines when `timeoutMs` passes. */
export async function waitForLog(logFile: string, pattern: RegExp, timeoutMs: number, what: string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    try {
      text = readFileSync(logFile, 'utf8');
    } catch {
      text = '';
    }
    if (pattern.test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const tail = text.trim().split('\n').slice(-5).join(' | ');
  throw new LabError(LabErrorCode.Timeout, `${what} did not log ${String(pattern)} within ${timeoutMs} ms: ${tail}`);
}

/** Runs `argv` inside `ns` with this terminal's stdin/stdout/stderr; resolves with its exit code. */
export function runInteractive(ns: string, argv: readonly string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawnChild('ip', ['netns', 'exec', ns, ...argv], {
      stdio: 'inherit',
      ...(env === undefined ? {} : { env }),
    });
    child.once('error', (error) =>
      reject(new LabError(LabErrorCode.Process, `cannot run ${argv.join(' ')}: ${error.message}`, { cause: error })),
    );
    child.once('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + signalNumber(signal))));
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 1;
}

/** argv running `script` (a .ts or .js path) with this Node binary; .ts goes through tsx. */
export function nodeArgv(script: string, args: readonly string[] = []): string[] {
  if (script.endsWith('.ts') || script.endsWith('.mts')) {
    return [process.execPath, '--import', tsxLoaderUrl(), script, ...args];
  }
  return [process.execPath, script, ...args];
}

function tsxLoaderUrl(): string {
  try {
    const require = createRequire(import.meta.url);
    return pathToFileURL(require.resolve('tsx')).href;
  } catch (error) {
    throw new LabError(LabErrorCode.Unavailable, 'running a TypeScript script in a lab host needs the tsx package', {
      cause: error,
    });
  }
}
