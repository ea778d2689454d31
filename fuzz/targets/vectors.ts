/** Seeds from spec/vectors: every `hex` (and Noise `ciphertext`) string found in a vector file. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const VECTORS = fileURLToPath(new URL('../../spec/vectors/', import.meta.url));

export function vectorFile(name: string): unknown {
  return JSON.parse(readFileSync(`${VECTORS}${name}`, 'utf8'));
}

/** Every string under one of `keys` anywhere in the vector file, decoded from hex. */
export function hexStrings(name: string, keys: readonly string[] = ['hex']): Uint8Array[] {
  const out: Uint8Array[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) for (const v of value) walk(v);
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (keys.includes(k) && typeof v === 'string' && /^([0-9a-f]{2})*$/i.test(v)) {
          out.push(Uint8Array.from(Buffer.from(v, 'hex')));
        } else walk(v);
      }
    }
  };
  walk(vectorFile(name));
  return out;
}

/** A stable text form for deep comparisons (bytes as hex). */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v instanceof Uint8Array ? `hex:${Buffer.from(v).toString('hex')}` : typeof v === 'bigint' ? `${v}n` : v,
  );
}
