/**
 * Bearer-key authentication. Keys map to tenants (config.apiKeys); admin keys act
 * as tenant "admin" and see everything. Keys are compared by their SHA-256 digests
 * with timingSafeEqual, against every configured key, so timing says nothing about
 * how much of a key matched or which one. Keys created with `nightshift keys create`
 * live in Redis as digests only (services/platform/api-keys.ts) and are looked up
 * by digest, so creating or revoking one needs no restart.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../core/config.ts';
import { NightshiftError } from '../core/errors.ts';

export interface Principal {
  tenant: string;
  admin: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export const ADMIN_TENANT = 'admin';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Keys stored in Redis (nightshift keys create); looked up by digest when a key is not a configured one. */
export type StoredKeyLookup = (key: string) => Promise<{ tenant: string } | undefined>;

export function createAuthenticator(config: Pick<Config, 'apiKeys' | 'adminKeys'>, stored?: StoredKeyLookup): (header: string | undefined) => Promise<Principal> {
  const entries: Array<{ digest: Buffer; principal: Principal }> = [
    ...[...config.apiKeys].map(([key, tenant]) => ({ digest: digest(key), principal: { tenant, admin: false } })),
    ...[...config.adminKeys].map((key) => ({ digest: digest(key), principal: { tenant: ADMIN_TENANT, admin: true } })),
  ];
  return async (header) => {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new NightshiftError('unauthorized', 'missing API key: send Authorization: Bearer <key>');
    const given = digest(m[1]);
    let found: Principal | undefined;
    for (const e of entries) {
      // no early exit: every key is compared
      if (timingSafeEqual(e.digest, given) && !found) found = e.principal;
    }
    if (!found && stored && m[1].length <= 256) {
      const rec = await stored(m[1]);
      if (rec && rec.tenant !== ADMIN_TENANT) found = { tenant: rec.tenant, admin: false };
    }
    if (!found) throw new NightshiftError('unauthorized', 'invalid API key');
    return found;
  };
}

/** onRequest hook for the authenticated routes. */
export function authHook(config: Pick<Config, 'apiKeys' | 'adminKeys'>, stored?: StoredKeyLookup) {
  const authenticate = createAuthenticator(config, stored);
  return async (req: FastifyRequest): Promise<void> => {
    req.principal = await authenticate(req.headers.authorization);
  };
}

/** Whether the caller may see something owned by `tenant`. */
export const canSee = (p: Principal, tenant: string): boolean => p.admin || p.tenant === tenant;
