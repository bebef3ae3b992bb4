/**
 * The API over real parts for tests: a real Redis under a unique prefix, a real
 * S3-protocol server (the embedded s3rver in a temp directory, or an endpoint the
 * test gives, e.g. moto) and the BullMQ queues. `close()` removes everything it made.
 *
 *   const stack = await createTestStack({ label: 'jobs' });
 *   const res = await stack.app.inject({ method: 'GET', url: '/v1/jobs', headers: stack.auth('acme') });
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from '../services/api/app.ts';
import type { ArtifactStore } from '../services/core/artifacts.ts';
import { loadConfig, type Config } from '../services/core/config.ts';
import { s3ArtifactStore } from '../services/platform/artifacts.ts';
import { startEmbeddedS3, type EmbeddedS3 } from '../services/platform/embedded-s3.ts';
import { createQueues, type Queues } from '../services/platform/queue.ts';
import { connectRedis, type Redis } from '../services/platform/redis.ts';
import { createStore, type Store } from '../services/platform/store.ts';
import { TEST_REDIS_URL, cleanupPrefix, uniquePrefix } from './redis.ts';

/** Tenants and keys every test stack knows (keys are at least 8 characters). */
export const TEST_KEYS = {
  acme: 'acme-key-0123456789',
  globex: 'globex-key-0123456789',
} as const;
export const TEST_ADMIN_KEY = 'admin-key-0123456789';

export interface TestStackOptions {
  /** part of the Redis prefix, to tell test files apart */
  label?: string;
  /** S3 endpoint to use instead of starting the embedded server (e.g. moto) */
  s3?: { endpoint: string; accessKeyId: string; secretAccessKey: string; bucket?: string };
  /** tenant -> key (default TEST_KEYS) */
  apiKeys?: Record<string, string>;
  adminKeys?: string[];
  /** more environment for loadConfig */
  env?: Record<string, string>;
  /** anything else for buildApp (predictor, now, logger, ...) */
  deps?: Partial<Omit<AppDeps, 'config' | 'store' | 'queues' | 'artifacts'>>;
}

export interface TestStack {
  app: FastifyInstance;
  store: Store;
  queues: Queues;
  artifacts: ArtifactStore & { ensureBucket(): Promise<void> };
  config: Config;
  redis: Redis;
  prefix: string;
  /** the embedded S3 server, when the stack started one */
  s3?: EmbeddedS3;
  /** Authorization header of a tenant ("admin" for the admin key) */
  auth(tenant: string): { authorization: string };
  close(): Promise<void>;
}

export async function createTestStack(opts: TestStackOptions = {}): Promise<TestStack> {
  const prefix = uniquePrefix(opts.label ?? 'api');
  const apiKeys: Record<string, string> = opts.apiKeys ?? { ...TEST_KEYS };
  const adminKeys = opts.adminKeys ?? [TEST_ADMIN_KEY];
  const undo: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const u of undo.splice(0).reverse()) await Promise.resolve(u()).catch(() => undefined);
  };
  try {
    let s3: EmbeddedS3 | undefined;
    let endpoint: { endpoint: string; accessKeyId: string; secretAccessKey: string };
    if (opts.s3) {
      endpoint = opts.s3;
    } else {
      const dir = mkdtempSync(path.join(tmpdir(), 'nightshift-s3-'));
      undo.push(() => rmSync(dir, { recursive: true, force: true }));
      s3 = await startEmbeddedS3({ directory: dir });
      undo.push(() => s3!.close());
      endpoint = { endpoint: s3.endpoint, ...s3.credentials };
    }
    const config = loadConfig({
      REDIS_URL: TEST_REDIS_URL,
      NIGHTSHIFT_PREFIX: prefix,
      NIGHTSHIFT_S3_BUCKET: opts.s3?.bucket ?? `nstest-${randomBytes(5).toString('hex')}`,
      AWS_ENDPOINT_URL: endpoint.endpoint,
      AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
      AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
      AWS_REGION: 'us-east-1',
      NIGHTSHIFT_API_KEYS: Object.entries(apiKeys).map(([tenant, key]) => `${tenant}:${key}`).join(','),
      NIGHTSHIFT_ADMIN_KEYS: adminKeys.join(','),
      LOG_LEVEL: 'silent',
      ...opts.env,
    });
    const artifacts = s3ArtifactStore(config.s3);
    await artifacts.ensureBucket();
    undo.push(() => artifacts.client.destroy());

    const redis = connectRedis(config.redisUrl, { autoPipeline: true, name: 'nightshift-test-api' });
    undo.push(() => redis.disconnect());
    undo.push(() => cleanupPrefix(prefix));
    const bullRedis = connectRedis(config.redisUrl, { autoPipeline: true, forBullWorker: true, name: 'nightshift-test-queues' });
    undo.push(() => bullRedis.disconnect());
    const queues = createQueues(bullRedis, prefix);
    // close queues only once they have connected (or failed to): closing one still
    // connecting leaves its readiness promise to reject with nobody listening
    const ready = Promise.all([queues.units.waitUntilReady(), queues.jobs.waitUntilReady(), queues.flow.waitUntilReady()]);
    undo.push(async () => {
      await ready.catch(() => undefined);
      await queues.close();
    });
    await ready;
    const store = createStore(redis, prefix);

    const app = await buildApp({ config, store, queues, artifacts, logger: false, ...opts.deps });
    undo.push(() => app.close());
    await app.ready();

    return {
      app,
      store,
      queues,
      artifacts,
      config,
      redis,
      prefix,
      ...(s3 ? { s3 } : {}),
      auth(tenant: string) {
        const key = tenant === 'admin' ? adminKeys[0] : apiKeys[tenant];
        if (!key) throw new Error(`test stack has no key for tenant ${tenant}`);
        return { authorization: `Bearer ${key}` };
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
