/**
 * NAT middleboxes for the simulator (test/sim Middlebox hook), in RFC 4787 terms and matching the
 * lab's Linux profiles (spec/lab.md §Profiles):
 *   - easy: endpoint-independent mapping, port-preserving when free, address-and-port-dependent
 *     filtering (nftables `masquerade`);
 *   - hard: address-and-port-dependent mapping on a RANDOM external port per 5-tuple,
 *     address-and-port-dependent filtering (`masquerade fully-random`).
 * Unsolicited inbound datagrams are dropped silently. Datagrams whose bytes are in `lowTtl` expire
 * right after this NAT (they open the mapping and go no further), as a low IP TTL makes them do.
 */
import type { Address } from '../../../src/transport/api.js';
import type { Middlebox, SimDatagram } from '../../../src/sim/network.js';
import type { SimRandom } from '../../../src/sim/random.js';

interface Mapping {
  readonly internal: Address;
  readonly external: number;
  /** Remote endpoints (host|port) this mapping has sent to: inbound from them passes. */
  readonly permits: Set<string>;
}

const ep = (a: Address): string => `${a.host}|${a.port}`;

export class NatMiddlebox implements Middlebox {
  readonly name: string;
  private readonly byKey = new Map<string, Mapping>();
  private readonly byPort = new Map<number, Mapping>();
  /** Datagrams (by content) that die just after this NAT. */
  readonly lowTtl = new Set<string>();
  translated = 0;
  filtered = 0;

  constructor(
    readonly kind: 'easy' | 'hard',
    readonly publicHost: string,
    /** Hosts behind this NAT. */
    private readonly inside: ReadonlySet<string>,
    private readonly random: SimRandom,
  ) {
    this.name = `${kind}-nat(${publicHost})`;
  }

  outbound(d: SimDatagram): SimDatagram | null {
    if (!this.inside.has(d.from.host) || this.inside.has(d.to.host)) return d; // not crossing this NAT
    const key = this.kind === 'easy' ? ep(d.from) : `${ep(d.from)}>${ep(d.to)}`;
    let m = this.byKey.get(key);
    if (!m) {
      let port = this.kind === 'easy' ? d.from.port : 0;
      while (port === 0 || this.byPort.has(port)) port = this.random.int(1024, 65_535);
      m = { internal: d.from, external: port, permits: new Set() };
      this.byKey.set(key, m);
      this.byPort.set(port, m);
    }
    m.permits.add(ep(d.to));
    this.translated++;
    const hex = Buffer.from(d.data).toString('hex');
    if (this.lowTtl.delete(hex)) return null;
    return { from: { host: this.publicHost, port: m.external }, to: d.to, data: d.data };
  }

  inbound(d: SimDatagram): SimDatagram | null {
    // Private addresses behind the NAT are not routed from outside it.
    if (this.inside.has(d.to.host)) return this.inside.has(d.from.host) ? d : null;
    if (d.to.host !== this.publicHost) return d;
    const m = this.byPort.get(d.to.port);
    if (!m?.permits.has(ep(d.from))) {
      this.filtered++;
      return null;
    }
    return { from: d.from, to: m.internal, data: d.data };
  }

  /** How many mappings exist (each costs the NAT a port). */
  get mappings(): number {
    return this.byPort.size;
  }
}
