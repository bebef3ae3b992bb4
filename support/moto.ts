/**
 * The moto server (the AWS emulator inside LocalStack): EC2 and S3 over the real
 * wire protocols. Tests use AWS_ENDPOINT_URL when it is given (LocalStack, or moto
 * started elsewhere) and otherwise start moto on a free port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../services/platform/ports.ts';
import { EC2Client } from '@aws-sdk/client-ec2';

export interface AwsEmulator {
  endpoint: string;
  /** POST /moto-api/reset when the endpoint is moto (no-op elsewhere) */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export const EMULATOR_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;

/** An EC2 client for the emulator at `endpoint`. */
export const emulatorEc2 = (endpoint: string): EC2Client => new EC2Client({ endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });


async function waitHttp(url: string, timeoutMs: number, proc?: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    if (proc && proc.exitCode !== null) throw new Error(`moto server exited with code ${proc.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`AWS emulator at ${url} did not answer in ${timeoutMs} ms: ${String(last)}`);
}

export async function startAwsEmulator(env: Record<string, string | undefined> = process.env): Promise<AwsEmulator> {
  const given = env.AWS_ENDPOINT_URL;
  if (given) {
    await waitHttp(given, 10_000);
    return {
      endpoint: given,
      reset: async () => {
        await fetch(`${given}/moto-api/reset`, { method: 'POST' }).catch(() => undefined);
      },
      stop: async () => {},
    };
  }
  const port = await freePort();
  const proc = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' },
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${endpoint}/moto-api/`, 30_000, proc);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${stderr}\n(is moto installed? pip install "moto[server]")`);
  }
  return {
    endpoint,
    reset: async () => {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

/** The worker image EC2 launches name in their user data (emulated instances never pull it). */
export const TEST_WORKER_IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/nightshift-worker-gpu:test';
