#!/usr/bin/env node
/**
 * `punchline` command-line entry. Each subcommand lives in its own module under src/cli/commands/
 * and exports `run(argv: string[]): Promise<number>` (the exit code) and `summary` (one line of help).
 * Modules are loaded lazily so that `punchline --help` stays fast and one command's dependencies
 * (e.g. the WebTransport server) are not loaded by another.
 */
import { createRequire } from 'node:module';
import { PunchlineError } from '../errors.js';

interface CommandModule {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
  /**
   * Exit as soon as run() resolves instead of when the event loop drains: for commands whose work is
   * done when they return but whose network objects may take seconds to wind down (a connection
   * whose peer is gone). Their stdout/stderr are synchronous on Linux pipes and files.
   */
  readonly exitWhenDone?: boolean;
}

const commands: Record<string, () => Promise<CommandModule>> = {
  // name: () => import('./commands/name.js'),  (one line per command; see the module contract above)
  server: () => import('./commands/server.js'),
  lab: () => import('./commands/lab.js'),
  keygen: () => import('./commands/keygen.js'),
  id: () => import('./commands/id.js'),
  demo: () => import('./commands/demo.js'),
  'stun-server': () => import('./commands/stun-server.js'),
  'nat-check': () => import('./commands/nat-check.js'),
  send: () => import('./commands/send.js'),
  receive: () => import('./commands/receive.js'),
  listen: () => import('./commands/listen.js'),
  connect: () => import('./commands/connect.js'),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`punchline ${version()}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await printHelp();
    return name === undefined ? 1 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`punchline: unknown command '${name}'. Run 'punchline --help'.\n`);
    return 2;
  }
  const command = await load();
  const code = await command.run(rest);
  if (command.exitWhenDone === true) process.exit(code);
  return code;
}

/** The package version (package.json sits two levels up from both src/cli and dist/cli). */
function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

async function printHelp(): Promise<void> {
  const lines = [`usage: punchline <command> [options]      (punchline ${version()}; --version)`, '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) {
    const { summary } = await load();
    lines.push(`  ${name.padEnd(14)}${summary}`);
  }
  lines.push('', "Run 'punchline <command> --help' for a command's options.");
  process.stdout.write(lines.join('\n') + '\n');
}

// Output piped into a reader that stops early (`punchline demo | head`) is not an error of ours:
// end quietly like other command-line tools instead of dying on an unhandled EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof PunchlineError) {
      process.stderr.write(`punchline: ${error.message} (${error.code})\n`);
    } else {
      // One line, never a stack trace (PUNCHLINE_DEBUG=1 shows it): e.g. a file system error.
      const text = error instanceof Error ? error.message : String(error);
      const debug = process.env['PUNCHLINE_DEBUG'] === '1' && error instanceof Error;
      process.stderr.write(`punchline: ${debug ? error.stack : text.split('\n')[0]}\n`);
    }
    process.exitCode = 1;
  },
);
