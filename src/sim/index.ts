/**
 * `punchline/sim`: the deterministic network simulator (seeded links with delay, jitter, loss, burst
 * loss, reordering, duplication, corruption, bottleneck queues and an MTU; middleboxes; a virtual
 * clock) that drives any sans-IO endpoint, so applications test their protocol under impairment.
 * See network.ts for the driving rules and README.md for a ten-line example.
 */
export { SimRandom } from './random.js';
export { Link, emptyLinkStats, validateLinkConfig } from './link.js';
export type { BurstLossConfig, LinkConfig, LinkDelivery, LinkDropReason, LinkOutcome, LinkStats } from './link.js';
export {
  DEFAULT_LINK,
  SimDriverError,
  SimError,
  SimErrorCode,
  SimNetwork,
  SimStallError,
  addressKey,
  withReproduction,
} from './network.js';
export type {
  DatagramSink,
  Middlebox,
  NetworkStats,
  RunLimits,
  SimDatagram,
  SimEndpointOptions,
  SimNetworkOptions,
} from './network.js';
export { readStream, transportPair, type TransportPair, type TransportPairOptions } from './pair.js';
