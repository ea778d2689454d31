import type { CongestionController } from './congestion/controller.js';
import { CONGESTION_CONTROLLERS, createCongestionController } from './congestion/select.js';
import { TransportError, TransportErrorName } from './errors.js';
/**
 * Transport defaults and limits. Every field can be overridden per endpoint (TransportConfig is
 * partial in TransportEndpointOptions); the values below are what a connection uses otherwise.
 */
export interface TransportConfig {
  /**
   * Largest UDP payload we send. With `pathMtuDiscovery` packets start at 1200 bytes (every path
   * carries them) and grow up to this as probes confirm the path carries more (RFC 8899); without,
   * every packet may be this large. 1452 fits a 1500-byte MTU over IPv6 and IPv4.
   */
  readonly maxUdpPayloadSize: number;
  /** DPLPMTUD (RFC 8899): find the largest size up to maxUdpPayloadSize the path carries. */
  readonly pathMtuDiscovery: boolean;
  /** Idle timeout we propose (ms); the negotiated value is the smaller non-zero of both sides. 0 = none. */
  readonly idleTimeoutMs: number;
  /** PING after this long without sending an ack-eliciting packet (ms), below NATs' ~30 s UDP timeout. 0 = off. */
  readonly keepAliveIntervalMs: number;
  /** Give up a handshake after this long (ms). */
  readonly handshakeTimeoutMs: number;
  /** Our max_ack_delay (ms): how long we may hold an ACK for an ack-eliciting packet. */
  readonly maxAckDelayMs: number;
  /** Send an ACK after this many ack-eliciting packets (RFC 9000 §13.2.2 recommends 2). */
  readonly ackElicitingThreshold: number;
  /** Initial per-stream receive window (bytes) we advertise. */
  readonly initialStreamWindow: number;
  /** Auto-tuning grows a stream's receive window up to this (bytes). */
  readonly maxStreamWindow: number;
  /** Initial connection receive window (bytes) we advertise. */
  readonly initialConnectionWindow: number;
  /** Auto-tuning grows the connection window up to this (bytes): the receive memory cap. */
  readonly maxConnectionWindow: number;
  /** Bytes a stream may buffer unacknowledged on the send side before write() accepts less. */
  readonly sendBufferSize: number;
  /** Concurrent bidirectional streams the peer may open. */
  readonly maxStreamsBidi: number;
  /** Concurrent unidirectional streams the peer may open. */
  readonly maxStreamsUni: number;
  /** Largest DATAGRAM frame payload we accept (0 disables datagrams). */
  readonly maxDatagramFrameSize: number;
  /** Outgoing datagrams queued at most; sendDatagram() returns false beyond. */
  readonly datagramSendQueueLength: number;
  /** Incoming datagrams queued for the application at most (older are dropped and counted). */
  readonly datagramReceiveQueueLength: number;
  /**
   * Congestion controller: 'ledbat++' (default, draft-irtf-iccrg-ledbat-plus-plus), 'ledbat' (plain
   * RFC 6817), 'newreno' (RFC 9002 §7); or a custom factory.
   */
  readonly congestionController:
    | import('./congestion/select.js').CongestionControllerName
    | import('./congestion/controller.js').CongestionControllerFactory;
  /** LEDBAT target queueing delay (ms), ≤ 100 (RFC 6817); LEDBAT++ recommends 60. */
  readonly ledbatTargetMs: number;
  /** LEDBAT++ periodic slowdown (yield to other LEDBAT flows to re-measure base delay). */
  readonly ledbatPeriodicSlowdown: boolean;
  /**
   * LEDBAT ALLOWED_INCREASE (RFC 6817 §2.4.2): the window is capped at flightsize + this · MSS after
   * every ACK. The RFC's SHOULD of 1 assumes a sender that transmits between any two ACKs; this core
   * takes ACKs and sends in batches (the Node adapter flushes up to 64 datagrams per event-loop turn),
   * so the default allowance covers half a batch. Measured on the 1500-MTU veth bench
   * (256 MiB, alternating runs): 1 → 0.46/0.57 Gbit/s, 32 → 0.61/0.68 Gbit/s. Unused window still
   * never grows (RFC 9002 §7.8, recovery's cwnd-limited marking).
   */
  readonly ledbatAllowedIncrease: number;
  /** Pace packets (true) or send a congestion window as one burst (false, for tests). */
  readonly pacing: boolean;
  /** Initial RTT estimate (ms) before a sample exists (RFC 9002 kInitialRtt). */
  readonly initialRttMs: number;
  /** Initial congestion window in packets. */
  readonly initialWindowPackets: number;
}

export const DEFAULT_TRANSPORT_CONFIG: TransportConfig = {
  maxUdpPayloadSize: 1452,
  pathMtuDiscovery: true,
  idleTimeoutMs: 30_000,
  keepAliveIntervalMs: 15_000,
  handshakeTimeoutMs: 10_000,
  maxAckDelayMs: 25,
  ackElicitingThreshold: 2,
  initialStreamWindow: 1 << 20,
  maxStreamWindow: 16 << 20,
  initialConnectionWindow: 3 << 19,
  maxConnectionWindow: 24 << 20,
  sendBufferSize: 4 << 20,
  maxStreamsBidi: 100,
  maxStreamsUni: 100,
  maxDatagramFrameSize: 1200,
  datagramSendQueueLength: 64,
  datagramReceiveQueueLength: 256,
  congestionController: 'ledbat++',
  ledbatTargetMs: 60,
  ledbatPeriodicSlowdown: true,
  ledbatAllowedIncrease: 32,
  pacing: true,
  initialRttMs: 333,
  initialWindowPackets: 10,
};

/** Bounds every config value must respect (checked by resolveConfig). */
const MIN_UDP_PAYLOAD_SIZE = 1200;
const MAX_UDP_PAYLOAD_SIZE = 65_527;
/** RFC 9002 kGranularity (ms). */
export const TIMER_GRANULARITY_MS = 1;
/** Most ACK ranges we remember for received packets (older gaps are forgotten). */
export const MAX_TRACKED_ACK_RANGES = 64;

export function resolveConfig(overrides: Partial<TransportConfig> | undefined): TransportConfig {
  const c: TransportConfig = { ...DEFAULT_TRANSPORT_CONFIG, ...(overrides ?? {}) };
  const bad = (what: string): never => {
    throw new TransportError(TransportErrorName.CONFIG, `invalid transport config: ${what}`);
  };
  if (!(c.maxUdpPayloadSize >= MIN_UDP_PAYLOAD_SIZE && c.maxUdpPayloadSize <= MAX_UDP_PAYLOAD_SIZE))
    bad('maxUdpPayloadSize');
  if (!(c.idleTimeoutMs >= 0)) bad('idleTimeoutMs');
  if (!(c.keepAliveIntervalMs >= 0)) bad('keepAliveIntervalMs');
  if (!(c.maxAckDelayMs >= 0 && c.maxAckDelayMs < 16384)) bad('maxAckDelayMs');
  if (!(c.ackElicitingThreshold >= 1)) bad('ackElicitingThreshold');
  if (!(c.initialStreamWindow > 0 && c.maxStreamWindow >= c.initialStreamWindow)) bad('stream window');
  if (!(c.initialConnectionWindow > 0 && c.maxConnectionWindow >= c.initialConnectionWindow)) bad('connection window');
  if (!(c.sendBufferSize > 0)) bad('sendBufferSize');
  if (!(c.ledbatTargetMs > 0 && c.ledbatTargetMs <= 100)) bad('ledbatTargetMs (RFC 6817: ≤ 100 ms)');
  if (!(c.ledbatAllowedIncrease > 0)) bad('ledbatAllowedIncrease (RFC 6817: > 0)');
  if (typeof c.congestionController !== 'function' && !Object.hasOwn(CONGESTION_CONTROLLERS, c.congestionController))
    bad(
      `congestionController '${String(c.congestionController)}' (one of ${Object.keys(CONGESTION_CONTROLLERS).join(', ')})`,
    );
  if (!(c.initialWindowPackets >= 2)) bad('initialWindowPackets');
  return c;
}

/** The congestion controller a connection with `config` uses, for datagrams of `mss` bytes. */
export function congestionControllerFor(config: TransportConfig, mss: number): CongestionController {
  const options = {
    maxDatagramSize: mss,
    initialWindowPackets: config.initialWindowPackets,
    targetDelayMs: config.ledbatTargetMs,
    periodicSlowdown: config.ledbatPeriodicSlowdown,
    allowedIncrease: config.ledbatAllowedIncrease,
  };
  return createCongestionController(config.congestionController, options);
}
