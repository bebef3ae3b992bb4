/**
 * `nightshift keys create|list|revoke` as a child process against the real Redis,
 * with an API built on the same prefix: a created key works at once, a revoked key
 * stops working at once (no restart), and Redis never holds the key itself.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStack, type TestStack } from '../../support/app.ts';
import { TEST_REDIS_URL } from '../../support/redis.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin/nightshift.js');

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack({ label: 'cli-keys' });
});
afterAll(async () => {
  await stack?.close();
});

const cli = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH, REDIS_URL: TEST_REDIS_URL, NIGHTSHIFT_PREFIX: stack.prefix }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });

describe('nightshift keys', () => {
  it('creates a key that works without a restart, lists it without the key, and revokes it at once', async () => {
    const created = await cli('keys', 'create', 'initech', '--json');
    expect(created.code, created.stderr).toBe(0);
    const { id, key, tenant } = JSON.parse(created.stdout) as { id: string; key: string; tenant: string };
    expect(tenant).toBe('initech');
    const auth = { authorization: `Bearer ${key}` };
    const jobs = await stack.app.inject({ url: '/v1/jobs', headers: auth });
    expect(jobs.statusCode).toBe(200);
    // a job submitted with the stored key belongs to its tenant
    const sub = await stack.app.inject({
      method: 'POST', url: '/v1/jobs', headers: auth,
      payload: { dataset: { uri: 'builtin:make_regression?n_samples=20&n_features=2' }, model: { layers: [{ type: 'dense', units: 1 }] }, training: { loss: 'mse', epochs: 1 } },
    });
    expect(sub.statusCode).toBe(202);
    expect((await stack.store.getJob(sub.json().id))?.tenant).toBe('initech');

    // Redis holds the digest only
    const found: string[] = [];
    let cursor = '0';
    do { // one SCAN call walks only part of the keyspace: follow the cursor to its end
      const [next, batch] = await stack.redis.scan(cursor, 'MATCH', `${stack.prefix}:api-key*`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    expect(found.length).toBeGreaterThan(0);
    for (const k of found) expect(JSON.stringify(await stack.redis.hgetall(k))).not.toContain(key);

    const listed = await cli('keys', 'list');
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).not.toContain(key);

    expect((await cli('keys', 'revoke', id)).code).toBe(0);
    expect((await stack.app.inject({ url: '/v1/jobs', headers: auth })).statusCode).toBe(401);
    expect((await cli('keys', 'revoke', id)).code).toBe(1);
  });

  it('refuses reserved tenant names', async () => {
    const res = await cli('keys', 'create', 'admin');
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/reserved/);
  });
});
