/**
 * The packet path reuses objects instead of allocating per packet: pooled sent-packet
 * records, one decoder with reused frames and cached data views, scratch datagrams with cached AEAD
 * views, staging/overflow areas in the stream rings, ring queues, reused event objects. A reuse bug
 * (a record recycled while still referenced, a stale view) shows up as wrong bytes or as recovery
 * counters that no longer add up — this file checks both, after every simulator event, through a
 * long transfer with heavy loss, reordering and duplication (many retransmissions).
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle, StreamRead } from '../../src/transport/api.js';
import type { TransportConnection } from '../../src/transport/connection.js';
import { Queue } from '../../src/transport/queue.js';
import { A, B, makePair, pattern } from './helpers.js';

function audit(conn: ConnectionHandle, who: string): void {
  const c = conn as TransportConnection;
  const problem = c.recovery.audit();
  if (problem !== null) expect.fail(`${who}: recovery state inconsistent: ${problem}`);
  for (const s of c.streams.all.values()) {
    const b = s.send;
    if (b !== null && !(b.ackedPrefix <= b.unsent && b.unsent <= b.end))
      expect.fail(`${who}: stream ${s.id} send offsets out of order`);
  }
}

describe('recycled packet-path objects', () => {
  for (const maxUdpPayloadSize of [1200, 1452]) {
    it(`long lossy transfer both ways (${maxUdpPayloadSize}-byte datagrams): exact bytes, consistent recovery state after every event`, () => {
      // Small windows and send buffers make the stream rings wrap around (and use their staging and
      // overflow areas) over and over; loss makes recovery recycle records and repackage ranges.
      const config = {
        maxUdpPayloadSize,
        sendBufferSize: 48 * 1024,
        initialStreamWindow: 24 * 1024,
        maxStreamWindow: 64 * 1024,
        initialConnectionWindow: 48 * 1024,
        maxConnectionWindow: 128 * 1024,
        idleTimeoutMs: 300_000,
      };
      const p = makePair({
        seed: 4 + maxUdpPayloadSize,
        link: { delayMs: 12, jitterMs: 4, lossRate: 0.12, reorderRate: 0.08, duplicateRate: 0.05 },
        clientConfig: config,
        serverConfig: config,
      });
      p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
      const client = p.conn;
      const server = p.serverConn();
      const TOTAL = 4_000_000;
      const flows = [
        {
          from: client,
          to: server,
          id: client.openStream(false),
          data: pattern(1, 0, TOTAL),
          written: 0,
          got: new Uint8Array(TOTAL),
          read: 0,
          fin: false,
          readSize: 7001,
        },
        {
          from: server,
          to: client,
          id: server.openStream(false),
          data: pattern(2, 0, TOTAL / 2),
          written: 0,
          got: new Uint8Array(TOTAL / 2),
          read: 0,
          fin: false,
          readSize: 65536,
        },
      ];
      const step = (): boolean => {
        audit(client, 'client');
        audit(server, 'server');
        for (const f of flows) {
          if (f.written < f.data.length) {
            f.written += f.from.write(f.id, f.data.subarray(f.written, Math.min(f.data.length, f.written + 10_000)));
            if (f.written === f.data.length) f.from.finish(f.id);
          }
          if (f.fin) continue;
          let r: StreamRead;
          try {
            r = f.to.read(f.id, f.readSize);
          } catch {
            continue; // the receiving side does not know the stream yet
          }
          while (r.kind === 'data') {
            if (f.read + r.data.length > f.got.length) expect.fail('more bytes than were written');
            f.got.set(r.data, f.read);
            f.read += r.data.length;
            r = f.to.read(f.id, f.readSize);
          }
          if (r.kind === 'reset') expect.fail(`stream ${f.id} reset`);
          if (r.kind === 'fin') f.fin = true;
        }
        return flows.every((f) => f.fin);
      };
      p.net.runUntil(step, { maxTimeMs: 3_600_000, maxEvents: 5_000_000 });
      for (const f of flows) {
        expect(f.read).toBe(f.data.length);
        expect(Buffer.from(f.got).equals(Buffer.from(f.data))).toBe(true);
      }
      // The run must actually have exercised recovery: many packets declared lost and repackaged.
      expect(client.stats().packetsLost).toBeGreaterThan(100);
      expect(server.stats().packetsLost).toBeGreaterThan(30);
      client.close();
      p.net.runUntil(() => p.events(B, 'closed').length > 0 && p.events(A, 'closed').length > 0, {
        maxTimeMs: 600_000,
      });
      audit(client, 'client');
      audit(server, 'server');
    }, 120_000);
  }
});

describe('Queue', () => {
  it('is FIFO across growth and wrap-around', () => {
    const q = new Queue<number>(2);
    const ref: number[] = [];
    let next = 0;
    for (let round = 0; round < 200; round++) {
      const pushes = (round * 7) % 5;
      for (let i = 0; i < pushes; i++) {
        q.push(next);
        ref.push(next++);
      }
      const shifts = (round * 3) % 4;
      for (let i = 0; i < shifts; i++) expect(q.shift()).toBe(ref.shift());
      expect(q.length).toBe(ref.length);
    }
    while (ref.length > 0) expect(q.shift()).toBe(ref.shift());
    expect(q.shift()).toBeUndefined();
  });
});
