/** Rendezvous protocol, client side (spec/rendezvous.md): schema, authentication, framing, sans-IO client core. */
export * from './errors.js';
export * from './messages.js';
export * from './auth.js';
export * from './framing.js';
export * from './client-core.js';
export * from './server-address.js';
