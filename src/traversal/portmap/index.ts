/**
 * Port mapping on the default gateway: NAT-PMP (RFC 6886), PCP (RFC 6887) and UPnP IGD (UDA 2.0,
 * WANIPConnection / WANPPPConnection). Sans-IO cores; src/node/port-mapper.ts runs them on sockets.
 * spec/portmap.md describes the behaviour and the API.
 */
export * from './errors.js';
export * from './events.js';
export * from './epoch.js';
export * from './retransmission.js';
export * from './nat-pmp.js';
export * from './pcp.js';
export * from './gateway-mapping-client.js';
export * from './http.js';
export * from './xml.js';
export * from './ssdp.js';
export * from './igd-description.js';
export * from './soap.js';
export * from './upnp-igd-client.js';
export * from './gateway-probe.js';
export * from './verdict.js';
