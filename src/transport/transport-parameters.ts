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

/** The fields this transport negotiates (the wire map may carry more, e.g. its version). */
const NEGOTIATED = [
  'maxIdleTimeoutMs',
  'initialMaxData',
  'initialMaxStreamDataBidiLocal',
  'initialMaxStreamDataBidiRemote',
  'initialMaxStreamDataUni',
  'initialMaxStreamsBidi',
  'initialMaxStreamsUni',
  'maxAckDelayMs',
  'maxDatagramFrameSize',
] as const satisfies readonly (keyof TransportParameters)[];

function pickNegotiated(source: TransportParameters): TransportParameters {
  const picked: Partial<Record<keyof TransportParameters, number>> = {};
  for (const key of NEGOTIATED) picked[key] = source[key];
  return picked as TransportParameters;
}

export function encodeTransportParameters(p: TransportParameters): Uint8Array {
  return encodeWire(pickNegotiated(p));
}

/** Throws TransportError(TRANSPORT_PARAMETER_ERROR) on malformed or out-of-range input. */
export function decodeTransportParameters(bytes: Uint8Array): TransportParameters {
  try {
    return pickNegotiated(decodeWire(bytes));
  } catch (e) {
    throw protocolError(TransportErrorCode.TRANSPORT_PARAMETER_ERROR, (e as Error).message);
  }
}
