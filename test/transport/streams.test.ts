import { describe, expect, it } from 'vitest';
import type { ConnectionHandle } from '../../src/transport/api.js';
import { A, B, drain, makePair, pattern } from './helpers.js';

function established(opts: Parameters<typeof makePair>[0] = {}) {
  const p = makePair(opts);
  p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
  return { ...p, srv: p.serverConn() };
}

describe('streams over the simulator', () => {
  it('delivers one stream of 1 MB in order with FIN', () => {
    const p = established();
    const data = pattern(1, 0, 1 << 20);
    const id = p.conn.openStream(true);
    let written = 0;
    const got: number[] = [];
    let fin = false;
    p.net.runUntil(() => {
      if (written < data.length) {
        written += p.conn.write(id, data.subarray(written));
        if (written === data.length) p.conn.finish(id);
      }
      if (p.events(B, 'stream-opened').length > 0) fin = drain(p.srv, id, got).fin;
      return fin;
    });
    expect(got.length).toBe(data.length);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
  });

  it('many streams both ways, uni and bidi', () => {
    const p = established();
    const sizes = [0, 1, 100, 5000, 70_000];
    const mine = new Map<number, Uint8Array>();
    const theirs = new Map<number, Uint8Array>();
    for (let i = 0; i < sizes.length; i++) {
      for (const bidi of [true, false]) {
        const id = p.conn.openStream(bidi);
        const d = pattern(id, 0, sizes[i] as number);
        mine.set(id, d);
        expect(p.conn.write(id, d)).toBe(d.length);
        p.conn.finish(id);
        const sid = p.srv.openStream(bidi);
        const d2 = pattern(sid + 1000, 0, sizes[i] as number);
        theirs.set(sid, d2);
        expect(p.srv.write(sid, d2)).toBe(d2.length);
        p.srv.finish(sid);
      }
    }
    // Reads every stream of `expected` on `conn` until each has delivered its FIN. A stream the peer
    // has not opened on this side yet is skipped (only that error); every byte is checked afterwards.
    const recv = (conn: ConnectionHandle, expected: Map<number, Uint8Array>) => {
      const got = new Map<number, number[]>();
      const done = new Set<number>();
      const poll = () => {
        for (const id of expected.keys()) {
          if (done.has(id)) continue;
          let arr = got.get(id);
          if (!arr) got.set(id, (arr = []));
          let fin: boolean;
          try {
            fin = drain(conn, id, arr).fin;
          } catch (e) {
            if ((e as { code?: string }).code === 'ERR_PUNCHLINE_UNKNOWN_STREAM') continue; // not opened here yet
            throw e;
          }
          if (fin) done.add(id);
        }
        return done.size === expected.size;
      };
      return { poll, got };
    };
    const r1 = recv(p.srv, mine);
    const r2 = recv(p.conn, theirs);
    p.net.runUntil(() => {
      const a = r1.poll();
      const b = r2.poll();
      return a && b;
    });
    for (const [side, expected] of [
      [r1, mine],
      [r2, theirs],
    ] as const) {
      for (const [id, data] of expected) {
        const bytes = Buffer.from(side.got.get(id) ?? []);
        expect(bytes.length, `stream ${id} length`).toBe(data.length);
        expect(bytes.equals(Buffer.from(data)), `stream ${id} bytes`).toBe(true);
      }
    }
  });

  it('RESET_STREAM reaches the reader with its code; STOP_SENDING makes the writer reset', () => {
    const p = established();
    const id = p.conn.openStream(true);
    p.conn.write(id, pattern(1, 0, 1000));
    p.net.runUntil(() => p.events(B, 'stream-readable').length > 0);
    p.conn.resetStream(id, 42);
    p.net.runUntil(() => p.events(B, 'stream-reset').length > 0);
    const ev = p.events(B, 'stream-reset')[0]!;
    expect(ev.type === 'stream-reset' && ev.errorCode).toBe(42);
    expect(p.srv.read(id)).toEqual({ kind: 'reset', errorCode: 42 });

    const id2 = p.conn.openStream(true);
    p.conn.write(id2, pattern(2, 0, 1000));
    p.net.runUntil(() => p.events(B, 'stream-opened').length >= 2);
    p.srv.stopSending(id2, 7);
    p.net.runUntil(() => p.events(A, 'stream-stop-sending').length > 0);
    const ss = p.events(A, 'stream-stop-sending')[0]!;
    expect(ss.type === 'stream-stop-sending' && ss.errorCode).toBe(7);
    expect(() => p.conn.write(id2, new Uint8Array(1))).toThrow();
  });

  it('datagrams: delivered unreliably with a size limit', () => {
    const p = established();
    const max = p.conn.maxDatagramSize();
    expect(max).toBeGreaterThan(1000);
    expect(p.conn.sendDatagram(new Uint8Array(max + 1))).toBe(false);
    expect(p.conn.sendDatagram(new Uint8Array([1, 2, 3]))).toBe(true);
    p.net.runUntil(() => p.events(B, 'datagram').length > 0);
    const d = p.events(B, 'datagram')[0]!;
    expect(d.type === 'datagram' && [...d.data]).toEqual([1, 2, 3]);
  });

  it('stream limits: opening beyond MAX_STREAMS throws, credit returns as streams close', () => {
    const p = established({ serverConfig: { maxStreamsBidi: 4 } });
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(p.conn.openStream(true));
    expect(() => p.conn.openStream(true)).toThrow(/ERR_PUNCHLINE_STREAM_LIMIT|allows/);
    for (const id of ids) {
      p.conn.write(id, new Uint8Array([1]));
      p.conn.finish(id);
    }
    const done = new Set<number>();
    p.net.runUntil(() => {
      for (const id of ids) {
        try {
          if (drain(p.srv, id, []).fin) done.add(id);
        } catch {}
      }
      for (const id of ids) {
        try {
          // finish the server half too, so the streams close completely
          if (done.has(id)) p.srv.finish(id);
        } catch {}
      }
      return done.size === 4;
    });
    p.net.runUntil(() => {
      try {
        p.conn.openStream(true);
        return true;
      } catch {
        return false;
      }
    });
  });
});
