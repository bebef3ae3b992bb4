/**
 * A stand-in worker process for provisioner tests: the real agent, and a BullMQ
 * `units` consumer that sleeps NIGHTSHIFT_FAKE_UNIT_MS instead of training. Reads the
 * same environment as workers/trainer/main.ts (through loadConfig). It records what
 * it did in Redis so tests can check it:
 *   <prefix>:test:done         list of "<instanceId> <unitJobId>"
 *   <prefix>:test:interrupted  list of "<instanceId> <action>"
 *   <prefix>:test:handedback   list of "<instanceId> <unitJobId>" (interrupted mid-unit)
 * Like the trainer it records each unit's stay on the instance for the meter, and
 * parks units of a job stopped by its budget.
 */
import { DelayedError, Worker, WaitingError } from 'bullmq';
import { createMeter } from '../services/platform/meter.ts';
import { BUDGET_PARK_MS } from '../workers/trainer/runtime/unit-processor.ts';
import { loadConfig } from '../services/core/config.ts';
import { QUEUES } from '../services/core/catalog.ts';
import { connectRedis } from '../services/platform/redis.ts';
import { startAgent } from '../workers/trainer/agent/index.ts';

const config = loadConfig();
const unitMs = Number(process.env.NIGHTSHIFT_FAKE_UNIT_MS ?? 200);
const redis = connectRedis(config.redisUrl, { forBullWorker: true, name: 'nightshift-fake-worker' });
const log = (level: string) => (o: object, m?: string) => {
  if (process.env.NIGHTSHIFT_FAKE_VERBOSE) process.stderr.write(`${level} ${m ?? ''} ${JSON.stringify(o)}\n`);
};
const agent = await startAgent({
  redis,
  prefix: config.prefix,
  instanceId: config.instanceId,
  workerId: `fake-${process.pid}`,
  idleTimeoutS: config.idleTimeoutS,
  imdsEndpoint: config.imdsEndpoint,
  shutdownCommand: config.shutdownCommand,
  spotPollMs: Number(process.env.NIGHTSHIFT_FAKE_SPOT_POLL_MS ?? 5_000),
  logger: { info: log('info'), warn: log('warn') },
});

let active = 0;
let interrupted = false;
const meter = createMeter(redis, config.prefix);
const worker = new Worker(
  QUEUES.units,
  async (job, token) => {
    const jobId = String(job.data.jobId);
    if ((await redis.hget(`${config.prefix}:job:${jobId}`, 'status')) === 'budget_exhausted' && token) {
      await job.moveToDelayed(Date.now() + BUDGET_PARK_MS, token);
      throw new DelayedError();
    }
    active++;
    agent.setActiveUnits(active);
    const span = { instanceId: agent.instanceId, jobId, tenant: String(job.data.tenant), unit: String(job.id), start: Date.now() };
    await meter.unitStarted(span);
    try {
      const end = Date.now() + unitMs;
      while (Date.now() < end) {
        if (interrupted) {
          // handed back without spending an attempt, like the trainer does
          await job.moveToWait(token);
          await redis.rpush(`${config.prefix}:test:handedback`, `${agent.instanceId} ${job.id}`);
          throw new WaitingError();
        }
        await new Promise((r) => setTimeout(r, Math.min(50, end - Date.now())));
      }
      await redis.rpush(`${config.prefix}:test:done`, `${agent.instanceId} ${job.id}`);
    } finally {
      await meter.unitEnded(span, Date.now());
      active--;
      agent.setActiveUnits(active);
    }
  },
  { connection: redis, prefix: config.prefix, concurrency: config.workerConcurrency },
);
worker.on('error', () => {});

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.race([worker.close(), new Promise((r) => setTimeout(r, 3_000))]);
  await agent.stop();
  redis.disconnect();
  process.exit(code);
}

agent.onInterruption((notice) => {
  interrupted = true;
  void redis.rpush(`${config.prefix}:test:interrupted`, `${agent.instanceId} ${notice.action}`).finally(() => shutdown(0));
});
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
