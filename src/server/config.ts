/**
 * `punchline server` configuration: command-line flags override environment variables
 * (PUNCHLINE_SERVER_*), which override a JSON config file (--config / PUNCHLINE_SERVER_CONFIG),
 * which overrides defaults. Pure functions except readConfigFile.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { ServerError, ServerErrorCode } from './errors.js';
import type { LogLevel } from './log.js';
import type { RendezvousLimits } from './rendezvous-api.js';
import type { RelayLimits } from './relay-core.js';
import { DEFAULT_METRICS_PORT, DEFAULT_TLS_PORT, DEFAULT_UDP_PORT } from './server-options.js';
import { DEFAULT_RENDEZVOUS_LIMITS } from './rendezvous-api.js';
import { DEFAULT_RELAY_LIMITS } from './relay-core.js';
import type { Address } from '../transport/api.js';

export interface ServerConfig {
  readonly host: string;
  readonly udpPort: number;
  readonly port: number;
  readonly metricsHost: string;
  /** null: metrics listener disabled. */
  readonly metricsPort: number | null;
  readonly dataDir: string;
  /** Host written into the address string (default: the listen address). */
  readonly publicHost: string | null;
  /** RFC 5780 alternate address (STUN only): a second IP of this host and a port. */
  readonly alternate: Address | null;
  /** Where to write the server address string (null: nowhere). */
  readonly addressFile: string | null;
  readonly cert: string | null;
  readonly key: string | null;
  readonly logLevel: LogLevel;
  readonly stun: boolean;
  readonly limits: Partial<RendezvousLimits>;
  readonly relayLimits: Partial<RelayLimits>;
}

/** Keys accepted in flags (kebab-case), env (PUNCHLINE_SERVER_ + upper snake) and the file (camelCase). */
const SCALARS = [
  'host',
  'udpPort',
  'port',
  'metricsHost',
  'metricsPort',
  'dataDir',
  'publicHost',
  'altHost',
  'altPort',
  'addressFile',
  'cert',
  'key',
  'logLevel',
  'stun',
] as const;
type Scalar = (typeof SCALARS)[number];

export function envName(key: string): string {
  return `PUNCHLINE_SERVER_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const home = env['PUNCHLINE_HOME'];
  return join(home !== undefined && home !== '' ? home : join(homedir(), '.punchline'), 'server');
}

function bad(message: string): never {
  throw new ServerError(ServerErrorCode.Config, message);
}

function port(value: unknown, what: string, allowOff = false): number | null {
  if (allowOff && (value === 'off' || value === false || value === null)) return null;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    bad(`${what} must be a port number 0–65535${allowOff ? " or 'off'" : ''}`);
  return n;
}

function host(value: unknown, what: string): string {
  if (typeof value !== 'string' || (isIP(value) === 0 && value !== 'localhost')) bad(`${what} must be an IP address`);
  return value;
}

function limitsOf<T extends object>(value: unknown, defaults: T, what: string): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(`${what} must be an object`);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!Object.hasOwn(defaults, k)) bad(`${what}.${k} is not a known limit (${Object.keys(defaults).join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(`${what}.${k} must be a non-negative number`);
    out[k] = v;
  }
  return out as Partial<T>;
}

/** Merges the three sources (each a plain record of raw values) over the defaults and validates. */
export function resolveConfig(sources: {
  flags: Partial<Record<Scalar, string | boolean>>;
  env: NodeJS.ProcessEnv;
  file: Record<string, unknown>;
}): ServerConfig {
  const raw = (key: Scalar): unknown => sources.flags[key] ?? sources.env[envName(key)] ?? sources.file[key];
  for (const key of Object.keys(sources.file)) {
    if (!(SCALARS as readonly string[]).includes(key) && key !== 'limits' && key !== 'relayLimits')
      bad(`unknown config file key '${key}'`);
  }
  const level = (raw('logLevel') ?? 'info') as string;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) bad('logLevel must be debug, info, warn or error');
  const cert = raw('cert');
  const key = raw('key');
  if ((cert === undefined) !== (key === undefined)) bad('give both a certificate and its key, or neither');
  const stun = raw('stun');
  const altHost = raw('altHost');
  const altPort = raw('altPort');
  const publicHost = raw('publicHost');
  const addressFile = raw('addressFile');
  return {
    host: host(raw('host') ?? '127.0.0.1', 'host'),
    udpPort: port(raw('udpPort') ?? DEFAULT_UDP_PORT, 'udp-port')!,
    port: port(raw('port') ?? DEFAULT_TLS_PORT, 'port')!,
    metricsHost: host(raw('metricsHost') ?? '127.0.0.1', 'metrics-host'),
    metricsPort: port(raw('metricsPort') ?? DEFAULT_METRICS_PORT, 'metrics-port', true),
    dataDir: String(raw('dataDir') ?? defaultDataDir(sources.env)),
    publicHost: publicHost === undefined ? null : host(publicHost, 'public-host'),
    alternate:
      altHost === undefined
        ? altPort === undefined
          ? null
          : bad('alt-port needs alt-host')
        : { host: host(altHost, 'alt-host'), port: port(altPort ?? 0, 'alt-port')! },
    addressFile: addressFile === undefined || addressFile === '' ? null : String(addressFile),
    cert: cert === undefined ? null : String(cert),
    key: key === undefined ? null : String(key),
    logLevel: level as LogLevel,
    stun: !(stun === false || stun === 'false' || stun === '0' || stun === 'off'),
    limits: limitsOf(sources.file['limits'], DEFAULT_RENDEZVOUS_LIMITS, 'limits'),
    relayLimits: limitsOf(sources.file['relayLimits'], DEFAULT_RELAY_LIMITS, 'relayLimits'),
  };
}

export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ServerError(ServerErrorCode.Config, `cannot read config file ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ServerError(ServerErrorCode.Config, `config file ${path} is not valid JSON`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    bad(`config file ${path} must hold a JSON object`);
  return value as Record<string, unknown>;
}
