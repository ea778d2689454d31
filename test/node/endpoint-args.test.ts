/** Bad arguments to Endpoint.bind / Endpoint.connect: typed errors, and the endpoint keeps working. */
import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Endpoint, type BindOptions, type DialOptions } from '../../src/node/endpoint.js';
import { PunchlineError } from '../../src/errors.js';
import { fakeCore } from './fake-core.js';

const keys = (): { publicKey: Uint8Array; secretKey: Uint8Array } => ({
  publicKey: randomBytes(32),
  secretKey: randomBytes(32),
});

describe('Endpoint argument validation', () => {
  it.each<[string, Partial<BindOptions>]>([
    ['port 70000', { port: 70_000 }],
    ['port -1', { port: -1 }],
    ['port 1.5', { port: 1.5 }],
    ['hostname host', { host: 'not-an-ip' }],
    ['short public key', { keyPair: { publicKey: new Uint8Array(31), secretKey: new Uint8Array(32) } }],
    ['short secret key', { keyPair: { publicKey: new Uint8Array(32), secretKey: new Uint8Array(33) } }],
    ['short psk', { psk: new Uint8Array(16) }],
    ['zero buffer size', { recvBufferSize: 0 }],
  ])('bind rejects %s with ERR_PUNCHLINE_INVALID_ARGUMENT', async (_name, bad) => {
    const error = await Endpoint.bind({ host: '127.0.0.1', keyPair: keys(), core: fakeCore, ...bad }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PunchlineError);
    expect(error).toMatchObject({ code: 'ERR_PUNCHLINE_INVALID_ARGUMENT' });
  });

  it('connect rejects bad arguments and the endpoint still connects afterwards', async () => {
    const a = await Endpoint.bind({ host: '127.0.0.1', keyPair: keys(), core: fakeCore });
    const b = await Endpoint.bind({ host: '127.0.0.1', keyPair: keys(), core: fakeCore });
    try {
      const port = b.address().port;
      const bad: Partial<DialOptions>[] = [
        { port: 70_000 },
        { port: 0 },
        { port: Number.NaN },
        { host: 'example.com' },
        { publicKey: new Uint8Array(31) },
        { psk: new Uint8Array(33) },
      ];
      for (const options of bad) {
        const attempt = a.connect({ host: '127.0.0.1', port, ...options } as DialOptions);
        await expect(attempt).rejects.toBeInstanceOf(PunchlineError);
        await expect(attempt).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_INVALID_ARGUMENT' });
      }
      expect(a.stats().datagramsSent).toBe(0);
      const incoming = b[Symbol.asyncIterator]().next();
      const connection = await a.connect({ host: '127.0.0.1', port, publicKey: b.publicKey });
      expect(connection.state).toBe('established');
      await incoming;
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('Connection.close / stream.reset error codes', () => {
  it('rejects codes the wire cannot carry and leaves the connection and stream usable', async () => {
    const { connectedPair } = await import('./helpers.js');
    const pair = await connectedPair({ core: fakeCore });
    try {
      for (const code of [-1, 1.5, Number.NaN, 2 ** 64]) {
        await expect(pair.client.close(code)).rejects.toMatchObject({ code: 'ERR_PUNCHLINE_INVALID_ARGUMENT' });
      }
      expect(pair.client.state).toBe('established');
      const stream = pair.client.openStream();
      expect(() => stream.reset(-5)).toThrow(expect.objectContaining({ code: 'ERR_PUNCHLINE_INVALID_ARGUMENT' }));
      expect(stream.destroyed).toBe(false);
      stream.reset(7);
      expect(stream.destroyed).toBe(true);
    } finally {
      await pair.close();
    }
  });
});

describe('RendezvousClient.connect argument validation', () => {
  it.each<[string, Record<string, unknown>]>([
    ['a non-https url', { url: 'http://127.0.0.1:4433/punchline' }],
    ['a malformed url', { url: 'not a url' }],
    ['a short public key', { keyPair: { publicKey: new Uint8Array(31), secretKey: new Uint8Array(32) } }],
    ['a long server key', { serverPublicKey: new Uint8Array(33) }],
    ['a short certificate hash', { serverCertificateHash: new Uint8Array(20) }],
    ['a negative timeout', { connectTimeoutMs: -1 }],
  ])('rejects %s with ERR_PUNCHLINE_INVALID_ARGUMENT before connecting', async (_name, bad) => {
    const { RendezvousClient } = await import('../../src/node/rendezvous-client.js');
    const options = { url: 'https://127.0.0.1:1/punchline', keyPair: keys(), connectTimeoutMs: 200, ...bad };
    await expect(RendezvousClient.connect(options as never)).rejects.toMatchObject({
      code: 'ERR_PUNCHLINE_INVALID_ARGUMENT',
    });
  });
});
