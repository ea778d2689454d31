/**
 * The server address string end to end on loopback: a client that holds only the string registers;
 * the string stays valid across an in-process certificate renewal; a TLS relay-in-the-middle cannot
 * pass the channel-bound proof; a string naming another key is refused; the RFC 5780 alternate
 * address answers STUN and CHANGE-REQUEST.
 */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { PunchlineServer } from '../../src/server/server.js';
import { generateSelfSignedCertificate } from '../../src/server/certificate.js';
import { RendezvousClient } from '../../src/node/rendezvous-client.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { RendezvousErrorCode } from '../../src/traversal/rendezvous/errors.js';
import { formatServerAddress, parseServerAddress } from '../../src/traversal/rendezvous/server-address.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const dataDirs = new WeakMap<PunchlineServer, string>();

async function startServer(options: Parameters<typeof PunchlineServer.start>[0] = {}): Promise<PunchlineServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'punchline-address-'));
  const server = await PunchlineServer.start({
    host: '127.0.0.1',
    udpPort: 0,
    port: 0,
    metricsPort: null,
    dataDir,
    ...options,
  });
  dataDirs.set(server, dataDir);
  cleanups.push(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return server;
}

async function register(server: string, connectTimeoutMs = 10_000): Promise<RendezvousClient> {
  const client = await RendezvousClient.connect({ server, keyPair: generateKeyPair(), connectTimeoutMs });
  cleanups.push(() => client.close());
  return client;
}

/** A TLS-terminating relay: TLS with `cert` towards the client, a TLS client towards the server, bytes piped. */
async function tlsRelay(target: { host: string; port: number }, cert: { cert: string; key: string }): Promise<number> {
  const relay: TlsServer = createTlsServer({ ...cert, ALPNProtocols: ['h2'] }, (inbound) => {
    const outbound = tlsConnect({
      host: target.host,
      port: target.port,
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
    });
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => relay.close(() => resolve())));
  const address = relay.address();
  if (!address || typeof address !== 'object') throw new Error('relay has no address');
  return address.port;
}

/** SHA-256 (hex) of the certificate the server presents to a new TLS connection now. */
function presentedCertificate(target: { host: string; port: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ ...target, ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase();
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

function stunBinding(changeRequest = false): Buffer {
  const request = Buffer.alloc(changeRequest ? 28 : 20);
  request.writeUInt16BE(0x0001, 0);
  request.writeUInt16BE(changeRequest ? 8 : 0, 2);
  request.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(request, 8);
  if (changeRequest) {
    request.writeUInt16BE(0x0003, 20); // CHANGE-REQUEST (RFC 5780 §7.2)
    request.writeUInt16BE(4, 22);
    request.writeUInt32BE(0x06, 24); // change IP and port
  }
  return request;
}

describe('server address string', () => {
  it('is all a client needs: it registers, and lookups see it online', async () => {
    const server = await startServer();
    const address = parseServerAddress(server.info.address);
    expect(address.publicKey).toEqual(server.info.publicKey);
    expect(address.udp).toEqual(server.info.udp);
    expect(address.webTransportPort).toBe(server.info.tls.port);
    const alice = await register(server.info.address);
    const bob = await register(server.info.address);
    expect(await bob.lookup(alice.publicKey)).toMatchObject({ online: true });
  });

  it('stays valid across an in-process certificate renewal (no restart, no operator action)', async () => {
    // Valid 20 s, renewed when 17 s are left: the first renewal is due about a second after start.
    const server = await startServer({ certificateValidityMs: 20_000, certificateRenewBeforeMs: 17_000 });
    const address = server.info.address;
    const before = server.info.certificateSha256;
    const early = await register(address);
    const deadline = Date.now() + 15_000;
    while (Buffer.from(server.info.certificateSha256).equals(Buffer.from(before))) {
      if (Date.now() > deadline) throw new Error('the certificate was not renewed');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(server.info.address).toBe(address);
    expect(await presentedCertificate(server.info.tls)).toBe(
      Buffer.from(server.info.certificateSha256).toString('hex'),
    );
    // The renewed certificate is what the server now presents and what it stored for its next start.
    const stored = await readFile(join(dataDirs.get(server)!, 'cert.pem'), 'utf8');
    expect(new X509Certificate(stored).fingerprint256.replace(/:/g, '').toLowerCase()).toBe(
      Buffer.from(server.info.certificateSha256).toString('hex'),
    );
    const late = await register(address);
    expect(await late.lookup(early.publicKey)).toMatchObject({ online: true });
  }, 30_000);

  it('picks up a renewed operator certificate from its files (certbot style) without a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'punchline-certfiles-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    const first = generateSelfSignedCertificate({ names: ['127.0.0.1'] });
    await writeFile(certFile, first.cert);
    await writeFile(keyFile, first.key);
    const server = await startServer({ tls: { certFile, keyFile }, certificateReloadMs: 100 });
    await register(server.info.address);
    const second = generateSelfSignedCertificate({ names: ['127.0.0.1'] });
    await writeFile(keyFile, second.key);
    await writeFile(certFile, second.cert);
    const deadline = Date.now() + 10_000;
    while (!Buffer.from(server.info.certificateSha256).equals(Buffer.from(second.sha256))) {
      if (Date.now() > deadline) throw new Error('the new certificate was not picked up');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await presentedCertificate(server.info.tls)).toBe(Buffer.from(second.sha256).toString('hex'));
    await register(server.info.address);
  });

  it('a TLS relay-in-the-middle cannot register a client (the proof is bound to the certificate seen)', async () => {
    const tls = generateSelfSignedCertificate({ names: ['127.0.0.1'] });
    const server = await startServer({ tls: { cert: tls.cert, key: tls.key } });
    const real = parseServerAddress(server.info.address);
    // Positive control: the same relay presenting the server's own certificate passes, so it relays.
    const honestPort = await tlsRelay(server.info.tls, tls);
    const through = await register(formatServerAddress({ ...real, webTransportPort: honestPort }));
    expect(through.publicKey).toHaveLength(32);
    // With its own certificate (all a real attacker has) the server refuses the proof.
    const mitmPort = await tlsRelay(server.info.tls, generateSelfSignedCertificate({ names: ['127.0.0.1'] }));
    const victim = generateKeyPair();
    await expect(
      RendezvousClient.connect({
        server: formatServerAddress({ ...real, webTransportPort: mitmPort }),
        keyPair: victim,
        connectTimeoutMs: 5000,
      }),
    ).rejects.toMatchObject({ code: RendezvousErrorCode.AuthFailed });
    expect(server.core.isOnline(victim.publicKey)).toBe(false);
    expect(server.core.stats().drops['auth-failed']).toBe(1);
  });

  it('refuses a server whose key is not the one in the string', async () => {
    const server = await startServer();
    const wrong = formatServerAddress({
      ...parseServerAddress(server.info.address),
      publicKey: generateKeyPair().publicKey,
    });
    await expect(register(wrong, 5000)).rejects.toMatchObject({ code: RendezvousErrorCode.ServerIdentity });
  });

  it('carries the RFC 5780 alternate address, which answers STUN and CHANGE-REQUEST', async () => {
    const server = await startServer({ alternate: { host: '127.0.0.2', port: 0 } });
    const alt = parseServerAddress(server.info.address).alternate;
    expect(alt?.host).toBe('127.0.0.2');
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    cleanups.push(() => {
      s.close();
    });
    const ask = (request: Buffer, port: number, host: string): Promise<dgram.RemoteInfo> => {
      const answered = new Promise<dgram.RemoteInfo>((resolve) => s.once('message', (_m, rinfo) => resolve(rinfo)));
      s.send(request, port, host);
      return answered;
    };
    const direct = await ask(stunBinding(), alt!.port, alt!.host);
    expect(direct).toMatchObject({ address: '127.0.0.2', port: alt!.port });
    const changed = await ask(stunBinding(true), server.info.udp.port, server.info.udp.host);
    expect(changed).toMatchObject({ address: '127.0.0.2', port: alt!.port });
  });
});
