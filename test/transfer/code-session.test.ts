/**
 * send/receive by code through a real `punchline server` on loopback (spec/transfer.md §Flow):
 * mailbox, CPace handshake, psk-authenticated connection, transfer; a wrong code and a reused code
 * fail with clear errors and burn the code.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PakeErrorCode } from '../../src/crypto/pake/errors.js';
import { PunchlineServer } from '../../src/server/server.js';
import { receiveByCode, sendByCode } from '../../src/transfer/code-session.js';
import { buildManifest } from '../../src/transfer/manifest.js';
import { TransferErrorCode } from '../../src/transfer/errors.js';

let server: PunchlineServer;
let dataDir: string;
let serverOptions: { server: string };

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'punchline-code-'));
  server = await PunchlineServer.start({ host: '127.0.0.1', udpPort: 0, port: 0, metricsPort: null, dataDir });
  serverOptions = { server: server.info.address };
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function codeOf(): { promise: Promise<string>; onCode: (code: string) => void } {
  let onCode: (code: string) => void = () => undefined;
  const promise = new Promise<string>((resolve) => (onCode = resolve));
  return { promise, onCode };
}

describe('send and receive by code (loopback server)', () => {
  it('moves files; the server sees only the mailbox', async () => {
    const src = join(dataDir, 'src');
    const out = join(dataDir, 'out');
    await import('node:fs/promises').then((fs) => fs.mkdir(src, { recursive: true }));
    const data = randomBytes(300_000);
    writeFileSync(join(src, 'file.bin'), data);
    const code = codeOf();
    const sending = sendByCode({
      ...serverOptions,
      host: '127.0.0.1',
      entries: buildManifest([join(src, 'file.bin')]),
      onCode: code.onCode,
    });
    const received = await receiveByCode({ ...serverOptions, host: '127.0.0.1', code: await code.promise, out });
    const sent = await sending;
    expect(readFileSync(join(out, 'file.bin')).equals(data)).toBe(true);
    expect(received).toMatchObject({ files: 1, bytes: data.length, bytesTransferred: data.length, path: 'direct' });
    expect(sent).toMatchObject({ files: 1, bytes: data.length });
    expect(server.core.mailbox.size).toBe(0);
  });

  it('a wrong code fails on both sides and burns the code', async () => {
    const src = join(dataDir, 'src2');
    await import('node:fs/promises').then((fs) => fs.mkdir(src, { recursive: true }));
    writeFileSync(join(src, 'secret'), 'secret');
    const code = codeOf();
    const sending = sendByCode({
      ...serverOptions,
      host: '127.0.0.1',
      entries: buildManifest([join(src, 'secret')]),
      onCode: code.onCode,
    });
    sending.catch(() => undefined);
    const real = await code.promise;
    const [nameplate, first] = real.split('-');
    const wrong = `${nameplate}-${first === 'acid' ? 'acorn' : 'acid'}-acid`;
    await expect(
      receiveByCode({ ...serverOptions, host: '127.0.0.1', code: wrong, out: join(dataDir, 'out2') }),
    ).rejects.toMatchObject({
      code: PakeErrorCode.WrongCode,
    });
    await expect(sending).rejects.toMatchObject({ code: PakeErrorCode.WrongCode });
    // The right code no longer works: one attempt per code.
    await expect(
      receiveByCode({ ...serverOptions, host: '127.0.0.1', code: real, out: join(dataDir, 'out2') }),
    ).rejects.toMatchObject({
      code: TransferErrorCode.Aborted,
    });
    expect(existsSync(join(dataDir, 'out2', 'secret'))).toBe(false);
  });
});
