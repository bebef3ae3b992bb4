/** A job's history, artifacts and live events (Server-Sent Events). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isTerminal, type Job } from '../../core/job.ts';
import type { JobEvent } from '../../platform/store.ts';
import { keys } from '../../core/keys.ts';
import type { Services } from '../app.ts';
import type { StreamCounter } from '../stream-limit.ts';
import { ArtifactParams, ArtifactQuery, HistoryAnswer, JobIdParams, errorResponses } from '../schemas.ts';

export const SSE_HEARTBEAT_MS = 15_000;

export const jobFileRoutes: FastifyPluginAsyncTypebox<{ services: Services; streams: StreamCounter; heartbeatMs?: number }> = async (app, { services, streams, heartbeatMs = SSE_HEARTBEAT_MS }) => {
  const { jobs, files, store } = services;

  app.get('/v1/jobs/:id/history', {
    schema: {
      tags: ['jobs'],
      summary: 'Training history per unit (works while the job runs)',
      params: JobIdParams,
      response: { 200: HistoryAnswer, ...errorResponses(400, 404) },
    },
  }, async (req) => {
    const job = await jobs.visibleJob(req.principal, req.params.id);
    return files.history(job.id);
  });

  app.get('/v1/jobs/:id/artifacts/*', {
    schema: {
      tags: ['jobs'],
      summary: 'Download an artifact of a job',
      description: 'history.json, summary.json, spec.json, model.json, weights.bin, meta.json or units/<unit>/history.json; ?redirect=true answers 302 to a presigned URL.',
      params: ArtifactParams,
      querystring: ArtifactQuery,
      produces: ['application/json', 'application/octet-stream'],
      response: {
        200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'the file' }),
        302: Type.Null({ description: 'redirect to a presigned URL' }),
        ...errorResponses(400, 404),
      },
    },
  }, async (req, reply) => {
    const job = await jobs.visibleJob(req.principal, req.params.id);
    const name = req.params['*'];
    if (name === 'spec.json' && !(await services.artifacts.exists(keys.jobFile(job.id, name)))) {
      // spec.json is written with the job's results (services/platform/aggregate.ts): until then the record holds the same spec
      return reply.type('application/json').header('content-disposition', 'inline; filename="spec.json"').send(Buffer.from(JSON.stringify((await jobs.visibleRecord(req.principal, job.id)).spec)));
    }
    if (req.query.redirect) {
      const url = await files.presign(job.id, name);
      if (url) return reply.redirect(url, 302);
    }
    const { body, contentType } = await files.read(job.id, name);
    const file = name.split('/').pop()!;
    return reply
      .type(contentType)
      .header('content-disposition', `${contentType === 'application/json' ? 'inline' : 'attachment'}; filename="${file}"`)
      .send(body);
  });

  app.get('/v1/jobs/:id/events', {
    schema: {
      tags: ['jobs'],
      summary: 'Live events of a job (Server-Sent Events)',
      description: 'First a "job" event with the current Job, then "status", "progress" and "unit" events; the stream ends when the job reaches a terminal status. A comment line every 15 s keeps the connection open. A tenant may hold NIGHTSHIFT_MAX_EVENT_STREAMS streams open, counted across all API processes (429 beyond).',
      params: JobIdParams,
      produces: ['text/event-stream'],
      response: { 200: Type.String({ description: 'text/event-stream' }), ...errorResponses(400, 404, 429) },
    },
  }, async (req, reply) => {
    const job = await jobs.visibleJob(req.principal, req.params.id);
    let gone = false;
    const onGone = (): void => {
      gone = true;
    };
    req.raw.once('close', onGone);
    const release = await streams.open(req.principal.tenant);
    req.raw.off('close', onGone);
    if (gone) {
      // the client left while the lease was taken
      release();
      return reply.hijack();
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': String(req.id),
    });
    let closed = false;
    let ready = false;
    const early: JobEvent[] = [];
    let unsubscribe: (() => Promise<void>) | undefined;
    let heartbeat: NodeJS.Timeout | undefined;

    const finish = (): void => {
      if (closed) return;
      closed = true;
      release();
      if (heartbeat) clearInterval(heartbeat);
      unsubscribe?.().catch(() => undefined);
      raw.end();
    };
    const write = (event: string, data: unknown): void => {
      if (!closed) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const onEvent = (ev: JobEvent): void => {
      if (!ready) {
        early.push(ev);
        return;
      }
      write(ev.type, ev);
      if (ev.type === 'status' && isTerminal(String(ev.status))) finish();
    };
    req.raw.on('close', finish);

    try {
      // subscribe before reading the job so nothing falls between the two
      unsubscribe = await store.subscribe(job.id, onEvent);
      if (closed) {
        await unsubscribe();
        return;
      }
      const current: Job = (await store.getJob(job.id)) ?? job;
      write('job', current);
      if (isTerminal(current.status)) return finish();
      ready = true;
      for (const ev of early.splice(0)) onEvent(ev);
      heartbeat = setInterval(() => {
        if (!closed) raw.write(': keep-alive\n\n');
      }, heartbeatMs);
      heartbeat.unref();
    } catch (err) {
      req.log.error({ err, jobId: job.id }, 'event stream failed');
      write('error', { code: 'internal', message: 'internal error' });
      finish();
    }
  });
};
