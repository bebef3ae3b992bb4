/**
 * CSV summaries off the event loop, while the upload streams in: an upload larger
 * than INLINE_MAX gets a worker thread (at most `concurrency` at once, the rest
 * wait) that is fed the body's chunks as they arrive and answers the summary and
 * the SHA-256 at the end; a smaller one is summarized at its end without a thread.
 * At most HIGH_WATER bytes are in flight to a thread: a writer waits when the
 * thread is behind, so a fast client cannot queue the file in memory.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { NightshiftError, type ErrorCode, type ErrorInfo } from '../../core/errors.ts';
import type { DatasetSummary } from '../../core/dataset-summary.ts';
import { CsvSummaryStream } from '../../platform/csv-stream.ts';

const BOOT = new URL('../../platform/ts-thread.mjs', import.meta.url);
const ENTRY = new URL('./summary-thread.ts', import.meta.url).href;
const HIGH_WATER = 8 * 1024 * 1024;
/** uploads up to this size are summarized on the event loop at the end (a few milliseconds), without a thread */
const INLINE_MAX = 256 * 1024;

export interface SummaryResult {
  summary: DatasetSummary;
  sha256: string;
}

/** One upload's summary: write the bytes in order, then end(). */
export interface SummarySession {
  /** resolves when the thread can take more; rejects with the CSV error once one is found */
  write(chunk: Uint8Array): Promise<void>;
  /** the summary and SHA-256 of everything written (rejects with the CSV error) */
  end(): Promise<SummaryResult>;
  /** the upload is abandoned: the thread stops */
  abort(): void;
}

export type Summarizer = (header: boolean) => Promise<SummarySession>;

const asError = (m?: ErrorInfo): NightshiftError =>
  new NightshiftError((m?.code ?? 'internal') as ErrorCode, m?.message ?? 'the CSV file could not be read', m?.field ? { field: m.field } : {});

export function createSummarizer(concurrency = 8): Summarizer {
  let running = 0;
  const waiting: Array<() => void> = [];
  const acquire = async (): Promise<void> => {
    if (running < concurrency) {
      running++;
      return;
    }
    await new Promise<void>((r) => waiting.push(r));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  return async (header) => {
    // small uploads are summarized here at the end (a few milliseconds); the thread
    // starts when the bytes pass INLINE_MAX
    let held: Uint8Array[] = [];
    let heldBytes = 0;
    let thread: SummarySession | undefined;
    let aborted = false;
    return {
      async write(chunk) {
        if (aborted) throw new Error('the upload was abandoned');
        if (!thread && heldBytes + chunk.byteLength <= INLINE_MAX) {
          held.push(new Uint8Array(chunk));
          heldBytes += chunk.byteLength;
          return;
        }
        if (!thread) {
          await acquire();
          if (aborted) {
            release();
            throw new Error('the upload was abandoned');
          }
          thread = startThread(header, release);
          for (const c of held) await thread.write(c);
          held = [];
        }
        await thread.write(chunk);
      },
      async end() {
        if (thread) return thread.end();
        if (aborted) throw new Error('the upload was abandoned');
        const csv = new CsvSummaryStream({ header });
        const hash = createHash('sha256');
        for (const c of held) {
          csv.push(c);
          hash.update(c);
        }
        return { summary: csv.end(), sha256: hash.digest('hex') };
      },
      abort() {
        aborted = true;
        held = [];
        thread?.abort();
      },
    };
  };
}

/** A summary thread fed chunk by chunk; `release` is called once when it ends. */
function startThread(header: boolean, release: () => void): SummarySession {
  const w = new Worker(BOOT, { workerData: { entry: ENTRY, job: { header } } });
  let inFlight = 0;
  let failure: Error | undefined;
  let result: SummaryResult | undefined;
  let wake: Array<() => void> = [];
  let settle: { resolve(r: SummaryResult): void; reject(e: Error): void } | undefined;
  let released = false;
  const done = (): void => {
    if (released) return;
    released = true;
    release();
    void w.terminate();
  };
  const notify = (): void => {
    const ws = wake;
    wake = [];
    for (const f of ws) f();
  };
  const fail = (e: Error): void => {
    failure ??= e;
    settle?.reject(failure);
    notify();
    done();
  };
  w.on('message', (m: { ack?: number; summary?: DatasetSummary; sha256?: string; error?: ErrorInfo }) => {
    if (m.ack !== undefined) {
      inFlight -= m.ack;
      if (inFlight < HIGH_WATER) notify();
    } else if (m.summary && m.sha256) {
      result = { summary: m.summary, sha256: m.sha256 };
      settle?.resolve(result);
      done();
    } else fail(asError(m.error));
  });
  w.on('error', (e) => fail(e));
  w.on('exit', (code) => {
    if (!result) fail(new Error(`summary thread exited with code ${code}`));
  });

  return {
    async write(chunk) {
      if (failure) throw failure;
      const copy = new Uint8Array(chunk); // its own buffer, handed over to the thread
      inFlight += copy.byteLength;
      w.postMessage({ chunk: copy }, [copy.buffer]);
      while (inFlight >= HIGH_WATER && !failure) await new Promise<void>((r) => wake.push(r));
      if (failure) throw failure;
    },
    end() {
      if (failure) return Promise.reject(failure);
      if (result) return Promise.resolve(result);
      const p = new Promise<SummaryResult>((resolve, reject) => (settle = { resolve, reject }));
      w.postMessage({ end: true });
      return p;
    },
    abort() {
      failure ??= new Error('the upload was abandoned');
      notify();
      done();
    },
  };
}
