/**
 * Interoperability on loopback: our client against coturn (RFC 5780 mode on 127.0.0.1 + 127.0.0.2),
 * Debian's RFC 3489 `stun` client against our four-socket server, and our client against our server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverNatBehaviour, StunClient, stunBinding } from '../../../src/node/stun-client.js';
import { probeBindingLifetime } from '../../../src/node/stun-lifetime.js';
import { StunServer } from '../../../src/server/stun-server.js';
import type { Address } from '../../../src/transport/api.js';

const FAST = { rto: 50, rc: 4, rm: 4 };
const has = (binary: string): boolean => spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0;
const HAVE_COTURN = has('turnserver');
const HAVE_STUN = has('stun');
if (!HAVE_COTURN) console.warn('skipping coturn interop: turnserver (Debian package coturn) is not installed');
if (!HAVE_STUN) console.warn('skipping stun-client interop: stun (Debian package stun-client) is not installed');

async function canBind(host: string, port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

/** Two ports free on both loopback addresses (coturn needs fixed ports). */
async function freePortPair(): Promise<[number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = 20000 + Math.floor(Math.random() * 20000) * 2;
    const b = a + 1;
    const checks = await Promise.all([
      canBind('127.0.0.1', a),
      canBind('127.0.0.1', b),
      canBind('127.0.0.2', a),
      canBind('127.0.0.2', b),
    ]);
    if (checks.every(Boolean)) return [a, b];
  }
  throw new Error('no free UDP port pair on 127.0.0.1/127.0.0.2');
}

async function waitForStun(server: Address, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      await stunBinding(null, server, { retransmission: { rto: 100, rc: 2, rm: 2 } });
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
    }
  }
}

describe.skipIf(!HAVE_COTURN)('our client against coturn (RFC 8489 + RFC 5780)', () => {
  let coturn: ChildProcess | undefined;
  let server: Address;
  let log = '';
  const pidFile = join(tmpdir(), `punchline-coturn-${process.pid}.pid`);

  beforeAll(async () => {
    const [port, altPort] = await freePortPair();
    server = { host: '127.0.0.1', port };
    coturn = spawn(
      'turnserver',
      [
        '-n',
        '--listening-ip=127.0.0.1',
        '--listening-ip=127.0.0.2',
        `--listening-port=${port}`,
        `--alt-listening-port=${altPort}`,
        '--no-tls',
        '--no-dtls',
        '--no-tcp',
        '--stun-only',
        '--no-cli',
        '--log-file=stdout',
        '--simple-log',
        `--pidfile=${pidFile}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    coturn.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    coturn.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    await waitForStun(server, 8000);
  }, 15_000);

  afterAll(async () => {
    if (coturn && coturn.exitCode === null) {
      const exited = new Promise((resolve) => coturn!.once('exit', resolve));
      coturn.kill('SIGTERM');
      await exited;
    }
    rmSync(pidFile, { force: true });
  });

  it('gets the mapped address, RESPONSE-ORIGIN and OTHER-ADDRESS', async () => {
    const r = await stunBinding(null, server, { retransmission: FAST });
    expect(r.mapped).toEqual(r.local);
    expect(r.responseOrigin).toEqual(server);
    expect(r.otherAddress?.host).toBe('127.0.0.2');
  });

  it('classifies loopback as no NAT with endpoint-independent mapping and filtering', async () => {
    const result = await discoverNatBehaviour(null, server, { retransmission: FAST });
    expect(result.natPresent, log).toBe(false);
    expect(result.behaviourDiscovery).toBe(true);
    expect(result.mapping).toBe('endpoint-independent');
    expect(result.filtering).toBe('endpoint-independent');
    expect(result.hairpinning).toBe(true);
  });

  it('works on a shared socket whose owner keeps the message listener', async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const client = new StunClient(
      { send: (data, to) => socket.send(data, to.port, to.host) },
      { retransmission: FAST },
    );
    const other: Buffer[] = [];
    socket.on('message', (msg, rinfo) => {
      if (!client.receive(msg, rinfo)) other.push(msg); // the owner's own demultiplexing
    });
    try {
      const r = await client.binding(server);
      expect(r.mapped).toEqual({ host: '127.0.0.1', port: socket.address().port });
      expect(other).toHaveLength(0);
    } finally {
      client.close();
      socket.close();
    }
  });
});

describe('our client against our server', () => {
  let discovery: StunServer;
  let single: StunServer;

  beforeAll(async () => {
    discovery = new StunServer({
      host: '127.0.0.1',
      port: 0,
      altHost: '127.0.0.2',
      altPort: 0,
      software: 'punchline test',
    });
    single = new StunServer({ host: '127.0.0.1', port: 0 });
    await Promise.all([discovery.listen(), single.listen()]);
  });

  afterAll(async () => {
    await Promise.all([discovery.close(), single.close()]);
  });

  it('answers Binding with the mapped address (single socket)', async () => {
    const r = await stunBinding(null, single.addresses.primary, { retransmission: FAST });
    expect(r.mapped).toEqual(r.local);
    expect(r.otherAddress).toBeUndefined();
  });

  it('refuses CHANGE-REQUEST with 420 when it has no alternate address', async () => {
    await expect(
      stunBinding(null, single.addresses.primary, { retransmission: FAST, changeIp: true }),
    ).rejects.toMatchObject({
      code: 'ERR_PUNCHLINE_STUN_ERROR_RESPONSE',
    });
  });

  it('answers CHANGE-REQUEST from the other address and port', async () => {
    const r = await stunBinding(null, discovery.addresses.primary, {
      retransmission: FAST,
      changeIp: true,
      changePort: true,
    });
    expect(r.responseOrigin).toEqual(discovery.addresses.alternate);
    expect(r.software).toBe('punchline test');
  });

  it('runs NAT discovery end to end on real sockets', async () => {
    const result = await discoverNatBehaviour(null, discovery.addresses.primary, { retransmission: FAST });
    expect(result).toMatchObject({
      natPresent: false,
      mapping: 'endpoint-independent',
      filtering: 'endpoint-independent',
      hairpinning: true,
    });
    expect(discovery.counters.changedResponses).toBeGreaterThan(0);
  });

  it('probes the binding lifetime with two sockets and RESPONSE-PORT (no NAT: it outlives the search)', async () => {
    const r = await probeBindingLifetime(single.addresses.primary, {
      initialMs: 100,
      maxMs: 200,
      retransmission: FAST,
    });
    expect(r).toMatchObject({ aliveMs: 200, expiredMs: null });
  });

  it('honours an AbortSignal', async () => {
    const ac = new AbortController();
    const pending = stunBinding(null, { host: '127.0.0.1', port: 9 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_STUN_ABORTED' });
  });
});

describe.skipIf(!HAVE_STUN)("Debian's stun client (RFC 3489) against our four-socket server", () => {
  let server: StunServer;

  beforeAll(async () => {
    server = new StunServer({ host: '127.0.0.1', port: 0, altHost: '127.0.0.2', altPort: 0 });
    await server.listen();
  });

  afterAll(async () => {
    await server.close();
  });

  it('reports an open Internet (no NAT) with all classic tests answered', async () => {
    const { primary } = server.addresses;
    const child = spawn('stun', [`${primary.host}:${primary.port}`, '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(out).toMatch(/test I = 1/);
    expect(out).toMatch(/test II = 1/);
    expect(out).toMatch(/test III = 1/);
    expect(out).toMatch(/Primary: Open/);
    // It exits with its 'Return value': the NAT class (0 = Open) | 0x01 port preserved.
    expect(out).toMatch(/Return value is 0x000001/);
    expect(code, out).toBe(1);
    expect(server.counters.changedResponses).toBeGreaterThanOrEqual(2);
  }, 20_000);
});
