import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // polls wait on real processes, browsers and timers: 1 s (the default) is too short on a loaded 2-core machine
    expect: { poll: { timeout: 5_000, interval: 50 } },
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      // pure tests: no Redis, no S3, no browser; they run when no service is up
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // real Redis, s3rver, moto, worker processes, a browser: fail fast when Redis is down
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'], globalSetup: ['test/support/global-setup.ts'] } },
    ],
  },
});
