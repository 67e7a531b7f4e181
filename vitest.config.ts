import { defineConfig } from 'vitest/config';

// Projects: `unit` runs anywhere without privileges; `integration` builds
// network namespaces and needs root (CI is root). Integration files run one at
// a time: they share the machine's two cores and time-sensitive traffic.
// `agreement` (npm run agreement) compares explain with the packet path on
// random VPCs; it is not yet part of `npm test` because disagreements remain
// open (test/unit/agreement/FINDINGS.md lists them); it joins the unit tier
// once it is green.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'src/**/*.test.ts', 'test/fuzz/*.test.ts'],
          exclude: ['test/unit/agreement/**'],
          environment: 'node',
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'agreement',
          include: ['test/unit/agreement/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
