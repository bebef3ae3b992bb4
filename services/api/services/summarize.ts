/**
 * CSV summaries off the event loop, while the upload streams in: each upload gets
 * a worker thread (at most `concurrency` at once, the rest wait) that is fed the
 * body's chunks as they arrive and answers the summary and the SHA-256 at the end.
 * At most HIGH_WATER bytes are in flight to a thread: a writer waits when the
 * thread is behind, so a fast client cannot queue the file in memory.
 */
import { Worker } from 'node:worker_threads';
import { NightshiftError, type ErrorCode, type ErrorInfo } from '../../core/errors.ts';
import type { DatasetSummary } from '../../core/resolve.ts';

const BOOT = new URL('../../platform/ts-thread.mjs', import.meta.url);
const ENTRY = new URL('./summary-thread.ts', import.meta.url).href;
const HIGH_WATER = 8 * 1024 * 1024;

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
    await acquire();
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
  };
}
