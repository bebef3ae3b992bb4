/**
 * A small typed client of the nightshift HTTP API (v1): one method per route.
 * API errors (`{error: {code, message}}`) become ApiError; a server that cannot be
 * reached becomes ConnectionError (with the system error code, e.g. ECONNREFUSED).
 */
import type { Batch, BatchAccepted, BatchDryRun } from '../core/batch.ts';
import type { Job, JobStatus } from '../core/job.ts';
import type { DatasetView, EpochLog, InstanceView, JobHistory, JobSummary, Prediction, UnitHistory } from '../core/views.ts';

export type Dataset = DatasetView;

export interface JobList {
  items: Job[];
  nextCursor: string | null;
}

export interface DryRun {
  valid: true;
  unitsTotal: number;
  resolved: Record<string, unknown>;
  estimate?: { units: number; unitSeconds: number; basis: string; instanceType: string; hourlyOnDemandUsd: number; onDemandUsd: number; hourlySpotUsd: number | null; spotUsd: number | null };
}

export interface Accepted {
  id: string;
  status: string;
}

export type { EpochLog, UnitHistory };
export type History = JobHistory;

export type { Prediction };

export type Instance = InstanceView;

/** GET /v1/costs */
export interface CostReport {
  totalUsd: number;
  idleUsd: number;
  spotSavingsUsd: number;
  unattributedUsd: number;
  groupBy: string;
  from: string | null;
  to: string | null;
  groups: Array<{ key: string; usd: number; instanceSeconds: number; idleUsd: number; spotSavingsUsd: number }>;
  budgets: {
    global?: { limitUsd: number; spentUsd: number; leftUsd: number };
    tenant?: { tenant: string; limitUsd: number; spentUsd: number; leftUsd: number };
  };
}

/** GET /v1/budgets */
export interface BudgetsView {
  month: string;
  global: { limitUsd: number; spentUsd: number; leftUsd: number; source: 'env' | 'api' } | null;
  tenants: Array<{ tenant: string; limitUsd: number; spentUsd: number; leftUsd: number; source: 'env' | 'api' }>;
}

export type Summary = JobSummary;

export interface SseEvent {
  event: string;
  data: unknown;
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class ConnectionError extends Error {
  override name = 'ConnectionError';
  constructor(
    readonly url: string,
    /** ECONNREFUSED, ENOTFOUND, ... when known */
    readonly syscallCode: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  url: string;
  key?: string;
  fetch?: typeof fetch;
}

export interface ListJobsQuery {
  status?: JobStatus;
  batch?: string;
  limit?: number;
  cursor?: string;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

const seg = (id: string): string => encodeURIComponent(id);

function connectionCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length) {
      const inner = connectionCode(errors[0]);
      if (inner) return inner;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function innermostMessage(err: unknown): string {
  let e = err as { message?: unknown; cause?: unknown } | undefined;
  let msg = String(e?.message ?? err);
  for (let i = 0; i < 4 && e?.cause && typeof e.cause === 'object'; i++) {
    e = e.cause as { message?: unknown; cause?: unknown };
    if (typeof e.message === 'string' && e.message) msg = e.message;
  }
  return msg;
}

/** Turns an error answer into an ApiError, whatever its body looks like. */
async function apiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; field?: unknown } };
    if (body?.error && typeof body.error.code === 'string') {
      return new ApiError(res.status, body.error.code, String(body.error.message ?? ''), typeof body.error.field === 'string' ? body.error.field : undefined);
    }
  } catch {
    // not JSON: fall through
  }
  const snippet = text.trim().slice(0, 200);
  return new ApiError(res.status, `http_${res.status}`, snippet || res.statusText || 'request failed');
}

/** Parses a text/event-stream body into events; comments (keep-alives) are skipped. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  let event = 'message';
  let data: string[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (data.length) {
            const raw = data.join('\n');
            let parsed: unknown = raw;
            try {
              parsed = JSON.parse(raw);
            } catch {
              // plain text data stays a string
            }
            yield { event, data: parsed };
          }
          event = 'message';
          data = [];
        } else if (line.startsWith(':')) {
          continue;
        } else {
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

export function createClient({ url, key, fetch: fetchImpl = globalThis.fetch }: ClientOptions) {
  const base = url.replace(/\/+$/, '');

  async function send(method: string, path: string, init: { body?: BodyInit; contentType?: string; accept?: string; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (key) headers.authorization = `Bearer ${key}`;
    if (init.contentType) headers['content-type'] = init.contentType;
    if (init.accept) headers.accept = init.accept;
    let res: Response;
    try {
      res = await fetchImpl(`${base}${path}`, { method, headers, ...(init.body !== undefined ? { body: init.body } : {}), ...(init.signal ? { signal: init.signal } : {}) });
    } catch (err) {
      if ((err as { name?: string })?.name === 'AbortError') throw err;
      const code = connectionCode(err);
      throw new ConnectionError(base, code, innermostMessage(err));
    }
    if (!res.ok) throw await apiError(res);
    return res;
  }

  async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await send(method, path, body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' });
    return (await res.json()) as T;
  }

  return {
    url: base,

    health: () => json<{ ok: boolean }>('GET', '/healthz'),

    async uploadDataset(csv: Uint8Array | string, opts: { name?: string; header?: boolean } = {}): Promise<Dataset> {
      const res = await send('POST', `/v1/datasets${query({ name: opts.name, header: opts.header })}`, { body: csv as BodyInit, contentType: 'text/csv' });
      return (await res.json()) as Dataset;
    },

    submitJob: (spec: unknown): Promise<Accepted> => json<Accepted>('POST', '/v1/jobs', spec),

    dryRun: (spec: unknown): Promise<DryRun> => json<DryRun>('POST', '/v1/jobs?dryRun=true', spec),

    listJobs: (q: ListJobsQuery = {}): Promise<JobList> => json<JobList>('GET', `/v1/jobs${query({ ...q })}`),

    getJob: (id: string): Promise<Job> => json<Job>('GET', `/v1/jobs/${seg(id)}`),

    cancelJob: (id: string): Promise<Job> => json<Job>('DELETE', `/v1/jobs/${seg(id)}`),

    history: (id: string): Promise<History> => json<History>('GET', `/v1/jobs/${seg(id)}/history`),

    predict: (id: string, rows: number[][]): Promise<Prediction> => json<Prediction>('POST', `/v1/jobs/${seg(id)}/predict`, { rows }),

    instances: (state?: 'live' | 'terminated' | 'all'): Promise<Instance[]> => json<Instance[]>('GET', `/v1/instances${query({ state })}`),

    costs: (q: { groupBy?: string; from?: string; to?: string } = {}): Promise<CostReport> => json<CostReport>('GET', `/v1/costs${query({ ...q })}`),

    budgets: (): Promise<BudgetsView> => json<BudgetsView>('GET', '/v1/budgets'),

    /** sets (a number) or clears (null) the global budget, or a tenant's */
    setBudget: (tenant: string | undefined, limitUsd: number | null): Promise<BudgetsView> => {
      const path = tenant === undefined ? '/v1/budgets/global' : `/v1/budgets/tenants/${seg(tenant)}`;
      return limitUsd === null ? json<BudgetsView>('DELETE', path) : json<BudgetsView>('PUT', path, { limitUsd });
    },

    /** An artifact's bytes; names may contain slashes (units/<key>/history.json). */
    async artifact(id: string, name: string): Promise<{ body: Buffer; contentType: string }> {
      const p = name.split('/').map(encodeURIComponent).join('/');
      const res = await send('GET', `/v1/jobs/${seg(id)}/artifacts/${p}`);
      return { body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? 'application/octet-stream' };
    },

    async summary(id: string): Promise<Summary> {
      const { body } = await this.artifact(id, 'summary.json');
      return JSON.parse(body.toString('utf8')) as Summary;
    },

    /** The job's Server-Sent Events; ends when the server closes the stream. */
    async *events(id: string, signal?: AbortSignal): AsyncGenerator<SseEvent> {
      const res = await send('GET', `/v1/jobs/${seg(id)}/events`, { accept: 'text/event-stream', ...(signal ? { signal } : {}) });
      if (!res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
        throw new ConnectionError(base, undefined, `GET /v1/jobs/${id}/events did not answer an event stream`);
      }
      yield* readSse(res.body);
    },
  };
}

export type Client = ReturnType<typeof createClient>;

/** GET /v1/batches/:id */
export type BatchView = Batch;
export type { BatchAccepted, BatchDryRun };

/** The batch routes, over a client's base URL and key. */
export function batchClient({ url, key, fetch: fetchImpl = globalThis.fetch }: ClientOptions) {
  const base = url.replace(/\/+$/, '');
  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetchImpl(`${base}${path}`, {
        method,
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new ConnectionError(base, connectionCode(err), innermostMessage(err));
    }
    if (!res.ok) throw await apiError(res);
    return res;
  }
  return {
    submit: async (spec: unknown): Promise<BatchAccepted> => (await call('POST', '/v1/batches', spec)).json() as Promise<BatchAccepted>,
    dryRun: async (spec: unknown): Promise<BatchDryRun> => (await call('POST', '/v1/batches?dryRun=true', spec)).json() as Promise<BatchDryRun>,
    get: async (id: string): Promise<BatchView> => (await call('GET', `/v1/batches/${seg(id)}`)).json() as Promise<BatchView>,
    list: async (q: { status?: string; limit?: number; cursor?: string; rows?: number } = {}): Promise<{ items: BatchView[]; nextCursor: string | null }> =>
      (await call('GET', `/v1/batches${query({ ...q })}`)).json() as Promise<{ items: BatchView[]; nextCursor: string | null }>,
    report: async (id: string, format: 'md' | 'csv' = 'md'): Promise<string> => (await call('GET', `/v1/batches/${seg(id)}/report?format=${format}`)).text(),
    cancel: async (id: string): Promise<BatchView> => (await call('DELETE', `/v1/batches/${seg(id)}`)).json() as Promise<BatchView>,
    retryFailed: async (id: string): Promise<{ id: string; retried: Array<{ from: string; to: string }> }> =>
      (await call('POST', `/v1/batches/${seg(id)}/retry-failed`)).json() as Promise<{ id: string; retried: Array<{ from: string; to: string }> }>,
  };
}

export type BatchClient = ReturnType<typeof batchClient>;
