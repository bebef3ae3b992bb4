/** Redis connections. BullMQ workers need maxRetriesPerRequest: null. */
import { Redis } from 'ioredis';

export function connectRedis(url: string | undefined, opts: { forBullWorker?: boolean; name?: string } = {}): Redis {
  const r = new Redis(url ?? 'redis://127.0.0.1:6379', {
    maxRetriesPerRequest: opts.forBullWorker ? null : 3,
    enableReadyCheck: true,
    lazyConnect: false,
    connectionName: opts.name,
  });
  // errors are reported by the callers' health checks; an unhandled 'error' event would crash
  r.on('error', () => {});
  return r;
}

export async function pingRedis(url: string | undefined, timeoutMs = 1_000): Promise<boolean> {
  const r = new Redis(url ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export type { Redis };
