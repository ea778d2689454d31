/**
 * The netcat-style session shared by `punchline listen` and `punchline connect`: standard input goes
 * to one stream, the peer's stream comes out on standard output.
 *
 * Each side sends on its own unidirectional stream (QUIC-style IDs, RFC 9000 §2.1), so the two
 * directions are independent: a side with nothing to say (`connect KEY > file`, stdin empty) ends its
 * stream at once, and the peer's data never waits for ours. End of standard input ends (FIN) our
 * stream — a half-close. When a side has written all of the peer's stream to stdout it opens a second,
 * empty stream: its receipt. The session is complete when our data stream is finished, the peer's
 * ended, and the peer's receipt arrived — every byte both ways is known delivered — and the command
 * exits 0 (closing the connection, without depending on how the close goes). Anything else — a reset
 * stream, a connection closed before that point, the peer vanishing — is a one-line error and exit 1.
 *
 * With --json, events are JSON lines on stderr and stdout stays pure data:
 *   {"event":"listening","publicKey":KEY}              (+ "address": "ip:port" when serving without a server)
 *   {"event":"connected","peer":KEY,"path":KIND,"afterMs":N}
 *   {"event":"path","path":KIND,"remote":"ip:port","afterMs":N}
 *   {"event":"closed","bytesSent":N,"bytesReceived":N}
 *   {"event":"error","code":CODE,"message":TEXT}
 * KIND is 'direct' | 'relay-udp' | 'relay-stream'; afterMs counts from the start of the connection
 * attempt (connect) or from its arrival (listen).
 */
import { Transform, type Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { CryptoError, CryptoErrorCode } from '../crypto/errors.js';
import { defaultIdentityPath, generateIdentity, loadIdentity } from '../crypto/identity.js';
import type { KeyPair } from '../crypto/keys.js';
import { decodePublicKey, encodePublicKey } from '../crypto/key-text.js';
import { PunchlineError } from '../errors.js';
import { UsageError } from './usage-error.js';
import type { Connection, Endpoint } from '../node/endpoint.js';
import type { PunchlineStream } from '../node/stream.js';
import type { Address } from '../transport/api.js';

/** Application close code of a session that failed on this side (0 is a clean end of data). */
const SESSION_FAILED = 1;
/** Application close code for a second peer while the listener is busy with one. */
export const LISTENER_BUSY = 2;

type PathKind = 'direct' | 'relay-udp' | 'relay-stream';

/** The path of a connection as the Endpoint contract describes it (`connection.path`). */
interface PathInfo {
  readonly kind: PathKind;
  readonly remote: Address;
}

/** A usage problem found after flag parsing (exit 2). */
export { UsageError };

/** Codes of the CLI's own failures; NO_PATH is the code the Endpoint uses for the same outcome by key. */
export const NetcatErrorCode = { NoPath: 'ERR_PUNCHLINE_NO_PATH' } as const;
export type NetcatErrorCode = (typeof NetcatErrorCode)[keyof typeof NetcatErrorCode];

export class NetcatError extends PunchlineError<NetcatErrorCode> {}

export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Where events go: JSON lines with --json, short human lines (stderr) otherwise. */
export class EventSink {
  constructor(
    private readonly command: string,
    private readonly json: boolean,
    private readonly err: Writable = process.stderr,
  ) {}

  /**
   * A JSON event with --json; otherwise its human line — always when `always` (the listener's key),
   * else only on a terminal, so a pipeline's stderr stays quiet.
   */
  event(event: Record<string, unknown> & { event: string }, human: string, always = false): void {
    if (this.json) this.err.write(`${JSON.stringify(event)}\n`);
    else if (always || (this.err as { isTTY?: boolean }).isTTY === true)
      this.err.write(`punchline ${this.command}: ${human}\n`);
  }

  /** One line per error, never a stack. */
  error(error: unknown): void {
    const code = error instanceof PunchlineError ? error.code : undefined;
    const message = error instanceof Error ? error.message : String(error);
    if (this.json) this.err.write(`${JSON.stringify({ event: 'error', code: code ?? null, message })}\n`);
    else this.err.write(`punchline ${this.command}: ${message}${code ? ` (${code})` : ''}\n`);
  }
}

/**
 * The identity to use: --key FILE (must exist), else the default identity when there is one, else a
 * fresh key for this run only (the listener prints it; a lasting one comes from `punchline keygen`).
 */
export async function loadKeyPair(path: string | undefined, warn: (message: string) => void): Promise<KeyPair> {
  const onWarning = (w: { message: string }): void => warn(w.message);
  if (path !== undefined) return loadIdentity(path, { onWarning });
  try {
    return await loadIdentity(defaultIdentityPath(), { onWarning });
  } catch (error) {
    if (error instanceof CryptoError && error.code === CryptoErrorCode.IdentityMissing) return generateIdentity();
    throw error;
  }
}

/** `KEY` or `KEY@IP:PORT` / `KEY@[IPv6]:PORT` (the direct form, no server). */
export function parsePeer(text: string): { publicKey: Uint8Array; direct: Address | null } {
  const at = text.indexOf('@');
  const keyText = at < 0 ? text : text.slice(0, at);
  let publicKey: Uint8Array;
  try {
    publicKey = decodePublicKey(keyText);
  } catch (error) {
    throw new UsageError(`'${keyText}' is not a public key: ${(error as Error).message}`);
  }
  if (at < 0) return { publicKey, direct: null };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text.slice(at + 1));
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535)
    throw new UsageError(`'${text.slice(at + 1)}' is not IP:PORT (e.g. 192.0.2.7:4000 or [2001:db8::7]:4000)`);
  return { publicKey, direct: { host: (m[1] ?? m[2]) as string, port } };
}

export function parsePort(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n > 65535) throw new UsageError(`${flag} must be a port number 0..65535`);
  return n;
}

export function parseSeconds(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!(Number.isFinite(n) && n > 0 && n <= 86_400)) throw new UsageError(`${flag} must be seconds in (0, 86400]`);
  return n;
}

/** The connection's path: `connection.path` where the Endpoint reports it, else the address it talks to. */
function pathOf(connection: Connection): PathInfo {
  const reported = (connection as { path?: { kind: PathKind; remote: Address } }).path;
  if (reported && typeof reported.kind === 'string') return { kind: reported.kind, remote: reported.remote };
  return { kind: 'direct', remote: connection.remoteAddress };
}

/**
 * Calls `onChange` on every path change: 'path' (connections by public key, per the Endpoint contract)
 * and 'path-changed' (a migration of a connection by address), each change once.
 */
function watchPath(connection: Connection, onChange: (path: PathInfo) => void): void {
  let last = describePath(pathOf(connection));
  const report = (path: PathInfo): void => {
    const next = describePath(path);
    if (next === last) return;
    last = next;
    onChange(path);
  };
  connection.on('path', (path: PathInfo) => report({ kind: path.kind, remote: path.remote }));
  connection.on('path-changed', () => report(pathOf(connection)));
}

function describePath(path: PathInfo): string {
  return `${path.kind} ${formatAddress(path.remote)}`;
}

class ByteCounter extends Transform {
  bytes = 0;
  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null, data?: Buffer) => void,
  ): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * The peer's unidirectional streams in the order it opened them (QUIC stream IDs of one side and type
 * increase with opening order, RFC 9000 §2.1): the first carries its data, the second is its receipt.
 * Resolves each with null when the connection ends without it.
 */
function peerStreams(connection: Connection): {
  data: Promise<PunchlineStream | null>;
  receipt: Promise<PunchlineStream | null>;
} {
  const waiting: ((stream: PunchlineStream | null) => void)[] = [];
  const data = new Promise<PunchlineStream | null>((resolve) => waiting.push(resolve));
  const receipt = new Promise<PunchlineStream | null>((resolve) => waiting.push(resolve));
  void (async () => {
    const seen: PunchlineStream[] = [];
    for await (const stream of connection.streams()) {
      if ((stream.id & 0x2) === 0 || seen.length === 2) {
        stream.reset(0); // not part of this protocol
        continue;
      }
      seen.push(stream);
      waiting.shift()?.(stream);
    }
    for (const resolve of waiting.splice(0)) resolve(null);
  })();
  return { data, receipt };
}

/**
 * How long a finished session waits for its last bytes (the receipt) to be acknowledged: three probe
 * timeouts (RFC 9002 §6.2.1: srtt + 4·rttvar + max_ack_delay), within [300 ms, 3 s]. Past that the
 * receipt has almost surely arrived (and retransmission goes on while the close is sent); waiting
 * longer only helps a peer that is already gone.
 */
function receiptWaitMs(connection: Connection): number {
  const s = connection.stats();
  return Math.min(3000, Math.max(300, 3 * (s.smoothedRttMs + 4 * s.rttVarianceMs + 25)));
}
/** Then how long the close gets to go out and complete before the command moves on. */
const CLOSE_SETTLE_MS = 300;

/** Resolves once nothing this side sent is unacknowledged (polled; the core has no event for it), or at `capMs`. */
async function acknowledged(connection: Connection, capMs: number): Promise<void> {
  const deadline = performance.now() + capMs;
  // One turn first: what was just written is sent in the endpoint's next service.
  await new Promise((resolve) => setImmediate(resolve));
  while (connection.state === 'established' && connection.stats().bytesInFlight > 0 && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * Closes the endpoint without keeping the command alive for connections that cannot finish closing
 * (a peer already gone): the socket stops holding the process, and the close gets a moment.
 */
export async function closeEndpoint(endpoint: Endpoint | null): Promise<void> {
  if (!endpoint) return;
  endpoint.unref();
  await Promise.race([endpoint.close(), new Promise((resolve) => setTimeout(resolve, 300).unref())]);
}

export interface SessionIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
}

/**
 * Runs the session on an established connection; resolves with the byte counts once both directions
 * ended cleanly and the connection closed, rejects with the first error otherwise.
 */
export async function runSession(
  connection: Connection,
  sink: EventSink,
  startedAt: number,
  io: SessionIo = { stdin: process.stdin, stdout: process.stdout },
): Promise<{ bytesSent: number; bytesReceived: number }> {
  const peer = connection.remotePublicKey ? encodePublicKey(connection.remotePublicKey) : null;
  const path = pathOf(connection);
  sink.event(
    { event: 'connected', peer, path: path.kind, afterMs: Math.round(performance.now() - startedAt) },
    `connected to ${peer ?? 'peer'} (${path.kind}, ${formatAddress(path.remote)})`,
  );
  watchPath(connection, (next) =>
    sink.event(
      {
        event: 'path',
        path: next.kind,
        remote: formatAddress(next.remote),
        afterMs: Math.round(performance.now() - startedAt),
      },
      `path ${next.kind} ${formatAddress(next.remote)}`,
    ),
  );
  const sent = new ByteCounter();
  const received = new ByteCounter();
  const outgoing = connection.openStream({ bidirectional: false });
  const streams = peerStreams(connection);
  const closedEarly = async (what: string): Promise<never> => {
    const reason = await connection.closed;
    throw new Error(
      `connection closed before ${what} (${reason.remote ? 'peer' : 'local'} code ${reason.errorCode}${reason.reason ? `: ${reason.reason}` : ''})`,
    );
  };
  const send = pipeline(io.stdin, sent, outgoing);
  const receive = (async () => {
    const incoming = (await streams.data) ?? (await closedEarly("the peer's data arrived"));
    await pipeline(incoming, received, io.stdout, { end: false });
    // Everything the peer sent is out: say so on a second stream, empty, ended at once.
    connection.openStream({ bidirectional: false }).end();
  })();
  const receipt = (async () => {
    const stream = (await streams.receipt) ?? (await closedEarly('the peer confirmed our data'));
    stream.resume();
    await finished(stream);
  })();
  try {
    await Promise.all([send, receive, receipt]);
  } catch (error) {
    // A non-zero code: the peer must not mistake this for a clean end of data.
    void connection.close(SESSION_FAILED, (error as Error).message.slice(0, 100)).catch(() => undefined);
    throw error;
  }
  // Both directions are complete and confirmed. What is left is our own receipt reaching the peer:
  // once nothing is in flight it has been acknowledged. The close after that is only tidying up,
  // so its outcome does not change the result, and a close that cannot complete (the peer already
  // gone) is not waited for.
  await acknowledged(connection, receiptWaitMs(connection));
  await Promise.race([
    connection.close(0, 'done').catch(() => undefined),
    new Promise((resolve) => setTimeout(resolve, CLOSE_SETTLE_MS).unref()),
  ]);
  return { bytesSent: sent.bytes, bytesReceived: received.bytes };
}
