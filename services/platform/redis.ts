/**
 * Redis connections. BullMQ workers need maxRetriesPerRequest: null. With
 * `cluster: true` the URL names any node of a Redis Cluster (ElastiCache cluster
 * mode) and the cluster client follows the slots; the key prefix is then a hash tag
 * ({nightshift}) so the keys one script touches share a slot.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/**
 * Delay before reconnection attempt `attempt` (1, 2, ...): exponential from 100 ms,
 * capped at 5 s, with up to 20% jitter so that many workers do not reconnect in step.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(5_000, 100 * 2 ** Math.max(0, Math.min(attempt - 1, 16)));
  return Math.round(base * (0.8 + 0.2 * random()));
}

/**
 * Every connection reconnects for ever with reconnectDelayMs backoff (API, provisioner and workers alike).
 * `autoPipeline`: the commands issued in one tick of the event loop go out in one write
 * (ioredis enableAutoPipelining); for connections many concurrent requests share (the
 * API's), never for blocking commands (BullMQ workers).
 */
export function connectRedis(url: string | undefined, opts: { forBullWorker?: boolean; name?: string; cluster?: boolean; autoPipeline?: boolean } = {}): Redis {
  const options: RedisOptions = {
    retryStrategy: (times) => reconnectDelayMs(times),
    maxRetriesPerRequest: opts.forBullWorker ? null : 3,
    enableReadyCheck: true,
    lazyConnect: false,
    connectionName: opts.name,
    ...(opts.autoPipeline ? { enableAutoPipelining: true } : {}),
  };
  let r: Redis;
  if (opts.cluster) {
    const u = new URL(url ?? 'redis://127.0.0.1:6379');
    const node = { host: u.hostname, port: Number(u.port || 6379) };
    const auth = { ...(u.username ? { username: decodeURIComponent(u.username) } : {}), ...(u.password ? { password: decodeURIComponent(u.password) } : {}) };
    const cluster = new Cluster([node], {
      redisOptions: { ...options, ...auth, ...(u.protocol === 'rediss:' ? { tls: {} } : {}) },
      enableReadyCheck: true,
      lazyConnect: false,
      ...(opts.autoPipeline ? { enableAutoPipelining: true } : {}),
      // ElastiCache with TLS answers with hostnames that must keep the TLS settings
      ...(u.protocol === 'rediss:' ? { dnsLookup: (address: string, cb: (err: Error | null, address: string) => void) => cb(null, address) } : {}),
    });
    // the rest of the code speaks the commands both clients share
    r = cluster as unknown as Redis;
  } else {
    r = new Redis(url ?? 'redis://127.0.0.1:6379', options);
  }
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
