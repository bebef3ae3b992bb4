/**
 * The reconcile loop: observe (queue demand, cloud instances by tag, fleet records,
 * worker heartbeats) -> plan (planner.ts, pure) -> act (claim + terminate, launch),
 * every reconcileIntervalMs, under a Redis lease so two provisioners never both act.
 * A restarted provisioner adopts what it finds: instances carry their launch id as a
 * tag and launch intents are written before the cloud call.
 */
import { parseResourceClass } from '../core/resolve.ts';
import type { InstanceView } from '../core/views.ts';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '../core/config.ts';
import type { Queues } from '../platform/queue.ts';
import type { BatchBudgets } from '../core/budget.ts';
import { createMeter } from '../platform/meter.ts';
import { createBudgetStore } from '../platform/budgets.ts';
import { createEconomy } from './economy.ts';
import { MIN_BILLED_S } from '../core/costs.ts';
import { costOf, type InstanceRecord, type LaunchRecord, type SpotPolicy } from '../platform/fleet.ts';
import { createFleetStore, fleetInstances } from '../platform/fleet-store.ts';
import { provisionerMetrics } from './metrics.ts';
import { plan, type Action, type ObservedInstance, type Plan } from './planner.ts';
import { planGpuFailures } from './gpu-failures.ts';
import { LaunchError, type ComputeProvider, type InstanceState } from './provider.ts';
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
}

export type { InstanceView } from '../core/views.ts';

export interface Provisioner {
  readonly id: string;
  start(): void;
  stop(opts?: { releaseLease?: boolean }): Promise<void>;
  reconcileOnce(): Promise<PlanResult>;
  instances(): Promise<InstanceView[]>;
}

const RECENT_INTENT_MS = 60_000;

export function createProvisioner(d: ProvisionerDeps): Provisioner {
  const { config, provider, logger: log } = d;
  const now = d.now ?? Date.now;
  const id = d.id ?? `prov-${randomBytes(4).toString('hex')}`;
  const store = createFleetStore(d.redis, config.prefix);
  const m = provisionerMetrics(d.metricsRegistry);
  const intervalMs = config.reconcileIntervalMs;
  const leaseMs = 3 * intervalMs + 1_000;
  const idleMs = config.idleTimeoutS * 1000;
  const staleAfterMs = d.staleAfterMs ?? Math.max(30_000, 2 * idleMs);
  const spot = d.spot ?? config.ec2.spot ?? 'no';
  /** a job's own resources.spot wins over the provisioner's default */
  const spotOf = (cls: string): SpotPolicy => parseResourceClass(cls).spot ?? spot;
  const lastState = new Map<string, InstanceState>();
  const meter = createMeter(d.redis, config.prefix);
  const economy = createEconomy({
    config, redis: d.redis, queues: d.queues, fleet: store, meter, log, now,
    hourlyUsd: (cls) => provider.hourlyUsd(cls, spotOf(cls)),
    slots: (cls) => provider.slots(cls),
    minBilledS: provider.kind === 'local' ? 0 : MIN_BILLED_S,
    ...(d.batchBudgets ? { batchBudgets: d.batchBudgets } : {}),
    budgets: createBudgetStore(d.redis, config.prefix, config),
  });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;

  async function reconcile(): Promise<PlanResult> {
    const t = now();
    const res: PlanResult = { at: new Date(t).toISOString(), leader: false, actions: [], held: [], launched: [], terminated: [], skipped: [], errors: [], blocked: [] };
    await store.beat(id, leaseMs);
    res.leader = await store.holdLease(id, leaseMs);
    m.leader.set(res.leader ? 1 : 0);
    if (!res.leader) return res;

    // observe; `records` is kept in step with every write below, so the pass reads the instance hash once
    const [econ, described, records, launches] = await Promise.all([economy.pass(t), provider.describe(), store.instances(), store.launches()]);
    let demand = econ.demand;
    const seen = new Map(described.map((i) => [i.id, i]));
    const heartbeats = await store.heartbeats([...new Set([...seen.keys(), ...records.keys()])]);
    for (const i of described) lastState.set(i.id, i.state);

    const observed: ObservedInstance[] = [];
    const retired: string[] = [];
    for (const [rid, r] of records) {
      const inst = seen.get(rid);
      if (inst && (inst.state === 'terminated' || inst.state === 'shutting-down')) {
        // billing runs until the instance ended (when the provider knows it), else until the terminate call
        await store.retire(inst.endedAt !== undefined ? { ...r, terminatedAt: inst.endedAt } : r, t, inst.state === 'terminated' ? 'terminated' : 'shutting-down');
        retired.push(rid);
        records.delete(rid);
        continue;
      }
      if (!inst) {
        // just launched and not listed yet (eventual consistency), or long gone
        if (t - r.launchedAt < config.bootTimeoutS * 1000) {
          observed.push(toObserved(r, 'pending'));
        } else {
          await store.retire(r, t, 'vanished');
          retired.push(rid);
          records.delete(rid);
          lastState.set(rid, 'terminated');
        }
        continue;
      }
      observed.push(toObserved(r, inst.state));
    }
    for (const inst of described) {
      if (records.has(inst.id) || inst.state === 'terminated' || inst.state === 'shutting-down') continue;
      const known = inst.launchId !== undefined && launches.has(inst.launchId);
      const hb = heartbeats.get(inst.id);
      const cls = inst.resourceClass ?? launches.get(inst.launchId ?? '')?.resourceClass ?? 'any';
      if (known || hb) {
        const rec: InstanceRecord = {
          id: inst.id, provider: provider.kind, resourceClass: cls, type: inst.type, market: inst.market, launchedAt: inst.launchedAt,
          hourlyUsd: await provider.hourlyUsd(cls, inst.market === 'spot' ? 'require' : 'no'),
          ...(inst.launchId ? { launchId: inst.launchId } : {}), ...(known ? {} : { adopted: true }),
        };
        await store.putInstance(rec);
        records.set(rec.id, rec);
        log.info({ instanceId: inst.id, launchId: inst.launchId, adopted: !known }, 'instance adopted');
        observed.push(toObserved(rec, inst.state));
      } else {
        observed.push({ id: inst.id, resourceClass: cls, state: inst.state, launchedAt: inst.launchedAt, known: false, slots: provider.slots(cls) });
      }
    }
    for (const o of observed) {
      const hb = heartbeats.get(o.id);
      if (hb) o.heartbeat = { at: hb.heartbeatAt, activeUnits: hb.activeUnits, lastBusyAt: hb.lastBusyAt, ...(hb.drainingAt ? { drainingAt: hb.drainingAt } : {}), ...(hb.lastProgressAt ? { lastProgressAt: hb.lastProgressAt } : {}) };
    }
    await economy.settle(retired).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not write job costs; the API still computes them'));
    await handleGpuFailures(t, records, observed, demand, res);
    updateGauges(demand, observed);
    if (d.batches) {
      // deadlines: jobs past theirs end, and classes that only serve deadline batches scale to what the deadlines need
      try {
        const live: Record<string, number> = {};
        for (const o of observed) if (o.state === 'pending' || o.state === 'running') live[o.resourceClass] = (live[o.resourceClass] ?? 0) + 1;
        const needs = await d.batches.tick(t, {
          live, slots: (c) => provider.slots(c), maxInstances: config.maxInstances, bootSeconds: config.compute === 'local' ? 5 : 180,
        });
        demand = deadlineDemand(demand, needs);
      } catch (err) {
        res.errors.push(`batches: ${(err as Error).message}`);
        log.error({ err: (err as Error).message }, 'batch supervision failed; retried next pass');
      }
    }

    // plan
    const classes = new Set(Object.keys(demand));
    const hourlyUsd: Record<string, number> = {};
    for (const c of classes) hourlyUsd[c] = await provider.hourlyUsd(c, spotOf(c));
    const spent = await store.spentUsd();
    const running = [...records.values()].reduce((s, r) => s + costOf(r, t), 0);
    m.spentUsd.set(spent + running);
    const p = plan({
      now: t,
      demand,
      instances: observed,
      limits: {
        maxInstances: config.maxInstances,
        idleTimeoutMs: idleMs,
        bootTimeoutMs: config.bootTimeoutS * 1000,
        staleAfterMs,
        slotsPerInstance: Object.fromEntries([...classes].map((c) => [c, provider.slots(c)])),
        ...(config.costs.maxInstanceHours !== undefined ? { maxLifetimeMs: config.costs.maxInstanceHours * 3_600_000 } : {}),
        hungAfterMs: config.costs.hungAfterS * 1000,
      },
      ...(econ.budgetLeftUsd !== undefined ? { budgetLeftUsd: econ.budgetLeftUsd } : {}),
      hourlyUsd,
      holds: econ.holds,
      lastDemandAt: econ.lastDemandAt,
      // every launch reserves the provider's minimum bill (EC2: 60 s); the gate has projected the units themselves
      reserveS: provider.kind === 'local' ? 0 : MIN_BILLED_S,
    });
    res.actions = p.actions;
    res.held = p.held;
    for (const h of p.held) m.held.inc({ reason: h.reason, class: h.resourceClass }, h.wanted);

    // a slow observe step (a loaded machine, a slow cloud API) must not let the lease lapse before acting
    if (!(await store.holdLease(id, leaseMs))) {
      res.leader = false;
      m.leader.set(0);
      return res;
    }
    // act: terminations first (they free room under the cap), each re-checked atomically
    const toTerminate: Array<{ id: string; reason: string }> = [];
    for (const a of p.actions) {
      if (a.kind !== 'terminate') continue;
      if (await store.claim(a.id, now(), a.force)) {
        toTerminate.push({ id: a.id, reason: a.reason });
      } else {
        res.skipped.push({ id: a.id, why: 'holds a unit' });
        m.skippedBusy.inc();
        log.info({ instanceId: a.id, reason: a.reason }, 'termination called off: the instance took a unit');
      }
    }
    // claimed earlier but still up (a failed terminate call, or a unit that slipped in and had a minute to go back)
    for (const o of observed) {
      const dr = o.heartbeat?.drainingAt;
      if (dr === undefined || toTerminate.some((x) => x.id === o.id)) continue;
      if (o.heartbeat!.activeUnits === 0 || t - dr > 60_000) toTerminate.push({ id: o.id, reason: 'drained' });
    }
    if (toTerminate.length) {
      try {
        await provider.terminate(toTerminate.map((x) => x.id));
        for (const x of toTerminate) {
          const r = records.get(x.id);
          if (r) await store.putInstance({ ...r, terminatedAt: now(), terminateReason: x.reason });
          res.terminated.push(x.id);
          m.terminated.inc({ reason: x.reason });
          log.info({ instanceId: x.id, reason: x.reason, decision: 'terminate' }, 'instance terminated');
        }
      } catch (err) {
        res.errors.push(`terminate: ${(err as Error).message}`);
        log.error({ err: (err as Error).message, ids: toTerminate.map((x) => x.id) }, 'terminate failed; retried next pass');
      }
    }
    for (const a of p.actions) {
      if (a.kind === 'terminate') m.decisions.inc({ action: 'terminate', reason: a.reason, class: a.resourceClass });
      if (a.kind !== 'launch') continue;
      m.decisions.inc({ action: 'launch', reason: 'demand', class: a.resourceClass });
      await launch(a.resourceClass, a.count, a.reason, launches, res, econ.jobsByClass.get(a.resourceClass) ?? []);
    }
    await store.holdLease(id, leaseMs); // renewed after acting: cloud calls can outlast it
    return res;
  }

  /**
   * Workers that could not use their GPU: terminate their instances now (the planner
   * then replaces them once), block a class whose second instance fails, and leave
   * blocked classes out of the demand the planner launches for.
   */
  async function handleGpuFailures(t: number, records: Map<string, InstanceRecord>, observed: ObservedInstance[], demand: Record<string, { pending: number; running: number }>, res: PlanResult): Promise<void> {
    const [failures, blocked] = await Promise.all([store.gpuFailures(), store.blocked()]);
    for (const f of failures) {
      const cls = f.resourceClass ?? records.get(f.instanceId)?.resourceClass;
      if (cls && !f.resourceClass) {
        f.resourceClass = cls;
        await store.putGpuFailure(f);
      }
    }
    const live = new Set(observed.filter((o) => o.state === 'pending' || o.state === 'running').map((o) => o.id));
    const gp = planGpuFailures(failures, live, new Set(blocked.keys()));
    if (gp.terminate.length) {
      try {
        await provider.terminate(gp.terminate);
        for (const id of gp.terminate) {
          const r = records.get(id);
          if (r) await store.putInstance({ ...r, terminatedAt: t, terminateReason: 'gpu-unusable' });
          res.terminated.push(id);
          m.terminated.inc({ reason: 'gpu-unusable' });
          log.warn({ instanceId: id, reason: failures.find((f) => f.instanceId === id)?.reason, decision: 'terminate' }, 'instance terminated: its GPU cannot be used');
        }
        for (let i = observed.length - 1; i >= 0; i--) if (gp.terminate.includes(observed[i].id)) observed.splice(i, 1);
      } catch (err) {
        res.errors.push(`terminate: ${(err as Error).message}`);
      }
    }
    for (const b of gp.block) {
      await store.block(b.resourceClass, { reason: b.reason, at: t, instances: b.instances });
      blocked.set(b.resourceClass, { reason: b.reason, at: t, instances: b.instances });
      await economy.gpuBlocked(b.resourceClass, b.instances.length, b.reason, t);
      log.error({ resourceClass: b.resourceClass, reason: b.reason, instances: b.instances }, 'class blocked: its instances cannot use their GPU');
    }
    for (const [cls, b] of blocked) {
      if (!demand[cls]) continue;
      delete demand[cls];
      res.blocked.push({ resourceClass: cls, reason: b.reason });
    }
  }

  /** an instance we hold a record of (launched or adopted by us) */
  function toObserved(r: InstanceRecord, state: InstanceState): ObservedInstance {
    return { id: r.id, resourceClass: r.resourceClass, state, launchedAt: r.launchedAt, known: true, slots: provider.slots(r.resourceClass) };
  }

  async function launch(cls: string, count: number, reason: string, launches: Map<string, LaunchRecord>, res: PlanResult, demandJobs: NonNullable<InstanceRecord['demand']>): Promise<void> {
    // an intent left 'requested' by a crash mid-call is retried under its own id: same tags, same client token
    const t = now();
    const unfinished = [...launches.values()].find((l) => l.status === 'requested' && l.resourceClass === cls && t - l.createdAt < RECENT_INTENT_MS);
    const launchId = unfinished?.launchId ?? `${config.ec2.cluster}-${await store.nextLaunchSeq()}`;
    await store.putLaunch({ launchId, resourceClass: cls, count, createdAt: unfinished?.createdAt ?? t, status: 'requested' });
    const needs = parseResourceClass(cls);
    const classSpot = spotOf(cls);
    log.info({ launchId, resourceClass: cls, count, reason, spot: classSpot, decision: 'launch' }, 'launching');
    try {
      const out = await provider.launch({
        launchId, resourceClass: cls, count, spot: classSpot,
        ...(needs.instanceTypes ? { instanceTypes: needs.instanceTypes } : {}),
        ...(needs.maxHourlyUsd !== undefined ? { maxHourlyUsd: needs.maxHourlyUsd } : {}),
      });
      for (const i of out.instances) {
        await store.putInstance({
          id: i.id, provider: provider.kind, launchId, resourceClass: cls, type: i.type, market: i.market, hourlyUsd: out.hourlyUsd, launchedAt: i.launchedAt,
          slots: provider.slots(cls), demand: demandJobs,
          ...(out.onDemandUsd !== undefined ? { onDemandUsd: out.onDemandUsd } : {}),
          ...(out.priceSource ? { priceSource: out.priceSource } : {}),
          ...(out.minBilledS !== undefined ? { minBilledS: out.minBilledS } : {}),
          ...(i.zone ? { zone: i.zone } : {}),
        });
        await meter.instanceCausedBy(i.id, demandJobs.map((j) => j.jobId));
        m.launched.inc({ class: cls, type: i.type, market: i.market });
        res.launched.push(i.id);
      }
      await store.putLaunch({ launchId, resourceClass: cls, count, createdAt: t, status: 'launched', instanceIds: out.instances.map((i) => i.id) });
      log.info({ launchId, instanceIds: out.instances.map((i) => i.id), types: [...new Set(out.instances.map((i) => i.type))], hourlyUsd: out.hourlyUsd, priceSource: out.priceSource }, 'launched');
      if (out.instances.length) await economy.launched(cls);
    } catch (err) {
      const kind = err instanceof LaunchError ? err.kind : 'fatal';
      const msg = (err as Error).message;
      m.launchErrors.inc({ kind });
      res.errors.push(`launch ${launchId}: ${msg}`);
      await store.putLaunch({ launchId, resourceClass: cls, count, createdAt: t, status: 'failed', error: msg });
      await economy.launchFailed(cls, { kind, codes: err instanceof LaunchError ? err.attempts.map((a) => a.code) : [], message: msg }, now());
      log.error({ launchId, kind, err: msg, attempts: err instanceof LaunchError ? err.attempts : undefined }, 'launch failed; the next pass tries again');
    }
  }

  function updateGauges(demand: Record<string, { pending: number; running: number }>, observed: ObservedInstance[]): void {
    m.units.reset();
    for (const [cls, v] of Object.entries(demand)) {
      m.units.set({ class: cls, state: 'pending' }, v.pending);
      m.units.set({ class: cls, state: 'running' }, v.running);
    }
    m.instances.reset();
    const counts = new Map<string, number>();
    for (const o of observed) {
      const state = o.heartbeat?.drainingAt ? 'draining' : !o.heartbeat ? (o.known ? 'booting' : 'orphan') : o.heartbeat.activeUnits > 0 ? 'busy' : 'idle';
      const key = `${o.resourceClass}\u0000${state}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of counts) {
      const [cls, state] = key.split('\u0000');
      m.instances.set({ class: cls, state }, n);
    }
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

  async function loop(): Promise<void> {
    if (stopped) return;
    try {
      // the pass runs first: d.onPass?.(await ...) would skip the await when there is no onPass
      const r = await reconcileOnce();
      d.onPass?.(r);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'reconcile failed');
    }
    if (!stopped) timer = setTimeout(() => void loop(), intervalMs);
  }

  return {
    id,
    start() {
      stopped = false;
      log.info({ provisionerId: id, provider: provider.kind, intervalMs, maxInstances: config.maxInstances, idleTimeoutS: config.idleTimeoutS, spot }, 'provisioner started');
      void loop();
    },
    async stop(opts = {}) {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      if (opts.releaseLease !== false) await store.releaseLease(id).catch(() => undefined);
    },
    reconcileOnce,
    async instances(): Promise<InstanceView[]> {
      return fleetInstances(store, now(), lastState);
    },
  };
}
