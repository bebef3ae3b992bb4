// Entry of a worker thread that runs a TypeScript module (workerData.entry) through tsx,
// the same loader the programs start with.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.entry, import.meta.url);
