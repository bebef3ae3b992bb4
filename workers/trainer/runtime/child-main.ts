/**
 * Trainer child process: receives one unit at a time from its worker, trains it
 * with the best TensorFlow.js backend, writes the unit's history/result (and the
 * final model) to the artifact store and reports back. Checkpoints go to
 * checkpoints/<job id>/<unit key>/ so any worker can resume the unit.
 */
import { loadConfig } from '../../../services/core/config.ts';
import { keys } from '../../../services/core/keys.ts';
import { resolveJobSpec } from '../../../services/core/job-defaults.ts';
import { NightshiftError, toErrorInfo, isNightshiftError } from '../../../services/core/errors.ts';
import type { UnitResult } from '../../../services/core/job.ts';
import { s3ArtifactStore } from '../../../services/platform/artifacts.ts';
import { selectBackend } from '../../../services/platform/tf-backend.ts';
import { loadTable } from '../ml/dataset.ts';
import type { Table } from '../../../services/platform/csv.ts';
import { runUnit, type Checkpoint } from '../ml/run-unit.ts';
import { saveModelToStore } from '../../../services/platform/model-store.ts';
import { chooseEngine } from '../ml/fused-engine.ts';
import type { ChildMessage, ParentMessage, RunUnitMessage } from './protocol.ts';

const send = (m: ChildMessage): void => {
  process.send?.(m);
};

const config = loadConfig();
const artifacts = s3ArtifactStore(config.s3);
const backend = await selectBackend(config.tfBackend);
send({ type: 'ready', backend: backend.name });

/** Parsed tables, by data set URI: units of one job on one worker parse the CSV once. */
const tables = new Map<string, Table>();
let stopRequested = false;
let checkpointRequested = false;

process.on('message', (m: ParentMessage) => {
  if (m.type === 'stop') stopRequested = true;
  else if (m.type === 'checkpoint') checkpointRequested = true;
  else if (m.type === 'run') void run(m);
});
process.on('disconnect', () => process.exit(0));

async function table(msg: RunUnitMessage, uri: string, header: boolean): Promise<Table> {
  // keyed by what is read, not by the URI text: s3:// objects by their checked location
  const source = uri.startsWith('s3://') ? `s3:${msg.datasetObject?.bucket}/${msg.datasetObject?.key}` : uri.startsWith('dataset:') ? `key:${msg.datasetKey}` : uri;
  const cacheKey = `${source}|${header}`;
  const hit = tables.get(cacheKey);
  if (hit) return hit;
  const t = await loadTable(uri, header, async (u) => {
    if (u.startsWith('dataset:')) return msg.datasetKey ? artifacts.get(msg.datasetKey) : undefined;
    // only what the worker's data-source check resolved; never the URI as written
    if (u.startsWith('s3://')) return msg.datasetObject ? artifacts.getObject(msg.datasetObject) : undefined;
    throw new NightshiftError('dataset_invalid', `dataset.uri: unsupported scheme in "${u}" (use dataset:<id>, s3://bucket/key or builtin:<generator>)`, { field: 'dataset.uri' });
  });
  if (tables.size > 4) tables.delete(tables.keys().next().value as string);
  tables.set(cacheKey, t);
  return t;
}

/**
 * The unit's last checkpoint, if one can be read. One that does not parse (an object
 * store that kept a body cut short) is not a reason to fail the unit on every attempt:
 * the unit starts again from its first epoch, and says so on stderr.
 */
async function readCheckpoint(key: string): Promise<Checkpoint | undefined> {
  try {
    return await artifacts.getJson<Checkpoint>(key);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    process.stderr.write(`${JSON.stringify({ level: 'warn', msg: 'checkpoint unreadable: the unit starts from its first epoch', key, err: e.message })}\n`);
    return undefined;
  }
}

async function run(msg: RunUnitMessage): Promise<void> {
  stopRequested = false;
  const started = Date.now();
  const { jobId, unit } = msg.payload;
  const spec = resolveJobSpec(msg.spec);
  const ckKey = `${keys.checkpoint(jobId, unit.key)}checkpoint.json`;
  try {
    const data = await table(msg, spec.dataset.uri, msg.spec.dataset.header ?? msg.datasetHeader ?? false);
    // a unit that never ran has no checkpoint: no lookup before its first epoch
    const checkpoint = msg.mayResume === false ? undefined : await readCheckpoint(ckKey);
    let checkpointed = false;
    let checkpointUpload: Promise<void> = Promise.resolve();
    if (checkpoint) send({ type: 'resumed', unit: unit.key, epoch: checkpoint.epoch });
    const out = await runUnit({
      spec,
      unit,
      table: data,
      checkpoint,
      engine: (layers) => chooseEngine(spec, layers, backend.name),
      hooks: {
        onEpoch: (epoch, logs) => send({ type: 'epoch', unit: unit.key, epoch, epochs: spec.training.epochs, logs }),
        control: () => (stopRequested ? 'stop' : 'continue'),
        checkpointNow: () => {
          const now = checkpointRequested;
          checkpointRequested = false;
          return now;
        },
        saveCheckpoint: async (c) => {
          checkpointed = true;
          // The checkpoint is a snapshot the engine no longer touches: it uploads while the
          // next epochs train. At most one upload is in flight (the next waits for it), and
          // the unit reports nothing before its last checkpoint is stored (below).
          await checkpointUpload;
          checkpointUpload = artifacts.putJson(ckKey, c);
          checkpointUpload.catch(() => undefined); // observed by the awaits below
        },
      },
    });
    await checkpointUpload;
    if (out.status === 'interrupted') {
      send({ type: 'interrupted', unit: unit.key, epoch: out.history.length });
      return;
    }
    // the unit's files are independent objects: written side by side, not one after another
    const written: Array<Promise<unknown>> = [
      artifacts.putJson(keys.unitHistory(jobId, unit.key), { key: unit.key, kind: unit.kind, run: unit.run, repeat: unit.repeat, fold: unit.fold, epochs: out.history }),
    ];
    if (unit.kind === 'final' && out.model) {
      const model = out.model;
      written.push(saveModelToStore(model, artifacts, keys.modelPrefix(jobId)).finally(() => model.dispose()), artifacts.putJson(keys.modelMeta(jobId), out.meta));
    }
    await Promise.all(written);
    const result: UnitResult = {
      key: unit.key,
      kind: unit.kind,
      run: unit.run,
      repeat: unit.repeat,
      fold: unit.fold,
      ...(out.score !== undefined ? { score: out.score } : {}),
      ...(out.heldOut ? { heldOut: out.heldOut } : {}),
      epochs: out.history.length,
      trainRows: out.trainRows,
      testRows: out.testRows,
      durationMs: Date.now() - started,
      backend: out.backend,
      engine: out.engine,
      worker: msg.worker,
      ...(msg.instanceId ? { instanceId: msg.instanceId } : {}),
      ...(checkpoint ? { resumedFromEpoch: checkpoint.epoch } : {}),
      ...(out.engineReason ? { engineReason: out.engineReason } : {}),
      ...(out.warnings.length ? { warnings: out.warnings } : {}),
    };
    await Promise.all([
      artifacts.putJson(keys.unitResult(jobId, unit.key), { ...result, last: out.history[out.history.length - 1] ?? null }),
      checkpointed || msg.mayResume !== false ? artifacts.deletePrefix(keys.checkpoint(jobId, unit.key)) : undefined,
    ]);
    send({ type: 'done', result });
  } catch (e) {
    const retryable = isNightshiftError(e) ? e.retryable : true;
    send({ type: 'error', error: toErrorInfo(e), retryable });
  }
}
