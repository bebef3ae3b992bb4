/**
 * CSV summaries off the event loop: each upload is parsed and summarized in a
 * worker thread (at most `concurrency` at once, the rest wait), so a large upload
 * never stalls other requests.
 */
import { Worker } from 'node:worker_threads';
import { NightshiftError, type ErrorCode, type ErrorInfo } from '../../core/errors.ts';
import type { DatasetSummary } from '../../core/resolve.ts';

const BOOT = new URL('../../platform/ts-thread.mjs', import.meta.url);
const ENTRY = new URL('./summary-thread.ts', import.meta.url).href;

export type Summarizer = (bytes: Uint8Array, header: boolean) => Promise<{ summary: DatasetSummary; sha256: string }>;

export function createSummarizer(concurrency = 2): Summarizer {
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
  return async (bytes, header) => {
    await acquire();
    try {
      return await new Promise<{ summary: DatasetSummary; sha256: string }>((resolve, reject) => {
        const w = new Worker(BOOT, { workerData: { entry: ENTRY, job: { bytes, header } } });
        let answered = false;
        w.once('message', (m: { summary?: DatasetSummary; sha256?: string; error?: ErrorInfo }) => {
          answered = true;
          if (m.summary && m.sha256) resolve({ summary: m.summary, sha256: m.sha256 });
          else reject(new NightshiftError((m.error?.code ?? 'internal') as ErrorCode, m.error?.message ?? 'the CSV file could not be read', m.error?.field ? { field: m.error.field } : {}));
          void w.terminate();
        });
        w.once('error', (e) => reject(e));
        w.once('exit', (code) => {
          if (!answered) reject(new Error(`summary thread exited with code ${code}`));
        });
      });
    } finally {
      release();
    }
  };
}
