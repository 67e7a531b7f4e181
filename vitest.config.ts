import { defineConfig } from 'vitest/config';

// Projects: `unit` runs anywhere without privileges; `integration` builds
// network namespaces and needs root (CI is root). Integration files run one at
// a time: they share the machine's two cores and time-sensitive traffic.
// The unit tier includes the agreement test (test/unit/agreement: explain
// against the packet path on 10,000+ random flows, a new seed per run);
// `npm run agreement` runs it alone, `npm run agreement:long` with 1,000,000.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'src/**/*.test.ts', 'test/fuzz/*.test.ts'],
          setupFiles: ['test/helpers/property-setup.ts'],
          environment: 'node',
          testTimeout: 30_000,
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
