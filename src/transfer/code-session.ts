import { Packr } from 'msgpackr';
import { generateKeyPair, type KeyPair } from '../crypto/keys.js';
import { ReceiverHandshake, SenderHandshake, type HandshakeResult } from '../crypto/pake/code-handshake.js';
import { generateCode, parseCode } from '../crypto/pake/code-phrase.js';
import { PakeError, PakeErrorCode } from '../crypto/pake/errors.js';
import { systemRandom } from '../crypto/sodium.js';
import { Endpoint, type Connection } from '../node/endpoint.js';
import { RendezvousClient } from '../node/rendezvous-client.js';
import { RendezvousError, RendezvousErrorCode } from '../traversal/rendezvous/errors.js';
import { bytesEqual } from '../traversal/rendezvous/messages.js';
import type { ServerAddress } from '../traversal/rendezvous/server-address.js';
import { TransferError, TransferErrorCode } from './errors.js';
import type { SourceEntry } from './manifest.js';
import type { TransferProgress, TransferSummary } from './progress.js';
import { receiveTransfer, type OfferSummary } from './receiver.js';
import { sendTransfer } from './sender.js';

export type PathKind = 'direct' | 'relay-udp' | 'relay-stream';

export interface ServerOptions {
  /** `punchline://KEY@host:port?wt=PORT` (spec/rendezvous.md), printed by `punchline server`, or its parsed form. */
  readonly server: string | ServerAddress;
}

export interface SendByCodeOptions extends ServerOptions {
  readonly entries: readonly SourceEntry[];
  /** Words in the code (2 or 3). Default 2. */
  readonly words?: number;
  readonly onCode?: (code: string) => void;
  /** The receiver's connection is up (before the offer). */
  readonly onConnected?: (path: PathKind) => void;
  /** The connection moved to another path (e.g. relay → direct). */
  readonly onPath?: (path: PathKind) => void;
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly streams?: number;
  /** Local address to bind (default 0.0.0.0). */
  readonly host?: string;
  readonly signal?: AbortSignal;
}

export interface ReceiveByCodeOptions extends ServerOptions {
  readonly code: string;
  readonly out: string;
  readonly overwrite?: boolean;
  readonly confirm?: (offer: OfferSummary) => boolean | Promise<boolean>;
  readonly onConnected?: (path: PathKind) => void;
  /** The connection moved to another path (e.g. relay → direct). */
  readonly onPath?: (path: PathKind) => void;
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly host?: string;
  readonly signal?: AbortSignal;
}

export interface CodeTransferResult extends TransferSummary {
  readonly path: PathKind;
}

/** How long the receiver waits for each handshake message, and the sender for the connection. */
const STEP_TIMEOUT_MS = 60_000;
/** Rendezvous, first path (relay or direct) and handshake. */
const DIAL_TIMEOUT_MS = 30_000;
/** How long the sender waits for the receiver to close after `done`. */
const CLOSE_WAIT_MS = 5_000;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/**
 * The rendezvous session used for the mailbox, under a throwaway key (the PAKE binds the endpoint
 * keys, not this one). The client authenticates the server by the key in its address.
 */
function openRendezvous(options: ServerOptions): Promise<RendezvousClient> {
  return RendezvousClient.connect({ server: options.server, keyPair: generateKeyPair() });
}

/** One mailbox as a message queue: next() resolves with the peer's next message. */
class MailboxLink {
  private readonly queue: Uint8Array[] = [];
  private waiter: { resolve: (d: Uint8Array) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(
    private readonly client: RendezvousClient,
    readonly nameplate: number,
  ) {
    client.on('mailbox-message', (m: { nameplate: number; data: Uint8Array }) => {
      if (m.nameplate !== nameplate) return;
      if (this.waiter) {
        const { resolve } = this.waiter;
        this.waiter = null;
        resolve(m.data);
      } else this.queue.push(m.data);
    });
    client.on('mailbox-closed', (m: { nameplate: number; reason: string }) => {
      if (m.nameplate !== nameplate) return;
      this.fail(
        m.reason === 'crowded'
          ? new TransferError(
              TransferErrorCode.Aborted,
              'someone else also tried this code, so it was burned: start `punchline send` again for a new code',
            )
          : m.reason === 'expired'
            ? new TransferError(TransferErrorCode.Aborted, 'the code expired')
            : new TransferError(TransferErrorCode.Aborted, 'the other side went away'),
      );
    });
    client.on('close', () =>
      this.fail(new TransferError(TransferErrorCode.Aborted, 'lost the connection to the rendezvous server')),
    );
  }

  put(data: Uint8Array): void {
    this.client.putMailbox(this.nameplate, data);
  }

  next(timeoutMs: number): Promise<Uint8Array> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            this.waiter = null;
            reject(new TransferError(TransferErrorCode.Aborted, 'the other side did not answer in time'));
          }, timeoutMs)
        : null;
      this.waiter = {
        resolve: (d) => {
          if (timer) clearTimeout(timer);
          resolve(d);
        },
        reject: (e) => {
          if (timer) clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  close(): void {
    this.client.closeMailbox(this.nameplate);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    if (this.waiter) {
      const { reject } = this.waiter;
      this.waiter = null;
      reject(error);
    }
  }
}

function pathOf(connection: Connection): PathKind {
  return connection.path.kind;
}

/** Dials the sender the handshake authenticated, by its public key, with the psk. */
function dialSender(endpoint: Endpoint, result: HandshakeResult, signal?: AbortSignal): Promise<Connection> {
  return endpoint.connect(result.peerPublicKey, {
    psk: result.psk,
    timeoutMs: DIAL_TIMEOUT_MS,
    ...(signal ? { signal } : {}),
  });
}

/** The incoming connection from exactly `peer` (anything else with our psk is closed). */
function acceptFrom(endpoint: Endpoint, peer: Uint8Array, signal?: AbortSignal): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new TransferError(TransferErrorCode.Aborted, 'the receiver did not connect in time'));
    }, STEP_TIMEOUT_MS);
    const onConnection = (connection: Connection): void => {
      if (connection.remotePublicKey && bytesEqual(connection.remotePublicKey, peer)) {
        cleanup();
        resolve(connection);
      } else void connection.close(1, 'unexpected peer');
    };
    const onAbort = (): void => {
      cleanup();
      reject(signal?.reason ?? new Error('aborted'));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      endpoint.off('connection', onConnection);
      signal?.removeEventListener('abort', onAbort);
    };
    endpoint.on('connection', onConnection);
    // Aborted already (e.g. Ctrl-C while the endpoint was binding): the listener would never fire.
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function mailboxError(error: unknown): unknown {
  if (error instanceof RendezvousError && error.code === RendezvousErrorCode.NameplateUnknown) {
    return new TransferError(
      TransferErrorCode.Aborted,
      'no transfer waits under that code: it expired, was already used, or was mistyped',
      { cause: error },
    );
  }
  if (error instanceof RendezvousError && error.code === RendezvousErrorCode.NameplateUsed) {
    return new TransferError(TransferErrorCode.Aborted, 'that code was already used (and is now burned)', {
      cause: error,
    });
  }
  return error;
}

/** Application close code of a transfer stopped by its user (Ctrl-C): the peer's error says so. */
const INTERRUPTED = 1;

/**
 * Closes `connection` when `signal` aborts (the CLI's Ctrl-C): the peer learns at once, instead of
 * from its idle timeout, and the transfer in progress fails here with its partial files kept.
 * Returns the function that stops listening.
 */
function closeOnAbort(connection: Connection, signal?: AbortSignal): () => void {
  if (!signal) return () => undefined;
  const onAbort = (): void => void connection.close(INTERRUPTED, 'interrupted').catch(() => undefined);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** Prints a code (onCode), waits for the receiver, and sends `entries`. */
export async function sendByCode(options: SendByCodeOptions): Promise<CodeTransferResult> {
  const keyPair: KeyPair = generateKeyPair();
  const client = await openRendezvous(options);
  let endpoint: Endpoint | null = null;
  try {
    const { nameplate } = await client.openMailbox(0);
    const code = generateCode(nameplate, options.words ?? 2, systemRandom);
    const link = new MailboxLink(client, nameplate);
    const handshake = new SenderHandshake(code, keyPair.publicKey, systemRandom);
    link.put(handshake.start());
    options.onCode?.(code.text);
    const reply = await abortable(link.next(Infinity), options.signal);
    let result: HandshakeResult;
    try {
      result = handshake.receive(reply);
    } catch (error) {
      if (error instanceof PakeError && error.code === PakeErrorCode.WrongCode)
        link.put(SenderHandshake.abortMessage());
      link.close();
      await barrier(client);
      throw error instanceof PakeError && error.code === PakeErrorCode.WrongCode
        ? new PakeError(PakeErrorCode.WrongCode, 'the receiver typed a wrong code; this code is now used up')
        : error;
    }
    const receiverKey = result.peerPublicKey;
    endpoint = await Endpoint.bind({
      keyPair,
      psk: result.psk,
      host: options.host ?? '0.0.0.0',
      server: options.server,
      acceptPeer: (peer) => bytesEqual(peer, receiverKey),
    });
    const incoming = acceptFrom(endpoint, receiverKey, options.signal);
    incoming.catch(() => undefined);
    // Registered: the receiver may dial us by key now. The sealed payload is kept for extensions.
    link.put(handshake.confirm(packr.pack({ v: 1 })));
    link.close();
    const connection = await incoming;
    options.onConnected?.(pathOf(connection));
    connection.on('path', (path) => options.onPath?.(path.kind));
    const stopListening = closeOnAbort(connection, options.signal);
    const summary = await sendTransfer(connection, options.entries, {
      ...(options.streams ? { streams: options.streams } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    }).finally(stopListening);
    // The receiver closes once it has everything; a receiver that vanishes instead is not waited for.
    await Promise.race([connection.closed, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
    return { ...summary, path: pathOf(connection) };
  } catch (error) {
    throw mailboxError(error);
  } finally {
    client.close();
    await endpoint?.close();
  }
}

/** Joins the mailbox of `code`, checks the sender knows it too, connects and receives into `out`. */
export async function receiveByCode(options: ReceiveByCodeOptions): Promise<CodeTransferResult> {
  const code = parseCode(options.code);
  const keyPair: KeyPair = generateKeyPair();
  const client = await openRendezvous(options);
  let endpoint: Endpoint | null = null;
  try {
    // Listening first: the sender's queued message arrives together with the open answer.
    const link = new MailboxLink(client, code.nameplate);
    await client.openMailbox(code.nameplate);
    const handshake = new ReceiverHandshake(code, keyPair.publicKey, systemRandom);
    link.put(handshake.receive(await abortable(link.next(STEP_TIMEOUT_MS), options.signal)));
    const result = handshake.finish(await abortable(link.next(STEP_TIMEOUT_MS), options.signal));
    link.close();
    endpoint = await Endpoint.bind({ keyPair, host: options.host ?? '0.0.0.0', server: options.server });
    const connection = await dialSender(endpoint, result, options.signal);
    options.onConnected?.(pathOf(connection));
    connection.on('path', (path) => options.onPath?.(path.kind));
    const stopListening = closeOnAbort(connection, options.signal);
    const summary = await receiveTransfer(connection, {
      out: options.out,
      ...(options.overwrite ? { overwrite: true } : {}),
      ...(options.confirm ? { confirm: options.confirm } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    }).finally(stopListening);
    const path = pathOf(connection);
    await connection.close();
    return { ...summary, path };
  } catch (error) {
    throw mailboxError(error);
  } finally {
    client.close();
    await endpoint?.close();
  }
}

/**
 * Resolves once the server has processed everything we sent before (it answers a session's messages
 * in order): closing the session right after a `mailbox-put` could otherwise lose the put.
 */
async function barrier(client: RendezvousClient): Promise<void> {
  await client.lookup(client.publicKey).catch(() => undefined);
}

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason ?? new Error('aborted'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
