/**
 * `PunchlineServer`: the thin I/O around the sans-IO cores — one process offering
 *   - on its UDP port: STUN (src/traversal/stun server core) and the UDP relay / presence plane,
 *     demultiplexed by first byte (spec/wire.md §Demultiplexing);
 *   - on its TLS port: WebTransport over HTTP/2 and its WebSocket mapping (and HTTP/3 when the
 *     optional native add-on of @fails-components/webtransport is installed), carrying the
 *     rendezvous control stream and stream-relay streams (spec/rendezvous.md §Carriers);
 *   - on a loopback HTTP port: Prometheus /metrics and /healthz;
 *   - with an alternate address: three more UDP sockets answering STUN only, for RFC 5780 behaviour
 *     discovery (primary/alternate IP × primary/alternate port).
 * Clients need one string to reach it, `info.address` (src/traversal/rendezvous/server-address.ts).
 * The self-signed TLS certificate is renewed in-process before it expires (`updateCert`, no restart);
 * clients bind their proof to whichever certificate they see, so nothing they hold goes stale.
 * All protocol decisions are in RendezvousServerCore / RelayCore; this file moves bytes and time.
 */
import dgram from 'node:dgram';
import { createServer, type Server as HttpServer } from 'node:http';
import { isIPv6 } from 'node:net';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { KeyPair } from '../crypto/keys.js';
import { systemRandom } from '../crypto/sodium.js';
import { encodePublicKey } from '../crypto/key-text.js';
import { applyHandshakeTimeouts } from './handshake-timeouts.js';
import type { Address } from '../transport/api.js';
import { classifyDatagram } from '../wire/demux.js';
import { loadWebTransport } from '../node/rendezvous-client.js';
import { DatagramKind } from '../wire/types.js';
import { StunServerCore } from '../traversal/stun/server-core.js';
import { normalizeHost } from '../traversal/stun/address.js';
import { FrameDecoder, StreamKind, encodeFrame } from '../traversal/rendezvous/framing.js';
import { CHANNEL_ID_LENGTH, MAX_MESSAGE_BYTES, toHex } from '../traversal/rendezvous/messages.js';
import { MAX_RELAY_STREAM_DATAGRAM, RELAY_STREAM_HEADER_LENGTH } from '../traversal/relay/stream-relay.js';
import { ServerError, ServerErrorCode } from './errors.js';
import {
  DEFAULT_RENEW_BEFORE_MS,
  loadCertificateFiles,
  loadOrCreateSelfSigned,
  loadOrCreateServerKey,
  type TlsMaterial,
} from './identity.js';
import { formatServerAddress, type ServerAddress } from '../traversal/rendezvous/server-address.js';
import type { SocketIndex } from '../traversal/stun/server-core.js';
import { silentLogger, type Logger } from './log.js';
import { RateWindow, renderMetrics, type AdapterCounters } from './metrics.js';
import { RendezvousServerCore, type RendezvousLimits } from './rendezvous-core.js';
import type { RelayLimits } from './relay-core.js';
import type { WtBidi, WtReader, WtSession, WtWriter } from '../node/webtransport-types.js';

/** The URL path of the rendezvous WebTransport endpoint. */
export const RENDEZVOUS_PATH = '/punchline';
export const DEFAULT_UDP_PORT = 3478;
export const DEFAULT_TLS_PORT = 4433;
export const DEFAULT_METRICS_PORT = 9464;

export interface PunchlineServerOptions {
  /** Address for the UDP and TLS ports. Default 127.0.0.1. */
  readonly host?: string;
  readonly udpPort?: number;
  readonly port?: number;
  /** Metrics/health HTTP listener; `null` disables it. Default 127.0.0.1:9464. */
  readonly metricsHost?: string;
  readonly metricsPort?: number | null;
  /** Persistent state: server identity and generated certificate. Needed unless keyPair and tls are given. */
  readonly dataDir?: string;
  readonly keyPair?: KeyPair;
  /** PEM strings, or files, of a real certificate. Without: a self-signed one in dataDir. */
  readonly tls?:
    | { readonly cert: string; readonly key: string }
    | { readonly certFile: string; readonly keyFile: string };
  /** Names for the self-signed certificate (default: localhost, 127.0.0.1, ::1 and `host`). */
  readonly certificateNames?: readonly string[];
  /**
   * The host clients reach this server at, written into `info.address`. Default: `host`, or for a
   * wildcard `host` the first non-internal interface address of its family.
   */
  readonly publicHost?: string;
  /**
   * A second IP and port of this host (both different from the primary): STUN answers there too, with
   * OTHER-ADDRESS and CHANGE-REQUEST, so clients learn their NAT's mapping behaviour (RFC 5780 §4.3).
   * Port 0 picks one.
   */
  readonly alternate?: { readonly host: string; readonly port: number };
  /** Validity of a generated certificate (default and maximum: just under 14 days; tests use seconds). */
  readonly certificateValidityMs?: number;
  /** A generated certificate is renewed when less than this is left (default 24 h). */
  readonly certificateRenewBeforeMs?: number;
  /** With certificate files: how often they are re-read for a renewed certificate (default 10 min). */
  readonly certificateReloadMs?: number;
  readonly limits?: Partial<RendezvousLimits>;
  readonly relayLimits?: Partial<RelayLimits>;
  /** Serve STUN on the UDP port (default true). */
  readonly stun?: boolean;
  /** 'auto' (default): HTTP/3 too when the native add-on loads; 'off': HTTP/2 + WebSocket only. */
  readonly http3?: 'auto' | 'off';
  readonly logger?: Logger;
}

export interface ServerInfo {
  /** The one string clients need (`punchline://KEY@host:udp?wt=port&alt=host:port`). */
  readonly address: string;
  readonly serverAddress: ServerAddress;
  readonly udp: Address;
  /** The RFC 5780 alternate address (STUN only), when configured. */
  readonly alternate: Address | null;
  readonly tls: Address;
  readonly metrics: Address | null;
  /** Rendezvous URL clients connect to. */
  readonly url: string;
  readonly publicKey: Uint8Array;
  readonly publicKeyText: string;
  readonly certificateSha256: Uint8Array;
  readonly certificateSelfSigned: boolean;
  readonly certificateNotAfter: Date;
  readonly http3: boolean;
}

// ---- the slice of @fails-components/webtransport used here (its d.ts types are loose) ------------

interface WtServer {
  readonly ready: Promise<void>;
  readonly closed: Promise<void>;
  startServer(): void;
  stopServer(): void;
  /** Replaces the certificate for new TLS connections (Node's setSecureContext). */
  updateCert(cert: string, privKey: string, http2only?: boolean): void;
  address(): { port: number; host: string } | null;
  sessionStream(path: string): {
    getReader(): { read(): Promise<{ done: boolean; value?: WtSession }>; cancel(): Promise<void> };
  };
}

interface SessionIo {
  readonly id: number;
  readonly wt: WtSession;
  control: WtWriter | null;
  readonly pendingControl: Uint8Array[];
  readonly relays: Map<string, WtWriter>;
  streams: number;
  closed: boolean;
}

/** Control bytes queued towards a client that does not read before its session is closed. */
const MAX_CONTROL_BACKLOG = 256 * 1024;
/** Relay bytes queued towards a stream leg before datagrams are dropped (they are datagrams: loss is fine). */
const MAX_RELAY_BACKLOG = 512 * 1024;
const MAX_PENDING_CONTROL = 64;
const TICK_MS = 250;
/** WebTransport session-level receive window (see startWebTransport). */
const SESSION_FLOW_CONTROL_WINDOW = 1024 * 1024;

/** Shortest wait before a renewal attempt (also the retry period after a failed one). */
const MIN_RENEW_DELAY_MS = 1000;
/** setTimeout's largest delay; longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Where the next certificate comes from: generated into the data directory before the current one
 * expires, or re-read from the operator's files (renewed by certbot or the like) every `checkEveryMs`.
 */
type CertificateSource =
  | {
      readonly kind: 'generated';
      readonly dataDir: string;
      readonly names: readonly string[];
      readonly validityMs?: number;
      readonly renewBeforeMs: number;
    }
  | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string; readonly checkEveryMs: number };

/** How often operator certificate files are checked for a renewed certificate. */
const DEFAULT_CERTIFICATE_RELOAD_MS = 10 * 60 * 1000;

/** Certificates whose hash a client's proof may cover: the current one and, until it expires, the previous. */
interface PresentedCertificate {
  readonly sha256: Uint8Array;
  readonly notAfter: Date;
}

export class PunchlineServer {
  readonly core: RendezvousServerCore;
  private baseInfo: Omit<ServerInfo, 'certificateSha256' | 'certificateNotAfter' | 'certificateSelfSigned'>;
  private tls: TlsMaterial;
  private previousCertificate: PresentedCertificate | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private readonly renewal: CertificateSource | null;
  private readonly logger: Logger;
  private readonly socket: dgram.Socket;
  private readonly stunSockets: Map<SocketIndex, dgram.Socket>;
  private readonly stunCore: StunServerCore | null;
  private readonly wt: WtServer;
  private readonly metricsServer: HttpServer | null;
  private readonly sessions = new Map<number, SessionIo>();
  private readonly timer: NodeJS.Timeout;
  private readonly messageRate = new RateWindow();
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly startedAt = performance.now();
  private closing = false;
  private closedPromise: Promise<void> | null = null;
  private readonly counters = {
    udpDatagramsReceived: Object.fromEntries(Object.values(DatagramKind).map((k) => [k, 0])) as Record<string, number>,
    udpBytesReceived: 0,
    udpBytesSent: 0,
    udpSendErrors: 0,
    adapterDrops: {
      'udp-unknown': 0,
      'stream-backlog': 0,
      'control-backlog': 0,
      'bad-stream': 0,
      'frame-oversize': 0,
      'server-full': 0,
    } as Record<string, number>,
    streamRelayBytes: 0,
    sessionsAccepted: 0,
  };

  private constructor(parts: {
    core: RendezvousServerCore;
    info: PunchlineServer['baseInfo'];
    tls: TlsMaterial;
    renewal: PunchlineServer['renewal'];
    logger: Logger;
    socket: dgram.Socket;
    stunSockets: Map<SocketIndex, dgram.Socket>;
    stunCore: StunServerCore | null;
    wt: WtServer;
    metricsServer: HttpServer | null;
  }) {
    this.core = parts.core;
    this.baseInfo = parts.info;
    this.tls = parts.tls;
    this.renewal = parts.renewal;
    this.logger = parts.logger;
    this.socket = parts.socket;
    this.stunSockets = parts.stunSockets;
    for (const [index, socket] of this.stunSockets) {
      if (index !== 0) socket.on('message', (msg, rinfo) => this.onStunOnly(index, msg, rinfo));
    }
    this.stunCore = parts.stunCore;
    this.wt = parts.wt;
    this.metricsServer = parts.metricsServer;
    this.socket.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
    this.socket.on('error', (error) => this.logger.error('udp socket error', { error }));
    this.metricsServer?.on('request', (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
      } else if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(this.metrics());
      } else if (path === '/healthz') {
        const healthy = !this.closing;
        res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            status: healthy ? 'ok' : 'shutting-down',
            peersOnline: this.core.stats().peersOnline,
            uptimeSeconds: this.uptime(),
          }),
        );
      } else {
        res.writeHead(404).end();
      }
    });
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.loopDelay.enable();
    this.armRenewal();
    void this.acceptSessions();
  }

  /** What clients need and what the server serves; the certificate fields change on renewal. */
  get info(): ServerInfo {
    return {
      ...this.baseInfo,
      certificateSha256: this.tls.sha256,
      certificateNotAfter: this.tls.notAfter,
      certificateSelfSigned: this.tls.selfSigned,
    };
  }

  /** Loads or creates identity and certificate, binds every port, and starts serving. */
  static async start(options: PunchlineServerOptions = {}): Promise<PunchlineServer> {
    const logger = options.logger ?? silentLogger;
    const host = options.host ?? '127.0.0.1';
    if ((!options.keyPair || !options.tls) && options.dataDir === undefined) {
      throw new ServerError(
        ServerErrorCode.Config,
        'a data directory is needed for the server key or the generated certificate',
      );
    }
    const keyPair = options.keyPair ?? (await loadOrCreateServerKey(options.dataDir!)).keyPair;
    const names = certificateNames(options, host);
    const tls = await resolveTls(options, names);
    const core = new RendezvousServerCore({
      staticKeyPair: keyPair,
      random: systemRandom,
      channelBindings: [tls.sha256],
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.relayLimits ? { relayLimits: options.relayLimits } : {}),
    });

    const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (cause) =>
        reject(
          new ServerError(
            ServerErrorCode.Listen,
            `cannot bind UDP ${host}:${options.udpPort ?? DEFAULT_UDP_PORT}: ${cause.message}`,
            { cause },
          ),
        ),
      );
      socket.bind(options.udpPort ?? DEFAULT_UDP_PORT, host, () => resolve());
    });
    const udp = { host: normalizeHost(socket.address().address), port: socket.address().port };
    let stunSockets: Map<SocketIndex, dgram.Socket>;
    try {
      stunSockets = await bindAlternateSockets(socket, udp, options.alternate);
    } catch (error) {
      socket.close();
      throw error;
    }
    const alternate = options.alternate
      ? { host: normalizeHost(options.alternate.host), port: stunSockets.get(3)!.address().port }
      : null;
    const closeUdp = (): void => {
      for (const s of stunSockets.values()) s.close();
    };
    const stunCore =
      options.stun === false
        ? null
        : new StunServerCore({ primary: udp, ...(alternate ? { alternate } : {}), software: 'punchline' });

    let wt: WtServer;
    let http3 = false;
    try {
      ({ server: wt, http3 } = await startWebTransport(
        host,
        options.port ?? DEFAULT_TLS_PORT,
        tls,
        options.http3 ?? 'auto',
        logger,
      ));
    } catch (error) {
      closeUdp();
      throw error;
    }
    const tlsAddress = wt.address()!;

    let metricsServer: HttpServer | null = null;
    let metrics: Address | null = null;
    if (options.metricsPort !== null) {
      const server = createServer();
      const metricsHost = options.metricsHost ?? '127.0.0.1';
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', (cause) =>
            reject(
              new ServerError(ServerErrorCode.Listen, `cannot bind metrics ${metricsHost}: ${cause.message}`, {
                cause,
              }),
            ),
          );
          server.listen(options.metricsPort ?? DEFAULT_METRICS_PORT, metricsHost, () => resolve());
        });
      } catch (error) {
        closeUdp();
        wt.stopServer();
        throw error;
      }
      const a = server.address();
      if (a && typeof a === 'object') metrics = { host: a.address, port: a.port };
      metricsServer = server;
    }

    const urlHost = isIPv6(tlsAddress.host) ? `[${tlsAddress.host}]` : tlsAddress.host;
    const serverAddress: ServerAddress = {
      publicKey: keyPair.publicKey,
      udp: { host: normalizeHost(options.publicHost ?? advertisedHost(udp.host)), port: udp.port },
      webTransportPort: tlsAddress.port,
      alternate,
    };
    const info = {
      address: formatServerAddress(serverAddress),
      serverAddress,
      udp,
      alternate,
      tls: { host: tlsAddress.host, port: tlsAddress.port },
      metrics,
      url: `https://${urlHost}:${tlsAddress.port}${RENDEZVOUS_PATH}`,
      publicKey: keyPair.publicKey,
      publicKeyText: encodePublicKey(keyPair.publicKey),
      http3,
    };
    const renewal: CertificateSource | null =
      options.tls === undefined
        ? {
            kind: 'generated',
            dataDir: options.dataDir!,
            names,
            renewBeforeMs: options.certificateRenewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS,
            ...(options.certificateValidityMs === undefined ? {} : { validityMs: options.certificateValidityMs }),
          }
        : 'certFile' in options.tls
          ? {
              kind: 'files',
              certFile: options.tls.certFile,
              keyFile: options.tls.keyFile,
              checkEveryMs: options.certificateReloadMs ?? DEFAULT_CERTIFICATE_RELOAD_MS,
            }
          : null;
    const server = new PunchlineServer({
      core,
      info,
      tls,
      renewal,
      logger,
      socket,
      stunSockets,
      stunCore,
      wt,
      metricsServer,
    });
    logger.info('server listening', {
      address: info.address,
      udp: `${udp.host}:${udp.port}`,
      url: info.url,
      metrics: metrics ? `http://${metrics.host}:${metrics.port}/metrics` : null,
      publicKey: info.publicKeyText,
      certificateSha256: Buffer.from(tls.sha256).toString('hex'),
      certificateSelfSigned: tls.selfSigned,
      certificateCreated: tls.created,
      certificateNotAfter: tls.notAfter.toISOString(),
      http3,
    });
    return server;
  }

  /** Prometheus text of the current counters. */
  metrics(): string {
    const memory = process.memoryUsage();
    const delay = this.loopDelay;
    const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
    const text = renderMetrics({
      rendezvous: this.core.stats(),
      adapter: this.adapterCounters(),
      stun: this.stunCore ? { ...this.stunCore.counters } : null,
      messagesPerSecond: this.messageRate.rate(),
      uptimeSeconds: this.uptime(),
      residentMemoryBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      eventLoopDelayP50: seconds(delay.percentile(50)),
      eventLoopDelayP99: seconds(delay.percentile(99)),
      eventLoopDelayMax: seconds(delay.max),
    });
    delay.reset();
    return text;
  }

  adapterCounters(): AdapterCounters {
    return {
      ...this.counters,
      udpDatagramsReceived: { ...this.counters.udpDatagramsReceived },
      adapterDrops: { ...this.counters.adapterDrops },
    };
  }

  /**
   * Graceful shutdown: stops accepting, tells every session (WebTransport close with reason
   * "server shutting down"), releases presence and relays, then closes the ports.
   */
  close(): Promise<void> {
    if (this.closedPromise) return this.closedPromise;
    this.closing = true;
    this.closedPromise = (async () => {
      this.logger.info('server shutting down', { sessions: this.sessions.size });
      clearInterval(this.timer);
      if (this.renewTimer) clearTimeout(this.renewTimer);
      this.loopDelay.disable();
      for (const io of [...this.sessions.values()]) this.closeSessionIo(io, 'server shutting down');
      this.sessions.clear();
      try {
        this.wt.stopServer();
      } catch (error) {
        this.logger.warn('webtransport stop failed', { error });
      }
      await Promise.race([this.wt.closed, new Promise((r) => setTimeout(r, 2000).unref())]);
      await Promise.all(
        [...this.stunSockets.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      );
      if (this.metricsServer) {
        this.metricsServer.closeAllConnections();
        await new Promise<void>((resolve) => this.metricsServer!.close(() => resolve()));
      }
      this.logger.info('server stopped');
    })();
    return this.closedPromise;
  }

  // ---- certificate renewal -----------------------------------------------------------------------

  /**
   * Schedules the next renewal: of a generated certificate `renewBeforeMs` before it expires, of
   * certificate files `checkEveryMs` from now.
   */
  private armRenewal(delayMs?: number): void {
    const renewal = this.renewal;
    if (!renewal || this.closing) return;
    const due = (): number =>
      renewal.kind === 'generated' ? this.tls.notAfter.getTime() - renewal.renewBeforeMs - Date.now() : 0;
    const wait =
      renewal.kind === 'files'
        ? (delayMs ?? renewal.checkEveryMs)
        : Math.min(MAX_TIMER_MS, Math.max(MIN_RENEW_DELAY_MS, delayMs ?? due()));
    this.renewTimer = setTimeout(() => {
      this.renewTimer = null;
      if (due() > MIN_RENEW_DELAY_MS) {
        this.armRenewal(); // a long wait was cut at MAX_TIMER_MS
        return;
      }
      void this.renewCertificate();
    }, wait);
    this.renewTimer.unref();
  }

  /**
   * Generates (and stores) the next certificate, serves it to new connections, and accepts proofs
   * bound to either certificate until the old one expires: a client whose TLS handshake finished just
   * before the switch still registers.
   */
  private async renewCertificate(): Promise<void> {
    const renewal = this.renewal!;
    try {
      const next =
        renewal.kind === 'files'
          ? await loadCertificateFiles(renewal.certFile, renewal.keyFile)
          : await loadOrCreateSelfSigned(renewal.dataDir, renewal.names, {
              renewBeforeMs: renewal.renewBeforeMs,
              ...(renewal.validityMs === undefined ? {} : { validityMs: renewal.validityMs }),
            });
      if (this.closing) return;
      if (!Buffer.from(next.sha256).equals(Buffer.from(this.tls.sha256))) {
        this.wt.updateCert(next.cert, next.key);
        this.previousCertificate = { sha256: this.tls.sha256, notAfter: this.tls.notAfter };
        this.tls = next;
        this.updateChannelBindings();
        this.logger.info('certificate renewed', {
          certificateSha256: Buffer.from(next.sha256).toString('hex'),
          certificateNotAfter: next.notAfter.toISOString(),
        });
      }
      this.armRenewal();
    } catch (error) {
      // Files caught half-written, a full disk...: the current certificate stays in service meanwhile.
      this.logger.error('certificate renewal failed; retrying', { error });
      this.armRenewal(renewal.kind === 'files' ? renewal.checkEveryMs : 60_000);
    }
  }

  private updateChannelBindings(): void {
    const previous = this.previousCertificate;
    if (previous && previous.notAfter.getTime() <= Date.now()) this.previousCertificate = null;
    this.core.setChannelBindings(
      this.previousCertificate ? [this.tls.sha256, this.previousCertificate.sha256] : [this.tls.sha256],
    );
  }

  // ---- UDP ---------------------------------------------------------------------------------------

  /** Datagrams on the RFC 5780 alternate sockets: STUN only. */
  private onStunOnly(index: SocketIndex, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.udpBytesReceived += msg.length;
    const out =
      this.stunCore && classifyDatagram(msg) === DatagramKind.Stun
        ? this.stunCore.receive(msg, { host: normalizeHost(rinfo.address), port: rinfo.port }, performance.now(), index)
        : null;
    if (!out) {
      this.counters.adapterDrops['udp-unknown']! += 1;
      return;
    }
    this.sendStun(out.socket, out.data, out.destination);
  }

  private sendStun(index: SocketIndex, data: Uint8Array, to: Address): void {
    const socket = this.stunSockets.get(index);
    if (!socket) return;
    this.counters.udpBytesSent += data.length;
    socket.send(data, to.port, to.host, (error) => {
      if (error) this.counters.udpSendErrors += 1;
    });
  }

  private onUdp(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const now = performance.now();
    this.counters.udpBytesReceived += msg.length;
    const kind = classifyDatagram(msg);
    this.counters.udpDatagramsReceived[kind] = (this.counters.udpDatagramsReceived[kind] ?? 0) + 1;
    const from: Address = { host: normalizeHost(rinfo.address), port: rinfo.port };
    if (kind === DatagramKind.Relay) {
      this.core.receiveDatagram(msg, from, now);
      this.flush();
    } else if (kind === DatagramKind.Stun && this.stunCore) {
      const out = this.stunCore.receive(msg, from, now, 0);
      if (out) this.sendStun(out.socket, out.data, out.destination);
    } else {
      this.counters.adapterDrops['udp-unknown']! += 1;
    }
  }

  private sendUdp(data: Uint8Array, to: Address): void {
    this.counters.udpBytesSent += data.length;
    this.socket.send(data, to.port, to.host, (error) => {
      if (error) this.counters.udpSendErrors += 1;
    });
  }

  // ---- WebTransport sessions -----------------------------------------------------------------------

  private async acceptSessions(): Promise<void> {
    for await (const wt of readUntilDone<WtSession>(this.wt.sessionStream(RENDEZVOUS_PATH).getReader())) {
      void this.handleSession(wt).catch((error: unknown) => this.logger.warn('session handler failed', { error }));
    }
  }

  private async handleSession(wt: WtSession): Promise<void> {
    wt.closed.catch(() => undefined);
    try {
      await wt.ready;
    } catch {
      return;
    }
    if (this.closing) {
      safeClose(wt, 'server shutting down');
      return;
    }
    const id = this.core.openSession(performance.now(), sourceHost(wt.peerAddress));
    if (id === null) {
      this.counters.adapterDrops['server-full']! += 1;
      safeClose(wt, 'server full');
      return;
    }
    this.counters.sessionsAccepted += 1;
    const io: SessionIo = { id, wt, control: null, pendingControl: [], relays: new Map(), streams: 0, closed: false };
    this.sessions.set(id, io);
    this.logger.debug('session opened', { session: id, peer: wt.peerAddress });
    wt.closed
      .catch(() => undefined)
      .finally(() => {
        if (io.closed) return;
        io.closed = true;
        this.sessions.delete(id);
        this.core.closeSession(id, 'transport closed');
        this.flush();
        this.logger.debug('session closed', { session: id });
      });
    this.flush();
    for await (const bidi of readUntilDone<WtBidi>(wt.incomingBidirectionalStreams.getReader())) {
      io.streams += 1;
      void this.handleStream(io, bidi)
        .catch(() => undefined)
        .finally(() => (io.streams -= 1));
    }
  }

  private async handleStream(io: SessionIo, bidi: WtBidi): Promise<void> {
    const reader = bidi.readable.getReader();
    const writer = bidi.writable.getWriter();
    const reject = async (): Promise<void> => {
      this.counters.adapterDrops['bad-stream']! += 1;
      await Promise.allSettled([reader.cancel(), writer.abort()]);
    };
    // One control stream plus one relay stream per allowed allocation.
    if (io.streams > 1 + this.core.relay.limits.maxAllocationsPerPeer) return reject();
    let head: Uint8Array = new Uint8Array(0);
    let kind: number | undefined;
    let needed = 1;
    while (head.length < needed) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done || !value) return reject();
      head = concat(head, value);
      kind = head[0];
      needed = kind === StreamKind.Relay ? RELAY_STREAM_HEADER_LENGTH : 1;
    }
    const rest = head.subarray(needed);
    if (kind === StreamKind.Control && io.control === null) {
      io.control = writer;
      for (const frame of io.pendingControl.splice(0)) this.writeControl(io, frame);
      await this.pump(io, reader, rest, MAX_MESSAGE_BYTES, (frame) =>
        this.core.receive(io.id, frame, performance.now()),
      );
      // The control stream ended: the session ends with it.
      this.closeSessionIo(io, 'control stream closed');
    } else if (kind === StreamKind.Relay) {
      const leg = head.slice(1, 1 + CHANNEL_ID_LENGTH);
      if (!this.core.openRelayStream(io.id, leg)) return reject();
      const key = toHex(leg);
      io.relays.set(key, writer);
      await this.pump(io, reader, rest, MAX_RELAY_STREAM_DATAGRAM, (frame) =>
        this.core.receiveRelayFrame(io.id, leg, frame, performance.now()),
      );
      if (io.relays.get(key) === writer) {
        io.relays.delete(key);
        this.core.closeRelayStream(io.id, leg);
      }
    } else {
      return reject();
    }
  }

  /** Reads frames from a stream until it ends; a framing violation closes the whole session. */
  private async pump(
    io: SessionIo,
    reader: WtReader,
    first: Uint8Array,
    maxFrame: number,
    onFrame: (frame: Uint8Array) => void,
  ): Promise<void> {
    const decoder = new FrameDecoder(maxFrame);
    let chunk: Uint8Array | undefined = first;
    for (;;) {
      if (chunk && chunk.length > 0) {
        let frames: Uint8Array[];
        try {
          frames = decoder.push(chunk);
        } catch {
          this.counters.adapterDrops['frame-oversize']! += 1;
          this.closeSessionIo(io, 'frame too large');
          return;
        }
        for (const frame of frames) onFrame(frame);
        this.flush();
      }
      if (io.closed) return;
      const next: { done: boolean; value?: Uint8Array } = await reader.read().catch(() => ({ done: true }));
      if (next.done) return;
      chunk = next.value;
    }
  }

  private writeControl(io: SessionIo, frame: Uint8Array): void {
    const writer = io.control;
    if (!writer) {
      if (io.pendingControl.length >= MAX_PENDING_CONTROL) {
        this.counters.adapterDrops['control-backlog']! += 1;
        this.closeSessionIo(io, 'control backlog');
        return;
      }
      io.pendingControl.push(frame);
      return;
    }
    if (writer.desiredSize !== null && writer.desiredSize < -MAX_CONTROL_BACKLOG) {
      this.counters.adapterDrops['control-backlog']! += 1;
      this.closeSessionIo(io, 'client does not read');
      return;
    }
    writer.write(frame).catch(() => undefined);
  }

  /** Executes what the core decided. */
  private flush(): void {
    for (let out = this.core.pollOutput(); out !== null; out = this.core.pollOutput()) {
      switch (out.kind) {
        case 'udp':
          this.sendUdp(out.data, out.to);
          break;
        case 'send': {
          const io = this.sessions.get(out.sessionId);
          if (io && !io.closed) this.writeControl(io, encodeFrame(out.data));
          break;
        }
        case 'close': {
          const io = this.sessions.get(out.sessionId);
          if (io) {
            // The core has already forgotten the session; just end the transport (after queued messages).
            io.closed = true;
            this.sessions.delete(io.id);
            const writer = io.control;
            void (writer ? writer.close().catch(() => undefined) : Promise.resolve()).finally(() =>
              safeClose(io.wt, out.reason),
            );
          }
          break;
        }
        case 'relay-stream': {
          const writer = this.sessions.get(out.sessionId)?.relays.get(toHex(out.leg));
          if (!writer || (writer.desiredSize !== null && writer.desiredSize < -MAX_RELAY_BACKLOG)) {
            this.counters.adapterDrops['stream-backlog']! += 1;
            break;
          }
          this.counters.streamRelayBytes += out.data.length;
          writer.write(encodeFrame(out.data)).catch(() => undefined);
          break;
        }
        case 'relay-stream-close': {
          const io = this.sessions.get(out.sessionId);
          const key = toHex(out.leg);
          const writer = io?.relays.get(key);
          if (io && writer) {
            io.relays.delete(key);
            writer.close().catch(() => undefined);
          }
          break;
        }
      }
    }
  }

  private closeSessionIo(io: SessionIo, reason: string): void {
    if (io.closed) return;
    io.closed = true;
    this.sessions.delete(io.id);
    this.core.closeSession(io.id, reason);
    this.flush();
    safeClose(io.wt, reason);
  }

  private tick(): void {
    if (this.previousCertificate) this.updateChannelBindings();
    const now = performance.now();
    this.core.onTimeout(now);
    this.flush();
    this.messageRate.sample(now, this.core.stats().messagesReceived);
  }

  private uptime(): number {
    return (performance.now() - this.startedAt) / 1000;
  }
}

/** Yields a stream reader's values until it ends, errors, or yields nothing. */
async function* readUntilDone<T>(reader: { read(): Promise<{ done: boolean; value?: T }> }): AsyncGenerator<T> {
  for (;;) {
    let next: { done: boolean; value?: T };
    try {
      next = await reader.read();
    } catch {
      return;
    }
    if (next.done || next.value === undefined) return;
    yield next.value;
  }
}

function safeClose(wt: WtSession, reason: string): void {
  try {
    wt.close({ closeCode: 0, reason: reason.slice(0, 100) });
  } catch {
    // already closed
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function certificateNames(options: PunchlineServerOptions, host: string): readonly string[] {
  return (
    options.certificateNames ?? [
      'localhost',
      '127.0.0.1',
      '::1',
      ...(host === '0.0.0.0' || host === '::' ? [] : [host]),
      ...(options.publicHost && options.publicHost !== host ? [options.publicHost] : []),
    ]
  );
}

/** The host to advertise for a bound address: itself, or for a wildcard the first external interface address. */
function advertisedHost(bound: string): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound;
  const family = bound === '::' ? 'IPv6' : 'IPv4';
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? [])
      if (!a.internal && a.family === family && !a.address.startsWith('fe80')) return a.address;
  }
  return family === 'IPv6' ? '::1' : '127.0.0.1';
}

/**
 * The sockets STUN answers on: index 0 is the main socket; with an alternate address also
 * 1 = host:altPort, 2 = altHost:udpPort, 3 = altHost:altPort (RFC 5780 §6, as StunServerCore numbers them).
 */
async function bindAlternateSockets(
  main: dgram.Socket,
  udp: Address,
  alternate: { readonly host: string; readonly port: number } | undefined,
): Promise<Map<SocketIndex, dgram.Socket>> {
  const sockets = new Map<SocketIndex, dgram.Socket>([[0, main]]);
  if (!alternate) return sockets;
  if (
    [udp.host, alternate.host].some((h) => h === '0.0.0.0' || h === '::') ||
    normalizeHost(alternate.host) === udp.host
  )
    throw new ServerError(ServerErrorCode.Config, 'the alternate address needs a second specific IP (RFC 5780 §6)');
  try {
    const s3 = await bindUdp(alternate.host, alternate.port);
    sockets.set(3, s3);
    const altPort = s3.address().port;
    if (altPort === udp.port)
      throw new ServerError(ServerErrorCode.Config, 'the alternate port must differ from the UDP port (RFC 5780 §6)');
    sockets.set(1, await bindUdp(udp.host, altPort));
    sockets.set(2, await bindUdp(alternate.host, udp.port));
    return sockets;
  } catch (error) {
    for (const [index, s] of sockets) if (index !== 0) s.close();
    throw error;
  }
}

function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    socket.once('error', (cause) => {
      socket.close();
      reject(new ServerError(ServerErrorCode.Listen, `cannot bind UDP ${host}:${port}: ${cause.message}`, { cause }));
    });
    socket.bind(port, host, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // ICMP errors on UDP are not fatal to a server
      resolve(socket);
    });
  });
}

async function resolveTls(options: PunchlineServerOptions, names: readonly string[]): Promise<TlsMaterial> {
  const tls = options.tls;
  if (tls && 'certFile' in tls) return loadCertificateFiles(tls.certFile, tls.keyFile);
  if (tls) {
    const { certificateInfo, keyMatchesCertificate } = await import('./certificate.js');
    if (!keyMatchesCertificate(tls.cert, tls.key))
      throw new ServerError(ServerErrorCode.Certificate, 'the TLS key does not belong to the certificate');
    const info = certificateInfo(tls.cert);
    return {
      cert: tls.cert,
      key: tls.key,
      sha256: info.sha256,
      notAfter: info.notAfter,
      selfSigned: false,
      created: false,
    };
  }
  return loadOrCreateSelfSigned(options.dataDir!, names, {
    ...(options.certificateValidityMs === undefined ? {} : { validityMs: options.certificateValidityMs }),
    ...(options.certificateRenewBeforeMs === undefined ? {} : { renewBeforeMs: options.certificateRenewBeforeMs }),
  });
}

/** The IP of a "host:port" peer address ('' when unknown): sessions are capped per source IP. */
function sourceHost(peer: string | undefined): string {
  return peer === undefined ? '' : peer.slice(0, Math.max(0, peer.lastIndexOf(':')));
}

async function startWebTransport(
  host: string,
  port: number,
  tls: TlsMaterial,
  mode: 'auto' | 'off',
  logger: Logger,
): Promise<{ server: WtServer; http3: boolean }> {
  const loaded = await loadWebTransport();
  const http3 = mode === 'auto' && loaded.http3;
  const lib = loaded.module as {
    Http2Server: new (init: Record<string, unknown>) => WtServer;
    HttpServer: new (init: Record<string, unknown>) => WtServer;
  };
  const init = {
    port,
    host,
    secret: randomBytes(16).toString('hex'),
    cert: tls.cert,
    privKey: tls.key,
    // A session needs one control stream and a few relay streams (spec/rendezvous.md §Carriers).
    initialBidirectionalStreams: 16,
    initialUnidirectionalStreams: 1,
    // The library's HTTP/2 server advertises initialSessionFlowControlWindow to the client but opens
    // its own receive window at sessionFlowControlWindowSizeLimit, and only sends WT_MAX_DATA once half
    // of *that* is consumed: with different values the client stalls after the advertised 16 KiB
    // (measured: every client→server stream stops at 16 384 bytes). Equal values keep both in step.
    initialSessionFlowControlWindow: SESSION_FLOW_CONTROL_WINDOW,
    sessionFlowControlWindowSizeLimit: SESSION_FLOW_CONTROL_WINDOW,
    defaultDatagramsReadableMode: 'bytes',
  };
  const server = http3 ? new lib.HttpServer({ ...init, reliability: 'both' }) : new lib.Http2Server(init);
  server.startServer();
  try {
    await server.ready;
  } catch (cause) {
    throw new ServerError(ServerErrorCode.Listen, `cannot listen on ${host}:${port}: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (!server.address())
    throw new ServerError(ServerErrorCode.Listen, `WebTransport server on ${host}:${port} has no address`);
  if (!http3) {
    // The library's HTTP/2 server pings every session once a second only to estimate RTT for its
    // flow-control auto-tuning (which falls back to 25 ms without it). At 10 000 peers that is
    // 10 000 PINGs/s of pure overhead; liveness comes from the rendezvous pings (15 s) instead.
    const h2 = (server as unknown as { transportInt?: { serverInt?: { removeAllListeners(event: string): unknown } } })
      .transportInt?.serverInt;
    h2?.removeAllListeners('session');
    applyHandshakeTimeouts(h2);
  }
  logger.debug('webtransport listening', { http3 });
  return { server, http3 };
}
