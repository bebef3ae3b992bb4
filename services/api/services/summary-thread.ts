/**
 * Worker-thread side of data set summaries: reads a CSV upload chunk by chunk as
 * the API receives it, summarizing it (platform/csv-stream.ts) and hashing it off
 * the API's event loop; the file is never held whole.
 *
 * Messages in: { chunk } (answered { ack: bytes } once read), { end } (answered
 * { summary, sha256 }). A CSV error answers { error } (a NightshiftError's code,
 * message and field) at once, and later chunks are ignored.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { toErrorInfo } from '../../core/errors.ts';
import { CsvSummaryStream } from '../../platform/csv-stream.ts';

const { header } = workerData.job as { header: boolean };
const csv = new CsvSummaryStream({ header });
const hash = createHash('sha256');
let failed = false;

parentPort!.on('message', (m: { chunk?: Uint8Array; end?: true }) => {
  if (failed) return;
  try {
    if (m.chunk) {
      hash.update(m.chunk);
      csv.push(m.chunk);
      parentPort!.postMessage({ ack: m.chunk.byteLength });
    } else if (m.end) {
      const summary = csv.end();
      parentPort!.postMessage({ summary, sha256: hash.digest('hex') });
      parentPort!.close();
    }
  } catch (e) {
    failed = true;
    parentPort!.postMessage({ error: toErrorInfo(e) });
    parentPort!.close();
  }
});
