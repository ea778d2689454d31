/**
 * Link impairments on a router: random loss with nftables (`numgen random mod 100 < N drop`, the
 * kernel here has no netem) and a bandwidth bottleneck with htb + bfifo (a byte-limited drop-tail
 * queue, what a home router's uplink buffer looks like). Applied by build.ts on a router's `wan`
 * (upload) and inside interface (download).
 */

/** Ruleset dropping `percent` % of all forwarded packets, in both directions, before any NAT rule. */
export function lossRuleset(percent: number): string {
  const threshold = Math.round(percent);
  return `# random loss ${threshold}% on every forwarded packet (both directions)
table ip punchline_loss {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    numgen random mod 100 < ${threshold} drop
  }
}
`;
}

/** Parses a tc rate (`10mbit`, `512kbit`, `1gbit`, `100kbps`) to bits per second. */
export function rateToBitsPerSecond(rate: string): number {
  const match = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/.exec(rate);
  if (!match) throw new RangeError(`not a tc rate: ${rate}`);
  const value = Number(match[1]);
  const unit = match[2] ?? 'bit';
  const scale: Record<string, number> = {
    bit: 1,
    kbit: 1e3,
    mbit: 1e6,
    gbit: 1e9,
    bps: 8,
    kbps: 8e3,
    mbps: 8e6,
    gbps: 8e9,
  };
  return value * (scale[unit] ?? 1);
}

/** Default bottleneck queue: 100 ms worth of `rate`, at least 10 full-size packets. */
export function defaultQueueBytes(rate: string): number {
  return Math.max(15_000, Math.round(rateToBitsPerSecond(rate) / 8 / 10));
}

/** The `tc` argument lists that shape egress of `iface` in `ns` to `rate` with a bfifo of `queueBytes`. */
export function shapingCommands(ns: string, iface: string, rate: string, queueBytes: number): string[][] {
  const tc = ['tc', '-n', ns];
  return [
    [...tc, 'qdisc', 'replace', 'dev', iface, 'root', 'handle', '1:', 'htb', 'default', '10'],
    [...tc, 'class', 'add', 'dev', iface, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', rate, 'ceil', rate],
    [...tc, 'qdisc', 'add', 'dev', iface, 'parent', '1:10', 'handle', '10:', 'bfifo', 'limit', String(queueBytes)],
  ];
}
