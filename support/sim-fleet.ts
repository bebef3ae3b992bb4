/**
 * A simulated fleet for scale runs: a ComputeProvider (kind `local`) whose instances
 * live in a few host processes (support/sim-host.ts), many per process: each is
 * the real worker agent and the real unit processor with a stand-in trainer. The
 * provisioner launches and terminates them like any other instances; a terminated
 * instance hands its unit back and is gone once its host says so.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Config } from '../services/core/config.ts';
import type { ComputeProvider, LaunchRequest, LaunchResult, ProviderInstance } from '../services/provisioner/provider.ts';
import { REPO_ROOT, workerEnv } from '../services/provisioner/worker-process.ts';

export interface SimFleet {
  provider: ComputeProvider;
  /** instances not terminated yet (as the provider lists them) */
  live(): number;
  /** the most instances live at once */
  peak(): number;
  /** instances launched so far */
  launched(): number;
  close(): Promise<void>;
}

interface Host {
  proc: ChildProcess;
  ids: Set<string>;
}

export async function startSimFleet(o: { config: Config; hosts: number; unitMs: number; env?: Record<string, string> }): Promise<SimFleet> {
  const entry = path.join(REPO_ROOT, 'support/sim-host.ts');
  const env = {
    ...workerEnv(o.config, { instanceId: 'sim-host', imdsEndpoint: 'off', shutdownCommand: 'true' }),
    NIGHTSHIFT_SIM_UNIT_MS: String(o.unitMs),
    NIGHTSHIFT_UNIT_LOCK_MS: String(o.config.unitLockMs),
    LOG_LEVEL: 'silent',
    ...o.env,
  };
  const views = new Map<string, ProviderInstance>();
  const hostOf = new Map<string, Host>();
  let peak = 0;
  let launched = 0;
  const liveCount = () => [...views.values()].filter((v) => v.state === 'running' || v.state === 'pending').length;

  const hosts: Host[] = await Promise.all(Array.from({ length: o.hosts }, () => new Promise<Host>((resolve, reject) => {
    const proc = fork(entry, [], { execArgv: ['--import', 'tsx'], cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const h: Host = { proc, ids: new Set() };
    proc.on('message', (m: { op: string; id?: string }) => {
      if (m.op === 'ready') resolve(h);
      else if (m.op === 'ended' && m.id) {
        const v = views.get(m.id);
        if (v) {
          v.state = 'terminated';
          v.endedAt = Date.now();
        }
        h.ids.delete(m.id);
      }
    });
    proc.once('exit', (code) => reject(new Error(`sim host exited with ${code} before it was ready`)));
  })));

  const provider: ComputeProvider = {
    kind: 'local',
    async launch(req: LaunchRequest): Promise<LaunchResult> {
      const mine = [...views.values()].filter((v) => v.launchId === req.launchId && v.state !== 'terminated');
      const out = [...mine];
      for (let n = mine.length; n < req.count; n++) {
        const id = `sim-${req.launchId}-${n}`;
        const host = hosts.reduce((a, b) => (b.ids.size < a.ids.size ? b : a));
        host.ids.add(id);
        hostOf.set(id, host);
        const view: ProviderInstance = { id, state: 'running', type: 'sim', market: 'on-demand', launchedAt: Date.now(), launchId: req.launchId, resourceClass: req.resourceClass };
        views.set(id, view);
        host.proc.send({ op: 'start', id });
        launched++;
        out.push(view);
      }
      peak = Math.max(peak, liveCount());
      return { instances: out.map((v) => ({ ...v })), hourlyUsd: 0, onDemandUsd: 0, priceSource: 'local (simulated)', minBilledS: 0 };
    },
    async describe() {
      const now = Date.now();
      for (const [id, v] of views) if (v.endedAt !== undefined && now - v.endedAt > 60_000) views.delete(id);
      return [...views.values()].map((v) => ({ ...v }));
    },
    async terminate(ids: string[]) {
      for (const id of ids) {
        const v = views.get(id);
        if (!v || v.state === 'terminated' || v.state === 'shutting-down') continue;
        v.state = 'shutting-down';
        hostOf.get(id)?.proc.send({ op: 'stop', id });
      }
    },
    async hourlyUsd() {
      return 0;
    },
    slots() {
      return 1;
    },
  };

  return {
    provider,
    live: liveCount,
    peak: () => peak,
    launched: () => launched,
    async close() {
      await Promise.all(hosts.map((h) => new Promise<void>((resolve) => {
        if (h.proc.exitCode !== null) return resolve();
        h.proc.once('exit', () => resolve());
        h.proc.kill('SIGTERM');
        setTimeout(() => h.proc.kill('SIGKILL'), 15_000).unref();
      })));
    },
  };
}
