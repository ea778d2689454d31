/**
 * The lab's address plan. Only documentation ranges (RFC 5737) are used on the "internet", private
 * ranges (RFC 1918) inside sites and the shared address space 100.64.0.0/10 (RFC 6598) between a
 * carrier NAT and a home router, so nothing the lab routes can ever be mistaken for a real address.
 *
 *   192.0.2.0/24      servers: server1 = 192.0.2.10 + 192.0.2.11 (two addresses, RFC 5780),
 *                     serverN = 192.0.2.(10 * N); the internet router is 192.0.2.1
 *   203.0.113.0/24    WAN address of each site's outermost router: 203.0.113.(10 + i); router .1
 *   198.51.100.0/24   routed public LANs of `open` / `firewall` sites: a /28 per site
 *   100.64.i.0/24     carrier NAT (.1) <-> home router (.2) of `cgnat` site i
 *   192.168.(i+1).0/24  the LAN of site i: router .1, hostK = .(10 + K)
 */
import { LabError, LabErrorCode } from './errors.js';

export const INTERNET_GATEWAYS = ['192.0.2.1/24', '203.0.113.1/24'] as const;
export const SERVER_GATEWAY = '192.0.2.1';
export const SITE_WAN_GATEWAY = '203.0.113.1';

/** Maximum numbers the plan can address without leaving its ranges. */
export const MAX_SITES = 15;
export const MAX_SERVERS = 9;
export const MAX_HOSTS_PER_SITE = 200;

/** Addresses (without prefix length) of server `n` (1-based). server1 has two for RFC 5780. */
export function serverAddresses(n: number): string[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_SERVERS) {
    throw new LabError(LabErrorCode.Spec, `server number ${n} out of range 1..${MAX_SERVERS}`);
  }
  return n === 1 ? ['192.0.2.10', '192.0.2.11'] : [`192.0.2.${10 * n}`];
}

/** WAN address of the outermost router of site index `i` (0-based). */
export function siteWanAddress(i: number): string {
  checkSite(i);
  return `203.0.113.${10 + i}`;
}

/** The routed public /28 of an `open` / `firewall` site: [network/28, router address, host k address]. */
export function publicLan(i: number): { cidr: string; router: string; host: (k: number) => string } {
  checkSite(i);
  const base = 16 * (i + 1);
  return {
    cidr: `198.51.100.${base}/28`,
    router: `198.51.100.${base + 1}`,
    host: (k: number) => {
      if (k < 1 || k > 13) throw new LabError(LabErrorCode.Spec, 'a public /28 LAN holds at most 13 hosts');
      return `198.51.100.${base + 1 + k}`;
    },
  };
}

/** The private LAN of site index `i`. */
export function privateLan(i: number): { cidr: string; router: string; host: (k: number) => string } {
  checkSite(i);
  const net = `192.168.${i + 1}`;
  return {
    cidr: `${net}.0/24`,
    router: `${net}.1`,
    host: (k: number) => {
      if (k < 1 || k > MAX_HOSTS_PER_SITE) throw new LabError(LabErrorCode.Spec, `host number ${k} out of range`);
      return `${net}.${10 + k}`;
    },
  };
}

/** The carrier-NAT link of site index `i`: carrier side and home-router side (RFC 6598 space). */
export function carrierLink(i: number): { carrier: string; home: string } {
  checkSite(i);
  return { carrier: `100.64.${i}.1`, home: `100.64.${i}.2` };
}

function checkSite(i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_SITES) {
    throw new LabError(LabErrorCode.Spec, `site index ${i} out of range 0..${MAX_SITES - 1}`);
  }
}
