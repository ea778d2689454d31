/** Loopback pairs for transfer tests: a sender endpoint bound with a psk, a receiver dialling it. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { Endpoint, type Connection } from '../../src/node/endpoint.js';

export interface Pair {
  readonly sender: Connection;
  readonly receiver: Connection;
  close(): Promise<void>;
}

export async function loopbackPair(): Promise<Pair> {
  const psk = new Uint8Array(32).fill(7);
  const senderKeys = generateKeyPair();
  const a = await Endpoint.bind({ keyPair: senderKeys, host: '127.0.0.1', psk });
  const b = await Endpoint.bind({ keyPair: generateKeyPair(), host: '127.0.0.1' });
  const incoming = new Promise<Connection>((resolve) => a.once('connection', resolve));
  const receiver = await b.connect({ host: '127.0.0.1', port: a.address().port, publicKey: senderKeys.publicKey, psk });
  const sender = await incoming;
  return {
    sender,
    receiver,
    close: async () => {
      await receiver.close();
      await Promise.all([a.close(), b.close()]);
    },
  };
}

export function tempDir(name: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `punchline-${name}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
