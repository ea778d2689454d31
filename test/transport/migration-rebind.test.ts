/**
 * Endpoint.rebind(): every connection moves to a new local socket mid-transfer (a network change);
 * the peer validates the new address and follows, and the stream survives with every byte.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { systemRandom } from '../../src/crypto/sodium.js';
import { Endpoint } from '../../src/node/endpoint.js';

describe('Endpoint.rebind (active migration)', () => {
  it('moves a transfer to a new local port without losing a byte', async () => {
    const serverKeys = generateKeyPair(systemRandom);
    const server = await Endpoint.bind({ host: '127.0.0.1', keyPair: serverKeys, udpBackend: 'dgram' });
    const client = await Endpoint.bind({
      host: '127.0.0.1',
      keyPair: generateKeyPair(systemRandom),
      udpBackend: 'dgram',
    });
    try {
      const accepted = server[Symbol.asyncIterator]().next();
      const conn = await client.connect({
        host: '127.0.0.1',
        port: server.address().port,
        publicKey: serverKeys.publicKey,
      });
      const peer = (await accepted).value;
      const moved = new Promise<{ host: string; port: number }>((resolve) => peer.once('path-changed', resolve));
      const stream = conn.openStream({ bidirectional: false });
      const total = 8 << 20;
      const chunk = Buffer.alloc(64 * 1024);
      const sent = createHash('sha256');
      const received = createHash('sha256');
      let got = 0;
      const reading = (async () => {
        const s = (await peer.streams()[Symbol.asyncIterator]().next()).value;
        for await (const c of s) {
          received.update(c as Buffer);
          got += (c as Buffer).length;
        }
      })();
      const oldPort = client.address().port;
      let rebound: { port: number } | undefined;
      for (let written = 0; written < total; written += chunk.length) {
        for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((written + i) >>> 0, i);
        sent.update(chunk);
        if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
        if (rebound === undefined && written >= total / 4) rebound = await client.rebind();
      }
      await new Promise<void>((r) => stream.end(() => r()));
      await reading;
      expect(got).toBe(total);
      expect(received.digest('hex')).toBe(sent.digest('hex'));
      expect(rebound?.port).not.toBe(oldPort);
      const remote = await moved;
      expect(remote.port).toBe(rebound?.port);
      expect(client.address().port).toBe(rebound?.port);
    } finally {
      await client.close();
      await server.close();
    }
  }, 60_000);
});
