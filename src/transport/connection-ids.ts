/**
 * Connection IDs of one connection after the handshake (RFC 9000 §5.1, §9.5, §19.15, §19.16), sans-IO.
 *
 * A connection ID is what the peer's packets are routed by; an observer who sees the same one on two
 * paths links them. So each side issues spare connection IDs to the other (NEW_CONNECTION_ID, each
 * with its stateless reset token), and a side that moves to a new path — active migration, or the
 * peer's address changing under it — switches to an unused one of the peer's and retires the old
 * (RETIRE_CONNECTION_ID). RFC 9000 §9.5: "An endpoint MUST NOT reuse a connection ID when sending
 * from more than one local address ... or to more than one destination address."
 *
 * `LocalConnectionIds`: the IDs this side issued (their routes in the endpoint, their reset tokens).
 * `RemoteConnectionIds`: the IDs the peer issued (one in use as destination, spares for new paths).
 *
 * The handshake's connection IDs (sequence 0) have no announced reset token (there is no
 * stateless_reset_token transport parameter in punchline). The first NEW_CONNECTION_ID batch
 * therefore carries Retire Prior To = 1: the peer moves to an ID whose token it knows right after the
 * handshake, so a stateless reset can end the connection from then on.
 *
 * Both lists are bounded by ACTIVE_CONNECTION_ID_LIMIT (RFC 9000 §18.2 active_connection_id_limit,
 * fixed in version 1 instead of negotiated).
 */
import type { RandomSource } from '../crypto/sodium.js';
import { type NewConnectionIdFrame, FrameType } from '../wire/types.js';
import { protocolError, TransportErrorCode } from './errors.js';
import { endsWithToken, RESET_TOKEN_LENGTH, resetToken } from './stateless-reset.js';

/** How many of the peer's connection IDs each side keeps active at most (RFC 9000 §5.1.1). */
export const ACTIVE_CONNECTION_ID_LIMIT = 4;
const CONNECTION_ID_BYTES = 8;

interface IssuedId {
  readonly sequence: number;
  readonly connectionId: Uint8Array;
  readonly token: Uint8Array;
  /** A NEW_CONNECTION_ID for it is owed (not sent yet, or its packet was lost). */
  pending: boolean;
}

/** A change to the endpoint's routing table: a connection ID of ours that now routes here, or no longer. */
export interface RouteChange {
  readonly kind: 'add' | 'remove';
  readonly connectionId: Uint8Array;
}

export class LocalConnectionIds {
  private readonly issued: IssuedId[] = [];
  private nextSequence = 1;
  /** Retire Prior To we announce: the first batch retires the handshake's ID (sequence 0). */
  private retirePriorTo = 1;
  private readonly routes: RouteChange[] = [];
  private handshakeId: Uint8Array | null;

  constructor(
    handshakeConnectionId: Uint8Array,
    private readonly resetKey: Uint8Array,
    private readonly random: RandomSource,
    /**
     * Whether the endpoint can route an ID to this connection (its routing key is free): an ID the
     * peer was given but that is not routed would be answered with a stateless reset carrying its own
     * token, ending the connection when the peer moves to it (RFC 9000 §10.3).
     */
    private readonly routable: (connectionId: Uint8Array) => boolean = () => true,
  ) {
    this.handshakeId = handshakeConnectionId.slice();
  }

  /** Every connection ID of ours the endpoint must route to this connection now. */
  get active(): readonly Uint8Array[] {
    const ids = this.issued.map((i) => i.connectionId);
    return this.handshakeId !== null ? [this.handshakeId, ...ids] : ids;
  }

  /** Tops the issued IDs up to the limit; each gets a NEW_CONNECTION_ID owed to the peer. */
  issue(): void {
    while (this.issued.length < ACTIVE_CONNECTION_ID_LIMIT) {
      const connectionId = new Uint8Array(CONNECTION_ID_BYTES);
      do this.random(connectionId);
      while (!this.routable(connectionId));
      const token = resetToken(this.resetKey, connectionId);
      this.issued.push({ sequence: this.nextSequence++, connectionId, token, pending: true });
      this.routes.push({ kind: 'add', connectionId });
    }
  }

  /** The next NEW_CONNECTION_ID to send, or null. */
  takeFrame(): NewConnectionIdFrame | null {
    for (const i of this.issued) {
      if (!i.pending) continue;
      i.pending = false;
      return {
        type: FrameType.NewConnectionId,
        sequence: i.sequence,
        retirePriorTo: this.retirePriorTo,
        connectionId: i.connectionId,
        resetToken: i.token,
      };
    }
    return null;
  }

  get hasPending(): boolean {
    for (const i of this.issued) if (i.pending) return true;
    return false;
  }

  /** The packet carrying NEW_CONNECTION_ID `sequence` was lost: send it again if still active. */
  onFrameLost(sequence: number): void {
    for (const i of this.issued) if (i.sequence === sequence) i.pending = true;
  }

  /**
   * RETIRE_CONNECTION_ID from the peer (RFC 9000 §19.16). `packetDestination` is the destination
   * connection ID of the packet that carried it, which it must not retire.
   */
  onRetire(sequence: number, packetDestination: Uint8Array): void {
    if (sequence >= this.nextSequence) {
      throw protocolError(
        TransportErrorCode.PROTOCOL_VIOLATION,
        `RETIRE_CONNECTION_ID ${sequence}: never issued (RFC 9000 §19.16)`,
      );
    }
    if (sequence === 0) {
      if (this.handshakeId === null) return;
      if (equal(this.handshakeId, packetDestination)) {
        throw protocolError(TransportErrorCode.PROTOCOL_VIOLATION, 'RETIRE_CONNECTION_ID of the ID it arrived on');
      }
      this.routes.push({ kind: 'remove', connectionId: this.handshakeId });
      this.handshakeId = null;
      return;
    }
    const at = this.issued.findIndex((i) => i.sequence === sequence);
    if (at < 0) return; // retired before (a repeated frame)
    const retired = this.issued[at] as IssuedId;
    if (equal(retired.connectionId, packetDestination)) {
      throw protocolError(TransportErrorCode.PROTOCOL_VIOLATION, 'RETIRE_CONNECTION_ID of the ID it arrived on');
    }
    this.issued.splice(at, 1);
    this.routes.push({ kind: 'remove', connectionId: retired.connectionId });
    this.issue(); // a replacement, so the peer always has a spare for its next path
  }

  /** The next change to the endpoint's routing table, or null. */
  pollRouteChange(): RouteChange | null {
    return this.routes.shift() ?? null;
  }
}

interface PeerId {
  readonly sequence: number;
  readonly connectionId: Uint8Array;
  readonly token: Uint8Array | null;
  /**
   * Packets were sent with it (in use, or reserved for a probed path). Only the tokens of such IDs
   * are recognised (RFC 9000 §10.3.1: "An endpoint MUST NOT check for any stateless reset tokens
   * associated with connection IDs it has not used or for connection IDs that have been retired").
   */
  used: boolean;
}

/**
 * A change to the stateless reset tokens to recognise for this connection: 'add' when an ID of the
 * peer is first used, 'remove' when a used one is retired.
 */
export interface TokenChange {
  readonly kind: 'add' | 'remove';
  readonly token: Uint8Array;
}

/** A peer's connection ID set aside for one path (RemoteConnectionIds.reserve). */
export interface ReservedId {
  readonly sequence: number;
  readonly connectionId: Uint8Array;
}

export class RemoteConnectionIds {
  /** Active IDs of the peer, including the one in use. */
  private readonly ids: PeerId[] = [];
  private current: PeerId;
  /** Sequence numbers below this were retired by the peer's Retire Prior To. */
  private retiredBelow = 0;
  /** RETIRE_CONNECTION_ID frames owed, by sequence. */
  private readonly retireOwed: number[] = [];
  private readonly tokens: TokenChange[] = [];
  /** Sequence numbers ever retired (a repeated NEW_CONNECTION_ID for one is ignored). */
  private readonly retired = new Set<number>();
  /** IDs set aside for paths being validated (reserve), by sequence number. */
  private readonly reserved = new Set<number>();

  constructor(handshakeConnectionId: Uint8Array) {
    this.current = { sequence: 0, connectionId: handshakeConnectionId.slice(), token: null, used: true };
    this.ids.push(this.current);
  }

  /** The destination connection ID to put on packets now. */
  get active(): Uint8Array {
    return this.current.connectionId;
  }

  get activeSequence(): number {
    return this.current.sequence;
  }

  /** Unused IDs of the peer: new paths available without linkability. */
  get spares(): number {
    return this.ids.length - 1;
  }

  /** NEW_CONNECTION_ID from the peer (RFC 9000 §19.15, §5.1.2). */
  onNewConnectionId(frame: NewConnectionIdFrame): void {
    const { sequence, retirePriorTo, connectionId, resetToken: token } = frame;
    const known = this.ids.find((i) => i.sequence === sequence);
    if (known !== undefined) {
      if (!equal(known.connectionId, connectionId) || (known.token !== null && !equal(known.token, token))) {
        throw protocolError(
          TransportErrorCode.PROTOCOL_VIOLATION,
          `NEW_CONNECTION_ID ${sequence} repeated with a different ID or token (RFC 9000 §19.15)`,
        );
      }
    } else if (this.ids.some((i) => equal(i.connectionId, connectionId))) {
      throw protocolError(
        TransportErrorCode.PROTOCOL_VIOLATION,
        `NEW_CONNECTION_ID ${sequence} repeats the ID of another sequence number (RFC 9000 §19.15)`,
      );
    } else if (sequence < this.retiredBelow || this.retired.has(sequence)) {
      // Already retired by an earlier Retire Prior To (RFC 9000 §19.15: retire it at once).
      this.owe(sequence);
    } else {
      const token16 = token.slice(0, RESET_TOKEN_LENGTH);
      this.ids.push({ sequence, connectionId: connectionId.slice(), token: token16, used: false });
    }
    if (retirePriorTo > this.retiredBelow) {
      this.retiredBelow = retirePriorTo;
      if (this.current.sequence < retirePriorTo) {
        // RFC 9000 §5.1.2: the peer no longer accepts the one in use: switch to the lowest active.
        const next = this.lowest();
        if (next !== null) this.current = this.use(next);
      }
      for (let k = this.ids.length - 1; k >= 0; k--) {
        const id = this.ids[k] as PeerId;
        if (id.sequence < retirePriorTo) this.drop(k);
      }
    }
    if (this.ids.length > ACTIVE_CONNECTION_ID_LIMIT) {
      throw protocolError(
        TransportErrorCode.CONNECTION_ID_LIMIT_ERROR,
        `more than ${ACTIVE_CONNECTION_ID_LIMIT} active connection IDs from the peer (RFC 9000 §5.1.1)`,
      );
    }
  }

  /**
   * A new path (RFC 9000 §9.5): switch to an unused ID of the peer and retire the one in use, so the
   * two paths cannot be linked by it. False when the peer gave no spare (then the ID stays; the
   * connection still works, only linkable).
   */
  rotate(): boolean {
    const next = this.unused();
    if (next === null) return false;
    const old = this.current;
    this.current = this.use(next);
    const at = this.ids.indexOf(old);
    if (at >= 0) this.drop(at);
    return true;
  }

  /**
   * Sets an unused ID of the peer aside for a path being validated, so that its very first packet —
   * the PATH_CHALLENGE — already carries an ID never seen on another path (RFC 9000 §9.5). Null when
   * the peer gave no spare (the probe then uses the ID in use: it works, only linkable).
   */
  reserve(): ReservedId | null {
    const id = this.unused();
    if (id === null) return null;
    this.use(id); // the probe's first PATH_CHALLENGE is sent with it
    this.reserved.add(id.sequence);
    return { sequence: id.sequence, connectionId: id.connectionId };
  }

  /**
   * The path that used reserved ID `sequence` validated and is now the active one: its ID becomes the
   * one in use and the old one is retired. False when it was retired meanwhile (Retire Prior To).
   */
  adopt(sequence: number): boolean {
    this.reserved.delete(sequence);
    const next = this.ids.find((i) => i.sequence === sequence);
    if (next === undefined) return false;
    const old = this.current;
    this.current = this.use(next);
    const at = this.ids.indexOf(old);
    if (at >= 0) this.drop(at);
    return true;
  }

  /** The path that used reserved ID `sequence` failed: the ID was seen there, so it is retired. */
  release(sequence: number): void {
    this.reserved.delete(sequence);
    const at = this.ids.findIndex((i) => i.sequence === sequence);
    if (at >= 0) this.drop(at);
  }

  /** The unused ID with the lowest sequence number (not in use, not reserved), or null. */
  private unused(): PeerId | null {
    let next: PeerId | null = null;
    for (const i of this.ids)
      if (i !== this.current && !this.reserved.has(i.sequence) && (next === null || i.sequence < next.sequence))
        next = i;
    return next;
  }

  /** The next RETIRE_CONNECTION_ID sequence to send, or -1. */
  takeRetireFrame(): number {
    return this.retireOwed.shift() ?? -1;
  }

  get hasPending(): boolean {
    return this.retireOwed.length > 0;
  }

  /** The packet carrying RETIRE_CONNECTION_ID `sequence` was lost: it is owed again. */
  onRetireLost(sequence: number): void {
    this.owe(sequence);
  }

  /** The next change to the reset tokens to recognise, or null. */
  pollTokenChange(): TokenChange | null {
    return this.tokens.shift() ?? null;
  }

  /** Token changes not polled yet (the endpoint's index of tokens is behind). */
  get hasTokenChanges(): boolean {
    return this.tokens.length > 0;
  }

  /**
   * Whether `datagram[0..length)` is a stateless reset from the peer: it ends with the token of an
   * ID of the peer's that is in use or was used, and not retired (RFC 9000 §10.3.1). This list is
   * the authority: a token stops matching the moment its ID is retired, whenever the endpoint's
   * index catches up. Constant time per token (endsWithToken).
   */
  isStatelessReset(datagram: Uint8Array, length: number): boolean {
    let hit = false;
    for (const id of this.ids)
      if (id.used && id.token !== null && endsWithToken(datagram, length, id.token)) hit = true;
    return hit;
  }

  /** Marks an ID used (packets go out with it): from now on its token is recognised. */
  private use(id: PeerId): PeerId {
    if (id.used) return id;
    id.used = true;
    if (id.token !== null) this.tokens.push({ kind: 'add', token: id.token });
    return id;
  }

  private drop(index: number): void {
    const id = this.ids[index] as PeerId;
    if (id === this.current) return; // switched away from by the caller first
    this.ids.splice(index, 1);
    if (id.used && id.token !== null) this.tokens.push({ kind: 'remove', token: id.token });
    this.owe(id.sequence);
  }

  private owe(sequence: number): void {
    this.retired.add(sequence);
    if (!this.retireOwed.includes(sequence)) this.retireOwed.push(sequence);
  }

  private lowest(): PeerId | null {
    let best: PeerId | null = null;
    for (const i of this.ids)
      if (i.sequence >= this.retiredBelow && (best === null || i.sequence < best.sequence)) best = i;
    return best;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What writes the connection-ID frames into a packet (the packet builder). */
export interface ConnectionIdFrameWriter {
  writeNewConnectionId(frame: NewConnectionIdFrame): boolean;
  writeRetireConnectionId(sequence: number): boolean;
}

/** Both lists of an established connection, and the frames they owe the peer. */
export class ConnectionIds {
  readonly local: LocalConnectionIds;
  readonly remote: RemoteConnectionIds;

  constructor(
    localHandshakeId: Uint8Array,
    remoteHandshakeId: Uint8Array,
    resetKey: Uint8Array,
    random: RandomSource,
    routable?: (connectionId: Uint8Array) => boolean,
  ) {
    this.local = new LocalConnectionIds(localHandshakeId, resetKey, random, routable);
    this.remote = new RemoteConnectionIds(remoteHandshakeId);
    this.local.issue();
  }

  get hasPending(): boolean {
    return this.local.hasPending || this.remote.hasPending;
  }

  /** RETIRE_CONNECTION_ID and NEW_CONNECTION_ID frames owed, as far as they fit. */
  writeFrames(b: ConnectionIdFrameWriter): void {
    for (let seq = this.remote.takeRetireFrame(); seq >= 0; seq = this.remote.takeRetireFrame()) {
      if (!b.writeRetireConnectionId(seq)) {
        this.remote.onRetireLost(seq);
        break;
      }
    }
    for (let f = this.local.takeFrame(); f !== null; f = this.local.takeFrame()) {
      if (!b.writeNewConnectionId(f)) {
        this.local.onFrameLost(f.sequence);
        break;
      }
    }
  }
}
