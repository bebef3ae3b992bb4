/**
 * The reconcile pass's last step: carry out the plan. Terminations first (each
 * re-checked atomically: an instance that took a unit since the plan is spared), then
 * launches, each written as an intent before the cloud call so a restarted provisioner
 * adopts what it started. Also the GPU-failure handling (terminate, block the class).
 */
import { parseResourceClass } from '../core/resource-class.ts';
import type { Config } from '../core/config.ts';
import type { Meter } from '../platform/meter.ts';
import type { Economy } from './economy.ts';
import type { InstanceRecord, LaunchRecord, SpotPolicy } from '../platform/fleet.ts';
import type { FleetStore } from '../platform/fleet-store.ts';
import { planGpuFailures } from './gpu-failures.ts';
import type { ProvisionerMetrics } from './metrics.ts';
import type { Action, ObservedInstance } from './planner.ts';
import { LaunchError, type ComputeProvider } from './provider.ts';

export interface ActDeps {
  config: Config;
  store: FleetStore;
  provider: ComputeProvider;
  meter: Meter;
  economy: Economy;
  m: ProvisionerMetrics;
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  now: () => number;
  spotOf(cls: string): SpotPolicy;
}

/** what acting did, for the pass result */
export interface ActResult {
  launched: string[];
  terminated: string[];
  skipped: Array<{ id: string; why: string }>;
  errors: string[];
}

/** a launch intent left 'requested' this recently (a crash mid-call) is retried under its own id */
const RECENT_INTENT_MS = 60_000;

/**
 * Which instances to terminate now: the plan's terminations whose claim succeeded, and
 * instances claimed earlier that are still up (a failed terminate call, or a unit that
 * slipped in and had a minute to go back). Pure.
 */
export function terminationsOf(claimed: Array<{ id: string; reason: string }>, observed: ObservedInstance[], t: number): Array<{ id: string; reason: string }> {
  const out = [...claimed];
  for (const o of observed) {
    const dr = o.heartbeat?.drainingAt;
    if (dr === undefined || out.some((x) => x.id === o.id)) continue;
    if (o.heartbeat!.activeUnits === 0 || t - dr > 60_000) out.push({ id: o.id, reason: 'drained' });
  }
  return out;
}

export async function act(d: ActDeps, actions: Action[], observed: ObservedInstance[], records: Map<string, InstanceRecord>, launches: Map<string, LaunchRecord>, jobsByClass: Map<string, NonNullable<InstanceRecord['demand']>>, t: number, res: ActResult): Promise<void> {
  const { store, provider, m, log } = d;
  const claimed: Array<{ id: string; reason: string }> = [];
  // each claim is atomic on its own instance: sent together, answered in one round trip
  const terminations = actions.filter((a): a is Extract<Action, { kind: 'terminate' }> => a.kind === 'terminate');
  const won = await Promise.all(terminations.map((a) => store.claim(a.id, d.now(), a.force)));
  for (const [n, a] of terminations.entries()) {
    if (won[n]) {
      claimed.push({ id: a.id, reason: a.reason });
    } else {
      res.skipped.push({ id: a.id, why: 'holds a unit' });
      m.skippedBusy.inc();
      log.info({ instanceId: a.id, reason: a.reason }, 'termination called off: the instance took a unit');
    }
  }
  const toTerminate = terminationsOf(claimed, observed, t);
  if (toTerminate.length) {
    try {
      await provider.terminate(toTerminate.map((x) => x.id));
      const at = d.now();
      await store.putInstances(toTerminate.flatMap((x) => {
        const r = records.get(x.id);
        return r ? [{ ...r, terminatedAt: at, terminateReason: x.reason }] : [];
      }));
      for (const x of toTerminate) {
        res.terminated.push(x.id);
        m.terminated.inc({ reason: x.reason });
        log.info({ instanceId: x.id, reason: x.reason, decision: 'terminate' }, 'instance terminated');
      }
    } catch (err) {
      res.errors.push(`terminate: ${(err as Error).message}`);
      log.error({ err: (err as Error).message, ids: toTerminate.map((x) => x.id) }, 'terminate failed; retried next pass');
    }
  }
  for (const a of actions) {
    if (a.kind === 'terminate') m.decisions.inc({ action: 'terminate', reason: a.reason, class: a.resourceClass });
    if (a.kind !== 'launch') continue;
    m.decisions.inc({ action: 'launch', reason: 'demand', class: a.resourceClass });
    await launch(d, a.resourceClass, a.count, a.reason, launches, res, jobsByClass.get(a.resourceClass) ?? []);
  }
}

export async function launch(d: ActDeps, cls: string, count: number, reason: string, launches: Map<string, LaunchRecord>, res: ActResult, demandJobs: NonNullable<InstanceRecord['demand']>): Promise<void> {
  const { store, provider, m, log, economy } = d;
  const t = d.now();
  const unfinished = [...launches.values()].find((l) => l.status === 'requested' && l.resourceClass === cls && t - l.createdAt < RECENT_INTENT_MS);
  const launchId = unfinished?.launchId ?? `${d.config.ec2.cluster}-${await store.nextLaunchSeq()}`;
  await store.putLaunch({ launchId, resourceClass: cls, count, createdAt: unfinished?.createdAt ?? t, status: 'requested' });
  const needs = parseResourceClass(cls);
  const classSpot = d.spotOf(cls);
  log.info({ launchId, resourceClass: cls, count, reason, spot: classSpot, decision: 'launch' }, 'launching');
  // the jobs this launch is for: stored once, named by each of its instances' records
  const demandOf = demandJobs.length ? await store.putLaunchDemand(launchId, demandJobs) : undefined;
  try {
    const out = await provider.launch({
      launchId, resourceClass: cls, count, spot: classSpot,
      ...(needs.instanceTypes ? { instanceTypes: needs.instanceTypes } : {}),
      ...(needs.maxHourlyUsd !== undefined ? { maxHourlyUsd: needs.maxHourlyUsd } : {}),
    });
    // the records and the jobs they bill in one transaction: a crash cannot leave an
    // instance of record whose idle cost its jobs' cost views do not see
    const ids = out.instances.map((i) => i.id);
    const jobIds = demandJobs.map((j) => j.jobId);
    await store.putInstances(out.instances.map((i): InstanceRecord => ({
      id: i.id, provider: provider.kind, launchId, resourceClass: cls, type: i.type, market: i.market, hourlyUsd: out.hourlyUsd, launchedAt: i.launchedAt,
      slots: provider.slots(cls), ...(demandOf ? { demandOf } : {}),
      ...(out.onDemandUsd !== undefined ? { onDemandUsd: out.onDemandUsd } : {}),
      ...(out.priceSource ? { priceSource: out.priceSource } : {}),
      ...(out.minBilledS !== undefined ? { minBilledS: out.minBilledS } : {}),
      ...(i.zone ? { zone: i.zone } : {}),
    })), (tx) => d.meter.causedBy(tx, ids, jobIds));
    for (const i of out.instances) {
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
    await economy.launchFailed(cls, { kind, codes: err instanceof LaunchError ? err.attempts.map((a) => a.code) : [], message: msg }, d.now());
    log.error({ launchId, kind, err: msg, attempts: err instanceof LaunchError ? err.attempts : undefined }, 'launch failed; the next pass tries again');
  }
}

/**
 * Workers that could not use their GPU: terminate their instances now (the planner
 * then replaces them once), block a class whose second instance fails, and leave
 * blocked classes out of the demand the planner launches for.
 */
export async function handleGpuFailures(d: ActDeps, t: number, records: Map<string, InstanceRecord>, observed: ObservedInstance[], demand: Record<string, { pending: number; running: number }>, res: ActResult & { blocked: Array<{ resourceClass: string; reason: string }> }): Promise<void> {
  const { store, provider, m, log } = d;
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
    await d.economy.gpuBlocked(b.resourceClass, b.instances.length, b.reason, t);
    log.error({ resourceClass: b.resourceClass, reason: b.reason, instances: b.instances }, 'class blocked: its instances cannot use their GPU');
  }
  for (const [cls, b] of blocked) {
    if (!demand[cls]) continue;
    delete demand[cls];
    res.blocked.push({ resourceClass: cls, reason: b.reason });
  }
}
