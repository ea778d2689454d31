// Types of scripts/native-plan.mjs (the build script is plain JS: it runs before anything is compiled).
export interface Addon {
  readonly name: 'punchline_udp' | 'punchline_aead';
  readonly label: string;
  readonly fallback: string;
}
export interface AddonResult extends Addon {
  readonly built: boolean;
  readonly why: string | null;
}
export interface BuildAttempt {
  readonly only: readonly string[];
  readonly ok: boolean;
  readonly why: string | null;
}
export declare const ADDONS: readonly Addon[];
export declare function planBuild(options: {
  run(gypArgs: string[]): { ok: boolean; why?: string };
  built(name: string): boolean;
  env: Record<string, string | undefined>;
}): { results: AddonResult[]; attempts: BuildAttempt[] };
export declare function reportLines(results: readonly AddonResult[]): string[];
