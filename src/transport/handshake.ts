/**
 * The Noise handshake of one connection over long-header packets (spec/transport.md §3):
 *   client → Initial   [pattern id][Noise msg 1 (transport parameters)]   padded to ≥ 1200 bytes
 *   server → Handshake [pattern id][Noise msg 2 (transport parameters)]
 *   client → Handshake [pattern id][Noise msg 3]                          (XX only)
 * This module owns the Noise state, the last flight (the datagram this side may have to repeat) and its
 * backed-off retransmission: the client repeats its last message until the handshake is confirmed (IK:
 * msg 2 read; XX: a short-header packet from the server authenticated); the server answers a repeated
 * Initial with its stored msg 2. The payload framing is crypto/handshake-payload.ts, the header
 * wire/headers.ts; the connection decides what the results mean.
 */
import { decodeHandshakePayload, encodeHandshakePayload, headerBinding } from '../crypto/handshake-payload.js';
import type { KeyPair } from '../crypto/keys.js';
import { HandshakeState } from '../crypto/noise/handshake-state.js';
import type { PatternDefinition } from '../crypto/noise/patterns.js';
import { makePrologue } from '../crypto/prologue.js';
import { padDatagram, writeLongHeader } from '../wire/headers.js';
import { LongPacketType, MIN_INITIAL_DATAGRAM_SIZE, PROTOCOL_VERSION, type LongHeader } from '../wire/types.js';
import type { Address, RandomSource } from './api.js';
import type { Path } from './path.js';
import { protocolError, TransportErrorCode } from './errors.js';
import type { RttEstimator } from './recovery/rtt-estimator.js';

/** Longest wait between handshake retransmissions (ms). */
const MAX_HANDSHAKE_INTERVAL_MS = 2000;
/** Cap on how many times the handshake retransmission timer backs off. */
const MAX_HANDSHAKE_BACKOFF = 6;
const NO_TOKEN = new Uint8Array(0);
const NO_PAYLOAD = new Uint8Array(0);

/** What a Handshake packet from the peer brought. */
export type PeerMessage =
  /** The peer's next Noise message was read: its payload (the peer's transport parameters, or empty). */
  | Uint8Array
  /** Not a message we wait for: a repeat of the peer's last one (our answer may have been lost). */
  | 'repeat'
  /** Unreadable, forged or of another pattern: dropped, nothing changed. */
  | null;

export interface HandshakeTiming {
  readonly rtt: RttEstimator;
  readonly initialRttMs: number;
}

export class ConnectionHandshake {
  private noise: HandshakeState | null;
  readonly pattern: PatternDefinition;
  /** The last flight, sent again on a timer or when the peer repeats itself. */
  private flight: Uint8Array | null = null;
  private flightPending = false;
  private retransmitAtValue = Infinity;
  private backoff = 0;
  private confirmedValue = false;
  /** What the flight was built from, so a Retry can rebuild the Initial with its token. */
  private flightParts: { type: LongPacketType; message: Uint8Array; dcid: Uint8Array; scid: Uint8Array } | null = null;
  private retried = false;

  private constructor(
    noise: HandshakeState,
    private readonly timing: HandshakeTiming,
  ) {
    this.noise = noise;
    this.pattern = noise.pattern;
  }

  /** Client: IK when the peer's key is known, XX to learn it. */
  static initiator(
    keyPair: KeyPair,
    random: RandomSource,
    options: { remotePublicKey?: Uint8Array; psk?: Uint8Array },
    timing: HandshakeTiming,
  ): ConnectionHandshake {
    const noise = HandshakeState.initiator({
      pattern: options.remotePublicKey !== undefined ? 'IK' : 'XX',
      staticKeyPair: keyPair,
      ...(options.remotePublicKey !== undefined ? { remoteStaticKey: options.remotePublicKey } : {}),
      ...(options.psk !== undefined ? { psk: options.psk } : {}),
      prologue: makePrologue(),
      random,
    });
    return new ConnectionHandshake(noise, timing);
  }

  /**
   * Server: reads msg 1 from a client's Initial (its header bound, see headerBinding) and returns the
   * handshake with the client's transport parameters. Throws when the Initial is not acceptable
   * (unknown pattern, psk required).
   */
  static responder(
    initial: LongHeader,
    keyPair: KeyPair,
    random: RandomSource,
    psk: Uint8Array | undefined,
    timing: HandshakeTiming,
  ): { handshake: ConnectionHandshake; peerParameters: Uint8Array } {
    let decoded: ReturnType<typeof decodeHandshakePayload>;
    try {
      decoded = decodeHandshakePayload(initial.payload);
    } catch (e) {
      throw protocolError(TransportErrorCode.HANDSHAKE_FAILED, (e as Error).message);
    }
    const pattern = decoded.pattern;
    if (pattern.usesPsk && psk === undefined) throw protocolError(TransportErrorCode.HANDSHAKE_FAILED, 'psk required');
    const noise = HandshakeState.responder({
      pattern: pattern.responderStaticPremessage ? 'IK' : 'XX',
      staticKeyPair: keyPair,
      ...(pattern.usesPsk && psk !== undefined ? { psk } : {}),
      prologue: makePrologue(),
      random,
    });
    if (noise.pattern.id !== pattern.id) throw protocolError(TransportErrorCode.HANDSHAKE_FAILED, 'pattern mismatch');
    const peerParameters = noise.readMessage(decoded.message, bindingOf(initial));
    return { handshake: new ConnectionHandshake(noise, timing), peerParameters };
  }

  get isComplete(): boolean {
    return this.noise === null || this.noise.isComplete;
  }
  get isMyTurn(): boolean {
    return this.noise?.isMyTurn ?? false;
  }
  /** The peer proved it holds the keys: no more repeats. */
  get confirmed(): boolean {
    return this.confirmedValue;
  }
  get retransmitAt(): number {
    return this.retransmitAtValue;
  }
  get hasFlight(): boolean {
    return this.flight !== null;
  }

  /** Writes our next Noise message with `payload`, bound to its header, and makes it the flight. */
  writeFlight(type: LongPacketType, payload: Uint8Array, dcid: Uint8Array, scid: Uint8Array, now: number): void {
    const binding = headerBinding(type, PROTOCOL_VERSION, dcid, scid);
    const message = encodeHandshakePayload(this.pattern, (this.noise as HandshakeState).writeMessage(payload, binding));
    this.flightParts = { type, message, dcid, scid };
    this.buildFlight(type, message, dcid, scid, NO_TOKEN, now);
  }

  /**
   * Client: the server asked for address validation (RFC 9000 §8.1.2, §17.2.5.2). The Initial is sent
   * again at once, unchanged but for the token. Only one Retry counts, and only while the Initial is
   * our flight (an off-path attacker would have to guess our 8-byte connection ID to send one).
   */
  acceptRetry(token: Uint8Array, now: number): boolean {
    const parts = this.flightParts;
    if (this.retried || parts === null || parts.type !== LongPacketType.Initial || this.flight === null) return false;
    this.retried = true;
    this.buildFlight(parts.type, parts.message, parts.dcid, parts.scid, Uint8Array.from(token), now);
    return true;
  }

  private buildFlight(
    type: LongPacketType,
    message: Uint8Array,
    dcid: Uint8Array,
    scid: Uint8Array,
    token: Uint8Array,
    now: number,
  ): void {
    const buf = new Uint8Array(Math.max(MIN_INITIAL_DATAGRAM_SIZE, message.length + token.length + 64));
    let o = writeLongHeader(buf, 0, type, dcid, scid, token, message.length);
    buf.set(message, o);
    o += message.length;
    if (type === LongPacketType.Initial) o = padDatagram(buf, o, MIN_INITIAL_DATAGRAM_SIZE);
    this.flight = buf.subarray(0, o);
    this.flightPending = true;
    this.backoff = 0;
    this.retransmitAtValue = now + this.retransmitPeriod();
  }

  /** The server answers repeated Initials instead of repeating on a timer. */
  stopTimer(): void {
    this.retransmitAtValue = Infinity;
  }

  /** Nothing more to send: the peer's message was the last one. */
  dropFlight(): void {
    this.flight = null;
    this.flightParts = null;
    this.retransmitAtValue = Infinity;
  }

  /** Sends the flight again at the next pollTransmit (the peer repeated itself). */
  repeatFlight(): void {
    if (!this.confirmedValue && this.flight !== null) this.flightPending = true;
  }

  /** The flight, when it is due to be sent; call flightSent() once it went out. */
  get dueFlight(): Uint8Array | null {
    return this.flightPending ? this.flight : null;
  }

  flightSent(): void {
    this.flightPending = false;
  }

  /**
   * A long-header packet routed to the connection while it is not closing, from `from`; `path` is
   * the active path (what the peer sent on it adds to its anti-amplification budget, RFC 9000 §8).
   * Returns the peer's next Noise message when the packet carried it (client: msg 2 with the
   * server's transport parameters; XX server: msg 3, empty): the connection applies it, then calls
   * answer(). Everything else (a repeat, a Retry, an unreadable packet) is handled here: null. The
   * handshake calls nothing of the connection's, so the connection exposes nothing for it.
   */
  receive(header: LongHeader, from: Address, path: Path, now: number, isClient: boolean): Uint8Array | null {
    if (header.packetType === LongPacketType.Initial) {
      // Server: a repeated Initial means our msg 2 was lost (or is late): answer it again.
      if (!isClient && !this.confirmed && this.hasFlight && path.is(from)) {
        path.onReceived(header.packetLength);
        this.repeatFlight();
      }
      return null;
    }
    if (header.packetType === LongPacketType.Retry) {
      if (isClient) this.acceptRetry(header.token, now);
      return null;
    }
    if (header.packetType !== LongPacketType.Handshake) return null;
    const message = this.readPeerMessage(header);
    if (message === null) return null;
    if (message === 'repeat') {
      if (isClient) this.repeatFlight(); // the XX client repeats msg 3
      return null;
    }
    path.onReceived(header.packetLength);
    return message;
  }

  /**
   * The connection accepted the peer's message (receive): writes our next one (XX client: msg 3,
   * to `dcid`, the server's connection ID) or, when the peer's was the last, drops the flight.
   */
  answer(dcid: Uint8Array, scid: Uint8Array, now: number): void {
    if (this.isMyTurn) this.writeFlight(LongPacketType.Handshake, NO_PAYLOAD, dcid, scid, now);
    else this.dropFlight();
  }

  /**
   * The handshake is complete and the peer already holds the keys, so it is confirmed at once: the
   * IK client (it read msg 2, the server's last) and the XX server (it read msg 3). Else the peer
   * proves it with its first short-header packet.
   */
  confirmedOnCompletion(isClient: boolean): boolean {
    return this.isComplete && (!isClient || this.pattern.responderStaticPremessage);
  }

  /** Reads the peer's next message from a Handshake packet (its header bound, see headerBinding). */
  readPeerMessage(packet: LongHeader): PeerMessage {
    let decoded: ReturnType<typeof decodeHandshakePayload>;
    try {
      decoded = decodeHandshakePayload(packet.payload);
    } catch {
      return null;
    }
    if (decoded.pattern.id !== this.pattern.id) return null;
    const noise = this.noise;
    if (noise === null || noise.isMyTurn) return 'repeat';
    try {
      return noise.readMessage(decoded.message, bindingOf(packet));
    } catch {
      return null; // forged or corrupted (header included): state unchanged (crypto guarantees it)
    }
  }

  onTimeout(now: number): void {
    if (now < this.retransmitAtValue || this.flight === null) return;
    this.flightPending = true;
    this.backoff = Math.min(this.backoff + 1, MAX_HANDSHAKE_BACKOFF);
    this.retransmitAtValue = now + this.retransmitPeriod();
  }

  private retransmitPeriod(): number {
    const rtt = this.timing.rtt;
    const base = rtt.hasSample ? rtt.pto(0) : this.timing.initialRttMs * 3;
    // Exponential backoff, but at most 2 s (or one base period) between attempts, so several
    // attempts fit in the handshake timeout on a lossy path.
    return Math.min(base * 2 ** this.backoff, Math.max(base, MAX_HANDSHAKE_INTERVAL_MS));
  }

  /** The handshake completed: the traffic keys and the peer's static key; the Noise state is wiped. */
  finish(): { keys: { sendKey: Uint8Array; receiveKey: Uint8Array }; remoteStaticKey: Uint8Array | null } {
    const noise = this.noise as HandshakeState;
    const keys = noise.split();
    const remoteStaticKey = noise.remoteStaticKey;
    noise.destroy();
    this.noise = null;
    return { keys, remoteStaticKey };
  }

  confirm(): void {
    this.confirmedValue = true;
    this.flight = null;
    this.flightPending = false;
    this.retransmitAtValue = Infinity;
  }

  /**
   * The connection closed: wipe the Noise state and forget the flight — except, when `closing` (a
   * CLOSE goes out), a flight the peer may still need to read that CLOSE (RFC 9000 §10.2.3: the
   * CLOSE must reach the peer in a form it can process): one that never went out (a responder
   * closing the moment its handshake completed still owes the peer its answer), or one the peer has
   * not confirmed yet (IK server: msg 2 may have been lost). It goes out before the CLOSE when unsent,
   * and again only when the peer repeats its Initial while we are closing (repeatFlight); never on
   * a timer.
   */
  abandon(closing = false): void {
    if (!(closing && (this.flightPending || !this.confirmedValue))) {
      this.flight = null;
      this.flightPending = false;
    }
    this.flightParts = null;
    this.retransmitAtValue = Infinity;
    this.noise?.destroy();
    this.noise = null;
  }
}

function bindingOf(packet: LongHeader): Uint8Array {
  return headerBinding(packet.packetType, packet.version, packet.destinationConnectionId, packet.sourceConnectionId);
}
