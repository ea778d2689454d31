/**
 * Node binding of the sans-IO RendezvousClientCore: a WebTransport session (HTTP/2, via
 * @fails-components/webtransport) to `punchline server`, one control stream, optional stream-relay
 * streams, and UDP control datagrams through a caller-supplied `udp.send` (the shared socket: an
 * Endpoint's `send(buf, serverUdpAddress)`).
 *
 * The server is named by its address string (static key + addresses); no certificate is pinned ahead
 * of time. The client looks at the certificate the server presents (one TLS handshake), pins exactly
 * that one for the WebTransport session, and binds its registration proof to the certificate's hash;
 * the server's proof answers over the same binding (spec/rendezvous.md §Authentication).
 *
 *   const client = await RendezvousClient.connect({ server: 'punchline://…', keyPair, udp });
 *   const { online } = await client.lookup(peerKey);
 *   const answer = await client.connect(peerKey, candidates);
 *   client.on('connect-request', (request) => client.answer(request.rid, true, myCandidates));
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { systemRandom, type RandomSource } from '../crypto/sodium.js';
import { RendezvousClientCore, type ClientEvent } from '../traversal/rendezvous/client-core.js';
import { RendezvousError, RendezvousErrorCode } from '../traversal/rendezvous/errors.js';
import { FrameDecoder, StreamKind, encodeFrame } from '../traversal/rendezvous/framing.js';
import { MAX_MESSAGE_BYTES, bytesEqual, type Candidate, type Address } from '../traversal/rendezvous/messages.js';
import { MAX_RELAY_STREAM_DATAGRAM, relayStreamHeader } from '../traversal/relay/stream-relay.js';
import type { ObservedAddress } from '../traversal/relay/udp-control.js';
import type { KeyPair } from '../crypto/keys.js';
import type { WtClient, WtReader, WtWriter } from './webtransport-types.js';
import { invalidArgument } from './endpoint-errors.js';
import { parseServerAddress, type ServerAddress } from '../traversal/rendezvous/server-address.js';

/**
 * Reads length-prefixed frames from a WebTransport stream until it ends (or fails to read), handing
 * each chunk's complete frames to `onFrames`. Resolves with the decoder's error when the peer sent a
 * bad frame (too large), else with null.
 */
async function readFrames(
  reader: WtReader,
  maxFrame: number,
  onFrames: (frames: Uint8Array[]) => void,
): Promise<RendezvousError | null> {
  const decoder = new FrameDecoder(maxFrame);
  for (;;) {
    const next = await reader.read().catch(() => ({ done: true, value: undefined }));
    if (next.done || !next.value) return null;
    let frames: Uint8Array[];
    try {
      frames = decoder.push(next.value);
    } catch (error) {
      return error as RendezvousError;
    }
    onFrames(frames);
  }
}

function check32(name: string, value: unknown): void {
  if (!(value instanceof Uint8Array) || value.length !== 32) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw invalidArgument(`${name} must be a 32-byte Uint8Array, got ${got}`);
  }
}

/** The URL path of the rendezvous WebTransport endpoint (as the server serves it). */
const RENDEZVOUS_PATH = '/punchline';

/**
 * Rejects bad connect() options before anything is opened; returns the URL and the server key to pin
 * (from the address string when one is given).
 */
function checkClientOptions(options: RendezvousClientOptions): {
  url: string;
  serverPublicKey: Uint8Array | undefined;
} {
  if (options === null || typeof options !== 'object') throw invalidArgument('options must be an object');
  let address: ServerAddress | null = null;
  if (options.server !== undefined) {
    address = typeof options.server === 'string' ? parseServerAddress(options.server) : options.server;
    if (address === null || typeof address !== 'object' || !address.udp)
      throw invalidArgument('server must be a server address string or a ServerAddress');
    check32('server.publicKey', address.publicKey);
    if (options.url !== undefined) throw invalidArgument('give server or url, not both');
  } else if (options.url === undefined) {
    throw invalidArgument('server (the server address string) is required');
  }
  const urlText = address
    ? `https://${address.udp.host.includes(':') ? `[${address.udp.host}]` : address.udp.host}:${address.webTransportPort}${RENDEZVOUS_PATH}`
    : options.url!;
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw invalidArgument(`url must be an https:// URL, got '${String(urlText)}'`);
  }
  if (url.protocol !== 'https:') throw invalidArgument(`url must be an https:// URL, got '${urlText}'`);
  if (options.keyPair === null || typeof options.keyPair !== 'object') throw invalidArgument('keyPair is required');
  check32('keyPair.publicKey', options.keyPair.publicKey);
  check32('keyPair.secretKey', options.keyPair.secretKey);
  if (options.serverPublicKey !== undefined) check32('serverPublicKey', options.serverPublicKey);
  if (options.serverCertificateHash !== undefined) check32('serverCertificateHash', options.serverCertificateHash);
  for (const name of ['connectTimeoutMs', 'requestTimeoutMs'] as const) {
    const ms = options[name];
    if (ms !== undefined && !(Number.isFinite(ms) && ms > 0))
      throw invalidArgument(`${name} must be a positive number, got ${String(ms)}`);
  }
  if (address && options.serverPublicKey && !bytesEqual(address.publicKey, options.serverPublicKey))
    throw invalidArgument('serverPublicKey differs from the key in the server address');
  return { url: url.href, serverPublicKey: address?.publicKey ?? options.serverPublicKey };
}

/**
 * One TLS handshake with the server to see its certificate: its SHA-256 (the channel binding and the
 * pin for the WebTransport session) and whether the system CAs trust it.
 */
function observeCertificate(url: URL, timeoutMs: number): Promise<{ sha256: Uint8Array; trusted: boolean }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ALPNProtocols: ['h2'],
      // Not trusting anything yet: the certificate is checked by the proof bound to its hash.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const raw = socket.getPeerCertificate(false)?.raw;
      const trusted = socket.authorized;
      socket.destroy();
      if (!raw) reject(new Error('the server presented no certificate'));
      else resolve({ sha256: new Uint8Array(createHash('sha256').update(raw).digest()), trusted });
    });
  });
}

export interface RendezvousClientOptions {
  /**
   * The server: its address string (`punchline://KEY@host:port?wt=…`, printed by `punchline server`)
   * or the parsed ServerAddress. The client authenticates the server by the key in it.
   */
  readonly server?: string | ServerAddress;
  /** Lower-level alternative to `server`: e.g. https://127.0.0.1:4433/punchline. */
  readonly url?: string;
  /**
   * With `url` only: SHA-256 of the server's certificate, pinned (and used as the channel binding).
   * Without it the client observes the certificate the server presents (see the module comment).
   */
  readonly serverCertificateHash?: Uint8Array;
  /** With `url` only: the server's static public key (pinned). Implied by `server`. */
  readonly serverPublicKey?: Uint8Array;
  readonly keyPair: KeyPair;
  /** Sends a datagram to the server's UDP port from the endpoint's shared socket. */
  readonly udp?: { send(datagram: Uint8Array): void };
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly random?: RandomSource;
}

export interface ConnectRequest {
  readonly rid: number;
  readonly from: Uint8Array;
  readonly candidates: readonly Candidate[];
  readonly payload?: Uint8Array;
}
export interface ConnectAnswer {
  readonly from: Uint8Array;
  readonly accept: boolean;
  readonly candidates: readonly Candidate[];
  readonly payload?: Uint8Array;
  readonly reason?: string;
}
export interface RelayAllocation {
  readonly peer: Uint8Array;
  readonly channel: Uint8Array;
  readonly bindKey: Uint8Array;
  readonly expiresInMs: number;
}

let loading: Promise<{ module: unknown; http3: boolean }> | null = null;

/**
 * Imports @fails-components/webtransport once. Without its optional native HTTP/3 add-on the library
 * reports the failed load with console.error/console.log (a stack trace on stdout) at import time;
 * we probe for the add-on ourselves (`http3`) and drop exactly those three notices so a server's
 * stdout stays JSON lines. Everything else printed passes through unchanged.
 */
export function loadWebTransport(): Promise<{ module: unknown; http3: boolean }> {
  loading ??= (async () => {
    let http3 = false;
    try {
      const addon = '@fails-components/webtransport-transport-http3-quiche';
      await import(addon);
      http3 = true;
    } catch {
      const notice =
        /^(http3 loader:|Problem loading http3-quiche transport|Did you install @fails-components\/webtransport-transport-http3-quiche)/;
      for (const method of ['log', 'error'] as const) {
        const original = console[method].bind(console);
        console[method] = (...args: unknown[]): void => {
          if (typeof args[0] === 'string' && notice.test(args[0])) return;
          original(...args);
        };
      }
    }
    return { module: await import('@fails-components/webtransport'), http3 };
  })();
  return loading;
}

type Pending = {
  readonly kind: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
};

/** Datagrams queued on a stream relay before send() reports backpressure (false). */
const MAX_STREAM_RELAY_BACKLOG = 256 * 1024;

/** A stream-relay leg: datagrams to/from the peer through the server, over the WebTransport session. */
export class StreamRelay extends EventEmitter {
  private closedFlag = false;

  constructor(
    readonly channel: Uint8Array,
    private readonly writer: WtWriter,
    reader: WtReader,
  ) {
    super();
    void this.readLoop(reader);
  }

  /** Sends one opaque datagram; false when it was dropped (too large, closed, or backlog full). */
  send(datagram: Uint8Array): boolean {
    if (this.closedFlag || datagram.length > MAX_RELAY_STREAM_DATAGRAM) return false;
    if (this.writer.desiredSize !== null && this.writer.desiredSize < -MAX_STREAM_RELAY_BACKLOG) return false;
    this.writer.write(encodeFrame(datagram)).catch(() => this.finish());
    return true;
  }

  close(): void {
    if (this.closedFlag) return;
    this.writer.close().catch(() => undefined);
    this.finish();
  }

  private finish(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.emit('close');
  }

  private async readLoop(reader: WtReader): Promise<void> {
    await readFrames(reader, MAX_RELAY_STREAM_DATAGRAM, (frames) => {
      for (const frame of frames) this.emit('datagram', frame);
    });
    this.finish();
  }
}

export declare interface RendezvousClient {
  on(event: 'connect-request', listener: (request: ConnectRequest) => void): this;
  on(event: 'signal', listener: (signal: { from: Uint8Array; kind: string; data: Uint8Array }) => void): this;
  on(event: 'punch-go', listener: (go: { peer: Uint8Array; delayMs: number }) => void): this;
  on(event: 'relay-allocated', listener: (allocation: RelayAllocation) => void): this;
  on(event: 'relay-closed', listener: (closed: { channel: Uint8Array; reason: string }) => void): this;
  on(event: 'close', listener: (error: RendezvousError | null) => void): this;
  on(event: 'mailbox-message', listener: (message: { nameplate: number; data: Uint8Array }) => void): this;
  on(event: 'mailbox-closed', listener: (closed: { nameplate: number; reason: string }) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class RendezvousClient extends EventEmitter {
  readonly core: RendezvousClientCore;
  private readonly options: RendezvousClientOptions;
  private readonly wt: WtClient;
  private writer: WtWriter | null = null;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters: {
    match: (e: ClientEvent) => boolean;
    resolve: (e: ClientEvent) => void;
    reject: (error: Error) => void;
  }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private closed = false;

  private constructor(
    options: RendezvousClientOptions,
    wt: WtClient,
    serverPublicKey: Uint8Array | undefined,
    channelBinding: Uint8Array,
  ) {
    super();
    this.options = options;
    this.wt = wt;
    this.core = new RendezvousClientCore({
      staticKeyPair: options.keyPair,
      random: options.random ?? systemRandom,
      channelBinding,
      ...(serverPublicKey ? { serverPublicKey } : {}),
    });
  }

  /**
   * Opens the session, authenticates (spec/rendezvous.md §Authentication) and resolves once registered.
   * Typed failures: RendezvousError CLOSED (unreachable), TIMEOUT, SERVER_IDENTITY (not the server the
   * address names), AUTH_FAILED (e.g. a TLS relay-in-the-middle).
   */
  static async connect(options: RendezvousClientOptions): Promise<RendezvousClient> {
    const { url, serverPublicKey } = checkClientOptions(options);
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const deadline = performance.now() + timeoutMs;
    // A certificate renewal between our look at the certificate and the WebTransport handshake makes
    // the pin miss once; a second look sees the new certificate.
    for (let attempt = 1; ; attempt++) {
      let certificate: { sha256: Uint8Array; trusted: boolean };
      if (options.serverCertificateHash) {
        certificate = { sha256: options.serverCertificateHash, trusted: false };
      } else {
        try {
          certificate = await observeCertificate(new URL(url), Math.max(1, deadline - performance.now()));
        } catch (error) {
          throw new RendezvousError(
            RendezvousErrorCode.Closed,
            `cannot reach the rendezvous server at ${url}: ${(error as Error).message}`,
            { cause: error },
          );
        }
      }
      try {
        return await RendezvousClient.open(options, url, serverPublicKey, certificate, deadline);
      } catch (error) {
        const retry =
          attempt === 1 &&
          !options.serverCertificateHash &&
          error instanceof RendezvousError &&
          error.code === RendezvousErrorCode.Closed &&
          performance.now() < deadline;
        if (!retry) throw error;
      }
    }
  }

  private static async open(
    options: RendezvousClientOptions,
    url: string,
    serverPublicKey: Uint8Array | undefined,
    certificate: { sha256: Uint8Array; trusted: boolean },
    deadline: number,
  ): Promise<RendezvousClient> {
    const { WebTransport } = (await loadWebTransport()).module as {
      WebTransport: new (url: string, init: Record<string, unknown>) => WtClient;
    };
    const timeoutMs = Math.max(1, deadline - performance.now());
    const wt = new WebTransport(url, {
      // A certificate the system trusts is verified as usual; any other is pinned to exactly the one seen.
      ...(certificate.trusted
        ? {}
        : { serverCertificateHashes: [{ algorithm: 'sha-256', value: certificate.sha256 }] }),
      forceReliable: true,
      webTransportConnectTimeout: timeoutMs,
    });
    wt.closed.catch(() => undefined);
    const client = new RendezvousClient(options, wt, serverPublicKey, certificate.sha256);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RendezvousError(RendezvousErrorCode.Timeout, `no registration within ${timeoutMs} ms`)),
        timeoutMs,
      );
      timer.unref();
    });
    try {
      await Promise.race([wt.ready, timeout]);
      const bidi = await Promise.race([wt.createBidirectionalStream(), timeout]);
      client.writer = bidi.writable.getWriter();
      client.writer.write(new Uint8Array([StreamKind.Control])).catch(() => undefined);
      const control = client.readControl(bidi.readable.getReader());
      // The session can report closed before the last control frames (e.g. the server's AUTH_FAILED
      // error) are read: let the control stream drain first, briefly.
      const drained = (): void => {
        const grace = setTimeout(() => client.shutdown(null), 1000);
        grace.unref();
        void control.finally(() => clearTimeout(grace));
      };
      wt.closed.then(drained, drained);
      const event = await Promise.race([client.waitFor((e) => e.type === 'registered' || e.type === 'fatal'), timeout]);
      if (event.type === 'fatal') throw event.error;
      return client;
    } catch (error) {
      client.close();
      if (error instanceof RendezvousError) throw error;
      throw new RendezvousError(
        RendezvousErrorCode.Closed,
        `cannot reach the rendezvous server at ${url}: ${(error as Error).message}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  get publicKey(): Uint8Array {
    return this.core.publicKey;
  }

  /** Smoothed RTT to the server, ms. */
  get rttMs(): number {
    return this.core.rttMs;
  }

  lookup(peer: Uint8Array): Promise<{ online: boolean; udp?: Address }> {
    return this.track('lookup-result', () => this.core.lookup(peer)) as Promise<{ online: boolean; udp?: Address }>;
  }

  /** Sends a connect request with our candidates; resolves with the peer's answer. */
  connect(peer: Uint8Array, candidates: readonly Candidate[], payload?: Uint8Array): Promise<ConnectAnswer> {
    return this.track('connect-answer', () => this.core.connect(peer, candidates, payload)) as Promise<ConnectAnswer>;
  }

  answer(
    rid: number,
    accept: boolean,
    candidates: readonly Candidate[],
    options: { payload?: Uint8Array; reason?: string } = {},
  ): void {
    this.core.answer(rid, accept, candidates, options);
    this.pump();
  }

  signal(peer: Uint8Array, kind: string, data: Uint8Array): void {
    this.core.signal(peer, kind, data);
    this.pump();
  }

  /** Requests a coordinated punch; resolves with this side's delay (the peer gets its own 'punch-go'). */
  punch(peer: Uint8Array): Promise<{ peer: Uint8Array; delayMs: number }> {
    return this.track('punch-go', () => this.core.punch(peer)) as Promise<{ peer: Uint8Array; delayMs: number }>;
  }

  /** Allocates a relay channel with `peer` (which gets its leg through 'relay-allocated'). */
  allocateRelay(peer: Uint8Array): Promise<RelayAllocation> {
    return this.track('relay-allocated', () => this.core.allocateRelay(peer)) as Promise<RelayAllocation>;
  }

  releaseRelay(channel: Uint8Array): void {
    this.core.releaseRelay(channel);
    this.pump();
  }

  /** Attaches a relay leg to a stream of this session (stream relay, for networks that block UDP). */
  async openStreamRelay(allocation: RelayAllocation): Promise<StreamRelay> {
    const bidi = await this.wt.createBidirectionalStream();
    const writer = bidi.writable.getWriter();
    await writer.write(relayStreamHeader(allocation.channel));
    return new StreamRelay(allocation.channel, writer, bidi.readable.getReader());
  }

  /** Binds a relay leg to our UDP address (needs `udp`); resolves with the address the server saw. */
  async bindUdpRelay(allocation: RelayAllocation, timeoutMs = 5000): Promise<ObservedAddress> {
    this.requireUdp();
    const bound = this.waitFor((e) => e.type === 'relay-bound' && bytesEqual(e.channel, allocation.channel), timeoutMs);
    this.core.bindRelayUdp(allocation.channel, allocation.bindKey, performance.now());
    this.pump();
    const event = await bound;
    return (event as Extract<ClientEvent, { type: 'relay-bound' }>).observed;
  }

  /** Keeps a UDP presence at the server (keepalives on the shared socket); resolves with our reflexive address. */
  async startUdpPresence(timeoutMs = 5000): Promise<ObservedAddress> {
    this.requireUdp();
    const bound = this.waitFor((e) => e.type === 'udp-bound', timeoutMs);
    this.core.startUdpPresence(performance.now());
    this.pump();
    return ((await bound) as Extract<ClientEvent, { type: 'udp-bound' }>).observed;
  }

  /** Feed relay-control datagrams (0x12 + zero channel) that arrived from the server's UDP address. */
  receiveUdp(datagram: Uint8Array): void {
    this.core.receiveDatagram(datagram, performance.now());
    this.pump();
  }

  /**
   * Opens a mailbox by nameplate (spec/transfer.md §Mailbox): 0 allocates a fresh nameplate (the
   * sender), another number claims that one (the receiver). Messages arrive as 'mailbox-message',
   * the end as 'mailbox-closed'.
   */
  openMailbox(nameplate = 0): Promise<{ nameplate: number; expiresInMs: number }> {
    return this.track('mailbox-opened', () => this.core.openMailbox(nameplate)) as Promise<{
      nameplate: number;
      expiresInMs: number;
    }>;
  }

  putMailbox(nameplate: number, data: Uint8Array): void {
    this.core.putMailbox(nameplate, data);
    this.pump();
  }

  closeMailbox(nameplate: number): void {
    this.core.closeMailbox(nameplate);
    this.pump();
  }

  close(): void {
    if (this.closed) return;
    try {
      this.wt.close({ closeCode: 0, reason: 'client closed' });
    } catch {
      // not open
    }
    this.shutdown(null);
  }

  // ---- internals -------------------------------------------------------------------------------

  private requireUdp(): void {
    if (!this.options.udp)
      throw new RendezvousError(RendezvousErrorCode.Protocol, 'no UDP sender configured (options.udp)');
  }

  private track(kind: string, send: () => number): Promise<unknown> {
    if (this.closed)
      return Promise.reject(new RendezvousError(RendezvousErrorCode.Closed, 'rendezvous session closed'));
    const id = send();
    this.pump();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RendezvousError(RendezvousErrorCode.Timeout, `${kind} not received in time`));
      }, this.options.requestTimeoutMs ?? 30_000);
      timer.unref();
      this.pending.set(id, { kind, resolve, reject, timer });
    });
  }

  private waitFor(match: (e: ClientEvent) => boolean, timeoutMs?: number): Promise<ClientEvent> {
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve, reject };
      this.waiters.push(waiter);
      if (timeoutMs !== undefined) {
        setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) {
            this.waiters.splice(i, 1);
            reject(new RendezvousError(RendezvousErrorCode.Timeout, 'no answer from the server in time'));
          }
        }, timeoutMs).unref();
      }
    });
  }

  private async readControl(reader: WtReader): Promise<void> {
    const error = await readFrames(reader, MAX_MESSAGE_BYTES, (frames) => {
      const now = performance.now();
      for (const frame of frames) this.core.receive(frame, now);
      this.pump();
    });
    this.shutdown(error);
  }

  /** Moves the core's outputs to the stream/socket and its events to promises and listeners. */
  private pump(): void {
    if (this.closed) return;
    for (let m = this.core.pollTransmit(); m !== null; m = this.core.pollTransmit())
      this.writer?.write(encodeFrame(m)).catch(() => undefined);
    for (let d = this.core.pollDatagram(); d !== null; d = this.core.pollDatagram()) this.options.udp?.send(d);
    for (let e = this.core.pollEvent(); e !== null; e = this.core.pollEvent()) this.dispatch(e);
    this.arm();
  }

  private dispatch(e: ClientEvent): void {
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (w.match(e)) {
        this.waiters.splice(i--, 1);
        w.resolve(e);
      }
    }
    const settle = (id: number, value: unknown): boolean => {
      const p = this.pending.get(id);
      if (!p) return false;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(value);
      return true;
    };
    switch (e.type) {
      case 'lookup-result':
        settle(e.id, { online: e.online, ...(e.udp ? { udp: e.udp } : {}) });
        break;
      case 'connect-answer': {
        const { type: _t, id, ...answer } = e;
        settle(id, answer);
        break;
      }
      case 'connect-request': {
        const { type: _t, ...request } = e;
        this.emit('connect-request', request);
        break;
      }
      case 'signal':
        this.emit('signal', { from: e.from, kind: e.kind, data: e.data });
        break;
      case 'punch-go':
        if (e.id === 0 || !settle(e.id, { peer: e.peer, delayMs: e.delayMs }))
          this.emit('punch-go', { peer: e.peer, delayMs: e.delayMs });
        break;
      case 'relay-allocated': {
        const allocation: RelayAllocation = {
          peer: e.peer,
          channel: e.channel,
          bindKey: e.bindKey,
          expiresInMs: e.expiresInMs,
        };
        if (e.id === 0 || !settle(e.id, allocation)) this.emit('relay-allocated', allocation);
        break;
      }
      case 'relay-closed':
        this.emit('relay-closed', { channel: e.channel, reason: e.reason });
        break;
      case 'mailbox-opened':
        settle(e.id, { nameplate: e.nameplate, expiresInMs: e.expiresInMs });
        break;
      case 'mailbox-message':
        this.emit('mailbox-message', { nameplate: e.nameplate, data: e.data });
        break;
      case 'mailbox-closed':
        this.emit('mailbox-closed', { nameplate: e.nameplate, reason: e.reason });
        break;
      case 'error': {
        const p = this.pending.get(e.id);
        if (p) {
          this.pending.delete(e.id);
          clearTimeout(p.timer);
          p.reject(e.error);
        } else this.emit('server-error', e.error);
        break;
      }
      case 'fatal':
        this.close();
        break;
      default:
        break;
    }
  }

  private arm(): void {
    const deadline = this.core.nextDeadline();
    if (deadline === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = deadline;
    if (!Number.isFinite(deadline)) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Infinity;
        this.core.onTimeout(performance.now());
        this.pump();
      },
      Math.max(0, deadline - performance.now()),
    );
    this.timer.unref();
  }

  private shutdown(error: RendezvousError | null): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const closedError = error ?? new RendezvousError(RendezvousErrorCode.Closed, 'rendezvous session closed');
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(closedError);
    }
    this.pending.clear();
    for (const w of this.waiters.splice(0)) w.reject(closedError);
    this.emit('close', error);
  }
}
