/**
 * A peer that vanishes without a CLOSE (its process killed with SIGKILL) fails the Node connection and
 * its streams with a typed PeerGoneError: ERR_PUNCHLINE_PEER_UNREACHABLE after the idle timeout, or
 * ERR_PUNCHLINE_PEER_RESET at once when the peer restarted with the same identity and answers with a
 * stateless reset (RFC 9000 §10.3). Real peer processes over loopback.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { type Connection, Endpoint } from '../../src/node/endpoint.js';
import type { PunchlineStream } from '../../src/node/stream.js';
import { PeerGoneError } from '../../src/transport/dead-peer.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const PEER = path.join(here, 'fixtures/gone-peer.ts');

const children: ChildProcessWithoutNullStreams[] = [];
const endpoints: Endpoint[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
});

async function startPeer(
  keys: { publicKey: Uint8Array; secretKey: Uint8Array },
  port: number,
  idleTimeoutMs: number,
): Promise<{ child: ChildProcessWithoutNullStreams; port: number }> {
  const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', PEER, hex(keys.secretKey), hex(keys.publicKey), String(port), String(idleTimeoutMs)],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const bound = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.on('exit', (code) => reject(new Error(`peer exited (${code}) before binding: ${err}`)));
  });
  return { child, port: bound };
}

async function kill(child: ChildProcessWithoutNullStreams): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Writes 16 KiB chunks until the stream fails; resolves with its error. */
function writeUntilError(stream: PunchlineStream): Promise<Error> {
  return new Promise((resolve) => {
    const chunk = Buffer.alloc(16 * 1024, 7);
    stream.on('error', resolve);
    const pump = (): void => {
      while (!stream.destroyed && stream.write(chunk));
      if (!stream.destroyed) stream.once('drain', pump);
    };
    pump();
  });
}

async function dial(peerPort: number, peerKey: Uint8Array, idleTimeoutMs: number): Promise<Connection> {
  const local = await Endpoint.bind({
    host: '127.0.0.1',
    port: 0,
    keyPair: generateKeyPair(),
    transport: { idleTimeoutMs },
  });
  endpoints.push(local);
  return local.connect({ host: '127.0.0.1', port: peerPort, publicKey: peerKey });
}

describe('a peer that vanishes (SIGKILL)', () => {
  it('fails the connection and its streams with ERR_PUNCHLINE_PEER_UNREACHABLE within the idle timeout', async () => {
    const idleTimeoutMs = 1500;
    const keys = generateKeyPair();
    const peer = await startPeer(keys, 0, idleTimeoutMs);
    const connection = await dial(peer.port, keys.publicKey, idleTimeoutMs);
    // A stream that keeps writing (an active sender) and a second that only waits (a passive one).
    const writer = connection.openStream();
    const writeFailed = writeUntilError(writer);
    const waiter = connection.openStream();
    waiter.write('hello');
    const waitFailed = once(waiter, 'error').then(([e]) => e as Error);
    await new Promise((r) => setTimeout(r, 300));
    const closed = once(connection, 'close');
    await kill(peer.child);
    const killedAt = performance.now();
    const [reason, error] = (await closed) as [unknown, PeerGoneError | null];
    const detectedMs = performance.now() - killedAt;
    expect(error).toBeInstanceOf(PeerGoneError);
    expect(error?.code).toBe('ERR_PUNCHLINE_PEER_UNREACHABLE');
    expect(error?.reason).toBe(reason);
    expect(connection.error).toBe(error);
    expect(((await writeFailed) as { code?: string }).code).toBe('ERR_PUNCHLINE_PEER_UNREACHABLE');
    expect(((await waitFailed) as { code?: string }).code).toBe('ERR_PUNCHLINE_PEER_UNREACHABLE');
    // Within the idle timeout of the last packet heard (plus timer and scheduling slack).
    expect(detectedMs).toBeLessThan(idleTimeoutMs + 1000);
    expect(() => connection.openStream()).toThrow(PeerGoneError);
  }, 30_000);

  it('fails with ERR_PUNCHLINE_PEER_RESET at once when the peer restarted (stateless reset)', async () => {
    const idleTimeoutMs = 30_000;
    const keys = generateKeyPair();
    const first = await startPeer(keys, 0, idleTimeoutMs);
    const connection = await dial(first.port, keys.publicKey, idleTimeoutMs);
    const writer = connection.openStream();
    writer.write(Buffer.alloc(64 * 1024, 1));
    await new Promise((r) => setTimeout(r, 300));
    await kill(first.child);
    // The same identity on the same port: it derives the same reset tokens, knows no connection.
    await startPeer(keys, first.port, idleTimeoutMs);
    const restartedAt = performance.now();
    const closed = once(connection, 'close');
    const writeFailed = writeUntilError(writer);
    const [, error] = (await closed) as [unknown, PeerGoneError | null];
    expect(error?.code).toBe('ERR_PUNCHLINE_PEER_RESET');
    expect(((await writeFailed) as { code?: string }).code).toBe('ERR_PUNCHLINE_PEER_RESET');
    // Far below the idle timeout: the reset answers the first packet that reaches the new process.
    expect(performance.now() - restartedAt).toBeLessThan(5_000);
  }, 30_000);

  it('reports no PeerGoneError for a graceful close', async () => {
    const a = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair: generateKeyPair() });
    const bKeys = generateKeyPair();
    const b = await Endpoint.bind({ host: '127.0.0.1', port: 0, keyPair: bKeys });
    endpoints.push(a, b);
    const incoming = once(b, 'connection');
    const connection = await a.connect({ host: '127.0.0.1', port: b.address().port, publicKey: bKeys.publicKey });
    const [server] = (await incoming) as [Connection];
    const closed = once(server, 'close');
    await connection.close();
    const [, error] = (await closed) as [unknown, PeerGoneError | null];
    expect(error).toBeNull();
    expect(server.error).toBeNull();
  }, 30_000);
});
