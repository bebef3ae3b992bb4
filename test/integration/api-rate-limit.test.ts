/** Per-key rate limiting with the counters in Redis (shared by every API process). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStack, type TestStack } from '../../support/app.ts';
import { buildApp } from '../../services/api/app.ts';

let stack: TestStack;

beforeAll(async () => {
  stack = await createTestStack({ label: 'api-rate', env: { NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '5' } });
});
afterAll(async () => {
  await stack?.close();
});

describe('rate limit per API key', () => {
  it('answers 429 rate_limited with Retry-After past the limit, per key, counted in Redis across API processes', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('acme') })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const over = await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('acme') });
    expect(over.statusCode).toBe(429);
    expect(over.json().error.code).toBe('rate_limited');
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // another key is not limited by acme's traffic
    expect((await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('globex') })).statusCode).toBe(200);
    // a second API process on the same Redis sees the same count
    const second = await buildApp({ config: stack.config, store: stack.store, queues: stack.queues, artifacts: stack.artifacts, logger: false });
    try {
      expect((await second.inject({ url: '/v1/jobs', headers: stack.auth('acme') })).statusCode).toBe(429);
    } finally {
      await second.close();
    }
  });

  it('checks the key before counting: bad keys answer 401, not 429', async () => {
    for (let i = 0; i < 7; i++) {
      expect((await stack.app.inject({ url: '/v1/jobs', headers: { authorization: 'Bearer not-a-key-at-all' } })).statusCode).toBe(401);
    }
  });
});
