/**
 * One sample for bench/portmap.ts, run inside a lab host: bind a UDP socket, time PortMapper from bind
 * to mapping, delete it (timed too), then time a STUN Binding round trip to the given server (the
 * anchor: the cheapest way to learn an external address at all). Prints one JSON line.
 *   portmap-once.ts '{"protocols":["pcp"],"stun":"192.0.2.10:3480"}'
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { PortMapper } from '../../src/node/port-mapper.js';
import { stunBinding } from '../../src/node/stun-client.js';

const config = JSON.parse(process.argv[2] ?? '{}') as { protocols?: ('pcp' | 'nat-pmp' | 'upnp')[]; stun: string };
const socket = dgram.createSocket('udp4');
await new Promise<void>((resolve) => socket.bind(0, resolve));
const bound = performance.now();
const mapper = PortMapper.open({
  socket: { port: socket.address().port, send: (data, to) => socket.send(data, to.port, to.host) },
  ...(config.protocols ? { protocols: config.protocols } : {}),
  retryAfterMs: Infinity,
});
socket.on('message', (message, from) => mapper.receive(message, from));
let reason: string | undefined;
mapper.on('unavailable', (error: Error) => {
  reason = error.message;
});
const mapping = await mapper.whenMapped(5000);
const mapMs = performance.now() - bound;
const closeStart = performance.now();
await mapper.close();
const unmapMs = performance.now() - closeStart;
socket.close();
const [host, port] = config.stun.split(':');
const stunStart = performance.now();
await stunBinding(null, { host: host ?? '', port: Number(port) }, { retransmission: { rto: 200, rc: 4, rm: 4 } });
const stunMs = performance.now() - stunStart;
process.stdout.write(`${JSON.stringify({ protocol: mapping?.protocol ?? null, mapMs, unmapMs, stunMs, reason })}\n`);
process.exit(0);
