/** STUN (RFC 8489) and NAT behaviour discovery (RFC 5780): sans-IO codec, client, server and tests. */
export * from './errors.js';
export * from './address.js';
export * from './attributes.js';
export * from './integrity.js';
export * from './message.js';
export * from './transaction.js';
export * from './binding-client.js';
export * from './rate-limit.js';
export * from './server-core.js';
export * from './nat-discovery.js';
export * from './lifetime-probe.js';
