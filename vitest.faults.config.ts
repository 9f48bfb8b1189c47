import { defineConfig } from 'vitest/config';

// The fault suite: real `herald` processes and redis-servers that the scenarios kill and restart.
// Scenarios run one at a time; each starts its own Redis and stops everything it started.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/faults/setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
