/**
 * The one place errors become HTTP answers: `{ error: { code, message, field? } }`.
 * NightshiftErrors carry their own status; Fastify's validation, parser and limit
 * errors are translated to stable codes; anything else is logged and answered as
 * a bare 500 "internal error" so no internals leak.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { isNightshiftError, type ErrorCode } from '../core/errors.ts';
import { isDependencyFailure, RETRY_AFTER_S } from './hardening.ts';
import { validationMessage } from './validation.ts';

export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'stable machine-readable code, e.g. validation_failed' }),
    message: Type.String({ description: 'names the field at fault when there is one' }),
    field: Type.Optional(Type.String()),
  }),
}, { $id: 'Error', description: 'error' });

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

const body = (code: ErrorCode | string, message: string, field?: string): ErrorBody => ({
  error: field ? { code, message, field } : { code, message },
});

const FASTIFY_CODES: Record<string, { status: number; code: ErrorCode; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'bad_request', message: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'bad_request', message: 'the body is empty but the content type is application/json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_request' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
};

/** Status and body for any thrown value; `log` is true when it is our fault. */
export function toHttpError(err: unknown, contentType?: string): { status: number; body: ErrorBody; log: boolean } {
  if (isNightshiftError(err)) {
    // our own messages are written for callers, even on 5xx
    return { status: err.status, body: body(err.code, err.message, err.field), log: err.status >= 500 };
  }
  const fe = err as FastifyError & { validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    const { field, message } = validationMessage(fe.validation as never, fe.validationContext ?? 'body');
    return { status: 400, body: body('validation_failed', message, field), log: false };
  }
  const known = fe?.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) {
    let message = known.message ?? fe.message;
    if (known.code === 'payload_too_large') message = 'the body is larger than this route accepts';
    if (known.code === 'unsupported_media_type') message = `unsupported content type ${JSON.stringify(contentType ?? '')}: send JSON (application/json), or CSV (text/csv) to POST /v1/datasets`;
    return { status: known.status, body: body(known.code, message), log: false };
  }
  if (err instanceof SyntaxError && (fe as { statusCode?: number }).statusCode === 400) {
    if (/prototype property/.test(err.message)) {
      return { status: 400, body: body('bad_request', 'the body is valid JSON but has a "__proto__" or "constructor.prototype" key, which is refused'), log: false };
    }
    return { status: 400, body: body('bad_request', 'the body is not valid JSON'), log: false };
  }
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code: ErrorCode = status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status === 429 ? 'rate_limited' : 'bad_request';
    return { status, body: body(code, fe.message || code), log: false };
  }
  if (isDependencyFailure(err)) {
    return { status: 503, body: body('unavailable', 'a service nightshift depends on (Redis or the artifact store) is not answering; try again shortly'), log: true };
  }
  return { status: 500, body: body('internal', 'internal error'), log: true };
}

/**
 * Errors the router raises before any route runs (a path parameter over the length
 * limit, a malformed percent-encoding): Fastify's `frameworkErrors` option. Same
 * envelope as everything else.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = req.url.split('?')[0];
  const [status, message] = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
    ? [414, `path: a part of ${JSON.stringify(path.slice(0, 200))} is longer than any id or artifact name`]
    : err.code === 'FST_ERR_BAD_URL'
      ? [400, `path: ${JSON.stringify(path.slice(0, 200))} is not a valid URL (bad percent-encoding)`]
      : [400, `path: ${err.message}`];
  void reply.code(status).type('application/json; charset=utf-8').send(body('bad_request', message, 'path'));
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body: payload, log } = toHttpError(err, req.headers['content-type']);
    if (log) req.log.error({ err }, 'request failed');
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="nightshift"');
    if ((status === 503 || payload.error.code === 'rate_limited') && !reply.hasHeader('retry-after')) reply.header('retry-after', String(RETRY_AFTER_S));
    return reply.code(status).type('application/json; charset=utf-8').send(payload);
  });
  app.setNotFoundHandler((req, reply) => {
    return reply.code(404).send(body('not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
}
