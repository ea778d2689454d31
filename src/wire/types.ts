/**
 * Shared vocabulary of the wire layer: the decoded shapes of packets and frames.
 * Normative byte layouts are in spec/wire.md; this file only names what the codec produces.
 *
 * Numbers: every varint field is a JS `number`. Varints carry up to 62 bits on the wire
 * (RFC 9000 §16); values above Number.MAX_SAFE_INTEGER are rejected by the decoder with
 * WireError('ERR_PUNCHLINE_WIRE_VARINT_UNSAFE') rather than silently rounded. Packet numbers are
 * likewise limited to 2^53 − 1 in this implementation (a connection closes long before).
 */

/** First-byte classes that share one UDP socket (spec/wire.md §Demultiplexing, cf. RFC 7983). */
export const DatagramKind = {
  Stun: 'stun',
  PunchProbe: 'punch-probe',
  Relay: 'relay',
  Short: 'short',
  Long: 'long',
  Unknown: 'unknown',
} as const;
export type DatagramKind = (typeof DatagramKind)[keyof typeof DatagramKind];

/** Long-header packet types (handshake phase). */
export const LongPacketType = {
  Initial: 0,
  Handshake: 1,
  Retry: 2,
} as const;
export type LongPacketType = (typeof LongPacketType)[keyof typeof LongPacketType];

/** Frame type codes (spec/wire.md §Frames). STREAM occupies 0x08–0x0f (OFF/LEN/FIN bits). */
export const FrameType = {
  Padding: 0x00,
  Ping: 0x01,
  Ack: 0x02,
  ResetStream: 0x04,
  StopSending: 0x05,
  Stream: 0x08,
  MaxData: 0x10,
  MaxStreamData: 0x11,
  MaxStreamsBidi: 0x12,
  MaxStreamsUni: 0x13,
  DataBlocked: 0x14,
  StreamDataBlocked: 0x15,
  NewConnectionId: 0x18,
  RetireConnectionId: 0x19,
  PathChallenge: 0x1a,
  PathResponse: 0x1b,
  Close: 0x1c,
  Datagram: 0x30,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface PaddingFrame {
  type: typeof FrameType.Padding;
  /** Number of consecutive 0x00 bytes (≥ 1). */
  length: number;
}
export interface PingFrame {
  type: typeof FrameType.Ping;
}
/** One inclusive range of acknowledged packet numbers. */
export interface AckRange {
  smallest: number;
  largest: number;
}
export interface AckFrame {
  type: typeof FrameType.Ack;
  /** Ranges in descending order, non-overlapping, non-adjacent; ranges[0].largest is the largest acknowledged. */
  ranges: AckRange[];
  /** Time between receiving the largest acknowledged packet and sending this ACK, microseconds. */
  ackDelayMicros: number;
  /**
   * Receiver's clock (microseconds, arbitrary epoch) when the largest acknowledged packet arrived.
   * With the sender's own send time of that packet this gives one-way delay up to a constant clock
   * offset, which LEDBAT's base-delay minimum cancels (RFC 6817 §3.2).
   */
  receiveTimestampMicros: number;
}
export interface ResetStreamFrame {
  type: typeof FrameType.ResetStream;
  streamId: number;
  errorCode: number;
  finalSize: number;
}
export interface StopSendingFrame {
  type: typeof FrameType.StopSending;
  streamId: number;
  errorCode: number;
}
export interface StreamFrame {
  type: typeof FrameType.Stream;
  streamId: number;
  offset: number;
  /** A view into the packet buffer (never a copy); copy it if you keep it past the packet. */
  data: Uint8Array;
  fin: boolean;
  /**
   * Whether the frame carries its Length field (LEN bit 0x02). Without it the data extends to the end
   * of the packet, so only the last frame may omit it. Encoders treat absent as true; decoders set it.
   */
  explicitLength?: boolean;
}
export interface MaxDataFrame {
  type: typeof FrameType.MaxData;
  maximum: number;
}
export interface MaxStreamDataFrame {
  type: typeof FrameType.MaxStreamData;
  streamId: number;
  maximum: number;
}
export interface MaxStreamsFrame {
  type: typeof FrameType.MaxStreamsBidi | typeof FrameType.MaxStreamsUni;
  maximum: number;
}
export interface DataBlockedFrame {
  type: typeof FrameType.DataBlocked;
  limit: number;
}
export interface StreamDataBlockedFrame {
  type: typeof FrameType.StreamDataBlocked;
  streamId: number;
  limit: number;
}
export interface NewConnectionIdFrame {
  type: typeof FrameType.NewConnectionId;
  sequence: number;
  retirePriorTo: number;
  /** Connection IDs are exactly CONNECTION_ID_LENGTH bytes. */
  connectionId: Uint8Array;
  /** 16-byte stateless reset token. */
  resetToken: Uint8Array;
}
export interface RetireConnectionIdFrame {
  type: typeof FrameType.RetireConnectionId;
  sequence: number;
}
export interface PathChallengeFrame {
  type: typeof FrameType.PathChallenge;
  /** 8 bytes. */
  data: Uint8Array;
}
export interface PathResponseFrame {
  type: typeof FrameType.PathResponse;
  /** 8 bytes. */
  data: Uint8Array;
}
export interface CloseFrame {
  type: typeof FrameType.Close;
  /** true: the application closed (its own error space); false: a transport error code. */
  application: boolean;
  errorCode: number;
  /** UTF-8 reason phrase, at most MAX_CLOSE_REASON_BYTES bytes. */
  reason: string;
}
export interface DatagramFrame {
  type: typeof FrameType.Datagram;
  /** A view into the packet buffer. */
  data: Uint8Array;
  /** Type 0x31 (with Length) when true or absent, 0x30 (to end of packet) when false; decoders set it. */
  explicitLength?: boolean;
}

export type Frame =
  | PaddingFrame
  | PingFrame
  | AckFrame
  | ResetStreamFrame
  | StopSendingFrame
  | StreamFrame
  | MaxDataFrame
  | MaxStreamDataFrame
  | MaxStreamsFrame
  | DataBlockedFrame
  | StreamDataBlockedFrame
  | NewConnectionIdFrame
  | RetireConnectionIdFrame
  | PathChallengeFrame
  | PathResponseFrame
  | CloseFrame
  | DatagramFrame;

/** Connection IDs have one fixed length in protocol version 1, so short headers parse without state. */
export const CONNECTION_ID_LENGTH = 8;
/** Version 1 of the punchline wire protocol, carried in long headers. */
export const PROTOCOL_VERSION = 0x504e4c01; // "PNL" 0x01
/** Smallest UDP payload of a datagram carrying an Initial packet (anti-amplification, cf. RFC 9000 §14.1). */
export const MIN_INITIAL_DATAGRAM_SIZE = 1200;
/** AEAD tag length (ChaCha20-Poly1305). */
export const AEAD_TAG_LENGTH = 16;
/** Longest reason phrase a CLOSE frame may carry. */
export const MAX_CLOSE_REASON_BYTES = 1024;
/** Most ACK ranges one ACK frame may carry; a decoder rejects more (bounds work per packet). */
export const MAX_ACK_RANGES = 256;
/** Longest address-validation token an Initial or Retry packet may carry. */
export const MAX_TOKEN_LENGTH = 256;
/** Largest value of MAX_STREAMS (RFC 9000 §19.11): stream IDs must stay below 2^62. */
export const MAX_STREAMS_LIMIT = 2 ** 60;

/**
 * Transport error codes carried by CLOSE (0x1c), aligned with RFC 9000 §20.1 where the meaning matches.
 * Application error codes (CLOSE 0x1d, RESET_STREAM, STOP_SENDING) are the application's own.
 */
export const TransportErrorCode = {
  NoError: 0x00,
  InternalError: 0x01,
  ConnectionRefused: 0x02,
  FlowControlError: 0x03,
  StreamLimitError: 0x04,
  StreamStateError: 0x05,
  FinalSizeError: 0x06,
  FrameEncodingError: 0x07,
  TransportParameterError: 0x08,
  ConnectionIdLimitError: 0x09,
  ProtocolViolation: 0x0a,
  InvalidToken: 0x0b,
  KeyUpdateError: 0x0e,
  AeadLimitReached: 0x0f,
  NoViablePath: 0x10,
  /** The handshake failed (one code where RFC 9000 has the CRYPTO_ERROR range 0x100–0x1ff). */
  HandshakeFailed: 0x100,
} as const;
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

export interface LongHeader {
  form: 'long';
  packetType: LongPacketType;
  version: number;
  destinationConnectionId: Uint8Array;
  sourceConnectionId: Uint8Array;
  /** Address-validation token (Initial only; empty otherwise). */
  token: Uint8Array;
  /** A view of the packet's payload (the handshake message). */
  payload: Uint8Array;
  /** Bytes from the first byte through the Length field: where the payload starts. */
  headerLength: number;
  /** Bytes this packet occupied in the datagram. */
  packetLength: number;
}

export interface ShortHeader {
  form: 'short';
  keyPhase: 0 | 1;
  destinationConnectionId: Uint8Array;
  /** Truncated packet number as sent (1–4 bytes). Recover with decodePacketNumber(). */
  truncatedPacketNumber: number;
  packetNumberLength: 1 | 2 | 3 | 4;
  /** Bytes of header, i.e. where the protected payload starts; header bytes are the AEAD associated data. */
  headerLength: number;
  /**
   * The three reserved bits (byte 0 & 0x38, shifted down). They are covered by the AEAD, so a receiver
   * checks them only after the packet authenticated: non-zero then is a PROTOCOL_VIOLATION.
   */
  reservedBits: number;
}
