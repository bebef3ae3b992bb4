/**
 * The per-tenant cap on open event streams holds across API processes: two API
 * apps on the same Redis (and key prefix) count each other's streams, a closed
 * stream frees its place on the other app, and the streams of an app that stops
 * renewing its leases (it died, or lost Redis) stop counting once the lease runs out.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../services/api/app.ts';
import { createStore } from '../../services/platform/store.ts';
import { connectRedis } from '../../services/platform/redis.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

const LEASE_MS = 5_000;
let a: TestStack;
const closers: Array<() => Promise<unknown> | unknown> = [];

/** Another API app on a's Redis, prefix, queues and bucket, listening on its own port; its own Redis connection. */
async function secondApp() {
  const redis = connectRedis(a.config.redisUrl, { name: 'nightshift-test-api-2' });
  const app = await buildApp({ config: a.config, store: createStore(redis, a.prefix), queues: a.queues, artifacts: a.artifacts, logger: false, sseHeartbeatMs: 60_000, sseLeaseMs: LEASE_MS });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const close = async () => {
    await app.close().catch(() => undefined);
    redis.disconnect();
  };
  closers.push(close);
  return { app, redis, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close };
}

beforeAll(async () => {
  a = await createTestStack({ label: 'sse-cap', env: { NIGHTSHIFT_MAX_EVENT_STREAMS: '2' }, deps: { sseHeartbeatMs: 60_000, sseLeaseMs: LEASE_MS } });
  await a.app.listen({ host: '127.0.0.1', port: 0 });
}, 60_000);
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await a?.close();
});

const spec = {
  dataset: { uri: 'builtin:make_regression?n_samples=100&n_features=4' },
  model: { layers: [{ type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 5 },
};

async function openStream(base: string, jobId: string, tenant = 'acme') {
  const ac = new AbortController();
  const res = await fetch(`${base}/v1/jobs/${jobId}/events`, { headers: a.auth(tenant), signal: ac.signal });
  if (res.status === 200) await res.body!.getReader().read(); // the first event: the stream is open
  return { status: res.status, body: res.status === 200 ? undefined : await res.json(), close: () => ac.abort() };
}

/** Opens a stream, retrying while the answer is 429, for at most `ms`. */
async function openWhenFree(base: string, jobId: string, what: string, ms: number) {
  const end = Date.now() + ms;
  for (;;) {
    const s = await openStream(base, jobId);
    if (s.status !== 429) {
      expect(s.status).toBe(200);
      return s;
    }
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('event streams per tenant across API processes', () => {
  it('counts streams on both apps, frees a place when one closes, and ages out a dead app\'s streams', async () => {
    const baseA = `http://127.0.0.1:${(a.app.server.address() as AddressInfo).port}`;
    const b = await secondApp();
    const job = (await a.app.inject({ method: 'POST', url: '/v1/jobs', headers: a.auth('acme'), payload: spec })).json().id as string;

    const s1 = await openStream(baseA, job);
    const s2 = await openStream(b.url, job);
    expect([s1.status, s2.status]).toEqual([200, 200]);
    // a third on either app is over the tenant's limit of 2
    for (const base of [baseA, b.url]) {
      const s3 = await openStream(base, job);
      expect(s3.status).toBe(429);
      expect(s3.body.error).toMatchObject({ code: 'quota_exceeded' });
      expect(s3.body.error.message).toMatch(/across API processes/);
    }
    // another tenant has places of its own
    const theirs = (await a.app.inject({ method: 'POST', url: '/v1/jobs', headers: a.auth('globex'), payload: spec })).json().id as string;
    const other = await openStream(b.url, theirs, 'globex');
    expect(other.status).toBe(200);
    other.close();
    // leases are renewed: the streams still count after several lease lengths
    await new Promise((r) => setTimeout(r, LEASE_MS * 1.5));
    expect((await openStream(b.url, job)).status).toBe(429);

    // closing a stream on A frees a place on B
    s1.close();
    const s4 = await openWhenFree(b.url, job, 'a place after closing a stream on A', 10_000);

    // B stops renewing without releasing (as a killed process would): its two streams age out
    const c = await secondApp();
    b.redis.disconnect(); // B can no longer renew or release anything
    expect((await openStream(c.url, job)).status).toBe(429);
    const t0 = Date.now();
    const s5 = await openWhenFree(c.url, job, 'B\'s streams to expire', LEASE_MS * 4);
    expect(Date.now() - t0).toBeGreaterThan(LEASE_MS / 3);
    const s6 = await openWhenFree(c.url, job, 'B\'s second stream to expire', LEASE_MS * 2);
    expect((await openStream(baseA, job)).status).toBe(429);
    for (const s of [s2, s4, s5, s6]) s.close();
  }, 60_000);
});
