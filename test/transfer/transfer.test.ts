/**
 * The transfer protocol over real loopback connections (spec/transfer.md §Transfer, §Resume):
 * trees with modes, mtimes and symlinks; parallel streams; resume from verified partial files;
 * refusal to overwrite.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TransferErrorCode } from '../../src/transfer/errors.js';
import { CHUNK_SIZE } from '../../src/transfer/file-hash.js';
import { buildManifest } from '../../src/transfer/manifest.js';
import { partialPath, receiveTransfer } from '../../src/transfer/receiver.js';
import { sendTransfer } from '../../src/transfer/sender.js';
import { loopbackPair, tempDir, type Pair } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function dirs() {
  const src = tempDir('src');
  const out = tempDir('out');
  cleanups.push(src.remove, out.remove);
  return { src: src.path, out: out.path };
}

async function pair(): Promise<Pair> {
  const p = await loopbackPair();
  cleanups.push(() => p.close());
  return p;
}

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function makeTree(root: string): void {
  mkdirSync(join(root, 'tree/sub/deeper'), { recursive: true });
  mkdirSync(join(root, 'tree/empty-dir'));
  writeFileSync(join(root, 'tree/a.txt'), 'hello\n');
  writeFileSync(join(root, 'tree/empty'), '');
  writeFileSync(join(root, 'tree/sub/big.bin'), randomBytes(3 * CHUNK_SIZE + 12345));
  writeFileSync(join(root, 'tree/sub/exact.bin'), randomBytes(CHUNK_SIZE));
  for (let i = 0; i < 40; i++) writeFileSync(join(root, `tree/sub/deeper/f${i}`), randomBytes(100 + i * 97));
  chmodSync(join(root, 'tree/a.txt'), 0o640);
  chmodSync(join(root, 'tree/sub/exact.bin'), 0o755);
  utimesSync(join(root, 'tree/a.txt'), 1_600_000_000, 1_600_000_000.25);
  symlinkSync('sub/exact.bin', join(root, 'tree/link'));
}

describe('transfer over a loopback connection', () => {
  it('copies a tree: contents, sizes, modes, mtimes, empty files and directories, symlinks', async () => {
    const { src, out } = dirs();
    makeTree(src);
    const { sender, receiver } = await pair();
    const entries = buildManifest([join(src, 'tree')]);
    const offers: number[] = [];
    const [sent, received] = await Promise.all([
      sendTransfer(sender, entries, { streams: 3 }),
      receiveTransfer(receiver, {
        out,
        confirm: (offer) => {
          offers.push(offer.files);
          return true;
        },
      }),
    ]);
    expect(offers).toEqual([entries.filter((e) => e.kind !== 'dir').length]);
    expect(received.bytes).toBe(sent.bytes);
    expect(received.bytesTransferred).toBe(received.bytes);
    for (const entry of entries) {
      const target = join(out, entry.path);
      const stats = lstatSync(target);
      if (entry.kind === 'file') {
        expect(sha(target)).toBe(sha(entry.source));
        expect(stats.mode & 0o777).toBe(entry.mode);
        expect(Math.abs(stats.mtimeMs - entry.mtimeMs)).toBeLessThan(1);
      } else if (entry.kind === 'symlink') {
        expect(readlinkSync(target)).toBe('sub/exact.bin');
      } else expect(stats.isDirectory()).toBe(true);
    }
    expect(statSync(join(out, 'tree/a.txt')).mtimeMs).toBeCloseTo(1_600_000_000_250, -1);
  });

  it('sends files of up to 64 KiB over one stream of their own, larger ones over --streams streams', async () => {
    const { src, out } = dirs();
    makeTree(src); // 2 files over 64 KiB, 42 smaller ones
    const { sender, receiver } = await pair();
    const entries = buildManifest([join(src, 'tree')]);
    let dataStreams = 0;
    receiver.on('stream', () => dataStreams++);
    await Promise.all([sendTransfer(sender, entries, { streams: 4 }), receiveTransfer(receiver, { out })]);
    expect(dataStreams).toBe(1 + 2); // not 4: two large files need two streams at most
    for (const entry of entries) if (entry.kind === 'file') expect(sha(join(out, entry.path))).toBe(sha(entry.source));
  });

  it('streams: 0 from a caller still sends the large files (on one stream)', async () => {
    const { src, out } = dirs();
    makeTree(src);
    const { sender, receiver } = await pair();
    const entries = buildManifest([join(src, 'tree')]);
    let dataStreams = 0;
    receiver.on('stream', () => dataStreams++);
    await Promise.all([sendTransfer(sender, entries, { streams: 0 }), receiveTransfer(receiver, { out })]);
    expect(dataStreams).toBe(1 + 1);
    for (const entry of entries) if (entry.kind === 'file') expect(sha(join(out, entry.path))).toBe(sha(entry.source));
  });

  it('resumes: verified chunks of a partial file are not sent again; a corrupted chunk is', async () => {
    const { src, out } = dirs();
    const data = randomBytes(8 * CHUNK_SIZE + 77);
    writeFileSync(join(src, 'big.bin'), data);
    writeFileSync(join(src, 'small.txt'), 'small');
    const partial = partialPath(join(out, 'big.bin'));
    // 5 whole chunks and half of the 6th on disk, the 3rd one corrupted.
    const prefix = Buffer.from(data.subarray(0, 5 * CHUNK_SIZE + CHUNK_SIZE / 2));
    prefix[2 * CHUNK_SIZE + 5]! ^= 0xff;
    writeFileSync(partial, prefix);
    const { sender, receiver } = await pair();
    const [, received] = await Promise.all([
      sendTransfer(sender, buildManifest([join(src, 'big.bin'), join(src, 'small.txt')])),
      receiveTransfer(receiver, { out }),
    ]);
    expect(sha(join(out, 'big.bin'))).toBe(sha(join(src, 'big.bin')));
    expect(existsSync(partial)).toBe(false);
    // Chunks 0 and 1 kept; 2.. sent again, plus the small file.
    expect(received.bytesTransferred).toBe(data.length - 2 * CHUNK_SIZE + 5);
  });

  it('skips files already complete, and refuses to overwrite different ones unless asked', async () => {
    const { src, out } = dirs();
    writeFileSync(join(src, 'same.txt'), 'same');
    writeFileSync(join(src, 'other.txt'), 'new contents');
    const first = await pair();
    await Promise.all([
      sendTransfer(first.sender, buildManifest([join(src, 'same.txt')])),
      receiveTransfer(first.receiver, { out }),
    ]);
    writeFileSync(join(out, 'other.txt'), 'old');
    const second = await pair();
    const refused = await Promise.allSettled([
      sendTransfer(second.sender, buildManifest([join(src, 'same.txt'), join(src, 'other.txt')])),
      receiveTransfer(second.receiver, { out }),
    ]);
    expect(refused[1]).toMatchObject({ status: 'rejected', reason: { code: TransferErrorCode.Exists } });
    expect(refused[0]).toMatchObject({ status: 'rejected', reason: { code: TransferErrorCode.Aborted } });
    expect(readFileSync(join(out, 'other.txt'), 'utf8')).toBe('old');
    const third = await pair();
    const [, received] = await Promise.all([
      sendTransfer(third.sender, buildManifest([join(src, 'same.txt'), join(src, 'other.txt')])),
      receiveTransfer(third.receiver, { out, overwrite: true }),
    ]);
    expect(readFileSync(join(out, 'other.txt'), 'utf8')).toBe('new contents');
    expect(received.bytesTransferred).toBe('new contents'.length);
  });

  it('a declined offer writes nothing', async () => {
    const { src, out } = dirs();
    writeFileSync(join(src, 'x'), 'x');
    const { sender, receiver } = await pair();
    const results = await Promise.allSettled([
      sendTransfer(sender, buildManifest([join(src, 'x')])),
      receiveTransfer(receiver, { out: join(out, 'target'), confirm: () => false }),
    ]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: TransferErrorCode.Declined } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: TransferErrorCode.Declined } });
    expect(existsSync(join(out, 'target', 'x'))).toBe(false);
  });
});
