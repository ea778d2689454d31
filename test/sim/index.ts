/** The one deterministic network simulator (issue #4 item 6). See network.ts for a setup example. */
export { SimRandom } from './random.js';
export { Link, emptyLinkStats, validateLinkConfig } from './link.js';
export type { BurstLossConfig, LinkConfig, LinkDelivery, LinkDropReason, LinkOutcome, LinkStats } from './link.js';
export { DEFAULT_LINK, SimDriverError, SimNetwork, SimStallError, addressKey, withReproduction } from './network.js';
export { impairedLink, simSeed } from './arbitraries.js';
export type { ImpairmentLimits } from './arbitraries.js';
export type {
  DatagramSink,
  EndpointOptions,
  Middlebox,
  NetworkStats,
  RunLimits,
  SimDatagram,
  SimNetworkOptions,
} from './network.js';
