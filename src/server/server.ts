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
import type dgram from 'node:dgram';
import type { Server as HttpServer } from 'node:http';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { systemRandom } from '../crypto/sodium.js';
import type { Address } from '../transport/api.js';
import { classifyDatagram } from '../wire/demux.js';
import { DatagramKind } from '../wire/types.js';
import { StunServerCore } from '../traversal/stun/server-core.js';
import { normalizeHost } from '../traversal/stun/address.js';
import { FrameDecoder, StreamKind, encodeFrame } from '../traversal/rendezvous/framing.js';
import { CHANNEL_ID_LENGTH, MAX_MESSAGE_BYTES, toHex } from '../traversal/rendezvous/messages.js';
import { MAX_RELAY_STREAM_DATAGRAM, RELAY_STREAM_HEADER_LENGTH } from '../traversal/relay/stream-relay.js';
import { ServerError, ServerErrorCode } from './errors.js';
import { loadOrCreateServerKey, type TlsMaterial } from './identity.js';
import type { SocketIndex } from '../traversal/stun/server-core.js';
import { silentLogger, type Logger } from './log.js';
import { RateWindow, newAdapterCounters, renderMetrics, type AdapterCounters } from './metrics.js';
import { RendezvousServerCore } from './rendezvous-core.js';
import type { WtBidi, WtReader, WtSession } from '../node/webtransport-types.js';
import { BoundedWriter } from './bounded-writer.js';
import {
  CertificateRenewal,
  certificateNames,
  certificateSource,
  resolveTls,
  type CertificateSource,
} from './certificate-renewal.js';
import { advertisedHost, bindAlternateSockets, bindUdpSocket } from './udp-sockets.js';
import { listenMetrics, serveMetrics } from './metrics-http.js';
import {
  DEFAULT_METRICS_PORT,
  DEFAULT_TLS_PORT,
  DEFAULT_UDP_PORT,
  RENDEZVOUS_PATH,
  describeServer,
  type PunchlineServerOptions,
  type ServerInfo,
} from './server-options.js';
import {
  concat,
  readUntilDone,
  safeClose,
  sourceHost,
  startWebTransport,
  type WtServer,
} from './webtransport-server.js';

interface SessionIo {
  readonly id: number;
  readonly wt: WtSession;
  control: BoundedWriter | null;
  readonly pendingControl: Uint8Array[];
  readonly relays: Map<string, BoundedWriter>;
  streams: number;
  closed: boolean;
}

/** Control bytes queued towards a client that does not read before its session is closed. */
export const MAX_CONTROL_BACKLOG = 256 * 1024;
/** Relay bytes queued towards a stream leg before datagrams are dropped (they are datagrams: loss is fine). */
export const MAX_RELAY_BACKLOG = 512 * 1024;
const MAX_PENDING_CONTROL = 64;
const TICK_MS = 250;
export class PunchlineServer {
  readonly core: RendezvousServerCore;
  private baseInfo: Omit<ServerInfo, 'certificateSha256' | 'certificateNotAfter' | 'certificateSelfSigned'>;
  private readonly certificate: CertificateRenewal;
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
  private readonly counters = newAdapterCounters();

  private constructor(parts: {
    core: RendezvousServerCore;
    info: PunchlineServer['baseInfo'];
    tls: TlsMaterial;
    renewal: CertificateSource | null;
    logger: Logger;
    socket: dgram.Socket;
    stunSockets: Map<SocketIndex, dgram.Socket>;
    stunCore: StunServerCore | null;
    wt: WtServer;
    metricsServer: HttpServer | null;
  }) {
    this.core = parts.core;
    this.baseInfo = parts.info;
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
    if (this.metricsServer)
      serveMetrics(this.metricsServer, {
        metrics: () => this.metrics(),
        health: () => ({
          healthy: !this.closing,
          peersOnline: this.core.stats().peersOnline,
          uptimeSeconds: this.uptime(),
        }),
      });
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.loopDelay.enable();
    this.certificate = new CertificateRenewal(
      parts.tls,
      parts.renewal,
      {
        updateCert: (cert, key) => this.wt.updateCert(cert, key),
        setChannelBindings: (bindings) => this.core.setChannelBindings(bindings),
      },
      this.logger,
    );
    this.certificate.start();
    void this.acceptSessions();
  }

  /** What clients need and what the server serves; the certificate fields change on renewal. */
  get info(): ServerInfo {
    return {
      ...this.baseInfo,
      certificateSha256: this.certificate.current.sha256,
      certificateNotAfter: this.certificate.current.notAfter,
      certificateSelfSigned: this.certificate.current.selfSigned,
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

    const socket = await bindUdpSocket(host, options.udpPort ?? DEFAULT_UDP_PORT);
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
      try {
        metricsServer = await listenMetrics(
          options.metricsHost ?? '127.0.0.1',
          options.metricsPort ?? DEFAULT_METRICS_PORT,
        );
      } catch (error) {
        closeUdp();
        wt.stopServer();
        throw error;
      }
      const a = metricsServer.address();
      if (a && typeof a === 'object') metrics = { host: a.address, port: a.port };
    }

    const info = describeServer({
      publicKey: keyPair.publicKey,
      publicHost: options.publicHost ?? advertisedHost(udp.host),
      udp,
      alternate,
      tls: { host: tlsAddress.host, port: tlsAddress.port },
      metrics,
      http3,
    });
    const renewal = certificateSource(options, names);
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
      this.certificate.stop();
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
      io.control = new BoundedWriter(writer, MAX_CONTROL_BACKLOG);
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
      const bounded = new BoundedWriter(writer, MAX_RELAY_BACKLOG);
      io.relays.set(key, bounded);
      await this.pump(io, reader, rest, MAX_RELAY_STREAM_DATAGRAM, (frame) =>
        this.core.receiveRelayFrame(io.id, leg, frame, performance.now()),
      );
      if (io.relays.get(key) === bounded) {
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
    if (!writer.write(frame)) {
      this.counters.adapterDrops['control-backlog']! += 1;
      this.closeSessionIo(io, 'client does not read');
    }
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
          if (!writer?.write(encodeFrame(out.data))) {
            this.counters.adapterDrops['stream-backlog']! += 1;
            break;
          }
          this.counters.streamRelayBytes += out.data.length;
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
    this.certificate.expirePrevious();
    const now = performance.now();
    this.core.onTimeout(now);
    this.flush();
    this.messageRate.sample(now, this.core.stats().messagesReceived);
  }

  private uptime(): number {
    return (performance.now() - this.startedAt) / 1000;
  }
}
