/** Data sets: CSV uploads (raw body) and their records. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Readable } from 'node:stream';
import { NightshiftError, notFound } from '../../core/errors.ts';
import type { Services } from '../app.ts';
import { datasetView } from '../services/datasets.ts';
import { DatasetCreated, DatasetParams, DatasetQuery, ErrorRef, errorResponses } from '../schemas.ts';

const isStream = (b: unknown): b is Readable => typeof (b as Readable | undefined)?.pipe === 'function' && typeof (b as Readable)[Symbol.asyncIterator] === 'function';

export const datasetRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { datasets } = services;

  // this scope takes CSV bytes only: a JSON body here is a 415, not a parsed object.
  // The body is not read here: the handler streams it to the artifact store and the
  // summary thread (a declared length over the limit is refused before any byte is read).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['text/csv', 'application/octet-stream'], (req, payload, done) => {
    const declared = Number(req.headers['content-length']);
    if (declared > datasets.maxUploadBytes) {
      done(new NightshiftError('payload_too_large', `body: a data set may have at most ${datasets.maxUploadBytes} bytes (Content-Length says ${declared})`, { field: 'body' }), undefined);
      return;
    }
    done(null, payload);
  });

  app.post('/v1/datasets', {
    schema: {
      tags: ['datasets'],
      summary: 'Upload a CSV data set',
      description: 'The CSV file is the raw request body (Content-Type: text/csv), streamed to the artifact store as it arrives. Rows are counted without the header row (?header=true). Answers the URI to use as JobSpec dataset.uri.',
      consumes: ['text/csv', 'application/octet-stream'],
      querystring: DatasetQuery,
      body: Type.String({ format: 'binary', description: 'the CSV file' }),
      response: { 201: DatasetCreated, ...errorResponses(400, 413, 415, 429) },
    },
  }, async (req, reply) => {
    const raw: unknown = req.body;
    const body: AsyncIterable<Uint8Array> = isStream(raw) ? raw : Readable.from([]);
    const rec = await datasets.upload(req.principal.tenant, body, { header: req.query.header ?? false, ...(req.query.name ? { name: req.query.name } : {}) });
    return reply.code(201).header('location', `/v1/datasets/${rec.id}`).send(datasetView(rec));
  });

  app.get('/v1/datasets/:id', {
    schema: {
      tags: ['datasets'],
      summary: 'Get an uploaded data set\'s record',
      params: DatasetParams,
      response: { 200: DatasetCreated, ...errorResponses(400, 404) },
    },
  }, async (req) => {
    const rec = await datasets.get(req.principal.tenant, req.params.id);
    if (!rec) throw notFound('data set', req.params.id);
    return datasetView(rec);
  });
};

export const datasetDeleteRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.delete('/v1/datasets/:id', {
    schema: {
      tags: ['datasets'],
      summary: 'Delete an uploaded data set',
      description: 'Removes the record and, when no other upload of the tenant has the same content, the file. Refused (409) while a queued or running job trains on it.',
      params: DatasetParams,
      response: { 200: DatasetCreated, 409: ErrorRef, ...errorResponses(400, 404) },
    },
  }, async (req) => datasetView(await services.datasets.remove(req.principal.tenant, req.params.id)));
};
