/** `punchline listen`: wait for one peer and join standard input/output to it (netcat style). */
import { performance } from 'node:perf_hooks';
import { encodePublicKey } from '../../crypto/key-text.js';
import { Endpoint, type BindOptions, type Connection } from '../../node/endpoint.js';
import { CLIENT_FLAGS, PEER_FLAGS, parseCommandLine } from '../args.js';
import {
  closeEndpoint,
  EventSink,
  LISTENER_BUSY,
  UsageError,
  formatAddress,
  loadKeyPair,
  parsePort,
  runSession,
} from '../netcat.js';
import { SERVER_ENV, serverFromOptions } from '../server-option.js';

/** The session is over when run() returns: a connection still winding down must not hold the exit. */
export const exitWhenDone = true;

export const summary = 'wait for a peer (by public key through a server, or on a UDP port) and pipe stdin/stdout';

const HELP = `usage: punchline listen [--server ADDR] [--port P] [--host IP] [--key FILE] [--json]

Prints this peer's public key, waits for one peer to connect, then sends standard input to it and
writes what it sends to standard output (netcat style; binary-safe). End of input ends our side;
the command exits 0 once both sides ended their data. A second peer is turned away while busy.

  tar c dir | punchline listen          # on one machine
  punchline connect KEY | tar x         # on another

options:
  --server ADDR   rendezvous server address (punchline://…); default: $${SERVER_ENV}.
                  With one, peers behind NATs connect by our public key alone.
  --port P        UDP port to listen on (default: any); without a server, peers dial KEY@IP:P
  --host IP       local address to bind (default 0.0.0.0)
  --key FILE      identity file (default: ~/.punchline/identity, else a key for this run only)
  --portmap       with --server: ask the gateway for a port mapping (NAT-PMP, PCP, UPnP IGD)
                  and offer it as a candidate, so peers behind hard NATs can reach us directly
  --json          events as JSON lines on stderr (listening, connected, path, closed, error)
  -h, --help      this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('listen', HELP, {
    args: argv,
    options: {
      ...CLIENT_FLAGS,
      ...PEER_FLAGS,
      port: { type: 'string' },
      host: { type: 'string' },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const sink = new EventSink('listen', values.json);
  let endpoint: Endpoint | null = null;
  const stopSignals = onSignals(() => {
    sink.error(new Error('interrupted'));
    void endpoint?.close().finally(() => process.exit(1));
  });
  try {
    let port: number | undefined;
    let server: ReturnType<typeof serverFromOptions>;
    try {
      port = parsePort(values.port, '--port');
      server = serverFromOptions(values.server, process.env);
    } catch (error) {
      process.stderr.write(`punchline listen: ${(error as Error).message} (see 'punchline listen --help')\n`);
      return 2;
    }
    const keyPair = await loadKeyPair(values.key, (w) => sink.error(new Error(`warning: ${w}`)));
    const options = {
      keyPair,
      host: values.host ?? '0.0.0.0',
      port: port ?? 0,
      ...(server ? { server, portMapping: values.portmap } : {}),
    };
    endpoint = await Endpoint.bind(options as BindOptions);
    const bound = endpoint.address();
    const publicKey = encodePublicKey(keyPair.publicKey);
    const address = formatAddress({ host: bound.host, port: bound.port });
    sink.event(
      { event: 'listening', publicKey, ...(server ? {} : { address }) },
      server
        ? `listening as ${publicKey} (peers: punchline connect ${publicKey})`
        : `listening as ${publicKey} on ${address} (peers: punchline connect ${publicKey}@IP:${bound.port})`,
      true,
    );
    const connection = await firstConnection(endpoint);
    const startedAt = performance.now();
    const result = await runSession(connection, sink, startedAt);
    sink.event(
      { event: 'closed', ...result },
      `closed: sent ${result.bytesSent} bytes, received ${result.bytesReceived}`,
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`punchline listen: ${error.message} (see 'punchline listen --help')\n`);
      return 2;
    }
    sink.error(error);
    return 1;
  } finally {
    stopSignals();
    await closeEndpoint(endpoint);
  }
}

/** The first peer; later ones are closed with LISTENER_BUSY while this command serves the first. */
function firstConnection(endpoint: Endpoint): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let served = false;
    endpoint.on('connection', (connection: Connection) => {
      if (served) {
        turnAway(connection);
        return;
      }
      served = true;
      resolve(connection);
    });
    endpoint.once('close', () => reject(new Error('endpoint closed')));
  });
}

/**
 * Closes a connection with LISTENER_BUSY once the peer has certainly finished its handshake (its first
 * stream arrived; a connector opens one at once), or after 2 s. Closing the moment our side of the
 * handshake completes loses the close: the peer has not confirmed the handshake yet and, measured,
 * sits until its handshake timeout instead of hearing "busy".
 */
function turnAway(connection: Connection): void {
  const close = (): void => void connection.close(LISTENER_BUSY, 'busy with another peer').catch(() => undefined);
  const timer = setTimeout(close, 2000);
  void (async () => {
    for await (const stream of connection.streams()) {
      stream.destroy();
      break;
    }
    clearTimeout(timer);
    close();
  })();
}

/** SIGINT/SIGTERM run `stop`; returns the function that removes the handlers. */
export function onSignals(stop: () => void): () => void {
  const handler = (): void => stop();
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
