/** What every port-mapping client core reports through `pollEvent()` (NAT-PMP, PCP and UPnP IGD alike). */
import type { Address } from '../../transport/api.js';
import { checkUint, type PortmapError } from './errors.js';

export type PortmapProtocol = 'pcp' | 'nat-pmp' | 'upnp';

/** A mapping the gateway granted: datagrams to `external` reach our `internalPort`. */
export interface Mapping {
  readonly protocol: PortmapProtocol;
  readonly external: Address;
  readonly internalPort: number;
  /** Lifetime we count with (the granted one, bounded by our maximum); 0 = permanent (UPnP only). */
  readonly lifetimeS: number;
  /** When (caller's clock, ms) the mapping ends unless renewed; Infinity for a permanent one. */
  readonly expiresAt: number;
}

export type MappingEvent =
  /** The gateway speaks this protocol (UPnP: found by SSDP, external address known). */
  | {
      readonly type: 'answered';
      readonly protocol: PortmapProtocol;
      readonly gateway: string;
      readonly external: string | undefined;
    }
  /** Granted or renewed; `changed` when the external address or port differs from the last grant. */
  | { readonly type: 'mapped'; readonly mapping: Mapping; readonly changed: boolean }
  /** A mapping we held is gone (expired unrenewed, gateway restart) — until the next `mapped`. */
  | { readonly type: 'lost'; readonly reason: PortmapError }
  /** An attempt ended without a mapping (timeout, refusal); `retryAt` is when the core tries again. */
  | { readonly type: 'failed'; readonly error: PortmapError; readonly retryAt: number }
  /** A reply we dropped, and why (wrong nonce, another port, truncated, ...). Nothing was trusted. */
  | { readonly type: 'ignored'; readonly reason: PortmapError }
  /** The gateway's epoch shows it restarted (RFC 6887 §8.5, RFC 6886 §3.6); we are remapping. */
  | { readonly type: 'gateway-restarted'; readonly epoch: number }
  /** `unmap()` finished: `confirmed` false when the gateway never acknowledged the deletion. */
  | { readonly type: 'unmapped'; readonly confirmed: boolean };

/** Bounds every core applies to what it asks for and what it believes. */
export interface LifetimeBounds {
  /** Lifetime we request, s (RFC 6886 §3.3 recommends 7200). */
  readonly requestS: number;
  /** Longest lifetime we believe, s: a gateway granting more is renewed as if it granted this. */
  readonly maxS: number;
}

export const DEFAULT_LIFETIME: LifetimeBounds = { requestS: 7200, maxS: 7200 };

/** Complete, checked bounds: maxS defaults to max(requestS, 7200) and may not be below requestS. */
export function lifetimeBounds(partial: Partial<LifetimeBounds> = {}): LifetimeBounds {
  const requestS = partial.requestS ?? DEFAULT_LIFETIME.requestS;
  const maxS = partial.maxS ?? Math.max(requestS, DEFAULT_LIFETIME.maxS);
  checkUint('requested lifetime', requestS, 1, 0xffffffff);
  checkUint('maximum lifetime', maxS, requestS, 0xffffffff);
  return { requestS, maxS };
}

/** Shortest renewal interval, ms: a gateway granting 1 s lifetimes cannot make us spin. */
export const MIN_RENEW_INTERVAL_MS = 500;

/** Renewal time for a grant of `lifetimeS` received at `now` (RFC 6887 §11.2.1: at half the lifetime). */
export function renewalTime(now: number, lifetimeS: number): number {
  return now + Math.max(MIN_RENEW_INTERVAL_MS, (lifetimeS * 1000) / 2);
}

/** true for an address nobody can send to: unspecified, multicast, broadcast, loopback. */
export function unusableExternalHost(host: string): boolean {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) {
    const first = Number(v4[1]);
    return host === '0.0.0.0' || host === '255.255.255.255' || first === 127 || (first >= 224 && first <= 239);
  }
  const lower = host.toLowerCase();
  return lower === '::' || lower === '::1' || lower.startsWith('ff');
}
