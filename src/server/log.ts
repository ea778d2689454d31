/**
 * Structured JSON logs: one object per line with `ts` (ISO 8601), `level`, `msg` and fields.
 * Writes synchronously-enough for a server (stream.write); never throws on unserialisable fields.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createJsonLogger(
  options: { level?: LogLevel; write?: (line: string) => void; now?: () => Date } = {},
): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const now = options.now ?? (() => new Date());
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] < min) return;
    let line: string;
    try {
      line = JSON.stringify({ ts: now().toISOString(), level, msg, ...fields }, (_k, v: unknown) =>
        v instanceof Uint8Array
          ? Buffer.from(v).toString('hex')
          : v instanceof Error
            ? { name: v.name, message: v.message, code: (v as { code?: unknown }).code }
            : v,
      );
    } catch {
      line = JSON.stringify({ ts: now().toISOString(), level, msg, fields: 'unserialisable' });
    }
    write(line + '\n');
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
