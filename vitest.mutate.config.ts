import { defineConfig } from 'vitest/config';

// The unit tests one mutation-testing group runs (scripts/mutate.mjs sets
// MUTATE_TESTS to a comma-separated list of globs); never integration tests.
const include = (process.env.MUTATE_TESTS ?? 'test/unit/**/*.test.ts').split(',').filter((g) => g.startsWith('test/unit/'));

export default defineConfig({
  test: {
    include,
    environment: 'node',
    testTimeout: 60_000,
  },
});
