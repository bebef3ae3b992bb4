/**
 * A host of simulated instances for scale runs (support/sim-fleet.ts starts a few
 * of these): each instance the parent asks for is the real worker agent (heartbeats
 * the provisioner reads, the dead-man switch) and a BullMQ `units` consumer running the
 * real unit processor, whose trainer is a stand-in that sleeps NIGHTSHIFT_SIM_UNIT_MS,
 * reports one epoch and returns a result. One aggregation consumer per host completes
 * the jobs (the real aggregate processor). Many instances share one process, so a
 * 2-core machine can run a hundred of them.
 *
 * IPC from the parent: {op:'start', id} | {op:'stop', id}; to the parent:
 * {op:'ready'} | {op:'started', id} | {op:'ended', id}.
 * Every unit a stand-in trainer ran is recorded in the Redis list <prefix>:sim:runs
 * ("<unit job id> <instance id>"), so a run can check that no unit ran twice.
 */
import { Worker } from 'bullmq';
import { loadConfig } from '../services/core/config.ts';
import { QUEUES } from '../services/core/catalog.ts';
import { connectRedis } from '../services/platform/redis.ts';
import { createStore } from '../services/platform/store.ts';
import { createMeter } from '../services/platform/meter.ts';
import { s3ArtifactStore } from '../services/platform/artifacts.ts';
import { startAgent, type WorkerAgent } from '../workers/trainer/agent/index.ts';
import { ChildPool } from '../workers/trainer/runtime/child-pool.ts';
import { createUnitProcessor } from '../workers/trainer/runtime/unit-processor.ts';
import { createAggregateProcessor } from '../services/platform/aggregate.ts';
import type { RunHandlers, TrainerChild, UnitOutcome } from '../workers/trainer/runtime/trainer-child.ts';
import type { RunUnitMessage } from '../workers/trainer/runtime/protocol.ts';

const config = loadConfig();
const unitMs = Number(process.env.NIGHTSHIFT_SIM_UNIT_MS ?? 100);
const redis = connectRedis(config.redisUrl, { forBullWorker: true, name: 'nightshift-sim-host' });
redis.on('error', () => {});
const store = createStore(redis, config.prefix);
const meter = createMeter(redis, config.prefix);
const artifacts = s3ArtifactStore(config.s3);
const runsKey = `${config.prefix}:sim:runs`;
const quiet = { info() {}, warn() {}, error() {} };
const send = (m: object) => {
  if (process.connected) process.send?.(m, undefined, {}, () => undefined);
};

/** The stand-in trainer: no model, one epoch, a random score. */
function standInTrainer(instanceId: string): TrainerChild {
  let stop = false;
  const child = {
    async run(msg: RunUnitMessage, h: RunHandlers = {}): Promise<UnitOutcome> {
      stop = false;
      const u = msg.payload.unit;
      const t0 = Date.now();
      await redis.rpush(runsKey, `${msg.payload.jobId}.${u.key} ${instanceId}`);
      await new Promise((r) => setTimeout(r, unitMs));
      if (stop) return { kind: 'interrupted', epoch: 0 };
      h.onEpoch?.({ type: 'epoch', unit: u.key, epoch: 1, epochs: 1, logs: { loss: 0.5 } });
      return {
        kind: 'done',
        result: {
          key: u.key, kind: u.kind, run: u.run, repeat: u.repeat, fold: u.fold, score: Math.random(), heldOut: { loss: 0.5 },
          epochs: 1, trainRows: 90, testRows: 10, durationMs: Date.now() - t0, backend: 'none', engine: 'stand-in', worker: `sim-${instanceId}`, instanceId,
        },
      };
    },
    requestStop() {
      stop = true;
    },
    kill() {
      stop = true;
    },
    requestCheckpoint() {},
    async warm() {
      return 'none';
    },
    async close() {},
  };
  return child as unknown as TrainerChild;
}

interface SimInstance {
  agent: WorkerAgent;
  worker: Worker;
  stopping: boolean;
}
const instances = new Map<string, SimInstance>();

async function start(id: string): Promise<void> {
  if (instances.has(id)) return;
  const agent = await startAgent({
    redis, prefix: config.prefix, instanceId: id, workerId: `sim-${id}`, idleTimeoutS: config.idleTimeoutS,
    imdsEndpoint: 'off', shutdownCommand: 'true', logger: quiet,
  });
  let active = 0;
  const self: SimInstance = { agent, worker: undefined as unknown as Worker, stopping: false };
  self.worker = new Worker(QUEUES.units, createUnitProcessor({
    store, child: new ChildPool(1, () => standInTrainer(id)), workerId: `sim-${id}`, instanceId: id,
    dataSources: { bucket: config.s3.bucket, grants: config.s3Sources },
    interrupted: () => self.stopping,
    onActive: (d) => {
      active += d;
      agent.setActiveUnits(active);
    },
    onProgress: () => agent.progress(),
    meter,
    logger: quiet,
  }), { connection: redis, prefix: config.prefix, concurrency: 1, lockDuration: config.unitLockMs, stalledInterval: Math.max(1_000, Math.floor(config.unitLockMs / 2)), maxStalledCount: 5 });
  self.worker.on('error', () => {});
  instances.set(id, self);
  send({ op: 'started', id });
}

async function stop(id: string): Promise<void> {
  const i = instances.get(id);
  if (!i || i.stopping) return;
  i.stopping = true;
  // like the worker's SIGTERM: the unit in flight is handed back, then the machine is gone
  await Promise.race([i.worker.close(), new Promise((r) => setTimeout(r, 10_000))]);
  await i.agent.stop();
  instances.delete(id);
  send({ op: 'ended', id });
}

const aggregator = new Worker(QUEUES.jobs, createAggregateProcessor({ store, artifacts, logger: quiet }), { connection: redis, prefix: config.prefix, concurrency: 8 });
aggregator.on('error', () => {});

process.on('message', (m: { op: string; id: string }) => {
  if (m.op === 'start') void start(m.id).catch((err: Error) => process.stderr.write(`start ${m.id}: ${err.message}\n`));
  else if (m.op === 'stop') void stop(m.id).catch((err: Error) => process.stderr.write(`stop ${m.id}: ${err.message}\n`));
});
process.on('disconnect', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
let down = false;
async function shutdown(): Promise<void> {
  if (down) return;
  down = true;
  await Promise.all([...instances.keys()].map(stop));
  await aggregator.close();
  redis.disconnect();
  artifacts.client.destroy();
  process.exit(0);
}
send({ op: 'ready' });
