import { parseArgs, type ParseArgsConfig } from 'node:util';

/** What node:util parseArgs returns for a given configuration. */
export type ParsedCommandLine<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/**
 * Parses a subcommand's flags the same way for every command: a usage error prints the message and
 * the command's help to stderr (exit code 2), `--help` prints the help to stdout (exit code 0).
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
    process.stderr.write(`punchline ${command}: ${(error as Error).message}\n${help}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    process.stdout.write(help);
    return 0;
  }
  return parsed;
}
