/** `punchline receive CODE`: join the sender's code, confirm, receive into --out (resumable). */
import { createInterface } from 'node:readline/promises';
import { PunchlineError } from '../../errors.js';
import { receiveByCode } from '../../transfer/code-session.js';
import type { OfferSummary } from '../../transfer/receiver.js';
import { TransferReporter, formatBytes } from '../../transfer/reporter.js';
import { CLIENT_FLAGS, parseCommandLine } from '../args.js';
import { serverOptions } from './send.js';
import { onSignals } from './listen.js';
import { INTERRUPTED_ERROR_CODE } from '../../transfer/errors.js';

export const summary = 'receive what `punchline send` offers under a code; resumes partial files';

const HELP = `usage: punchline receive CODE [--out DIR] [--yes] [--overwrite] [--server ADDR] [--json]

Joins the transfer the sender's code names, checks that both sides typed the same code (CPace),
shows what is offered and asks before writing anything. Every chunk and file is checked (BLAKE2b)
before it is renamed into place. Interrupted? Run the same command again with the same --out:
complete files are skipped, partial ones continue after their verified part (the sender must run
'punchline send' again, which prints a new code).

options:
  --out DIR       where to put the files (default: the current directory)
  --yes           do not ask before receiving
  --overwrite     replace existing files that differ (default: refuse)
  --server ADDR   rendezvous server, punchline://KEY@HOST:PORT?wt=PORT  (env PUNCHLINE_SERVER)
  --json          JSON lines on stderr: "connected", "offer", "progress", "done" or "error"
  -h, --help      this help

exit status: 0 received, 1 failed (wrong or used code, declined, hostile or broken sender, disk
full, permission denied, Ctrl-C — partial files are kept for resume), 2 usage error.
Ctrl-C closes the connection (the sender stops at once); a second Ctrl-C exits without waiting.
`;

async function ask(offer: OfferSummary, signal: AbortSignal): Promise<boolean> {
  const present = offer.bytesPresent > 0 ? `, ${formatBytes(offer.bytesPresent)} already here` : '';
  const replacing = offer.replacing > 0 ? `, replacing ${offer.replacing}` : '';
  const question =
    `receive ${offer.files} file${offer.files === 1 ? '' : 's'} (${formatBytes(offer.bytes)}${present}${replacing}) ` +
    `into ${offer.out}? [y/N] `;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  // Ctrl-C (a signal: at a TTY prompt readline closes instead) or SIGTERM while asking: no answer.
  const onAbort = (): void => rl.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const closed = new Promise<string>((resolve) => rl.once('close', () => resolve('')));
    const answer = await Promise.race([rl.question(question), closed]);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    signal.removeEventListener('abort', onAbort);
    rl.close();
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('receive', HELP, {
    args: argv,
    options: {
      ...CLIENT_FLAGS,
      out: { type: 'string', default: '.' },
      yes: { type: 'boolean', short: 'y', default: false },
      overwrite: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const usage = (message: string): number => {
    process.stderr.write(`punchline receive: ${message}\n`);
    return 2;
  };
  if (positionals.length !== 1) return usage('give exactly one code, e.g. punchline receive 7-acid-acorn');
  const server = serverOptions(values.server);
  if (typeof server === 'string') return usage(server);

  const reporter = new TransferReporter({ json: values.json, verb: 'received' });
  // Ctrl-C (or SIGTERM): the connection closes, verified chunks stay in the partial files for the
  // next receive into the same --out (spec/transfer.md §Resume); a second one exits at once.
  const interrupt = new AbortController();
  const stopSignals = onSignals(() => interrupt.abort());
  try {
    const result = await receiveByCode({
      ...server,
      code: positionals[0]!,
      out: values.out,
      overwrite: values.overwrite,
      confirm: async (offer) => {
        if (values.json) {
          reporter.event({
            event: 'offer',
            files: offer.files,
            bytes: offer.bytes,
            bytesPresent: offer.bytesPresent,
            out: offer.out,
          });
        }
        return values.yes || ask(offer, interrupt.signal);
      },
      onConnected: (path) => reporter.connected(path),
      onPath: (path) => reporter.pathChanged(path),
      onProgress: (progress) => reporter.progress(progress),
      signal: interrupt.signal,
    });
    reporter.done(result);
    return 0;
  } catch (error) {
    if (interrupt.signal.aborted) {
      reporter.error('receive', {
        code: INTERRUPTED_ERROR_CODE,
        message: 'interrupted; partial files are kept: receive again into the same --out (new code) to resume',
      });
    } else {
      reporter.error('receive', error instanceof PunchlineError ? error : { message: (error as Error).message });
    }
    return 1;
  } finally {
    stopSignals();
  }
}
