/**
 * Looks at the certificate a TLS server presents, without trusting it yet: the rendezvous client pins
 * what it saw and binds its proof to the hash (spec/rendezvous.md §Authentication).
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/**
 * One TLS handshake with the server to see its certificate: its SHA-256 (the channel binding and the
 * pin for the WebTransport session) and whether the system CAs trust it.
 */
export function observeCertificate(url: URL, timeoutMs: number): Promise<{ sha256: Uint8Array; trusted: boolean }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ALPNProtocols: ['h2'],
      // Not trusting anything yet: the certificate is checked by the proof bound to its hash.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const raw = socket.getPeerCertificate(false)?.raw;
      const trusted = socket.authorized;
      socket.destroy();
      if (!raw) reject(new Error('the server presented no certificate'));
      else resolve({ sha256: new Uint8Array(createHash('sha256').update(raw).digest()), trusted });
    });
  });
}
