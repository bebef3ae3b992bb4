/**
 * The reconcile pass's first step: what is out there. `sortOut` (pure, table-tested in
 * test/unit/provisioner-observe.test.ts) matches the instance records with what the
 * cloud lists and says which records retire, which unrecorded instances are ours
 * (adopt) and which are orphans; `observe` reads the inputs and applies that.
 */
import type { InstanceRecord, LaunchRecord, WorkerHeartbeat } from '../platform/fleet.ts';
import type { FleetStore } from '../platform/fleet-store.ts';
import type { ObservedInstance } from './planner.ts';
import type { ComputeProvider, InstanceState, ProviderInstance } from './provider.ts';

export interface SortedOut {
  /** recorded instances still alive (or just launched and not listed yet) */
  known: Array<{ record: InstanceRecord; state: InstanceState }>;
  /** records whose instance ended (billing until endedAt when the cloud knows it) or vanished */
  retire: Array<{ record: InstanceRecord; reason: 'terminated' | 'shutting-down' | 'vanished'; endedAt?: number }>;
  /** unrecorded instances that a launch record of ours or a worker heartbeat vouches for */
  adopt: Array<{ instance: ProviderInstance; resourceClass: string; known: boolean }>;
  /** unrecorded instances nothing vouches for (the planner ends them as orphans) */
  orphans: Array<{ instance: ProviderInstance; resourceClass: string }>;
}

export function sortOut(records: Map<string, InstanceRecord>, described: ProviderInstance[], launches: Map<string, LaunchRecord>, heartbeats: Map<string, WorkerHeartbeat>, t: number, bootTimeoutMs: number): SortedOut {
  const out: SortedOut = { known: [], retire: [], adopt: [], orphans: [] };
  const seen = new Map(described.map((i) => [i.id, i]));
  for (const r of records.values()) {
    const inst = seen.get(r.id);
    if (inst && (inst.state === 'terminated' || inst.state === 'shutting-down')) {
      out.retire.push({ record: r, reason: inst.state, ...(inst.endedAt !== undefined ? { endedAt: inst.endedAt } : {}) });
    } else if (!inst) {
      // just launched and not listed yet (eventual consistency), or long gone
      if (t - r.launchedAt < bootTimeoutMs) out.known.push({ record: r, state: 'pending' });
      else out.retire.push({ record: r, reason: 'vanished' });
    } else {
      out.known.push({ record: r, state: inst.state });
    }
  }
  for (const inst of described) {
    if (records.has(inst.id) || inst.state === 'terminated' || inst.state === 'shutting-down') continue;
    const known = inst.launchId !== undefined && launches.has(inst.launchId);
    const resourceClass = inst.resourceClass ?? launches.get(inst.launchId ?? '')?.resourceClass ?? 'any';
    if (known || heartbeats.has(inst.id)) out.adopt.push({ instance: inst, resourceClass, known });
    else out.orphans.push({ instance: inst, resourceClass });
  }
  return out;
}

export interface Observation {
  described: ProviderInstance[];
  /** live instance records, kept in step with every write of the pass */
  records: Map<string, InstanceRecord>;
  launches: Map<string, LaunchRecord>;
  heartbeats: Map<string, WorkerHeartbeat>;
  observed: ObservedInstance[];
  /** ids retired in this pass (their costs are final) */
  retired: string[];
}

export interface ObserveDeps {
  store: FleetStore;
  provider: ComputeProvider;
  bootTimeoutMs: number;
  log: { info(o: object, m?: string): void };
  /** the last state the provider reported per instance (GET /v1/instances shows it) */
  lastState: Map<string, InstanceState>;
  /** the hourly price to record for an adopted instance */
  adoptedHourlyUsd(resourceClass: string, market: 'spot' | 'on-demand'): Promise<number>;
}

/** Reads the cloud and the records, retires what ended, adopts what is ours; returns what the planner sees. */
export async function observe(d: ObserveDeps, t: number): Promise<Observation> {
  const { store, provider } = d;
  const [described, records, launches] = await Promise.all([provider.describe(), store.instances(), store.launches()]);
  const heartbeats = await store.heartbeats([...new Set([...described.map((i) => i.id), ...records.keys()])]);
  for (const i of described) d.lastState.set(i.id, i.state);
  const s = sortOut(records, described, launches, heartbeats, t, d.bootTimeoutMs);

  const toObserved = (r: InstanceRecord, state: InstanceState): ObservedInstance => ({ id: r.id, resourceClass: r.resourceClass, state, launchedAt: r.launchedAt, known: true, slots: provider.slots(r.resourceClass) });
  const observed: ObservedInstance[] = s.known.map((k) => toObserved(k.record, k.state));
  const retired: string[] = [];
  for (const x of s.retire) {
    await store.retire(x.endedAt !== undefined ? { ...x.record, terminatedAt: x.endedAt } : x.record, t, x.reason);
    retired.push(x.record.id);
    records.delete(x.record.id);
    if (x.reason === 'vanished') d.lastState.set(x.record.id, 'terminated');
  }
  for (const a of s.adopt) {
    const inst = a.instance;
    const rec: InstanceRecord = {
      id: inst.id, provider: provider.kind, resourceClass: a.resourceClass, type: inst.type, market: inst.market, launchedAt: inst.launchedAt,
      hourlyUsd: await d.adoptedHourlyUsd(a.resourceClass, inst.market),
      ...(inst.launchId ? { launchId: inst.launchId } : {}), ...(a.known ? {} : { adopted: true }),
      ...(inst.zone ? { zone: inst.zone } : {}),
    };
    await store.putInstance(rec);
    records.set(rec.id, rec);
    d.log.info({ instanceId: inst.id, launchId: inst.launchId, adopted: !a.known }, 'instance adopted');
    observed.push(toObserved(rec, inst.state));
  }
  for (const o of s.orphans) {
    observed.push({ id: o.instance.id, resourceClass: o.resourceClass, state: o.instance.state, launchedAt: o.instance.launchedAt, known: false, slots: provider.slots(o.resourceClass) });
  }
  for (const o of observed) {
    const hb = heartbeats.get(o.id);
    if (hb) o.heartbeat = { at: hb.heartbeatAt, activeUnits: hb.activeUnits, lastBusyAt: hb.lastBusyAt, ...(hb.drainingAt ? { drainingAt: hb.drainingAt } : {}), ...(hb.lastProgressAt ? { lastProgressAt: hb.lastProgressAt } : {}) };
  }
  return { described, records, launches, heartbeats, observed, retired };
}
