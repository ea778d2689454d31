import { describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSelfSignedCertificate, MAX_PINNED_VALIDITY_MS } from '../../src/server/certificate.js';
import { loadOrCreateSelfSigned, loadOrCreateServerKey, loadCertificateFiles } from '../../src/server/identity.js';
import { resolveConfig, readConfigFile } from '../../src/server/config.js';
import { ServerErrorCode } from '../../src/server/errors.js';

describe('self-signed certificate', () => {
  it('is a valid ECDSA P-256 X.509v3 certificate within the 14-day pinning limit', () => {
    const c = generateSelfSignedCertificate({ names: ['127.0.0.1', '::1', 'relay.example'] });
    const x = new X509Certificate(c.cert);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(x.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(x.subjectAltName).toContain('DNS:relay.example');
    expect(x.checkPrivateKey(createPrivateKey(c.key))).toBe(true);
    const span = new Date(x.validTo).getTime() - new Date(x.validFrom).getTime();
    expect(span).toBeLessThanOrEqual(MAX_PINNED_VALIDITY_MS);
    expect(Buffer.from(c.sha256).toString('hex')).toBe(x.fingerprint256.replace(/:/g, '').toLowerCase());
  });

  it('is reused from the data directory while valid, and renewed near expiry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pl-cert-'));
    try {
      const first = await loadOrCreateSelfSigned(dir, ['127.0.0.1']);
      const again = await loadOrCreateSelfSigned(dir, ['127.0.0.1']);
      expect(first.created).toBe(true);
      expect(again.created).toBe(false);
      expect(again.sha256).toEqual(first.sha256);
      const later = await loadOrCreateSelfSigned(dir, ['127.0.0.1'], {
        now: new Date(first.notAfter.getTime() - 60_000),
      });
      expect(later.created).toBe(true);
      expect(later.sha256).not.toEqual(first.sha256);
      const key1 = await loadOrCreateServerKey(dir);
      const key2 = await loadOrCreateServerKey(dir);
      expect(key1.created).toBe(true);
      expect(key2.keyPair.publicKey).toEqual(key1.keyPair.publicKey);
      // A key that does not match the certificate is refused with a typed error.
      const other = generateSelfSignedCertificate();
      await writeFile(join(dir, 'other-key.pem'), other.key);
      await expect(loadCertificateFiles(join(dir, 'cert.pem'), join(dir, 'other-key.pem'))).rejects.toMatchObject({
        code: ServerErrorCode.Certificate,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('server configuration', () => {
  it('flags override environment, which overrides the config file', () => {
    const config = resolveConfig({
      flags: { port: '5000' },
      env: { PUNCHLINE_SERVER_PORT: '6000', PUNCHLINE_SERVER_UDP_PORT: '7000', PUNCHLINE_SERVER_METRICS_PORT: 'off' },
      file: { port: 8000, udpPort: 9000, host: '::1', relayLimits: { maxAllocationsPerPeer: 3 } },
    });
    expect(config).toMatchObject({
      port: 5000,
      udpPort: 7000,
      host: '::1',
      metricsPort: null,
      relayLimits: { maxAllocationsPerPeer: 3 },
    });
  });

  it('rejects bad values with ERR_PUNCHLINE_SERVER_CONFIG', async () => {
    const bad = [
      { flags: { port: '70000' }, env: {}, file: {} },
      { flags: { host: 'not an ip' }, env: {}, file: {} },
      { flags: { cert: 'a.pem' }, env: {}, file: {} },
      { flags: {}, env: {}, file: { relayLimits: { bogus: 1 } } },
      { flags: {}, env: {}, file: { nonsense: true } },
    ];
    for (const sources of bad)
      expect(() => resolveConfig(sources)).toThrow(expect.objectContaining({ code: ServerErrorCode.Config }));
    const dir = await mkdtemp(join(tmpdir(), 'pl-conf-'));
    await writeFile(join(dir, 'c.json'), '{ nope');
    await expect(readConfigFile(join(dir, 'c.json'))).rejects.toMatchObject({ code: ServerErrorCode.Config });
    await rm(dir, { recursive: true, force: true });
  });
});
