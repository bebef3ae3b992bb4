/**
 * The slots the planner counts for a local instance are the units its worker takes at
 * once: the worker's environment carries the provisioner's NIGHTSHIFT_WORKER_CONCURRENCY
 * even when the provisioner's own environment does not (a real child process reads it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/core/config.ts';
import { createLocalProvider } from '../../services/provisioner/providers/local.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ns-slots-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('local worker slots', () => {
  it.each([1, 3])('NIGHTSHIFT_WORKER_CONCURRENCY=%i: the worker reads the planner\'s slot count', async (n) => {
    const out = path.join(dir, `env-${n}.json`);
    const entry = path.join(dir, `entry-${n}.ts`);
    // stands in for the worker: reads its configuration the way workers/trainer/main.ts does, and reports it
    writeFileSync(entry, [
      `import { writeFileSync } from 'node:fs';`,
      `import { loadConfig } from ${JSON.stringify(path.resolve('services/core/config.ts'))};`,
      `writeFileSync(${JSON.stringify(out)}, JSON.stringify({ workerConcurrency: loadConfig(process.env).workerConcurrency }));`,
    ].join('\n'));
    const config = loadConfig({ NIGHTSHIFT_WORKER_CONCURRENCY: String(n), NIGHTSHIFT_DATA_DIR: dir });
    // the provisioner's own environment says nothing about slots
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NIGHTSHIFT_WORKER_CONCURRENCY'));
    const provider = createLocalProvider(config, { entry, env, logDir: dir, terminateGraceMs: 1_000 });
    try {
      expect(provider.slots?.('local')).toBe(n);
      await provider.launch({ launchId: `slots-${n}`, resourceClass: 'cpu', count: 1, spot: 'no' });
      await expect.poll(() => existsSync(out), { timeout: 30_000 }).toBe(true);
      expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ workerConcurrency: n });
    } finally {
      await provider.close?.();
    }
  });
});
