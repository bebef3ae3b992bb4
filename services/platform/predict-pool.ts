/**
 * Predictions off the event loop: a fixed number of worker threads (predict-thread.ts)
 * hold the loaded models and run TensorFlow.js; the calling thread only reads the
 * model's files from the artifact store and passes rows and answers. Each model lives
 * in one thread (assigned round-robin when it is loaded); a thread answers one message
 * at a time, so at most `threads` predictions compute at once and the rest wait in
 * their thread's queue. At most `maxWaiting` loads and predictions wait beyond the ones
 * computing; past that the pool refuses at once with `predict_busy` (503, Retry-After).
 * A thread that ends is replaced at once; the models it held are loaded into the
 * replacement (from the artifact store) on their next prediction. Threads start on
 * first use and end with close().
 */
import { Worker } from 'node:worker_threads';
import type { ArtifactStore } from '../core/artifacts.ts';
import { NightshiftError, type ErrorCode, type ErrorInfo } from '../core/errors.ts';
import { keys } from '../core/keys.ts';
import type { Prediction } from '../core/views.ts';
import type { PredictRequest } from './predict-thread.ts';
import type { BackendName } from './tf-backend.ts';

const BOOT = new URL('./ts-thread.mjs', import.meta.url);
const ENTRY = new URL('./predict-thread.ts', import.meta.url).href;

export interface PooledPredictor {
  predict(rows: number[][]): Promise<Prediction>;
  dispose(): void;
}

export interface PredictPool {
  /** Load the final model of a job (or the model under an artifact prefix ending in '/') into one of the threads. */
  load(store: ArtifactStore, jobIdOrPrefix: string): Promise<PooledPredictor>;
  /** threads started so far */
  readonly threads: number;
  close(): Promise<void>;
}

type Pending = { resolve(v: unknown): void; reject(e: unknown): void };
type Payload = PredictRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  dead: boolean;
  /** answered at least one message (a thread that ends before that is not restarted eagerly, so a broken boot cannot loop) */
  answered: boolean;
}

/** The files of a saved model: meta.json, model.json and the weight files its manifest names. */
async function modelFiles(store: ArtifactStore, prefix: string): Promise<Array<[string, Uint8Array]>> {
  const [meta, modelJson] = await Promise.all([store.get(`${prefix}meta.json`), store.get(`${prefix}model.json`)]);
  if (!meta || !modelJson) throw new NightshiftError('model_unavailable', `no trained model at ${prefix} (the job has no final model yet)`);
  const manifest = (JSON.parse(modelJson.toString('utf8')) as { weightsManifest?: Array<{ paths: string[] }> }).weightsManifest ?? [];
  const paths = [...new Set(manifest.flatMap((g) => g.paths))];
  const weights = await Promise.all(paths.map(async (p): Promise<[string, Uint8Array]> => {
    const b = await store.get(`${prefix}${p}`);
    if (!b) throw new NightshiftError('model_unavailable', `model weights ${prefix}${p} are missing`);
    return [`${prefix}${p}`, b];
  }));
  return [[`${prefix}meta.json`, meta], [`${prefix}model.json`, modelJson], ...weights];
}

const fromInfo = (e: ErrorInfo): NightshiftError =>
  new NightshiftError((e.code ?? 'internal') as ErrorCode, e.message ?? 'prediction failed', e.field ? { field: e.field } : {});

export interface PredictPoolOptions {
  threads?: number;
  backend?: BackendName;
  /** loads and predictions allowed to wait beyond the ones computing (default 32) */
  maxWaiting?: number;
}

/** Fault injection for tests: end thread `slot` as a crash would. */
export const predictPoolTestHooks = new WeakMap<PredictPool, { terminate(slot: number): Promise<void> }>();

export function createPredictPool(o: PredictPoolOptions = {}): PredictPool {
  const size = Math.max(1, o.threads ?? 2);
  const maxWaiting = Math.max(0, o.maxWaiting ?? 32);
  const threads: Array<Thread | undefined> = [];
  let next = 0;
  let seq = 0;
  let modelSeq = 0;
  let closed = false;
  /** loads and predictions admitted and not yet answered, all threads together */
  let inFlight = 0;

  const start = (slot: number): Thread => {
    const t: Thread = { worker: new Worker(BOOT, { workerData: { entry: ENTRY, backend: o.backend } }), pending: new Map(), dead: false, answered: false };
    const fail = (e: unknown): void => {
      if (t.dead) return;
      t.dead = true;
      for (const p of t.pending.values()) p.reject(e);
      t.pending.clear();
      if (!closed && t.answered && threads[slot] === t) threads[slot] = start(slot);
    };
    t.worker.on('message', (m: { id: number; value?: unknown; error?: ErrorInfo }) => {
      t.answered = true;
      const p = t.pending.get(m.id);
      if (!p) return;
      t.pending.delete(m.id);
      if (m.error) p.reject(fromInfo(m.error));
      else p.resolve(m.value);
    });
    t.worker.on('error', fail);
    t.worker.on('exit', (code) => fail(new NightshiftError('unavailable', `the prediction thread ended (exit code ${code}); try again`)));
    t.worker.unref();
    return t;
  };

  /** The live thread of a slot, started (or restarted) if needed. */
  const live = (slot: number): Thread => {
    if (closed) throw new NightshiftError('unavailable', 'the prediction pool is closed');
    const t = threads[slot];
    if (t && !t.dead) return t;
    return (threads[slot] = start(slot));
  };

  /** Run one load or prediction, refused at once when `maxWaiting` already wait beyond the threads' share. */
  const admitted = async <T>(work: () => Promise<T>): Promise<T> => {
    if (inFlight >= size + maxWaiting) {
      throw new NightshiftError('predict_busy', `the prediction threads are busy (${inFlight} requests computing or waiting); try again shortly`);
    }
    inFlight++;
    try {
      return await work();
    } finally {
      inFlight--;
    }
  };

  const call = <T>(t: Thread, msg: Payload): Promise<T> => {
    if (t.dead) return Promise.reject(new NightshiftError('unavailable', 'the prediction thread holding this model ended; try again'));
    const id = ++seq;
    return new Promise<T>((resolve, reject) => {
      t.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      t.worker.postMessage({ id, ...msg });
    });
  };

  const pool: PredictPool = {
    load: (store, jobIdOrPrefix) => admitted(async () => {
      const prefix = jobIdOrPrefix.endsWith('/') ? jobIdOrPrefix : keys.modelPrefix(jobIdOrPrefix);
      const files = await modelFiles(store, prefix);
      const slot = next++ % size;
      const model = `m${++modelSeq}`;
      /** the thread the model is loaded in; after that thread ends, the next prediction loads it into the slot's replacement */
      let holder: Thread | undefined;
      let loading: Promise<Thread> | undefined;
      const loadInto = async (t: Thread, f: Array<[string, Uint8Array]>): Promise<Thread> => {
        await call(t, { op: 'load', model, prefix, files: f });
        holder = t;
        return t;
      };
      const ensure = (): Promise<Thread> => {
        if (holder && !holder.dead) return Promise.resolve(holder);
        loading ??= (async () => loadInto(live(slot), await modelFiles(store, prefix)))().finally(() => (loading = undefined));
        return loading;
      };
      let disposed = false;
      await loadInto(live(slot), files);
      return {
        predict: async (rows) => {
          if (disposed) throw new NightshiftError('model_unavailable', 'the model is no longer loaded: try again');
          return admitted(async () => call<Prediction>(await ensure(), { op: 'predict', model, rows }));
        },
        dispose: () => {
          disposed = true;
          if (holder && !holder.dead) void call(holder, { op: 'dispose', model }).catch(() => undefined);
          holder = undefined;
        },
      };
    }),
    get threads() {
      return threads.filter((t) => t && !t.dead).length;
    },
    async close() {
      closed = true;
      await Promise.all(threads.map((t) => t?.worker.terminate()));
    },
  };
  predictPoolTestHooks.set(pool, {
    async terminate(slot) {
      await threads[slot]?.worker.terminate();
    },
  });
  return pool;
}
