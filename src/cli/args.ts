import { parseArgs, type ParseArgsConfig } from 'node:util';

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
