/**
 * Loads the OpenSSL packet AEAD (native/punchline_aead.c: ChaCha20-Poly1305, RFC 8439, through the
 * OpenSSL Node is linked with; ~0.9 us per 1436-byte packet against libsodium's ~1.8 us) and registers
 * it with the crypto core (src/crypto/openssl-aead.ts), which does no I/O itself. It is registered only
 * when it loads and passes a known-answer test against libsodium (same ciphertext and tag, each opens
 * the other's packet, a forged tag is refused and its text zeroed, spec/crypto.md §5.1); otherwise, or
 * with PUNCHLINE_AEAD=sodium, PacketProtection keeps libsodium.
 *
 * The add-on is built with -z now (binding.gyp): a Node that does not export the EVP symbols it was
 * built against (a --without-ssl or BoringSSL Node) makes the load throw here, caught, instead of a
 * "symbol lookup error" abort at the first EVP call. It also records the OpenSSL major version it was
 * compiled against, and is not used under a Node with another major.
 *
 * Loading reads the add-on from build/Release (as sodium-native loads its own binary): the module is
 * found two levels above this file (src/node, dist/node) or three (the benchmark bundle in
 * node_modules/.cache/punchline-bench), or at $PUNCHLINE_AEAD_NATIVE_PATH.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type OpensslAead, registerOpensslAead } from '../crypto/openssl-aead.js';
import { packetAead } from '../crypto/sodium.js';

/** The add-on's exports: the AEAD, and OPENSSL_VERSION_NUMBER of the headers it was compiled with. */
type AddonExports = OpensslAead & { readonly opensslVersionNumber?: number };

function addonPath(): string | null {
  const configured = process.env['PUNCHLINE_AEAD_NATIVE_PATH'];
  if (configured) return configured;
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const candidate = path.resolve(here, up, 'build', 'Release', 'punchline_aead.node');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** The add-on checked against libsodium, or null (not built, not loadable, or it disagrees). */
function load(): OpensslAead | null {
  if (process.env['PUNCHLINE_AEAD'] === 'sodium') return null;
  const file = addonPath();
  if (file === null) return null;
  try {
    const aead = createRequire(import.meta.url)(file) as AddonExports;
    if (!sameOpensslMajor(aead.opensslVersionNumber, process.versions.openssl)) return null;
    return selfTest(aead) ? aead : null;
  } catch {
    return null;
  }
}

/** Known answer against libsodium: a 13-byte header and 37 bytes of text under one key and nonce. */
function selfTest(aead: OpensslAead): boolean {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 5 + 1);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);
  const header = 13;
  const end = header + 37;
  const ours = Uint8Array.from({ length: end + 16 }, (_, i) => (i * 7) & 0xff);
  const theirs = Uint8Array.from(ours);
  const context = aead.create(key);
  try {
    if (aead.seal(context, ours, header, end, nonce) !== end + 16) return false;
    packetAead.seal(theirs.subarray(header, end), theirs.subarray(end), theirs.subarray(0, header), nonce, key);
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) return false;
    const forged = Uint8Array.from(ours);
    forged[end] = (forged[end] as number) ^ 1;
    if (aead.open(context, forged, header, end + 16, nonce) !== -1) return false;
    for (let i = header; i < end; i++) if (forged[i] !== 0) return false;
    // sealFrom: the middle 20 bytes of the text from another buffer, the same bytes as seal().
    const source = Uint8Array.from({ length: 29 }, (_, i) => (i * 11) & 0xff);
    const from = Uint8Array.from({ length: end + 16 }, (_, i) => (i * 7) & 0xff);
    const copied = Uint8Array.from(from);
    copied.set(source.subarray(5, 25), header + 9);
    if (typeof aead.sealFrom !== 'function') return false;
    if (aead.sealFrom(context, from, header, end, nonce, source, 5, header + 9, 20) !== end + 16) return false;
    if (aead.seal(context, copied, header, end, nonce) !== end + 16) return false;
    for (let i = 0; i < from.length; i++) if (from[i] !== copied[i]) return false;
    if (aead.open(context, ours, header, end + 16, nonce) !== end - header) return false;
    return ours[header] === ((header * 7) & 0xff);
  } finally {
    aead.free(context);
  }
}

/**
 * Whether the add-on was compiled against the OpenSSL major version Node runs with: OPENSSL_VERSION_NUMBER
 * is 0xMNN00PP0 from OpenSSL 3 on and 0xMNNFFPPS before (major in the top nibble either way);
 * process.versions.openssl is "3.0.13+quic" (absent in a Node built without OpenSSL).
 */
function sameOpensslMajor(built: number | undefined, running: string | undefined): boolean {
  if (typeof built !== 'number' || running === undefined) return false;
  return built >>> 28 === Number.parseInt(running, 10);
}

let loaded: OpensslAead | null | undefined;

/**
 * Loads the add-on once (later calls return the first answer) and registers it with the crypto core,
 * so that every PacketProtection created afterwards seals and opens through OpenSSL. Returns it, or
 * null where libsodium stays in use. The node layer calls this before it creates a transport endpoint.
 */
export function useOpensslAead(): OpensslAead | null {
  if (loaded === undefined) {
    loaded = load();
    registerOpensslAead(loaded);
  }
  return loaded;
}
