/**
 * The local provider with fake workers (support/fake-worker.ts: the real agent, a sleep
 * of `unitMs` per unit instead of training) over real Redis and BullMQ, on its own key
 * prefix and data directory: what the provisioner tests on the local provider share.
 * Everything is torn down by the function pushed on `cleanups`; `beforeTeardown` runs
 * first (stop provisioners and samplers there, before the worker processes go).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../services/core/config.ts';
import { createQueues, type Queues } from '../services/platform/queue.ts';
import { connectRedis, type Redis } from '../services/platform/redis.ts';
import { createLocalProvider } from '../services/provisioner/providers/local.ts';
import { REPO_ROOT } from '../services/provisioner/worker-process.ts';
import { recordCalls } from './cloud-sim.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from './redis.ts';

const FAKE = path.join(REPO_ROOT, 'support/fake-worker.ts');

export function localFakeRig(cleanups: Array<() => Promise<void>>, name: string, env: Record<string, string>, unitMs: number) {
  const prefix = uniquePrefix(name);
  const dataDir = mkdtempSync(path.join(tmpdir(), `ns-${name}-`));
  /** the environment the configuration was read from (a test reads variants of it) */
  const configEnv: Record<string, string> = {
    REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_COMPUTE: 'local', NIGHTSHIFT_BOOT_TIMEOUT_S: '30', NIGHTSHIFT_DATA_DIR: dataDir, ...env,
  };
  const config: Config = loadConfig(configEnv);
  const redis: Redis = connectRedis(config.redisUrl);
  const bull = connectRedis(config.redisUrl, { forBullWorker: true });
  const queues: Queues = createQueues(bull, prefix);
  const local = createLocalProvider(config, { entry: FAKE, env: { ...process.env, NIGHTSHIFT_FAKE_UNIT_MS: String(unitMs) }, terminateGraceMs: 2_000 });
  const { provider, calls } = recordCalls(local);
  const first: Array<() => void | Promise<void>> = [];
  cleanups.push(async () => {
    for (const f of first) await f();
    await local.close?.();
    await queues.close();
    redis.disconnect();
    bull.disconnect();
    await cleanupPrefix(prefix);
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { prefix, configEnv, config, redis, queues, local, provider, calls, beforeTeardown: (f: () => void | Promise<void>) => void first.push(f) };
}
