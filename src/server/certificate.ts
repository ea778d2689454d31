/**
 * Self-signed TLS certificate for the server's WebTransport port, pinned by clients through its
 * SHA-256 hash (WebTransport `serverCertificateHashes`, W3C WebTransport §4.4 "custom certificate
 * requirements": X.509v3, ECDSA P-256 key, validity at most 14 days).
 *
 * Written with node:crypto and a small DER encoder (ITU-T X.690) instead of a dependency: the
 * certificate has a fixed shape (RFC 5280 §4.1 fields, a subjectAltName, ecdsa-with-SHA256), and the
 * encoder below covers exactly the tags that shape needs. Node's X509Certificate parses the result
 * in the tests, and TLS clients pin it.
 */
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';

/** W3C WebTransport: a hash-pinned certificate must not be valid for longer than two weeks. */
export const MAX_PINNED_VALIDITY_MS = 14 * 24 * 60 * 60 * 1000;

export interface GeneratedCertificate {
  /** PEM certificate and PKCS#8 private key. */
  readonly cert: string;
  readonly key: string;
  /** SHA-256 of the DER certificate (what serverCertificateHashes pins). */
  readonly sha256: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

// ---- DER (X.690 §8, distinguished encoding) -----------------------------------------------------

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 + n, inner);
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
  const body = b.subarray(i);
  return tlv(0x02, (body[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), body]) : body);
}
function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) stack.unshift(0x80 | (v & 0x7f));
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}
/** UTCTime for years 1950–2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${digits}Z`));
}
function ipBytes(host: string): Buffer {
  if (isIP(host) === 4) return Buffer.from(host.split('.').map(Number));
  const [head = '', tail = ''] = host.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const a = groups(head);
  const b = host.includes('::') ? groups(tail) : [];
  const all = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

export interface CertificateOptions {
  /** Names the certificate is for: IP literals become iPAddress SANs, others dNSName. */
  readonly names?: readonly string[];
  readonly validityMs?: number;
  readonly now?: Date;
}

/** Generates an ECDSA P-256 self-signed certificate suitable for WebTransport hash pinning. */
export function generateSelfSignedCertificate(options: CertificateOptions = {}): GeneratedCertificate {
  const names = options.names?.length ? [...new Set(options.names)] : ['localhost', '127.0.0.1', '::1'];
  const validityMs = Math.min(options.validityMs ?? MAX_PINNED_VALIDITY_MS - 60 * 60 * 1000, MAX_PINNED_VALIDITY_MS);
  const now = options.now ?? new Date();
  // Backdate a little for clock skew (a tenth of a short validity at most, so a test certificate
  // valid for seconds is valid now), keeping the whole span within the 14-day limit.
  const notBefore = new Date(now.getTime() - Math.min(5 * 60 * 1000, Math.floor(validityMs / 10)));
  const notAfter = new Date(notBefore.getTime() + validityMs);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const name = seq(set(seq(oid(OID_COMMON_NAME), utf8('punchline server'))));
  const altNames = names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii'))));
  const extensions = seq(
    seq(oid(OID_BASIC_CONSTRAINTS), octets(seq())),
    seq(oid(OID_EXT_KEY_USAGE), octets(seq(oid(OID_SERVER_AUTH)))),
    seq(oid(OID_SUBJECT_ALT_NAME), octets(seq(...altNames))),
  );
  const signatureAlgorithm = seq(oid(OID_ECDSA_SHA256));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // version v3
    integer(serial),
    signatureAlgorithm,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value (RFC 5758 §3.2)
  const der = seq(tbs, signatureAlgorithm, bitString(signature));
  return {
    cert: toPem(der, 'CERTIFICATE'),
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    sha256: new Uint8Array(createHash('sha256').update(der).digest()),
    notBefore,
    notAfter,
  };
}

function toPem(der: Buffer, label: string): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** SHA-256 of a PEM certificate's DER bytes, and its validity. */
export function certificateInfo(certPem: string): { sha256: Uint8Array; notBefore: Date; notAfter: Date } {
  const x = new X509Certificate(certPem);
  return {
    sha256: new Uint8Array(x.fingerprint256.split(':').map((h) => parseInt(h, 16))),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
  };
}

/** True when the PEM key belongs to the PEM certificate. */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  try {
    const key: KeyObject = createPrivateKey(keyPem);
    return new X509Certificate(certPem).checkPrivateKey(key);
  } catch {
    return false;
  }
}
