/** Redis side of the provisioner: lease, its own heartbeat, launch and instance records, worker heartbeats. */
import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import {
  CLAIM_LUA,
  LEASE_LUA,
  RELEASE_LUA,
  WORKER_RECORD_TTL_S,
  costOf,
  fleetKeys,
  meteredOf,
  parseHeartbeat,
  type InstanceRecord,
  type LaunchRecord,
  type WorkerHeartbeat,
  type ClassFailures,
  type GpuFailure,
} from './fleet.ts';
import type { InstanceSource } from './costs.ts';
import type { MeteredInstance } from '../core/costs.ts';
import type { InstanceView } from '../core/views.ts';

export interface BlockedClass {
  reason: string;
  at: number;
  instances: string[];
}

/** launch demand lists kept in memory (they never change once written) */
const DEMAND_CACHE_MAX = 2_000;

export function createFleetStore(redis: Redis, prefix: string) {
  const k = fleetKeys(prefix);
  const parseAll = <T>(h: Record<string, string>): Map<string, T> => new Map(Object.entries(h).map(([id, v]) => [id, JSON.parse(v) as T]));
  const demandCache = new Map<string, NonNullable<InstanceRecord['demand']>>();

  /**
   * The meter's view of records, each with its launch's demand list: one HMGET for the
   * lists not in memory. A launch of 100 instances for a 1,000-job batch stores its
   * list once instead of in each of the 100 records, which every pass reads.
   */
  async function metered(recs: InstanceRecord[]): Promise<MeteredInstance[]> {
    const missing = [...new Set(recs.flatMap((r) => (r.demandOf && !r.demand && !demandCache.has(r.demandOf) ? [r.demandOf] : [])))];
    if (missing.length) {
      const found = await redis.hmget(k.launchDemand, ...missing);
      missing.forEach((launchId, i) => {
        if (found[i] === null) return;
        if (demandCache.size >= DEMAND_CACHE_MAX) demandCache.delete(demandCache.keys().next().value!);
        demandCache.set(launchId, JSON.parse(found[i]!) as NonNullable<InstanceRecord['demand']>);
      });
    }
    return recs.map((r) => meteredOf(r.demand || !r.demandOf ? r : { ...r, demand: demandCache.get(r.demandOf) ?? [] }));
  }

  return {
    keys: k,
    async holdLease(owner: string, ttlMs: number): Promise<boolean> {
      return (await redis.eval(LEASE_LUA, 1, k.lease, owner, String(ttlMs))) === 1;
    },
    async releaseLease(owner: string): Promise<void> {
      await redis.eval(RELEASE_LUA, 1, k.lease, owner);
    },
    async beat(owner: string, ttlMs: number): Promise<void> {
      await redis.set(k.provisioner, owner, 'PX', ttlMs);
    },
    async nextLaunchSeq(): Promise<number> {
      return redis.incr(k.seq);
    },
    async launches(): Promise<Map<string, LaunchRecord>> {
      return parseAll<LaunchRecord>(await redis.hgetall(k.launches));
    },
    async putLaunch(r: LaunchRecord): Promise<void> {
      await redis.hset(k.launches, r.launchId, JSON.stringify(r));
    },
    /**
     * The jobs a launch attempt was made for, stored once for all its instances; answers
     * the key their records name in demandOf. Each attempt gets a key of its own (the
     * launch id and a random suffix), so a list never changes once written and readers
     * may keep it: launch ids repeat after a Redis that kept nothing restarts its sequence.
     */
    async putLaunchDemand(launchId: string, demand: NonNullable<InstanceRecord['demand']>): Promise<string> {
      const key = `${launchId}.${randomBytes(6).toString('hex')}`;
      await redis.hset(k.launchDemand, key, JSON.stringify(demand));
      return key;
    },
    async deleteLaunches(ids: string[]): Promise<void> {
      if (ids.length) await redis.hdel(k.launches, ...ids);
    },
    async instances(): Promise<Map<string, InstanceRecord>> {
      return parseAll<InstanceRecord>(await redis.hgetall(k.instances));
    },
    async putInstance(r: InstanceRecord): Promise<void> {
      await redis.hset(k.instances, r.id, JSON.stringify(r));
    },
    /**
     * Several records in one command (a launch of many instances, a pass's terminations);
     * `withThem` adds other writes to the same transaction (a launch: its jobs' instance sets).
     */
    async putInstances(rs: InstanceRecord[], withThem?: (m: ChainableCommander) => void): Promise<void> {
      if (!rs.length) return;
      const m = redis.multi().hset(k.instances, Object.fromEntries(rs.map((r) => [r.id, JSON.stringify(r)])));
      withThem?.(m);
      await m.exec();
    },
    /** moves a record to the history, adds its cost to the spent total, drops its heartbeat */
    async retire(r: InstanceRecord, at: number, reason: string): Promise<InstanceRecord> {
      const done: InstanceRecord = { ...r, terminatedAt: r.terminatedAt ?? at, terminateReason: r.terminateReason ?? reason };
      await redis
        .multi()
        .hdel(k.instances, r.id)
        .hset(k.history, r.id, JSON.stringify(done))
        .incrbyfloat(k.spent, costOf(done, at))
        .sadd(k.unfolded, r.id)
        .del(k.worker(r.id))
        .exec();
      return done;
    },
    /** the meter's source: every instance of record (live ones bill up to now) */
    instanceSource(): InstanceSource {
      return {
        all: async () => {
          const [live, done] = await Promise.all([redis.hgetall(k.instances), redis.hgetall(k.history)]);
          const recs = new Map([...parseAll<InstanceRecord>(done), ...parseAll<InstanceRecord>(live)]);
          return metered([...recs.values()]);
        },
        live: async () => metered([...parseAll<InstanceRecord>(await redis.hgetall(k.instances)).values()]),
        retiredIds: async () => redis.hkeys(k.history),
        unfolded: async () => redis.smembers(k.unfolded),
        unfoldedKey: k.unfolded,
        byIds: async (ids) => {
          if (!ids.length) return [];
          const [live, done] = await Promise.all([redis.hmget(k.instances, ...ids), redis.hmget(k.history, ...ids)]);
          return metered(ids.flatMap((_, i) => {
            const v = live[i] ?? done[i];
            return v ? [JSON.parse(v) as InstanceRecord] : [];
          }));
        },
      };
    },
    async history(): Promise<Map<string, InstanceRecord>> {
      return parseAll<InstanceRecord>(await redis.hgetall(k.history));
    },
    /** per-class launch backoff / blocked states (persisted so /healthz and a restarted provisioner see them) */
    async holds(): Promise<Map<string, ClassFailures>> {
      return parseAll<ClassFailures>(await redis.hgetall(k.holds));
    },
    async putHold(cls: string, h: ClassFailures | undefined): Promise<void> {
      if (h) await redis.hset(k.holds, cls, JSON.stringify(h));
      else await redis.hdel(k.holds, cls);
    },
    async spentUsd(): Promise<number> {
      return Number((await redis.get(k.spent)) ?? 0);
    },
    async heartbeats(ids: string[]): Promise<Map<string, WorkerHeartbeat>> {
      const out = new Map<string, WorkerHeartbeat>();
      if (!ids.length) return out;
      const pipe = redis.pipeline();
      for (const id of ids) pipe.hgetall(k.worker(id));
      const res = (await pipe.exec()) ?? [];
      ids.forEach((id, i) => {
        const hb = parseHeartbeat(res[i]?.[1] as Record<string, string> | undefined);
        if (hb) out.set(id, hb);
      });
      return out;
    },
    async gpuFailures(): Promise<GpuFailure[]> {
      return [...parseAll<GpuFailure>(await redis.hgetall(k.gpuFailures)).values()];
    },
    async putGpuFailure(f: GpuFailure): Promise<void> {
      await redis.hset(k.gpuFailures, f.instanceId, JSON.stringify(f));
    },
    async blocked(): Promise<Map<string, BlockedClass>> {
      return parseAll<BlockedClass>(await redis.hgetall(k.blocked));
    },
    async block(cls: string, b: BlockedClass): Promise<void> {
      await redis.hset(k.blocked, cls, JSON.stringify(b));
    },
    /** the atomic "holds no unit -> mark draining" step right before terminating */
    async claim(id: string, now: number, force: boolean): Promise<boolean> {
      return (await redis.eval(CLAIM_LUA, 1, k.worker(id), String(now), force ? '1' : '0', String(WORKER_RECORD_TTL_S))) === 1;
    },
  };
}
export type FleetStore = ReturnType<typeof createFleetStore>;

/**
 * The fleet as GET /v1/instances shows it: live instances (with the provider state
 * last observed, when a provisioner runs in this process) and terminated ones.
 * Reads Redis only, so the API can answer without a provisioner of its own.
 */
export async function fleetInstances(store: FleetStore, t: number, lastState: Map<string, string> = new Map()): Promise<InstanceView[]> {
  const [live, history] = await Promise.all([store.instances(), store.history()]);
  const hbs = await store.heartbeats([...live.keys()]);
  const view = (r: InstanceRecord, isLive: boolean): InstanceView => ({
    id: r.id, provider: r.provider, type: r.type, market: r.market, resourceClass: r.resourceClass,
    state: isLive ? (r.terminatedAt ? 'shutting-down' : lastState.get(r.id) ?? 'running') : 'terminated',
    launchedAt: new Date(r.launchedAt).toISOString(),
    terminatedAt: r.terminatedAt ? new Date(r.terminatedAt).toISOString() : null,
    ...(r.terminateReason ? { terminateReason: r.terminateReason } : {}),
    // the price in force now: a spot price re-read while it runs is its last segment
    hourlyUsd: r.prices?.[r.prices.length - 1]?.hourlyUsd ?? r.hourlyUsd,
    costUsd: Math.round(costOf(r, t) * 1e6) / 1e6,
    activeUnits: isLive ? hbs.get(r.id)?.activeUnits ?? 0 : 0,
  });
  return [...[...live.values()].map((r) => view(r, true)), ...[...history.values()].map((r) => view(r, false))].sort((a, b) => a.launchedAt.localeCompare(b.launchedAt));
}
