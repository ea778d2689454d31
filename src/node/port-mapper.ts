/**
 * Node binding of the port-mapping cores (src/traversal/portmap): keeps ONE UDP port mapping on the
 * default gateway for the endpoint's one socket.
 *
 * 1. Discovery, in parallel and bounded (`discoveryTimeoutMs`): a PCP ANNOUNCE and a NAT-PMP public
 *    address request to the gateway's port 5351 (from the shared socket), and an SSDP search for a
 *    UPnP IGD (from a short-lived socket of its own). None of them creates anything on the gateway.
 * 2. The first protocol that answers gets the mapping request for the socket's port; when it fails,
 *    the next protocol that answered is tried.
 * 3. The core renews at half the lifetime, remaps after a gateway restart (epoch), reports changes;
 *    `close()` deletes the mapping and waits (bounded) for the gateway to confirm.
 *
 * The port mapped is always the socket's own (`socket.port`), never a caller's number. NAT-PMP and
 * PCP replies arrive on the shared socket from the gateway's port 5351; spec/wire.md §3 classifies
 * them as `unknown` (first byte 0 or 2, no STUN cookie), so the socket's owner hands those to
 * `receive()` — `PortMapper.forEndpoint` registers exactly that handler. UPnP's SOAP goes over TCP.
 *
 * Logging: every decision and every ignored reply at debug level (`NODE_DEBUG=punchline-portmap`, or
 * the `log` option).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { debuglog } from 'node:util';
import { systemRandom } from '../crypto/sodium.js';
import type { Address, RandomSource } from '../transport/api.js';
import {
  GatewayMappingClient,
  GatewayProbe,
  type Mapping,
  type MappingEvent,
  PortmapError,
  PortmapErrorCode,
  type PortmapProtocol,
  type ProbeEvent,
  UpnpIgdClient,
} from '../traversal/portmap/index.js';
import { normalizeHost } from '../traversal/stun/address.js';
import { defaultGateway, localAddressTowards } from './default-gateway.js';
import type { Endpoint } from './endpoint.js';
import type {
  PortMapperLog,
  PortMapperOptions,
  PortMapperSocket,
  PortMapping,
  ProtocolOffer,
} from './port-mapper-types.js';
import { UpnpIo } from './upnp-io.js';

export type {
  PortMapperOptions,
  PortMapperSocket,
  PortMapping,
  ProtocolOffer,
} from './port-mapper-types.js';

export declare interface PortMapper {
  /** A mapping was granted or renewed; `changed` when its external address or port differs. */
  on(event: 'mapping', listener: (mapping: PortMapping, changed: boolean) => void): this;
  /** The mapping is gone (expired, refused at renewal, gateway restarted) until the next 'mapping'. */
  on(event: 'lost', listener: (reason: PortmapError) => void): this;
  /** Discovery found no protocol that answers, or every one failed; retried after retryAfterMs. */
  on(event: 'unavailable', listener: (reason: PortmapError) => void): this;
  on(event: 'gateway-restarted', listener: (protocol: PortmapProtocol) => void): this;
  /** close() deleted the mapping (`confirmed` false: the gateway never acknowledged it). */
  on(event: 'unmapped', listener: (confirmed: boolean) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

const CLOSE_TIMEOUT_MS = 3000;
/** The order protocols are preferred in when several answer. */
export const PRIORITY: readonly PortmapProtocol[] = ['pcp', 'nat-pmp', 'upnp'];
const defaultLog = debuglog('punchline-portmap');

type Active =
  | { readonly protocol: 'pcp' | 'nat-pmp'; readonly core: GatewayMappingClient }
  | { readonly protocol: 'upnp'; readonly core: UpnpIgdClient };

export class PortMapper extends EventEmitter {
  readonly port: number;
  private readonly socket: PortMapperSocket;
  private readonly options: PortMapperOptions;
  private readonly protocols: readonly PortmapProtocol[];
  private readonly random: RandomSource;
  private readonly log: PortMapperLog;
  private readonly offersMap = new Map<PortmapProtocol, ProtocolOffer>();
  /** Protocols that answered, in the order they did: the mapping candidates. */
  private readonly candidates: PortmapProtocol[] = [];
  private readonly failedProtocols = new Set<PortmapProtocol>();
  private gatewayHost: string | undefined;
  private clientIp: string | undefined;
  private probe: GatewayProbe | null = null;
  private upnp: UpnpIgdClient | null = null;
  private active: Active | null = null;
  private current: PortMapping | null = null;
  private timer: NodeJS.Timeout | null = null;
  private discoveryDeadline = Infinity;
  private retryAt = Infinity;
  private closing: Promise<void> | null = null;
  private closed = false;
  private started = false;
  private readonly upnpIo = new UpnpIo({
    clientIp: () => this.clientIp,
    onSsdpDatagram: (datagram, from) => {
      this.upnp?.receive(datagram, from, performance.now());
      this.service();
    },
    onHttpResult: (id, result) => {
      this.upnp?.receiveHttp(id, result, performance.now());
      this.service();
    },
    log: (message, fields) => this.log(message, fields),
  });

  constructor(options: PortMapperOptions) {
    super();
    const port = options.socket.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new PortmapError(PortmapErrorCode.InvalidArgument, `the socket to map has no bound port (${port})`);
    }
    const lifetime = options.lifetimeS ?? 7200;
    if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > 86400 * 7) {
      throw new PortmapError(PortmapErrorCode.InvalidArgument, `lifetimeS must be 1..604800, got ${lifetime}`);
    }
    const maxLifetime = options.maxLifetimeS ?? Math.max(lifetime, 7200);
    if (!Number.isInteger(maxLifetime) || maxLifetime < lifetime) {
      throw new PortmapError(
        PortmapErrorCode.InvalidArgument,
        `maxLifetimeS must be an integer >= lifetimeS (${lifetime}), got ${maxLifetime}`,
      );
    }
    this.port = port;
    this.socket = options.socket;
    this.options = options;
    this.protocols = options.protocols ?? PRIORITY;
    for (const p of this.protocols) {
      if (!PRIORITY.includes(p)) throw new PortmapError(PortmapErrorCode.InvalidArgument, `unknown protocol ${p}`);
    }
    this.random = options.random ?? systemRandom;
    this.log = options.log ?? ((message, fields) => defaultLog('%s %j', message, fields ?? {}));
  }

  /** Creates a mapper for `options.socket` and starts discovery. */
  static open(options: PortMapperOptions): PortMapper {
    const mapper = new PortMapper(options);
    mapper.start();
    return mapper;
  }

  /**
   * A mapper for an Endpoint's shared socket: maps its port, sends through `endpoint.send`, and
   * registers the endpoint's handler for `unknown` datagrams (where NAT-PMP/PCP replies land,
   * spec/wire.md §3). Unless `publish` is false, the mapping is also handed to the endpoint's
   * traversal as its mapped candidate (`endpoint.setPortMapping`), and withdrawn when lost or closed.
   */
  static forEndpoint(
    endpoint: Pick<Endpoint, 'address' | 'send' | 'addDatagramHandler'> & Partial<Pick<Endpoint, 'setPortMapping'>>,
    options: Omit<PortMapperOptions, 'socket'> & { readonly publish?: boolean } = {},
  ): PortMapper {
    const { publish = true, ...rest } = options;
    const mapper = new PortMapper({
      ...rest,
      socket: { port: endpoint.address().port, send: (datagram, to) => endpoint.send(datagram, to) },
    });
    const remove = endpoint.addDatagramHandler('unknown', (datagram, from) => {
      mapper.receive(datagram, from);
    });
    mapper.once('close', remove);
    const setPortMapping = endpoint.setPortMapping?.bind(endpoint);
    if (publish && setPortMapping) {
      mapper.on('mapping', (mapping: PortMapping) => setPortMapping(mapping));
      mapper.on('lost', () => setPortMapping(null));
      mapper.once('close', () => setPortMapping(null));
    }
    mapper.start();
    return mapper;
  }

  /** The mapping currently held, or null. */
  get mapping(): PortMapping | null {
    return this.current;
  }

  /** The protocol in use (mapping or trying to), or null. */
  get protocol(): PortmapProtocol | null {
    return this.active?.protocol ?? null;
  }

  /** What discovery learned per protocol so far. */
  offers(): ProtocolOffer[] {
    return this.protocols.map((p) => this.offersMap.get(p) ?? { protocol: p, status: 'silent' as const });
  }

  /** The gateway asked (NAT-PMP/PCP), once known. */
  get gateway(): string | undefined {
    return this.gatewayHost;
  }

  /** Starts discovery (once). `open` and `forEndpoint` call it. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    void this.discover().catch((error: unknown) => this.log('discovery crashed', { error: String(error) }));
  }

  /**
   * Resolves with the mapping once there is one, or null when discovery/mapping failed or `timeoutMs`
   * passed first.
   */
  whenMapped(timeoutMs = 5000): Promise<PortMapping | null> {
    if (this.current) return Promise.resolve(this.current);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = (value: PortMapping | null): void => {
        clearTimeout(timer);
        this.off('mapping', onMapping);
        this.off('unavailable', onFail);
        this.off('close', onFail);
        resolve(value);
      };
      const onMapping = (m: PortMapping): void => done(m);
      const onFail = (): void => done(null);
      const timer = setTimeout(() => done(null), timeoutMs);
      this.on('mapping', onMapping);
      this.on('unavailable', onFail);
      this.on('close', onFail);
    });
  }

  /**
   * A datagram that arrived on the mapped socket. Returns true when it came from the gateway's
   * port 5351 (consumed: handled, or ignored with a logged reason); false for anything else.
   */
  receive(datagram: Uint8Array, from: { host?: string; address?: string; port: number }): boolean {
    const host = from.host ?? from.address;
    if (this.closed || host === undefined || from.port !== 5351) return false;
    const source: Address = { host: normalizeHost(host), port: from.port };
    const now = performance.now();
    // The version byte tells PCP (2) from NAT-PMP (0) replies (RFC 6887 §9): each goes to the core of
    // its protocol, or to discovery while it runs; anything else from port 5351 is dropped, logged.
    const protocol = datagram[0] === 2 ? 'pcp' : datagram[0] === 0 ? 'nat-pmp' : undefined;
    const active = this.active;
    let consumed = true;
    if (active && active.protocol === protocol) {
      consumed = active.core.receive(datagram, source, now);
    } else if (this.probe && !this.probe.done) {
      consumed = this.probe.receive(datagram, source, now);
    } else {
      this.log('reply from port 5351 with nobody waiting for it', {
        from: source.host,
        version: datagram[0],
        bytes: datagram.length,
      });
    }
    this.service();
    return consumed;
  }

  /** Deletes the mapping (bounded wait for the gateway) and stops. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      const active = this.active;
      if (active) {
        const unmapped = new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.log('gave up waiting for the deletion to be confirmed', { protocol: active.protocol });
            resolve();
          }, CLOSE_TIMEOUT_MS);
          this.once('unmapped', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        active.core.unmap(performance.now());
        this.service();
        await unmapped;
      }
      this.closed = true;
      this.stopTimer();
      this.upnpIo.closeSsdp();
      this.upnp?.close();
      this.upnpIo.close();
      this.current = null;
      this.emit('close');
    })();
    return this.closing;
  }

  // --- internal -------------------------------------------------------------------------------

  private async discover(): Promise<void> {
    const wantsGateway = this.protocols.includes('pcp') || this.protocols.includes('nat-pmp');
    this.gatewayHost =
      this.options.gateway ?? (wantsGateway || this.protocols.includes('upnp') ? await defaultGateway() : undefined);
    if (this.gatewayHost !== undefined) {
      this.gatewayHost = normalizeHost(this.gatewayHost);
      try {
        this.clientIp = this.options.clientIp ?? (await localAddressTowards(this.gatewayHost));
      } catch (error) {
        this.log('no local address towards the gateway', { gateway: this.gatewayHost, error: String(error) });
      }
    }
    if (this.closed) return;
    const now = performance.now();
    this.discoveryDeadline = now + (this.options.discoveryTimeoutMs ?? 2000);
    this.log('discovery', {
      port: this.port,
      gateway: this.gatewayHost,
      clientIp: this.clientIp,
      protocols: this.protocols,
    });
    const udpProtocols = this.protocols.filter((p): p is 'pcp' | 'nat-pmp' => p !== 'upnp');
    if (udpProtocols.length > 0) {
      if (this.gatewayHost === undefined || this.clientIp === undefined) {
        for (const p of udpProtocols) this.offer({ protocol: p, status: 'silent', reason: 'no default gateway' });
      } else {
        this.probe = new GatewayProbe(
          { gateway: this.gatewayHost, clientIp: this.clientIp, protocols: udpProtocols },
          now,
        );
      }
    }
    if (this.protocols.includes('upnp')) this.startUpnp(now);
    this.service();
  }

  private startUpnp(now: number): void {
    this.upnp = new UpnpIgdClient({
      internalPort: this.port,
      random: this.random,
      lifetime: this.lifetime(),
      searchTimeoutMs: this.options.discoveryTimeoutMs ?? 2000,
      retryAfterMs: this.options.retryAfterMs ?? 60_000,
      ...(this.gatewayHost === undefined ? {} : { preferredGateway: this.gatewayHost }),
      ...(this.options.description === undefined ? {} : { description: this.options.description }),
    });
    this.upnp.discover(now);
  }

  private lifetime(): { requestS: number; maxS: number } {
    const requestS = this.options.lifetimeS ?? 7200;
    return { requestS, maxS: this.options.maxLifetimeS ?? Math.max(requestS, 7200) };
  }

  /** Runs every core: timers, transmissions, HTTP exchanges, events; re-arms the one timer. */
  private service(): void {
    if (this.closed) return;
    const now = performance.now();
    // An event may start new work (a protocol answered: its mapping request is due now), so run
    // until a pass handles no event (bounded: each pass only reacts to what the previous produced).
    for (let pass = 0; pass < 8 && this.servicePass(now); pass++);
    // A UPnP gateway that answered the search is given the time of its HTTP exchanges (each bounded).
    const upnpUnderway = this.upnp?.answered === true;
    if (this.active === null && this.current === null && now >= this.discoveryDeadline && !upnpUnderway) {
      this.discoveryOver(now);
    }
    if (this.retryAt <= now) this.retry(now);
    this.armTimer(now);
  }

  /** One pass over every core; true when any event was handled. */
  private servicePass(now: number): boolean {
    let events = 0;
    // Local references: an event handler may drop a core (discovery over, another protocol chosen).
    const probe = this.probe;
    if (probe) {
      probe.onTimeout(now);
      for (let t = probe.pollTransmit(now); t; t = probe.pollTransmit(now)) this.send(t.data, t.destination);
      for (let e = probe.pollEvent(); e; e = probe.pollEvent(), events++) this.onProbeEvent(e);
      if (this.probe === probe && probe.done) this.probe = null;
    }
    const upnp = this.upnp;
    if (upnp) {
      upnp.onTimeout(now);
      for (let t = upnp.pollTransmit(now); t; t = upnp.pollTransmit(now)) {
        this.upnpIo.sendSsdp(t.data, t.destination);
      }
      for (let x = upnp.pollHttp(); x; x = upnp.pollHttp()) this.upnpIo.runHttp(x.id, x.destination, x.request);
      for (let e = upnp.pollEvent(); e; e = upnp.pollEvent(), events++) this.onMappingEvent('upnp', e);
    }
    const active = this.active;
    if (active && active.protocol !== 'upnp') {
      active.core.onTimeout(now);
      for (let t = active.core.pollTransmit(now); t; t = active.core.pollTransmit(now))
        this.send(t.data, t.destination);
      for (let e = active.core.pollEvent(); e; e = active.core.pollEvent(), events++) {
        this.onMappingEvent(active.protocol, e);
      }
    }
    return events > 0;
  }

  private send(data: Uint8Array, to: Address): void {
    try {
      const result = this.socket.send(data, to);
      if (result instanceof Promise)
        result.catch((error: unknown) => this.log('send failed', { error: String(error) }));
    } catch (error) {
      this.log('send failed', { error: String(error) });
    }
  }

  private onProbeEvent(event: ProbeEvent): void {
    if (event.type === 'ignored')
      return this.log('ignored reply', { code: event.reason.code, reason: event.reason.message });
    this.log(`probe ${event.type}`, {
      protocol: event.protocol,
      ...('external' in event ? { external: event.external } : {}),
    });
    if (event.type === 'answered') {
      this.offer({
        protocol: event.protocol,
        status: 'answered',
        ...(event.external ? { external: event.external } : {}),
      });
      this.answered(event.protocol);
    } else if (event.type === 'refused') {
      this.offer({ protocol: event.protocol, status: 'refused', reason: event.reason.message });
    } else {
      this.offer({ protocol: event.protocol, status: 'silent' });
    }
    this.checkAllDone();
  }

  private offer(offer: ProtocolOffer): void {
    const previous = this.offersMap.get(offer.protocol);
    if (previous?.status === 'answered' && offer.status !== 'answered') return;
    this.offersMap.set(offer.protocol, offer);
  }

  /** `protocol` answered discovery: map with it unless another one is already in use. */
  private answered(protocol: PortmapProtocol): void {
    if (!this.candidates.includes(protocol)) this.candidates.push(protocol);
    if (this.active === null) this.activate(protocol);
  }

  private activate(protocol: PortmapProtocol): void {
    const now = performance.now();
    this.log('mapping with', { protocol, port: this.port });
    if (protocol === 'upnp') {
      const upnp = this.upnp as UpnpIgdClient;
      this.active = { protocol, core: upnp };
      upnp.map(now);
      return;
    }
    const core = new GatewayMappingClient({
      protocol,
      gateway: this.gatewayHost as string,
      clientIp: this.clientIp as string,
      internalPort: this.port,
      random: this.random,
      lifetime: this.lifetime(),
      retryAfterMs: this.options.retryAfterMs ?? 60_000,
    });
    this.active = { protocol, core };
    core.map(now);
    // A UPnP search still running is not needed any more (it created nothing on the gateway).
    if (this.upnp && !this.upnp.answered) {
      this.upnp.close();
      this.upnp = null;
      this.upnpIo.closeSsdp();
      this.offer({ protocol: 'upnp', status: 'silent', reason: 'not needed: another protocol answered first' });
    }
  }

  private onMappingEvent(protocol: PortmapProtocol, event: MappingEvent): void {
    switch (event.type) {
      case 'answered':
        this.log('UPnP IGD found', { gateway: event.gateway, external: event.external });
        this.upnpIo.closeSsdp();
        this.offer({ protocol, status: 'answered', ...(event.external ? { external: event.external } : {}) });
        this.answered(protocol);
        this.checkAllDone();
        return;
      case 'mapped': {
        if (this.active?.protocol !== protocol) return;
        const mapping = toPortMapping(event.mapping);
        this.current = mapping;
        this.log('mapped', { ...mapping, changed: event.changed });
        this.emit('mapping', mapping, event.changed);
        return;
      }
      case 'lost':
        this.log('mapping lost', { protocol, code: event.reason.code, reason: event.reason.message });
        if (this.active?.protocol === protocol) {
          this.current = null;
          this.emit('lost', event.reason);
        }
        return;
      case 'failed':
        this.log('attempt failed', { protocol, code: event.error.code, reason: event.error.message });
        if (protocol === 'upnp' && this.active?.protocol !== 'upnp') {
          this.upnpIo.closeSsdp();
          this.upnp?.close();
          this.upnp = null;
          this.offer({ protocol, status: 'silent', reason: event.error.message });
          this.checkAllDone();
          return;
        }
        if (this.active?.protocol === protocol && this.current === null) this.fallBack(protocol, event.error);
        return;
      case 'ignored':
        this.log('ignored reply', { protocol, code: event.reason.code, reason: event.reason.message });
        return;
      case 'gateway-restarted':
        this.log('gateway restarted (epoch)', { protocol, epoch: event.epoch });
        this.emit('gateway-restarted', protocol);
        return;
      case 'unmapped':
        this.log('unmapped', { protocol, confirmed: event.confirmed });
        this.current = null;
        this.emit('unmapped', event.confirmed);
        return;
    }
  }

  /** The active protocol failed before mapping: try the next one that answered, if any. */
  private fallBack(protocol: PortmapProtocol, error: PortmapError): void {
    this.failedProtocols.add(protocol);
    const next = this.candidates.find((p) => !this.failedProtocols.has(p));
    if (next === undefined) {
      // The active core retries on its own schedule (retryAfterMs); report the failure.
      this.emit('unavailable', error);
      return;
    }
    const active = this.active;
    if (active && active.protocol !== 'upnp') active.core.close();
    this.active = null;
    this.activate(next);
  }

  private checkAllDone(): void {
    if (this.active !== null || this.current !== null) return;
    const pending = this.protocols.some((p) => this.offersMap.get(p) === undefined);
    if (!pending) this.discoveryOver(performance.now());
  }

  private discoveryOver(now: number): void {
    if (this.discoveryDeadline === Infinity) return;
    this.discoveryDeadline = Infinity;
    if (this.active !== null) return;
    for (const p of this.protocols) if (!this.offersMap.has(p)) this.offer({ protocol: p, status: 'silent' });
    this.probe = null;
    this.upnp?.close();
    this.upnp = null;
    this.upnpIo.closeSsdp();
    const summary = this.offers()
      .map((o) => `${o.protocol} ${o.status}${o.reason ? ` (${o.reason})` : ''}`)
      .join(', ');
    const error = new PortmapError(PortmapErrorCode.Timeout, `no port-mapping protocol answered: ${summary}`);
    this.log('unavailable', { reason: error.message });
    const retryAfter = this.options.retryAfterMs ?? 60_000;
    this.retryAt = now + retryAfter;
    this.emit('unavailable', error);
  }

  private retry(now: number): void {
    this.retryAt = Infinity;
    if (this.active !== null) return;
    this.log('discovery again');
    this.offersMap.clear();
    this.candidates.length = 0;
    this.failedProtocols.clear();
    this.started = false;
    void now;
    this.start();
  }

  private armTimer(now: number): void {
    let deadline = Math.min(this.discoveryDeadline, this.retryAt);
    if (this.probe) deadline = Math.min(deadline, this.probe.nextDeadline());
    if (this.upnp) deadline = Math.min(deadline, this.upnp.nextDeadline());
    if (this.active && this.active.protocol !== 'upnp') deadline = Math.min(deadline, this.active.core.nextDeadline());
    this.stopTimer();
    if (deadline === Infinity) return;
    // setTimeout holds at most 2^31-1 ms; a longer wait re-arms on wake-up.
    const delay = Math.min(Math.max(0, deadline - now), 0x7fffffff);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.service();
    }, delay);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

function toPortMapping(mapping: Mapping): PortMapping {
  return { external: mapping.external, protocol: mapping.protocol, lifetimeS: mapping.lifetimeS };
}
