/**
 * The all-in-one local stack behind `npm start` and `npm run demo`: Redis, an
 * S3-protocol endpoint, the API, and the provisioner with the `local` compute
 * provider (each "instance" is a worker process on this machine). The same code
 * paths as in the cloud; only the endpoint and the ComputeProvider differ.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig, type Config } from '../core/config.ts';
import { connectRedis, type Redis } from '../platform/redis.ts';
import { createStore } from '../platform/store.ts';
import { createQueues } from '../platform/queue.ts';
import { s3ArtifactStore } from '../platform/artifacts.ts';
import { buildApp } from '../api/app.ts';
import { createProvisioner } from '../provisioner/provisioner.ts';
import { createBatchSupervisor } from '../provisioner/batch-supervisor.ts';
import { batchBudgetUsd, createBatchStore } from '../platform/batches.ts';
import { createComputeProvider } from '../provisioner/providers/index.ts';
import { freePort } from '../platform/ports.ts';
import { ensureRedis, ensureS3 } from './infra.ts';
import { createRetention } from '../platform/retention.ts';
import { startAggregateWorker } from '../platform/aggregate.ts';
import { stackInfoPath, type LocalStackInfo } from '../platform/stack-info.ts';

export { readStackInfo, stackInfoPath, type LocalStackInfo } from '../platform/stack-info.ts';

export interface StackOptions {
  env?: Record<string, string | undefined>;
  /** 0 = any free port; default: PORT or 8080 (the next free one when taken) */
  port?: number;
  logger?: Logger;
  /** print the banner (URL, docs, development key) */
  banner?: boolean;
}

export interface Stack {
  url: string;
  apiKey: string;
  config: Config;
  close(): Promise<void>;
}

/** A development key, kept under the data dir so restarts and the demo reuse it. */
function devKey(dataDir: string): string {
  const p = path.join(dataDir, 'dev-api-key');
  if (existsSync(p)) return readFileSync(p, 'utf8').trim();
  const key = `dev-${randomBytes(16).toString('hex')}`;
  writeFileSync(p, key, { mode: 0o600 });
  return key;
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const baseEnv = { ...(o.env ?? process.env) };
  let config = loadConfig(baseEnv);
  mkdirSync(config.dataDir, { recursive: true });
  // pretty on a terminal, JSON lines otherwise (DESIGN: logs)
  const logger = o.logger ?? pino({
    level: config.logLevel,
    base: { svc: 'local' },
    ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname,svc', singleLine: true } } } : {}),
  });
  const say = (m: string) => logger.info(m);
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((e) => logger.warn({ err: e }, 'error while stopping'));
  };
  try {
    const redisHandle = await ensureRedis(config, say);
    closers.push(() => redisHandle.stop());
    const s3 = await ensureS3(config, say);
    closers.push(() => s3.stop());

    const env: Record<string, string | undefined> = { ...baseEnv, ...s3.env, REDIS_URL: redisHandle.url };
    // the first configured tenant key, else a development key for tenant "dev"
    let apiKey = [...config.apiKeys.keys()][0];
    if (apiKey === undefined) {
      apiKey = devKey(config.dataDir);
      env.NIGHTSHIFT_API_KEYS = `dev:${apiKey}`;
    }
    const port = o.port ?? (await freePort(config.port));
    env.PORT = String(port);
    config = loadConfig(env);

    const redis: Redis = connectRedis(config.redisUrl, { autoPipeline: true, name: 'nightshift-api', cluster: config.redisCluster });
    closers.push(async () => redis.disconnect());
    const bullRedis = connectRedis(config.redisUrl, { forBullWorker: true, name: 'nightshift-queues', cluster: config.redisCluster });
    closers.push(async () => bullRedis.disconnect());
    const queues = createQueues(bullRedis, config.prefix);
    closers.push(() => queues.close());
    const artifacts = s3ArtifactStore(config.s3);
    await artifacts.ensureBucket();
    const store = createStore(redis, config.prefix);

    const provider = createComputeProvider(config, { env, logger });
    // stopped after the provisioner: local workers get SIGTERM, checkpoint and hand their units back
    closers.push(async () => provider.close?.());
    const provisionerMetrics = new Registry();
    const batchStore = createBatchStore(redis, config.prefix, store);
    const batches = createBatchSupervisor({ store, batches: batchStore, queues, artifacts, logger });
    // a batch's budgetUsd is a budget scope of its own (core/budget.ts)
    const batchBudgets = { limitUsd: (id: string) => batchBudgetUsd(batchStore, id) };
    const provisioner = createProvisioner({ config, redis, queues, provider, logger, metricsRegistry: provisionerMetrics, batches, batchBudgets });
    await provisioner.start();
    closers.push(() => provisioner.stop());
    // jobs are finished here too: a parent whose worker died is run again even once no instance is left
    const aggregates = startAggregateWorker({ store, artifacts, logger, connection: bullRedis, prefix: config.prefix });
    closers.push(() => aggregates.close());
    const retention = createRetention({ store, queues, artifacts, days: config.retentionDays, logger });
    retention.start();
    closers.push(() => retention.stop());

    const app = await buildApp({ config, store, queues, artifacts, logger, extraMetrics: [provisionerMetrics] });
    await app.listen({ host: config.host, port: config.port });
    closers.push(() => app.close());
    const addr = app.server.address();
    const url = `http://${config.host}:${typeof addr === 'object' && addr ? addr.port : config.port}`;

    const infoFile = stackInfoPath(config.dataDir);
    writeFileSync(infoFile, JSON.stringify({ url, apiKey, pid: process.pid } satisfies LocalStackInfo));
    closers.push(async () => rmSync(infoFile, { force: true }));

    if (o.banner !== false) {
      const lines = [
        '',
        `  nightshift is running at ${url}`,
        `  dashboard:  ${url}/`,
        `  API docs:   ${url}/docs`,
        `  health:     ${url}/healthz`,
        `  compute:    ${config.compute} (max ${config.maxInstances} instances, idle timeout ${config.idleTimeoutS}s)`,
        baseEnv.NIGHTSHIFT_API_KEYS ? '  API keys:   from NIGHTSHIFT_API_KEYS' : `  dev API key (tenant "dev"): ${apiKey}`,
        `  try:        curl -H "Authorization: Bearer ${baseEnv.NIGHTSHIFT_API_KEYS ? '<key>' : apiKey}" ${url}/v1/jobs`,
        '',
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    return { url, apiKey, config, close };
  } catch (e) {
    await close();
    throw e;
  }
}
