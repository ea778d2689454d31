/**
 * Probe server run inside a lab server host:
 *   probe-server --udp 192.0.2.10:3478,192.0.2.11:3479 [--tcp 192.0.2.10:3478]
 * Prints "ready" once every socket is bound; runs until killed. See protocol.ts.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { splitEndpoint, type ProbeReply, type ProbeRequest } from './protocol.js';

const { values } = parseArgs({ options: { udp: { type: 'string' }, tcp: { type: 'string' } } });
const sockets = new Map<string, Socket>();

function bind(endpoint: string): Promise<void> {
  const { address, port } = splitEndpoint(endpoint);
  const socket = createSocket('udp4');
  sockets.set(endpoint, socket);
  socket.on('message', (data, rinfo) => onMessage(endpoint, socket, data, `${rinfo.address}:${rinfo.port}`));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve());
  });
}

function onMessage(local: string, _socket: Socket, data: Buffer, seen: string): void {
  let request: ProbeRequest;
  try {
    request = JSON.parse(data.toString('utf8')) as ProbeRequest;
  } catch {
    return;
  }
  const via = request.op === 'reflect' && request.via !== undefined ? request.via : local;
  const out = sockets.get(via);
  if (out === undefined) return;
  const reply: ProbeReply = { id: request.id, seen, via };
  const { address, port } = splitEndpoint(seen);
  const send = (): void => out.send(JSON.stringify(reply), port, address);
  if (request.delayMs !== undefined && request.delayMs > 0) setTimeout(send, request.delayMs);
  else send();
}

async function main(): Promise<void> {
  for (const endpoint of (values.udp ?? '').split(',').filter((e) => e !== '')) await bind(endpoint);
  if (values.tcp !== undefined) {
    const { address, port } = splitEndpoint(values.tcp);
    const server = createServer((socket) => socket.end(`${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}\n`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
  }
  process.stdout.write('ready\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`probe-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
