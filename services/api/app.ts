/**
 * The Fastify app, built from its dependencies. No listening here (server.ts does
 * that); tests build the app and call app.inject().
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ArtifactStore } from '../core/artifacts.ts';
import type { Config } from '../core/config.ts';
import { JobSchema } from '../core/job.ts';
import type { Queues } from '../platform/queue.ts';
import type { Store } from '../platform/store.ts';
import { createKeyStore } from '../platform/api-keys.ts';
import { authHook, createAuthenticator, type Principal } from './auth.ts';
import { dependencyGate, parseJsonBody, registerIdempotency, requestShapeGuard } from './hardening.ts';
import { createStreamCounter } from './stream-limit.ts';
import { createHash } from 'node:crypto';
import { NightshiftError } from '../core/errors.ts';
import { ErrorSchema, frameworkErrors, registerErrorHandling } from './errors.ts';
import { createMetrics, registerMetrics, type Metrics } from './metrics.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { datasetDeleteRoutes, datasetRoutes } from './routes/datasets.ts';
import { healthRoutes } from './routes/health.ts';
import { jobFileRoutes } from './routes/job-files.ts';
import { jobRoutes } from './routes/jobs.ts';
import { instanceRoutes } from './routes/instances.ts';
import { batchRoutes } from './routes/batches.ts';
import { createBatchService } from './services/batches.ts';
import { createBatchStore } from '../platform/batches.ts';
import { costRoutes } from './routes/costs.ts';
import { budgetRoutes } from './routes/budgets.ts';
import { createBudgetStore } from '../platform/budgets.ts';
import { createSpendLedger } from '../platform/costs.ts';
import { createCostService, type CostService } from './services/costs.ts';
import { createFleetStore } from '../platform/fleet-store.ts';
import { createMeter } from '../platform/meter.ts';
import { createDatasetService, type DatasetService } from './services/datasets.ts';
import type { Summarizer } from './services/summarize.ts';
import { createFileService, type FileService } from './services/files.ts';
import { createJobService, type JobService } from './services/jobs.ts';
import { createPredictService, type PredictService, type PredictorFactory } from './services/predict.ts';
import { createPredictPool } from '../platform/predict-pool.ts';
import { validatorCompiler } from './validation.ts';
import type { Registry } from 'prom-client';

export type { PredictorFactory, Principal };

export interface AppDeps {
  config: Config;
  store: Store;
  queues: Queues;
  artifacts: ArtifactStore;
  /** a pino logger, or true/false for Fastify's own (default: pino at config.logLevel) */
  logger?: FastifyBaseLogger | boolean;
  /** loads a job's final model for predict (default: a pool of two worker threads, platform/predict-pool.ts, started on first use) */
  predictor?: PredictorFactory;
  now?: () => Date;
  /** SSE heartbeat interval (default 15 s) */
  sseHeartbeatMs?: number;
  /** how long an event stream's lease lasts unrenewed, i.e. how long a dead API process's streams still count (default 30 s) */
  sseLeaseMs?: number;
  /** metric registries of other parts in this process (the provisioner's), served on /metrics too */
  extraMetrics?: Registry[];
  /** parses and summarizes CSV uploads (default: in worker threads) */
  summarize?: Summarizer;
  /** the largest data set upload in bytes (default LIMITS.datasetBytes) */
  maxUploadBytes?: number;
}

export interface Services {
  store: Store;
  artifacts: ArtifactStore;
  jobs: JobService;
  datasets: DatasetService;
  files: FileService;
  predict: PredictService;
  metrics: Metrics;
  costs: CostService;
  /** launch holds per resource class (backoff, blocked), for /healthz */
  fleetHolds(): Promise<Array<{ resourceClass: string; reason: string; message: string; blocked: boolean; until: string }>>;
}

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, store, queues, artifacts, now } = deps;
  // keys never reach the logs, whatever a serializer includes
  const logger = deps.logger === undefined ? { level: config.logLevel, redact: ['req.headers.authorization', 'headers.authorization'] } : deps.logger;
  const app = Fastify({
    ...(typeof logger === 'object' && 'child' in logger ? { loggerInstance: logger } : { logger }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    connectionTimeout: 0,
    requestTimeout: 120_000,
    forceCloseConnections: true,
    return503OnClosing: true,
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  registerErrorHandling(app);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.addSchema(ErrorSchema);
  app.addSchema(JobSchema);

  await app.register(swagger, {
    openapi: {
      info: { title: 'nightshift', version: '1', description: 'Submit deep-learning training jobs; nightshift runs them on cheap cloud GPUs and turns the machines off when the work is done.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API key from NIGHTSHIFT_API_KEYS' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'jobs', description: 'training jobs, their results, artifacts and predictions' },
        { name: 'datasets', description: 'uploaded CSV data sets' },
        { name: 'batches', description: 'sweeps of jobs with a schedule, a deadline and a leaderboard' },
        { name: 'health', description: 'health of the service' },
        { name: 'costs', description: 'what instances cost, per day, job, batch, type and tenant; budgets' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const keyStore = createKeyStore(store.redis, config.prefix);
  const storedKey = (key: string) => keyStore.lookup(key);
  const metrics = createMetrics({ store, queues, ...(now ? { now: () => now().getTime() } : {}) });
  // /metrics answers admin keys only (it shows every tenant's traffic)
  const authenticate = createAuthenticator(config, storedKey);
  registerMetrics(app, metrics, deps.extraMetrics ?? [], async (req) => {
    const p = await authenticate(req.headers.authorization);
    if (!p.admin) throw new NightshiftError('forbidden', '/metrics needs an admin key');
  });
  app.addHook('onClose', async () => store.closeSubscriptions());
  // TensorFlow.js runs in these threads, never on the event loop that serves requests
  const predictPool = createPredictPool();
  app.addHook('onClose', async () => predictPool.close());

  const datasets = createDatasetService({
    store,
    artifacts,
    dataSources: { bucket: artifacts.bucket, grants: config.s3Sources },
    maxStoredBytes: config.limits.maxStoredBytes,
    ...(deps.summarize ? { summarize: deps.summarize } : {}),
    ...(deps.maxUploadBytes ? { maxUploadBytes: deps.maxUploadBytes } : {}),
    ...(now ? { now } : {}),
  });
  const fleet = createFleetStore(store.redis, config.prefix);
  const services: Services = {
    store,
    artifacts,
    datasets,
    jobs: createJobService({ store, queues, artifacts, config, datasets, log: app.log, ...(now ? { now } : {}) }),
    files: createFileService({ artifacts }),
    predict: createPredictService({ artifacts, predictor: deps.predictor ?? ((a, jobId) => predictPool.load(a, jobId)) }),
    metrics,
    costs: createCostService({ config, meter: createMeter(store.redis, config.prefix), instances: fleet.instanceSource(), budgets: createBudgetStore(store.redis, config.prefix, config), ledger: createSpendLedger(store.redis, config.prefix, createMeter(store.redis, config.prefix), fleet.instanceSource()), ...(now ? { now } : {}) }),
    fleetHolds: async () => [...(await fleet.holds())].map(([resourceClass, h]) => ({ resourceClass, reason: h.reason, message: h.message, blocked: h.blocked, until: new Date(h.notBefore).toISOString() })),
  };

  await app.register(healthRoutes, { services });
  await app.register(dashboardRoutes);
  await app.register(async (v1) => {
    v1.addHook('onRequest', dependencyGate(store.redis));
    v1.addHook('onRequest', authHook(config, storedKey));
    if (config.limits.rateLimitPerMinute > 0) {
      await v1.register(rateLimit, {
        hook: 'preParsing',
        max: config.limits.rateLimitPerMinute,
        timeWindow: 60_000,
        redis: store.redis,
        nameSpace: `${config.prefix}:rate-limit:`,
        // per API key (by its digest); the key was checked by the auth hook above
        keyGenerator: (req) => createHash('sha256').update(String(req.headers.authorization ?? '')).digest('hex').slice(0, 32),
        skipOnError: false,
        errorResponseBuilder: (_req, ctx) =>
          new NightshiftError('rate_limited', `rate limit of ${ctx.max} requests per minute for this API key reached; retry after ${Math.ceil(ctx.ttl / 1000)} s`),
      });
    }
    v1.addHook('preValidation', requestShapeGuard);
    registerIdempotency(v1, store.redis, config.prefix);
    await v1.register(jobRoutes, { services });
    // event streams per tenant, counted in Redis across API processes
    const streams = createStreamCounter(store.redis, config.prefix, config.limits.maxEventStreams, deps.sseLeaseMs ? { leaseMs: deps.sseLeaseMs } : {});
    v1.addHook('onClose', async () => streams.close());
    await v1.register(jobFileRoutes, { services, streams, ...(deps.sseHeartbeatMs ? { heartbeatMs: deps.sseHeartbeatMs } : {}) });
    await v1.register(datasetRoutes, { services });
    await v1.register(datasetDeleteRoutes, { services });
    const batchStore = createBatchStore(store.redis, config.prefix, store, { jobCosts: (ids) => services.costs.costsOf(ids) });
    await v1.register(batchRoutes, { batches: createBatchService({ store, batches: batchStore, jobs: services.jobs, artifacts, ...(now ? { now } : {}) }) });
    await v1.register(instanceRoutes, { services, keyPrefix: config.prefix, now: now ?? (() => new Date()) });
    await v1.register(costRoutes, { services });
    await v1.register(budgetRoutes, { services });
  });
  return app;
}
