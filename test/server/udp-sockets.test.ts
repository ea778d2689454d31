/**
 * The server's one UDP bind routine: a bind that fails closes its socket (an unbound dgram socket
 * still holds a UDP handle: one leaked per failed start), for the main socket and the RFC 5780 ones.
 */
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerErrorCode } from '../../src/server/errors.js';
import { PunchlineServer } from '../../src/server/server.js';
import { bindUdpSocket } from '../../src/server/udp-sockets.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** UDP handles this thread holds open. */
function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith('UDP')).length;
}

/** A UDP port on 127.0.0.1 held by another socket. */
async function occupiedPort(): Promise<number> {
  const holder = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  return holder.address().port;
}

/** Lets closed handles leave the active list (close is asynchronous). */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

describe('server UDP sockets', () => {
  it('a bind that fails throws ERR_PUNCHLINE_SERVER_LISTEN and leaves no socket open', async () => {
    const port = await occupiedPort();
    await settle();
    const before = udpHandles();
    await expect(bindUdpSocket('127.0.0.1', port)).rejects.toMatchObject({ code: ServerErrorCode.Listen });
    await settle();
    expect(udpHandles()).toBe(before);
  });

  it('a bound socket survives an error event (ICMP errors are not fatal to a server)', async () => {
    const socket = await bindUdpSocket('127.0.0.1', 0);
    cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    expect(socket.address().port).toBeGreaterThan(0);
    expect(() => socket.emit('error', new Error('ICMP port unreachable'))).not.toThrow();
  });

  it('a server whose UDP port is taken fails to start and leaves no socket open', async () => {
    const port = await occupiedPort();
    const dataDir = await mkdtemp(join(tmpdir(), 'punchline-udp-sockets-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    await settle();
    const before = udpHandles();
    await expect(
      PunchlineServer.start({ host: '127.0.0.1', udpPort: port, port: 0, metricsPort: null, dataDir }),
    ).rejects.toMatchObject({ code: ServerErrorCode.Listen });
    await settle();
    expect(udpHandles()).toBe(before);
  });

  it('a server whose alternate (RFC 5780) port is taken fails to start and leaves no socket open', async () => {
    const port = await occupiedPort();
    const dataDir = await mkdtemp(join(tmpdir(), 'punchline-udp-sockets-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    await settle();
    const before = udpHandles();
    await expect(
      PunchlineServer.start({
        host: '127.0.0.2',
        udpPort: 0,
        port: 0,
        metricsPort: null,
        dataDir,
        alternate: { host: '127.0.0.1', port },
      }),
    ).rejects.toMatchObject({ code: ServerErrorCode.Listen });
    await settle();
    expect(udpHandles()).toBe(before);
  });
});
