import { FrameType, type Frame } from '../wire/types.js';
import type { TransportConnection } from './connection.js';

/**
 * One handler per frame type, one table (cf. aioquic `_handle_*_frame`). A handler validates the
 * frame against connection state and calls the connection; protocol violations throw
 * TransportError, which the connection turns into a CLOSE with the error's transport code.
 * Handlers are module-level functions: no per-packet closures.
 */
export type FrameHandler = (conn: TransportConnection, frame: Frame, now: number) => void;

function handlePadding(): void {}

function handlePing(): void {
  // Ack-eliciting only: the ACK is the answer.
}

function handleAck(conn: TransportConnection, f: Frame, now: number): void {
  if (f.type !== FrameType.Ack) return;
  conn.onAckFrame(f, now);
}

function handleResetStream(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.ResetStream) return;
  conn.onResetStreamFrame(f.streamId, f.errorCode, f.finalSize);
}

function handleStopSending(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.StopSending) return;
  conn.onStopSendingFrame(f.streamId, f.errorCode);
}

function handleStream(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.Stream) return;
  conn.onStreamFrame(f.streamId, f.offset, f.data, f.fin);
}

function handleMaxData(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.MaxData) return;
  conn.onMaxDataFrame(f.maximum);
}

function handleMaxStreamData(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.MaxStreamData) return;
  conn.onMaxStreamDataFrame(f.streamId, f.maximum);
}

function handleMaxStreams(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.MaxStreamsBidi && f.type !== FrameType.MaxStreamsUni) return;
  conn.onMaxStreamsFrame(f.type === FrameType.MaxStreamsBidi, f.maximum);
}

function handleDataBlocked(): void {
  // Informational (RFC 9000 §19.12): our window updates are driven by consumption.
}

function handleStreamDataBlocked(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.StreamDataBlocked) return;
  conn.onStreamDataBlockedFrame(f.streamId);
}

function handleNewConnectionId(): void {
  // Connection-ID rotation belongs to migration (milestone 8); extra IDs are ignored for now.
}

function handleRetireConnectionId(): void {}

function handlePathChallenge(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.PathChallenge) return;
  conn.onPathChallengeFrame(f.data);
}

function handlePathResponse(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.PathResponse) return;
  conn.onPathResponseFrame(f.data);
}

function handleClose(conn: TransportConnection, f: Frame, now: number): void {
  if (f.type !== FrameType.Close) return;
  conn.onCloseFrame(f.application, f.errorCode, f.reason, now);
}

function handleDatagram(conn: TransportConnection, f: Frame): void {
  if (f.type !== FrameType.Datagram) return;
  conn.onDatagramFrame(f.data);
}

/** Frame type (as decoded: STREAM variants report 0x08, DATAGRAM 0x30, CLOSE 0x1c) → handler. */
export const FRAME_HANDLERS: Readonly<Record<number, FrameHandler>> = {
  [FrameType.Padding]: handlePadding,
  [FrameType.Ping]: handlePing,
  [FrameType.Ack]: handleAck,
  [FrameType.ResetStream]: handleResetStream,
  [FrameType.StopSending]: handleStopSending,
  [FrameType.Stream]: handleStream,
  [FrameType.MaxData]: handleMaxData,
  [FrameType.MaxStreamData]: handleMaxStreamData,
  [FrameType.MaxStreamsBidi]: handleMaxStreams,
  [FrameType.MaxStreamsUni]: handleMaxStreams,
  [FrameType.DataBlocked]: handleDataBlocked,
  [FrameType.StreamDataBlocked]: handleStreamDataBlocked,
  [FrameType.NewConnectionId]: handleNewConnectionId,
  [FrameType.RetireConnectionId]: handleRetireConnectionId,
  [FrameType.PathChallenge]: handlePathChallenge,
  [FrameType.PathResponse]: handlePathResponse,
  [FrameType.Close]: handleClose,
  [FrameType.Datagram]: handleDatagram,
};
