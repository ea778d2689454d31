/**
 * Disk full and a read-only target (spec/transfer.md §Errors): a clear typed error, the partial file
 * kept with its verified chunks. Uses small tmpfs mounts, so it needs root (skips with the reason).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TransferErrorCode, fileSystemError } from '../../src/transfer/errors.js';
import { CHUNK_SIZE } from '../../src/transfer/file-hash.js';
import { buildManifest } from '../../src/transfer/manifest.js';
import { partialPath, receiveTransfer } from '../../src/transfer/receiver.js';
import { sendTransfer } from '../../src/transfer/sender.js';
import { loopbackPair, tempDir } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function canMount(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  const probe = tempDir('mount-probe');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe.path], { stdio: 'pipe' });
    execFileSync('umount', [probe.path]);
    return null;
  } catch (error) {
    return `cannot mount tmpfs: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    probe.remove();
  }
}
const skipReason = canMount();

function mountTmpfs(options: string): string {
  const dir = tempDir('tmpfs');
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir.path]);
  cleanups.push(dir.remove, () => execFileSync('umount', ['-l', dir.path]));
  return dir.path;
}

describe('file-system errors map to typed codes', () => {
  it.each([
    ['ENOSPC', TransferErrorCode.DiskFull],
    ['EDQUOT', TransferErrorCode.DiskFull],
    ['EACCES', TransferErrorCode.Permission],
    ['EROFS', TransferErrorCode.Permission],
    ['EIO', TransferErrorCode.Io],
  ])('%s', (code, expected) => {
    const error = Object.assign(new Error('x'), { code });
    expect(fileSystemError(error, '/some/file')).toMatchObject({ code: expected });
  });
});

describe.skipIf(skipReason !== null)(
  `disk errors during a transfer${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('disk full: DISK_FULL, the partial file keeps whole verified chunks, nothing at the final name', async () => {
      const out = mountTmpfs('size=2m');
      const src = tempDir('src');
      cleanups.push(src.remove);
      const data = randomBytes(3 * CHUNK_SIZE);
      writeFileSync(join(src.path, 'big.bin'), data);
      const pair = await loopbackPair();
      cleanups.push(() => pair.close());
      const [, received] = await Promise.allSettled([
        sendTransfer(pair.sender, buildManifest([join(src.path, 'big.bin')])),
        receiveTransfer(pair.receiver, { out }),
      ]);
      expect(received).toMatchObject({ status: 'rejected', reason: { code: TransferErrorCode.DiskFull } });
      const partial = partialPath(join(out, 'big.bin'));
      const kept = readFileSync(partial);
      expect(kept.length).toBeGreaterThanOrEqual(CHUNK_SIZE);
      expect(kept.subarray(0, CHUNK_SIZE).equals(data.subarray(0, CHUNK_SIZE))).toBe(true);
      expect(() => statSync(join(out, 'big.bin'))).toThrow();
    });

    it('read-only target: PERMISSION before any data is written', async () => {
      const out = mountTmpfs('size=1m,ro');
      const src = tempDir('src');
      cleanups.push(src.remove);
      mkdirSync(join(src.path, 'd'));
      writeFileSync(join(src.path, 'd', 'f'), 'x');
      const pair = await loopbackPair();
      cleanups.push(() => pair.close());
      const [, received] = await Promise.allSettled([
        sendTransfer(pair.sender, buildManifest([join(src.path, 'd')])),
        receiveTransfer(pair.receiver, { out: join(out, 'sub') }),
      ]);
      expect(received).toMatchObject({ status: 'rejected', reason: { code: TransferErrorCode.Permission } });
    });
  },
);
