/**
 * The real local stack for end-to-end tests: startStack() with a temp data dir,
 * a unique Redis prefix, the embedded S3 server and the local compute provider
 * (worker processes running the real trainer). Talks HTTP like a user.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startStack, type Stack } from '../../services/local/stack.ts';
import { TEST_REDIS_URL, cleanupPrefix, uniquePrefix } from '../../support/redis.ts';

export interface E2EStack extends Stack {
  prefix: string;
  key: string;
  call<T = any>(method: string, p: string, body?: unknown, contentType?: string): Promise<{ status: number; body: T }>;
  waitFor<T = any>(id: string, done: (job: any) => boolean, timeoutMs?: number): Promise<T>;
}

/**
 * `reuse` starts the stack again on the Redis prefix and data dir of an earlier one
 * (a restart); closing a stack started with `keep: true` leaves them for it.
 */
export async function startE2EStack(
  label: string,
  env: Record<string, string> = {},
  opts: { reuse?: { prefix: string; dataDir: string }; keep?: boolean } = {},
): Promise<E2EStack & { dataDir: string }> {
  const prefix = opts.reuse?.prefix ?? uniquePrefix(label);
  const dataDir = opts.reuse?.dataDir ?? mkdtempSync(path.join(tmpdir(), `ns-${label}-`));
  const key = `e2e-${label}-key-0123456789`;
  const stack = await startStack({
    env: {
      ...process.env,
      REDIS_URL: TEST_REDIS_URL,
      NIGHTSHIFT_PREFIX: prefix,
      NIGHTSHIFT_DATA_DIR: dataDir,
      NIGHTSHIFT_API_KEYS: `e2e:${key}`,
      NIGHTSHIFT_ADMIN_KEYS: `${key}-admin`,
      NIGHTSHIFT_MAX_INSTANCES: '2',
      NIGHTSHIFT_IDLE_TIMEOUT_S: '20',
      NIGHTSHIFT_RECONCILE_MS: '500',
      NIGHTSHIFT_UNIT_LOCK_MS: '4000',
      AWS_ENDPOINT_URL: '',
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      LOG_LEVEL: 'warn',
      ...env,
    },
    port: 0,
    banner: false,
    logger: pino({ level: 'warn' }),
  });
  const call = async (method: string, p: string, body?: unknown, contentType = 'application/json') => {
    const r = await fetch(`${stack.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? (body as string) : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: r.status, body: parsed as any };
  };
  const waitFor = async (id: string, done: (job: any) => boolean, timeoutMs = 120_000) => {
    const end = Date.now() + timeoutMs;
    let last: any;
    while (Date.now() < end) {
      last = (await call('GET', `/v1/jobs/${id}`)).body;
      if (done(last)) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`job ${id} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
  };
  return {
    ...stack,
    prefix,
    dataDir,
    key,
    call,
    waitFor,
    async close() {
      await stack.close();
      if (opts.keep) return;
      await cleanupPrefix(prefix);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const TERMINAL = ['completed', 'failed', 'cancelled', 'budget_exhausted', 'deadline_missed'];
export const isDone = (j: any): boolean => TERMINAL.includes(j?.status);

/** Pids of the trainer child processes of one stack's workers (other test files may run workers at the same time). */
export function trainerPids(prefix: string): number[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-f', 'workers/trainer/runtime/child-main.ts'], { encoding: 'utf8' });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  const ours = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`NIGHTSHIFT_PREFIX=${prefix}`);
    } catch {
      return false;
    }
  };
  return out.trim().split('\n').map(Number).filter((p) => p > 0 && ours(p));
}
