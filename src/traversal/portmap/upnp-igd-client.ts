/**
 * Sans-IO UPnP IGD client of ONE UDP port mapping: SSDP search (UDA 2.0 §1.3), device description
 * (§2), then SOAP control of WANIPConnection / WANPPPConnection (§3): GetExternalIPAddress,
 * AddPortMapping, GetSpecificPortMappingEntry (to check the gateway mapped *our* port to *us*),
 * renewal at half the lease, DeletePortMapping on `unmap`.
 *
 *   client.map(now)
 *   client.receive(datagram, from, now)      SSDP responses (the adapter's search socket)
 *   client.pollTransmit(now)                  M-SEARCH datagrams (to 239.255.255.250:1900)
 *   client.pollHttp()                         an HTTP exchange to run: connect to `destination`,
 *                                             write `request`, read with HttpResponseReader, then
 *   client.receiveHttp(id, result, now)       the response and the connection's local address (or
 *                                             a PortmapError when the exchange failed)
 *   client.pollEvent() / nextDeadline() / onTimeout(now) / unmap(now)   as every core
 *
 * Nothing is trusted: URLs must stay on the answering gateway, XML is size- and entity-limited
 * (xml.ts), a mapping is reported only when GetSpecificPortMappingEntry shows our internal client and
 * port, and DeletePortMapping is only ever sent for an external port we were granted.
 */
import type { Address, DataTransmit, RandomSource } from '../../transport/api.js';
import { normalizeHost, parseIPv4 } from '../stun/address.js';
import { PortmapError, PortmapErrorCode } from './errors.js';
import {
  lifetimeBounds,
  type LifetimeBounds,
  type Mapping,
  type MappingEvent,
  renewalTime,
  unusableExternalHost,
} from './events.js';
import { encodeHttpRequest, type HttpResponse } from './http.js';
import { type IgdService, parseIgdDescription } from './igd-description.js';
import { checkUint } from './errors.js';
import { decodeSoapResponse, encodeSoapRequest, type SoapArguments, UpnpErrorCode, UpnpFault } from './soap.js';
import { decodeSsdpResponse, encodeMSearch, IGD_SEARCH_TARGETS, SSDP_MULTICAST } from './ssdp.js';

export interface UpnpIgdOptions {
  /** The UDP port to map — the caller's own socket's port. */
  readonly internalPort: number;
  /** Picks another external port when the gateway reports a conflict (error 718). */
  readonly random: RandomSource;
  readonly lifetime?: Partial<LifetimeBounds>;
  /** How long to wait for SSDP answers, ms (default 2000). */
  readonly searchTimeoutMs?: number;
  /** How long one HTTP exchange may take, ms (default 3000). */
  readonly httpTimeoutMs?: number;
  /** After a failed attempt, try again this much later, ms (default 60 s; Infinity: never). */
  readonly retryAfterMs?: number;
  /** A mapping granted as permanent (lease 0) is re-added this often, s, to survive router restarts. */
  readonly permanentRefreshS?: number;
  /** NewPortMappingDescription. */
  readonly description?: string;
  /** Prefer SSDP answers from this address (the default gateway) over other devices. */
  readonly preferredGateway?: string;
  readonly suggestedExternalPort?: number;
}

export interface HttpExchange {
  readonly id: number;
  readonly destination: Address;
  readonly request: Uint8Array;
}

export type HttpResult = { readonly response: HttpResponse; readonly localAddress: string } | PortmapError;

type Action =
  | 'describe'
  | 'GetExternalIPAddress'
  | 'AddPortMapping'
  | 'GetSpecificPortMappingEntry'
  | 'DeletePortMapping';

interface Pending {
  readonly id: number;
  readonly action: Action;
  readonly deadline: number;
  /** For AddPortMapping / DeletePortMapping: the external port in the request. */
  readonly externalPort: number;
  /** The service the SOAP request went to. */
  readonly service: IgdService | undefined;
}

type State = 'idle' | 'searching' | 'working' | 'ready' | 'mapped' | 'retry-wait' | 'deleting' | 'closed';

const SEARCH_RESEND_MS = 500;
const MAX_CONFLICT_RETRIES = 4;

export class UpnpIgdClient {
  readonly internalPort: number;
  private readonly random: RandomSource;
  private readonly lifetime: LifetimeBounds;
  private readonly searchTimeoutMs: number;
  private readonly httpTimeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly permanentRefreshMs: number;
  private readonly description: string;
  private readonly preferredGateway: string | undefined;
  private readonly events: MappingEvent[] = [];
  private readonly outgoingHttp: HttpExchange[] = [];
  private state: State = 'idle';
  private searchStartedAt = 0;
  private searchRound = 0;
  private searchQueue: { destination: Address; data: Uint8Array }[] = [];
  private location: URL | undefined;
  private services: IgdService[] = [];
  private serviceIndex = 0;
  private clientIp: string | undefined;
  private externalIp: string | undefined;
  private leaseS: number;
  private tryPort: number;
  private conflicts = 0;
  private pending: Pending | null = null;
  private nextId = 1;
  private current: Mapping | null = null;
  /** External port of the mapping we hold on the gateway (what DeletePortMapping may remove). */
  private grantedPort: number | undefined;
  private renewAt = Infinity;
  private retryAt = Infinity;
  private unmapRequested = false;
  private everAnswered = false;
  /** false while only discovering (`discover`): stop after GetExternalIPAddress. */
  private mapWanted = false;
  /** Set while a search runs because a known gateway stopped answering; cleared by the next grant. */
  private rediscovering = false;
  private announced = false;

  constructor(options: UpnpIgdOptions) {
    checkUint('internal port', options.internalPort, 1, 0xffff);
    this.internalPort = options.internalPort;
    this.random = options.random;
    this.lifetime = lifetimeBounds(options.lifetime);
    this.leaseS = this.lifetime.requestS;
    this.searchTimeoutMs = options.searchTimeoutMs ?? 2000;
    this.httpTimeoutMs = options.httpTimeoutMs ?? 3000;
    this.retryAfterMs = options.retryAfterMs ?? 60_000;
    this.permanentRefreshMs = (options.permanentRefreshS ?? 1200) * 1000;
    this.description = (options.description ?? 'punchline').slice(0, 64);
    this.preferredGateway =
      options.preferredGateway === undefined ? undefined : normalizeHost(options.preferredGateway);
    this.tryPort = options.suggestedExternalPort ?? options.internalPort;
    checkUint('suggested external port', this.tryPort, 1, 0xffff);
  }

  get mapping(): Mapping | null {
    return this.current;
  }

  /** true once a gateway answered the search with a usable description URL. */
  get answered(): boolean {
    return this.everAnswered;
  }

  /** The gateway's address (its description URL's host), once found. */
  get gateway(): string | undefined {
    return this.location?.hostname;
  }

  /**
   * Finds the gateway and its external address without creating anything on it: SSDP search,
   * description, GetExternalIPAddress; then an `answered` event. `map` continues from there.
   */
  discover(now: number): void {
    if (this.state === 'closed' || this.state === 'deleting') {
      throw new PortmapError(PortmapErrorCode.Closed, 'the UPnP client was closed');
    }
    if (this.state === 'idle') this.start(now);
  }

  map(now: number): void {
    if (this.state === 'closed' || this.state === 'deleting') {
      throw new PortmapError(PortmapErrorCode.Closed, 'the UPnP client was closed');
    }
    this.mapWanted = true;
    if (this.state === 'ready') {
      this.state = 'working';
      this.addMapping(now);
    } else if (this.state === 'idle' || this.state === 'retry-wait') {
      this.start(now);
    }
  }

  unmap(now: number): void {
    if (this.state === 'closed' || this.state === 'deleting') return;
    this.renewAt = Infinity;
    this.retryAt = Infinity;
    this.searchQueue = [];
    if (this.pending && this.pending.action !== 'describe' && this.pending.action !== 'GetExternalIPAddress') {
      // An AddPortMapping may be in flight: its outcome decides whether there is anything to delete.
      this.unmapRequested = true;
      this.state = 'deleting';
      return;
    }
    this.pending = null;
    this.state = 'deleting';
    this.sendDelete(now);
  }

  close(): void {
    this.state = 'closed';
    this.pending = null;
    this.outgoingHttp.length = 0;
    this.searchQueue = [];
    this.current = null;
  }

  /** SSDP responses; returns false for anything else. */
  receive(datagram: Uint8Array, from: Address, now: number): boolean {
    if (this.state !== 'searching') return false;
    const response = decodeSsdpResponse(datagram, from);
    if (response instanceof PortmapError) {
      this.ignore(response);
      return true;
    }
    if (this.preferredGateway !== undefined && normalizeHost(from.host) !== this.preferredGateway) {
      // Another UPnP device on the LAN; keep listening for the gateway itself until half the wait.
      if (now - this.searchStartedAt < this.searchTimeoutMs / 2) {
        this.ignore(new PortmapError(PortmapErrorCode.WrongSource, `SSDP answer from ${from.host}, not the gateway`));
        return true;
      }
    }
    this.everAnswered = true;
    this.location = response.location;
    this.searchQueue = [];
    this.state = 'working';
    this.request(now, 'describe', 0, undefined, {
      method: 'GET',
      host: from.host,
      port: response.location.port === '' ? 80 : Number(response.location.port),
      path: `${response.location.pathname}${response.location.search}`,
    });
    return true;
  }

  pollTransmit(_now: number): DataTransmit | null {
    return this.searchQueue.shift() ?? null;
  }

  pollHttp(): HttpExchange | null {
    return this.outgoingHttp.shift() ?? null;
  }

  receiveHttp(id: number, result: HttpResult, now: number): void {
    const pending = this.pending;
    if (pending === null || pending.id !== id) return;
    this.pending = null;
    if (result instanceof PortmapError) return this.stepFailed(now, pending, result);
    try {
      this.onResponse(now, pending, result.response, result.localAddress);
    } catch (error) {
      if (!(error instanceof PortmapError)) throw error;
      this.stepFailed(now, pending, error);
    }
  }

  pollEvent(): MappingEvent | null {
    return this.events.shift() ?? null;
  }

  nextDeadline(): number {
    let deadline = Infinity;
    if (this.state === 'searching') {
      deadline = Math.min(
        this.searchStartedAt + this.searchTimeoutMs,
        this.searchStartedAt + SEARCH_RESEND_MS * this.searchRound,
      );
    }
    if (this.pending) deadline = Math.min(deadline, this.pending.deadline);
    if (this.state === 'mapped') deadline = Math.min(deadline, this.renewAt);
    if (this.state === 'retry-wait') deadline = Math.min(deadline, this.retryAt);
    if (this.current) deadline = Math.min(deadline, this.current.expiresAt);
    return deadline;
  }

  onTimeout(now: number): void {
    if (this.state === 'closed') return;
    if (this.current && now >= this.current.expiresAt) {
      this.current = null;
      this.events.push({
        type: 'lost',
        reason: new PortmapError(PortmapErrorCode.Timeout, 'UPnP port mapping lease ran out without renewal'),
      });
    }
    if (this.pending && now >= this.pending.deadline) {
      const pending = this.pending;
      this.pending = null;
      this.stepFailed(now, pending, new PortmapError(PortmapErrorCode.Timeout, `UPnP ${pending.action}: no answer`));
    }
    if (this.state === 'searching') {
      if (now >= this.searchStartedAt + this.searchTimeoutMs) {
        this.searchQueue = [];
        this.fail(now, new PortmapError(PortmapErrorCode.Timeout, 'no UPnP IGD answered the SSDP search'));
      } else if (now >= this.searchStartedAt + SEARCH_RESEND_MS * this.searchRound) {
        this.queueSearch();
      }
    }
    if (this.state === 'mapped' && now >= this.renewAt) this.renew(now);
    if (this.state === 'retry-wait' && now >= this.retryAt) this.start(now);
  }

  // --- internal -------------------------------------------------------------------------------

  private start(now: number): void {
    this.retryAt = Infinity;
    if (this.services.length > 0 && this.clientIp !== undefined) return this.renew(now);
    this.state = 'searching';
    this.searchStartedAt = now;
    this.searchRound = 0;
    this.queueSearch();
  }

  private queueSearch(): void {
    this.searchRound++;
    this.searchQueue = IGD_SEARCH_TARGETS.map((target) => ({
      destination: SSDP_MULTICAST,
      data: encodeMSearch(target, 1),
    }));
    const gateway = this.preferredGateway;
    if (gateway !== undefined) {
      // Unicast to the default gateway too: answered without the multicast random delay.
      const unicast = { host: gateway, port: SSDP_MULTICAST.port };
      for (const target of IGD_SEARCH_TARGETS.slice(0, 2)) {
        this.searchQueue.unshift({ destination: unicast, data: encodeMSearch(target, 1, gateway) });
      }
    }
  }

  private renew(now: number): void {
    this.state = 'working';
    this.soap(now, 'GetExternalIPAddress', 0, []);
  }

  private request(
    now: number,
    action: Action,
    externalPort: number,
    service: IgdService | undefined,
    http: Parameters<typeof encodeHttpRequest>[0],
  ): void {
    const id = this.nextId++;
    this.pending = { id, action, deadline: now + this.httpTimeoutMs, externalPort, service };
    this.outgoingHttp.push({ id, destination: { host: http.host, port: http.port }, request: encodeHttpRequest(http) });
  }

  private soap(now: number, action: Exclude<Action, 'describe'>, externalPort: number, args: SoapArguments): void {
    const service = this.services[this.serviceIndex] as IgdService;
    this.request(
      now,
      action,
      externalPort,
      service,
      encodeSoapRequest(service.controlUrl, service.serviceType, action, args),
    );
  }

  private addMapping(now: number): void {
    this.soap(now, 'AddPortMapping', this.tryPort, [
      ['NewRemoteHost', ''],
      ['NewExternalPort', String(this.tryPort)],
      ['NewProtocol', 'UDP'],
      ['NewInternalPort', String(this.internalPort)],
      ['NewInternalClient', this.clientIp ?? ''],
      ['NewEnabled', '1'],
      ['NewPortMappingDescription', this.description],
      ['NewLeaseDuration', String(this.leaseS)],
    ]);
  }

  private sendDelete(now: number): void {
    if (this.grantedPort === undefined || this.services.length === 0) {
      this.finishDelete(true);
      return;
    }
    this.soap(now, 'DeletePortMapping', this.grantedPort, [
      ['NewRemoteHost', ''],
      ['NewExternalPort', String(this.grantedPort)],
      ['NewProtocol', 'UDP'],
    ]);
  }

  private onResponse(now: number, pending: Pending, response: HttpResponse, localAddress: string): void {
    switch (pending.action) {
      case 'describe': {
        if (response.status !== 200)
          throw new PortmapError(PortmapErrorCode.Http, `description: HTTP ${response.status}`);
        this.services = parseIgdDescription(response.body, this.location as URL);
        this.serviceIndex = 0;
        const local = normalizeHost(localAddress);
        if (parseIPv4(local) === null) {
          throw new PortmapError(PortmapErrorCode.Network, `UPnP IGD reached over ${local}: IPv4 only`);
        }
        this.clientIp = local;
        this.soap(now, 'GetExternalIPAddress', 0, []);
        return;
      }
      case 'GetExternalIPAddress': {
        const ip = decodeSoapResponse(response, 'GetExternalIPAddress').get('NewExternalIPAddress')?.trim() ?? '';
        if (parseIPv4(ip) === null || unusableExternalHost(ip)) {
          throw new PortmapError(
            PortmapErrorCode.BadMapping,
            `UPnP external address ${JSON.stringify(ip.slice(0, 40))}`,
          );
        }
        this.externalIp = ip;
        if (!this.announced) {
          this.announced = true;
          this.events.push({ type: 'answered', protocol: 'upnp', gateway: this.gateway ?? '', external: ip });
        }
        if (this.state === 'deleting') return this.sendDelete(now);
        if (!this.mapWanted) {
          this.state = 'ready';
          return;
        }
        this.addMapping(now);
        return;
      }
      case 'AddPortMapping': {
        decodeSoapResponse(response, 'AddPortMapping');
        this.grantedPort = pending.externalPort;
        if (this.unmapRequested) return this.sendDelete(now);
        this.soap(now, 'GetSpecificPortMappingEntry', pending.externalPort, [
          ['NewRemoteHost', ''],
          ['NewExternalPort', String(pending.externalPort)],
          ['NewProtocol', 'UDP'],
        ]);
        return;
      }
      case 'GetSpecificPortMappingEntry': {
        const entry = decodeSoapResponse(response, 'GetSpecificPortMappingEntry');
        const port = Number(entry.get('NewInternalPort'));
        const client = normalizeHost(entry.get('NewInternalClient')?.trim() ?? '');
        if (this.state === 'deleting') {
          if (port === this.internalPort && client === this.clientIp) this.grantedPort = pending.externalPort;
          return this.sendDelete(now);
        }
        if (port !== this.internalPort || client !== this.clientIp) {
          // Not our mapping after all: never delete it, never report it.
          this.grantedPort = undefined;
          this.ignore(
            new PortmapError(
              PortmapErrorCode.WrongPort,
              `UPnP entry for external port ${pending.externalPort} maps to ${client}:${String(entry.get('NewInternalPort'))}`,
            ),
          );
          return this.fail(now, new PortmapError(PortmapErrorCode.WrongPort, 'the gateway did not map our port to us'));
        }
        const leaseText = entry.get('NewLeaseDuration');
        const granted =
          leaseText !== undefined && /^\d{1,10}$/.test(leaseText.trim()) ? Number(leaseText) : this.leaseS;
        this.grant(now, pending.externalPort, granted);
        return;
      }
      case 'DeletePortMapping': {
        try {
          decodeSoapResponse(response, 'DeletePortMapping');
        } catch (error) {
          // 714: already gone (expired, router restarted) — the goal is reached.
          if (!(error instanceof UpnpFault && error.upnpErrorCode === UpnpErrorCode.NoSuchEntryInArray)) throw error;
        }
        this.finishDelete(true);
        return;
      }
    }
  }

  private stepFailed(now: number, pending: Pending, error: PortmapError): void {
    if (this.state === 'closed') return;
    if (pending.action === 'DeletePortMapping') return this.finishDelete(false);
    if (this.state === 'deleting') {
      if (pending.action === 'AddPortMapping' && !(error instanceof UpnpFault) && this.grantedPort === undefined) {
        // The AddPortMapping we waited for has an unknown outcome (no answer): ask the gateway whether
        // that external port now maps to us, and delete it only then.
        return this.soap(now, 'GetSpecificPortMappingEntry', pending.externalPort, [
          ['NewRemoteHost', ''],
          ['NewExternalPort', String(pending.externalPort)],
          ['NewProtocol', 'UDP'],
        ]);
      }
      if (pending.action === 'GetSpecificPortMappingEntry') return this.finishDelete(false);
      // The AddPortMapping was refused: nothing of ours to delete unless a previous grant exists.
      return this.sendDelete(now);
    }
    if (pending.action === 'AddPortMapping' && error instanceof UpnpFault) {
      if (error.upnpErrorCode === UpnpErrorCode.ConflictInMappingEntry && this.conflicts < MAX_CONFLICT_RETRIES) {
        // Someone else holds that external port: try another, never touch theirs.
        this.conflicts++;
        this.tryPort = this.randomPort();
        return this.addMapping(now);
      }
      if (error.upnpErrorCode === UpnpErrorCode.OnlyPermanentLeasesSupported && this.leaseS !== 0) {
        this.leaseS = 0;
        return this.addMapping(now);
      }
      if (error.upnpErrorCode === UpnpErrorCode.SamePortValuesRequired && this.tryPort !== this.internalPort) {
        this.tryPort = this.internalPort;
        return this.addMapping(now);
      }
    }
    if (!(error instanceof UpnpFault) && pending.action !== 'describe' && !this.rediscovering) {
      // The control URL stopped working (the router restarted: new HTTP port, state lost). Find the
      // gateway again at once, once; later failures wait for retryAfterMs.
      this.rediscovering = true;
      this.services = [];
      this.clientIp = undefined;
      this.location = undefined;
      this.start(now);
      return;
    }
    if (
      pending.service !== undefined &&
      this.serviceIndex + 1 < this.services.length &&
      !(error.code === PortmapErrorCode.Timeout)
    ) {
      // Another connection service of the same gateway may work (e.g. the PPP one on a PPPoE link).
      this.serviceIndex++;
      return this.renew(now);
    }
    this.fail(now, error);
  }

  private grant(now: number, externalPort: number, grantedS: number): void {
    const permanent = grantedS === 0;
    const lifetimeS = permanent ? 0 : Math.min(grantedS, this.lifetime.maxS);
    const previous = this.current;
    const host = this.externalIp as string;
    this.current = {
      protocol: 'upnp',
      external: { host, port: externalPort },
      internalPort: this.internalPort,
      lifetimeS,
      expiresAt: permanent ? Infinity : now + lifetimeS * 1000,
    };
    this.state = 'mapped';
    this.conflicts = 0;
    this.rediscovering = false;
    this.tryPort = externalPort;
    this.renewAt = permanent ? now + this.permanentRefreshMs : renewalTime(now, lifetimeS);
    const changed = previous === null || previous.external.host !== host || previous.external.port !== externalPort;
    this.events.push({ type: 'mapped', mapping: this.current, changed });
  }

  private fail(now: number, error: PortmapError): void {
    this.state = 'retry-wait';
    this.retryAt = now + this.retryAfterMs;
    if (this.current && error.code !== PortmapErrorCode.Timeout) {
      this.current = null;
      this.events.push({ type: 'lost', reason: error });
    }
    this.events.push({ type: 'failed', error, retryAt: this.retryAt });
  }

  private finishDelete(confirmed: boolean): void {
    this.state = 'closed';
    this.pending = null;
    this.current = null;
    this.grantedPort = undefined;
    this.events.push({ type: 'unmapped', confirmed });
  }

  private randomPort(): number {
    const bytes = new Uint8Array(2);
    this.random(bytes);
    return 1024 + ((((bytes[0] as number) << 8) | (bytes[1] as number)) % (65536 - 1024));
  }

  private ignore(reason: PortmapError): void {
    this.events.push({ type: 'ignored', reason });
  }
}
