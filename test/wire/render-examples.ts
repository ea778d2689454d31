/**
 * Renders spec/wire.md §Examples from the committed vectors, so the spec's hex is by construction the
 * vectors' hex (vectors.test.ts checks that the spec contains exactly this rendering).
 */
import type { JsonObject, JsonValue } from './vector-json.js';

export const EXAMPLES_BEGIN = '<!-- BEGIN GENERATED EXAMPLES (test/wire/generate-vectors.ts) -->';
export const EXAMPLES_END = '<!-- END GENERATED EXAMPLES -->';

function wrapHex(hex: string): string {
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += 64) lines.push(hex.slice(i, i + 64));
  return lines.length === 0 ? '(empty)' : lines.join('\n');
}

function fieldsLine(obj: JsonValue): string {
  return JSON.stringify(obj);
}

export function renderExamples(frames: JsonObject, packets: JsonObject): string {
  const out: string[] = [EXAMPLES_BEGIN, ''];
  out.push('### 8.2 Variable-length integers', '', '| hex | value | note |', '| --- | --- | --- |');
  for (const v of frames['varints'] as JsonObject[]) {
    out.push(`| \`${String(v['hex'])}\` | ${String(v['value'])} | ${String(v['name'])} |`);
  }
  out.push('', '### 8.3 Frames', '');
  for (const f of frames['frames'] as JsonObject[]) {
    out.push(
      `**${String(f['name'])}** — \`${fieldsLine(f['frame'] ?? null)}\``,
      '',
      '```',
      wrapHex(String(f['hex'])),
      '```',
      '',
    );
  }
  out.push('### 8.4 Payloads (frame sequences)', '');
  for (const p of frames['payloads'] as JsonObject[]) {
    out.push(
      `**${String(p['name'])}** — \`${fieldsLine(p['frames'] ?? null)}\``,
      '',
      '```',
      wrapHex(String(p['hex'])),
      '```',
      '',
    );
  }
  out.push('### 8.5 Malformed frames (decoder must reject)', '', '| hex | error | case |', '| --- | --- | --- |');
  for (const v of frames['invalid'] as JsonObject[]) {
    out.push(`| \`${String(v['hex'])}\` | \`${String(v['error'])}\` | ${String(v['name'])} |`);
  }
  out.push('', '### 8.6 Packet numbers (RFC 9000 §A.2, §A.3)', '');
  out.push('| largest acknowledged | packet number | bytes | truncated |', '| --- | --- | --- | --- |');
  for (const e of packets['packetNumberEncoding'] as JsonObject[]) {
    out.push(
      `| ${String(e['largestAcked'] ?? 'none')} | ${String(e['packetNumber'])} | ${String(e['packetNumberLength'])} | ${String(e['truncated'])} |`,
    );
  }
  out.push('', '| largest received | truncated | bytes | recovered |', '| --- | --- | --- | --- |');
  for (const e of packets['packetNumberDecoding'] as JsonObject[]) {
    out.push(
      `| ${String(e['largestReceived'])} | ${String(e['truncated'])} | ${String(e['packetNumberLength'])} | ${String(e['packetNumber'])} |`,
    );
  }
  out.push('', '### 8.7 Datagrams', '');
  for (const d of packets['datagrams'] as JsonObject[]) {
    out.push(
      `**${String(d['name'])}** (kind \`${String(d['kind'])}\`) — \`${fieldsLine(d['fields'] ?? null)}\``,
      '',
      '```',
      wrapHex(String(d['hex'])),
      '```',
      '',
    );
  }
  out.push(
    '### 8.8 Malformed datagrams (receiver must reject)',
    '',
    '| parser | error | case | hex |',
    '| --- | --- | --- | --- |',
  );
  for (const v of packets['invalid'] as JsonObject[]) {
    out.push(`| ${String(v['parser'])} | \`${String(v['error'])}\` | ${String(v['name'])} | \`${String(v['hex'])}\` |`);
  }
  out.push('', EXAMPLES_END);
  return out.join('\n');
}
