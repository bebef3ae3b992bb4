/**
 * Starting and ending worker processes on this machine: the local provider's
 * "instances" and the cloud simulator's emulated instances are both one
 * `node --import tsx <entry>` child each, with the worker environment below.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../core/config.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_WORKER_ENTRY = path.join(REPO_ROOT, 'workers/trainer/main.ts');

/** The environment a worker reads (see workers/trainer/main.ts and services/core/config.ts). */
export function workerEnv(
  config: Pick<Config, 'redisUrl' | 'prefix' | 'idleTimeoutS' | 's3'> & Partial<Pick<Config, 'redisCluster'>>,
  o: { instanceId: string; imdsEndpoint: string; shutdownCommand: string; extra?: Record<string, string> },
): Record<string, string> {
  const env: Record<string, string> = {
    NIGHTSHIFT_PREFIX: config.prefix,
    NIGHTSHIFT_INSTANCE_ID: o.instanceId,
    NIGHTSHIFT_IMDS_ENDPOINT: o.imdsEndpoint,
    NIGHTSHIFT_IDLE_TIMEOUT_S: String(config.idleTimeoutS),
    NIGHTSHIFT_SHUTDOWN_COMMAND: o.shutdownCommand,
    NIGHTSHIFT_S3_BUCKET: config.s3.bucket,
    AWS_REGION: config.s3.region,
  };
  if (config.redisUrl) env.REDIS_URL = config.redisUrl;
  if (config.redisCluster) env.NIGHTSHIFT_REDIS_CLUSTER = 'true';
  if (config.s3.endpoint) env.AWS_ENDPOINT_URL = config.s3.endpoint;
  if (config.s3.accessKeyId) env.AWS_ACCESS_KEY_ID = config.s3.accessKeyId;
  if (config.s3.secretAccessKey) env.AWS_SECRET_ACCESS_KEY = config.s3.secretAccessKey;
  return { ...env, ...(o.extra ?? {}) };
}

export interface SpawnedWorker {
  child: ChildProcess;
  /** resolves with the exit code (or signal) once the process is gone */
  exited: Promise<string>;
  /** last output lines, for diagnostics */
  tail(): string;
}

export function spawnWorker(o: { entry: string; env: Record<string, string>; baseEnv?: Record<string, string | undefined>; logFile?: string; cwd?: string }): SpawnedWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', o.entry], {
    cwd: o.cwd ?? REPO_ROOT,
    env: { ...(o.baseEnv ?? process.env), ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  let file: ReturnType<typeof createWriteStream> | undefined;
  if (o.logFile) {
    mkdirSync(path.dirname(o.logFile), { recursive: true });
    file = createWriteStream(o.logFile, { flags: 'a' });
  }
  const onData = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4_000);
    file?.write(d);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      file?.end();
      resolve(signal ?? String(code));
    });
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  return { child, exited, tail: () => tail };
}

/** SIGTERM, then SIGKILL after graceMs (0 = power off at once). */
export async function endWorker(w: SpawnedWorker, graceMs: number): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
  if (graceMs > 0) {
    const t = setTimeout(() => w.child.kill('SIGKILL'), graceMs);
    await w.exited;
    clearTimeout(t);
  } else {
    await w.exited;
  }
}
