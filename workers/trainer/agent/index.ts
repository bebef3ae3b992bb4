/**
 * The worker agent: the instance's side of the fleet protocol (services/platform/fleet.ts).
 *
 * - heartbeats (instance id, worker id, active units, last busy time) to Redis, and
 *   writes at once whenever the number of active units changes;
 * - learns from each write whether the provisioner has claimed the instance for
 *   termination; if so it raises an interruption ({action: 'drain'}) so a unit that
 *   slipped in is checkpointed and handed back like on a spot notice;
 * - dead-man switch: no unit and no provisioner heartbeat for 2 x idleTimeoutS ->
 *   runs shutdownCommand once (on EC2 `shutdown -h now` terminates the instance);
 * - polls IMDSv2 spot/instance-action every spotPollMs (404 = no notice).
 */
import { exec } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { fleetKeys, HEARTBEAT_LUA, WORKER_RECORD_TTL_S } from '../../../services/platform/fleet.ts';
import { imdsClient } from './imds.ts';

export interface WorkerAgent {
  readonly instanceId: string;
  /** number of units this worker is running right now (0 = idle) */
  setActiveUnits(n: number): void;
  /** a unit finished an epoch (the provisioner treats a busy worker without progress as hung) */
  progress(): void;
  /** called once when an interruption notice arrives (spot instance-action, or the provisioner draining this instance) */
  onInterruption(cb: (notice: { action: string; time?: string }) => void): void;
  /** called once when EC2 recommends rebalancing (the spot instance is at elevated risk of interruption) */
  onRebalance(cb: (notice: { noticeTime?: string }) => void): void;
  /** tells the provisioner this machine's GPU cannot be used (it terminates the instance and may block the class) */
  reportGpuFailure(reason: string): Promise<void>;
  /** runs the shutdown command now (on EC2 it ends the instance) */
  shutdownMachine(why: string): void;
  stop(): Promise<void>;
}

interface Logger {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
}

export interface AgentOptions {
  redis: Redis;
  prefix: string;
  /** else the IMDSv2 instance-id, else `local-<hostname>-<pid>` */
  instanceId?: string;
  workerId: string;
  idleTimeoutS: number;
  /** base URL of the metadata service; "off" disables metadata reads */
  imdsEndpoint: string;
  shutdownCommand: string;
  spotPollMs?: number;
  heartbeatMs?: number;
  logger?: Logger;
  /** for tests: the clock */
  now?: () => number;
  /** touched after every successful heartbeat (container health checks) */
  healthFile?: string;
}

const silent: Logger = { info() {}, warn() {} };

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

export async function startAgent(opts: AgentOptions): Promise<WorkerAgent> {
  const log = opts.logger ?? silent;
  const now = opts.now ?? Date.now;
  const imds = opts.imdsEndpoint && opts.imdsEndpoint !== 'off' ? imdsClient(opts.imdsEndpoint) : undefined;
  const instanceId = opts.instanceId ?? (await imds?.instanceId()) ?? `local-${hostname()}-${process.pid}`;
  const keys = fleetKeys(opts.prefix);
  const idleMs = opts.idleTimeoutS * 1000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(200, Math.min(5_000, Math.floor(idleMs / 4)));
  const spotPollMs = opts.spotPollMs ?? 5_000;
  const deadmanMs = 2 * idleMs;
  // Own connection that fails fast: the caller's may queue commands forever while Redis is down,
  // and a control plane that cannot be reached must count as absent for the dead-man switch.
  const redis = opts.redis.duplicate({ maxRetriesPerRequest: 1, enableOfflineQueue: false, connectionName: `nightshift-agent-${instanceId}` });
  redis.on('error', () => {});
  if (redis.status !== 'ready') {
    await withTimeout(new Promise<void>((resolve) => redis.once('ready', () => resolve())), 5_000).catch(() => undefined);
  }

  const startedAt = now();
  let active = 0;
  let lastBusyAt = startedAt;
  let lastProgressAt: number | undefined;
  let provisionerSeenAt = startedAt;
  let stopped = false;
  let shutdownRun = false;
  let interrupted = false;
  const listeners: Array<(n: { action: string; time?: string }) => void> = [];
  let pendingNotice: { action: string; time?: string } | undefined;

  function interrupt(notice: { action: string; time?: string }): void {
    if (interrupted) return;
    interrupted = true;
    pendingNotice = notice;
    log.warn({ instanceId, notice }, 'interruption notice');
    for (const cb of listeners) cb(notice);
  }

  let writing: Promise<void> = Promise.resolve();
  function write(): Promise<void> {
    // serialized so an older heartbeat never overwrites a newer active-units value
    writing = writing.then(async () => {
      try {
        const [drainingAt, provisioner] = (await withTimeout(
          redis.eval(HEARTBEAT_LUA, 2, keys.worker(instanceId), keys.provisioner, instanceId, opts.workerId, String(active), String(now()), String(startedAt), String(WORKER_RECORD_TTL_S), lastProgressAt === undefined ? '' : String(lastProgressAt)),
          2_000,
        )) as [number, number];
        if (provisioner) provisionerSeenAt = now();
        if (opts.healthFile) await writeFile(opts.healthFile, String(now())).catch(() => undefined);
        if (drainingAt > 0 && !stopped) interrupt({ action: 'drain', time: new Date(drainingAt).toISOString() });
      } catch (err) {
        log.warn({ instanceId, err: (err as Error).message }, 'heartbeat failed');
      }
    });
    return writing;
  }

  function checkDeadman(): void {
    if (shutdownRun || stopped) return;
    const t = now();
    if (active > 0) return;
    if (t - lastBusyAt < deadmanMs || t - provisionerSeenAt < deadmanMs) return;
    shutdownRun = true;
    log.warn({ instanceId, idleS: (t - lastBusyAt) / 1000, provisionerSilentS: (t - provisionerSeenAt) / 1000, command: opts.shutdownCommand }, 'dead-man switch: no work and no provisioner, shutting down');
    exec(opts.shutdownCommand, (err) => {
      if (err) log.warn({ instanceId, err: err.message }, 'shutdown command failed');
    });
  }

  function runShutdown(why: string): void {
    if (shutdownRun) return;
    shutdownRun = true;
    log.warn({ instanceId, why, command: opts.shutdownCommand }, 'shutting the machine down');
    exec(opts.shutdownCommand, (err) => {
      if (err) log.warn({ instanceId, err: err.message }, 'shutdown command failed');
    });
  }

  const rebalanceListeners: Array<(n: { noticeTime?: string }) => void> = [];
  let rebalanced: { noticeTime?: string } | undefined;
  let spotFailures = 0;
  async function pollSpot(): Promise<void> {
    if (!imds || interrupted || stopped) return;
    try {
      const notice = await imds.spotInstanceAction();
      spotFailures = 0;
      if (!rebalanced) {
        const r = await imds.rebalanceRecommendation();
        if (r) {
          rebalanced = r;
          log.warn({ instanceId, notice: r }, 'rebalance recommendation');
          for (const cb of rebalanceListeners) cb(r);
        }
      }
      if (notice) interrupt(notice);
    } catch (err) {
      if (spotFailures++ === 0) log.warn({ instanceId, err: (err as Error).message }, 'spot notice poll failed');
    }
  }

  await write();
  const hbTimer = setInterval(() => {
    void write().then(checkDeadman);
  }, heartbeatMs);
  const spotTimer = imds ? setInterval(() => void pollSpot(), spotPollMs) : undefined;
  hbTimer.unref();
  spotTimer?.unref();
  if (imds) void pollSpot();
  log.info({ instanceId, heartbeatMs, deadmanS: deadmanMs / 1000, imds: imds ? opts.imdsEndpoint : 'off' }, 'agent started');

  return {
    instanceId,
    setActiveUnits(n: number) {
      const v = Math.max(0, Math.floor(n));
      if (v > 0 || active > 0) lastBusyAt = now();
      if (v > active) lastProgressAt = now();
      active = v;
      void write();
    },
    progress() {
      lastProgressAt = now();
    },
    onInterruption(cb) {
      listeners.push(cb);
      if (pendingNotice) cb(pendingNotice);
    },
    onRebalance(cb) {
      rebalanceListeners.push(cb);
      if (rebalanced) cb(rebalanced);
    },
    async reportGpuFailure(reason: string) {
      await withTimeout(redis.hset(keys.gpuFailures, instanceId, JSON.stringify({ instanceId, reason, at: now() })), 5_000);
    },
    shutdownMachine(why: string) {
      runShutdown(why);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(hbTimer);
      if (spotTimer) clearInterval(spotTimer);
      await writing.catch(() => undefined);
      redis.disconnect();
    },
  };
}
