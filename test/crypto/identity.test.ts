import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CryptoError, CryptoErrorCode } from '../../src/crypto/errors.js';
import { defaultIdentityPath, generateIdentity, loadIdentity, saveIdentity } from '../../src/crypto/identity.js';
import { decodePublicKey, encodePublicKey, zBase32Decode, zBase32Encode } from '../../src/crypto/key-text.js';
import { seededRandom } from './helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'punchline-id-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('z-base-32 public key text', () => {
  it('matches the z-base-32 spec examples', () => {
    expect(zBase32Encode(Uint8Array.of(0xf0, 0xbf, 0xc7))).toBe('6n9hq');
    expect(zBase32Encode(Uint8Array.of(0xd4, 0x7a, 0x04))).toBe('4t7ye');
    expect(zBase32Decode('6n9hq', 3)).toEqual(Uint8Array.of(0xf0, 0xbf, 0xc7));
  });

  it('round-trips every key, is 52 chars, and accepts upper case and whitespace', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (key) => {
        const text = encodePublicKey(key);
        expect(text).toMatch(/^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/);
        expect(decodePublicKey(text)).toEqual(key);
        expect(decodePublicKey(`  ${text.toUpperCase()}\n`)).toEqual(key);
      }),
    );
  });

  it('rejects wrong length, bad characters and non-canonical padding', () => {
    const text = encodePublicKey(new Uint8Array(32));
    const bad = { code: CryptoErrorCode.BadKeyText };
    expect(() => decodePublicKey(text.slice(1))).toThrow(expect.objectContaining(bad));
    expect(() => decodePublicKey(`${text.slice(0, 10)}0${text.slice(11)}`)).toThrow(expect.objectContaining(bad));
    expect(() => decodePublicKey(`${text.slice(0, 51)}b`)).toThrow(expect.objectContaining(bad)); // padding bit set
    expect(() => decodePublicKey(`${text.slice(0, 51)}é`)).toThrow(expect.objectContaining(bad));
  });
});

describe('identity files', () => {
  it('saves 0600 in a 0700 directory and loads the same key pair', async () => {
    const path = join(dir, 'a', 'b', 'identity');
    const keyPair = generateIdentity(seededRandom('id'));
    await saveIdentity(path, keyPair);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'a', 'b'))).mode & 0o777).toBe(0o700);
    const loaded = await loadIdentity(path);
    expect(loaded).toEqual(keyPair);
    expect(await readFile(path, 'utf8')).toContain(encodePublicKey(keyPair.publicKey));
  });

  it('refuses to overwrite without overwrite: true, and overwrites with it', async () => {
    const path = join(dir, 'overwrite');
    await saveIdentity(path, generateIdentity());
    const second = generateIdentity();
    await expect(saveIdentity(path, second)).rejects.toMatchObject({ code: CryptoErrorCode.IdentityExists });
    await saveIdentity(path, second, { overwrite: true });
    expect(await loadIdentity(path)).toEqual(second);
  });

  it('typed errors: missing, bad format, mismatched key, permissions', async () => {
    await expect(loadIdentity(join(dir, 'nope'))).rejects.toMatchObject({ code: CryptoErrorCode.IdentityMissing });
    const garbage = join(dir, 'garbage');
    await writeFile(garbage, '{"type":"punchline-identity"', { mode: 0o600 });
    await expect(loadIdentity(garbage)).rejects.toMatchObject({ code: CryptoErrorCode.IdentityFormat });

    const mismatched = join(dir, 'mismatched');
    const a = generateIdentity();
    const b = generateIdentity();
    await saveIdentity(mismatched, a);
    const text = (await readFile(mismatched, 'utf8')).replace(
      encodePublicKey(a.publicKey),
      encodePublicKey(b.publicKey),
    );
    await writeFile(mismatched, text);
    await expect(loadIdentity(mismatched)).rejects.toMatchObject({ code: CryptoErrorCode.IdentityFormat });

    const open = join(dir, 'open');
    await saveIdentity(open, a);
    await chmod(open, 0o644);
    const warnings: CryptoError[] = [];
    expect(await loadIdentity(open, { onWarning: (w) => warnings.push(w) })).toEqual(a);
    expect(warnings.map((w) => w.code)).toEqual([CryptoErrorCode.IdentityPermissions]);
    await expect(loadIdentity(open, { strictPermissions: true })).rejects.toMatchObject({
      code: CryptoErrorCode.IdentityPermissions,
    });
  });

  it('default path honours PUNCHLINE_HOME', () => {
    expect(defaultIdentityPath({ PUNCHLINE_HOME: '/x/y' })).toBe('/x/y/identity');
    expect(defaultIdentityPath({})).toMatch(/\.punchline\/identity$/);
  });
});

describe('CLI keygen / id', () => {
  it('keygen writes a key and id prints the same public key', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const path = join(dir, 'cli', 'identity');
      const keygen = await import('../../src/cli/commands/keygen.js');
      const id = await import('../../src/cli/commands/id.js');
      expect(await keygen.run(['--out', path])).toBe(0);
      await expect(keygen.run(['--out', path])).rejects.toMatchObject({ code: CryptoErrorCode.IdentityExists });
      expect(await id.run(['--key', path])).toBe(0);
      expect(out).toHaveLength(2);
      expect(out[0]).toBe(out[1]);
      expect(out[0]).toMatch(/^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}\n$/);
      expect(await keygen.run(['--bogus'])).toBe(2);
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  });
});
