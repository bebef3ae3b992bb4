/** Jobs: submit, list, get, cancel, predict. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { JobSpecSchema, type JobSpec } from '../../core/spec.ts';
import type { Services } from '../app.ts';
import { canSee } from '../auth.ts';
import { NightshiftError } from '../../core/errors.ts';
import { readArchivedJob } from '../../platform/retention.ts';
import {
  DryRunAnswer, ErrorRef, JobAccepted, JobIdParams, JobList, JobRef, ListQuery, PredictAnswer, PredictBody, SubmitQuery, errorResponses,
} from '../schemas.ts';

export const jobRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { jobs, predict, metrics, costs } = services;

  app.post('/v1/jobs', {
    bodyLimit: 8 * 1024 * 1024,
    schema: {
      tags: ['jobs'],
      summary: 'Submit a training job',
      description: 'Validates the JobSpec (schema, limits, cross-field rules and, for uploaded and builtin data sets, the data set), stores the job and queues its training units. With ?dryRun=true only validates, counts the units and estimates the cost (on-demand, and spot at the last spot price paid).',
      querystring: SubmitQuery,
      body: JobSpecSchema,
      response: { 200: DryRunAnswer, 202: JobAccepted, ...errorResponses(400, 413, 415) },
    },
  }, async (req, reply) => {
    const spec = req.body as JobSpec;
    if (req.query.dryRun) {
      const r = await jobs.dryRun(req.principal, spec);
      return reply.code(200).send({ ...r, estimate: await costs.estimate(spec, r.resolved, r.unitsTotal) });
    }
    const job = await jobs.submit(req.principal, spec);
    metrics.jobsSubmitted.inc();
    return reply.code(202).header('location', `/v1/jobs/${job.id}`).send({ id: job.id, status: job.status });
  });

  app.get('/v1/jobs', {
    schema: {
      tags: ['jobs'],
      summary: 'List jobs, newest first',
      description: 'Only the caller\'s jobs (admin keys: every tenant\'s). Pass nextCursor as ?cursor= for the next page.',
      querystring: ListQuery,
      response: { 200: JobList, ...errorResponses(400) },
    },
  }, async (req) => {
    const { status, batch, limit, cursor } = req.query;
    const page = await jobs.list(req.principal, { limit: limit ?? 50, ...(status ? { status } : {}), ...(batch ? { batch } : {}), ...(cursor ? { cursor } : {}) });
    return { ...page, items: await costs.withCosts(page.items) };
  });

  app.get('/v1/jobs/:id', {
    schema: {
      tags: ['jobs'],
      summary: 'Get a job',
      description: 'A job that finished longer ago than NIGHTSHIFT_RETENTION_DAYS answers from its archive copy in S3, with archived: true.',
      params: JobIdParams,
      response: { 200: JobRef, ...errorResponses(400, 404) },
    },
  }, async (req) => {
    const { id } = req.params;
    // the cost is read beside the record (one round trip to Redis, not two) and only
    // returned with a job the caller may see
    const cost = costs.costsOf([id]).catch(() => undefined);
    const job = await jobs.visibleJob(req.principal, id).catch(async (e: unknown) => {
      // not in Redis: retention may have moved it to the archive
      const archived = e instanceof NightshiftError && e.code === 'not_found' ? await readArchivedJob(services.artifacts, id) : undefined;
      if (archived && canSee(req.principal, archived.tenant)) return archived;
      throw e;
    });
    if (job.archived) return job;
    const known = (await cost)?.get(id);
    return known ? { ...job, cost: known } : costs.withCost(job);
  });

  app.delete('/v1/jobs/:id', {
    schema: {
      tags: ['jobs'],
      summary: 'Cancel a job',
      description: 'Queued units are removed; running units stop at their next epoch. A finished job answers 409.',
      params: JobIdParams,
      response: { 200: JobRef, 409: ErrorRef, ...errorResponses(400, 404) },
    },
  }, async (req) => costs.withCost(await jobs.cancel(req.principal, req.params.id)));

  app.post('/v1/jobs/:id/predict', {
    bodyLimit: 64 * 1024 * 1024,
    schema: {
      tags: ['jobs'],
      summary: 'Predict with the final model of a completed job',
      description: 'Needs a job submitted with final.fit: true that has completed (409 model_unavailable otherwise). Each row has one value per feature column. When the prediction threads already have a full queue: 503 predict_busy with Retry-After.',
      params: JobIdParams,
      body: PredictBody,
      response: { 200: PredictAnswer, 409: ErrorRef, ...errorResponses(400, 404, 413, 415, 503) },
    },
  }, async (req) => {
    const job = await jobs.visibleJob(req.principal, req.params.id);
    return predict.predict(job, req.body.rows);
  });
};
