/**
 * Data sets: uploaded CSV files, stored content-addressed per tenant
 * (datasets/<tenant>/<sha256>.csv) with a record in Redis and a copy of the record
 * next to the file. Also answers "what does this dataset URI look like" for job
 * submission: uploaded sets from their summary, builtin generators from their
 * parameters; s3:// objects only where the data-source policy lets the tenant read
 * them (core/data-sources.ts), and then only checked to exist: the worker reads them.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { DatasetView } from '../../core/views.ts';
import type { ArtifactStore } from '../../core/artifacts.ts';
import { NightshiftError, notFound } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { keys } from '../../core/keys.ts';
import { LIMITS } from '../../core/spec.ts';
import { s3SourceFor, s3SourceNotFound, type DataSourcePolicy } from '../../core/data-sources.ts';
import type { DatasetSummary } from '../../core/dataset-summary.ts';
import type { DatasetRecord, Store } from '../../platform/store.ts';
import { builtinSummary } from './builtin.ts';
import { createSummarizer, type Summarizer } from './summarize.ts';

export interface DatasetServiceDeps {
  store: Store;
  artifacts: ArtifactStore;
  /** which s3:// objects each tenant may train on */
  dataSources: DataSourcePolicy;
  now?: () => Date;
  /** bytes of uploads a tenant may store */
  maxStoredBytes?: number;
  /** parses and summarizes a CSV upload (default: in a worker thread) */
  summarize?: Summarizer;
  /** the largest upload in bytes (default LIMITS.datasetBytes); larger ones are a 413 */
  maxUploadBytes?: number;
}

export const datasetView = (d: DatasetRecord): DatasetView => ({
  id: d.id,
  uri: d.uri,
  ...(d.name ? { name: d.name } : {}),
  rows: d.rows,
  columns: d.columns,
  bytes: d.bytes,
  sha256: d.sha256,
  header: d.header,
  createdAt: d.createdAt,
});

const DATASET_URI = /^dataset:([A-Za-z0-9_.-]{1,128})$/;

const ACTIVE = ['queued', 'scheduled', 'running'];

/** uploads up to this size are held until their end and stored once, without a temporary object */
const SMALL_UPLOAD = 256 * 1024;

export function createDatasetService({ store, artifacts, dataSources, now = () => new Date(), maxStoredBytes = Number.MAX_SAFE_INTEGER, summarize = createSummarizer(), maxUploadBytes = LIMITS.datasetBytes }: DatasetServiceDeps) {
  return {
    maxUploadBytes,

    /**
     * Stores an upload as it streams in: the bytes go to a temporary object
     * (datasets/<tenant>/.incoming/<uuid>, multipart) and to the summary thread
     * (which also hashes them) at the same pace, so the file is never held whole.
     * At the end the temporary object is copied to its content address (once per
     * tenant and content; the stored-bytes quota is checked then), and the record
     * written. An upload of at most SMALL_UPLOAD bytes is held and stored once at
     * its content address instead. Every failure (the client going away, the size limit, a CSV error,
     * S3 or Redis failing) removes what was written, temporary object included,
     * and nothing is answered that was not stored.
     */
    async upload(tenant: string, body: AsyncIterable<Uint8Array>, opts: { name?: string; header: boolean }): Promise<DatasetRecord> {
      const session = await summarize(opts.header);
      const incoming = keys.datasetIncoming(tenant, randomUUID());
      const undo: Array<() => Promise<unknown>> = [];
      // a small upload is held until its end and stored once at its content address;
      // a larger one streams to the temporary key from the moment it passes SMALL_UPLOAD
      let held: Uint8Array[] = [];
      let toS3: PassThrough | undefined;
      let stored: Promise<void> | undefined;
      const startStreaming = (): void => {
        toS3 = new PassThrough({ highWaterMark: 1024 * 1024 });
        stored = artifacts.putStream(incoming, toS3, 'text/csv');
        stored.catch(() => undefined); // awaited below; a failure while reading is seen there too
        undo.push(() => artifacts.deletePrefix(incoming));
        for (const c of held) toS3.write(c);
        held = [];
      };
      let bytes = 0;
      try {
        const source = body[Symbol.asyncIterator]();
        for (;;) {
          let next: IteratorResult<Uint8Array>;
          try {
            next = await source.next();
          } catch (e) {
            throw new NightshiftError('bad_request', `body: the upload ended before the whole body arrived (${(e as Error).message}); nothing was stored`, { field: 'body' });
          }
          if (next.done) break;
          const chunk = next.value;
          bytes += chunk.length;
          if (bytes > maxUploadBytes) {
            throw new NightshiftError('payload_too_large', `body: a data set may have at most ${maxUploadBytes} bytes; nothing was stored`, { field: 'body' });
          }
          await session.write(chunk); // rejects at once on a CSV error
          if (!toS3 && bytes <= SMALL_UPLOAD) {
            held.push(chunk);
            continue;
          }
          if (!toS3) startStreaming();
          if (!toS3!.write(chunk)) await Promise.race([once(toS3!, 'drain'), stored]);
        }
        if (bytes === 0) throw new NightshiftError('dataset_invalid', 'line 1: the body is empty; send the CSV file as the request body');
        if (toS3) {
          toS3.end();
          await stored;
        }
        // ragged_csv / dataset_invalid errors name the line
        const { summary, sha256 } = await session.end();
        const id = newId('ds');
        const key = keys.dataset(tenant, sha256);
        if (!(await artifacts.exists(key))) {
          const had = await store.storedBytes(tenant);
          if (had + bytes > maxStoredBytes) {
            throw new NightshiftError('quota_exceeded', `this upload (${bytes} bytes) would take the tenant's stored data sets to ${had + bytes} bytes, over the limit of ${maxStoredBytes} (NIGHTSHIFT_MAX_STORED_BYTES); delete data sets with DELETE /v1/datasets/:id`);
          }
          undo.push(() => artifacts.deletePrefix(key));
          if (toS3) await artifacts.copy(incoming, key);
          else await artifacts.put(key, Buffer.concat(held), 'text/csv');
          await store.addStoredBytes(tenant, bytes);
          undo.push(() => store.addStoredBytes(tenant, -bytes));
        }
        const record: DatasetRecord = {
          id,
          tenant,
          ...(opts.name ? { name: opts.name } : {}),
          uri: `dataset:${id}`,
          key,
          rows: summary.rows,
          columns: summary.columns,
          bytes,
          sha256,
          header: opts.header,
          createdAt: now().toISOString(),
          summary,
        };
        undo.push(() => artifacts.deletePrefix(keys.datasetMeta(tenant, id)));
        await artifacts.putJson(keys.datasetMeta(tenant, id), record);
        await store.putDataset(record);
        if (toS3) await artifacts.deletePrefix(incoming).catch(() => undefined);
        return record;
      } catch (e) {
        session.abort();
        // the multipart upload is aborted when its stream fails; wait for that before removing anything
        toS3?.destroy(e as Error);
        await stored?.catch(() => undefined);
        for (const u of undo.reverse()) await u().catch(() => undefined);
        throw e;
      }
    },

    /**
     * Deletes an upload: its record, its name when the name still points at it, its
     * record copy and, when no other record of the tenant has the same content, the
     * file. Refused (409) while a queued or running job trains on it.
     */
    async remove(tenant: string, idOrName: string): Promise<DatasetRecord> {
      const rec = await store.getDataset(tenant, idOrName);
      if (!rec) throw notFound('data set', idOrName);
      const uri = `dataset:${rec.id}`;
      const users: string[] = [];
      for (const status of ACTIVE) {
        const ids = await store.redis.zrange(store.keys.byStatus(status, tenant), 0, -1);
        for (const jobId of ids) {
          const job = await store.getRecord(jobId);
          if (job?.spec.dataset.uri === uri) users.push(jobId);
        }
      }
      if (users.length) throw new NightshiftError('conflict', `data set ${rec.id} is used by ${users.length} queued or running job(s) (${users.slice(0, 5).join(', ')}); cancel them or wait for them to finish`);
      if (!(await store.deleteDataset(rec))) throw notFound('data set', idOrName);
      await artifacts.deletePrefix(keys.datasetMeta(tenant, rec.id));
      const sameContent = (await store.listDatasets(tenant)).some((d) => d.sha256 === rec.sha256);
      if (!sameContent && (await artifacts.exists(rec.key))) {
        await artifacts.deletePrefix(rec.key);
        await store.addStoredBytes(tenant, -rec.bytes);
      }
      return rec;
    },

    /** undefined for unknown ids and for other tenants' data sets */
    async get(tenant: string, id: string): Promise<DatasetRecord | undefined> {
      return store.getDataset(tenant, id);
    },

    /**
     * What a spec's dataset.uri names, read once for job submission: the URI pinned
     * to the upload (dataset:<name> -> dataset:<id>, so every unit of a job trains on
     * the upload it was submitted with) and the summary the checks need (uploads from
     * their record, builtin generators from their parameters; s3:// objects are
     * checked against the tenant's data-source policy and for existence, with one
     * answer for both, and read by the worker). Unknown uploads and malformed URIs
     * are the caller's error.
     */
    async lookup(tenant: string, uri: string): Promise<{ uri: string; summary?: DatasetSummary }> {
      if (uri.startsWith('dataset:')) {
        const m = DATASET_URI.exec(uri);
        const rec = m ? await store.getDataset(tenant, m[1]) : undefined;
        if (!rec) throw new NightshiftError('dataset_not_found', `dataset.uri: data set ${uri.slice('dataset:'.length) || '(empty)'} not found; upload it with POST /v1/datasets`, { field: 'dataset.uri' });
        return { uri: `dataset:${rec.id}`, summary: rec.summary };
      }
      if (uri.startsWith('builtin:')) return { uri, summary: builtinSummary(uri) };
      if (uri.startsWith('s3://')) {
        const loc = s3SourceFor(uri, tenant, dataSources);
        if (!loc || !(await artifacts.objectExists(loc))) throw s3SourceNotFound(uri, dataSources.bucket);
        return { uri };
      }
      throw new NightshiftError('validation_failed', 'dataset.uri: expected dataset:<id>, s3://bucket/key or builtin:<generator>?<params>', { field: 'dataset.uri' });
    },
  };
}

export type DatasetService = ReturnType<typeof createDatasetService>;
