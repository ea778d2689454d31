/**
 * Sans-IO NAT behaviour discovery on ONE socket (RFC 5780 §4.3 mapping, §4.4 filtering, RFC 4787 §6
 * hairpinning), against a server with two IPs and two ports.
 *
 * Order matters on a single socket: every packet we send opens filter state in the NAT, so the
 * filtering tests run before the mapping tests contact the server's alternate IP (otherwise an
 * address-dependent filter would already admit the alternate IP and look endpoint-independent).
 *
 *   Test I        → primary IP:port                       : mapped M1, OTHER-ADDRESS (A:ap)
 *   Filter II     → primary, CHANGE-REQUEST ip+port       : answer ⇒ endpoint-independent filtering
 *   Filter III    → primary, CHANGE-REQUEST port          : answer ⇒ address-dependent, else addr+port
 *   Mapping II    → A:primary port                        : M2 = M1 ⇒ endpoint-independent mapping
 *   Mapping III   → A:ap                                  : M3 = M2 ⇒ address-dependent, else addr+port
 *   Hairpin       → M1 (our own mapped address)           : our request arrives back ⇒ hairpinning
 */
import type { Address, DataTransmit, RandomSource } from '../../transport/api.js';
import { normalizeHost, sameAddress } from './address.js';
import { StunBindingClient, type BindingEvent } from './binding-client.js';
import { StunErrorCode, type StunError } from './errors.js';
import { decodeStunMessage, isStunMessage, StunClass, transactionKey } from './message.js';
import type { RetransmissionOptions } from './transaction.js';

export type MappingBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent' | 'unknown';
export type FilteringBehaviour = MappingBehaviour;

export interface NatBehaviour {
  readonly server: Address;
  /** The socket's own address, if the caller told us. */
  readonly local: Address | undefined;
  /** Our address as the server's primary address saw it (Test I). */
  readonly mapped: Address;
  /** false when the mapped address equals the local one; null when that cannot be told (wildcard bind). */
  readonly natPresent: boolean | null;
  /** The server returned OTHER-ADDRESS, so the RFC 5780 tests could run. */
  readonly behaviourDiscovery: boolean;
  readonly otherAddress: Address | undefined;
  readonly mapping: MappingBehaviour;
  readonly filtering: FilteringBehaviour;
  /** null when not tested. */
  readonly hairpinning: boolean | null;
  /** Mapped address seen by each test, for diagnostics. */
  readonly observed: { readonly primary: Address; readonly alternateIp?: Address; readonly alternateIpPort?: Address };
}

export interface NatDiscoveryOptions {
  readonly server: Address;
  readonly local?: Address;
  readonly random: RandomSource;
  /** Per-test schedule. Default RTO 500 ms, Rc 4, Rm 4: a silent test costs 5.5 s (filtering expects silence). */
  readonly retransmission?: RetransmissionOptions;
  /** Run the hairpinning test (default true). */
  readonly hairpinning?: boolean;
  readonly software?: string;
}

export const DEFAULT_DISCOVERY_RETRANSMISSION: RetransmissionOptions = { rto: 500, rc: 4, rm: 4 };

type Step = 'test1' | 'filter2' | 'filter3' | 'map2' | 'map3' | 'hairpin' | 'done' | 'failed';

const WILDCARDS = new Set(['0.0.0.0', '::']);

export class NatBehaviourDiscovery {
  private readonly client: StunBindingClient;
  private readonly options: NatDiscoveryOptions;
  private step: Step = 'test1';
  private currentId = 0;
  private hairpinKey: string | undefined;
  private mapped1: Address | undefined;
  private mapped2: Address | undefined;
  private mapped3: Address | undefined;
  private other: Address | undefined;
  private mapping: MappingBehaviour = 'unknown';
  private filtering: FilteringBehaviour = 'unknown';
  private hairpinning: boolean | null = null;
  private failure: StunError | undefined;

  constructor(options: NatDiscoveryOptions, now: number) {
    this.options = options;
    this.client = new StunBindingClient({
      random: options.random,
      retransmission: options.retransmission ?? DEFAULT_DISCOVERY_RETRANSMISSION,
      ...(options.software === undefined ? {} : { software: options.software }),
    });
    this.currentId = this.client.request(options.server, now, { tag: 'test1' });
  }

  get done(): boolean {
    return this.step === 'done' || this.step === 'failed';
  }

  /** Which test is running (for progress output). */
  get currentStep(): Step {
    return this.step;
  }

  /** The error that ended discovery (Test I failed), if it failed. */
  get error(): StunError | undefined {
    return this.failure;
  }

  result(): NatBehaviour | null {
    if (this.step !== 'done' || !this.mapped1) return null;
    const local = this.options.local;
    const natPresent = local && !WILDCARDS.has(normalizeHost(local.host)) ? !sameAddress(local, this.mapped1) : null;
    return {
      server: this.options.server,
      local,
      mapped: this.mapped1,
      natPresent,
      behaviourDiscovery: this.other !== undefined,
      otherAddress: this.other,
      mapping: this.mapping,
      filtering: this.filtering,
      hairpinning: this.hairpinning,
      observed: {
        primary: this.mapped1,
        ...(this.mapped2 ? { alternateIp: this.mapped2 } : {}),
        ...(this.mapped3 ? { alternateIpPort: this.mapped3 } : {}),
      },
    };
  }

  /** Feeds a datagram received on the socket; true if it belonged to discovery. */
  receive(data: Uint8Array, from: Address, now: number): boolean {
    if (this.step === 'hairpin' && this.hairpinKey && isStunMessage(data)) {
      try {
        const m = decodeStunMessage(data);
        if (m.cls === StunClass.Request && transactionKey(m.transactionId) === this.hairpinKey) {
          this.client.cancel(this.currentId);
          this.hairpinning = true;
          this.finish();
          return true;
        }
      } catch {
        // not ours
      }
    }
    const consumed = this.client.receive(data, from, now);
    this.drain(now);
    return consumed;
  }

  pollTransmit(now: number): DataTransmit | null {
    return this.client.pollTransmit(now);
  }

  nextDeadline(): number {
    return this.done ? Infinity : this.client.nextDeadline();
  }

  onTimeout(now: number): void {
    this.client.onTimeout(now);
    this.drain(now);
  }

  private drain(now: number): void {
    for (let e = this.client.pollEvent(); e; e = this.client.pollEvent()) {
      if (e.id === this.currentId) this.advance(e, now);
    }
  }

  private advance(e: BindingEvent, now: number): void {
    const server = this.options.server;
    switch (this.step) {
      case 'test1':
        if (e.type === 'failure') {
          this.failure = e.error;
          this.step = 'failed';
          return;
        }
        this.mapped1 = e.mapped;
        this.other = e.otherAddress;
        // RFC 5780 §4.2: without OTHER-ADDRESS the server cannot do behaviour discovery.
        if (!this.other || sameAddress(this.other, server) || this.other.host === server.host)
          return this.startHairpin(now);
        return this.next('filter2', server, now, { changeIp: true, changePort: true });
      case 'filter2':
        if (e.type === 'success') {
          // A server that ignored CHANGE-REQUEST answers from where we sent: that proves nothing.
          if (sameAddress(e.from, server)) return this.next('map2', { host: this.other!.host, port: server.port }, now);
          this.filtering = 'endpoint-independent';
          return this.next('map2', { host: this.other!.host, port: server.port }, now);
        }
        if (e.error.code !== StunErrorCode.Timeout)
          return this.next('map2', { host: this.other!.host, port: server.port }, now);
        return this.next('filter3', server, now, { changePort: true });
      case 'filter3':
        if (e.type === 'success') this.filtering = sameAddress(e.from, server) ? 'unknown' : 'address-dependent';
        else if (e.error.code === StunErrorCode.Timeout) this.filtering = 'address-and-port-dependent';
        return this.next('map2', { host: this.other!.host, port: server.port }, now);
      case 'map2':
        if (e.type === 'failure') return this.startHairpin(now);
        this.mapped2 = e.mapped;
        if (sameAddress(e.mapped, this.mapped1!)) {
          this.mapping = 'endpoint-independent';
          return this.startHairpin(now);
        }
        return this.next('map3', this.other!, now);
      case 'map3':
        if (e.type === 'success') {
          this.mapped3 = e.mapped;
          this.mapping = sameAddress(e.mapped, this.mapped2!) ? 'address-dependent' : 'address-and-port-dependent';
        }
        return this.startHairpin(now);
      case 'hairpin':
        // Our own request never arrived back (a response would be someone else answering: still no).
        this.hairpinning = false;
        return this.finish();
      default:
        return;
    }
  }

  private next(
    step: Step,
    destination: Address,
    now: number,
    change: { changeIp?: boolean; changePort?: boolean } = {},
  ): void {
    this.step = step;
    this.currentId = this.client.request(destination, now, { ...change, tag: step });
  }

  private startHairpin(now: number): void {
    if (this.options.hairpinning === false) return this.finish();
    this.next('hairpin', this.mapped1!, now);
    this.hairpinKey = this.client.transactionIdOf(this.currentId);
  }

  private finish(): void {
    this.step = 'done';
    this.hairpinKey = undefined;
  }
}

export function describeNatBehaviour(b: NatBehaviour): string {
  const lines = [
    `mapped address   ${b.mapped.host.includes(':') ? `[${b.mapped.host}]` : b.mapped.host}:${b.mapped.port}`,
    `NAT present      ${b.natPresent === null ? 'unknown (socket bound to a wildcard address)' : b.natPresent ? 'yes' : 'no'}`,
  ];
  if (!b.behaviourDiscovery)
    lines.push('mapping          unknown (server has no alternate address: no RFC 5780 discovery)');
  else {
    lines.push(`mapping          ${b.mapping}`);
    lines.push(`filtering        ${b.filtering}`);
  }
  lines.push(`hairpinning      ${b.hairpinning === null ? 'not tested' : b.hairpinning ? 'yes' : 'no'}`);
  return lines.join('\n');
}
