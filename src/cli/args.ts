import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * Flags the client commands (listen, connect, send, receive) spell and parse the same way: one
 * definition, spread into each command's option table.
 */
export const CLIENT_FLAGS = {
  /** Rendezvous server address (server-option.ts; default $PUNCHLINE_SERVER). */
  server: { type: 'string' },
  /** Events as JSON lines on stderr. */
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Flags of the commands that run a peer under its own identity (listen, connect). */
export const PEER_FLAGS = {
  /** Identity file. */
  key: { type: 'string' },
  /** Ask the gateway for a port mapping. */
  portmap: { type: 'boolean', default: false },
} as const;

/** What node:util parseArgs returns for a given configuration. */
export type ParsedCommandLine<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/**
 * Parses a subcommand's flags the same way for every command: a usage error prints one line to
 * stderr (exit code 2), `--help` prints the help to stdout (exit code 0).
 * Returns the parsed flags, or the exit code when the command should stop here.
 */
export function parseCommandLine<T extends ParseArgsConfig & { options: { help: { type: 'boolean' } } }>(
  command: string,
  help: string,
  config: T,
): ParsedCommandLine<T> | number {
  let parsed: ParsedCommandLine<T>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    // One line (the brief's CLI rule); parseArgs' advice about '--' is not what our users need.
    const message = ((error as Error).message.split('\n')[0] ?? '').replace(
      /\. To specify a positional argument.*$/,
      '',
    );
    process.stderr.write(`punchline ${command}: ${message} (see 'punchline ${command} --help')\n`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    process.stdout.write(help);
    return 0;
  }
  return parsed;
}
