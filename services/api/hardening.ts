/**
 * Request guards of the authenticated API, as hooks so that every route of the
 * scope gets them (routes added later included):
 *
 * - dependencies: while Redis is not connected, answer 503 with Retry-After at once
 *   instead of waiting for a command to time out;
 * - a mutating request (POST, PUT, PATCH, DELETE) with a query parameter its route
 *   does not declare is refused (`?dryrun=true` never silently submits real work);
 *   a body sent without a Content-Type is a 415;
 * - `Idempotency-Key` on a POST: a retried request with the same key and the same
 *   request answers the first answer again and creates nothing new.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { NightshiftError } from '../core/errors.ts';

export const RETRY_AFTER_S = 5;

const DOWN = new Set(['reconnecting', 'close', 'end']);

/**
 * onRequest: 503 while the Redis connection is lost (the store would only fail
 * after its retries). A first connection still being made is waited for.
 */
export function dependencyGate(redis: Pick<Redis, 'status'>) {
  return async (): Promise<void> => {
    if (DOWN.has(redis.status)) throw new NightshiftError('unavailable', 'the job store (Redis) is not reachable; try again shortly', { retryable: true });
  };
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** preValidation: unknown query parameters on mutating routes, and bodies without a content type. */
export async function requestShapeGuard(req: FastifyRequest): Promise<void> {
  if (!MUTATING.has(req.method)) return;
  const schema = req.routeOptions.schema as { querystring?: { properties?: Record<string, unknown> }; body?: unknown } | undefined;
  const declared = new Set(Object.keys(schema?.querystring?.properties ?? {}));
  const q = req.url.indexOf('?');
  if (q >= 0) {
    for (const name of new URLSearchParams(req.url.slice(q + 1)).keys()) {
      if (!declared.has(name)) {
        const hint = [...declared].find((d) => d.toLowerCase() === name.toLowerCase());
        // an empty name ("?=x") is still named: as query."" rather than nothing
        const field = name === '' ? 'query.""' : name;
        throw new NightshiftError('validation_failed', `${field}: unknown query parameter${hint ? ` (did you mean ${hint}?)` : ''}; ${req.method} ${req.routeOptions.url} takes ${declared.size ? [...declared].join(', ') : 'none'}`, { field });
      }
    }
  }
  if (schema?.body && !req.headers['content-type']) {
    throw new NightshiftError('unsupported_media_type', 'the request has no Content-Type: send Content-Type: application/json (or text/csv to POST /v1/datasets)');
  }
}

// ---- Idempotency-Key ---------------------------------------------------------------

const KEY = /^[\x21-\x7e]{1,255}$/;
const PENDING_TTL_S = 120;
const DONE_TTL_S = 24 * 3600;
/** answers larger than this are not kept for replay (the key then only guards against parallel duplicates) */
const MAX_STORED_ANSWER = 1024 * 1024;

interface IdemEntry {
  state: 'pending' | 'done';
  fingerprint: string;
  status?: number;
  body?: string;
  contentType?: string;
  location?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey?: string;
  }
}

/**
 * What makes two requests "the same": method, URL and body. A streamed body (a data
 * set upload) is not read before the handler runs; it is represented by its type and
 * declared length.
 */
function fingerprint(req: FastifyRequest): string {
  const h = createHash('sha256').update(`${req.method} ${req.url}\n`);
  const b = req.body as unknown;
  if (Buffer.isBuffer(b)) h.update(b);
  else if (b && typeof (b as { pipe?: unknown }).pipe === 'function') h.update(`stream ${req.headers['content-type'] ?? ''} ${req.headers['content-length'] ?? ''}`);
  else if (b !== undefined) h.update(JSON.stringify(b));
  return h.digest('hex');
}

/**
 * Idempotency-Key on POSTs of this scope. The first request with a key stores
 * "pending"; its 2xx answer replaces that and is replayed (with
 * `Idempotent-Replayed: true`) to every retry for 24 h. A retry while the first is
 * still running is a 409; the same key with a different request is a 422; a failed
 * first attempt (4xx/5xx) is forgotten so the retry runs again.
 */
export function registerIdempotency(app: FastifyInstance, redis: Redis, prefix: string): void {
  const keyOf = (tenant: string, key: string): string => `${prefix}:idempotency:${tenant}:${createHash('sha256').update(key).digest('hex')}`;

  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== 'POST') return;
    const given = req.headers['idempotency-key'];
    if (given === undefined) return;
    if (typeof given !== 'string' || !KEY.test(given)) {
      throw new NightshiftError('validation_failed', 'Idempotency-Key: must be 1..255 visible ASCII characters', { field: 'Idempotency-Key' });
    }
    const key = keyOf(req.principal.tenant, given);
    const fp = fingerprint(req);
    const mine: IdemEntry = { state: 'pending', fingerprint: fp };
    if (await redis.set(key, JSON.stringify(mine), 'EX', PENDING_TTL_S, 'NX')) {
      req.idempotencyKey = key;
      return;
    }
    const raw = await redis.get(key);
    const prev = raw ? (JSON.parse(raw) as IdemEntry) : undefined;
    if (!prev) throw new NightshiftError('conflict', 'Idempotency-Key: a request with this key is being processed; retry shortly', { field: 'Idempotency-Key' });
    if (prev.fingerprint !== fp) {
      throw new NightshiftError('idempotency_mismatch', 'Idempotency-Key: this key was used for a different request; use a new key for new work', { field: 'Idempotency-Key' });
    }
    if (prev.state === 'pending') throw new NightshiftError('conflict', 'Idempotency-Key: a request with this key is being processed; retry shortly', { field: 'Idempotency-Key' });
    reply.code(prev.status ?? 200).header('idempotent-replayed', 'true');
    if (prev.location) reply.header('location', prev.location);
    if (prev.contentType) reply.type(prev.contentType);
    return reply.send(prev.body);
  });

  app.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const key = req.idempotencyKey;
    if (!key) return payload;
    req.idempotencyKey = undefined;
    const ok = reply.statusCode >= 200 && reply.statusCode < 300;
    if (!ok || typeof payload !== 'string' || payload.length > MAX_STORED_ANSWER) {
      // nothing to replay: a retry runs again (a 2xx too large to keep stays pending until it expires)
      if (!ok) await redis.del(key).catch(() => undefined);
      return payload;
    }
    const done: IdemEntry = {
      state: 'done',
      fingerprint: fingerprint(req),
      status: reply.statusCode,
      body: payload,
      contentType: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'),
      ...(reply.getHeader('location') ? { location: String(reply.getHeader('location')) } : {}),
    };
    await redis.set(key, JSON.stringify(done), 'EX', DONE_TTL_S).catch((err: unknown) => req.log.warn({ err }, 'could not store the idempotent answer'));
    return payload;
  });
}

// ---- dependency failures -------------------------------------------------------------

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH']);

/**
 * Whether an error means a dependency (Redis, S3) is unreachable or failing, as
 * opposed to a bug: ioredis connection errors, AWS SDK network errors, timeouts,
 * throttling and 5xx answers.
 */
export function isDependencyFailure(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; cause?: { code?: string } } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (e.code && NETWORK_CODES.has(e.code)) return true;
  if (e.cause?.code && NETWORK_CODES.has(e.cause.code)) return true;
  if (typeof e.message === 'string' && /^(Connection is closed|Stream isn't writeable|Reached the max retries per request limit)/.test(e.message)) return true;
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout' || e.name === 'SlowDown' || e.name === 'ServiceUnavailable' || e.name === 'InternalError') return true;
  const status = e.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 500;
}

// ---- JSON bodies -----------------------------------------------------------------------

/**
 * Parses a JSON body: JSON.parse (which handles any nesting depth), then an
 * iterative walk that refuses "__proto__" and "constructor.prototype" keys (the
 * prototype-poisoning shapes) with a message that says so.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw new NightshiftError('bad_request', 'the body is empty but the content type is application/json');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new NightshiftError('bad_request', `the body is not valid JSON (${(e as Error).message})`);
  }
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (!Array.isArray(v)) {
      if (Object.hasOwn(v, '__proto__')) throw new NightshiftError('bad_request', 'the body is valid JSON but has a "__proto__" key, which is refused');
      const c = (v as Record<string, unknown>).constructor;
      if (Object.hasOwn(v, 'constructor') && typeof c === 'object' && c !== null && Object.hasOwn(c, 'prototype')) {
        throw new NightshiftError('bad_request', 'the body is valid JSON but has a "constructor.prototype" key, which is refused');
      }
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push(child);
  }
  return value;
}
