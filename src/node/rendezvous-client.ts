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
import { performance } from 'node:perf_hooks';
import { systemRandom } from '../crypto/sodium.js';
import { RendezvousClientCore, type ClientEvent } from '../traversal/rendezvous/client-core.js';
import { RendezvousError, RendezvousErrorCode } from '../traversal/rendezvous/errors.js';
import { StreamKind, encodeFrame } from '../traversal/rendezvous/framing.js';
import { MAX_MESSAGE_BYTES, bytesEqual, type Candidate, type Address } from '../traversal/rendezvous/messages.js';
import { relayStreamHeader } from '../traversal/relay/stream-relay.js';
import type { ObservedAddress } from '../traversal/relay/udp-control.js';
import type { WtClient, WtReader, WtWriter } from './webtransport-types.js';
import { loadWebTransport } from './webtransport-loader.js';
import { checkClientOptions, type RendezvousClientOptions } from './rendezvous-client-options.js';
import { observeCertificate } from './observe-certificate.js';
import { StreamRelay, readFrames } from './stream-relay-leg.js';

export type { RendezvousClientOptions } from './rendezvous-client-options.js';
export { StreamRelay } from './stream-relay-leg.js';

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

type Pending = {
  readonly kind: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
};

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
