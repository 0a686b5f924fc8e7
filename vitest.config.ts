import { defineConfig } from 'vitest/config';

// Two projects: `unit` is pure logic (fake clocks allowed), `integration` talks to
// real processes and sockets. Integration files run one at a time: the machine has
// 2 cores and each file may run its own lab.
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          globalSetup: ['test/global-teardown.ts'],
        },
      },
    ],
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
