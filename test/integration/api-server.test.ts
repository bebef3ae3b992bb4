/** startServer: listens, keeps event streams alive with heartbeats, closes on a signal. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../services/api/server.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;

beforeAll(async () => {
  stack = await createTestStack({ label: 'api-server' });
});
afterAll(async () => {
  await stack?.close();
});

describe('startServer', () => {
  it('serves over HTTP, sends SSE heartbeats and closes gracefully on SIGTERM', async () => {
    const deps = { config: stack.config, store: stack.store, queues: stack.queues, artifacts: stack.artifacts, logger: false, sseHeartbeatMs: 30 };
    const listeners = process.listenerCount('SIGTERM');
    const server = await startServer(deps, { host: '127.0.0.1', port: 0, signals: ['SIGTERM'] });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ ok: true });

    const sub = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { ...stack.auth('acme'), 'content-type': 'application/json' },
      body: JSON.stringify({
        dataset: { uri: 'builtin:make_classification?n_samples=50' },
        model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
        training: { loss: 'binaryCrossentropy', epochs: 1 },
      }),
    });
    expect(sub.status).toBe(202);
    const { id } = (await sub.json()) as { id: string };
    const events = await fetch(`${server.url}/v1/jobs/${id}/events`, { headers: stack.auth('acme') });
    const reader = events.body!.getReader();
    let text = '';
    while (!text.includes(': keep-alive')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toMatch(/^event: job\n/);
    expect(text).toContain(': keep-alive\n\n');

    process.emit('SIGTERM', 'SIGTERM');
    await server.closed;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });
});
