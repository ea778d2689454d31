/**
 * Site options: UDP mapping timeout (RFC 4787 §4.3, conntrack timeout per namespace), random loss
 * (nft numgen), bandwidth limit (htb + bfifo), and the portmap profile's miniupnpd answering
 * NAT-PMP on the LAN (RFC 6886).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { probe, startProbeServer } from '../../src/lab/nat-check.js';
import { NAT_PMP_PORT } from '../../src/lab/portmap.js';
import { labAvailable, labName, reportSkip, LabGuard } from './helpers.js';

reportSkip('options.test.ts');

const TARGET = '192.0.2.10:3478';

/** Node one-liner (run inside a host) sending `hex` to host:port and printing the reply as hex. */
function udpRequest(hex: string, host: string, port: number): string[] {
  const code = `const s=require('dgram').createSocket('udp4');
s.on('message',(m)=>{console.log(m.toString('hex'));process.exit(0)});
const send=()=>s.send(Buffer.from('${hex}','hex'),${port},'${host}');send();setInterval(send,300);
setTimeout(()=>{console.log('timeout');process.exit(1)},3000)`;
  return [process.execPath, '-e', code];
}

describe.skipIf(!labAvailable)('site options', () => {
  let lab: Lab;
  const labs = new LabGuard();

  beforeAll(async () => {
    lab = await labs.track(
      Lab.up({
        name: labName('options'),
        servers: 1,
        sites: [
          { name: 'short', profile: 'easy', udpTimeout: 1 },
          { name: 'dflt', profile: 'easy' },
          { name: 'lossy', profile: 'easy', loss: 30 },
          { name: 'slow', profile: 'easy', rate: '2mbit', queueBytes: 20_000 },
          { name: 'pm', profile: 'portmap' },
        ],
      }),
    );
    await startProbeServer(lab);
  }, 60_000);

  afterAll(async () => {
    await labs.down();
  });

  it('udpTimeout: a mapping idle longer than the timeout is gone, a shorter idle keeps it', async () => {
    type Delayed = { received: boolean };
    const [kept, expired, defaultKept] = await Promise.all([
      probe<Delayed>(lab, 'short-host1', { op: 'delayed', target: TARGET, delayMs: 300 }),
      probe<Delayed>(lab, 'short-host1', { op: 'delayed', target: TARGET, delayMs: 2500 }),
      probe<Delayed>(lab, 'dflt-host1', { op: 'delayed', target: TARGET, delayMs: 2500 }),
    ]);
    expect(kept.received).toBe(true);
    expect(expired.received).toBe(false);
    expect(defaultKept.received).toBe(true);
    const sysctl = await lab.run('short-router', ['cat', '/proc/sys/net/netfilter/nf_conntrack_udp_timeout']);
    expect(sysctl.stdout.trim()).toBe('1');
    const untouched = await lab.run('dflt-router', ['cat', '/proc/sys/net/netfilter/nf_conntrack_udp_timeout']);
    expect(untouched.stdout.trim()).not.toBe('1');
  });

  it('loss: about 30 % per direction (round trip ~51 % lost)', async () => {
    type Echo = { sent: number; received: number };
    const [result, clean] = await Promise.all([
      probe<Echo>(lab, 'lossy-host1', { op: 'echo', target: TARGET, count: 200, intervalMs: 1, timeoutMs: 500 }),
      probe<Echo>(lab, 'dflt-host1', { op: 'echo', target: TARGET, count: 100, intervalMs: 1, timeoutMs: 500 }),
    ]);
    // Expected 0.7 * 0.7 * 200 = 98 replies; binomial sd ~ 7.
    expect(result.received).toBeGreaterThan(65);
    expect(result.received).toBeLessThan(135);
    expect(clean.received).toBe(100);
  });

  it('rate: htb + bfifo on both router interfaces, and a burst is limited', async () => {
    const qdiscs = await lab.run('slow-router', ['tc', 'qdisc', 'show']);
    for (const iface of ['wan', 'lan']) {
      expect(qdiscs.stdout).toMatch(new RegExp(`qdisc htb 1: dev ${iface} root`));
      expect(qdiscs.stdout).toMatch(new RegExp(`qdisc bfifo 10: dev ${iface} parent 1:10 limit 20000b`));
    }
    const classes = await lab.run('slow-router', ['tc', 'class', 'show', 'dev', 'wan']);
    expect(classes.stdout).toContain('rate 2Mbit');
    // 400 echoes of ~60 bytes in < 1 s fit 2 Mbit/s; 1200-byte datagrams would not: check the queue drops.
    const big = 'x'.repeat(1200);
    const code = `const s=require('dgram').createSocket('udp4');let got=0;
s.on('message',()=>got++);const b=Buffer.from(JSON.stringify({id:'b',op:'echo',pad:'${big}'}));
for(let i=0;i<200;i++)s.send(b,3478,'192.0.2.10');setTimeout(()=>{console.log(got);process.exit(0)},1500)`;
    const burst = await lab.run('slow-host1', [process.execPath, '-e', code]);
    const received = Number(burst.stdout.trim());
    // 200 x ~1.3 kB = 260 kB at once into a 20 kB queue at 2 Mbit/s: most are dropped, some pass.
    expect(received).toBeGreaterThan(5);
    expect(received).toBeLessThan(100);
  });

  it('portmap: miniupnpd answers NAT-PMP on the LAN and its mappings forward inbound UDP', async () => {
    const router = lab.site('pm').router;
    // Public-address request (RFC 6886 §3.2): 12-byte reply, result 0, the router's WAN address.
    const address = (await lab.run('pm-host1', udpRequest('0000', router.inside.address, NAT_PMP_PORT))).stdout.trim();
    expect(address).toMatch(/^[0-9a-f]{24}$/);
    expect(address.slice(0, 8)).toBe('00800000'); // version 0, opcode 128, result 0
    expect(address.slice(16)).toBe(Buffer.from(router.wan.address.split('.').map(Number)).toString('hex'));
    // UDP mapping request (RFC 6886 §3.3): internal 40000 -> suggested external 40001, 1 hour.
    const request =
      '0001' +
      '0000' +
      (40000).toString(16).padStart(4, '0') +
      (40001).toString(16).padStart(4, '0') +
      (3600).toString(16).padStart(8, '0');
    const mapping = (await lab.run('pm-host1', udpRequest(request, router.inside.address, NAT_PMP_PORT))).stdout.trim();
    expect(mapping.slice(0, 8)).toBe('00810000'); // opcode 129, result 0
    const externalPort = parseInt(mapping.slice(20, 24), 16);
    expect(externalPort).toBeGreaterThan(0);
    // Unsolicited inbound UDP from the internet now reaches the LAN host through the mapping.
    const listener = lab.spawn('pm-host1', [
      process.execPath,
      '-e',
      `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>{console.log(m.toString(),r.address);process.exit(0)});s.bind(40000,()=>console.log('bound'))`,
    ]);
    await listener.waitForLine(/^bound$/);
    const send = `const s=require('dgram').createSocket('udp4');let n=0;const t=setInterval(()=>{s.send('inbound',${externalPort},'${router.wan.address}');if(++n===5){clearInterval(t);s.close()}},100)`;
    await lab.run('server1', [process.execPath, '-e', send]);
    const line = await listener.waitForLine(/^inbound /, 5_000);
    expect(line).toBe('inbound 192.0.2.10');
  });
});
