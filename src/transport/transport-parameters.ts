/**
 * The transport's side of transport parameters (RFC 9000 §18.2): what this side announces, taken
 * from its config, and the peer's, with decoding failures turned into TRANSPORT_PARAMETER_ERROR. The
 * type and the one encoding (a MessagePack map in the first Noise payload of each side,
 * spec/crypto.md §3.4) are src/crypto/transport-parameters.ts.
 */
import {
  decodeTransportParameters,
  encodeTransportParameters,
  type TransportParameters,
} from '../crypto/transport-parameters.js';
import type { TransportConfig } from './config.js';
import { protocolError, TransportErrorCode } from './errors.js';

/** The encoded parameters this side announces. */
export function localTransportParameters(c: TransportConfig): Uint8Array {
  return encodeTransportParameters({
    maxIdleTimeoutMs: c.idleTimeoutMs,
    initialMaxData: c.initialConnectionWindow,
    initialMaxStreamDataBidiLocal: c.initialStreamWindow,
    initialMaxStreamDataBidiRemote: c.initialStreamWindow,
    initialMaxStreamDataUni: c.initialStreamWindow,
    initialMaxStreamsBidi: c.maxStreamsBidi,
    initialMaxStreamsUni: c.maxStreamsUni,
    maxAckDelayMs: c.maxAckDelayMs,
    maxDatagramFrameSize: c.maxDatagramFrameSize,
  });
}

/** The peer's parameters. Throws TransportError(TRANSPORT_PARAMETER_ERROR) on malformed or out-of-range input. */
export function peerTransportParameters(bytes: Uint8Array): TransportParameters {
  try {
    return decodeTransportParameters(bytes);
  } catch (e) {
    throw protocolError(TransportErrorCode.TRANSPORT_PARAMETER_ERROR, (e as Error).message);
  }
}
