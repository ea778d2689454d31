/**
 * `punchline/traversal`: what peers use to find and reach each other — STUN and NAT behaviour
 * discovery (spec/stun.md), the rendezvous protocol client (spec/rendezvous.md) and the relay
 * client side (spec/relay.md), the traversal agent (spec/traversal.md). Everything here is sans-IO; src/node binds it to sockets.
 */
export * as stun from './stun/index.js';
export * as rendezvous from './rendezvous/index.js';
export * as relay from './relay/index.js';
export * as agent from './agent/index.js';
export * as portmap from './portmap/index.js';
