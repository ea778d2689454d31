import type { Address, RandomSource } from './api.js';
import type { PacketBuilder } from './packet-builder.js';

/** Anti-amplification factor (RFC 9000 §8.1): at most 3× the bytes received from an unvalidated address. */
export const AMPLIFICATION_FACTOR = 3;

/**
 * The network path of a connection (RFC 9000 §8, §9 basics): the remote address, whether it is
 * validated, the anti-amplification budget before that, and PATH_CHALLENGE / PATH_RESPONSE.
 * A client's first path is validated by construction (it chose the address); a server's becomes
 * validated when the handshake is confirmed. When the peer's address changes (NAT rebinding), the
 * connection follows the newest packet at once, limited by the amplification budget, and validates
 * the new address with a PATH_CHALLENGE. Full migration (new connection IDs per path, probing) is
 * milestone 8.
 */
export class Path {
  remote: Address;
  validated: boolean;
  private received = 0;
  private sent = 0;
  private challenge: Uint8Array | null = null;
  private challengePending = false;
  /** PATH_RESPONSE data owed to the peer (the latest challenge only). */
  private response: Uint8Array | null = null;
  /** Number of address changes seen. */
  migrations = 0;

  constructor(remote: Address, validated: boolean) {
    this.remote = remote;
    this.validated = validated;
  }

  onReceived(bytes: number): void {
    this.received += bytes;
  }
  onSent(bytes: number): void {
    this.sent += bytes;
  }
  /** Bytes that may still be sent to the address (Infinity once validated). */
  get budget(): number {
    return this.validated ? Infinity : AMPLIFICATION_FACTOR * this.received - this.sent;
  }
  /** Whether `bytes` more may be sent to the (possibly unvalidated) address. */
  canSend(bytes: number): boolean {
    return this.validated || this.sent + bytes <= AMPLIFICATION_FACTOR * this.received;
  }

  get hasPending(): boolean {
    return this.challengePending || this.response !== null;
  }

  /** The peer now sends from `to`: switch, and validate the new address. */
  migrate(to: Address, random: RandomSource): void {
    this.remote = { host: to.host, port: to.port };
    this.validated = false;
    this.received = 0;
    this.sent = 0;
    this.migrations++;
    const data = new Uint8Array(8);
    random(data);
    this.challenge = data;
    this.challengePending = true;
  }

  onChallenge(data: Uint8Array): void {
    this.response = data.slice();
  }

  onResponse(data: Uint8Array): void {
    const c = this.challenge;
    if (c === null || c.length !== data.length) return;
    for (let i = 0; i < c.length; i++) if (c[i] !== data[i]) return;
    this.validated = true;
    this.challenge = null;
    this.challengePending = false;
  }

  onChallengeLost(): void {
    if (this.challenge !== null && !this.validated) this.challengePending = true;
  }

  writeFrames(b: PacketBuilder): void {
    if (this.response !== null && b.writePathFrame(true, this.response)) this.response = null;
    if (this.challengePending && this.challenge !== null && b.writePathFrame(false, this.challenge))
      this.challengePending = false;
  }
}
