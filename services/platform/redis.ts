/** Redis connections. BullMQ workers need maxRetriesPerRequest: null. */
import { Redis } from 'ioredis';

/**
 * Delay before reconnection attempt `attempt` (1, 2, ...): exponential from 100 ms,
 * capped at 5 s, with up to 20% jitter so that many workers do not reconnect in step.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(5_000, 100 * 2 ** Math.max(0, Math.min(attempt - 1, 16)));
  return Math.round(base * (0.8 + 0.2 * random()));
}

/** Every connection reconnects for ever with reconnectDelayMs backoff (API, provisioner and workers alike). */
export function connectRedis(url: string | undefined, opts: { forBullWorker?: boolean; name?: string } = {}): Redis {
  const r = new Redis(url ?? 'redis://127.0.0.1:6379', {
    retryStrategy: (times) => reconnectDelayMs(times),
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
