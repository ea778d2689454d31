/**
 * A closing connection's CLOSE to an address it has not validated stays within the
 * anti-amplification limit: at most 3× the bytes that came from that address (RFC 9000 §8.1). The
 * server below closes a connection whose client it never validated (its application rejects the
 * key at once), so its CLOSE goes to an address that may be spoofed: the CLOSE repeats on a timer
 * and answers handshake packets from that address, and each may carry a reason of up to 1 KiB.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import type { Address, ConnectionHandle } from '../../src/transport/api.js';
import { TransportEndpoint } from '../../src/transport/endpoint.js';
import { LongPacketType } from '../../src/wire/types.js';
import { SimNetwork } from '../sim/index.js';

const A: Address = { host: '192.0.2.1', port: 1000 };
const B: Address = { host: '192.0.2.2', port: 2000 };
const NOW = 1000;

/** Bytes of every datagram `e` has to send now. */
function drainBytes(e: TransportEndpoint, now: number): number {
  const buf = new Uint8Array(2048);
  let bytes = 0;
  for (let t = e.pollTransmit(now, buf); t !== null; t = e.pollTransmit(now, buf)) bytes += t.length;
  return bytes;
}

/** A server that got one client Initial from A and closed that connection at once with `reason`. */
function rejected(reason: string) {
  const net = new SimNetwork({ seed: 1 });
  const ra = net.randomSource('A');
  const rb = net.randomSource('B');
  const serverKeys = generateKeyPair(rb);
  const client = new TransportEndpoint({ staticKeyPair: generateKeyPair(ra), random: ra });
  const server = new TransportEndpoint({ staticKeyPair: serverKeys, random: rb });
  client.connect(B, { remotePublicKey: serverKeys.publicKey }, NOW);
  const buf = new Uint8Array(2048);
  const t = client.pollTransmit(NOW, buf);
  if (t === null) throw new Error('no Initial');
  const initial = buf.slice(0, t.length);
  server.receive(initial, A, NOW);
  const conn = [...server.connections.values()][0] as ConnectionHandle & { localCid: Uint8Array };
  conn.close(7, reason);
  return { server, conn, initialBytes: initial.length, sent: drainBytes(server, NOW) };
}

describe('a CLOSE to an unvalidated address', () => {
  for (const reason of ['rejected', 'x'.repeat(1024)]) {
    it(`repeats on its timer within 3× the one Initial received (reason ${reason.length} B)`, () => {
      const { server, initialBytes, sent } = rejected(reason);
      let bytes = sent;
      let now = NOW;
      for (let i = 0; i < 10_000; i++) {
        const deadline = server.nextDeadline();
        if (!(deadline < NOW + 600_000)) break;
        now = Math.max(now, deadline);
        server.onTimeout(now);
        bytes += drainBytes(server, now);
      }
      // Before the limit applied to CLOSE: 31 datagrams, 1535 B (8-byte reason) and 32 045 B (1 KiB).
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThanOrEqual(3 * initialBytes);
    });

    it(`answers small handshake packets within 3× their bytes (reason ${reason.length} B)`, () => {
      const { server, conn, initialBytes, sent } = rejected(reason);
      // 24-byte Handshake packets to the connection's CID from the client's address (anyone who saw
      // the CID could send them, with that address spoofed).
      const packet = new Uint8Array(24);
      packet[0] = 0xc0 | (LongPacketType.Handshake << 4);
      packet.set([0x50, 0x4e, 0x4c, 0x01], 1);
      packet[5] = 8;
      packet.set(conn.localCid.subarray(0, 8), 6);
      packet[14] = 8;
      let bytes = sent;
      let received = initialBytes;
      for (let i = 1; i <= 50; i++) {
        server.receive(packet, A, NOW + i);
        received += packet.length;
        bytes += drainBytes(server, NOW + i);
        expect(bytes).toBeLessThanOrEqual(3 * received);
      }
    });
  }
});
