import { describe, expect, it } from 'vitest';
import type { Job } from '../../services/core/job.ts';
import { ApiError, ConnectionError, createClient, readSse } from '../../services/cli/client.ts';
import { followJob } from '../../services/cli/commands.ts';

const job = (status: Job['status'], unitsDone = 0): Job => ({
  id: 'job_1', name: 'mlp', tenant: 'acme', status, createdAt: '2026-01-01T00:00:00Z', progress: { unitsDone, unitsTotal: 2 },
});

const stream = (chunks: string[]): ReadableStream<Uint8Array> => {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
};

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const sse = (chunks: string[]) => new Response(stream(chunks), { status: 200, headers: { 'content-type': 'text/event-stream' } });

type Route = (url: URL, init: RequestInit) => Response | Promise<Response>;
const fakeFetch = (route: Route): typeof fetch => (async (input: string | URL | Request, init: RequestInit = {}) => route(new URL(String(input)), init)) as typeof fetch;

describe('readSse', () => {
  it('parses events split across chunks, skips comments, joins data lines', async () => {
    const events = [];
    for await (const e of readSse(stream(['event: job\ndata: {"a":', '1}\n\n: keep-alive\n\n', 'data: one\r\ndata: two\r\n\r\n', 'event: x\ndata: {"b":2}\n\n']))) events.push(e);
    expect(events).toEqual([
      { event: 'job', data: { a: 1 } },
      { event: 'message', data: 'one\ntwo' },
      { event: 'x', data: { b: 2 } },
    ]);
  });
});

describe('createClient', () => {
  it('sends the key, query and bodies; maps error answers to ApiError', async () => {
    const seen: string[] = [];
    const c = createClient({
      url: 'http://api.test/',
      key: 'k-123456789',
      fetch: fakeFetch((u, init) => {
        seen.push(`${init.method} ${u.pathname}${u.search} ${(init.headers as Record<string, string>).authorization}`);
        if (u.pathname === '/v1/jobs/nope') return json({ error: { code: 'not_found', message: 'job nope not found' } }, 404);
        if (u.pathname === '/v1/jobs/html') return new Response('<h1>bad gateway</h1>', { status: 502 });
        return json({ items: [], nextCursor: null });
      }),
    });
    await c.listJobs({ status: 'queued', limit: 5 });
    expect(seen[0]).toBe('GET /v1/jobs?status=queued&limit=5 Bearer k-123456789');
    await expect(c.getJob('nope')).rejects.toMatchObject({ name: 'ApiError', status: 404, code: 'not_found', message: 'job nope not found' });
    await expect(c.getJob('html')).rejects.toMatchObject({ status: 502, code: 'http_502', message: '<h1>bad gateway</h1>' });
  });

  it('reports an unreachable server as ConnectionError with the system code', async () => {
    const c = createClient({
      url: 'http://api.test',
      fetch: (async () => {
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
      }) as typeof fetch,
    });
    const err = await c.getJob('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ url: 'http://api.test', syscallCode: 'ECONNREFUSED' });
  });
});

describe('followJob', () => {
  it('follows the event stream to a terminal status, printing changes only', async () => {
    const c = createClient({
      url: 'http://api.test',
      fetch: fakeFetch((u) => {
        if (u.pathname.endsWith('/events')) {
          const ev = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
          return sse([
            ev('job', job('queued')),
            ev('status', { status: 'running' }),
            ev('status', { status: 'running' }),
            ev('progress', { unit: 'u0', epoch: 1, epochs: 2, logs: { loss: 1 } }),
            ev('progress', { unit: 'u0', epoch: 2, epochs: 2, logs: { loss: 0.5 } }),
            ev('unit', { unit: 'u0', unitsDone: 1, score: 0.9 }),
            ev('status', { status: 'completed' }),
            ev('status', { status: 'never read' }),
          ]);
        }
        return json(job('completed', 2));
      }),
    });
    const lines: string[] = [];
    const final = await followJob(c, 'job_1', { print: (l) => lines.push(l), progressEveryMs: 0 });
    expect(final.status).toBe('completed');
    expect(lines).toEqual([
      'job_1  queued  0/2 units',
      'status running',
      'unit u0  epoch 1/2  loss 1.0000',
      'unit u0  epoch 2/2  loss 0.5000',
      'unit u0 done  (1/2 done)  score 0.9000',
      'status completed',
    ]);
  });

  it('falls back to polling when the stream cannot be opened', async () => {
    const states = [job('queued'), job('running', 1), job('running', 1), job('failed', 1)];
    const c = createClient({
      url: 'http://api.test',
      fetch: fakeFetch((u) => {
        if (u.pathname.endsWith('/events')) return new Response('no streams here', { status: 503 });
        return json(states.shift() ?? job('failed', 1));
      }),
    });
    const lines: string[] = [];
    const final = await followJob(c, 'job_1', { print: (l) => lines.push(l), pollMs: 1, sleep: async () => undefined });
    expect(final.status).toBe('failed');
    expect(lines[0]).toMatch(/^event stream unavailable \(no streams here\); polling/);
    expect(lines.slice(1)).toEqual(['job_1  queued  0/2 units', 'job_1  running  1/2 units', 'job_1  failed  1/2 units']);
  });

  it('an API error about the job is final', async () => {
    const c = createClient({ url: 'http://api.test', fetch: fakeFetch(() => json({ error: { code: 'not_found', message: 'job x not found' } }, 404)) });
    await expect(followJob(c, 'x', { print: () => undefined })).rejects.toBeInstanceOf(ApiError);
  });
});
