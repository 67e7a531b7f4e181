import { defineConfig } from 'vitest/config';

// The unit tests one mutation-testing group runs (scripts/mutate.mjs sets
// MUTATE_TESTS to a JSON array of globs); never integration tests.
const include = (JSON.parse(process.env.MUTATE_TESTS ?? '["test/unit/**/*.test.ts"]') as string[]).filter((g) => g.startsWith('test/unit/'));

export default defineConfig({
  test: {
    include,
    setupFiles: ['test/helpers/property-setup.ts'],
    // Stryker reads results from vitest's state; this reporter makes a file that failed to load one failed test.
    reporters: ['default', './test/helpers/mutation-reporter.ts'],
    environment: 'node',
    testTimeout: 60_000,
  },
});
