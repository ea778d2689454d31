/** `punchline server` as a process: prints its address string, keeps it across restarts, stops gracefully on SIGTERM. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/commands/server.js';
import { parseServerAddress } from '../../src/traversal/rendezvous/server-address.js';
import { decodePublicKey } from '../../src/crypto/key-text.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Started {
  /** Resolves with the exit code, or the signal's name if the process died of one. */
  stop(signal: NodeJS.Signals): Promise<{ code: number | string | null; stdout: string; stderr: string }>;
  listening: { address: string; url: string; publicKey: string; certificateSha256: string; metrics: string };
  stderr: () => string;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  // A failed assertion must not leave a server running.
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

function start(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'server', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | string | null>((r) => child.on('exit', (code, signal) => r(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start:\n${stderr}`)), 30_000);
    const check = (): void => {
      const line = stdout.split('\n').find((l) => l.includes('"server listening"'));
      if (!line || !stderr.includes('certificate SHA-256')) return;
      clearTimeout(timer);
      resolve({
        listening: JSON.parse(line) as Started['listening'],
        stderr: () => stderr,
        stop: async (signal) => {
          child.kill(signal);
          const code = await exited;
          return { code, stdout, stderr };
        },
      });
    };
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      check();
    });
    child.stderr.on('data', () => check());
  });
}

describe('punchline server (CLI)', () => {
  it('prints one address string (and writes it to --address-file), serves health, keeps its identity across restarts and stops on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'punchline-cli-server-'));
    try {
      const addressFile = join(dataDir, 'address');
      const args = ['--udp-port', '0', '--port', '0', '--metrics-port', '0', '--data-dir', dataDir];
      const first = await start([...args, '--address-file', addressFile]);
      const address = parseServerAddress(first.listening.address);
      expect(address.publicKey).toEqual(decodePublicKey(first.listening.publicKey));
      expect(address.udp.host).toBe('127.0.0.1');
      expect(first.stderr()).toContain(first.listening.address);
      expect((await readFile(addressFile, 'utf8')).trim()).toBe(first.listening.address);
      const health = await fetch(`${first.listening.metrics.replace('/metrics', '')}/healthz`);
      expect(health.status).toBe(200);
      const stopped = await first.stop('SIGTERM');
      expect(stopped.code, stopped.stderr).toBe(0);
      // stdout is JSON lines only (the library's HTTP/3 notice is muted).
      for (const line of stopped.stdout.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
      expect(stopped.stdout).toContain('"server stopped"');

      const second = await start(args);
      expect(second.listening.publicKey).toBe(first.listening.publicKey);
      expect(parseServerAddress(second.listening.address).publicKey).toEqual(address.publicKey);
      expect(second.listening.certificateSha256).toBe(first.listening.certificateSha256);
      const secondStop = await second.stop('SIGINT');
      expect(secondStop.code, secondStop.stderr).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('rejects bad options with exit code 2 and bad configuration with 1', async () => {
    const writes: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(await run(['--bogus'])).toBe(2);
      expect(await run(['--port', '99999'])).toBe(1);
      expect(await run(['--cert', '/nonexistent.pem'])).toBe(1);
      expect(await run(['--alt-port', '5000'])).toBe(1);
    } finally {
      process.stderr.write = original;
    }
    expect(writes.join('')).toContain('ERR_PUNCHLINE_SERVER_CONFIG');
  });
});
