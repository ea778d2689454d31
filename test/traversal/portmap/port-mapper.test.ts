/**
 * The Node PortMapper against scripted gateways on a loopback address of their own (127.x.y.z:5351,
 * unique per run; no root needed): discovery, mapping, renewal, restart, deletion on close — and a
 * hostile gateway whose replies are all ignored with typed reasons.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { PortMapper, type PortMapping } from '../../../src/node/port-mapper.js';
import { pcpAnnounceReply, pcpMapReply } from './helpers.js';

type Behaviour = (request: Uint8Array, reply: (data: Uint8Array) => void) => void;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function fakeGateway(behaviour: Behaviour): Promise<{ host: string; requests: Uint8Array[] }> {
  const host = `127.${20 + (process.pid % 200)}.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(5351, host, () => resolve());
  });
  const requests: Uint8Array[] = [];
  socket.on('message', (message, from) => {
    requests.push(new Uint8Array(message));
    behaviour(new Uint8Array(message), (data) => socket.send(data, from.port, from.address));
  });
  cleanups.push(() => {
    socket.close();
  });
  return { host, requests };
}

async function mapperFor(
  gateway: string,
  options: { lifetimeS?: number } = {},
): Promise<{ mapper: PortMapper; log: string[] }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const log: string[] = [];
  const mapper = PortMapper.open({
    socket: { port: socket.address().port, send: (data, to) => socket.send(data, to.port, to.host) },
    gateway,
    clientIp: '127.0.0.1',
    protocols: ['pcp', 'nat-pmp'],
    discoveryTimeoutMs: 1000,
    retryAfterMs: Infinity,
    log: (message, fields) => log.push(`${message} ${JSON.stringify(fields ?? {})}`),
    ...options,
  });
  socket.on('message', (message, from) => mapper.receive(message, from));
  cleanups.push(async () => {
    await mapper.close();
    socket.close();
  });
  return { mapper, log };
}

const pcpEpoch = (start: number): number => Math.floor((Date.now() - start) / 1000);

describe('PortMapper (node) against scripted gateways', () => {
  it('maps by PCP, renews, notices a restart by the epoch, and deletes on close', async () => {
    const started = Date.now() - 100_000; // the "router" has been up 100 s
    let restarted = false;
    const gw = await fakeGateway((request, reply) => {
      if (request[0] !== 2) return; // a PCP-only gateway: NAT-PMP is silent
      const epoch = restarted ? 1 : pcpEpoch(started);
      if (request[1] === 0) return reply(pcpAnnounceReply(epoch));
      const lifetime = new DataView(request.buffer, request.byteOffset).getUint32(4);
      reply(pcpMapReply(request, { lifetimeS: lifetime, epoch, externalPort: 50000 }));
    });
    const { mapper } = await mapperFor(gw.host, { lifetimeS: 2 });
    const mapping = await mapper.whenMapped(3000);
    expect(mapping).toEqual<PortMapping>({
      external: { host: '203.0.113.10', port: 50000 },
      protocol: 'pcp',
      lifetimeS: 2,
    });
    expect(mapper.offers()).toEqual([
      { protocol: 'pcp', status: 'answered' },
      { protocol: 'nat-pmp', status: 'silent' },
    ]);
    restarted = true;
    const restart = new Promise<string>((resolve) => mapper.once('gateway-restarted', resolve));
    expect(await restart).toBe('pcp'); // seen in the renewal ~1 s later
    await mapper.close();
    const last = gw.requests.at(-1)!;
    expect(last[1]).toBe(1); // MAP
    expect(new DataView(last.buffer).getUint32(4)).toBe(0); // lifetime 0: delete
  }, 10_000);

  it('a hostile gateway (wrong nonce, other port, huge lifetime on garbage) yields no mapping, only reasons', async () => {
    const gw = await fakeGateway((request, reply) => {
      if (request[0] === 2 && request[1] === 0) return reply(pcpAnnounceReply(10));
      if (request[0] !== 2) return;
      reply(
        pcpMapReply(request, { lifetimeS: 0xffffffff, epoch: 10, externalPort: 1, nonce: new Uint8Array(12).fill(7) }),
      );
      reply(pcpMapReply(request, { lifetimeS: 0xffffffff, epoch: 10, externalPort: 1, internalPort: 1 }));
      reply(request.subarray(0, 30));
      reply(new Uint8Array(2000).fill(2));
    });
    const { mapper, log } = await mapperFor(gw.host);
    const unavailable = new Promise<Error>((resolve) => mapper.once('unavailable', resolve));
    expect(await mapper.whenMapped(6000)).toBeNull();
    expect((await unavailable).message).toMatch(/no pcp answer/);
    const text = log.join('\n');
    expect(text).toContain('ERR_PUNCHLINE_PORTMAP_WRONG_NONCE');
    expect(text).toContain('ERR_PUNCHLINE_PORTMAP_WRONG_PORT');
    expect(text).toMatch(/ERR_PUNCHLINE_PORTMAP_(TRUNCATED|MALFORMED)/);
    expect(mapper.mapping).toBeNull();
  }, 10_000);

  it('never maps without a gateway answer: bounded discovery, then unavailable', async () => {
    const gw = await fakeGateway(() => undefined);
    const { mapper } = await mapperFor(gw.host);
    const started = Date.now();
    const reason = await new Promise<Error>((resolve) => mapper.once('unavailable', resolve));
    expect(Date.now() - started).toBeLessThan(4000);
    expect(reason.message).toMatch(/pcp silent, nat-pmp silent/);
  }, 10_000);
});

describe('PortMapper arguments', () => {
  it('refuses bad lifetimes and unbound sockets with typed errors', () => {
    const socket = { port: 40000, send: () => undefined };
    expect(() => new PortMapper({ socket, lifetimeS: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_PUNCHLINE_PORTMAP_INVALID_ARGUMENT' }),
    );
    expect(() => new PortMapper({ socket, lifetimeS: 600, maxLifetimeS: 60 })).toThrow(/maxLifetimeS/);
    expect(() => new PortMapper({ socket: { port: 0, send: () => undefined } })).toThrow(/no bound port/);
    expect(() => new PortMapper({ socket, protocols: ['igd' as 'upnp'] })).toThrow(/unknown protocol/);
  });
});
