/** `punchline connect`: reach a peer by its public key and join standard input/output to it (netcat style). */
import { performance } from 'node:perf_hooks';
import { isIPv6 } from 'node:net';
import { Endpoint, type BindOptions, type Connection } from '../../node/endpoint.js';
import { PunchlineError } from '../../errors.js';
import { CLIENT_FLAGS, PEER_FLAGS, parseCommandLine } from '../args.js';
import {
  closeEndpoint,
  EventSink,
  UsageError,
  formatAddress,
  loadKeyPair,
  NetcatError,
  NetcatErrorCode,
  parsePeer,
  parseSeconds,
  runSession,
} from '../netcat.js';
import { SERVER_ENV, serverFromOptions } from '../server-option.js';
import { onSignals } from './listen.js';

/** The session is over when run() returns: a connection still winding down must not hold the exit. */
export const exitWhenDone = true;

export const summary = 'connect to a peer by public key (or KEY@IP:PORT) and pipe stdin/stdout';

const HELP = `usage: punchline connect PUBLICKEY [--server ADDR] [--key FILE] [--timeout SEC] [--json]
       punchline connect PUBLICKEY@IP:PORT [--key FILE] [--timeout SEC] [--json]

Connects to the peer named by PUBLICKEY (as 'punchline listen' printed it) from behind any NAT —
through the rendezvous server, relayed at first and then direct where the NATs allow — or, in the
second form, straight to IP:PORT with no server. Standard input goes to the peer, what the peer
sends comes out on standard output (binary-safe: 'tar c dir | punchline connect KEY' works). End
of input ends our side; the command exits 0 once both sides ended their data.

options:
  --server ADDR   rendezvous server address (punchline://…); default: $${SERVER_ENV}
  --key FILE      identity file (default: ~/.punchline/identity, else a key for this run only)
  --timeout SEC   give up connecting after SEC seconds (default 30)
  --portmap       with --server: ask the gateway for a port mapping (NAT-PMP, PCP, UPnP IGD)
                  and offer it as a candidate, so peers behind hard NATs can reach us directly
  --json          events as JSON lines on stderr (connected, path, closed, error)
  -h, --help      this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('connect', HELP, {
    args: argv,
    options: {
      ...CLIENT_FLAGS,
      ...PEER_FLAGS,
      timeout: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const sink = new EventSink('connect', values.json);
  let endpoint: Endpoint | null = null;
  const stopSignals = onSignals(() => {
    sink.error(new Error('interrupted'));
    void endpoint?.close().finally(() => process.exit(1));
  });
  try {
    let target: ReturnType<typeof parsePeer>;
    let server: ReturnType<typeof serverFromOptions> = null;
    let timeoutS: number;
    try {
      if (positionals.length !== 1) throw new UsageError('give exactly one PUBLICKEY (or PUBLICKEY@IP:PORT)');
      target = parsePeer(positionals[0]!);
      timeoutS = parseSeconds(values.timeout, '--timeout', 30);
      if (target.direct === null) {
        server = serverFromOptions(values.server, process.env);
        if (server === null)
          throw new UsageError(`connecting by key needs --server ADDR or ${SERVER_ENV} (or use PUBLICKEY@IP:PORT)`);
      }
    } catch (error) {
      process.stderr.write(`punchline connect: ${(error as Error).message} (see 'punchline connect --help')\n`);
      return 2;
    }
    const keyPair = await loadKeyPair(values.key, (w) => sink.error(new Error(`warning: ${w}`)));
    const startedAt = performance.now();
    let connection: Connection;
    if (target.direct) {
      const { host, port } = target.direct;
      endpoint = await Endpoint.bind({ keyPair, host: isIPv6(host) ? '::' : '0.0.0.0' });
      connection = await endpoint
        .connect({ host, port, publicKey: target.publicKey, signal: AbortSignal.timeout(timeoutS * 1000) })
        .catch((error: unknown) => {
          if (error instanceof PunchlineError && error.code === 'ERR_PUNCHLINE_ABORTED')
            throw new NetcatError(
              NetcatErrorCode.NoPath,
              `no answer from ${formatAddress(target.direct!)} within ${timeoutS} s`,
            );
          throw error;
        });
    } else {
      endpoint = await Endpoint.bind({ keyPair, server, portMapping: values.portmap } as BindOptions);
      // The Endpoint contract: connect(publicKey, { timeoutMs }) through the rendezvous server.
      const byKey = endpoint as unknown as {
        connect(publicKey: Uint8Array, options: { timeoutMs: number }): Promise<Connection>;
      };
      connection = await byKey.connect(target.publicKey, { timeoutMs: timeoutS * 1000 });
    }
    const result = await runSession(connection, sink, startedAt);
    sink.event(
      { event: 'closed', ...result },
      `closed: sent ${result.bytesSent} bytes, received ${result.bytesReceived}`,
    );
    return 0;
  } catch (error) {
    sink.error(error);
    return 1;
  } finally {
    stopSignals();
    await closeEndpoint(endpoint);
  }
}
