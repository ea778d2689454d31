/**
 * Sans-IO client of ONE UDP port mapping on the default gateway, by NAT-PMP (RFC 6886) or PCP
 * (RFC 6887 MAP). Both protocols share the lifecycle this class implements: request, retransmit,
 * grant, renew at half the lifetime (RFC 6887 §11.2.1, RFC 6886 §3.3), remap when the gateway's
 * epoch shows it restarted (RFC 6887 §8.5, RFC 6886 §3.6) or when it announces so (PCP ANNOUNCE
 * §14.1, NAT-PMP's unsolicited address response §3.2.1), delete with lifetime 0 (RFC 6887 §15,
 * RFC 6886 §3.4).
 *
 *   client.map(now)                                  start (first request due now)
 *   client.receive(datagram, from, now)              true when the datagram came from the gateway's
 *                                                    port 5351 (handled or ignored with a reason)
 *   while ((t = client.pollTransmit(now))) send t.data to t.destination
 *   while ((e = client.pollEvent())) …               MappingEvent
 *   arm a timer for client.nextDeadline(); on it: client.onTimeout(now)
 *   client.unmap(now)                                delete; 'unmapped' when done
 *
 * Nothing a gateway sends is trusted: a reply for another internal port or protocol, with another
 * nonce, truncated or nonsensical becomes an `ignored` event and changes nothing. Lifetimes are
 * bounded both ways (LifetimeBounds, MIN_RENEW_INTERVAL_MS).
 */
import type { Address, DataTransmit, RandomSource } from '../../transport/api.js';
import { normalizeHost } from '../stun/address.js';
import { EpochTracker } from './epoch.js';
import { checkUint, PortmapError, PortmapErrorCode } from './errors.js';
import {
  lifetimeBounds,
  type LifetimeBounds,
  type Mapping,
  type MappingEvent,
  renewalTime,
  unusableExternalHost,
} from './events.js';
import {
  decodeNatPmpResponse,
  encodeNatPmpMapRequest,
  encodeNatPmpPublicAddressRequest,
  NAT_PMP_SERVER_PORT,
  NatPmpResult,
  natPmpResultText,
} from './nat-pmp.js';
import {
  decodePcpResponse,
  encodePcpMapRequest,
  IPPROTO_UDP,
  isPcpLongTermError,
  nonceEquals,
  PCP_NONCE_LENGTH,
  pcpResultText,
} from './pcp.js';
import { DEFAULT_SCHEDULE, Retransmission, type RetransmissionSchedule } from './retransmission.js';

export interface GatewayMappingOptions {
  readonly protocol: 'pcp' | 'nat-pmp';
  /** The gateway's address (an IP literal); requests go to its port 5351. */
  readonly gateway: string;
  /** Our address on the gateway's link: PCP's client IP field (§7.1) must equal the packet's source. */
  readonly clientIp: string;
  /** The UDP port to map — the caller's own socket's port. */
  readonly internalPort: number;
  /** For the PCP mapping nonce (§11.1). */
  readonly random: RandomSource;
  readonly lifetime?: Partial<LifetimeBounds>;
  readonly schedule?: RetransmissionSchedule;
  /** Schedule of the deletion request (default 3 attempts, 250 ms doubling). */
  readonly deleteSchedule?: RetransmissionSchedule;
  /** After a failed attempt, try again this much later, ms (default 60 s; Infinity: never). */
  readonly retryAfterMs?: number;
  /** External port to suggest on the first request (default: the internal port). */
  readonly suggestedExternalPort?: number;
}

type State = 'idle' | 'requesting' | 'mapped' | 'retry-wait' | 'deleting' | 'closed';

interface Grant {
  readonly port: number;
  readonly lifetimeS: number;
  /** When the grant arrived: the lifetime counts from there, not from a later address reply. */
  readonly at: number;
}

const DELETE_SCHEDULE: RetransmissionSchedule = { initialMs: 250, attempts: 3, finalWaitMs: 500 };

export class GatewayMappingClient {
  readonly protocol: 'pcp' | 'nat-pmp';
  readonly gateway: Address;
  readonly internalPort: number;
  private readonly clientIp: string;
  private readonly lifetime: LifetimeBounds;
  private readonly schedule: RetransmissionSchedule;
  private readonly deleteSchedule: RetransmissionSchedule;
  private readonly retryAfterMs: number;
  private readonly nonce = new Uint8Array(PCP_NONCE_LENGTH);
  private readonly epoch = new EpochTracker();
  private readonly events: MappingEvent[] = [];
  private state: State = 'idle';
  private mapTx: Retransmission | null = null;
  /** NAT-PMP only: the public address request that goes with every mapping request (§3.2). */
  private addressTx: Retransmission | null = null;
  private pendingAddress: string | undefined;
  private pendingGrant: Grant | undefined;
  private current: Mapping | null = null;
  private renewAt = Infinity;
  private retryAt = Infinity;
  private suggestedPort: number;
  /** Epoch-checked responses seen: the first one fixes the baseline. */
  private everAnswered = false;

  constructor(options: GatewayMappingOptions) {
    checkUint('internal port', options.internalPort, 1, 0xffff);
    this.protocol = options.protocol;
    this.gateway = { host: normalizeHost(options.gateway), port: NAT_PMP_SERVER_PORT };
    this.clientIp = options.clientIp;
    this.internalPort = options.internalPort;
    this.lifetime = lifetimeBounds(options.lifetime);
    this.schedule = options.schedule ?? DEFAULT_SCHEDULE;
    this.deleteSchedule = options.deleteSchedule ?? DELETE_SCHEDULE;
    this.retryAfterMs = options.retryAfterMs ?? 60_000;
    this.suggestedPort = options.suggestedExternalPort ?? options.internalPort;
    checkUint('suggested external port', this.suggestedPort, 0, 0xffff);
    options.random(this.nonce);
  }

  /** The mapping currently held, or null. */
  get mapping(): Mapping | null {
    return this.current;
  }

  /** true once the gateway sent any response we could decode (it speaks this protocol). */
  get answered(): boolean {
    return this.everAnswered;
  }

  /** Starts requesting the mapping (idempotent while requesting or mapped). */
  map(now: number): void {
    if (this.state === 'closed' || this.state === 'deleting') {
      throw new PortmapError(PortmapErrorCode.Closed, 'the mapping client was closed');
    }
    if (this.state === 'requesting' || this.state === 'mapped') return;
    this.startRequest(now);
  }

  /** Deletes the mapping (lifetime 0). An `unmapped` event follows; the client is then closed. */
  unmap(now: number): void {
    if (this.state === 'closed' || this.state === 'deleting') return;
    const mayExist = this.current !== null || this.state === 'requesting' || this.mapTx !== null;
    this.addressTx = null;
    this.renewAt = Infinity;
    this.retryAt = Infinity;
    if (!mayExist) {
      this.state = 'closed';
      this.events.push({ type: 'unmapped', confirmed: true });
      return;
    }
    this.state = 'deleting';
    // RFC 6887 §15: the deletion names the mapping (nonce, protocol, internal port) and repeats the
    // assigned external port; RFC 6886 §3.4: NAT-PMP's suggested external port MUST be 0.
    const externalPort = this.current?.external.port ?? this.suggestedPort;
    this.mapTx = new Retransmission(
      this.encodeMap(0, this.protocol === 'pcp' ? externalPort : 0),
      now,
      this.deleteSchedule,
    );
  }

  /** Stops without deleting anything (the adapter is going away). No more events. */
  close(): void {
    this.state = 'closed';
    this.mapTx = null;
    this.addressTx = null;
    this.current = null;
  }

  receive(datagram: Uint8Array, from: Address, now: number): boolean {
    if (from.port !== NAT_PMP_SERVER_PORT) return false;
    if (normalizeHost(from.host) !== this.gateway.host) {
      this.ignore(
        PortmapErrorCode.WrongSource,
        `reply from ${from.host}:${from.port}, not the gateway ${this.gateway.host}`,
      );
      return true;
    }
    if (this.state === 'closed') return true;
    if (this.protocol === 'pcp') this.receivePcp(datagram, now);
    else this.receiveNatPmp(datagram, now);
    return true;
  }

  pollTransmit(now: number): DataTransmit | null {
    if (this.addressTx?.due(now)) return { destination: this.gateway, data: this.addressTx.data };
    if (this.mapTx?.due(now)) return { destination: this.gateway, data: this.mapTx.data };
    return null;
  }

  pollEvent(): MappingEvent | null {
    return this.events.shift() ?? null;
  }

  nextDeadline(): number {
    let deadline = Infinity;
    if (this.mapTx) deadline = Math.min(deadline, this.mapTx.nextDeadline());
    if (this.addressTx) deadline = Math.min(deadline, this.addressTx.nextDeadline());
    if (this.state === 'mapped') deadline = Math.min(deadline, this.renewAt);
    if (this.current) deadline = Math.min(deadline, this.current.expiresAt);
    if (this.state === 'retry-wait') deadline = Math.min(deadline, this.retryAt);
    return deadline;
  }

  onTimeout(now: number): void {
    if (this.state === 'closed') return;
    if (this.state === 'deleting') {
      if (this.mapTx?.expired(now)) this.finishDelete(false);
      return;
    }
    if (this.current && now >= this.current.expiresAt) {
      this.current = null;
      this.events.push({
        type: 'lost',
        reason: new PortmapError(PortmapErrorCode.Timeout, `${this.protocol} mapping expired without renewal`),
      });
    }
    if (this.state === 'mapped' && now >= this.renewAt) this.startRequest(now);
    if (this.state === 'retry-wait' && now >= this.retryAt) this.startRequest(now);
    if (this.state === 'requesting' && (this.mapTx?.expired(now) || this.addressTx?.expired(now))) {
      if (this.current) {
        // A renewal went unanswered but the mapping still holds: keep asking until it expires.
        this.startRequest(now);
      } else {
        this.fail(
          now,
          new PortmapError(PortmapErrorCode.Timeout, `no ${this.protocol} answer from ${this.gateway.host}`),
        );
      }
    }
  }

  // --- internal -------------------------------------------------------------------------------

  private startRequest(now: number): void {
    this.state = 'requesting';
    this.retryAt = Infinity;
    this.pendingAddress = undefined;
    this.pendingGrant = undefined;
    const suggested = this.current?.external.port ?? this.suggestedPort;
    this.mapTx = new Retransmission(this.encodeMap(this.lifetime.requestS, suggested), now, this.schedule);
    this.addressTx =
      this.protocol === 'nat-pmp' ? new Retransmission(encodeNatPmpPublicAddressRequest(), now, this.schedule) : null;
  }

  private encodeMap(lifetimeS: number, suggestedPort: number): Uint8Array {
    if (this.protocol === 'nat-pmp') return encodeNatPmpMapRequest('udp', this.internalPort, suggestedPort, lifetimeS);
    const suggestedIp = this.current?.external.host;
    return encodePcpMapRequest({
      clientIp: this.clientIp,
      nonce: this.nonce,
      protocol: 'udp',
      internalPort: this.internalPort,
      suggestedExternalPort: suggestedPort,
      ...(suggestedIp !== undefined && lifetimeS > 0 ? { suggestedExternalIp: suggestedIp } : {}),
      lifetimeS,
    });
  }

  private receivePcp(datagram: Uint8Array, now: number): void {
    const response = decodePcpResponse(datagram);
    if (response instanceof PortmapError) return this.ignoreError(response);
    if (response.kind === 'version-mismatch') {
      if (this.state !== 'requesting') return this.ignore(PortmapErrorCode.Unsolicited, 'version mismatch reply');
      this.everAnswered = true;
      return this.fail(
        now,
        new PortmapError(
          PortmapErrorCode.UnsupportedVersion,
          `the gateway speaks version ${response.version}, not PCP`,
        ),
        Infinity,
      );
    }
    if (response.kind === 'announce') {
      // §14.1: an unsolicited ANNOUNCE after a restart; its epoch tells us whether to remap.
      if (response.result !== 0) return this.ignore(PortmapErrorCode.Unsolicited, 'ANNOUNCE with an error result');
      this.everAnswered = true;
      if (this.epoch.observe(response.epoch, now)) this.onRestart(response.epoch, now);
      return;
    }
    if (!nonceEquals(response.nonce, this.nonce)) {
      return this.ignore(PortmapErrorCode.WrongNonce, 'PCP MAP reply with a nonce that is not ours');
    }
    if (response.protocol !== IPPROTO_UDP || response.internalPort !== this.internalPort) {
      return this.ignore(
        PortmapErrorCode.WrongPort,
        `PCP MAP reply for protocol ${response.protocol} port ${response.internalPort}, we asked for UDP ${this.internalPort}`,
      );
    }
    if (this.state === 'deleting') return this.finishDelete(true);
    if (this.mapTx === null && this.current === null) {
      return this.ignore(PortmapErrorCode.Unsolicited, 'PCP MAP reply while no request is outstanding');
    }
    if (response.result !== 0) {
      this.everAnswered = true;
      this.epoch.observe(response.epoch, now);
      const error = new PortmapError(PortmapErrorCode.Refused, `PCP MAP refused: ${pcpResultText(response.result)}`);
      // §7.4: short-term errors are retried after a while, long-term ones not for long.
      return this.fail(now, error, isPcpLongTermError(response.result) ? this.retryAfterMs * 10 : this.retryAfterMs);
    }
    if (response.lifetimeS === 0 || response.externalPort === 0 || unusableExternalHost(response.externalIp)) {
      return this.ignore(
        PortmapErrorCode.BadMapping,
        `PCP MAP success with unusable mapping ${response.externalIp}:${response.externalPort} for ${response.lifetimeS} s`,
      );
    }
    this.everAnswered = true;
    const restarted = this.epoch.observe(response.epoch, now);
    if (restarted) this.events.push({ type: 'gateway-restarted', epoch: response.epoch });
    this.grant(response.externalIp, { port: response.externalPort, lifetimeS: response.lifetimeS, at: now });
  }

  private receiveNatPmp(datagram: Uint8Array, now: number): void {
    const response = decodeNatPmpResponse(datagram);
    if (response instanceof PortmapError) return this.ignoreError(response);
    if (response.kind === 'public-address') {
      if (response.result !== NatPmpResult.Success) {
        if (this.addressTx === null) return this.ignore(PortmapErrorCode.Unsolicited, 'NAT-PMP address error reply');
        this.everAnswered = true;
        return this.refuseNatPmp(now, response.result, 'public address');
      }
      if (unusableExternalHost(response.external)) {
        return this.ignore(PortmapErrorCode.BadMapping, `NAT-PMP public address ${response.external}`);
      }
      this.everAnswered = true;
      if (this.epoch.observe(response.epoch, now) && this.onRestart(response.epoch, now)) return;
      if (this.addressTx !== null) {
        this.addressTx = null;
        this.pendingAddress = response.external;
        return this.completeNatPmp();
      }
      // §3.2.1: an unsolicited address announcement — the external address changed.
      if (this.current && this.current.external.host !== response.external) {
        this.current = { ...this.current, external: { host: response.external, port: this.current.external.port } };
        this.events.push({ type: 'mapped', mapping: this.current, changed: true });
      }
      return;
    }
    if (response.protocol !== 'udp' || response.internalPort !== this.internalPort) {
      return this.ignore(
        PortmapErrorCode.WrongPort,
        `NAT-PMP reply for ${response.protocol} port ${response.internalPort}, we asked for UDP ${this.internalPort}`,
      );
    }
    if (this.state === 'deleting') return this.finishDelete(true);
    if (this.mapTx === null) return this.ignore(PortmapErrorCode.Unsolicited, 'NAT-PMP mapping reply with no request');
    if (response.result !== NatPmpResult.Success) {
      this.everAnswered = true;
      return this.refuseNatPmp(now, response.result, 'mapping');
    }
    if (response.lifetimeS === 0 || response.externalPort === 0) {
      return this.ignore(
        PortmapErrorCode.BadMapping,
        `NAT-PMP mapping success with port ${response.externalPort} for ${response.lifetimeS} s`,
      );
    }
    this.everAnswered = true;
    if (this.epoch.observe(response.epoch, now)) this.events.push({ type: 'gateway-restarted', epoch: response.epoch });
    this.mapTx = null;
    this.pendingGrant = { port: response.externalPort, lifetimeS: response.lifetimeS, at: now };
    this.completeNatPmp();
  }

  private refuseNatPmp(now: number, result: number, what: string): void {
    const code =
      result === NatPmpResult.UnsupportedVersion ? PortmapErrorCode.UnsupportedVersion : PortmapErrorCode.Refused;
    const retry = result === NatPmpResult.UnsupportedVersion ? Infinity : this.retryAfterMs;
    this.fail(now, new PortmapError(code, `NAT-PMP ${what} request refused: ${natPmpResultText(result)}`), retry);
  }

  private completeNatPmp(): void {
    if (this.pendingAddress === undefined || this.pendingGrant === undefined) return;
    this.grant(this.pendingAddress, this.pendingGrant);
  }

  private grant(host: string, grant: Grant): void {
    const lifetimeS = Math.min(grant.lifetimeS, this.lifetime.maxS);
    const previous = this.current;
    const mapping: Mapping = {
      protocol: this.protocol,
      external: { host, port: grant.port },
      internalPort: this.internalPort,
      lifetimeS,
      expiresAt: grant.at + lifetimeS * 1000,
    };
    this.current = mapping;
    this.state = 'mapped';
    this.mapTx = null;
    this.addressTx = null;
    this.renewAt = renewalTime(grant.at, lifetimeS);
    const changed = previous === null || previous.external.host !== host || previous.external.port !== grant.port;
    this.events.push({ type: 'mapped', mapping, changed });
  }

  /** A restart seen outside a grant: remap now. Returns true when a new request was started. */
  private onRestart(epoch: number, now: number): boolean {
    this.events.push({ type: 'gateway-restarted', epoch });
    if (this.state !== 'mapped') return false;
    this.startRequest(now);
    return true;
  }

  private fail(now: number, error: PortmapError, retryAfterMs = this.retryAfterMs): void {
    this.mapTx = null;
    this.addressTx = null;
    const retryAt = now + retryAfterMs;
    this.state = 'retry-wait';
    this.retryAt = retryAt;
    if (this.current && error.code !== PortmapErrorCode.Timeout) {
      this.current = null;
      this.events.push({ type: 'lost', reason: error });
    }
    this.events.push({ type: 'failed', error, retryAt });
  }

  private finishDelete(confirmed: boolean): void {
    this.state = 'closed';
    this.mapTx = null;
    this.current = null;
    this.events.push({ type: 'unmapped', confirmed });
  }

  private ignore(code: PortmapErrorCode, message: string): void {
    this.events.push({ type: 'ignored', reason: new PortmapError(code, message) });
  }

  private ignoreError(error: PortmapError): void {
    this.events.push({ type: 'ignored', reason: error });
  }
}
