/**
 * The Fastify app, built from its dependencies. No listening here (server.ts does
 * that); tests build the app and call app.inject().
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ArtifactStore } from '../core/artifacts.ts';
import type { Config } from '../core/config.ts';
import { JobSchema } from '../core/job.ts';
import type { Queues } from '../platform/queue.ts';
import type { Store } from '../platform/store.ts';
import { authHook, type Principal } from './auth.ts';
import { ErrorSchema, registerErrorHandling } from './errors.ts';
import { createMetrics, registerMetrics, type Metrics } from './metrics.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { datasetRoutes } from './routes/datasets.ts';
import { healthRoutes } from './routes/health.ts';
import { jobFileRoutes } from './routes/job-files.ts';
import { jobRoutes } from './routes/jobs.ts';
import { instanceRoutes } from './routes/instances.ts';
import { batchRoutes } from './routes/batches.ts';
import { createBatchService } from './services/batches.ts';
import { createBatchStore } from '../platform/batches.ts';
import { costRoutes } from './routes/costs.ts';
import { createCostService, type CostService } from './services/costs.ts';
import { createFleetStore } from '../provisioner/fleet-store.ts';
import { createMeter } from '../platform/meter.ts';
import { createDatasetService, type DatasetService } from './services/datasets.ts';
import { createFileService, type FileService } from './services/files.ts';
import { createJobService, type JobService } from './services/jobs.ts';
import { createPredictService, type PredictService, type PredictorFactory } from './services/predict.ts';
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
  /** loads a job's final model for predict (default: workers/trainer/ml/predict.ts, loaded on first use) */
  predictor?: PredictorFactory;
  now?: () => Date;
  /** SSE heartbeat interval (default 15 s) */
  sseHeartbeatMs?: number;
  /** metric registries of other parts in this process (the provisioner's), served on /metrics too */
  extraMetrics?: Registry[];
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

/** The trainer's predictor, imported on the first predict so the API does not load TensorFlow.js at boot. */
const defaultPredictor: PredictorFactory = async (artifacts, jobId) => {
  const { createPredictor } = await import('../../workers/trainer/ml/predict.ts');
  return createPredictor(artifacts, jobId);
};

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, store, queues, artifacts, now } = deps;
  const logger = deps.logger === undefined ? { level: config.logLevel } : deps.logger;
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
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  registerErrorHandling(app);
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

  const metrics = createMetrics();
  registerMetrics(app, metrics, deps.extraMetrics ?? []);

  const datasets = createDatasetService({ store, artifacts, dataSources: { bucket: artifacts.bucket, grants: config.s3Sources }, ...(now ? { now } : {}) });
  const fleet = createFleetStore(store.redis, config.prefix);
  const services: Services = {
    store,
    artifacts,
    datasets,
    jobs: createJobService({ store, queues, artifacts, config, datasets, log: app.log, ...(now ? { now } : {}) }),
    files: createFileService({ artifacts }),
    predict: createPredictService({ artifacts, predictor: deps.predictor ?? defaultPredictor }),
    metrics,
    costs: createCostService({ config, meter: createMeter(store.redis, config.prefix), instances: fleet.instanceSource(), ...(now ? { now } : {}) }),
    fleetHolds: async () => [...(await fleet.holds())].map(([resourceClass, h]) => ({ resourceClass, reason: h.reason, message: h.message, blocked: h.blocked, until: new Date(h.notBefore).toISOString() })),
  };

  app.addHook('onClose', async () => services.jobs.settle());
  await app.register(healthRoutes, { services });
  await app.register(dashboardRoutes);
  await app.register(async (v1) => {
    v1.addHook('onRequest', authHook(config));
    await v1.register(jobRoutes, { services });
    await v1.register(jobFileRoutes, { services, ...(deps.sseHeartbeatMs ? { heartbeatMs: deps.sseHeartbeatMs } : {}) });
    await v1.register(datasetRoutes, { services });
    const batchStore = createBatchStore(store.redis, config.prefix, store);
    await v1.register(batchRoutes, { batches: createBatchService({ store, batches: batchStore, jobs: services.jobs, artifacts, ...(now ? { now } : {}) }) });
    await v1.register(instanceRoutes, { services, keyPrefix: config.prefix, now: now ?? (() => new Date()) });
    await v1.register(costRoutes, { services });
  });
  return app;
}
