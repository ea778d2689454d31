/**
 * A tiny NAT model for behaviour-discovery tests (RFC 4787 terms): mapping and filtering each
 * endpoint-independent, address-dependent or address-and-port-dependent, optional hairpinning.
 */
import type { Address } from '../../../src/transport/api.js';
import type { MappingBehaviour } from '../../../src/traversal/stun/index.js';

export type Behaviour = Exclude<MappingBehaviour, 'unknown'>;

interface Mapping {
  readonly key: string;
  readonly internal: Address;
  readonly publicPort: number;
  readonly permits: Set<string>;
  /** Last outbound packet (RFC 4787 REQ-6: only outbound traffic refreshes). */
  lastOutbound: number;
}

const keyFor = (behaviour: Behaviour, a: Address): string =>
  behaviour === 'endpoint-independent' ? '*' : behaviour === 'address-dependent' ? a.host : `${a.host}:${a.port}`;

export class SimNat {
  private readonly byKey = new Map<string, Mapping>();
  private readonly byPort = new Map<number, Mapping>();
  private nextPort = 40000;

  constructor(
    readonly publicIp: string,
    readonly mapping: Behaviour,
    readonly filtering: Behaviour,
    readonly hairpin: boolean,
    /** Mapping lifetime without outbound traffic, ms. */
    readonly lifetimeMs = Infinity,
  ) {}

  private live(m: Mapping | undefined, now: number): Mapping | undefined {
    if (!m || now - m.lastOutbound < this.lifetimeMs) return m;
    this.byKey.delete(m.key);
    this.byPort.delete(m.publicPort);
    return undefined;
  }

  /** Translates an outgoing packet; returns the public source address it leaves with. */
  outbound(from: Address, to: Address, now = 0): Address {
    const key = `${from.host}:${from.port}|${keyFor(this.mapping, to)}`;
    let m = this.live(this.byKey.get(key), now);
    if (!m) {
      m = { key, internal: from, publicPort: this.nextPort++, permits: new Set(), lastOutbound: now };
      this.byKey.set(key, m);
      this.byPort.set(m.publicPort, m);
    }
    m.lastOutbound = now;
    m.permits.add(keyFor(this.filtering, to));
    return { host: this.publicIp, port: m.publicPort };
  }

  /** Translates an incoming packet; null when filtered or unmapped. */
  inbound(from: Address, to: Address, hairpinned = false, now = 0): Address | null {
    if (to.host !== this.publicIp) return null;
    const m = this.live(this.byPort.get(to.port), now);
    if (!m) return null;
    if (!hairpinned && !m.permits.has(keyFor(this.filtering, from)) && !m.permits.has('*')) return null;
    return m.internal;
  }
}
