import { describe, expect, it } from 'vitest';
import {
  decodeNatPmpResponse,
  decodePcpResponse,
  encodeNatPmpMapRequest,
  encodePcpMapRequest,
  EpochTracker,
  GatewayMappingClient,
  type GatewayMappingOptions,
  PortmapError,
  PortmapErrorCode,
} from '../../../src/traversal/portmap/index.js';
import {
  CLIENT_IP,
  counterRandom,
  drain,
  GATEWAY,
  natPmpAddressReply,
  natPmpMapReply,
  pcpAnnounceReply,
  pcpMapReply,
  sent,
} from './helpers.js';

const PORT = 40000;

function client(protocol: 'pcp' | 'nat-pmp', extra: Partial<GatewayMappingOptions> = {}): GatewayMappingClient {
  return new GatewayMappingClient({
    protocol,
    gateway: GATEWAY.host,
    clientIp: CLIENT_IP,
    internalPort: PORT,
    random: counterRandom(),
    lifetime: { requestS: 120 },
    ...extra,
  });
}

/** Maps with PCP at t=0 and returns the client and its MAP request. */
function mappedPcp(extra: Partial<GatewayMappingOptions> = {}): { c: GatewayMappingClient; request: Uint8Array } {
  const c = client('pcp', extra);
  c.map(0);
  const [request] = sent(c, 0);
  expect(c.receive(pcpMapReply(request!, { lifetimeS: 120, epoch: 100, externalPort: 50000 }), GATEWAY, 10)).toBe(true);
  const events = drain(c);
  expect(events).toEqual([
    {
      type: 'mapped',
      changed: true,
      mapping: {
        protocol: 'pcp',
        external: { host: '203.0.113.10', port: 50000 },
        internalPort: PORT,
        lifetimeS: 120,
        expiresAt: 10 + 120_000,
      },
    },
  ]);
  return { c, request: request! };
}

describe('codecs', () => {
  it('NAT-PMP mapping request layout (RFC 6886 §3.3)', () => {
    const r = encodeNatPmpMapRequest('udp', 40000, 40001, 3600);
    expect(Buffer.from(r).toString('hex')).toBe('00010000' + '9c40' + '9c41' + '00000e10');
  });
  it('PCP MAP request layout (RFC 6887 §11.1): IPv4-mapped client, nonce, UDP, zero suggested address', () => {
    const nonce = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
    const r = encodePcpMapRequest({
      clientIp: '192.168.1.11',
      nonce,
      protocol: 'udp',
      internalPort: 40000,
      suggestedExternalPort: 40000,
      lifetimeS: 7200,
    });
    expect(r.length).toBe(60);
    expect(Buffer.from(r.subarray(0, 8)).toString('hex')).toBe('0201000000001c20');
    expect(Buffer.from(r.subarray(8, 24)).toString('hex')).toBe('00000000000000000000ffffc0a8010b');
    expect(r.subarray(24, 36)).toEqual(nonce);
    expect(r[36]).toBe(17);
    expect(Buffer.from(r.subarray(40, 60)).toString('hex')).toBe('9c409c40' + '00000000000000000000ffff00000000');
  });
  it('bad arguments are typed errors', () => {
    expect(() => encodeNatPmpMapRequest('udp', 0, 0, 1)).toThrow(PortmapError);
    expect(() => encodeNatPmpMapRequest('udp', 1, 70000, 1)).toThrow(/suggested external port/);
    expect(() => client('pcp', { internalPort: 65536 })).toThrow(PortmapError);
  });
  it('decoders return typed errors for truncated and foreign datagrams', () => {
    expect((decodeNatPmpResponse(new Uint8Array(7)) as PortmapError).code).toBe(PortmapErrorCode.Truncated);
    expect((decodeNatPmpResponse(natPmpMapReply(0, 1, 1, 1, 1).subarray(0, 12)) as PortmapError).code).toBe(
      PortmapErrorCode.Truncated,
    );
    expect((decodeNatPmpResponse(Uint8Array.of(0, 1, 0, 0, 0, 0, 0, 0)) as PortmapError).code).toBe(
      PortmapErrorCode.Malformed,
    );
    expect((decodePcpResponse(new Uint8Array(20).fill(2)) as PortmapError).code).toBe(PortmapErrorCode.Truncated);
    expect(
      (decodePcpResponse(new Uint8Array(1104).fill(0).map((_, i) => (i === 0 ? 2 : 0x81))) as PortmapError).code,
    ).toBe(PortmapErrorCode.Malformed);
    // An option announcing more bytes than the datagram holds.
    const withOption = new Uint8Array(64);
    withOption.set(pcpAnnounceReply(5));
    withOption.set([1, 0, 0x01, 0x00], 24);
    expect((decodePcpResponse(withOption) as PortmapError).code).toBe(PortmapErrorCode.Truncated);
  });
});

describe('epoch (RFC 6887 §8.5)', () => {
  it('accepts a steady clock and flags a reset or a jump', () => {
    const e = new EpochTracker();
    expect(e.observe(1000, 0)).toBe(false);
    expect(e.observe(1060, 60_000)).toBe(false);
    expect(e.observe(1059, 61_000)).toBe(false); // back by up to 1 s is tolerated
    expect(e.observe(1057, 62_000)).toBe(true); // back by 2 s: restarted
    const f = new EpochTracker();
    f.observe(1000, 0);
    expect(f.observe(5, 60_000)).toBe(true); // restarted
    const g = new EpochTracker();
    g.observe(1000, 0);
    expect(g.observe(2000, 60_000)).toBe(true); // server time ran 1000 s in 60 s
  });
});

describe('PCP mapping client', () => {
  it('maps, renews at half the lifetime with the same nonce, and deletes with lifetime 0', () => {
    const { c, request } = mappedPcp();
    expect(c.nextDeadline()).toBe(10 + 60_000);
    c.onTimeout(60_010);
    const [renewal] = sent(c, 60_010);
    expect(renewal!.subarray(24, 36)).toEqual(request.subarray(24, 36));
    expect(new DataView(renewal!.buffer).getUint16(42)).toBe(50000); // suggests the port it holds
    c.receive(pcpMapReply(renewal!, { lifetimeS: 120, epoch: 160, externalPort: 50000 }), GATEWAY, 60_020);
    expect(drain(c)).toMatchObject([{ type: 'mapped', changed: false }]);
    c.unmap(70_000);
    const [deletion] = sent(c, 70_000);
    expect(new DataView(deletion!.buffer).getUint32(4)).toBe(0);
    expect(new DataView(deletion!.buffer).getUint16(42)).toBe(50000); // the assigned external port
    expect(deletion!.subarray(24, 36)).toEqual(request.subarray(24, 36));
    c.receive(pcpMapReply(deletion!, { lifetimeS: 0, epoch: 170, externalPort: 50000 }), GATEWAY, 70_010);
    expect(drain(c)).toEqual([{ type: 'unmapped', confirmed: true }]);
    expect(c.mapping).toBeNull();
  });

  it('an ANNOUNCE whose epoch shows a restart makes it remap at once', () => {
    const { c } = mappedPcp();
    c.receive(pcpAnnounceReply(3), GATEWAY, 30_000);
    expect(drain(c)).toEqual([{ type: 'gateway-restarted', epoch: 3 }]);
    expect(sent(c, 30_000)).toHaveLength(1);
  });

  it('a restart seen in a renewal response is reported and the new grant taken', () => {
    const { c } = mappedPcp();
    c.onTimeout(60_010);
    const [renewal] = sent(c, 60_010);
    c.receive(pcpMapReply(renewal!, { lifetimeS: 120, epoch: 2, externalPort: 50001 }), GATEWAY, 60_020);
    expect(drain(c)).toMatchObject([
      { type: 'gateway-restarted', epoch: 2 },
      { type: 'mapped', changed: true, mapping: { external: { port: 50001 } } },
    ]);
  });

  it('hostile replies are ignored with a typed reason and change nothing', () => {
    const c = client('pcp');
    c.map(0);
    const [request] = sent(c, 0);
    const wrongNonce = new Uint8Array(12).fill(0xee);
    const cases: [Uint8Array, { host: string; port: number }, PortmapErrorCode][] = [
      [
        pcpMapReply(request!, { lifetimeS: 120, epoch: 1, externalPort: 1, nonce: wrongNonce }),
        GATEWAY,
        PortmapErrorCode.WrongNonce,
      ],
      [
        pcpMapReply(request!, { lifetimeS: 120, epoch: 1, externalPort: 1, internalPort: 40001 }),
        GATEWAY,
        PortmapErrorCode.WrongPort,
      ],
      [
        pcpMapReply(request!, { lifetimeS: 120, epoch: 1, externalPort: 1, protocol: 6 }),
        GATEWAY,
        PortmapErrorCode.WrongPort,
      ],
      [pcpMapReply(request!, { lifetimeS: 120, epoch: 1, externalPort: 0 }), GATEWAY, PortmapErrorCode.BadMapping],
      [pcpMapReply(request!, { lifetimeS: 0, epoch: 1, externalPort: 5 }), GATEWAY, PortmapErrorCode.BadMapping],
      [
        pcpMapReply(request!, { lifetimeS: 9, epoch: 1, externalPort: 5, external: '0.0.0.0' }),
        GATEWAY,
        PortmapErrorCode.BadMapping,
      ],
      [
        pcpMapReply(request!, { lifetimeS: 9, epoch: 1, externalPort: 5, external: '224.0.0.1' }),
        GATEWAY,
        PortmapErrorCode.BadMapping,
      ],
      [
        pcpMapReply(request!, { lifetimeS: 9, epoch: 1, externalPort: 5 }).subarray(0, 40),
        GATEWAY,
        PortmapErrorCode.Truncated,
      ],
      [
        pcpMapReply(request!, { lifetimeS: 9, epoch: 1, externalPort: 5 }),
        { host: '192.168.1.66', port: 5351 },
        PortmapErrorCode.WrongSource,
      ],
    ];
    for (const [datagram, from, code] of cases) {
      expect(c.receive(datagram, from, 5)).toBe(true);
      const events = drain(c);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'ignored', reason: { code } });
      expect(c.mapping).toBeNull();
    }
    // Not from port 5351: not ours at all.
    expect(c.receive(new Uint8Array(60), { host: GATEWAY.host, port: 5350 }, 5)).toBe(false);
  });

  it('a huge granted lifetime is bounded by the maximum we believe', () => {
    const c = client('pcp', { lifetime: { requestS: 120, maxS: 600 } });
    c.map(0);
    const [request] = sent(c, 0);
    c.receive(pcpMapReply(request!, { lifetimeS: 0xffffffff, epoch: 1, externalPort: 50000 }), GATEWAY, 0);
    const [event] = drain(c);
    expect(event).toMatchObject({ type: 'mapped', mapping: { lifetimeS: 600, expiresAt: 600_000 } });
    expect(c.nextDeadline()).toBe(300_000);
  });

  it('a 1 s lifetime cannot make it renew more often than every 500 ms', () => {
    const c = client('pcp');
    c.map(0);
    const [request] = sent(c, 0);
    c.receive(pcpMapReply(request!, { lifetimeS: 1, epoch: 1, externalPort: 50000 }), GATEWAY, 0);
    drain(c);
    expect(c.nextDeadline()).toBe(500);
  });

  it('a NAT-PMP-only server (version 0 "unsupported version") ends PCP for good', () => {
    const c = client('pcp');
    c.map(0);
    sent(c, 0);
    c.receive(Uint8Array.of(0, 0x81, 0, 1, 0, 0, 0, 9), GATEWAY, 5);
    expect(drain(c)).toMatchObject([
      { type: 'failed', error: { code: PortmapErrorCode.UnsupportedVersion }, retryAt: Infinity },
    ]);
  });

  it('a late NAT-PMP address reply (result 0) is not taken for "PCP unsupported"', () => {
    const c = client('pcp');
    c.map(0);
    sent(c, 0);
    c.receive(natPmpAddressReply(0, 9), GATEWAY, 5);
    expect(drain(c)).toMatchObject([{ type: 'ignored', reason: { code: PortmapErrorCode.Malformed } }]);
  });

  it('times out on the RFC 6886 schedule and retries after retryAfterMs', () => {
    const c = client('pcp', { retryAfterMs: 10_000 });
    c.map(0);
    const times: number[] = [];
    for (let now = 0; now < 5000; now += 50) {
      c.onTimeout(now);
      if (sent(c, now).length > 0) times.push(now);
    }
    expect(times).toEqual([0, 250, 750, 1750]);
    expect(drain(c)).toMatchObject([{ type: 'failed', error: { code: PortmapErrorCode.Timeout }, retryAt: 12_750 }]);
    c.onTimeout(12_750);
    expect(sent(c, 12_750)).toHaveLength(1);
  });

  it('a refusal (NO_RESOURCES) fails the attempt; the mapping is not trusted', () => {
    const c = client('pcp');
    c.map(0);
    const [request] = sent(c, 0);
    c.receive(pcpMapReply(request!, { result: 8, lifetimeS: 30, epoch: 1, externalPort: 50000 }), GATEWAY, 5);
    expect(drain(c)).toMatchObject([{ type: 'failed', error: { code: PortmapErrorCode.Refused } }]);
    expect(c.mapping).toBeNull();
  });

  it('an unrenewed mapping is reported lost when it expires', () => {
    const { c } = mappedPcp();
    for (let now = 60_010; now <= 130_000; now += 1000) {
      c.onTimeout(now);
      sent(c, now);
    }
    expect(drain(c)).toContainEqual(expect.objectContaining({ type: 'lost' }));
    expect(c.mapping).toBeNull();
  });
});

describe('NAT-PMP mapping client', () => {
  it('asks for the public address and the mapping together; maps when both answered', () => {
    const c = client('nat-pmp');
    c.map(0);
    const [address, map] = sent(c, 0);
    expect(Buffer.from(address!).toString('hex')).toBe('0000');
    expect(Buffer.from(map!).toString('hex')).toBe('00010000' + '9c40' + '9c40' + '00000078');
    c.receive(natPmpMapReply(0, 50, PORT, 50000, 120), GATEWAY, 5);
    expect(drain(c)).toEqual([]);
    c.receive(natPmpAddressReply(0, 50), GATEWAY, 6);
    expect(drain(c)).toMatchObject([
      { type: 'mapped', mapping: { protocol: 'nat-pmp', external: { host: '203.0.113.10', port: 50000 } } },
    ]);
    c.unmap(10);
    const [deletion] = sent(c, 10);
    expect(Buffer.from(deletion!).toString('hex')).toBe('00010000' + '9c40' + '0000' + '00000000');
    c.receive(natPmpMapReply(0, 51, PORT, 0, 0), GATEWAY, 11);
    expect(drain(c)).toEqual([{ type: 'unmapped', confirmed: true }]);
  });

  it('a reply for another internal port is ignored (never believed, never deleted)', () => {
    const c = client('nat-pmp');
    c.map(0);
    sent(c, 0);
    c.receive(natPmpMapReply(0, 50, 41000, 50000, 120), GATEWAY, 5);
    expect(drain(c)).toMatchObject([{ type: 'ignored', reason: { code: PortmapErrorCode.WrongPort } }]);
    c.receive(natPmpMapReply(0, 50, PORT, 50000, 120, 130), GATEWAY, 5); // TCP reply
    expect(drain(c)).toMatchObject([{ type: 'ignored', reason: { code: PortmapErrorCode.WrongPort } }]);
    expect(c.mapping).toBeNull();
  });

  it('result 3 (network failure, e.g. no public WAN address) fails the attempt', () => {
    const c = client('nat-pmp');
    c.map(0);
    sent(c, 0);
    c.receive(natPmpAddressReply(3, 50, '0.0.0.0'), GATEWAY, 5);
    expect(drain(c)).toMatchObject([{ type: 'failed', error: { code: PortmapErrorCode.Refused } }]);
  });

  it('an unsolicited address announcement with a new address updates the mapping (RFC 6886 §3.2.1)', () => {
    const c = client('nat-pmp');
    c.map(0);
    sent(c, 0);
    c.receive(natPmpMapReply(0, 50, PORT, 50000, 120), GATEWAY, 5);
    c.receive(natPmpAddressReply(0, 50), GATEWAY, 6);
    drain(c);
    c.receive(natPmpAddressReply(0, 60, '198.51.100.7'), GATEWAY, 10_000);
    expect(drain(c)).toMatchObject([
      { type: 'mapped', changed: true, mapping: { external: { host: '198.51.100.7', port: 50000 } } },
    ]);
  });

  it('an address reply whose epoch went back remaps at once', () => {
    const c = client('nat-pmp');
    c.map(0);
    sent(c, 0);
    c.receive(natPmpMapReply(0, 500, PORT, 50000, 120), GATEWAY, 5);
    c.receive(natPmpAddressReply(0, 500), GATEWAY, 6);
    drain(c);
    c.receive(natPmpAddressReply(0, 2), GATEWAY, 20_000);
    expect(drain(c)).toEqual([{ type: 'gateway-restarted', epoch: 2 }]);
    expect(sent(c, 20_000)).toHaveLength(2);
  });
});
