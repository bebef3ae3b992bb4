/**
 * The cloud simulator: emulated EC2 instances (moto) never boot, so this turns each
 * running instance of a cluster into a local worker process with its own metadata
 * endpoint on loopback (IMDSv2 token, instance-id, spot/instance-action settable by
 * the test). The process is killed (power off) when the instance is terminated; a
 * worker that shuts its machine down (dead-man switch) terminates its instance.
 */
import { createServer, type Server } from 'node:http';
import { DescribeInstancesCommand, TerminateInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import path from 'node:path';
import { loadConfig, type Config } from '../services/core/config.ts';
import { connectRedis, type Redis } from '../services/platform/redis.ts';
import { createQueues, enqueueJob, type Queues } from '../services/platform/queue.ts';
import { endWorker, REPO_ROOT, spawnWorker, workerEnv, type SpawnedWorker } from '../services/provisioner/worker-process.ts';
import type { ComputeProvider } from '../services/provisioner/provider.ts';
import { createEc2Provider } from '../services/provisioner/providers/ec2.ts';
import { TAG } from '../services/provisioner/providers/ec2-tags.ts';
import { EMULATOR_CREDENTIALS, TEST_WORKER_IMAGE } from './moto.ts';
import { slotsOf } from '../services/core/machines.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from './redis.ts';

export interface ImdsServer {
  endpoint: string;
  setSpotNotice(n: { action: string; time?: string } | undefined): void;
  /** answer events/recommendations/rebalance with this notice (undefined: 404) */
  setRebalance(n: { noticeTime: string } | undefined): void;
  close(): Promise<void>;
}

export async function startImdsServer(o: { instanceId: string; onShutdown?: () => void }): Promise<ImdsServer> {
  let notice: { action: string; time?: string } | undefined;
  let rebalance: { noticeTime: string } | undefined;
  const tokens = new Set<string>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'PUT' && url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return void res.writeHead(400).end();
      const t = `tok-${Math.random().toString(36).slice(2)}`;
      tokens.add(t);
      return void res.writeHead(200, { 'content-type': 'text/plain' }).end(t);
    }
    if (req.method === 'POST' && url === '/sim/shutdown') {
      res.writeHead(200).end('ok');
      o.onShutdown?.();
      return;
    }
    if (req.method === 'GET' && url.startsWith('/latest/meta-data/')) {
      if (!tokens.has(String(req.headers['x-aws-ec2-metadata-token'] ?? ''))) return void res.writeHead(401).end();
      const p = url.slice('/latest/meta-data/'.length);
      if (p === 'instance-id') return void res.writeHead(200).end(o.instanceId);
      if (p === 'events/recommendations/rebalance') {
        if (!rebalance) return void res.writeHead(404).end();
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rebalance));
      }
      if (p === 'spot/instance-action') {
        if (!notice) return void res.writeHead(404).end();
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(notice));
      }
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setSpotNotice(n) {
      notice = n;
    },
    setRebalance(n) {
      rebalance = n;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface SimInstance {
  id: string;
  imds: ImdsServer;
  worker?: SpawnedWorker;
  startedAt: number;
  endedAt?: number;
}

export interface CloudSim {
  instances(): SimInstance[];
  setSpotNotice(id: string, n: { action: string; time?: string } | undefined): void;
  /** this instance "never boots": no worker process is started for it */
  neverBoot(id: string): void;
  /** instances launched that will never boot, chosen before they appear */
  neverBootNext(n: number): void;
  stop(): Promise<void>;
}

export async function startCloudSim(o: {
  ec2: EC2Client;
  cluster: string;
  config: Pick<Config, 'redisUrl' | 'prefix' | 'idleTimeoutS' | 's3'>;
  entry: string;
  env?: Record<string, string>;
  pollMs?: number;
  /** ms between the instance running and its worker starting (boot time) */
  bootDelayMs?: number;
}): Promise<CloudSim> {
  const byId = new Map<string, SimInstance>();
  const noBoot = new Set<string>();
  let noBootNext = 0;
  let stopped = false;

  async function powerOff(i: SimInstance): Promise<void> {
    if (i.endedAt !== undefined) return;
    i.endedAt = Date.now();
    if (i.worker) await endWorker(i.worker, 0);
    await i.imds.close();
  }

  async function poll(): Promise<void> {
    const all = await clusterInstances(o.ec2, o.cluster);
    const present = new Set<string>();
    for (const inst of all) {
      const id = inst.InstanceId!;
      const state = inst.State?.Name;
      present.add(id);
      const known = byId.get(id);
      if (state === 'running' || state === 'pending') {
        if (known || stopped) continue;
        if (noBootNext > 0) {
          noBootNext--;
          noBoot.add(id);
        }
        const imds = await startImdsServer({
          instanceId: id,
          onShutdown: () => {
            // shutdown -h now with InstanceInitiatedShutdownBehavior=terminate
            void o.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })).catch(() => undefined);
            const i = byId.get(id);
            if (i) void powerOff(i);
          },
        });
        const si: SimInstance = { id, imds, startedAt: Date.now() };
        byId.set(id, si);
        if (noBoot.has(id)) continue;
        const boot = () => {
          if (stopped || si.endedAt !== undefined) return;
          const env = workerEnv(o.config, {
            instanceId: id,
            imdsEndpoint: imds.endpoint,
            shutdownCommand: `curl -s -X POST ${imds.endpoint}/sim/shutdown`,
            // as the bootstrap does: one slot per core on CPU types (no NIGHTSHIFT_ACCELERATOR: emulated machines have no GPU to verify)
            extra: { NIGHTSHIFT_WORKER_CONCURRENCY: String(slotsOf(inst.InstanceType ?? '')), ...o.env },
          });
          si.worker = spawnWorker({ entry: o.entry, env });
        };
        if (o.bootDelayMs) setTimeout(boot, o.bootDelayMs);
        else boot();
      } else if (known) {
        await powerOff(known);
      }
    }
    for (const [id, i] of byId) if (!present.has(id)) await powerOff(i);
  }

  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const loop = () => {
    if (stopped) return;
    inFlight = poll()
      .catch(() => undefined)
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, o.pollMs ?? 200);
      });
  };
  loop();

  return {
    instances: () => [...byId.values()],
    setSpotNotice(id, n) {
      byId.get(id)?.imds.setSpotNotice(n);
    },
    neverBoot(id) {
      noBoot.add(id);
    },
    neverBootNext(n) {
      noBootNext += n;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
      await Promise.all([...byId.values()].map(powerOff));
    },
  };
}

/** Wraps a provider to record when each call happened (latency measurements, duplicate-launch checks). */
export function recordCalls(p: ComputeProvider) {
  const calls: Array<{ op: 'launch' | 'terminate'; at: number; ids: string[]; count?: number; launchId?: string }> = [];
  const provider: ComputeProvider = {
    kind: p.kind,
    describe: () => p.describe(),
    hourlyUsd: (c, s) => p.hourlyUsd(c, s),
    slots: (c) => p.slots(c),
    async launch(req) {
      const at = Date.now();
      const out = await p.launch(req);
      calls.push({ op: 'launch', at, ids: out.instances.map((i) => i.id), count: req.count, launchId: req.launchId });
      return out;
    },
    async terminate(ids) {
      calls.push({ op: 'terminate', at: Date.now(), ids: [...ids] });
      await p.terminate(ids);
    },
    ...(p.close ? { close: () => p.close!() } : {}),
  };
  return { provider, calls };
}

/**
 * The emulated cloud with fake workers, as the provisioner cloud test and the latency
 * bench use it: config for `ec2` compute on the emulator, Redis and queues under a
 * fresh prefix, the EC2 provider wrapped by recordCalls, and the cloud simulator
 * booting every instance as support/fake-worker.ts (units sleep `unitMs`).
 * The caller creates and stops its provisioners; close() ends everything else.
 */
export async function startCloudRig(o: {
  endpoint: string;
  ec2: EC2Client;
  label: string;
  unitMs: number;
  /** configuration over the defaults (NIGHTSHIFT_MAX_INSTANCES, NIGHTSHIFT_IDLE_TIMEOUT_S, ...) */
  env?: Record<string, string>;
  /** extra environment of the fake workers */
  workerEnv?: Record<string, string>;
  /** image lookup of the EC2 provider (default: any "*Deep Learning*" image the emulator lists) */
  amiNameFilter?: string;
}) {
  const prefix = uniquePrefix(o.label);
  const config = loadConfig({
    REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_COMPUTE: 'ec2', AWS_ENDPOINT_URL: o.endpoint, AWS_REGION: 'us-east-1', NIGHTSHIFT_WORKER_IMAGE: TEST_WORKER_IMAGE,
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey, ...o.env,
  });
  const redis: Redis = connectRedis(config.redisUrl);
  const bull = connectRedis(config.redisUrl, { forBullWorker: true });
  const queues = createQueues(bull, prefix);
  const { provider, calls } = recordCalls(createEc2Provider(config, { ec2: o.ec2, amiNameFilter: o.amiNameFilter ?? '*Deep Learning*' }));
  const sim = await startCloudSim({
    ec2: o.ec2, cluster: config.ec2.cluster, config, entry: path.join(REPO_ROOT, 'support/fake-worker.ts'), pollMs: 100,
    env: { NIGHTSHIFT_FAKE_UNIT_MS: String(o.unitMs), ...o.workerEnv },
  });
  const instances = () => clusterInstances(o.ec2, config.ec2.cluster);
  return {
    prefix, config, redis, queues, provider, calls, sim, instances,
    /** units the fake workers finished */
    unitsDone: () => redis.llen(`${prefix}:test:done`),
    /** every instance terminated or on its way */
    allGone: async () => (await instances()).every((i) => i.State?.Name === 'terminated' || i.State?.Name === 'shutting-down'),
    async close() {
      await sim.stop();
      await terminateCluster(o.ec2, config.ec2.cluster);
      await queues.close();
      redis.disconnect();
      bull.disconnect();
      await cleanupPrefix(prefix);
    },
  };
}
export type CloudRig = Awaited<ReturnType<typeof startCloudRig>>;

// ---- small helpers shared by the provisioner tests ----

/** Every instance EC2 lists for a cluster tag, terminated ones included while they are listed. */
export async function clusterInstances(ec2: EC2Client, cluster: string): Promise<Instance[]> {
  const r = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.cluster}`, Values: [cluster] }] }));
  return (r.Reservations ?? []).flatMap((x) => x.Instances ?? []);
}

export const isLive = (i: Instance): boolean => i.State?.Name === 'pending' || i.State?.Name === 'running';

/** Terminates whatever a test or bench round left in its cluster. */
export async function terminateCluster(ec2: EC2Client, cluster: string): Promise<void> {
  const ids = (await clusterInstances(ec2, cluster)).map((i) => i.InstanceId!);
  if (ids.length) await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
}

export function quietLogger(sink?: Array<{ level: string; o: object; m?: string; at: number }>) {
  const rec = (level: string) => (o: object, m?: string) => {
    sink?.push({ level, o, m, at: Date.now() });
    if (process.env.NIGHTSHIFT_TEST_VERBOSE) console.log(level, m, JSON.stringify(o));
  };
  return { info: rec('info'), warn: rec('warn'), error: rec('error') };
}

export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string, stepMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
}

export async function addUnits(queues: Queues, n: number, resourceClass: string, jobId = `job${Date.now().toString(36)}`): Promise<void> {
  // through the product's enqueue path (a flow: the provisioner counts a job's units through its parent)
  const units = Array.from({ length: n }, (_, i) => ({ kind: 'eval' as const, run: 0, repeat: 0, fold: i, key: `u${i}` }));
  await enqueueJob(queues, { jobId, tenant: 't', units, resourceClass, priority: 50, maxAttempts: 3 });
}
