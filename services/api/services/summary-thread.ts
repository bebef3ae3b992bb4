/**
 * Worker-thread side of data set summaries: parses a CSV upload and summarizes it
 * off the API's event loop, with its SHA-256. Answers { summary, sha256 } or { error } (a NightshiftError's
 * code, message and field).
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { toErrorInfo } from '../../core/errors.ts';
import { parseCsv, summarizeTable } from '../../platform/csv.ts';

const { bytes, header } = workerData.job as { bytes: Uint8Array; header: boolean };
try {
  const summary = summarizeTable(parseCsv(bytes, { header }));
  parentPort!.postMessage({ summary, sha256: createHash('sha256').update(bytes).digest('hex') });
} catch (e) {
  parentPort!.postMessage({ error: toErrorInfo(e) });
}
