/**
 * The `nightshift` CLI as a child process (bin/nightshift.js) against a real API:
 * real Redis, the embedded S3 server, served on a loopback port. No worker runs, so
 * submitted jobs stay queued.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStack, TEST_ADMIN_KEY, TEST_KEYS, type TestStack } from '../../support/app.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin/nightshift.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let stack: TestStack;
let url: string;
let dir: string;
const key = TEST_KEYS.acme;

/** The environment without anything the CLI would pick up from the machine. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NIGHTSHIFT_')) env[k] = v;
  return { ...env, NO_COLOR: '1', ...extra };
}

function cli(args: string[], o: { env?: Record<string, string>; auth?: boolean } = {}): Promise<Run> {
  const full = o.auth === false ? args : ['--url', url, '--key', key, ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...full], { cwd: dir, env: cleanEnv(o.env), timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const csv = Array.from({ length: 20 }, (_, i) => `${(i * 0.37) % 5},${(i * 1.3) % 7},${i % 3},${i % 2}`).join('\n') + '\n';

const spec = {
  name: 'cli-test',
  dataset: { uri: 'dataset:placeholder', target: [-1] },
  model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
  training: { loss: 'binaryCrossentropy', optimizer: { name: 'adam' }, metrics: ['accuracy'], epochs: 100, batchSize: 4 },
  evaluation: { method: 'kfold', folds: 4, repeats: 1, shuffle: true, seed: 1 },
};

beforeAll(async () => {
  stack = await createTestStack({ label: 'cli' });
  await stack.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = stack.app.server.address() as { port: number };
  url = `http://127.0.0.1:${addr.port}`;
  dir = mkdtempSync(path.join(tmpdir(), 'nightshift-cli-'));
  writeFileSync(path.join(dir, 'data.csv'), csv);
  writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(spec));
});

afterAll(async () => {
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('nightshift CLI against the API', () => {
  let jobId: string;

  it('uploads a CSV data set and prints id, uri, rows, columns, sha256', async () => {
    const r = await cli(['datasets', 'upload', 'data.csv', '--name', 'clidata']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^id\s+ds_\S+$/m);
    expect(r.stdout).toMatch(/^uri\s+dataset:ds_\S+$/m);
    expect(r.stdout).toMatch(/^rows\s+20$/m);
    expect(r.stdout).toMatch(/^columns\s+4$/m);
    expect(r.stdout).toContain(createHash('sha256').update(csv).digest('hex'));
  });

  it('validates a patched spec with --dry-run', async () => {
    const r = await cli(['submit', 'spec.json', '--dry-run', '--dataset', 'dataset:clidata', '--set', 'training.epochs=5', '--set', 'evaluation.folds=5', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const answer = JSON.parse(r.stdout) as { valid: boolean; unitsTotal: number; resolved: { training: { epochs: number }; dataset: { uri: string } } };
    expect(answer.valid).toBe(true);
    expect(answer.unitsTotal).toBe(5);
    expect(answer.resolved.training.epochs).toBe(5);

    const human = await cli(['submit', 'spec.json', '--dry-run', '--dataset', 'dataset:clidata']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^valid\s+yes$/m);
    expect(human.stdout).toMatch(/^units\s+4$/m);
  });

  it('submits with --set and prints the job id; the stored spec carries the patch', async () => {
    const r = await cli(['submit', 'spec.json', '--dataset', 'dataset:clidata', '--set', 'training.epochs=7', '--set', 'model.layers.0.units=8']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    jobId = r.stdout.trim();
    expect(jobId).toMatch(/^job_[A-Za-z0-9_-]+$/);

    const stored = await cli(['artifacts', jobId, 'spec.json', '-o', '-']);
    expect(stored.code).toBe(0);
    const s = JSON.parse(stored.stdout) as typeof spec;
    expect(s.training.epochs).toBe(7);
    expect(s.model.layers[0].units).toBe(8);
    expect(s.dataset.uri).toMatch(/^dataset:ds_/);

    const saved = await cli(['artifacts', jobId, 'spec.json']);
    expect(saved.code).toBe(0);
    expect(saved.stdout).toMatch(/^wrote spec\.json \(\d+ bytes\)$/m);
    expect(JSON.parse(readFileSync(path.join(dir, 'spec.json'), 'utf8')).training.epochs).toBe(7);
    writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(spec));
  });

  it('shows the job in status and jobs', async () => {
    const [status, raw, list, filtered] = await Promise.all([
      cli(['status', jobId]),
      cli(['status', jobId, '--json']),
      cli(['jobs']),
      cli(['jobs', '--status', 'completed', '--limit', '5', '--json']),
    ]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^id\\s+${jobId}$`, 'm'));
    expect(status.stdout).toMatch(/^status\s+queued$/m);
    expect(status.stdout).toMatch(/^progress\s+0\/4 units$/m);

    expect(JSON.parse(raw.stdout)).toMatchObject({ id: jobId, status: 'queued', progress: { unitsDone: 0, unitsTotal: 4 } });

    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS/);
    expect(list.stdout).toMatch(new RegExp(`^${jobId}\\s+cli-test\\s+queued\\s+0/4`, 'm'));

    expect(filtered.code).toBe(0);
    expect(JSON.parse(filtered.stdout)).toEqual({ items: [], nextCursor: null });
  });

  it('cancels the job; watching it ends at once, not completed', async () => {
    const r = await cli(['cancel', jobId]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`${jobId} cancelled`);

    const again = await cli(['cancel', jobId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: conflict: job \S+ is already cancelled/m);

    const watch = await cli(['watch', jobId]);
    expect(watch.code).toBe(1);
    expect(watch.stdout).toMatch(new RegExp(`^${jobId}\\s+cancelled`, 'm'));
    expect(watch.stdout).toMatch(/^status\s+cancelled$/m);
    expect(watch.stdout).not.toContain('event stream unavailable');
  });

  it('an invalid spec exits 1 naming the field', async () => {
    const r = await cli(['submit', 'spec.json', '--dataset', 'dataset:clidata', '--set', 'training.epochs=0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: validation_failed: .*training\.epochs/m);
    expect(r.stdout).toBe('');

    const unknown = await cli(['submit', 'spec.json', '--dry-run', '--dataset', 'dataset:nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: dataset_not_found: dataset\.uri/m);
  });

  it('usage mistakes exit 2 without calling the API', async () => {
    const [badSet, badLimit, noRows, noFile] = await Promise.all([
      cli(['submit', 'spec.json', '--set', 'model.layers.9.units=1']),
      cli(['jobs', '--limit', '0']),
      cli(['predict', 'job_x']),
      cli(['submit', 'missing.json']),
    ]);
    expect(badSet.code).toBe(2);
    expect(badSet.stderr).toMatch(/model\.layers\.9\.units: index 9 is out of range/);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toMatch(/--limit must be an integer from 1 to 200/);
    expect(noRows.code).toBe(2);
    expect(noRows.stderr).toMatch(/exactly one of --rows/);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/spec missing\.json: no such file/);
  });

  it('a bad key exits 1 with unauthorized; instances need an admin key', async () => {
    const [bad, tenant, admin] = await Promise.all([
      cli(['--url', url, '--key', 'wrong-key-0000', 'jobs'], { auth: false }),
      cli(['instances']),
      cli(['--url', url, '--key', TEST_ADMIN_KEY, 'instances', '--json'], { auth: false }),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: unauthorized: invalid API key$/m);
    expect(bad.stderr).toMatch(/--key/);

    expect(tenant.code).toBe(1);
    expect(tenant.stderr).toMatch(/^error: forbidden: /m);

    expect(admin.code).toBe(0);
    expect(JSON.parse(admin.stdout)).toEqual([]);
  });

  it('takes URL and key from the environment, or from the local stack files', async () => {
    const dataDir = path.join(dir, 'data');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(path.join(dataDir, 'local.json'), JSON.stringify({ url, apiKey: key, pid: 1 }));
    const [env, local, badEnv, noKey] = await Promise.all([
      cli(['jobs', '--limit', '1', '--json'], { auth: false, env: { NIGHTSHIFT_URL: url, NIGHTSHIFT_API_KEY: key } }),
      cli(['jobs', '--json'], { auth: false, env: { NIGHTSHIFT_DATA_DIR: dataDir } }),
      cli(['jobs'], { auth: false, env: { NIGHTSHIFT_URL: 'localhost:8080', NIGHTSHIFT_API_KEY: key } }),
      cli(['--url', url, 'jobs'], { auth: false, env: { NIGHTSHIFT_DATA_DIR: path.join(dir, 'empty') } }),
    ]);
    expect(env.code).toBe(0);
    expect(JSON.parse(env.stdout).items).toHaveLength(1);
    expect(local.code).toBe(0);
    expect(JSON.parse(local.stdout).items.length).toBeGreaterThan(0);

    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(/^error: NIGHTSHIFT_URL: /m);

    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/no API key: pass --key or set NIGHTSHIFT_API_KEY/);
  });

  it('connection refused prints a hint', async () => {
    const port = await freePort();
    const r = await cli(['--url', `http://127.0.0.1:${port}`, '--key', key, 'jobs'], { auth: false });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/m);
    expect(r.stderr).toMatch(/is the stack running\? .*npm start/);
  });
  it('cost: a table per group with totals; --json is the API answer; a bad --by is a usage error', async () => {
    const { createFleetStore } = await import('../../services/platform/fleet-store.ts');
    const fleet = createFleetStore(stack.redis, stack.prefix);
    const launchedAt = Date.parse('2026-11-27T23:00:00Z');
    const rec = { id: 'i-cli', provider: 'ec2', resourceClass: 'gpu', type: 'p3.2xlarge', market: 'on-demand' as const, hourlyUsd: 3.6, onDemandUsd: 3.6, launchedAt, slots: 1 };
    await fleet.putInstance(rec);
    await fleet.retire(rec, launchedAt + 1_000_000, 'idle');
    const admin = ['--url', url, '--key', TEST_ADMIN_KEY];
    const [text, json, api, bad] = await Promise.all([
      cli([...admin, 'cost', '--by', 'instanceType'], { auth: false }),
      cli([...admin, 'cost', '--by', 'day', '--json'], { auth: false }),
      stack.app.inject({ url: '/v1/costs?groupBy=day', headers: stack.auth('admin') }),
      cli(['cost', '--by', 'week']),
    ]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^INSTANCE TYPE\s+COST\s+INSTANCE TIME\s+IDLE\s+SPOT SAVED$/m);
    expect(text.stdout).toMatch(/^p3\.2xlarge\s+\$1\.00\s+16\.7 min\s+\$1\.00\s+\$0\.0000$/m);
    expect(text.stdout).toMatch(/^total \$1\.00 {2}\(idle \$1\.00, of which unattributed \$1\.00; spot saved \$0\.0000\)$/m);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(api.json());
    expect(bad.code).toBe(2);
  });
  it('budget: set, show, clear through the API (admin); bad figures are usage errors, tenant keys cannot set', async () => {
    const admin = ['--url', url, '--key', TEST_ADMIN_KEY];
    const set = await cli([...admin, 'budget', 'set', '25'], { auth: false });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/^BUDGET\s+LIMIT\s+SPENT \d{4}-\d{2}\s+LEFT\s+SET BY$/m);
    expect(set.stdout).toMatch(/^\(global\)\s+\$25\.00\s+\$\S+\s+\$\S+\s+api$/m);
    const tenant = await cli([...admin, 'budget', 'set', '7.5', '--tenant', 'acme'], { auth: false });
    expect(tenant.stdout).toMatch(/^acme\s+\$7\.50\s+.*api$/m);
    const [json, api, mine, denied, bad, extra] = await Promise.all([
      cli([...admin, 'budget', '--json'], { auth: false }),
      stack.app.inject({ url: '/v1/budgets', headers: stack.auth('admin') }),
      cli(['budget']),
      cli(['budget', 'set', '100']),
      cli([...admin, 'budget', 'set', 'lots'], { auth: false }),
      cli([...admin, 'budget', 'raise', '5'], { auth: false }),
    ]);
    expect(JSON.parse(json.stdout)).toEqual(api.json());
    expect(mine.stdout).toMatch(/^acme\s+\$7\.50/m);
    expect(mine.stdout).not.toMatch(/global/);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/forbidden: budgets are set by admin keys only/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/USD must be a number .* got "lots"/);
    expect(extra.code).toBe(2);
    const cleared = await cli([...admin, 'budget', 'clear', '--tenant', 'acme', '--json'], { auth: false });
    expect(JSON.parse(cleared.stdout).tenants).toEqual([]);
    expect((await cli([...admin, 'budget', 'clear'], { auth: false })).code).toBe(0);
    expect((await cli([...admin, 'budget'], { auth: false })).stdout).toMatch(/^no budgets \(spend in \d{4}-\d{2} is not capped\)$/m);
  });
});
