/** What one fuzz target is: a parser (or a small core) driven by untrusted bytes. */
export interface FuzzTarget {
  readonly name: string;
  /** One line: which parsers this target drives. */
  readonly description: string;
  /** Largest input the mutator produces (a datagram, a message, a frame). */
  readonly maxLength: number;
  /** Valid inputs to start from (spec/vectors and encoder output). */
  seeds(): Uint8Array[];
  /** Tokens the mutator inserts: magic numbers, type bytes, field names. */
  readonly dictionary?: readonly Uint8Array[];
  /**
   * Runs one input. Refusing bad input with the layer's typed error is expected and caught inside;
   * anything that escapes (another error class, a broken invariant) is a finding.
   */
  run(data: Uint8Array): void;
}

/** Thrown by a target when decoding succeeded but an invariant (e.g. a round trip) does not hold. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/**
 * Runs `fn` and swallows only errors that are instances of `expected` (and, when `codes` is given,
 * carry one of those codes): the refusals a parser promises for bad input.
 */
export function refusing<T>(
  fn: () => T,
  expected: abstract new (...args: never[]) => Error,
  codes?: readonly string[],
): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof expected)) throw e;
    if (codes !== undefined && !codes.includes((e as Error & { code?: string }).code ?? '')) throw e;
    return undefined;
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
