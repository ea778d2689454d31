/**
 * Text form of public keys: z-base-32 (https://philzimmermann.com/docs/human-oriented-base-32-encoding.txt).
 *
 * Why z-base-32 rather than base64url: people copy, paste, read aloud and type these keys. z-base-32
 * is case-insensitive (survives chat apps, URLs' host part, DNS labels: 52 chars fit one 63-char
 * label), has no punctuation that editors split words on ('-', '_'), and its alphabet avoids the
 * confusable 0/O, 1/l/I, 2/z, v, so a misread character is more often an invalid one. It is also
 * what hyperdht/hypercore ("z32") and pkarr use for 32-byte keys, so users of that ecosystem know
 * the look. The cost — 52 characters instead of base64url's 43 — is acceptable.
 *
 * Encoding: bits most-significant first, 5 per character; 32 bytes = 256 bits → 52 characters, the
 * last carrying 1 bit and 4 zero bits. Decoding is canonical: it rejects non-zero padding bits, so
 * every key has exactly one text form (modulo case).
 */
import { CryptoError, CryptoErrorCode } from './errors.js';
import { KEY_LENGTH } from './keys.js';

const ALPHABET = 'ybndrfg8ejkmcpqxot1uwisza345h769';
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

export const PUBLIC_KEY_TEXT_LENGTH = Math.ceil((KEY_LENGTH * 8) / 5); // 52

export function zBase32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** Decodes exactly `length` bytes; throws CryptoError(BadKeyText) on any deviation. */
export function zBase32Decode(text: string, length: number): Uint8Array {
  const expectedChars = Math.ceil((length * 8) / 5);
  if (text.length !== expectedChars) {
    throw new CryptoError(
      CryptoErrorCode.BadKeyText,
      `expected ${expectedChars} z-base-32 characters, got ${text.length}`,
    );
  }
  const out = new Uint8Array(length);
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? DECODE[code]! : -1;
    if (value < 0) throw new CryptoError(CryptoErrorCode.BadKeyText, `invalid z-base-32 character at position ${i}`);
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >>> bits) & 0xff;
      buffer &= (1 << bits) - 1;
    }
  }
  if (buffer !== 0) throw new CryptoError(CryptoErrorCode.BadKeyText, 'non-canonical z-base-32 (padding bits set)');
  return out;
}

/** A public key as 52 lowercase z-base-32 characters. */
export function encodePublicKey(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== KEY_LENGTH) {
    throw new CryptoError(CryptoErrorCode.InvalidArgument, `public key must be ${KEY_LENGTH} bytes`);
  }
  return zBase32Encode(publicKey);
}

/** Parses a public key's text form; surrounding whitespace and upper case are accepted. */
export function decodePublicKey(text: string): Uint8Array {
  if (typeof text !== 'string') throw new CryptoError(CryptoErrorCode.BadKeyText, 'public key text must be a string');
  return zBase32Decode(text.trim().toLowerCase(), KEY_LENGTH);
}
