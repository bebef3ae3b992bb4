/**
 * API keys kept in Redis, stored by their SHA-256 digest only: the key itself is
 * shown once, when it is created, and never stored or logged. `nightshift keys
 * create|list|revoke` writes here; the API reads here on every request whose key
 * is not one of the configured (environment) keys, so a created or revoked key
 * takes effect without a restart.
 *
 * Layout: <prefix>:api-keys (hash: sha256 hex -> JSON record),
 *         <prefix>:api-key-ids (hash: key id -> sha256 hex).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RESERVED_TENANTS } from '../core/config.ts';
import { NightshiftError } from '../core/errors.ts';

export interface StoredKey {
  id: string;
  tenant: string;
  createdAt: string;
  /** first characters of the key, to recognise it in a list */
  hint: string;
}

export const keyDigest = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

const TENANT = /^[A-Za-z0-9_.-]{1,64}$/;

export function createKeyStore(redis: Redis, prefix: string) {
  const byDigest = `${prefix}:api-keys`;
  const byId = `${prefix}:api-key-ids`;
  return {
    /** Makes a new key for a tenant; answers the key (the only time it is seen) and its record. */
    async create(tenant: string, now = new Date()): Promise<{ key: string; record: StoredKey }> {
      if (!TENANT.test(tenant)) throw new NightshiftError('validation_failed', `tenant: "${tenant}" may use letters, digits, _ . - (at most 64)`, { field: 'tenant' });
      if (RESERVED_TENANTS.has(tenant.toLowerCase())) throw new NightshiftError('validation_failed', `tenant: "${tenant}" is a reserved name`, { field: 'tenant' });
      const key = `ns_${randomBytes(24).toString('base64url')}`;
      const record: StoredKey = { id: `key_${randomBytes(6).toString('hex')}`, tenant, createdAt: now.toISOString(), hint: key.slice(0, 7) };
      const digest = keyDigest(key);
      await redis.multi().hset(byDigest, digest, JSON.stringify(record)).hset(byId, record.id, digest).exec();
      return { key, record };
    },

    /** The tenant of a key, when the key is stored here. */
    async lookup(key: string): Promise<StoredKey | undefined> {
      const v = await redis.hget(byDigest, keyDigest(key));
      return v ? (JSON.parse(v) as StoredKey) : undefined;
    },

    async list(): Promise<StoredKey[]> {
      return Object.values(await redis.hgetall(byDigest)).map((v) => JSON.parse(v) as StoredKey).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },

    /** Revokes a key by its id; answers whether it existed. */
    async revoke(id: string): Promise<boolean> {
      const digest = await redis.hget(byId, id);
      if (!digest) return false;
      await redis.multi().hdel(byDigest, digest).hdel(byId, id).exec();
      return true;
    },
  };
}

export type KeyStore = ReturnType<typeof createKeyStore>;
