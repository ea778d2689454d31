import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { SummaryLineReporter } from './test/support/summary-reporter.js';

export default defineConfig({
  // The package's own subpath exports, resolved to the sources (README examples run as printed).
  resolve: {
    alias: [
      {
        find: /^punchline\/(wire|crypto|transport|traversal|node|lab|sim)$/,
        replacement: fileURLToPath(new URL('./src/$1/index.ts', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Separate processes: lab tests spawn namespaces and native add-ons (sodium) load per process.
    pool: 'forks',
    reporters: ['default', new SummaryLineReporter()],
  },
});
