/**
 * SSDP search (UPnP Device Architecture 2.0 §1.3): an M-SEARCH request multicast to
 * 239.255.255.250:1900 and the unicast HTTPU responses devices send back. The response's LOCATION
 * is the device description URL; we accept it only when it points at the very host that answered
 * (a device cannot send us to fetch from a third party) and is plain http.
 */
import type { Address } from '../../transport/api.js';
import { normalizeHost } from '../stun/address.js';
import { PortmapError, PortmapErrorCode } from './errors.js';
import { parseHead } from './http.js';

export const SSDP_MULTICAST: Address = { host: '239.255.255.250', port: 1900 };
/** Search targets for an Internet Gateway Device: v1 and v2 devices, and the two connection services. */
export const IGD_SEARCH_TARGETS = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
] as const;
/** SSDP responses are single datagrams; anything bigger is not one. */
const MAX_SSDP_RESPONSE = 2048;

/**
 * An M-SEARCH request. Multicast (no `unicastHost`): devices wait a random 0..MX seconds before
 * answering (UDA 2.0 §1.3.2), MX ≥ 1. Unicast to a known device: no MX, and it answers at once — what
 * we send to the default gateway so that a mapping can be had within a second.
 */
export function encodeMSearch(searchTarget: string, mxSeconds = 1, unicastHost?: string): Uint8Array {
  const host = unicastHost === undefined ? '239.255.255.250:1900' : `${unicastHost}:1900`;
  const mx = unicastHost === undefined ? `MX: ${mxSeconds}\r\n` : '';
  return new TextEncoder().encode(
    `M-SEARCH * HTTP/1.1\r\nHOST: ${host}\r\nMAN: "ssdp:discover"\r\n${mx}ST: ${searchTarget}\r\n\r\n`,
  );
}

export interface SsdpResponse {
  /** Description URL, checked to be http on the responder's own address. */
  readonly location: URL;
  readonly searchTarget: string;
  readonly server: string | undefined;
}

/** Decodes an M-SEARCH response from `from`; a PortmapError when it is not one we can use. */
export function decodeSsdpResponse(datagram: Uint8Array, from: Address): SsdpResponse | PortmapError {
  if (datagram.length > MAX_SSDP_RESPONSE) {
    return new PortmapError(PortmapErrorCode.Http, `SSDP response of ${datagram.length} bytes`);
  }
  const text = new TextDecoder('latin1').decode(datagram);
  const headEnd = text.indexOf('\r\n\r\n');
  let parsed: ReturnType<typeof parseHead>;
  try {
    parsed = parseHead(headEnd < 0 ? text.replace(/\r\n$/, '') : text.slice(0, headEnd));
  } catch (error) {
    return error as PortmapError;
  }
  if (parsed.status !== 200) return new PortmapError(PortmapErrorCode.Http, `SSDP response status ${parsed.status}`);
  const location = parsed.headers.get('location');
  if (location === undefined) return new PortmapError(PortmapErrorCode.Http, 'SSDP response without LOCATION');
  const url = sameHostUrl(location, undefined, from.host);
  if (url instanceof PortmapError) return url;
  return { location: url, searchTarget: parsed.headers.get('st') ?? '', server: parsed.headers.get('server') };
}

/**
 * Resolves `text` (relative to `base`) and checks it is an http URL on `host` (an IP literal) with
 * an explicit or default port. Returns the URL or a PortmapError(ForeignUrl).
 */
export function sameHostUrl(text: string, base: URL | undefined, host: string): URL | PortmapError {
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    return new PortmapError(PortmapErrorCode.ForeignUrl, `not a URL: ${JSON.stringify(text.slice(0, 120))}`);
  }
  const urlHost = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (url.protocol !== 'http:' || normalizeHost(urlHost) !== normalizeHost(host) || url.username || url.password) {
    return new PortmapError(
      PortmapErrorCode.ForeignUrl,
      `URL ${url.href.slice(0, 120)} does not point at ${host} over http`,
    );
  }
  return url;
}
