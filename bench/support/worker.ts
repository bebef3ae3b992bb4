/** A real worker process (workers/trainer/main.ts) on a test stack's Redis prefix and S3, for the benchmarks. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TestStack } from '../../support/app.ts';

const ENTRY = fileURLToPath(new URL('../../workers/trainer/main.ts', import.meta.url));

export interface BenchWorker {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the worker and resolves once it logged "worker ready" (trainer child warm). */
export async function startWorker(stack: TestStack, env: Record<string, string> = {}): Promise<BenchWorker> {
  const s3 = stack.config.s3;
  const proc = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      REDIS_URL: stack.config.redisUrl ?? 'redis://127.0.0.1:6379',
      NIGHTSHIFT_PREFIX: stack.prefix,
      NIGHTSHIFT_S3_BUCKET: s3.bucket,
      AWS_REGION: s3.region,
      ...(s3.endpoint ? { AWS_ENDPOINT_URL: s3.endpoint } : {}),
      ...(s3.accessKeyId ? { AWS_ACCESS_KEY_ID: s3.accessKeyId } : {}),
      ...(s3.secretAccessKey ? { AWS_SECRET_ACCESS_KEY: s3.secretAccessKey } : {}),
      NIGHTSHIFT_INSTANCE_ID: 'bench-instance',
      // no metadata service here: an address that refuses at once
      NIGHTSHIFT_IMDS_ENDPOINT: 'http://127.0.0.1:9',
      NIGHTSHIFT_SHUTDOWN_COMMAND: 'true',
      NIGHTSHIFT_WORKER_CONCURRENCY: '1',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (l) => {
      if (l.includes('"worker ready"')) resolve();
    });
    proc.once('exit', (c) => reject(new Error(`the worker exited (${c}) before it was ready`)));
  });
  return {
    proc,
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}
