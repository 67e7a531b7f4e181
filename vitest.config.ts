import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs anywhere without privileges; `integration` builds
// network namespaces and needs root (CI is root). Integration files run one at
// a time: they share the machine's two cores and time-sensitive traffic.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'src/**/*.test.ts', 'test/fuzz/*.test.ts'],
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
