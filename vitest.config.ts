import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Lab tests create network namespaces with fixed name prefixes; run files in parallel
    // but never let one file's lab collide with another's (each lab uses a unique prefix).
    pool: 'forks',
  },
});
