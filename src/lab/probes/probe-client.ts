/**
 * Probe client run inside a lab host; one JSON command as its argument, one JSON result on stdout.
 *   behaviour { primary, alternate, port, altPort }  -> BehaviourReport (RFC 4787 mapping + filtering)
 *   echo      { target, count, intervalMs }          -> { sent, received, seen }   (loss)
 *   delayed   { target, delayMs }                    -> { received, seen }         (mapping timeout)
 *   hairpin-owner { target, waitMs }  -> line { mapped }, then { received, from } (RFC 4787 §6)
 *   send      { target, count, intervalMs }          -> { sent }  (datagrams "hairpin")
 *   hairpin-self { target, count, intervalMs }       -> { mapped, received, from } (RFC 5780 §4.5)
 *   tcp       { target }                             -> { connected, seen }
 * Every command accepts `timeoutMs` (how long to wait for one answer, default 1000).
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  classifyFiltering,
  classifyMapping,
  splitEndpoint,
  type BehaviourReport,
  type ProbeReply,
  type ProbeRequest,
} from './protocol.js';

type Command =
  | { op: 'behaviour'; primary: string; alternate: string; port: number; altPort: number; timeoutMs?: number }
  | { op: 'echo'; target: string; count: number; intervalMs: number; timeoutMs?: number }
  | { op: 'delayed'; target: string; delayMs: number; timeoutMs?: number }
  | { op: 'hairpin-owner'; target: string; waitMs: number; timeoutMs?: number }
  | { op: 'send'; target: string; count: number; intervalMs: number; timeoutMs?: number }
  | { op: 'hairpin-self'; target: string; count: number; intervalMs: number; timeoutMs?: number }
  | { op: 'tcp'; target: string; timeoutMs?: number };

class ProbeSocket {
  readonly socket: Socket = createSocket('udp4');
  readonly #waiting = new Map<string, (reply: ProbeReply) => void>();
  readonly raw: { data: string; from: string }[] = [];

  constructor() {
    this.socket.on('message', (data, rinfo) => {
      this.raw.push({ data: data.toString('utf8'), from: `${rinfo.address}:${rinfo.port}` });
      try {
        const reply = JSON.parse(data.toString('utf8')) as ProbeReply;
        this.#waiting.get(reply.id)?.(reply);
      } catch {
        // not a probe reply
      }
    });
  }

  bind(): Promise<string> {
    return new Promise((resolve) =>
      this.socket.bind(0, () => {
        const a = this.socket.address();
        resolve(`${a.address}:${a.port}`);
      }),
    );
  }

  send(target: string, payload: string): void {
    const { address, port } = splitEndpoint(target);
    this.socket.send(payload, port, address);
  }

  /** Sends `request` up to `attempts` times; resolves with the first reply or undefined. */
  async ask(
    target: string,
    request: Omit<ProbeRequest, 'id'>,
    timeoutMs: number,
    attempts = 3,
  ): Promise<ProbeReply | undefined> {
    const id = randomUUID();
    const reply = new Promise<ProbeReply | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs * attempts);
      this.#waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    for (let i = 0; i < attempts; i++) {
      this.send(target, JSON.stringify({ ...request, id }));
      const done = await Promise.race([reply.then(() => true), sleep(timeoutMs).then(() => false)]);
      if (done) break;
    }
    const result = await reply;
    this.#waiting.delete(id);
    return result;
  }

  close(): void {
    this.socket.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function behaviour(c: Extract<Command, { op: 'behaviour' }>): Promise<BehaviourReport | { error: string }> {
  const timeoutMs = c.timeoutMs ?? 1000;
  const mapper = new ProbeSocket();
  const local = await mapper.bind();
  const targets = [`${c.primary}:${c.port}`, `${c.alternate}:${c.port}`, `${c.alternate}:${c.altPort}`];
  const seen: string[] = [];
  for (const target of targets) {
    const reply = await mapper.ask(target, { op: 'echo' }, timeoutMs);
    if (reply === undefined) {
      mapper.close();
      return { error: `no answer from ${target}` };
    }
    seen.push(reply.seen);
  }
  mapper.close();
  const [x1 = '', x2 = '', x3 = ''] = seen;
  // Filtering, on a fresh socket whose only mapping is towards primary:port.
  const filter = new ProbeSocket();
  await filter.bind();
  const primary = `${c.primary}:${c.port}`;
  const made = await filter.ask(primary, { op: 'echo' }, timeoutMs);
  if (made === undefined) {
    filter.close();
    return { error: `no answer from ${primary}` };
  }
  const otherAddress = await filter.ask(primary, { op: 'reflect', via: `${c.alternate}:${c.altPort}` }, timeoutMs);
  const otherPort =
    otherAddress !== undefined
      ? otherAddress
      : await filter.ask(primary, { op: 'reflect', via: `${c.primary}:${c.altPort}` }, timeoutMs);
  filter.close();
  const localPort = splitEndpoint(local).port;
  const mapped = splitEndpoint(x1);
  return {
    local,
    mappings: [x1, x2, x3],
    translated: mapped.port !== localPort || !isLocalAddress(mapped.address),
    portPreserved: mapped.port === localPort,
    mapping: classifyMapping(x1, x2, x3),
    filtering: classifyFiltering(otherAddress !== undefined, otherPort !== undefined),
  };
}

function isLocalAddress(address: string): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === address) === true);
}

async function echo(
  c: Extract<Command, { op: 'echo' }>,
): Promise<{ sent: number; received: number; seen: string | undefined }> {
  const s = new ProbeSocket();
  await s.bind();
  const ids = new Set<string>();
  for (let i = 0; i < c.count; i++) {
    const id = `e${i}`;
    ids.add(id);
    s.send(c.target, JSON.stringify({ id, op: 'echo' } satisfies ProbeRequest));
    await sleep(c.intervalMs);
  }
  await sleep(c.timeoutMs ?? 1000);
  s.close();
  const replies = s.raw.map((r) => JSON.parse(r.data) as ProbeReply).filter((r) => ids.has(r.id));
  return { sent: c.count, received: new Set(replies.map((r) => r.id)).size, seen: replies[0]?.seen };
}

async function delayed(
  c: Extract<Command, { op: 'delayed' }>,
): Promise<{ received: boolean; seen: string | undefined }> {
  const s = new ProbeSocket();
  await s.bind();
  const reply = await s.ask(c.target, { op: 'echo', delayMs: c.delayMs }, c.delayMs + (c.timeoutMs ?? 1000), 1);
  s.close();
  return { received: reply !== undefined, seen: reply?.seen };
}

/**
 * Hairpin owner: makes a mapping towards `target`, prints `{"mapped": ...}` as a first line, then
 * waits `waitMs` for a datagram "hairpin" from another LAN host sent to that mapping.
 */
async function hairpinOwner(
  c: Extract<Command, { op: 'hairpin-owner' }>,
): Promise<{ received: boolean; from: string | undefined }> {
  const owner = new ProbeSocket();
  await owner.bind();
  const reply = await owner.ask(c.target, { op: 'echo' }, c.timeoutMs ?? 1000);
  process.stdout.write(JSON.stringify({ mapped: reply?.seen }) + '\n');
  const deadline = Date.now() + c.waitMs;
  while (Date.now() < deadline && owner.raw.every((r) => r.data !== 'hairpin')) await sleep(20);
  const got = owner.raw.find((r) => r.data === 'hairpin');
  owner.close();
  return { received: got !== undefined, from: got?.from };
}

/**
 * Same-socket hairpinning (RFC 5780 §4.5, RFC 4787 §6): makes a mapping towards `target`, then sends
 * the datagram "hairpin" `count` times from the same socket to that mapping and reports whether it
 * came back to the socket, and from where (a hairpinning NAT shows the mapping itself).
 */
async function hairpinSelf(
  c: Extract<Command, { op: 'hairpin-self' }>,
): Promise<{ mapped: string | undefined; received: boolean; from: string | undefined }> {
  const s = new ProbeSocket();
  await s.bind();
  const reply = await s.ask(c.target, { op: 'echo' }, c.timeoutMs ?? 1000);
  const mapped = reply?.seen;
  if (mapped === undefined) {
    s.close();
    return { mapped, received: false, from: undefined };
  }
  for (let i = 0; i < c.count; i++) {
    s.send(mapped, 'hairpin');
    await sleep(c.intervalMs);
  }
  const deadline = Date.now() + (c.timeoutMs ?? 1000);
  while (Date.now() < deadline && s.raw.every((r) => r.data !== 'hairpin')) await sleep(20);
  const got = s.raw.find((r) => r.data === 'hairpin');
  s.close();
  return { mapped, received: got !== undefined, from: got?.from };
}

/** Sends the datagram "hairpin" `count` times to `target`. */
async function send(c: Extract<Command, { op: 'send' }>): Promise<{ sent: number }> {
  const s = new ProbeSocket();
  await s.bind();
  for (let i = 0; i < c.count; i++) {
    s.send(c.target, 'hairpin');
    await sleep(c.intervalMs);
  }
  s.close();
  return { sent: c.count };
}

function tcp(c: Extract<Command, { op: 'tcp' }>): Promise<{ connected: boolean; seen: string | undefined }> {
  const { address, port } = splitEndpoint(c.target);
  return new Promise((resolve) => {
    let data = '';
    const socket = connect({ host: address, port, timeout: c.timeoutMs ?? 3000 });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve({ connected: true, seen: data.trim() }));
    socket.on('timeout', () => {
      socket.destroy();
      resolve({ connected: false, seen: undefined });
    });
    socket.on('error', () => resolve({ connected: false, seen: undefined }));
  });
}

async function main(): Promise<void> {
  const command = JSON.parse(process.argv[2] ?? '{}') as Command;
  let result: unknown;
  switch (command.op) {
    case 'behaviour':
      result = await behaviour(command);
      break;
    case 'echo':
      result = await echo(command);
      break;
    case 'delayed':
      result = await delayed(command);
      break;
    case 'hairpin-owner':
      result = await hairpinOwner(command);
      break;
    case 'hairpin-self':
      result = await hairpinSelf(command);
      break;
    case 'send':
      result = await send(command);
      break;
    case 'tcp':
      result = await tcp(command);
      break;
    default:
      throw new Error(`unknown probe op ${JSON.stringify(command)}`);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`probe-client: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
