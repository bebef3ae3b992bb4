/**
 * The API as its own production process (`npm run start:api`, the api image): Redis,
 * the queues and the artifact store from the environment, then startServer, which
 * stops accepting on SIGTERM/SIGINT, lets requests in flight finish and closes. The
 * connections close after the server. `npm start` runs the API, the provisioner and
 * local workers together instead (services/local).
 */
import pino from 'pino';
import { configOrExit } from '../platform/boot.ts';
import { connectRedis } from '../platform/redis.ts';
import { createStore } from '../platform/store.ts';
import { createQueues } from '../platform/queue.ts';
import { s3ArtifactStore } from '../platform/artifacts.ts';
import { startServer } from './server.ts';

const config = configOrExit('api');

const logger = pino({ level: config.logLevel, base: { svc: 'api' } });
const redis = connectRedis(config.redisUrl, { autoPipeline: true, name: 'nightshift-api', cluster: config.redisCluster });
const bull = connectRedis(config.redisUrl, { autoPipeline: true, forBullWorker: true, name: 'nightshift-api-queues', cluster: config.redisCluster });
const queues = createQueues(bull, config.prefix);
const artifacts = s3ArtifactStore(config.s3);
// the bucket belongs to infra/ (CloudFormation); only an emulator endpoint (compose's moto profile) gets it made here
if (config.s3.endpoint) await artifacts.ensureBucket();
else await artifacts.ping();
const store = createStore(redis, config.prefix);

const server = await startServer({ config, store, queues, artifacts, logger }, { host: config.host, port: config.port });
logger.info({ url: server.url, compute: config.compute }, 'api listening');
// one plain line whatever the log level: where it listens (PORT=0 picks a free port)
process.stdout.write(`nightshift api: listening on ${server.url}\n`);
await server.closed;
await queues.close();
redis.disconnect();
bull.disconnect();
artifacts.client.destroy();
logger.info('api stopped');
process.exit(0);
