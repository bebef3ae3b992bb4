/**
 * What the local stack needs before it can start: a Redis that answers and an
 * S3-protocol endpoint. Uses what is configured; otherwise starts its own
 * (redis-server with AOF under the data dir, the embedded s3rver).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../platform/ports.ts';
import { pingRedis } from '../platform/redis.ts';
import { startEmbeddedS3, type EmbeddedS3 } from '../platform/embedded-s3.ts';
import type { Config } from '../core/config.ts';

export class StackError extends Error {}


export interface RedisHandle {
  url: string;
  spawned?: ChildProcess;
  stop(): Promise<void>;
}

export async function ensureRedis(config: Config, log: (m: string) => void): Promise<RedisHandle> {
  if (config.redisUrl) {
    if (await pingRedis(config.redisUrl, 3_000)) return { url: config.redisUrl, stop: async () => {} };
    throw new StackError(`REDIS_URL: no Redis answers at ${config.redisUrl}`);
  }
  const local = 'redis://127.0.0.1:6379';
  if (await pingRedis(local, 1_000)) return { url: local, stop: async () => {} };
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new StackError(
      'Redis is not running on 127.0.0.1:6379 and redis-server is not installed.\n' +
        '  Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)\n' +
        '  or point REDIS_URL at a running Redis (>= 6.2).',
    );
  }
  const dir = path.join(config.dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freePort(6380);
  const proc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--save', ''], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `redis://127.0.0.1:${port}`;
  const end = Date.now() + 10_000;
  while (!(await pingRedis(url, 500))) {
    if (proc.exitCode !== null || Date.now() > end) throw new StackError(`redis-server did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`started redis-server on ${url} (AOF under ${dir})`);
  return {
    url,
    spawned: proc,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    },
  };
}

export interface S3Handle {
  env: Record<string, string>;
  embedded?: EmbeddedS3;
  stop(): Promise<void>;
}

/** An S3 endpoint: the configured one, real AWS when credentials are set, else the embedded server. */
export async function ensureS3(config: Config, log: (m: string) => void): Promise<S3Handle> {
  if (config.s3.endpoint || config.s3.accessKeyId) return { env: {}, stop: async () => {} };
  const dir = path.join(config.dataDir, 's3');
  const embedded = await startEmbeddedS3({ directory: dir, port: await freePort(4568), buckets: [config.s3.bucket] });
  log(`started the embedded S3 server on ${embedded.endpoint} (data under ${dir})`);
  return {
    env: { AWS_ENDPOINT_URL: embedded.endpoint, AWS_ACCESS_KEY_ID: embedded.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: embedded.credentials.secretAccessKey },
    embedded,
    stop: () => embedded.close(),
  };
}
