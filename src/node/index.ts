/**
 * `punchline/node`: the Node.js binding of the transport (one UDP socket per endpoint — batched
 * sendmmsg/GSO + recvmmsg through the native add-on where it is built, node:dgram otherwise —, Node
 * Duplex streams, EventEmitter + async-iterator API in the style of node:net).
 */
export {
  Endpoint,
  Connection,
  setDefaultCoreFactory,
  type BindOptions,
  type DialOptions,
  type PeerDialOptions,
  type PeerConnectionStats,
  type OpenStreamOptions,
  type EndpointStats,
  type DatagramHandler,
  type RemoteInfo,
  type CoreFactory,
  type CoreContext,
} from './endpoint.js';
export { PunchlineStream, STREAM_CANCELLED } from './stream.js';
export { nativeUdpAvailability } from './udp/open.js';
export type { UdpBackend, UdpBackendChoice, UdpSocketStats } from './udp/udp-socket.js';
export { NodeEndpointError, NodeErrorCode, StreamAbortedError, ConnectionClosedError } from './endpoint-errors.js';
export type { ConnectionStats, CloseReason, Address } from '../transport/api.js';
export type { KeyPair } from '../crypto/keys.js';
export {
  StunClient,
  NatDiscoverySession,
  stunBinding,
  discoverNatBehaviour,
  type StunBindingResult,
  type StunCallOptions,
  type NatDiscoveryCallOptions,
} from './stun-client.js';
export { probeBindingLifetime, type LifetimeCallOptions } from './stun-lifetime.js';
export {
  RendezvousClient,
  StreamRelay,
  type RendezvousClientOptions,
  type ConnectRequest,
  type ConnectAnswer,
  type RelayAllocation,
} from './rendezvous-client.js';
export type { ConnectionPath } from './peer-link.js';
export type { PathKind } from './peer-routes.js';
export { TraversalError, TraversalErrorCode } from '../traversal/agent/errors.js';
export {
  PortMapper,
  type PortMapperOptions,
  type PortMapperSocket,
  type PortMapping,
  type ProtocolOffer,
} from './port-mapper.js';
export { checkPortMapping, type PortMappingCheck } from './port-mapping-check.js';
