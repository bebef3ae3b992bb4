/**
 * The local provider: every "instance" is a worker child process on this machine,
 * with the same lifecycle as a cloud instance (launch, heartbeats, idle scale-down,
 * dead-man switch). A worker that shuts itself down exits (its shutdown command
 * signals its own process), which the provider reports as terminated.
 */
import { cpus } from 'node:os';
import path from 'node:path';
import type { Config } from '../../core/config.ts';
import type { ComputeProvider, LaunchRequest, LaunchResult, ProviderInstance } from '../provider.ts';
import { DEFAULT_WORKER_ENTRY, endWorker, spawnWorker, workerEnv, type SpawnedWorker } from '../worker-process.ts';

export interface LocalProviderOptions {
  /** worker entry (default workers/trainer/main.ts) */
  entry?: string;
  /** base environment of the workers (default process.env); the worker settings are set over it */
  env?: Record<string, string | undefined>;
  /** where worker logs go (default <dataDir>/workers) */
  logDir?: string;
  /** ms between SIGTERM and SIGKILL on terminate (default 5000) */
  terminateGraceMs?: number;
  /** how long terminated instances stay listed (default 60 s) */
  keepTerminatedMs?: number;
}

interface LocalInstance {
  view: ProviderInstance;
  worker: SpawnedWorker;
  endedAt?: number;
}

export const localMaxInstances = (): number => Math.max(1, cpus().length);

export function createLocalProvider(config: Config, o: LocalProviderOptions = {}): ComputeProvider {
  const byId = new Map<string, LocalInstance>();
  const entry = o.entry ?? DEFAULT_WORKER_ENTRY;
  const logDir = o.logDir ?? path.join(config.dataDir, 'workers');
  const keepMs = o.keepTerminatedMs ?? 60_000;

  function prune(now: number): void {
    for (const [id, i] of byId) if (i.endedAt !== undefined && now - i.endedAt > keepMs) byId.delete(id);
  }

  return {
    kind: 'local',
    async launch(req: LaunchRequest): Promise<LaunchResult> {
      const existing = [...byId.values()].filter((i) => i.view.launchId === req.launchId && i.endedAt === undefined);
      const out = existing.map((i) => i.view);
      for (let n = existing.length; n < req.count; n++) {
        const id = `local-${req.launchId}-${n}`;
        const env = workerEnv(config, {
          instanceId: id,
          imdsEndpoint: 'off',
          // the worker's shell is a child of the worker: ending its parent ends this "machine"
          shutdownCommand: 'kill -TERM $PPID',
          // a provisioner that dies hard takes its local "machines" with it (no orphans)
          // and it takes as many units at once as the planner counts slots for it
          extra: { NIGHTSHIFT_PARENT_PID: String(process.pid), NIGHTSHIFT_WORKER_CONCURRENCY: String(config.workerConcurrency) },
        });
        const worker = spawnWorker({ entry, env, baseEnv: o.env, logFile: path.join(logDir, `${id}.log`) });
        const view: ProviderInstance = { id, state: 'running', type: 'local', market: 'on-demand', launchedAt: Date.now(), launchId: req.launchId, resourceClass: req.resourceClass };
        const inst: LocalInstance = { view, worker };
        byId.set(id, inst);
        void worker.exited.then(() => {
          inst.endedAt = Date.now();
          view.state = 'terminated';
          view.endedAt = inst.endedAt;
        });
        out.push(view);
      }
      return { instances: out.map((v) => ({ ...v })), hourlyUsd: config.localHourlyUsd, onDemandUsd: config.localHourlyUsd, priceSource: 'local (NIGHTSHIFT_LOCAL_HOURLY_USD)', minBilledS: 0 };
    },
    async describe() {
      prune(Date.now());
      return [...byId.values()].map((i) => ({ ...i.view }));
    },
    async terminate(ids: string[]) {
      for (const id of ids) {
        const i = byId.get(id);
        if (!i || i.endedAt !== undefined) continue;
        i.view.state = 'shutting-down';
        // like a cloud terminate: asked now, gone a little later (SIGKILL after the grace)
        void endWorker(i.worker, o.terminateGraceMs ?? 5_000);
      }
    },
    async hourlyUsd() {
      return config.localHourlyUsd;
    },
    slots() {
      return config.workerConcurrency;
    },
    async close() {
      await Promise.all([...byId.values()].map((i) => endWorker(i.worker, o.terminateGraceMs ?? 5_000)));
    },
  };
}
