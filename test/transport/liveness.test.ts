import { describe, expect, it } from 'vitest';
import type { TransportConnection } from '../../src/transport/connection.js';
import { TransportErrorCode } from '../../src/transport/errors.js';
import { A, B, drain, makePair, pattern } from './helpers.js';

function established(opts: Parameters<typeof makePair>[0] = {}) {
  const p = makePair(opts);
  p.net.runUntil(() => p.conn.state === 'established' && p.events(B, 'connected').length > 0);
  return { ...p, srv: p.serverConn() };
}

function closedReason(p: ReturnType<typeof established>, addr: typeof A) {
  const e = p.events(addr, 'closed')[0];
  return e && e.type === 'closed' ? e.reason : undefined;
}

describe('liveness and close', () => {
  it('graceful close delivers everything written before it', () => {
    const p = established({ link: { delayMs: 20, lossRate: 0.1 }, seed: 3 });
    const id = p.conn.openStream(false);
    const data = pattern(9, 0, 200_000);
    let written = 0;
    const got: number[] = [];
    let fin = false;
    p.net.runUntil(() => {
      if (written < data.length) written += p.conn.write(id, data.subarray(written));
      else if (p.conn.state === 'established') {
        p.conn.finish(id);
        p.conn.close();
      }
      if (p.events(B, 'stream-opened').length > 0 && !fin) fin = drain(p.srv, id, got).fin;
      return fin && closedReason(p, B) !== undefined;
    });
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect(closedReason(p, B)).toMatchObject({ errorCode: 0, application: true, remote: true });
    expect(closedReason(p, A)).toMatchObject({ errorCode: 0, remote: false });
    p.net.runUntil(() => p.client.connections.size === 0 && p.server.connections.size === 0);
  });

  it('graceful close: a reader that starts after the close still gets every byte and the FIN', () => {
    const p = established();
    const id = p.conn.openStream(false);
    const data = pattern(4, 0, 128 * 1024);
    expect(p.conn.write(id, data)).toBe(data.length);
    p.conn.finish(id);
    p.conn.close();
    p.net.runUntil(
      () => closedReason(p, B) !== undefined && p.server.connections.size === 0 && p.client.connections.size === 0,
    );
    const got: number[] = [];
    expect(drain(p.srv, id, got)).toEqual({ fin: true, reset: -1 });
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
  });

  it('abort: the peer sees the application error code and reason', () => {
    const p = established();
    p.conn.close(99, 'gone fishing');
    p.net.runUntil(() => closedReason(p, B) !== undefined);
    expect(closedReason(p, B)).toEqual({ errorCode: 99, application: true, reason: 'gone fishing', remote: true });
    expect(closedReason(p, A)).toMatchObject({ errorCode: 99, remote: false });
  });

  it('abort with buffered unread data: reads end with the close error', () => {
    const p = established();
    const id = p.conn.openStream(true);
    p.conn.write(id, pattern(1, 0, 100));
    p.net.runUntil(() => p.events(B, 'stream-readable').length > 0);
    p.conn.close(5, 'bye');
    p.net.runUntil(() => closedReason(p, B) !== undefined);
    const got: number[] = [];
    expect(drain(p.srv, id, got)).toEqual({ fin: false, reset: 5 });
    expect(got.length).toBe(100);
  });

  it('a transport error reaches the peer as a transport CLOSE with its code', () => {
    const p = established();
    (p.conn as TransportConnection).closeWithError(p.net.now, TransportErrorCode.FLOW_CONTROL_ERROR, 'too much');
    p.net.runUntil(() => closedReason(p, B) !== undefined);
    expect(closedReason(p, B)).toEqual({
      errorCode: TransportErrorCode.FLOW_CONTROL_ERROR,
      application: false,
      reason: 'too much',
      remote: true,
    });
  });

  it('an abort still reaches the peer across 30 % loss', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const p = established({ seed, link: { delayMs: 10, lossRate: 0.3 } });
      p.conn.close(3, 'lossy');
      p.net.runUntil(() => closedReason(p, B) !== undefined, { maxTimeMs: 20_000 });
      expect(closedReason(p, B)).toMatchObject({ errorCode: 3, application: true, remote: true });
    }
  });

  it('endpoint.close() closes every connection gracefully', () => {
    const p = established();
    p.client.close(p.net.now);
    p.net.runUntil(() => closedReason(p, B) !== undefined);
    expect(closedReason(p, B)).toMatchObject({ errorCode: 0, remote: true });
  });

  it('idle timeout closes both sides when keepalive is off', () => {
    const cfg = { idleTimeoutMs: 5000, keepAliveIntervalMs: 0 };
    const p = established({ clientConfig: cfg, serverConfig: cfg });
    const t0 = p.net.now;
    p.net.runUntil(() => closedReason(p, A) !== undefined && closedReason(p, B) !== undefined);
    expect(closedReason(p, A)).toMatchObject({ errorCode: TransportErrorCode.IDLE_TIMEOUT, remote: false });
    expect(p.net.now - t0).toBeGreaterThanOrEqual(5000);
    expect(p.net.now - t0).toBeLessThan(7000);
  });

  it('negotiated idle timeout is the smaller of both', () => {
    const p = established({
      clientConfig: { idleTimeoutMs: 60_000, keepAliveIntervalMs: 0 },
      serverConfig: { idleTimeoutMs: 3000, keepAliveIntervalMs: 0 },
    });
    const t0 = p.net.now;
    p.net.runUntil(() => closedReason(p, A) !== undefined);
    expect(p.net.now - t0).toBeLessThan(4000);
  });

  it('keepalive PINGs keep an idle connection open past the idle timeout', () => {
    const p = established({
      clientConfig: { idleTimeoutMs: 10_000, keepAliveIntervalMs: 3000 },
      serverConfig: { idleTimeoutMs: 10_000, keepAliveIntervalMs: 0 },
    });
    const sent0 = p.net.linkStats(A, B).sent;
    p.net.runFor(60_000);
    expect(p.conn.state).toBe('established');
    expect(p.srv.state).toBe('established');
    expect(closedReason(p, A)).toBeUndefined();
    // one PING every 3 s at first; the interval then grows while the (NAT-less) path keeps its
    // mapping, up to idle − 5 s (keepalive.ts)
    expect(p.net.linkStats(A, B).sent - sent0).toBeGreaterThanOrEqual(60_000 / 5_000);
  });

  it('default keepalive interval is below 30 s', async () => {
    const { DEFAULT_TRANSPORT_CONFIG } = await import('../../src/transport/config.js');
    expect(DEFAULT_TRANSPORT_CONFIG.keepAliveIntervalMs).toBeLessThan(30_000);
    expect(DEFAULT_TRANSPORT_CONFIG.keepAliveIntervalMs).toBeGreaterThan(0);
  });

  it('handshake to nobody times out with a clear error', () => {
    const p = makePair();
    p.net.removeNode(B);
    p.net.runUntil(() => p.events(A, 'closed').length > 0);
    const e = p.events(A, 'closed')[0]!;
    expect(e.type === 'closed' && e.reason.errorCode).toBe(TransportErrorCode.HANDSHAKE_TIMEOUT);
  });
});
