/**
 * What `send`/`receive` show (spec/transfer.md §CLI): on a TTY a progress bar on stderr (bytes,
 * rate, ETA, direct or relayed path; cli-progress), then a one-line summary; with --json, JSON
 * lines on stderr instead: `code` (sender, first), `connected`, `path` (on a change), `progress`
 * (at most 4 a second), `done`, or `error`.
 */
import cliProgress from 'cli-progress';
import type { PathKind } from './code-session.js';
import type { TransferProgress, TransferSummary } from './progress.js';

const PROGRESS_INTERVAL_MS = 250;
/**
 * The bar redraws at most 8 times a second (fps below), so it is updated no more often: an update
 * per progress call (a call per file) formatted three sizes and ran cli-progress's bookkeeping each
 * time, 80-110 ms of CPU for 10 000 calls (tsx microbenchmark, contended): a tenth of a small-file
 * transfer's CPU on each side.
 */
const BAR_INTERVAL_MS = 125;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

function describePath(path: PathKind): string {
  return path === 'direct' ? 'direct' : path === 'relay-udp' ? 'relayed over UDP' : 'relayed over the server stream';
}

export interface ReporterOptions {
  readonly json: boolean;
  /** 'sent' or 'received', for the summary line. */
  readonly verb: string;
  readonly out?: NodeJS.WriteStream;
}

export class TransferReporter {
  private readonly json: boolean;
  private readonly verb: string;
  private readonly out: NodeJS.WriteStream;
  private readonly tty: boolean;
  private bar: cliProgress.SingleBar | null = null;
  private path: PathKind = 'direct';
  private lastEmit = 0;
  private started = 0;
  private startBytes = 0;

  constructor(options: ReporterOptions) {
    this.json = options.json;
    this.verb = options.verb;
    this.out = options.out ?? process.stderr;
    this.tty = !this.json && this.out.isTTY === true;
  }

  event(record: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify(record)}\n`);
  }

  line(text: string): void {
    if (!this.json) this.out.write(`${text}\n`);
  }

  connected(path: PathKind): void {
    this.path = path;
    if (this.json) this.event({ event: 'connected', path });
    else this.line(`connected (${describePath(path)})`);
  }

  /** The connection moved (relay → direct, or back). */
  pathChanged(path: PathKind): void {
    if (path === this.path) return;
    this.path = path;
    if (this.json) this.event({ event: 'path', path });
    else if (!this.tty) this.line(`path: ${describePath(path)}`);
  }

  progress(p: TransferProgress): void {
    const now = performance.now();
    if (this.started === 0) {
      this.started = now;
      this.startBytes = p.bytes - p.bytesTransferred;
    }
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? p.bytesTransferred / elapsed : 0;
    const left = p.totalBytes - p.bytes;
    const eta = rate > 0 ? left / rate : null;
    if (this.tty) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          {
            format: '{bar} {percentage}% | {done} / {all} | {rate}/s | ETA {eta_text} | {path}',
            stream: this.out,
            hideCursor: true,
            barsize: 28,
            etaBuffer: 50,
            fps: 8,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(Math.max(1, p.totalBytes), this.startBytes, this.payload(p, rate, eta));
      } else if (now - this.lastEmit < BAR_INTERVAL_MS && p.bytes < p.totalBytes) return;
      this.lastEmit = now;
      this.bar.update(p.bytes, this.payload(p, rate, eta));
      return;
    }
    if (!this.json || now - this.lastEmit < PROGRESS_INTERVAL_MS) return;
    this.lastEmit = now;
    this.event({
      event: 'progress',
      bytes: p.bytes,
      totalBytes: p.totalBytes,
      bytesTransferred: p.bytesTransferred,
      rate: Math.round(rate),
      etaSeconds: eta === null ? null : Math.round(eta * 10) / 10,
      path: this.path,
    });
  }

  done(summary: TransferSummary & { path: PathKind }): void {
    this.bar?.stop();
    this.bar = null;
    if (this.json) {
      this.event({
        event: 'done',
        files: summary.files,
        bytes: summary.bytes,
        bytesTransferred: summary.bytesTransferred,
        path: summary.path,
        seconds: Math.round(summary.seconds * 1000) / 1000,
      });
      return;
    }
    const rate = summary.seconds > 0 ? summary.bytesTransferred / summary.seconds : 0;
    const resumed =
      summary.bytesTransferred === summary.bytes ? '' : ` (${formatBytes(summary.bytesTransferred)} over the network)`;
    this.line(
      `${this.verb} ${summary.files} file${summary.files === 1 ? '' : 's'}, ${formatBytes(summary.bytes)}${resumed} ` +
        `in ${summary.seconds.toFixed(1)} s, ${formatBytes(rate)}/s, ${describePath(summary.path)}`,
    );
  }

  error(command: string, error: { code?: string; message: string }): void {
    this.bar?.stop();
    this.bar = null;
    if (this.json) this.event({ event: 'error', code: error.code ?? 'ERR_PUNCHLINE', message: error.message });
    else this.out.write(`punchline ${command}: ${error.message}${error.code ? ` (${error.code})` : ''}\n`);
  }

  private payload(p: TransferProgress, rate: number, eta: number | null): Record<string, string> {
    return {
      done: formatBytes(p.bytes),
      all: formatBytes(p.totalBytes),
      rate: formatBytes(rate),
      eta_text:
        eta === null ? '--' : eta < 60 ? `${Math.ceil(eta)}s` : `${Math.floor(eta / 60)}m${Math.ceil(eta % 60)}s`,
      path: describePath(this.path),
    };
  }
}
