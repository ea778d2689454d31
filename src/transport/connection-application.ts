/**
 * The application's commands on a connection (ConnectionHandle): each wakes the connection (the
 * endpoint schedules only the connections it knows changed: connection-schedule.ts), checks that the
 * connection is open, and hands the command to its owner: streams (streams/streams.ts), the sender's
 * DATAGRAM queue (sender.ts), path validation (path-migration.ts), the state machine
 * (connection-state.ts). Plain methods that only change memory; the adapter polls afterwards.
 *
 * The base of TransportConnection (connection.ts), which owns the parts named below; this class only
 * reads them, so the packet, frame and timer wiring stays in connection.ts.
 */
import type { TransportParameters } from '../crypto/transport-parameters.js';
import { AEAD_TAG_LENGTH, CONNECTION_ID_LENGTH } from '../wire/types.js';
import type { Address, CloseReason, ConnectionHandle, StreamRead } from './api.js';
import type { ConnectionStateMachine } from './connection-state.js';
import { TransportError, TransportErrorCode, TransportErrorName } from './errors.js';
import type { ConnectionHandshake } from './handshake.js';
import type { Liveness } from './liveness.js';
import type { PathMigration } from './path-migration.js';
import type { Paths } from './paths.js';
import type { PathMtuDiscovery } from './pmtud.js';
import type { PacketSender } from './sender.js';
import type { Streams } from './streams/streams.js';

/** Bytes of a short header with the longest packet number, plus tag: per-packet overhead bound. */
const SHORT_OVERHEAD = 1 + CONNECTION_ID_LENGTH + 4 + AEAD_TAG_LENGTH;

export abstract class ConnectionApplicationCalls {
  abstract readonly paths: Paths;
  abstract readonly streams: Streams;
  abstract readonly pmtud: PathMtuDiscovery | null;
  protected abstract readonly wake: (connection: this) => void;
  protected abstract readonly machine: ConnectionStateMachine;
  protected abstract readonly migration: PathMigration;
  protected abstract readonly sender: PacketSender;
  protected abstract readonly liveness: Liveness;
  protected abstract readonly maxSize: number;
  protected abstract handshake: ConnectionHandshake;
  protected abstract peerParams: TransportParameters | null;
  protected abstract remoteKey: Uint8Array | null;
  /** Latest `now` seen by any entry point (for calls that take no time argument). */
  protected abstract now: number;

  get state(): ConnectionHandle['state'] {
    return this.machine.reported;
  }
  get remoteAddress(): Address {
    return this.paths.active.remote;
  }
  get remotePublicKey(): Uint8Array | null {
    return this.remoteKey;
  }

  /** The peer proved it holds the traffic keys (a half-open connection until then). */
  get handshakeConfirmed(): boolean {
    return this.handshake.confirmed;
  }

  /** The connection is closed and no longer needs routing. */
  get isFinished(): boolean {
    return this.machine.kind === 'closed';
  }

  get closeReason(): CloseReason | null {
    return this.machine.reason;
  }

  private assertOpen(): void {
    if (this.machine.reported !== 'established') {
      throw new TransportError(
        TransportErrorName.CONNECTION_CLOSED,
        this.machine.kind === 'handshaking' ? 'connection is still handshaking' : 'connection is closing or closed',
        TransportErrorCode.NO_ERROR,
      );
    }
  }

  openStream(bidirectional: boolean): number {
    this.wake(this);
    this.assertOpen();
    return this.streams.open(bidirectional);
  }

  write(streamId: number, data: Uint8Array): number {
    this.wake(this);
    this.assertOpen();
    return this.streams.write(streamId, data);
  }

  finish(streamId: number): void {
    this.wake(this);
    this.assertOpen();
    this.streams.finish(streamId);
  }

  read(streamId: number, maxBytes: number = Infinity): StreamRead {
    this.wake(this);
    const closed = this.machine.kind === 'established' ? null : (this.machine.reason?.errorCode ?? 0);
    return this.streams.read(streamId, maxBytes, this.now, closed);
  }

  resetStream(streamId: number, errorCode: number): void {
    this.wake(this);
    this.assertOpen();
    this.streams.reset(streamId, errorCode);
  }

  stopSending(streamId: number, errorCode: number): void {
    this.wake(this);
    this.assertOpen();
    this.streams.stopSending(streamId, errorCode, this.now);
  }

  sendDatagram(data: Uint8Array): boolean {
    this.wake(this);
    this.assertOpen();
    if (data.length > this.maxDatagramSize()) return false;
    return this.sender.queueDatagram(data);
  }

  maxDatagramSize(): number {
    const peer = this.peerParams?.maxDatagramFrameSize ?? 0;
    if (peer === 0) return 0;
    return Math.max(0, Math.min(peer, (this.pmtud?.mtu ?? this.maxSize) - SHORT_OVERHEAD - 3));
  }

  /**
   * Validates `remote` as a new path to the peer (RFC 9000 §8.2, §9): PATH_CHALLENGE at the next
   * pollTransmit, whatever the congestion window, repeated on its own timer. When the PATH_RESPONSE
   * arrives the active path switches to `remote` ('path-changed'); when validation fails (three PTOs,
   * at least three initial PTOs, RFC 9000 §8.2.4) the connection stays on its current path
   * ('path-validation-failed').
   */
  probePath(remote: Address): void {
    this.wake(this);
    this.assertOpen();
    this.migration.startValidation(remote, true, this.now);
  }

  /** A measured NAT binding lifetime (RFC 5780 §4.6) sets the keepalive pace (liveness.ts). */
  seedKeepAlive(aliveMs: number, expiredMs: number | null): void {
    this.wake(this);
    this.liveness.seedKeepAlive(aliveMs, expiredMs);
  }

  // Close (the states and their transitions: connection-state.ts)

  close(errorCode = 0, reason = ''): void {
    this.wake(this);
    this.machine.close(this.now, errorCode, reason);
  }

  /** close() with an explicit time (the endpoint passes `now`; close() uses the last known time). */
  closeAt(now: number, errorCode = 0, reason = ''): void {
    this.wake(this);
    this.machine.close(now, errorCode, reason);
  }

  /** Aborts with a transport error code (protocol violation, endpoint shutdown). */
  closeWithError(now: number, errorCode: number, reason: string): void {
    this.machine.closeWithError(now, errorCode, reason);
  }
}
