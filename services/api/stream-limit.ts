/**
 * Open event streams per tenant, counted across every API process sharing the
 * Redis: each stream holds a lease, a member of the tenant's sorted set scored by
 * its expiry (Redis server time, so the processes' clocks do not matter). A process
 * renews its streams' leases every leaseMs / 3 and removes them when they close; the
 * streams of a process that dies stop being renewed and stop counting after leaseMs.
 * Opening is one script: drop expired leases, count, add when under the limit.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { NightshiftError } from '../core/errors.ts';

export const STREAM_LEASE_MS = 30_000;

/** KEYS[1] the tenant's set; ARGV: limit, lease ms, member. Answers -1 when added, else the count that refused it. */
const OPEN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[1]) then return n end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
`;

/** KEYS[1] the tenant's set; ARGV: lease ms, members. Renews the members still present. */
const RENEW = `
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
`;

export interface StreamCounter {
  /** takes a lease for a new stream of the tenant (429 quota_exceeded over the limit); the answer releases it */
  open(tenant: string): Promise<() => void>;
  /** open streams of the tenant, on every process (expired leases not counted) */
  count(tenant: string): Promise<number>;
  /** stops renewing and releases this process's leases */
  close(): Promise<void>;
}

export function createStreamCounter(redis: Redis, prefix: string, max: number, opts: { leaseMs?: number } = {}): StreamCounter {
  const leaseMs = opts.leaseMs ?? STREAM_LEASE_MS;
  const keyOf = (tenant: string): string => `${prefix}:event-streams:${tenant}`;
  const processId = randomUUID();
  let seq = 0;
  /** tenant -> members held by this process */
  const held = new Map<string, Set<string>>();

  const renew = async (): Promise<void> => {
    for (const [tenant, members] of held) {
      if (members.size) await redis.eval(RENEW, 1, keyOf(tenant), leaseMs, ...members).catch(() => undefined);
    }
  };
  const timer = setInterval(() => void renew(), Math.max(10, Math.floor(leaseMs / 3)));
  timer.unref();

  const release = (tenant: string, member: string): void => {
    const members = held.get(tenant);
    if (!members?.delete(member)) return;
    if (!members.size) held.delete(tenant);
    // when Redis does not answer, the lease expires on its own
    redis.zrem(keyOf(tenant), member).catch(() => undefined);
  };

  return {
    async open(tenant) {
      const member = `${processId}:${++seq}`;
      const refused = Number(await redis.eval(OPEN, 1, keyOf(tenant), max, leaseMs, member));
      if (refused >= 0) {
        throw new NightshiftError('quota_exceeded', `this tenant already has ${refused} event streams open (limit ${max}, NIGHTSHIFT_MAX_EVENT_STREAMS, counted across API processes); close one or poll GET /v1/jobs/:id`);
      }
      let members = held.get(tenant);
      if (!members) held.set(tenant, (members = new Set()));
      members.add(member);
      return () => release(tenant, member);
    },
    async count(tenant) {
      const t = await redis.time();
      return redis.zcount(keyOf(tenant), `(${Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000)}`, '+inf');
    },
    async close() {
      clearInterval(timer);
      for (const [tenant, members] of [...held]) for (const m of [...members]) release(tenant, m);
    },
  };
}
