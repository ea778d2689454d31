/**
 * Prometheus text exposition (https://prometheus.io/docs/instrumenting/exposition_formats/, format
 * 0.0.4) of the server's counters. The cores keep plain counters; this renders them on scrape.
 */
import { DatagramKind } from '../wire/types.js';
import type { RendezvousStats } from './rendezvous-core.js';

export interface AdapterCounters {
  readonly udpDatagramsReceived: Readonly<Record<string, number>>;
  readonly udpBytesReceived: number;
  readonly udpBytesSent: number;
  readonly udpSendErrors: number;
  readonly adapterDrops: Readonly<Record<string, number>>;
  readonly streamRelayBytes: number;
  readonly sessionsAccepted: number;
}

/** The adapter's counters, all zero: one per datagram kind, one per reason a drop happens. */
export function newAdapterCounters(): {
  udpDatagramsReceived: Record<string, number>;
  udpBytesReceived: number;
  udpBytesSent: number;
  udpSendErrors: number;
  adapterDrops: Record<string, number>;
  streamRelayBytes: number;
  sessionsAccepted: number;
} {
  return {
    udpDatagramsReceived: Object.fromEntries(Object.values(DatagramKind).map((k) => [k, 0])) as Record<string, number>,
    udpBytesReceived: 0,
    udpBytesSent: 0,
    udpSendErrors: 0,
    adapterDrops: {
      'udp-unknown': 0,
      'stream-backlog': 0,
      'control-backlog': 0,
      'bad-stream': 0,
      'frame-oversize': 0,
      'server-full': 0,
    } as Record<string, number>,
    streamRelayBytes: 0,
    sessionsAccepted: 0,
  };
}

export interface MetricsSnapshot {
  readonly rendezvous: RendezvousStats;
  readonly adapter: AdapterCounters;
  readonly stun: Readonly<Record<string, number>> | null;
  readonly messagesPerSecond: number;
  readonly uptimeSeconds: number;
  readonly residentMemoryBytes: number;
  readonly heapUsedBytes: number;
  /** Event-loop delay percentiles since the last scrape, seconds. */
  readonly eventLoopDelayP50: number;
  readonly eventLoopDelayP99: number;
  readonly eventLoopDelayMax: number;
}

type Sample = readonly [labels: Record<string, string>, value: number];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function family(
  out: string[],
  name: string,
  type: 'counter' | 'gauge',
  help: string,
  samples: readonly Sample[],
): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) {
    const l = Object.entries(labels);
    const text = l.length === 0 ? '' : `{${l.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
    out.push(`${name}${text} ${Number.isFinite(value) ? value : 0}`);
  }
}

export function renderMetrics(s: MetricsSnapshot): string {
  const out: string[] = [];
  const r = s.rendezvous;
  family(out, 'punchline_peers_online', 'gauge', 'Registered peers with a live session.', [[{}, r.peersOnline]]);
  family(out, 'punchline_sessions', 'gauge', 'Open rendezvous sessions (registered or not).', [[{}, r.sessions]]);
  family(out, 'punchline_sessions_accepted_total', 'counter', 'WebTransport sessions accepted.', [
    [{}, s.adapter.sessionsAccepted],
  ]);
  family(out, 'punchline_registrations_total', 'counter', 'Successful registrations.', [[{}, r.registrations]]);
  family(out, 'punchline_messages_received_total', 'counter', 'Rendezvous messages received.', [
    [{}, r.messagesReceived],
  ]);
  family(out, 'punchline_messages_sent_total', 'counter', 'Rendezvous messages sent.', [[{}, r.messagesSent]]);
  family(out, 'punchline_messages_per_second', 'gauge', 'Rendezvous messages received per second (10 s window).', [
    [{}, s.messagesPerSecond],
  ]);
  family(out, 'punchline_connect_requests_total', 'counter', 'Connect requests routed.', [[{}, r.connectRequests]]);
  family(out, 'punchline_relay_allocations', 'gauge', 'Active relay allocations.', [[{}, r.relay.allocations]]);
  family(out, 'punchline_udp_presence_legs', 'gauge', 'Sessions with a UDP presence leg.', [
    [{}, r.relay.presenceLegs],
  ]);
  family(out, 'punchline_relay_bytes_total', 'counter', 'Inner datagram bytes forwarded by the relay.', [
    [{}, r.relay.relayedBytes],
  ]);
  family(out, 'punchline_relay_packets_total', 'counter', 'Inner datagrams forwarded by the relay.', [
    [{}, r.relay.relayedPackets],
  ]);
  family(out, 'punchline_relay_stream_bytes_total', 'counter', 'Relay bytes written to stream-relay legs.', [
    [{}, s.adapter.streamRelayBytes],
  ]);
  family(
    out,
    'punchline_relay_unvalidated_bytes_total',
    'counter',
    'Bytes received from / sent to unvalidated UDP addresses.',
    [
      [{ direction: 'received' }, r.relay.unvalidatedBytesReceived],
      [{ direction: 'sent' }, r.relay.unvalidatedBytesSent],
    ],
  );
  const drops: Sample[] = [
    ...Object.entries(r.drops).map(([reason, v]): Sample => [{ layer: 'rendezvous', reason }, v]),
    ...Object.entries(r.relay.drops).map(([reason, v]): Sample => [{ layer: 'relay', reason }, v]),
    ...Object.entries(s.adapter.adapterDrops).map(([reason, v]): Sample => [{ layer: 'adapter', reason }, v]),
  ];
  if (s.stun) {
    for (const [k, v] of Object.entries(s.stun))
      if (k.startsWith('dropped')) drops.push([{ layer: 'stun', reason: k.slice(7).toLowerCase() }, v]);
  }
  family(out, 'punchline_drops_total', 'counter', 'Messages and datagrams dropped, by layer and reason.', drops);
  family(
    out,
    'punchline_udp_datagrams_received_total',
    'counter',
    'Datagrams received on the UDP port, by first-byte class (spec/wire.md).',
    Object.entries(s.adapter.udpDatagramsReceived).map(([kind, v]): Sample => [{ kind }, v]),
  );
  family(out, 'punchline_udp_bytes_total', 'counter', 'Bytes on the UDP port.', [
    [{ direction: 'received' }, s.adapter.udpBytesReceived],
    [{ direction: 'sent' }, s.adapter.udpBytesSent],
  ]);
  family(out, 'punchline_udp_send_errors_total', 'counter', 'UDP send errors.', [[{}, s.adapter.udpSendErrors]]);
  if (s.stun) {
    family(out, 'punchline_stun_responses_total', 'counter', 'STUN responses sent.', [
      [{}, (s.stun['responses'] ?? 0) + (s.stun['errorResponses'] ?? 0)],
    ]);
  }
  family(out, 'process_resident_memory_bytes', 'gauge', 'Resident set size.', [[{}, s.residentMemoryBytes]]);
  family(out, 'nodejs_heap_used_bytes', 'gauge', 'V8 heap in use.', [[{}, s.heapUsedBytes]]);
  family(out, 'nodejs_eventloop_delay_seconds', 'gauge', 'Event-loop delay since the previous scrape.', [
    [{ quantile: '0.5' }, s.eventLoopDelayP50],
    [{ quantile: '0.99' }, s.eventLoopDelayP99],
    [{ quantile: '1' }, s.eventLoopDelayMax],
  ]);
  family(out, 'punchline_uptime_seconds', 'gauge', 'Seconds since the server started.', [[{}, s.uptimeSeconds]]);
  return out.join('\n') + '\n';
}

/** Sliding-window rate of a monotonically increasing counter (10 one-second buckets). */
export class RateWindow {
  private readonly samples: { t: number; v: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}

  sample(now: number, value: number): void {
    this.samples.push({ t: now, v: value });
    while (this.samples.length > 2 && now - this.samples[0]!.t > this.windowMs) this.samples.shift();
  }

  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t <= first.t) return 0;
    return ((last.v - first.v) * 1000) / (last.t - first.t);
  }
}
