/**
 * IP literal ↔ bytes, for the address attributes (RFC 8489 §14.1–14.2). Text output matches what
 * node:dgram reports in rinfo.address (RFC 5952 canonical IPv6), so mapped addresses compare with ===.
 */
import type { Address } from '../../transport/api.js';
import { StunError, StunErrorCode } from './errors.js';

/** Parses a dotted-quad IPv4 literal; null if it is not one. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

/** Parses an IPv6 literal (with `::` and an optional trailing dotted quad); null if it is not one. */
export function parseIPv6(text: string): Uint8Array | null {
  if (text.length > 45 || !text.includes(':')) return null;
  let body = text;
  const lastColon = body.lastIndexOf(':');
  if (body.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4(body.slice(lastColon + 1));
    if (!v4) return null;
    const hi = ((v4[0]! << 8) | v4[1]!).toString(16);
    const lo = ((v4[2]! << 8) | v4[3]!).toString(16);
    body = `${body.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !rest) return null;
  let words: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return null;
    words = [...head, ...Array<number>(missing).fill(0), ...rest];
  } else {
    words = head;
  }
  if (words.length !== 8) return null;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Formats 4 or 16 address bytes as text (RFC 5952 for IPv6, `::ffff:a.b.c.d` for v4-mapped). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Address text → bytes (4 or 16); throws StunError for anything that is not an IP literal. */
export function ipToBytes(host: string): Uint8Array {
  const bytes = parseIPv4(host) ?? parseIPv6(host);
  if (!bytes) throw new StunError(StunErrorCode.InvalidArgument, `not an IP address literal: ${JSON.stringify(host)}`);
  return bytes;
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && normalizeHost(a.host) === normalizeHost(b.host);
}

/** Canonical text of an IP literal (e.g. `0:0::1` → `::1`); other strings unchanged. */
export function normalizeHost(host: string): string {
  const bytes = parseIPv4(host) ?? parseIPv6(host);
  return bytes ? formatIp(bytes) : host;
}

export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
