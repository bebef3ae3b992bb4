/**
 * The reconcile loop, every reconcileIntervalMs under a Redis lease so two provisioners
 * never both act: observe (observe.ts: cloud instances by tag, fleet records, worker
 * heartbeats; economy.ts: queue demand through the budget gate) -> plan (planner.ts,
 * pure, fed by plan-input.ts) -> act (act.ts: claim + terminate, launch). A restarted
 * provisioner adopts what it finds: instances carry their launch id as a tag and
 * launch intents are written before the cloud call. `wake()` runs a pass soon instead
 * of at the end of the current period (new work was queued).
 */
import { parseResourceClass } from '../core/resource-class.ts';
import type { InstanceView } from '../core/views.ts';
import { costOf, type SpotPolicy } from '../platform/fleet.ts';
import { plan, type Action, type Plan } from './planner.ts';
import type { ComputeProvider, InstanceState } from './provider.ts';
import { provisionerMetrics, updateGauges } from './metrics.ts';
import { observe } from './observe.ts';
import { rereadSpotPrices } from './spot-prices.ts';
import { planInputOf } from './plan-input.ts';
import { act, handleGpuFailures, type ActDeps } from './act.ts';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '../core/config.ts';
import { onUnitsQueued, type Queues } from '../platform/queue.ts';
import type { BatchBudgets } from '../core/budget.ts';
import { createMeter } from '../platform/meter.ts';
import { createBudgetStore } from '../platform/budgets.ts';
import { createEconomy } from './economy.ts';
import { MIN_BILLED_S } from '../core/costs.ts';
import { createFleetStore, fleetInstances } from '../platform/fleet-store.ts';
import type { BatchSupervisor } from './batch-supervisor.ts';
import { deadlineDemand } from '../core/deadline.ts';

export interface Logger {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
  error(o: object, m?: string): void;
}

export interface ProvisionerDeps {
  config: Config;
  redis: Redis;
  queues: Queues;
  provider: ComputeProvider;
  logger: Logger;
  metricsRegistry?: Registry;
  /** market policy for launches (default: config.ec2.spot, else "no": on-demand) */
  spot?: SpotPolicy;
  /** a worker silent this long is lost (default max(30 s, 2 x idle timeout)) */
  staleAfterMs?: number;
  now?: () => number;
  id?: string;
  /** batch schedules and deadlines, run by the leader every pass (absent: no batch supervision) */
  batches?: BatchSupervisor;
  /** batch budgets (budgetUsd of the batch record); absent = batches have no budget of their own */
  batchBudgets?: BatchBudgets;
  /** called after every reconcile pass that finished (health checks) */
  onPass?(r: PlanResult): void;
}

export interface PlanResult {
  at: string;
  leader: boolean;
  actions: Action[];
  held: Plan['held'];
  launched: string[];
  terminated: string[];
  skipped: Array<{ id: string; why: string }>;
  errors: string[];
  /** classes that get no launches because their instances could not use their GPU */
  blocked: Array<{ resourceClass: string; reason: string }>;
  /** how long each step of the pass took, ms (what a slow pass spent its time on) */
  phasesMs: Record<string, number>;
}

export type { InstanceView } from '../core/views.ts';

export interface Provisioner {
  readonly id: string;
  start(): void;
  stop(opts?: { releaseLease?: boolean }): Promise<void>;
  reconcileOnce(): Promise<PlanResult>;
  instances(): Promise<InstanceView[]>;
  /** runs the next pass soon (within 50 ms, or right after the one in progress) instead of at the end of the period */
  wake(): void;
}


export function createProvisioner(d: ProvisionerDeps): Provisioner {
  const { config, provider, logger: log } = d;
  const now = d.now ?? Date.now;
  const id = d.id ?? `prov-${randomBytes(4).toString('hex')}`;
  const store = createFleetStore(d.redis, config.prefix);
  const m = provisionerMetrics(d.metricsRegistry);
  const intervalMs = config.reconcileIntervalMs;
  const leaseMs = 3 * intervalMs + 1_000;
  const staleAfterMs = d.staleAfterMs ?? Math.max(30_000, 2 * config.idleTimeoutS * 1000);
  const spot = d.spot ?? config.ec2.spot ?? 'no';
  const cpuSpot = d.spot ?? config.ec2.cpuSpot ?? spot;
  /** a job's own resources.spot wins over the provisioner's default (CPU classes: spot first unless set otherwise) */
  const spotOf = (cls: string): SpotPolicy => {
    const c = parseResourceClass(cls);
    return c.spot ?? (c.accelerator === 'cpu' ? cpuSpot : spot);
  };
  const minBilledS = provider.kind === 'local' ? 0 : MIN_BILLED_S;
  const lastState = new Map<string, InstanceState>();
  const meter = createMeter(d.redis, config.prefix);
  const economy = createEconomy({
    config, redis: d.redis, queues: d.queues, fleet: store, meter, log, now,
    hourlyUsd: (cls) => provider.hourlyUsd(cls, spotOf(cls)),
    slots: (cls) => provider.slots(cls),
    minBilledS,
    ...(d.batchBudgets ? { batchBudgets: d.batchBudgets } : {}),
    budgets: createBudgetStore(d.redis, config.prefix, config),
  });
  const actDeps: ActDeps = { config, store, provider, meter, economy, m, log, now, spotOf };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;
  let inPass = false;
  let wakeAgain = false;

  async function reconcile(): Promise<PlanResult> {
    const t = now();
    const res: PlanResult = { at: new Date(t).toISOString(), leader: false, actions: [], held: [], launched: [], terminated: [], skipped: [], errors: [], blocked: [], phasesMs: {} };
    let mark = performance.now();
    const phase = (name: string) => {
      const at = performance.now();
      res.phasesMs[name] = (res.phasesMs[name] ?? 0) + (at - mark);
      mark = at;
    };
    await store.beat(id, leaseMs);
    res.leader = await store.holdLease(id, leaseMs);
    phase('lease');
    m.leader.set(res.leader ? 1 : 0);
    if (!res.leader) return res;

    // observe
    // the two run side by side: each one's own time is recorded as well as the step's
    const timed = async <T>(name: string, work: Promise<T>): Promise<T> => {
      const t0 = performance.now();
      try {
        return await work;
      } finally {
        res.phasesMs[name] = performance.now() - t0;
      }
    };
    const [econ, o] = await Promise.all([
      timed('observe.economy', economy.pass(t)),
      timed('observe.fleet', observe({ store, provider, log, lastState, bootTimeoutMs: config.bootTimeoutS * 1000, adoptedHourlyUsd: (cls, market) => provider.hourlyUsd(cls, market === 'spot' ? 'require' : 'no') }, t)),
    ]);
    phase('observe');
    for (const [name, ms] of Object.entries(econ.phasesMs)) res.phasesMs[`observe.economy.${name}`] = ms;
    let demand = econ.demand;
    await rereadSpotPrices({ store, provider, log }, o.records, t);
    phase('spotPrices');
    await economy.settle(o.retired).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not write job costs; the API still computes them'));
    phase('settle');
    await handleGpuFailures(actDeps, t, o.records, o.observed, demand, res);
    updateGauges(m, demand, o.observed);
    phase('gpuFailures');
    if (d.batches) {
      // deadlines: jobs past theirs end, and classes that only serve deadline batches scale to what the deadlines need
      try {
        const live: Record<string, number> = {};
        for (const x of o.observed) if (x.state === 'pending' || x.state === 'running') live[x.resourceClass] = (live[x.resourceClass] ?? 0) + 1;
        const needs = await d.batches.tick(t, { live, slots: (c) => provider.slots(c), maxInstances: config.maxInstances, bootSeconds: config.compute === 'local' ? 5 : 180 });
        demand = deadlineDemand(demand, needs);
      } catch (err) {
        res.errors.push(`batches: ${(err as Error).message}`);
        log.error({ err: (err as Error).message }, 'batch supervision failed; retried next pass');
      }
      phase('batches');
    }

    // plan
    const classes = [...Object.keys(demand)];
    const hourlyUsd: Record<string, number> = {};
    for (const c of classes) hourlyUsd[c] = await provider.hourlyUsd(c, spotOf(c));
    m.spentUsd.set((await store.spentUsd()) + [...o.records.values()].reduce((s, r) => s + costOf(r, t), 0));
    const p = plan(planInputOf(config, {
      now: t, demand, observed: o.observed, hourlyUsd, staleAfterMs, reserveS: minBilledS,
      slots: Object.fromEntries(classes.map((c) => [c, provider.slots(c)])),
      ...(econ.budgetLeftUsd !== undefined ? { budgetLeftUsd: econ.budgetLeftUsd } : {}),
      holds: econ.holds, lastDemandAt: econ.lastDemandAt,
    }));
    res.actions = p.actions;
    res.held = p.held;
    for (const h of p.held) m.held.inc({ reason: h.reason, class: h.resourceClass }, h.wanted);
    phase('plan');

    // a slow observe step (a loaded machine, a slow cloud API) must not let the lease lapse before acting
    if (!(await store.holdLease(id, leaseMs))) {
      res.leader = false;
      m.leader.set(0);
      return res;
    }
    // act
    phase('lease');
    await act(actDeps, p.actions, o.observed, o.records, o.launches, econ.jobsByClass, t, res);
    phase('act');
    await store.holdLease(id, leaseMs); // renewed after acting: cloud calls can outlast it
    phase('lease');
    return res;
  }

  async function reconcileOnce(): Promise<PlanResult> {
    const end = m.reconcileSeconds.startTimer();
    const p = reconcile()
      .then((r) => {
        m.reconciles.inc({ result: r.leader ? 'ok' : 'not_leader' });
        return r;
      })
      .catch((err) => {
        m.reconciles.inc({ result: 'error' });
        throw err;
      })
      .finally(end);
    running = p.catch(() => undefined);
    return p;
  }

  function schedule(ms: number): void {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void loop(), ms);
  }

  async function loop(): Promise<void> {
    if (stopped) return;
    inPass = true;
    wakeAgain = false;
    try {
      // the pass runs first: d.onPass?.(await ...) would skip the await when there is no onPass
      const r = await reconcileOnce();
      d.onPass?.(r);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'reconcile failed');
    }
    inPass = false;
    if (!stopped) schedule(wakeAgain ? 0 : intervalMs);
  }

  let stopWakes: (() => void) | undefined;
  const self: Provisioner = {
    id,
    start() {
      stopped = false;
      // queued units wake the loop at once; the period is the fallback
      stopWakes ??= onUnitsQueued(d.redis, config.prefix, () => self.wake());
      log.info({ provisionerId: id, provider: provider.kind, intervalMs, maxInstances: config.maxInstances, idleTimeoutS: config.idleTimeoutS, spot }, 'provisioner started');
      void loop();
    },
    async stop(opts = {}) {
      stopped = true;
      stopWakes?.();
      stopWakes = undefined;
      if (timer) clearTimeout(timer);
      await running;
      if (opts.releaseLease !== false) await store.releaseLease(id).catch(() => undefined);
    },
    reconcileOnce,
    wake() {
      if (stopped || timer === undefined) return;
      if (inPass) wakeAgain = true;
      else schedule(50);
    },
    async instances(): Promise<InstanceView[]> {
      return fleetInstances(store, now(), lastState);
    },
  };
  return self;
}
