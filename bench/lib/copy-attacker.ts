/**
 * The attacker of the copied-packet scenario (bench/lib/paths-scenarios.ts `startCopyAttack`): the
 * lab duplicates genuine datagrams on their way to the victim and hands the copies to this process
 * (DNAT to its port); it re-sends each copy to the victim from its own address, and counts what the
 * victim then aims at it (PATH_CHALLENGEs, anything) — RFC 9000 §9.3 allows at most 3× what it sent
 * to an address that never answered a challenge (§8.1 anti-amplification).
 *
 *   node --import tsx copy-attacker.ts <port> <victimHost> <victimPort>
 *
 * Prints `{"event":"ready"}`, then every 200 ms and on SIGTERM
 * `{"event":"counts","copiesSent":N,"copyBytes":N,"fromVictim":N,"fromVictimBytes":N}`.
 */
import dgram from 'node:dgram';

const [portText, victimHost, victimPortText] = process.argv.slice(2);
const victimPort = Number(victimPortText);
const counts = { copiesSent: 0, copyBytes: 0, fromVictim: 0, fromVictimBytes: 0 };
const socket = dgram.createSocket('udp4');
socket.on('message', (msg, from) => {
  if (from.address === victimHost && from.port === victimPort) {
    counts.fromVictim++;
    counts.fromVictimBytes += msg.length;
    return;
  }
  // A copy of a genuine datagram (its source is the real sender): re-send it as our own.
  counts.copiesSent++;
  counts.copyBytes += msg.length;
  socket.send(msg, victimPort, victimHost);
});
const report = (): void => {
  process.stdout.write(`${JSON.stringify({ event: 'counts', ...counts })}\n`);
};
setInterval(report, 200).unref();
process.on('SIGTERM', () => {
  report();
  process.exit(0);
});
socket.bind(Number(portText), () => process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`));
