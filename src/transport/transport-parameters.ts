import {
  decodeTransportParameters as decodeWire,
  encodeTransportParameters as encodeWire,
} from '../crypto/transport-parameters.js';
import { protocolError, TransportErrorCode } from './errors.js';

/**
 * The transport's view of transport parameters. The encoding (one MessagePack map inside the first
 * Noise payload of each side) is spec/crypto.md §3.4 and lives in src/crypto; this module maps it to
 * what the connection uses and turns decoding failures into TRANSPORT_PARAMETER_ERROR.
 */
export interface TransportParameters {
  /** ms; 0 = no idle timeout. */
  readonly maxIdleTimeoutMs: number;
  readonly initialMaxData: number;
  /** Per-stream limits the sender of these parameters grants: on bidi streams it opens / the peer opens / uni. */
  readonly initialMaxStreamDataBidiLocal: number;
  readonly initialMaxStreamDataBidiRemote: number;
  readonly initialMaxStreamDataUni: number;
  readonly initialMaxStreamsBidi: number;
  readonly initialMaxStreamsUni: number;
  /** ms. */
  readonly maxAckDelayMs: number;
  /** 0 = datagrams not accepted. */
  readonly maxDatagramFrameSize: number;
}

export function encodeTransportParameters(p: TransportParameters): Uint8Array {
  return encodeWire({
    maxIdleTimeoutMs: p.maxIdleTimeoutMs,
    initialMaxData: p.initialMaxData,
    initialMaxStreamDataBidiLocal: p.initialMaxStreamDataBidiLocal,
    initialMaxStreamDataBidiRemote: p.initialMaxStreamDataBidiRemote,
    initialMaxStreamDataUni: p.initialMaxStreamDataUni,
    initialMaxStreamsBidi: p.initialMaxStreamsBidi,
    initialMaxStreamsUni: p.initialMaxStreamsUni,
    maxAckDelayMs: p.maxAckDelayMs,
    maxDatagramFrameSize: p.maxDatagramFrameSize,
  });
}

/** Throws TransportError(TRANSPORT_PARAMETER_ERROR) on malformed or out-of-range input. */
export function decodeTransportParameters(bytes: Uint8Array): TransportParameters {
  try {
    const p = decodeWire(bytes);
    return {
      maxIdleTimeoutMs: p.maxIdleTimeoutMs,
      initialMaxData: p.initialMaxData,
      initialMaxStreamDataBidiLocal: p.initialMaxStreamDataBidiLocal,
      initialMaxStreamDataBidiRemote: p.initialMaxStreamDataBidiRemote,
      initialMaxStreamDataUni: p.initialMaxStreamDataUni,
      initialMaxStreamsBidi: p.initialMaxStreamsBidi,
      initialMaxStreamsUni: p.initialMaxStreamsUni,
      maxAckDelayMs: p.maxAckDelayMs,
      maxDatagramFrameSize: p.maxDatagramFrameSize,
    };
  } catch (e) {
    throw protocolError(TransportErrorCode.TRANSPORT_PARAMETER_ERROR, (e as Error).message);
  }
}
