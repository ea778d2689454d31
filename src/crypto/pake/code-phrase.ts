/**
 * Code phrases `<nameplate>-<word>-<word>[-<word>]` (spec/transfer.md §Code phrase): the number
 * names the mailbox at the rendezvous server, the words are the secret. The whole phrase is the
 * CPace password, so an attacker must guess the words online, one guess per code (a failed run
 * burns the mailbox): with 2 words from 1295 that is 1 chance in 1 677 025, with 3 in 2.2·10⁹.
 */
import type { RandomSource } from '../sodium.js';
import { PakeError, PakeErrorCode } from './errors.js';
import { CODE_WORDS } from './wordlist.js';

const MIN_CODE_WORDS = 2;
const MAX_CODE_WORDS = 3;
const WORD_INDEX: ReadonlyMap<string, number> = new Map(CODE_WORDS.map((word, i) => [word, i]));

export interface CodePhrase {
  readonly nameplate: number;
  readonly words: readonly string[];
  /** Canonical text (`7-acid-acorn`): the CPace password. */
  readonly text: string;
}

/** Uniform index below `bound` (rejection sampling, no modulo bias). */
function uniform(bound: number, random: RandomSource): number {
  const bytes = new Uint8Array(4);
  const limit = Math.floor(0x1_0000_0000 / bound) * bound;
  for (;;) {
    random(bytes);
    const value = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
    if (value < limit) return value % bound;
  }
}

/** A fresh phrase for `nameplate` with `wordCount` random words. */
export function generateCode(nameplate: number, wordCount: number, random: RandomSource): CodePhrase {
  if (!Number.isInteger(nameplate) || nameplate < 1 || nameplate > 0xffffffff) {
    throw new PakeError(PakeErrorCode.BadCode, `nameplate must be a positive integer, got ${String(nameplate)}`);
  }
  if (!Number.isInteger(wordCount) || wordCount < MIN_CODE_WORDS || wordCount > MAX_CODE_WORDS) {
    throw new PakeError(PakeErrorCode.BadCode, `a code has ${MIN_CODE_WORDS} to ${MAX_CODE_WORDS} words`);
  }
  const words = Array.from({ length: wordCount }, () => CODE_WORDS[uniform(CODE_WORDS.length, random)]!);
  return { nameplate, words, text: [String(nameplate), ...words].join('-') };
}

/** Parses what a person typed: case and surrounding space do not matter, spaces may separate words. */
export function parseCode(input: string): CodePhrase {
  const parts = String(input)
    .trim()
    .toLowerCase()
    .split(/[-\s]+/);
  const [number, ...words] = parts;
  if (!number || !/^[1-9]\d{0,9}$/.test(number) || Number(number) > 0xffffffff) {
    throw new PakeError(PakeErrorCode.BadCode, `'${input}' is not a code: expected e.g. 7-acid-acorn`);
  }
  if (words.length < MIN_CODE_WORDS || words.length > MAX_CODE_WORDS) {
    throw new PakeError(
      PakeErrorCode.BadCode,
      `'${input}' is not a code: expected a number and ${MIN_CODE_WORDS} or ${MAX_CODE_WORDS} words`,
    );
  }
  for (const word of words) {
    if (!WORD_INDEX.has(word)) throw new PakeError(PakeErrorCode.BadCode, `'${word}' is not a word of the code list`);
  }
  const nameplate = Number(number);
  return { nameplate, words, text: [String(nameplate), ...words].join('-') };
}
