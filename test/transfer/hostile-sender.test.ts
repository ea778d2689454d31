/**
 * A hostile sender (spec/transfer.md §Paths, §Integrity): paths with `..`, absolute paths, symlinks
 * out of the target, a file that grows past its announced size, lying hashes. Each is a typed error
 * and nothing is written outside --out (nor, for bad data, at the final name).
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/node/endpoint.js';
import { ControlChannel } from '../../src/transfer/control-channel.js';
import { TransferErrorCode } from '../../src/transfer/errors.js';
import { FileHasher, chunkHash } from '../../src/transfer/file-hash.js';
import { receiveTransfer } from '../../src/transfer/receiver.js';
import { encodeChunkHeader, encodeEndFrame, encodeFileFrame, type Entry } from '../../src/transfer/wire.js';
import { loopbackPair, tempDir } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const file = (path: string, size: number): Entry => ({ path, kind: 'file', size, mode: 0o644, mtimeMs: 1e12 });

/** Plays the sender: offers `entries`, then writes `frames` on one data stream when asked. */
async function hostile(sender: Connection, entries: Entry[], frames: Uint8Array[]): Promise<void> {
  const stream = (await sender.streams()[Symbol.asyncIterator]().next()).value;
  const control = new ControlChannel(stream);
  await control.next();
  control.send({ t: 'offer', entries });
  const request = await control.next().catch(() => null);
  if (!request) return;
  const data = sender.openStream({ bidirectional: false });
  for (const frame of frames) data.write(frame);
  data.end();
  await control.next().catch(() => null);
}

async function run(entries: Entry[], frames: Uint8Array[] = [], prepare?: (out: string) => void) {
  const root = tempDir('hostile');
  cleanups.push(root.remove);
  const out = join(root.path, 'out');
  mkdirSync(out);
  prepare?.(out);
  const pair = await loopbackPair();
  cleanups.push(() => pair.close());
  const [, result] = await Promise.allSettled([
    hostile(pair.sender, entries, frames),
    receiveTransfer(pair.receiver, { out }),
  ]);
  return { root: root.path, out, result };
}

function expectCode(result: PromiseSettledResult<unknown>, code: string): void {
  expect(result).toMatchObject({ status: 'rejected', reason: { code } });
}

function fileFrames(index: number, data: Buffer, options: { chunkHash?: Uint8Array; fileHash?: Uint8Array } = {}) {
  const hash = chunkHash(data);
  const hasher = new FileHasher(data.length);
  hasher.addChunk(hash);
  return [
    encodeFileFrame(index, 0),
    encodeChunkHeader(data.length, options.chunkHash ?? hash),
    data,
    encodeEndFrame(options.fileHash ?? hasher.digest()),
  ];
}

describe('a hostile sender', () => {
  it.each(['../escape', '/tmp/absolute', 'a/../../b', 'a//b', './a', 'a\\..\\b', ''])(
    'path %j is refused before anything is written',
    async (path) => {
      const { root, out, result } = await run([file(path, 1)]);
      expectCode(result, TransferErrorCode.UnsafePath);
      expect(readdirSync(out)).toEqual([]);
      expect(readdirSync(root)).toEqual(['out']);
    },
  );

  it('a symlink pointing out of the target is refused', async () => {
    const link: Entry = { path: 'link', kind: 'symlink', size: 0, mode: 0o777, mtimeMs: 0, target: '../../etc' };
    const { out, result } = await run([link]);
    expectCode(result, TransferErrorCode.UnsafePath);
    expect(readdirSync(out)).toEqual([]);
  });

  it('a path through an existing symlink in the target is refused', async () => {
    const { root, result } = await run([file('evil/x', 1)], [], (out) => {
      mkdirSync(join(out, '..', 'elsewhere'));
      symlinkSync('../elsewhere', join(out, 'evil'));
    });
    expectCode(result, TransferErrorCode.UnsafePath);
    expect(readdirSync(join(root, 'elsewhere'))).toEqual([]);
  });

  it('a file growing past its announced size is refused', async () => {
    const data = Buffer.alloc(20, 1);
    const { out, result } = await run([file('f', 10)], fileFrames(0, data));
    expectCode(result, TransferErrorCode.SizeMismatch);
    expect(existsSync(join(out, 'f'))).toBe(false);
  });

  it('a chunk with a lying hash is not written', async () => {
    const data = Buffer.alloc(10, 1);
    const { out, result } = await run([file('f', 10)], fileFrames(0, data, { chunkHash: new Uint8Array(32) }));
    expectCode(result, TransferErrorCode.HashMismatch);
    expect(existsSync(join(out, 'f'))).toBe(false);
  });

  it('a lying file hash keeps the file from its final name', async () => {
    const data = Buffer.alloc(10, 1);
    const { out, result } = await run([file('f', 10)], fileFrames(0, data, { fileHash: new Uint8Array(32) }));
    expectCode(result, TransferErrorCode.HashMismatch);
    expect(existsSync(join(out, 'f'))).toBe(false);
  });

  it('a file that was not requested is a protocol error', async () => {
    const { result } = await run([file('f', 1)], fileFrames(5, Buffer.alloc(1)));
    expectCode(result, TransferErrorCode.Protocol);
  });
});
