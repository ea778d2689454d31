/**
 * The server's TLS certificate over time: the one it starts with (given PEM, operator files, or a
 * self-signed one generated into the data directory) and its renewal in-process before it expires
 * (`updateCert`, no restart). Proofs bound to the previous certificate stay accepted until it expires,
 * so a client whose TLS handshake finished just before the switch still registers.
 */
import { DEFAULT_RENEW_BEFORE_MS, loadCertificateFiles, loadOrCreateSelfSigned, type TlsMaterial } from './identity.js';
import { ServerError, ServerErrorCode } from './errors.js';
import type { Logger } from './log.js';
import type { PunchlineServerOptions } from './server-options.js';

/** Shortest wait before a renewal attempt (also the retry period after a failed one). */
const MIN_RENEW_DELAY_MS = 1000;
/** setTimeout's largest delay; longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Where the next certificate comes from: generated into the data directory before the current one
 * expires, or re-read from the operator's files (renewed by certbot or the like) every `checkEveryMs`.
 */
export type CertificateSource =
  | {
      readonly kind: 'generated';
      readonly dataDir: string;
      readonly names: readonly string[];
      readonly validityMs?: number;
      readonly renewBeforeMs: number;
    }
  | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string; readonly checkEveryMs: number };

/** How often operator certificate files are checked for a renewed certificate. */
const DEFAULT_CERTIFICATE_RELOAD_MS = 10 * 60 * 1000;

/** Certificates whose hash a client's proof may cover: the current one and, until it expires, the previous. */
interface PresentedCertificate {
  readonly sha256: Uint8Array;
  readonly notAfter: Date;
}

/** What the renewal changes when the certificate does. */
export interface CertificateUser {
  /** Serves `cert` to new TLS connections. */
  updateCert(cert: string, key: string): void;
  /** The certificate hashes a client's proof may be bound to. */
  setChannelBindings(bindings: readonly Uint8Array[]): void;
}

/** The certificate in service, its predecessor while that is still valid, and the renewal timer. */
export class CertificateRenewal {
  private tls: TlsMaterial;
  private previousCertificate: PresentedCertificate | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    tls: TlsMaterial,
    private readonly renewal: CertificateSource | null,
    private readonly user: CertificateUser,
    private readonly logger: Logger,
  ) {
    this.tls = tls;
  }

  /** The certificate served to new connections. */
  get current(): TlsMaterial {
    return this.tls;
  }

  start(): void {
    this.armRenewal();
  }

  stop(): void {
    this.stopped = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
  }

  /** Drops the previous certificate's binding once it has expired (called on the server's tick). */
  expirePrevious(): void {
    if (this.previousCertificate) this.updateChannelBindings();
  }

  /**
   * Schedules the next renewal: of a generated certificate `renewBeforeMs` before it expires, of
   * certificate files `checkEveryMs` from now.
   */
  private armRenewal(delayMs?: number): void {
    const renewal = this.renewal;
    if (!renewal || this.stopped) return;
    const due = (): number =>
      renewal.kind === 'generated' ? this.tls.notAfter.getTime() - renewal.renewBeforeMs - Date.now() : 0;
    const wait =
      renewal.kind === 'files'
        ? (delayMs ?? renewal.checkEveryMs)
        : Math.min(MAX_TIMER_MS, Math.max(MIN_RENEW_DELAY_MS, delayMs ?? due()));
    this.renewTimer = setTimeout(() => {
      this.renewTimer = null;
      if (due() > MIN_RENEW_DELAY_MS) {
        this.armRenewal(); // a long wait was cut at MAX_TIMER_MS
        return;
      }
      void this.renewCertificate();
    }, wait);
    this.renewTimer.unref();
  }

  /**
   * Generates (and stores) the next certificate, serves it to new connections, and accepts proofs
   * bound to either certificate until the old one expires.
   */
  private async renewCertificate(): Promise<void> {
    const renewal = this.renewal!;
    try {
      const next =
        renewal.kind === 'files'
          ? await loadCertificateFiles(renewal.certFile, renewal.keyFile)
          : await loadOrCreateSelfSigned(renewal.dataDir, renewal.names, {
              renewBeforeMs: renewal.renewBeforeMs,
              ...(renewal.validityMs === undefined ? {} : { validityMs: renewal.validityMs }),
            });
      if (this.stopped) return;
      if (!Buffer.from(next.sha256).equals(Buffer.from(this.tls.sha256))) {
        this.user.updateCert(next.cert, next.key);
        this.previousCertificate = { sha256: this.tls.sha256, notAfter: this.tls.notAfter };
        this.tls = next;
        this.updateChannelBindings();
        this.logger.info('certificate renewed', {
          certificateSha256: Buffer.from(next.sha256).toString('hex'),
          certificateNotAfter: next.notAfter.toISOString(),
        });
      }
      this.armRenewal();
    } catch (error) {
      // Files caught half-written, a full disk...: the current certificate stays in service meanwhile.
      this.logger.error('certificate renewal failed; retrying', { error });
      this.armRenewal(renewal.kind === 'files' ? renewal.checkEveryMs : 60_000);
    }
  }

  private updateChannelBindings(): void {
    const previous = this.previousCertificate;
    if (previous && previous.notAfter.getTime() <= Date.now()) this.previousCertificate = null;
    this.user.setChannelBindings(
      this.previousCertificate ? [this.tls.sha256, this.previousCertificate.sha256] : [this.tls.sha256],
    );
  }
}

export function certificateNames(options: PunchlineServerOptions, host: string): readonly string[] {
  return (
    options.certificateNames ?? [
      'localhost',
      '127.0.0.1',
      '::1',
      ...(host === '0.0.0.0' || host === '::' ? [] : [host]),
      ...(options.publicHost && options.publicHost !== host ? [options.publicHost] : []),
    ]
  );
}

/** Where renewed certificates come from, given the server's options (null: given PEM, never renewed). */
export function certificateSource(options: PunchlineServerOptions, names: readonly string[]): CertificateSource | null {
  return options.tls === undefined
    ? {
        kind: 'generated',
        dataDir: options.dataDir!,
        names,
        renewBeforeMs: options.certificateRenewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS,
        ...(options.certificateValidityMs === undefined ? {} : { validityMs: options.certificateValidityMs }),
      }
    : 'certFile' in options.tls
      ? {
          kind: 'files',
          certFile: options.tls.certFile,
          keyFile: options.tls.keyFile,
          checkEveryMs: options.certificateReloadMs ?? DEFAULT_CERTIFICATE_RELOAD_MS,
        }
      : null;
}

export async function resolveTls(options: PunchlineServerOptions, names: readonly string[]): Promise<TlsMaterial> {
  const tls = options.tls;
  if (tls && 'certFile' in tls) return loadCertificateFiles(tls.certFile, tls.keyFile);
  if (tls) {
    const { certificateInfo, keyMatchesCertificate } = await import('./certificate.js');
    if (!keyMatchesCertificate(tls.cert, tls.key))
      throw new ServerError(ServerErrorCode.Certificate, 'the TLS key does not belong to the certificate');
    const info = certificateInfo(tls.cert);
    return {
      cert: tls.cert,
      key: tls.key,
      sha256: info.sha256,
      notAfter: info.notAfter,
      selfSigned: false,
      created: false,
    };
  }
  return loadOrCreateSelfSigned(options.dataDir!, names, {
    ...(options.certificateValidityMs === undefined ? {} : { validityMs: options.certificateValidityMs }),
    ...(options.certificateRenewBeforeMs === undefined ? {} : { renewBeforeMs: options.certificateRenewBeforeMs }),
  });
}
