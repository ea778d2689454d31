/**
 * Connections that never become sessions are not held: a TCP connection that sends nothing (no TLS
 * ClientHello) is closed after the TLS handshake timeout, not Node's default 120 s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyHandshakeTimeouts } from '../../src/server/handshake-timeouts.js';
import { PunchlineServer } from '../../src/server/server.js';

describe('server handshake timeouts', () => {
  it('closes silent TCP connections after the TLS handshake timeout', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'punchline-hs-'));
    const server = await PunchlineServer.start({ host: '127.0.0.1', udpPort: 0, port: 0, metricsPort: 0, dataDir });
    try {
      const port = Number(new URL(server.info.url).port);
      const started = Date.now();
      const closedAfter = await Promise.all(
        Array.from(
          { length: 5 },
          () =>
            new Promise<number>((resolve) => {
              const socket = connect(port, '127.0.0.1');
              socket.on('error', () => undefined);
              socket.on('close', () => resolve(Date.now() - started));
            }),
        ),
      );
      for (const ms of closedAfter) expect(ms).toBeLessThan(9_000);
    } finally {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 20_000);

  it('reports false for an object that is not a TLS server', () => {
    expect(applyHandshakeTimeouts({})).toBe(false);
    expect(applyHandshakeTimeouts(null)).toBe(false);
  });
});
