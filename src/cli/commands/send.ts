/** `punchline send PATH...`: print a code, wait for `punchline receive CODE`, send the files. */
import { PunchlineError } from '../../errors.js';
import type { ServerAddress } from '../../traversal/rendezvous/server-address.js';
import { sendByCode, type ServerOptions } from '../../transfer/code-session.js';
import { buildManifest, offerTotals } from '../../transfer/manifest.js';
import { TransferReporter, formatBytes } from '../../transfer/reporter.js';
import { CLIENT_FLAGS, parseCommandLine } from '../args.js';
import { SERVER_ENV, serverFromOptions } from '../server-option.js';
import { onSignals } from './listen.js';
import { INTERRUPTED_ERROR_CODE } from '../../transfer/errors.js';

export const summary = 'send files or directories to whoever types the printed code (croc-style)';

const HELP = `usage: punchline send PATH... [--server ADDR] [--words 2|3] [--streams N] [--json]

Prints a one-time code such as 7-acid-acorn and waits. On the other machine,
'punchline receive 7-acid-acorn' gets the files. The code is used once: a wrong guess or a
second receiver burns it. The server sees neither the files nor the keys (spec/transfer.md).

options:
  --server ADDR   rendezvous server, punchline://KEY@HOST:PORT?wt=PORT  (env PUNCHLINE_SERVER)
  --words N       words in the code, 2 (default) or 3
  --streams N     files over 64 KiB in flight at once, 1..16 (default 8;
                  smaller files share one stream of their own)
  --json          JSON lines on stderr: {"event":"code",...}, "progress", "done" or "error"
  -h, --help      this help

environment:
  PUNCHLINE_SERVER                default for --server

exit status: 0 sent, 1 failed (wrong code, receiver declined, network, file error, Ctrl-C),
2 usage error. Ctrl-C closes the connection (the receiver stops at once, keeping its partial files);
a second Ctrl-C exits without waiting.
`;

/** --server / PUNCHLINE_SERVER (required here: the code is exchanged there), or a usage message. */
export function serverOptions(flag: string | undefined): ServerOptions | string {
  let server: ServerAddress | null;
  try {
    server = serverFromOptions(flag, process.env);
  } catch (error) {
    return (error as Error).message;
  }
  if (!server) return `--server ADDR (or ${SERVER_ENV}) is required: the address \`punchline server\` prints`;
  return { server };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('send', HELP, {
    args: argv,
    options: {
      ...CLIENT_FLAGS,
      words: { type: 'string', default: '2' },
      streams: { type: 'string', default: '8' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const usage = (message: string): number => {
    process.stderr.write(`punchline send: ${message}\n`);
    return 2;
  };
  if (positionals.length === 0) return usage('nothing to send: give one or more files or directories');
  if (values.words !== '2' && values.words !== '3') return usage('--words must be 2 or 3');
  const streams = Number(values.streams);
  if (!/^\d+$/.test(values.streams) || streams < 1 || streams > 16) return usage('--streams must be 1..16');
  const server = serverOptions(values.server);
  if (typeof server === 'string') return usage(server);

  const reporter = new TransferReporter({ json: values.json, verb: 'sent' });
  // Ctrl-C (or SIGTERM): the connection closes, so the receiver learns at once; a second one exits.
  const interrupt = new AbortController();
  const stopSignals = onSignals(() => interrupt.abort());
  try {
    const entries = buildManifest(positionals);
    const totals = offerTotals(entries);
    const result = await sendByCode({
      ...server,
      entries,
      words: Number(values.words),
      streams,
      onCode: (code) => {
        if (values.json) reporter.event({ event: 'code', code, files: totals.files, bytes: totals.bytes });
        else {
          process.stdout.write(`${code}\n`);
          reporter.line(
            `sending ${totals.files} file${totals.files === 1 ? '' : 's'} (${formatBytes(totals.bytes)}); ` +
              `on the other machine run:\n  punchline receive ${code}`,
          );
        }
      },
      onConnected: (path) => reporter.connected(path),
      onPath: (path) => reporter.pathChanged(path),
      onProgress: (progress) => reporter.progress(progress),
      signal: interrupt.signal,
    });
    reporter.done(result);
    return 0;
  } catch (error) {
    if (interrupt.signal.aborted) reporter.error('send', { code: INTERRUPTED_ERROR_CODE, message: 'interrupted' });
    else reporter.error('send', error instanceof PunchlineError ? error : { message: (error as Error).message });
    return 1;
  } finally {
    stopSignals();
  }
}
