/**
 * What both UDP backends promise alike (src/node/udp/udp-socket.ts): typed bind errors, frozen source
 * objects, and the backend choice with its environment override.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeUdpAvailability, openUdpSocket, resolveUdpBackend } from '../../src/node/udp/open.js';
import type { Address, UdpBackend, UdpSocket } from '../../src/node/udp/udp-socket.js';

const backends: UdpBackend[] = nativeUdpAvailability().available ? ['native', 'dgram'] : ['dgram'];
const options = {
  family: 'udp4' as const,
  host: '127.0.0.1',
  port: 0,
  recvBufferSize: 1 << 20,
  sendBufferSize: 1 << 20,
  datagramRoom: 2048,
};
const opened: UdpSocket[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  delete process.env.PUNCHLINE_UDP_BACKEND;
});

for (const backend of backends) {
  describe(`UDP backend ${backend}`, () => {
    it('a port in use is a UdpSocketError with the system code', async () => {
      const receiver = { onDatagram() {}, onWritable() {}, onError() {} };
      const first = await openUdpSocket(options, receiver, backend);
      opened.push(first);
      expect(first.backend).toBe(backend);
      const error = await openUdpSocket({ ...options, port: first.address().port }, receiver, backend).then(
        () => null,
        (e: unknown) => e as { code?: string; systemCode?: string; message: string },
      );
      expect(error?.code).toBe('ERR_PUNCHLINE_UDP_SOCKET');
      expect(error?.systemCode).toBe('EADDRINUSE');
      expect(error?.message).toContain('bind EADDRINUSE 127.0.0.1:');
    });

    it('hands out a frozen source object, the same one while the source repeats', async () => {
      const froms: Address[] = [];
      const socket = await openUdpSocket(
        options,
        { onDatagram: (_d, from) => froms.push(from), onWritable() {}, onError() {} },
        backend,
      );
      opened.push(socket);
      const peer = dgram.createSocket('udp4');
      await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
      for (let i = 0; i < 3; i++) peer.send('x', socket.address().port, '127.0.0.1');
      for (let i = 0; i < 100 && froms.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
      const peerPort = peer.address().port;
      peer.close();
      expect(froms).toHaveLength(3);
      expect(Object.isFrozen(froms[0])).toBe(true);
      expect(froms[1]).toBe(froms[0]);
      expect(froms[0]).toEqual({ host: '127.0.0.1', port: peerPort });
    });
  });
}

describe('backend choice', () => {
  it('PUNCHLINE_UDP_BACKEND overrides the caller; a bad value is a typed error', () => {
    expect(resolveUdpBackend('native')).toBe('native');
    process.env.PUNCHLINE_UDP_BACKEND = 'dgram';
    expect(resolveUdpBackend('native')).toBe('dgram');
    process.env.PUNCHLINE_UDP_BACKEND = 'sctp';
    expect(() => resolveUdpBackend()).toThrow(expect.objectContaining({ code: 'ERR_PUNCHLINE_UDP_BACKEND' }));
  });
});
