/**
 * `nightshift keys create|list|revoke`: operator commands that manage API keys in
 * Redis directly (REDIS_URL, NIGHTSHIFT_PREFIX), so they work while the API runs and
 * take effect on its next request. Keys are stored as SHA-256 digests; a new key is
 * printed once and cannot be shown again.
 */
import { loadConfig } from '../core/config.ts';
import { NightshiftError } from '../core/errors.ts';
import { createKeyStore } from '../platform/api-keys.ts';
import { connectRedis } from '../platform/redis.ts';
import type { Io } from './commands.ts';
import { UsageError } from './format.ts';

type Env = Record<string, string | undefined>;

async function withKeyStore<T>(env: Env, f: (ks: ReturnType<typeof createKeyStore>) => Promise<T>): Promise<T> {
  const config = loadConfig(env);
  const redis = connectRedis(config.redisUrl, { name: 'nightshift-cli-keys' });
  try {
    return await f(createKeyStore(redis, config.prefix));
  } finally {
    redis.disconnect();
  }
}

export function createKeyCommands(io: Io, env: Env) {
  return {
    async create(tenant: string, o: { json?: boolean }): Promise<number> {
      try {
        const { key, record } = await withKeyStore(env, (ks) => ks.create(tenant));
        if (o.json) io.out(JSON.stringify({ ...record, key }));
        else {
          io.out(key);
          io.err(`key ${record.id} for tenant ${record.tenant}: shown once, store it now (revoke with: nightshift keys revoke ${record.id})`);
        }
        return 0;
      } catch (e) {
        if (e instanceof NightshiftError) throw new UsageError(e.message);
        throw e;
      }
    },

    async list(o: { json?: boolean }): Promise<number> {
      const keys = await withKeyStore(env, (ks) => ks.list());
      if (o.json) io.out(JSON.stringify(keys));
      else if (keys.length === 0) io.out('no keys in Redis (keys from NIGHTSHIFT_API_KEYS are not listed)');
      else for (const k of keys) io.out(`${k.id}  ${k.tenant}  ${k.hint}…  ${k.createdAt}`);
      return 0;
    },

    async revoke(id: string): Promise<number> {
      const ok = await withKeyStore(env, (ks) => ks.revoke(id));
      if (!ok) {
        io.err(`error: no key ${id} (keys from NIGHTSHIFT_API_KEYS are revoked by removing them there and restarting)`);
        return 1;
      }
      io.out(`revoked ${id}`);
      return 0;
    },
  };
}
