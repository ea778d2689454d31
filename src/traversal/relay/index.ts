/** Relay, client side (spec/relay.md): UDP relay datagrams and leg binding, stream-relay framing. */
export * from './udp-control.js';
export * from './leg-binder.js';
export * from './stream-relay.js';
