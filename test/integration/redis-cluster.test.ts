/**
 * nightshift on a Redis Cluster: a local three-master cluster (redis-server
 * --cluster-enabled, joined with redis-cli --cluster create), the local stack on it
 * with NIGHTSHIFT_REDIS_CLUSTER=true and a hash-tag prefix. A job runs end to end
 * (BullMQ flow, worker processes, aggregation, predict), and every key the stack
 * wrote sits in the one slot of its hash tag. Skipped, saying so, where redis-server
 * or redis-cli is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/core/config.ts';
import { isDone, startE2EStack, type E2EStack } from '../support/stack.ts';
import { Proc, freePort, sleep } from '../support/procs.ts';

const haveRedis = spawnSync('sh', ['-c', 'command -v redis-server && command -v redis-cli']).status === 0;

let dir: string;
let nodes: Proc[] = [];
let ports: number[] = [];
let stack: E2EStack | undefined;
let cluster: Cluster | undefined;
const prefix = `{nstest-cluster-${randomBytes(3).toString('hex')}}`;

async function clusterUp(): Promise<void> {
  dir = mkdtempSync(path.join(tmpdir(), 'ns-cluster-'));
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    ports.push(port);
    const p = new Proc(`redis-${port}`, 'redis-server', [
      '--bind', '127.0.0.1', '--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
      '--dir', dir, '--appendonly', 'no', '--save', '',
    ], process.env, path.join(dir, `redis-${port}.log`));
    p.start();
    nodes.push(p);
  }
  for (const port of ports) {
    const end = Date.now() + 10_000;
    while (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') {
      if (Date.now() > end) throw new Error(`cluster node ${port} did not start`);
      await sleep(100);
    }
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
  const end = Date.now() + 20_000;
  while (!ports.every((p) => /cluster_state:ok/.test(spawnSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }).stdout))) {
    if (Date.now() > end) throw new Error('the cluster did not reach cluster_state:ok');
    await sleep(200);
  }
}

beforeAll(async () => {
  if (!haveRedis) return;
  await clusterUp();
  const url = `redis://127.0.0.1:${ports[1]}`;
  stack = await startE2EStack('cluster', { REDIS_URL: url, NIGHTSHIFT_REDIS_CLUSTER: 'true', NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_MAX_INSTANCES: '1', NIGHTSHIFT_IDLE_TIMEOUT_S: '5' });
  cluster = new Cluster([{ host: '127.0.0.1', port: ports[0] }]);
  cluster.on('error', () => {});
}, 180_000);

afterAll(async () => {
  await stack?.close().catch(() => undefined);
  cluster?.disconnect();
  for (const n of nodes) await n.stop('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!haveRedis)('Redis Cluster', () => {
  it('configuration refuses a cluster prefix without a hash tag and defaults to one', () => {
    expect(() => loadConfig({ NIGHTSHIFT_REDIS_CLUSTER: 'true', NIGHTSHIFT_PREFIX: 'nightshift' })).toThrow(/NIGHTSHIFT_PREFIX.*hash tag/);
    expect(loadConfig({ NIGHTSHIFT_REDIS_CLUSTER: 'true' }).prefix).toBe('{nightshift}');
    expect(loadConfig({}).prefix).toBe('{nightshift}');
    expect(loadConfig({}).ec2.cluster).toBe('nightshift');
    expect(() => loadConfig({ NIGHTSHIFT_REDIS_CLUSTER: 'yes' })).toThrow(/NIGHTSHIFT_REDIS_CLUSTER/);
  });

  it('runs a job end to end with every key in the slot of the prefix\'s hash tag', async () => {
    const s = stack!;
    const job = await s.call('POST', '/v1/jobs', {
      name: 'on-a-cluster',
      dataset: { uri: 'builtin:make_classification?n_samples=60&n_features=4&n_informative=2&n_redundant=0&random_state=1', target: [-1] },
      model: { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
      training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: 3, batchSize: 8, engine: 'fused' },
      evaluation: { method: 'kfold', folds: 2 },
      final: { fit: true },
    });
    expect(job.status, JSON.stringify(job.body)).toBe(202);
    const done = await s.waitFor(job.body.id, isDone, 150_000);
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(done.result.scores).toHaveLength(2);
    const p = await s.call('POST', `/v1/jobs/${job.body.id}/predict`, { rows: [[0, 0, 0, 0]] });
    expect(p.status, JSON.stringify(p.body)).toBe(200);

    // every key of the stack (ours and BullMQ's), on whichever master, hashes to the tag's slot
    const c = cluster!;
    const tag = prefix.slice(1, -1);
    const slot = Number(await c.cluster('KEYSLOT', tag));
    const keys: string[] = [];
    for (const n of c.nodes('master')) {
      let cursor = '0';
      do {
        const [next, found] = await n.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
    }
    expect(keys.length).toBeGreaterThan(10);
    expect(keys.some((k) => k.includes(':units:'))).toBe(true); // BullMQ's queue keys
    expect(keys.some((k) => k.includes(':job:'))).toBe(true); // the job store's
    for (const k of keys.slice(0, 200)) expect(Number(await c.cluster('KEYSLOT', k)), k).toBe(slot);
  }, 200_000);
});
