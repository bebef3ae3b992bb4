/**
 * The fleet state protocol shared by the provisioner and the worker agent: Redis key
 * layout, record shapes and the two Lua scripts that make "is this instance busy?"
 * and "may I terminate it?" a single atomic step. Pure definitions only; both sides
 * run the scripts through their own Redis connection.
 *
 * Keys (all under `<prefix>:fleet:`):
 *   worker:<instanceId>  hash   the agent's heartbeat (WorkerHeartbeat fields)
 *   provisioner          string a live provisioner's id, with a TTL (dead-man switch input)
 *   lease                string the acting provisioner's id, with a TTL (single writer)
 *   seq                  int    launch sequence (launch ids are `<cluster>-<seq>`)
 *   launches             hash   launchId -> LaunchRecord JSON (intent written before the cloud call)
 *   instances            hash   instanceId -> InstanceRecord JSON (live instances)
 *   history              hash   instanceId -> InstanceRecord JSON (terminated instances)
 *   spent                float  USD of terminated instances
 *   unfolded             set    retired instance ids whose cost the spend ledger has not added yet (platform/costs.ts)
 *   holds                hash   resourceClass -> ClassFailures JSON (launch backoff / blocked classes)
 *   gpu-failures         hash   instanceId -> GpuFailure JSON (a worker that could not use its GPU)
 *   blocked              hash   resourceClass -> {reason, at, instances} JSON (no launches for it)
 */
import { instanceUsd, type MeteredInstance, type PriceSegment } from '../core/costs.ts';

export const fleetKeys = (prefix: string) => ({
  worker: (instanceId: string) => `${prefix}:fleet:worker:${instanceId}`,
  workerPattern: `${prefix}:fleet:worker:*`,
  provisioner: `${prefix}:fleet:provisioner`,
  lease: `${prefix}:fleet:lease`,
  seq: `${prefix}:fleet:seq`,
  launches: `${prefix}:fleet:launches`,
  instances: `${prefix}:fleet:instances`,
  history: `${prefix}:fleet:history`,
  /** launch id -> the demand list it was launched for (JSON), shared by its instances */
  launchDemand: `${prefix}:fleet:launch-demand`,
  spent: `${prefix}:fleet:spent`,
  unfolded: `${prefix}:fleet:unfolded`,
  holds: `${prefix}:fleet:holds`,
  gpuFailures: `${prefix}:fleet:gpu-failures`,
  blocked: `${prefix}:fleet:blocked`,
});
export type FleetKeys = ReturnType<typeof fleetKeys>;

/** Heartbeat records are kept this long after the last write (the provisioner deletes them on termination). */
export const WORKER_RECORD_TTL_S = 24 * 3600;

export interface WorkerHeartbeat {
  instanceId: string;
  workerId: string;
  activeUnits: number;
  /** ms epoch: last moment the worker held a unit (start time when it never did) */
  lastBusyAt: number;
  /** ms epoch of this write */
  heartbeatAt: number;
  startedAt: number;
  /** ms epoch when the provisioner claimed the instance for termination */
  drainingAt?: number;
  /** ms epoch of the last epoch any of its units finished (or of a unit's start) */
  lastProgressAt?: number;
}

export function parseHeartbeat(h: Record<string, string> | null | undefined): WorkerHeartbeat | undefined {
  if (!h || !h.heartbeatAt) return undefined;
  return {
    instanceId: h.instanceId ?? '',
    workerId: h.workerId ?? '',
    activeUnits: Number(h.activeUnits ?? 0),
    lastBusyAt: Number(h.lastBusyAt ?? 0),
    heartbeatAt: Number(h.heartbeatAt),
    startedAt: Number(h.startedAt ?? h.heartbeatAt),
    ...(h.drainingAt ? { drainingAt: Number(h.drainingAt) } : {}),
    ...(h.lastProgressAt ? { lastProgressAt: Number(h.lastProgressAt) } : {}),
  };
}

export type Market = 'spot' | 'on-demand';
export type { SpotPolicy } from '../core/resource-class.ts';

/** What the provisioner meant to launch; written before the cloud call so a restart can adopt the result. */
export interface LaunchRecord {
  launchId: string;
  resourceClass: string;
  count: number;
  createdAt: number;
  status: 'requested' | 'launched' | 'failed';
  instanceIds?: string[];
  error?: string;
}

export interface InstanceRecord {
  id: string;
  provider: string;
  launchId?: string;
  resourceClass: string;
  type: string;
  market: Market;
  hourlyUsd: number;
  launchedAt: number;
  /** adopted = found in the cloud with a heartbeat but no launch record of ours */
  adopted?: boolean;
  terminatedAt?: number;
  terminateReason?: string;
  /** on-demand price of its type in its region (spot savings are measured against it) */
  onDemandUsd?: number;
  /** where hourlyUsd came from: spot price history of its zone, or the catalog (no history) */
  priceSource?: string;
  /** spot prices in force while it runs, oldest first (re-read hourly); absent = hourlyUsd throughout */
  prices?: PriceSegment[];
  /** when its spot price was last re-read */
  priceCheckedAt?: number;
  zone?: string;
  /** units it runs at once */
  slots?: number;
  /** minimum billed seconds (EC2: 60, the default; local: 0) */
  minBilledS?: number;
  /**
   * jobs whose pending units made the provisioner launch it (idle cost goes to them);
   * records written by the provisioner leave it out and name `demandOf`, the key of
   * their launch attempt's list (stored once, `launchDemand`), which every instance of
   * that attempt shares
   */
  demand?: MeteredInstance['demand'];
  demandOf?: string;
}

/** USD billed so far: per second from launch to termination, EC2's 60 s minimum. */
export const costOf = (r: Pick<InstanceRecord, 'hourlyUsd' | 'prices' | 'launchedAt' | 'terminatedAt' | 'minBilledS'>, now: number): number => instanceUsd(r, now);

/** The meter's view of a record. */
export const meteredOf = (r: InstanceRecord): MeteredInstance => ({
  id: r.id, type: r.type, market: r.market, resourceClass: r.resourceClass, hourlyUsd: r.hourlyUsd, launchedAt: r.launchedAt, slots: r.slots ?? 1,
  ...(r.onDemandUsd !== undefined ? { onDemandUsd: r.onDemandUsd } : {}),
  ...(r.prices?.length ? { prices: r.prices } : {}),
  ...(r.minBilledS !== undefined ? { minBilledS: r.minBilledS } : {}),
  ...(r.terminatedAt !== undefined ? { terminatedAt: r.terminatedAt } : {}),
  ...(r.demand ? { demand: r.demand } : {}),
});

/**
 * Agent write (heartbeat or a change of active units). KEYS[1] worker hash, KEYS[2] provisioner key.
 * ARGV: instanceId, workerId, activeUnits, now, startedAt, ttlS, lastProgressAt ('' = none).
 * lastBusyAt moves to now while units are held and at the moment the last one ends.
 * Returns [drainingAt or 0, 1 when a provisioner is alive else 0] (one round trip per heartbeat).
 */
export const HEARTBEAT_LUA = `
local prev = tonumber(redis.call('HGET', KEYS[1], 'activeUnits') or '0')
local n = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'instanceId', ARGV[1], 'workerId', ARGV[2], 'activeUnits', ARGV[3], 'heartbeatAt', ARGV[4])
if redis.call('HEXISTS', KEYS[1], 'startedAt') == 0 then
  redis.call('HSET', KEYS[1], 'startedAt', ARGV[5], 'lastBusyAt', ARGV[5])
end
if n > 0 or prev > 0 then redis.call('HSET', KEYS[1], 'lastBusyAt', ARGV[4]) end
if ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'lastProgressAt', ARGV[7]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
local d = redis.call('HGET', KEYS[1], 'drainingAt')
return { tonumber(d or '0'), redis.call('EXISTS', KEYS[2]) }
`;

/**
 * Provisioner claim right before terminating. KEYS[1] worker hash. ARGV: now, force ('1'|'0'), ttlS.
 * Without force the claim succeeds only when the worker holds no unit; once claimed, a
 * worker that picks a unit up anyway learns it from its next write and hands the unit back.
 * Returns 1 when claimed, 0 when the worker holds a unit.
 */
export const CLAIM_LUA = `
local n = tonumber(redis.call('HGET', KEYS[1], 'activeUnits') or '0')
if n > 0 and ARGV[2] ~= '1' then return 0 end
if redis.call('HEXISTS', KEYS[1], 'drainingAt') == 0 then redis.call('HSET', KEYS[1], 'drainingAt', ARGV[1]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

/** Lease: acquire or renew when free or ours. KEYS[1] lease. ARGV: owner, ttlMs. Returns 1 when held. */
export const LEASE_LUA = `
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
`;

/** Release only our own lease. KEYS[1] lease. ARGV: owner. */
export const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Why queued work of a class is not running (the `waiting.reason` on its jobs). */
export type WaitingReason = 'no_image' | 'quota' | 'permissions' | 'capacity' | 'launch_error' | 'budget' | 'gpu_unusable';

/** A class's launch backoff or block (the `holds` hash). */
export interface ClassFailures {
  failures: number;
  notBefore: number;
  reason: WaitingReason;
  message: string;
  blocked: boolean;
}

/** A worker that could not use its GPU (the `gpu-failures` hash). */
export interface GpuFailure {
  instanceId: string;
  reason: string;
  /** filled in by the provisioner from its instance record */
  resourceClass?: string;
  at: number;
}
