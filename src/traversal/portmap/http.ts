/**
 * The HTTP/1.1 subset UPnP IGD control needs (UPnP Device Architecture 2.0 §2, §3): one request per
 * TCP connection (`Connection: close`), responses framed by Content-Length, chunked transfer coding
 * (RFC 9112 §7.1) or the end of the connection. Sans-IO: requests are built as bytes, responses are
 * fed in chunk by chunk to an `HttpResponseReader`, which refuses anything larger than its limit —
 * a gateway cannot make us buffer megabytes.
 */
import { PortmapError, PortmapErrorCode } from './errors.js';

/** Largest response (head + body) we buffer: descriptions and SOAP replies are a few KiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_HEAD_BYTES = 8 * 1024;

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-cased header names; the last value wins. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

export function encodeHttpRequest(request: HttpRequest): Uint8Array {
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new PortmapError(
        PortmapErrorCode.InvalidArgument,
        `HTTP header ${JSON.stringify(name)} contains a line break`,
      );
    }
  }
  if (!/^\/[\x21-\x7e]*$/.test(request.path)) {
    throw new PortmapError(PortmapErrorCode.InvalidArgument, `bad HTTP request path ${JSON.stringify(request.path)}`);
  }
  const body = new TextEncoder().encode(request.body ?? '');
  const hostHeader = request.host.includes(':')
    ? `[${request.host}]:${request.port}`
    : `${request.host}:${request.port}`;
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `Host: ${hostHeader}`, 'Connection: close'];
  for (const [name, value] of Object.entries(request.headers ?? {})) lines.push(`${name}: ${value}`);
  if (request.method === 'POST') lines.push(`Content-Length: ${body.length}`);
  const head = new TextEncoder().encode(`${lines.join('\r\n')}\r\n\r\n`);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/**
 * Incremental response parser. `push(chunk)` returns the response once complete, `undefined` while
 * more is needed, and throws PortmapError(Http) on anything malformed or too large; `end()` (the
 * peer closed) returns the response for close-delimited bodies and throws when it was cut short.
 */
export class HttpResponseReader {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_RESPONSE_BYTES) {}

  push(chunk: Uint8Array): HttpResponse | undefined {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      throw new PortmapError(PortmapErrorCode.Http, `HTTP response larger than ${this.maxBytes} bytes`);
    }
    this.chunks.push(chunk);
    return this.tryParse(false);
  }

  end(): HttpResponse {
    const response = this.tryParse(true);
    if (!response)
      throw new PortmapError(PortmapErrorCode.Http, 'HTTP response cut short by the end of the connection');
    return response;
  }

  private bytes(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0] as Uint8Array;
    const all = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      all.set(c, at);
      at += c.length;
    }
    this.chunks.length = 0;
    this.chunks.push(all);
    return all;
  }

  private tryParse(ended: boolean): HttpResponse | undefined {
    const data = this.bytes();
    const headEnd = indexOfHeadEnd(data);
    if (headEnd < 0) {
      if (data.length > MAX_HEAD_BYTES) throw new PortmapError(PortmapErrorCode.Http, 'HTTP response head too long');
      return undefined;
    }
    const { status, headers } = parseHead(new TextDecoder('latin1').decode(data.subarray(0, headEnd)));
    const rest = data.subarray(headEnd + 4);
    const transferEncoding = headers.get('transfer-encoding')?.toLowerCase();
    let body: Uint8Array | undefined;
    if (transferEncoding !== undefined && transferEncoding !== 'identity') {
      if (transferEncoding !== 'chunked') {
        throw new PortmapError(PortmapErrorCode.Http, `unsupported Transfer-Encoding ${transferEncoding}`);
      }
      body = dechunk(rest);
    } else if (headers.has('content-length')) {
      const text = headers.get('content-length') ?? '';
      if (!/^\d{1,9}$/.test(text)) throw new PortmapError(PortmapErrorCode.Http, `bad Content-Length ${text}`);
      const length = Number(text);
      if (length > this.maxBytes)
        throw new PortmapError(PortmapErrorCode.Http, `Content-Length ${length} over our limit`);
      if (rest.length >= length) body = rest.subarray(0, length);
    } else if (ended) {
      body = rest;
    }
    if (body === undefined) return undefined;
    return { status, headers, body: new TextDecoder().decode(body) };
  }
}

function indexOfHeadEnd(data: Uint8Array): number {
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) return i;
  }
  return -1;
}

/** Status line and headers of an HTTP/1.x response head (also SSDP's HTTPU responses). */
export function parseHead(head: string): { status: number; headers: Map<string, string> } {
  const lines = head.split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!statusLine) {
    throw new PortmapError(
      PortmapErrorCode.Http,
      `bad HTTP status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`,
    );
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new PortmapError(PortmapErrorCode.Http, `bad HTTP header line ${JSON.stringify(line.slice(0, 80))}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine[1]), headers };
}

/** Chunked body → bytes, or undefined while incomplete (RFC 9112 §7.1; extensions and trailers ignored). */
function dechunk(data: Uint8Array): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let total = 0;
  let at = 0;
  for (;;) {
    let lineEnd = -1;
    for (let i = at; i + 1 < data.length; i++) {
      if (data[i] === 13 && data[i + 1] === 10) {
        lineEnd = i;
        break;
      }
    }
    if (lineEnd < 0) return undefined;
    const sizeText = new TextDecoder('latin1').decode(data.subarray(at, lineEnd)).split(';')[0]?.trim() ?? '';
    if (!/^[0-9a-fA-F]{1,7}$/.test(sizeText))
      throw new PortmapError(PortmapErrorCode.Http, `bad chunk size ${sizeText}`);
    const size = Number.parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) break;
    if (at + size + 2 > data.length) return undefined;
    parts.push(data.subarray(at, at + size));
    total += size;
    at += size + 2;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
