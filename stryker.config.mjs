// Mutation testing of the packet path (`npm run mutate`, driven by
// scripts/mutate.mjs, which sets MUTATE_FILES, MUTATE_TESTS and MUTATE_GROUP
// per module group).
// `tsconfigFile` names a file that does not exist on purpose: Stryker's
// tsconfig step calls the TypeScript compiler API, which TypeScript 7's package
// does not ship; vitest transpiles the mutated sources itself.
const group = process.env.MUTATE_GROUP ?? 'all';
const mutate = (process.env.MUTATE_FILES ?? '').split(',').filter(Boolean);

export default {
  mutate,
  jsonReporter: { fileName: `reports/mutation/${group}.json` },
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  coverageAnalysis: 'perTest',
  tsconfigFile: 'tsconfig.mutate-none.json',
  checkers: [],
  ignoreStatic: true,
  // MUTATE_CONCURRENCY: test runner processes (default 2, the machine's cores).
  concurrency: Number(process.env.MUTATE_CONCURRENCY ?? 2),
  timeoutMS: 20_000,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true },
  tempDirName: `.stryker-tmp/${group}`,
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 85, break: null },
};
