/**
 * Which of PCP and NAT-PMP does the gateway speak? Asks both at once without creating any state on
 * it: a PCP ANNOUNCE request (RFC 6887 §14.1) and a NAT-PMP public address request (RFC 6886 §3.2),
 * both to the gateway's port 5351, retransmitted on the RFC 6886 §3.1 schedule. Each protocol ends
 * `answered` (with the epoch, and for NAT-PMP the external address) or `silent`.
 *
 * A NAT-PMP-only gateway answers the PCP request with a NAT-PMP "unsupported version" (RFC 6887 §9):
 * PCP is then `unsupported`, not silent — and that reply must not be taken for the address answer.
 */
import type { Address, DataTransmit } from '../../transport/api.js';
import { normalizeHost } from '../stun/address.js';
import { PortmapError, PortmapErrorCode } from './errors.js';
import { unusableExternalHost } from './events.js';
import {
  decodeNatPmpResponse,
  encodeNatPmpPublicAddressRequest,
  NAT_PMP_SERVER_PORT,
  NatPmpResult,
  natPmpResultText,
} from './nat-pmp.js';
import { decodePcpResponse, encodePcpAnnounceRequest, pcpResultText } from './pcp.js';
import { DEFAULT_SCHEDULE, Retransmission, type RetransmissionSchedule } from './retransmission.js';

export type ProbeEvent =
  | {
      readonly type: 'answered';
      readonly protocol: 'pcp' | 'nat-pmp';
      readonly epoch: number;
      /** NAT-PMP's public address (RFC 6886 §3.2); PCP's ANNOUNCE carries none. */
      readonly external: string | undefined;
    }
  /** The gateway answered but refuses: NAT-PMP result ≠ 0 (e.g. 3, network failure) or PCP error. */
  | { readonly type: 'refused'; readonly protocol: 'pcp' | 'nat-pmp'; readonly reason: PortmapError }
  | { readonly type: 'silent'; readonly protocol: 'pcp' | 'nat-pmp' }
  | { readonly type: 'ignored'; readonly reason: PortmapError };

export interface GatewayProbeOptions {
  readonly gateway: string;
  /** Our address towards the gateway (PCP client IP field). */
  readonly clientIp: string;
  readonly protocols?: readonly ('pcp' | 'nat-pmp')[];
  readonly schedule?: RetransmissionSchedule;
}

export class GatewayProbe {
  readonly gateway: Address;
  private readonly events: ProbeEvent[] = [];
  private pcp: Retransmission | null = null;
  private natPmp: Retransmission | null = null;

  constructor(options: GatewayProbeOptions, now: number) {
    this.gateway = { host: normalizeHost(options.gateway), port: NAT_PMP_SERVER_PORT };
    const protocols = options.protocols ?? ['pcp', 'nat-pmp'];
    const schedule = options.schedule ?? DEFAULT_SCHEDULE;
    if (protocols.includes('pcp'))
      this.pcp = new Retransmission(encodePcpAnnounceRequest(options.clientIp), now, schedule);
    if (protocols.includes('nat-pmp'))
      this.natPmp = new Retransmission(encodeNatPmpPublicAddressRequest(), now, schedule);
  }

  get done(): boolean {
    return this.pcp === null && this.natPmp === null;
  }

  receive(datagram: Uint8Array, from: Address, now: number): boolean {
    void now;
    if (from.port !== NAT_PMP_SERVER_PORT) return false;
    if (normalizeHost(from.host) !== this.gateway.host) {
      this.events.push({
        type: 'ignored',
        reason: new PortmapError(PortmapErrorCode.WrongSource, `reply from ${from.host}, not the gateway`),
      });
      return true;
    }
    if (datagram[0] === 2) return (this.onPcp(datagram), true);
    if (datagram[0] === 0) return (this.onNatPmp(datagram), true);
    this.events.push({
      type: 'ignored',
      reason: new PortmapError(PortmapErrorCode.Malformed, `reply of version ${String(datagram[0])} from the gateway`),
    });
    return true;
  }

  private onPcp(datagram: Uint8Array): void {
    const response = decodePcpResponse(datagram);
    if (response instanceof PortmapError) return void this.events.push({ type: 'ignored', reason: response });
    if (this.pcp === null || response.kind !== 'announce') {
      return void this.events.push({
        type: 'ignored',
        reason: new PortmapError(PortmapErrorCode.Unsolicited, 'PCP reply that answers no probe'),
      });
    }
    this.pcp = null;
    if (response.result !== 0) {
      const reason = new PortmapError(PortmapErrorCode.Refused, `PCP ANNOUNCE: ${pcpResultText(response.result)}`);
      return void this.events.push({ type: 'refused', protocol: 'pcp', reason });
    }
    this.events.push({ type: 'answered', protocol: 'pcp', epoch: response.epoch, external: undefined });
  }

  private onNatPmp(datagram: Uint8Array): void {
    const response = decodeNatPmpResponse(datagram);
    if (response instanceof PortmapError) return void this.events.push({ type: 'ignored', reason: response });
    if (response.kind !== 'public-address') {
      return void this.events.push({
        type: 'ignored',
        reason: new PortmapError(PortmapErrorCode.Unsolicited, 'NAT-PMP mapping reply to an address probe'),
      });
    }
    if (response.result === NatPmpResult.UnsupportedVersion && this.pcp !== null) {
      // RFC 6887 §9: the answer of a NAT-PMP-only server to our PCP request.
      this.pcp = null;
      const reason = new PortmapError(PortmapErrorCode.UnsupportedVersion, 'the gateway speaks NAT-PMP, not PCP');
      return void this.events.push({ type: 'refused', protocol: 'pcp', reason });
    }
    if (this.natPmp === null) {
      return void this.events.push({
        type: 'ignored',
        reason: new PortmapError(PortmapErrorCode.Unsolicited, 'NAT-PMP reply that answers no probe'),
      });
    }
    this.natPmp = null;
    if (response.result !== NatPmpResult.Success) {
      const reason = new PortmapError(PortmapErrorCode.Refused, `NAT-PMP: ${natPmpResultText(response.result)}`);
      return void this.events.push({ type: 'refused', protocol: 'nat-pmp', reason });
    }
    if (unusableExternalHost(response.external)) {
      const reason = new PortmapError(PortmapErrorCode.BadMapping, `NAT-PMP public address ${response.external}`);
      return void this.events.push({ type: 'refused', protocol: 'nat-pmp', reason });
    }
    this.events.push({ type: 'answered', protocol: 'nat-pmp', epoch: response.epoch, external: response.external });
  }

  pollTransmit(now: number): DataTransmit | null {
    if (this.pcp?.due(now)) return { destination: this.gateway, data: this.pcp.data };
    if (this.natPmp?.due(now)) return { destination: this.gateway, data: this.natPmp.data };
    return null;
  }

  pollEvent(): ProbeEvent | null {
    return this.events.shift() ?? null;
  }

  nextDeadline(): number {
    return Math.min(this.pcp?.nextDeadline() ?? Infinity, this.natPmp?.nextDeadline() ?? Infinity);
  }

  onTimeout(now: number): void {
    if (this.pcp?.expired(now)) {
      this.pcp = null;
      this.events.push({ type: 'silent', protocol: 'pcp' });
    }
    if (this.natPmp?.expired(now)) {
      this.natPmp = null;
      this.events.push({ type: 'silent', protocol: 'nat-pmp' });
    }
  }
}
