/**
 * Public surface of the wire layer: the codec for spec/wire.md. Packet protection (AEAD, nonces,
 * key phase, replay) is the crypto layer's (spec/crypto.md).
 */
export type { Address } from './address.js';
export * from './types.js';
export { WireError, WireErrorCode } from './errors.js';
export {
  varintLength,
  writeVarint,
  checkVarintValue,
  varintLengthBigInt,
  writeVarintBigInt,
  readVarintBigInt,
  MAX_SAFE_VARINT,
  MAX_VARINT_BIGINT,
} from './varint.js';
export { WireReader } from './reader.js';
export {
  packetNumberLength,
  truncatePacketNumber,
  decodePacketNumber,
  packetNumberLengthBigInt,
  decodePacketNumberBigInt,
} from './packet-number.js';
export {
  encodeFrame,
  frameLength,
  writeStreamFrameHeader,
  streamFrameHeaderLength,
  writeDatagramFrameHeader,
  datagramFrameHeaderLength,
  writeAckFrame,
  ackFrameLength,
  utf8Length,
  STREAM_FIN_BIT,
  STREAM_LEN_BIT,
  STREAM_OFF_BIT,
  FRAME_TYPE_CLOSE_APPLICATION,
  FRAME_TYPE_DATAGRAM_WITH_LENGTH,
  STATELESS_RESET_TOKEN_LENGTH,
  PATH_DATA_LENGTH,
} from './frames-encode.js';
export { FrameDecoder, decodeFrames } from './frames-decode.js';
export {
  writeShortHeader,
  readShortHeader,
  shortHeaderLength,
  minShortPacketLength,
  writeLongHeader,
  readLongHeader,
  longHeaderLength,
  padDatagram,
  readDestinationConnectionId,
} from './headers.js';
export {
  classifyDatagram,
  STUN_MAGIC_COOKIE,
  STUN_HEADER_LENGTH,
  PUNCH_PROBE_TYPE,
  PUNCH_PROBE_REPLY_TYPE,
  RELAY_TYPE,
} from './demux.js';
export {
  writePunchProbeHeader,
  writePunchProbe,
  readPunchProbe,
  PUNCH_SESSION_ID_LENGTH,
  PUNCH_NONCE_LENGTH,
  PUNCH_MAC_LENGTH,
  PUNCH_PROBE_AUTHENTICATED_LENGTH,
  PUNCH_PROBE_MAC_OFFSET,
  PUNCH_PROBE_LENGTH,
  type PunchProbe,
  type DecodedPunchProbe,
} from './probe.js';
export {
  writeRelayHeader,
  readRelayDatagram,
  RELAY_CHANNEL_ID_LENGTH,
  RELAY_HEADER_LENGTH,
  type RelayDatagram,
} from './relay.js';
