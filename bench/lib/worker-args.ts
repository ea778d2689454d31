/**
 * `--name value` flags of the benchmark worker processes (spawned by the benches with argument lists
 * they build themselves, so no usage text): a getter that returns the value, the fallback, or throws.
 */
export function flagGetter(argv: readonly string[]): (name: string, fallback?: string) => string {
  return (name, fallback) => {
    const i = argv.indexOf(`--${name}`);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (v !== undefined) return v;
    if (fallback !== undefined) return fallback;
    throw new Error(`missing --${name}`);
  };
}
