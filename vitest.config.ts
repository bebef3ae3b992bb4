import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // polls wait on real processes, browsers and timers: 1 s (the default) is too short on a loaded 2-core machine
    expect: { poll: { timeout: 5_000, interval: 50 } },
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
