/**
 * The API under the inputs of the hardening findings, over real Redis and the
 * embedded S3 server (the test stack):
 *   - an upload with a column of unique strings: upload time, the stored record's
 *     size, GET /v1/datasets/:id time, and the slowest /healthz answered while the
 *     upload was being summarized (how long the event loop was held);
 *   - Redis unreachable: how long GET /v1/jobs takes to answer its 503.
 * Usage: npx tsx bench/api-hostile.ts [megabytes]   (REDIS_URL honoured)
 */
import { performance } from 'node:perf_hooks';
import { createTestStack } from '../support/app.ts';

const mb = Number(process.argv[2] ?? 50);
const rows: string[] = [];
let size = 0;
for (let i = 0; size < mb * 1024 * 1024; i++) {
  const line = `${i % 7},${(i % 1000) / 10},user-${i}-${'q'.repeat(24)},${i % 2}`;
  rows.push(line);
  size += line.length + 1;
}
const csv = rows.join('\n') + '\n';
const out: string[] = [];

const stack = await createTestStack({ label: 'bench-hostile', env: { NIGHTSHIFT_MAX_STORED_BYTES: String(4 * 1024 ** 3) } });
try {
  let slowest = 0;
  let probes = 0;
  let uploading = true;
  const prober = (async () => {
    while (uploading) {
      const t = performance.now();
      await stack.app.inject({ url: '/healthz' });
      slowest = Math.max(slowest, performance.now() - t);
      probes++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const t0 = performance.now();
  const up = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: { ...stack.auth('acme'), 'content-type': 'text/csv' }, payload: csv });
  const uploadMs = performance.now() - t0;
  uploading = false;
  await prober;
  if (up.statusCode !== 201) throw new Error(`upload answered ${up.statusCode}: ${up.body}`);
  const id = up.json().id as string;
  const recordBytes = await stack.redis.strlen(stack.store.keys.dataset('acme', id));
  const t1 = performance.now();
  const get = await stack.app.inject({ url: `/v1/datasets/${id}`, headers: stack.auth('acme') });
  const getMs = performance.now() - t1;
  if (get.statusCode !== 200) throw new Error(`GET answered ${get.statusCode}`);
  out.push(`| upload, ${(csv.length / 1024 / 1024).toFixed(0)} MB, ${rows.length} rows, a column of unique strings | ${uploadMs.toFixed(0)} ms |`);
  out.push(`| stored record (Redis) | ${recordBytes} bytes |`);
  out.push(`| GET /v1/datasets/:id | ${getMs.toFixed(1)} ms |`);
  out.push(`| slowest of ${probes} /healthz during the upload | ${slowest.toFixed(0)} ms |`);

  // Redis unreachable: disconnect the API's connection for good and time the 503
  stack.redis.disconnect(false);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const res = await stack.app.inject({ url: '/v1/jobs', headers: stack.auth('acme') });
    if (res.statusCode !== 503) throw new Error(`expected 503, got ${res.statusCode}`);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  out.push(`| GET /v1/jobs with Redis unreachable (503), median / max of 20 | ${times[10].toFixed(1)} / ${times[19].toFixed(1)} ms |`);
} finally {
  await stack.close().catch(() => undefined);
}
console.log(['| measure | value |', '|---|---|', ...out].join('\n'));
