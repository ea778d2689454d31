/**
 * Hostile and broken gateways, generated: whatever bytes arrive from the gateway's port 5351 or over
 * UPnP's HTTP, the cores never throw, never report a mapping of another port, and never believe a
 * lifetime beyond their bound.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeNatPmpResponse,
  decodePcpResponse,
  decodeSoapResponse,
  decodeSsdpResponse,
  GatewayMappingClient,
  GatewayProbe,
  HttpResponseReader,
  type MappingEvent,
  parseIgdDescription,
  PortmapError,
} from '../../../src/traversal/portmap/index.js';
import {
  CLIENT_IP,
  counterRandom,
  drain,
  GATEWAY,
  natPmpAddressReply,
  natPmpMapReply,
  pcpMapReply,
  sent,
} from './helpers.js';

const RUNS = Number(process.env['PUNCHLINE_PROPERTY_RUNS'] ?? 500);
const PORT = 40000;
const MAX_S = 600;

function checkEvents(events: MappingEvent[]): void {
  for (const e of events) {
    if (e.type === 'ignored') expect(e.reason).toBeInstanceOf(PortmapError);
    if (e.type === 'failed') expect(e.error).toBeInstanceOf(PortmapError);
    if (e.type === 'mapped') {
      expect(e.mapping.internalPort).toBe(PORT);
      expect(e.mapping.external.port).toBeGreaterThan(0);
      expect(e.mapping.lifetimeS).toBeGreaterThan(0);
      expect(e.mapping.lifetimeS).toBeLessThanOrEqual(MAX_S);
    }
  }
}

const mutation = fc.record({
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  extra: fc.uint8Array({ maxLength: 40 }),
});

function mutate(
  base: Uint8Array,
  m: { flips: [number, number][]; cut: number | undefined; extra: Uint8Array },
): Uint8Array {
  const out = new Uint8Array([...base, ...m.extra]);
  for (const [at, value] of m.flips) out[at % out.length] = value;
  return m.cut === undefined ? out : out.subarray(0, m.cut % (out.length + 1));
}

describe('hostile gateways (property)', () => {
  for (const protocol of ['pcp', 'nat-pmp'] as const) {
    it(`${protocol}: random and mutated replies never throw and never map another port`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.oneof(fc.uint8Array({ maxLength: 1200 }), mutation), { minLength: 1, maxLength: 12 }),
          fc.boolean(),
          (inputs, mappedFirst) => {
            const c = new GatewayMappingClient({
              protocol,
              gateway: GATEWAY.host,
              clientIp: CLIENT_IP,
              internalPort: PORT,
              random: counterRandom(),
              lifetime: { requestS: 120, maxS: MAX_S },
            });
            c.map(0);
            const requests = sent(c, 0);
            const map = requests[requests.length - 1] as Uint8Array;
            const valid =
              protocol === 'pcp'
                ? [pcpMapReply(map, { lifetimeS: 0xffffffff, epoch: 100, externalPort: 50000 })]
                : [natPmpMapReply(0, 100, PORT, 50000, 0xffffffff), natPmpAddressReply(0, 100)];
            if (mappedFirst) for (const v of valid) c.receive(v, GATEWAY, 1);
            checkEvents(drain(c));
            let now = 2;
            for (const input of inputs) {
              const datagram = input instanceof Uint8Array ? input : mutate(valid[0] as Uint8Array, input);
              expect(() => c.receive(datagram, GATEWAY, now)).not.toThrow();
              const events = drain(c);
              if (events.some((e) => e.type === 'mapped')) {
                // The reply that produced a mapping must be for our port, protocol and nonce.
                const decoded = protocol === 'pcp' ? decodePcpResponse(datagram) : decodeNatPmpResponse(datagram);
                if (!(decoded instanceof PortmapError) && decoded.kind === 'map') {
                  expect(decoded.internalPort).toBe(PORT);
                  if ('nonce' in decoded) expect(decoded.nonce).toEqual(map.subarray(24, 36));
                  expect(decoded.protocol === 17 || decoded.protocol === 'udp').toBe(true);
                }
              }
              checkEvents(events);
              now += 1000;
              c.onTimeout(now);
              sent(c, now);
              checkEvents(drain(c));
            }
            if (c.mapping) expect(c.mapping.internalPort).toBe(PORT);
          },
        ),
        { numRuns: RUNS },
      );
    });
  }

  it('probe: random replies never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 1200 }), { maxLength: 10 }), (inputs) => {
        const p = new GatewayProbe({ gateway: GATEWAY.host, clientIp: CLIENT_IP }, 0);
        sent(p, 0);
        for (const input of inputs) expect(() => p.receive(input, GATEWAY, 1)).not.toThrow();
        for (let e = p.pollEvent(); e; e = p.pollEvent()) {
          if (e.type === 'answered' && e.protocol === 'nat-pmp') expect(e.external).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('UPnP: random documents, SOAP bodies, SSDP datagrams and HTTP bytes only ever fail with PortmapError', () => {
    const onlyPortmapErrors = (f: () => unknown): void => {
      try {
        f();
      } catch (error) {
        expect(error).toBeInstanceOf(PortmapError);
      }
    };
    const xmlish = fc.stringMatching(/^[<>/a-zA-Z:="' &;!\-?#[\]0-9\n]{0,400}$/);
    fc.assert(
      fc.property(xmlish, fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 3000 }), (xml, any, bytes) => {
        const location = new URL('http://192.168.1.1:5000/desc.xml');
        onlyPortmapErrors(() => parseIgdDescription(`<root><device>${xml}</device></root>`, location));
        onlyPortmapErrors(() => parseIgdDescription(any, location));
        onlyPortmapErrors(() =>
          decodeSoapResponse({ status: 200, headers: new Map(), body: xml }, 'GetExternalIPAddress'),
        );
        onlyPortmapErrors(() => decodeSoapResponse({ status: 500, headers: new Map(), body: any }, 'AddPortMapping'));
        expect(() => decodeSsdpResponse(bytes, { host: '192.168.1.1', port: 1900 })).not.toThrow();
        const reader = new HttpResponseReader(2000);
        onlyPortmapErrors(() => {
          reader.push(new TextEncoder().encode('HTTP/1.1 200 OK\r\n'));
          reader.push(bytes);
          reader.end();
        });
      }),
      { numRuns: RUNS },
    );
  });
});
