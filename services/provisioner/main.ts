/**
 * The provisioner as its own production process (`npm run start:provisioner`, the api
 * image with this command): the compute provider NIGHTSHIFT_COMPUTE names, the
 * reconcile loop with batch supervision, and a small HTTP listener on NIGHTSHIFT_PROVISIONER_PORT with
 * /healthz (Redis answers and a reconcile pass finished within the last 3 periods)
 * and /metrics. SIGTERM/SIGINT: the loop stops after its current pass and releases
 * its lease (another provisioner can take over at once), the provider closes (local
 * workers checkpoint and exit), then the listener.
 */
import { createServer } from 'node:http';
import pino from 'pino';
import { Registry } from 'prom-client';
import { configOrExit } from '../platform/boot.ts';
import { connectRedis } from '../platform/redis.ts';
import { createQueues } from '../platform/queue.ts';
import { createProvisioner } from './provisioner.ts';
import { createBatchSupervisor } from './batch-supervisor.ts';
import { createBatchStore } from '../platform/batches.ts';
import { createStore } from '../platform/store.ts';
import { s3ArtifactStore } from '../platform/artifacts.ts';
import { createComputeProvider } from './providers/index.ts';
import { createRetention } from '../platform/retention.ts';
import { startAggregateWorker } from '../platform/aggregate.ts';

const config = configOrExit('provisioner');

const logger = pino({ level: config.logLevel, base: { svc: 'provisioner' } });
const redis = connectRedis(config.redisUrl, { name: 'nightshift-provisioner', cluster: config.redisCluster });
const bull = connectRedis(config.redisUrl, { forBullWorker: true, name: 'nightshift-provisioner-queues', cluster: config.redisCluster });
const queues = createQueues(bull, config.prefix);
const registry = new Registry();
const provider = createComputeProvider(config, { env: process.env, logger });
const store = createStore(redis, config.prefix);
const artifacts = s3ArtifactStore(config.s3);
// batch schedules and deadlines are supervised by the acting provisioner, as in `npm start`
const batches = createBatchSupervisor({ store, batches: createBatchStore(redis, config.prefix, store), queues, artifacts, logger });
let lastPassAt = 0;
const provisioner = createProvisioner({ config, redis, queues, provider, logger, metricsRegistry: registry, batches, onPass: () => (lastPassAt = Date.now()) });

const http = createServer((req, res) => {
  void (async () => {
    if (req.url === '/healthz') {
      const redisOk = await redis.ping().then((p) => p === 'PONG', () => false);
      const loopOk = Date.now() - lastPassAt < 3 * config.reconcileIntervalMs + 5_000;
      res.writeHead(redisOk && loopOk ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: redisOk && loopOk, redis: redisOk, loop: loopOk }));
    } else if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
    } else {
      res.writeHead(404).end();
    }
  })().catch(() => res.writeHead(500).end());
});
await new Promise<void>((r) => http.listen(config.provisionerPort, config.host, () => r()));
provisioner.start();
// jobs are finished here too: a parent whose worker died is run again even once no instance is left
const aggregates = startAggregateWorker({ store, artifacts, logger, connection: bull, prefix: config.prefix });
// finished jobs past NIGHTSHIFT_RETENTION_DAYS leave Redis (a lock keeps replicas from sweeping twice)
const retention = createRetention({ store, queues, artifacts, days: config.retentionDays, logger });
retention.start();
logger.info({ compute: config.compute, port: config.provisionerPort }, 'provisioner running');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'provisioner stopping');
  await provisioner.stop();
  await aggregates.close();
  await retention.stop();
  await provider.close?.();
  await queues.close();
  await new Promise<void>((r) => http.close(() => r()));
  redis.disconnect();
  bull.disconnect();
  artifacts.client.destroy();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
