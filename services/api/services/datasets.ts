/**
 * Data sets: uploaded CSV files, stored content-addressed per tenant
 * (datasets/<tenant>/<sha256>.csv) with a record in Redis and a copy of the record
 * next to the file. Also answers "what does this dataset URI look like" for job
 * submission: uploaded sets from their summary, builtin generators from their
 * parameters; s3:// objects only where the data-source policy lets the tenant read
 * them (core/data-sources.ts), and then only checked to exist: the worker reads them.
 */
import type { DatasetView } from '../../core/views.ts';
import { createHash } from 'node:crypto';
import type { ArtifactStore } from '../../core/artifacts.ts';
import { NightshiftError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { keys } from '../../core/keys.ts';
import { s3SourceFor, s3SourceNotFound, type DataSourcePolicy } from '../../core/data-sources.ts';
import type { DatasetSummary } from '../../core/resolve.ts';
import type { DatasetRecord, Store } from '../../platform/store.ts';
import { parseCsv, summarizeTable } from '../../../workers/trainer/ml/csv.ts';
import { builtinSummary } from './builtin.ts';

export interface DatasetServiceDeps {
  store: Store;
  artifacts: ArtifactStore;
  /** which s3:// objects each tenant may train on */
  dataSources: DataSourcePolicy;
  now?: () => Date;
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

export function createDatasetService({ store, artifacts, dataSources, now = () => new Date() }: DatasetServiceDeps) {
  return {
    async upload(tenant: string, bytes: Buffer, opts: { name?: string; header: boolean }): Promise<DatasetRecord> {
      if (bytes.length === 0) throw new NightshiftError('dataset_invalid', 'line 1: the body is empty; send the CSV file as the request body');
      // ragged_csv / dataset_invalid errors name the line
      const summary = summarizeTable(parseCsv(bytes, { header: opts.header }));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const id = newId('ds');
      const key = keys.dataset(tenant, sha256);
      if (!(await artifacts.exists(key))) await artifacts.put(key, bytes, 'text/csv');
      const record: DatasetRecord = {
        id,
        tenant,
        ...(opts.name ? { name: opts.name } : {}),
        uri: `dataset:${id}`,
        key,
        rows: summary.rows,
        columns: summary.columns,
        bytes: bytes.length,
        sha256,
        header: opts.header,
        createdAt: now().toISOString(),
        summary,
      };
      await artifacts.putJson(keys.datasetMeta(tenant, id), record);
      await store.putDataset(record);
      return record;
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
