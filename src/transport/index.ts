/**
 * The transport layer: a sans-IO connection core (streams, flow control, recovery, congestion
 * control, pacing, liveness) and the endpoint that routes datagrams to connections. spec/transport.md
 * describes the state machine, timers and defaults.
 */
export * from './api.js';
export { TransportEndpoint, createTransportEndpoint, type TransportEndpointOptions } from './endpoint.js';
export { TransportConnection } from './connection.js';
export { DEFAULT_TRANSPORT_CONFIG, resolveConfig, type TransportConfig } from './config.js';
export { TransportError, TransportErrorCode, TransportErrorName, transportErrorName } from './errors.js';
export type {
  CongestionController,
  CongestionControllerFactory,
  CongestionControllerOptions,
  AckSample,
} from './congestion/controller.js';
export { Ledbat, ledbatFactory } from './congestion/ledbat.js';
export { NewReno, newRenoFactory } from './congestion/new-reno.js';
