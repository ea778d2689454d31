/**
 * JSON form of frames for spec/vectors/: frame types by name, byte fields as lowercase hex. Shared by
 * the vector generator and the vector test so both directions use one mapping.
 */
import { FrameType, type Frame } from '../../src/wire/index.js';

const FRAME_NAMES: Record<number, string> = {
  [FrameType.Padding]: 'PADDING',
  [FrameType.Ping]: 'PING',
  [FrameType.Ack]: 'ACK',
  [FrameType.ResetStream]: 'RESET_STREAM',
  [FrameType.StopSending]: 'STOP_SENDING',
  [FrameType.Stream]: 'STREAM',
  [FrameType.MaxData]: 'MAX_DATA',
  [FrameType.MaxStreamData]: 'MAX_STREAM_DATA',
  [FrameType.MaxStreamsBidi]: 'MAX_STREAMS_BIDI',
  [FrameType.MaxStreamsUni]: 'MAX_STREAMS_UNI',
  [FrameType.DataBlocked]: 'DATA_BLOCKED',
  [FrameType.StreamDataBlocked]: 'STREAM_DATA_BLOCKED',
  [FrameType.NewConnectionId]: 'NEW_CONNECTION_ID',
  [FrameType.RetireConnectionId]: 'RETIRE_CONNECTION_ID',
  [FrameType.PathChallenge]: 'PATH_CHALLENGE',
  [FrameType.PathResponse]: 'PATH_RESPONSE',
  [FrameType.Close]: 'CLOSE',
  [FrameType.Datagram]: 'DATAGRAM',
};
const FRAME_CODES = new Map(Object.entries(FRAME_NAMES).map(([code, name]) => [name, Number(code)]));
const BYTE_FIELDS = new Set(['data', 'connectionId', 'resetToken']);

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new Error(`bad hex: ${hex.slice(0, 40)}`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function frameToJson(frame: Frame): JsonObject {
  const out: JsonObject = { type: FRAME_NAMES[frame.type] ?? `0x${frame.type.toString(16)}` };
  for (const [key, value] of Object.entries(frame)) {
    if (key === 'type') continue;
    if (value instanceof Uint8Array) out[key] = toHex(value);
    else if (key === 'ranges')
      out[key] = (value as { smallest: number; largest: number }[]).map((r) => ({
        smallest: r.smallest,
        largest: r.largest,
      }));
    else out[key] = value as JsonValue;
  }
  return out;
}

export function frameFromJson(json: JsonObject): Frame {
  const code = FRAME_CODES.get(json['type'] as string);
  if (code === undefined) throw new Error(`unknown frame name ${String(json['type'])}`);
  const out: Record<string, unknown> = { type: code };
  for (const [key, value] of Object.entries(json)) {
    if (key === 'type') continue;
    out[key] = BYTE_FIELDS.has(key) ? fromHex(value as string) : value;
  }
  return out as unknown as Frame;
}
