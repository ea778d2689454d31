import type { Address, RandomSource } from './api.js';
import type { ReservedId } from './connection-ids.js';
import type { PacketBuilder } from './packet-builder.js';

/** Anti-amplification factor (RFC 9000 §8.1): at most 3× the bytes received from an unvalidated address. */
const AMPLIFICATION_FACTOR = 3;
/** Bytes of PATH_CHALLENGE / PATH_RESPONSE data (RFC 9000 §19.17). */
const PATH_CHALLENGE_LENGTH = 8;

/**
 * One network path of a connection (RFC 9000 §8, §9): the remote address, its validation by
 * PATH_CHALLENGE / PATH_RESPONSE, the anti-amplification budget until then, the RTT that validation
 * measured and the largest datagram it carries.
 *
 * An address this side chose (a client's first path, a path it probes) is not subject to the
 * amplification limit, which protects addresses that others claim (RFC 9000 §8). A client's first
 * path counts as validated (it chose the address); a server's becomes validated when the handshake
 * is confirmed.
 */
export class Path {
  readonly remote: Address;
  /** Largest UDP payload sent on this path. */
  readonly maxDatagramSize: number;
  private validatedValue: boolean;
  private readonly chosenLocally: boolean;
  private received = 0;
  private sent = 0;
  private challenge: Uint8Array | null = null;
  private challengePending = false;
  private challengeSentAt = 0;
  /** PATH_RESPONSE data owed to the peer (the latest challenge only). */
  private response: Uint8Array | null = null;
  private rtt = Number.NaN;
  /** The peer's connection ID set aside for this path (RFC 9000 §9.5); null: the one in use. */
  private reservedId: ReservedId | null = null;

  constructor(remote: Address, validated: boolean, chosenLocally: boolean, maxDatagramSize: number) {
    this.remote = { host: remote.host, port: remote.port };
    this.validatedValue = validated;
    this.chosenLocally = chosenLocally;
    this.maxDatagramSize = maxDatagramSize;
  }

  get connectionId(): ReservedId | null {
    return this.reservedId;
  }
  /** Packets to this path carry `id` (a peer's ID set aside for it) instead of the one in use. */
  useConnectionId(id: ReservedId): void {
    this.reservedId = id;
  }

  get validated(): boolean {
    return this.validatedValue;
  }
  /** Time from the latest PATH_CHALLENGE to its PATH_RESPONSE, ms (NaN until validation measured it). */
  get rttMs(): number {
    return this.rtt;
  }

  is(address: Address): boolean {
    return address.port === this.remote.port && address.host === this.remote.host;
  }

  onReceived(bytes: number): void {
    this.received += bytes;
  }
  onSent(bytes: number): void {
    this.sent += bytes;
  }
  /** Bytes that may still be sent to the address (Infinity once validated or when chosen locally). */
  get budget(): number {
    return this.validatedValue || this.chosenLocally ? Infinity : AMPLIFICATION_FACTOR * this.received - this.sent;
  }
  /** Whether `bytes` more may be sent to the (possibly unvalidated) address. */
  canSend(bytes: number): boolean {
    return this.budget >= bytes;
  }

  /** The handshake confirmed the peer at this address (RFC 9000 §8.1). */
  markValidated(): void {
    this.validatedValue = true;
  }

  /** A frame of this path is waiting (PATH_RESPONSE owed, PATH_CHALLENGE due). */
  get hasPending(): boolean {
    return this.challengePending || this.response !== null;
  }
  get challengeDue(): boolean {
    return this.challengePending;
  }

  /** Starts validation: a fresh PATH_CHALLENGE is due. */
  startChallenge(random: RandomSource): void {
    const data = new Uint8Array(PATH_CHALLENGE_LENGTH);
    random(data);
    this.challenge = data;
    this.challengePending = true;
  }

  /** The PATH_CHALLENGE is due again (lost, or its probe timer fired). */
  repeatChallenge(): void {
    if (this.challenge !== null && !this.validatedValue) this.challengePending = true;
  }

  /** Takes over a PATH_RESPONSE another path still owed (the peer's address changed meanwhile). */
  inheritResponse(from: Path): void {
    if (from.response !== null && this.response === null) this.response = from.response;
  }

  onChallenge(data: Uint8Array): void {
    this.response = data.slice();
  }

  /** A PATH_RESPONSE: true when it answers this path's challenge, which validates the path. */
  onResponse(data: Uint8Array, now: number): boolean {
    const c = this.challenge;
    if (c === null || c.length !== data.length) return false;
    for (let i = 0; i < c.length; i++) if (c[i] !== data[i]) return false;
    this.validatedValue = true;
    this.challenge = null;
    this.challengePending = false;
    this.rtt = now - this.challengeSentAt;
    return true;
  }

  /** PATH_RESPONSE owed and PATH_CHALLENGE due, as far as they fit. */
  writeFrames(b: PacketBuilder, now: number): void {
    if (this.response !== null && b.writePathFrame(true, this.response)) this.response = null;
    this.writeChallenge(b, now);
  }

  /** A probed path's PATH_CHALLENGE: not recorded for loss recovery (the probe timer repeats it). */
  writeProbeChallenge(b: PacketBuilder, now: number): void {
    if (this.challengePending && this.challenge !== null && b.writePathFrame(false, this.challenge, false)) {
      this.challengePending = false;
      this.challengeSentAt = now;
    }
  }

  private writeChallenge(b: PacketBuilder, now: number): void {
    if (this.challengePending && this.challenge !== null && b.writePathFrame(false, this.challenge)) {
      this.challengePending = false;
      this.challengeSentAt = now;
    }
  }
}
