/**
 * Worker process: one per (local or cloud) instance. Pulls training units and
 * job aggregations from the queues, trains in child processes (one per slot:
 * NIGHTSHIFT_WORKER_CONCURRENCY), heartbeats to the provisioner through the agent,
 * and exits cleanly on SIGTERM or a spot notice (running units are checkpointed and
 * handed back first); a spot rebalance recommendation makes running units checkpoint
 * early. On a machine launched for a GPU (NIGHTSHIFT_ACCELERATOR=gpu) it first proves
 * the GPU works (gpu/verify.ts); when it cannot, it reports why and powers the machine
 * off without taking a unit.
 */
import { exec } from 'node:child_process';
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import pino from 'pino';
import { configOrExit } from '../../services/platform/boot.ts';
import { QUEUES } from '../../services/core/catalog.ts';
import { newId } from '../../services/core/ids.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createStore } from '../../services/platform/store.ts';
import { createMeter } from '../../services/platform/meter.ts';
import { s3ArtifactStore } from '../../services/platform/artifacts.ts';
import { startAgent } from './agent/index.ts';
import { ChildPool } from './runtime/child-pool.ts';
import { gpuBackendLabel, verifyGpu, type GpuVerdict } from './gpu/verify.ts';
import { realGpuProbe } from './gpu/probe.ts';
import { createUnitProcessor } from './runtime/unit-processor.ts';
import { startAggregateWorker } from '../../services/platform/aggregate.ts';

const config = configOrExit('worker');

const workerId = newId('wrk');
const logger = pino({ level: config.logLevel, base: { svc: 'worker', workerId, instanceId: config.instanceId } });
const redis = connectRedis(config.redisUrl, { forBullWorker: true, name: 'nightshift-worker', cluster: config.redisCluster });
const store = createStore(redis, config.prefix);
const artifacts = s3ArtifactStore(config.s3);
const pool = new ChildPool(config.workerConcurrency);

let interrupted = false;
let active = 0;
const agent = await startAgent({
  redis,
  prefix: config.prefix,
  instanceId: config.instanceId,
  workerId,
  idleTimeoutS: config.idleTimeoutS,
  imdsEndpoint: config.imdsEndpoint,
  shutdownCommand: config.shutdownCommand,
  ...(config.healthFile ? { healthFile: config.healthFile } : {}),
  logger,
});

// A GPU is trusted only once verified: nvidia-smi sees it, TensorFlow registered it, a matmul ran on it.
// On a machine launched for a GPU the check runs before any trainer process holds the device.
let verdict: GpuVerdict | undefined = config.accelerator === 'gpu' ? await verifyGpu(realGpuProbe) : undefined;
if (verdict && !verdict.ok) {
  // asked for a GPU and cannot use it: training on the CPU at GPU prices is worse than not training
  logger.error({ code: verdict.code, reason: verdict.reason }, 'GPU unusable: reporting and powering off without taking units');
  await agent.reportGpuFailure(`${verdict.code}: ${verdict.reason}`).catch((err: Error) => logger.error({ err: err.message }, 'could not report the GPU failure'));
  agent.shutdownMachine('GPU unusable');
  await agent.stop();
  redis.disconnect();
  process.exit(3);
}
// Warm the trainer children (backend selection) before taking work.
const backend = await pool.warm();
// tfjs-node-gpu loaded on a machine not launched for a GPU: check before any unit claims one
if (!verdict && backend === 'tensorflow-gpu') verdict = await verifyGpu(realGpuProbe);
let backendLabel: ((b: string) => string) | undefined;
if (verdict?.ok) {
  logger.info({ gpu: verdict.gpu, gpus: verdict.gpus, matmulMs: verdict.matmulMs }, 'GPU verified');
  const gpu = verdict.gpu;
  backendLabel = (b) => (b === 'tensorflow-gpu' ? gpuBackendLabel(gpu) : b);
} else if (verdict) {
  logger.warn({ code: verdict.code, reason: verdict.reason }, 'tfjs-node-gpu loaded but the GPU is unusable; units say so in their backend');
  const code = verdict.code;
  backendLabel = (b) => (b === 'tensorflow-gpu' ? `tensorflow (GPU unusable: ${code})` : b);
}

const unitWorker = new Worker(QUEUES.units, createUnitProcessor({
  store,
  child: pool,
  ...(backendLabel ? { backendLabel } : {}),
  workerId,
  instanceId: agent.instanceId,
  dataSources: { bucket: config.s3.bucket, grants: config.s3Sources },
  interrupted: () => interrupted,
  onActive: (delta) => {
    active += delta;
    agent.setActiveUnits(active);
  },
  onProgress: () => agent.progress(),
  meter: createMeter(redis, config.prefix),
  logger,
}), {
  connection: redis,
  prefix: config.prefix,
  concurrency: pool.size,
  lockDuration: config.unitLockMs,
  stalledInterval: Math.max(1_000, Math.floor(config.unitLockMs / 2)),
  maxStalledCount: 5,
  autorun: false,
});
const aggregateWorker = startAggregateWorker({ store, artifacts, logger, connection: redis, prefix: config.prefix, autorun: false });
// the aggregate worker logs its own errors and failed steps (startAggregateWorker)
unitWorker.on('error', (err) => logger.error({ err }, 'queue worker error'));
unitWorker.on('failed', (job, err) => logger.warn({ jobId: job?.id, err: err.message }, 'queue job failed'));

logger.info({ backend, slots: pool.size, instanceId: agent.instanceId, host: hostname() }, 'worker ready');
// the bootstrap's delayed power-off guards a machine whose worker never starts; this one did
if (config.handoverCommand) {
  exec(config.handoverCommand, (err) => {
    if (err) logger.warn({ err: err.message, command: config.handoverCommand }, 'handover command failed');
  });
}
void unitWorker.run();
void aggregateWorker.run();

let stopping = false;
async function shutdown(reason: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  interrupted = true;
  logger.info({ reason }, 'worker stopping: running units are checkpointed and handed back');
  // Units in flight see `interrupted` within 200 ms, checkpoint at the next epoch and go back to the queue.
  await Promise.race([Promise.all([unitWorker.close(), aggregateWorker.close()]), new Promise((r) => setTimeout(r, 60_000))]);
  await pool.close();
  await agent.stop();
  redis.disconnect();
  process.exit(code);
}

agent.onInterruption((notice) => {
  logger.warn({ notice }, 'interruption notice');
  void shutdown(`interruption: ${notice.action}`);
});
agent.onRebalance((notice) => {
  logger.warn({ notice }, 'rebalance recommendation: running units checkpoint at their next epoch');
  for (const c of pool.all) c.requestCheckpoint();
});
process.on('SIGTERM', () => void shutdown('SIGTERM'));
if (config.parentPid !== undefined) {
  // a local worker whose provisioner is gone (killed, crashed) stops like a machine powered off by it
  const parentPid = config.parentPid;
  setInterval(() => {
    if (process.ppid !== parentPid) void shutdown('provisioner process gone');
  }, 1_000).unref();
}
process.on('SIGINT', () => void shutdown('SIGINT'));
