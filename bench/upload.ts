/**
 * Memory of the API process while it takes a large data set upload: the API runs
 * as its own process (services/api/main.ts) over Redis and the embedded S3 server;
 * a CSV of the given size (default 200 MB) is sent over HTTP in 1 MiB chunks, made
 * as it is sent (the bench never holds it either). Reported: the API's peak RSS
 * (VmHWM) before the upload and after it, the upload's wall time, and its answer.
 * Usage: npx tsx bench/upload.ts [megabytes]   (REDIS_URL honoured)
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { startEmbeddedS3 } from '../services/platform/embedded-s3.ts';
import { listeningUrl } from './support/api-process.ts';

const mb = Number(process.argv[2] ?? 200);
const total = mb * 1024 * 1024;
const KEY = `bench-key-${randomBytes(8).toString('hex')}`;
const prefix = `bench-upload-${randomBytes(4).toString('hex')}`;

/** CSV rows: numbers, a unique id column and a three-class label, `total` bytes in all (the last row padded). */
function* csvChunks(hash: ReturnType<typeof createHash>): Generator<Buffer> {
  let sent = 0;
  let i = 0;
  while (sent < total) {
    const lines: string[] = [];
    let size = 0;
    while (size < 1024 * 1024 && sent + size < total) {
      const l = `${(i % 997) / 7},${i * 3},user-${i}-${'q'.repeat(i % 24)},${['a', 'b', 'c'][i % 3]}\n`;
      lines.push(l);
      size += l.length;
      i++;
    }
    const chunk = Buffer.from(lines.join(''));
    hash.update(chunk);
    sent += chunk.length;
    yield chunk;
  }
}

const peakRssMb = (pid: number): number => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

const dir = mkdtempSync(path.join(tmpdir(), 'nightshift-bench-s3-'));
const s3 = await startEmbeddedS3({ directory: dir });
const api = spawn(process.execPath, ['--import', 'tsx', 'services/api/main.ts'], {
  env: {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    NIGHTSHIFT_PREFIX: prefix,
    NIGHTSHIFT_S3_BUCKET: `bench-${randomBytes(4).toString('hex')}`,
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    NIGHTSHIFT_API_KEYS: `bench:${KEY}`,
    NIGHTSHIFT_MAX_STORED_BYTES: String(4 * 1024 ** 3),
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const url = await listeningUrl(api);
  const before = peakRssMb(api.pid!);
  const hash = createHash('sha256');
  const t0 = performance.now();
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${url}/v1/datasets?header=false`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'text/csv' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    Readable.from(csvChunks(hash)).pipe(req);
  });
  const ms = performance.now() - t0;
  const after = peakRssMb(api.pid!);
  const sha = hash.digest('hex');
  const body = JSON.parse(answer.body) as { sha256?: string; rows?: number; bytes?: number };
  console.log(`| upload of ${mb} MB (${body.rows ?? '?'} rows) | answer ${answer.status}${body.sha256 === sha ? ', hash matches' : ', HASH DIFFERS'} | ${(ms / 1000).toFixed(1)} s |`);
  console.log(`| API peak RSS before the upload | ${before.toFixed(0)} MB |`);
  console.log(`| API peak RSS after the upload | ${after.toFixed(0)} MB |`);
} finally {
  api.kill('SIGTERM');
  await new Promise((r) => api.once('exit', r));
  await s3.close();
  rmSync(dir, { recursive: true, force: true });
  const { Redis } = await import('ioredis');
  const r = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const ks = await r.keys(`${prefix}*`);
  if (ks.length) await r.del(...ks);
  r.disconnect();
}
