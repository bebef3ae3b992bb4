/** Batches: submit a sweep, list, get (with the leaderboard), report, cancel, retry the failed jobs. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BATCH_STATUSES } from '../../core/batch.ts';
import { BatchSpecSchema, type BatchSpec } from '../../core/batch-spec.ts';
import type { BatchService } from '../services/batches.ts';
import { ErrorRef, errorResponses } from '../schemas.ts';

const BatchParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'batch id' }) });
const BatchAnswer = Type.Object({}, { additionalProperties: true, description: 'Batch: {id, name, status, counts, progress, costUsd, notBefore?, deadline?, window?, atRisk, projection?, metric, leaderboard: [...]}' });
const BatchAccepted = Type.Object({
  id: Type.String(),
  jobIds: Type.Array(Type.String()),
  status: Type.String(),
  unitsTotal: Type.Integer(),
  notBefore: Type.Optional(Type.String()),
  deadline: Type.Optional(Type.String()),
});
const BatchListQuery = Type.Object({
  status: Type.Optional(Type.Union(BATCH_STATUSES.map((s) => Type.Literal(s)))),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'nextCursor of the previous page' })),
  rows: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, description: 'at most this many leaderboard rows per batch, best first (default: every row)' })),
});
const SubmitQuery = Type.Object({ dryRun: Type.Optional(Type.Boolean({ default: false, description: 'only expand and check: answers the jobs, their units and the schedule' })) });
const DryRunAnswer = Type.Object({
  valid: Type.Literal(true),
  unitsTotal: Type.Integer(),
  jobs: Type.Array(Type.Object({ name: Type.String(), params: Type.Object({}, { additionalProperties: true }), units: Type.Integer() })),
  notBefore: Type.Optional(Type.String()),
  deadline: Type.Optional(Type.String()),
});
const ReportQuery = Type.Object({ format: Type.Optional(Type.Union([Type.Literal('md'), Type.Literal('csv')], { default: 'md' })) });

export const batchRoutes: FastifyPluginAsyncTypebox<{ batches: BatchService }> = async (app, { batches }) => {
  app.post('/v1/batches', {
    bodyLimit: 16 * 1024 * 1024,
    schema: {
      tags: ['batches'],
      summary: 'Submit a batch (a sweep of jobs)',
      description: 'Expands base + grid / random / jobs into JobSpecs, checks every one (a bad one rejects the whole batch, naming its path), stores and queues them. With a schedule the jobs wait as "scheduled" until notBefore or the window opens; at the deadline units not started are cancelled (deadline_missed).',
      querystring: SubmitQuery,
      body: BatchSpecSchema,
      response: { 200: DryRunAnswer, 201: BatchAccepted, ...errorResponses(400, 413, 415) },
    },
  }, async (req, reply) => {
    if (req.query.dryRun) return reply.code(200).send(await batches.dryRun(req.principal, req.body as BatchSpec));
    const out = await batches.submit(req.principal, req.body as BatchSpec);
    return reply.code(201).header('location', `/v1/batches/${out.id}`).send(out);
  });

  app.get('/v1/batches', {
    schema: {
      tags: ['batches'],
      summary: 'List batches, newest first',
      description: 'Only the caller\'s batches (admin keys: every tenant\'s). Pass nextCursor as ?cursor= for the next page.',
      querystring: BatchListQuery,
      response: { 200: Type.Object({ items: Type.Array(BatchAnswer), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400) },
    },
  }, async (req) => {
    const { status, limit, cursor, rows } = req.query;
    return batches.list(req.principal, { limit: limit ?? 20, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}), ...(rows !== undefined ? { rows } : {}) });
  });

  app.get('/v1/batches/:id', {
    schema: { tags: ['batches'], summary: 'Get a batch with its leaderboard', description: 'costUsd and each row\'s costUsd count the instances still running up to now; while the batch runs they are read at most every 5 s, so they may be up to 5 s old.', params: BatchParams, response: { 200: BatchAnswer, ...errorResponses(400, 404) } },
  }, async (req) => batches.get(req.principal, req.params.id));

  app.get('/v1/batches/:id/report', {
    schema: {
      tags: ['batches'],
      summary: 'The morning report (Markdown, or CSV with ?format=csv)',
      description: 'The leaderboard with significance marks, cost and duration per job. The Markdown report is also stored as batches/<id>/report.md.',
      params: BatchParams,
      querystring: ReportQuery,
      produces: ['text/markdown', 'text/csv'],
      response: { 200: Type.String(), ...errorResponses(400, 404) },
    },
  }, async (req, reply) => {
    const format = req.query.format ?? 'md';
    const body = await batches.report(req.principal, req.params.id, format);
    return reply
      .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'text/markdown; charset=utf-8')
      .header('content-disposition', `inline; filename="${req.params.id}.${format}"`)
      .send(body);
  });

  app.delete('/v1/batches/:id', {
    schema: {
      tags: ['batches'],
      summary: 'Cancel a batch',
      description: 'Cancels every job of the batch that has not ended: queued and scheduled units are removed, running ones stop within a second. A batch that has ended answers 409.',
      params: BatchParams,
      response: { 200: BatchAnswer, 409: ErrorRef, ...errorResponses(400, 404) },
    },
  }, async (req) => batches.cancel(req.principal, req.params.id));

  app.post('/v1/batches/:id/retry-failed', {
    schema: {
      tags: ['batches'],
      summary: 'Queue the failed jobs of a batch again',
      description: 'Each failed, deadline_missed or budget_exhausted job is submitted again as a new job of the batch (it takes the old one\'s place in the leaderboard). 409 once the batch deadline has passed.',
      params: BatchParams,
      response: { 200: Type.Object({ id: Type.String(), retried: Type.Array(Type.Object({ from: Type.String(), to: Type.String() })) }), 409: ErrorRef, ...errorResponses(400, 404) },
    },
  }, async (req) => batches.retryFailed(req.principal, req.params.id));
};
