/**
 * An early checkpoint on request (what a spot rebalance recommendation asks of every
 * running unit, workers/trainer/main.ts): the real trainer child saves a checkpoint at
 * its next epoch and trains on, with no periodic checkpoint due. Real child process,
 * embedded S3.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/core/config.ts';
import { keys } from '../../services/core/keys.ts';
import type { JobSpec } from '../../services/core/spec.ts';
import { s3ArtifactStore, s3Options } from '../../services/platform/artifacts.ts';
import { startEmbeddedS3, type EmbeddedS3 } from '../../services/platform/embedded-s3.ts';
import { TrainerChild, type UnitOutcome } from '../../workers/trainer/runtime/trainer-child.ts';

const BUCKET = 'ns-ckpt-request';
let s3: EmbeddedS3;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ns-ckpt-'));
  s3 = await startEmbeddedS3({ directory: dir, buckets: [BUCKET] });
  env = {
    ...process.env,
    AWS_ENDPOINT_URL: s3.endpoint, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1', NIGHTSHIFT_S3_BUCKET: BUCKET, NIGHTSHIFT_TF_BACKEND: 'cpu', LOG_LEVEL: 'silent',
  };
});
afterAll(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Many short epochs; no periodic checkpoint within the test (one every hour of training). */
const spec = {
  name: 'ckpt-on-request',
  dataset: { uri: 'builtin:make_regression?n_samples=400&n_features=6&random_state=2' },
  model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 5000, engine: 'fused', checkpointSeconds: 3600 },
  evaluation: { method: 'holdout', testSize: 0.25 },
} as unknown as JobSpec;

async function runUntil(requestAt: number | undefined): Promise<{ outcome: UnitOutcome; checkpointEpoch?: number; requestedAt?: number; lastEpoch: number }> {
  const jobId = `job_${Math.random().toString(36).slice(2, 10)}`;
  const unit = { kind: 'eval' as const, run: 0, repeat: 0, fold: 0, key: 'r0-k0-f0' };
  const artifacts = s3ArtifactStore(s3Options(loadConfig(env)));
  const ckKey = `${keys.checkpoint(jobId, unit.key)}checkpoint.json`;
  const child = new TrainerChild(env);
  let lastEpoch = 0;
  let requestedAt: number | undefined;
  let checkpointEpoch: number | undefined;
  let polling: Promise<void> | undefined;
  let stopAt = Infinity;
  try {
    const outcome = await child.run(
      { type: 'run', payload: { jobId, tenant: 'acme', unit, resourceClass: 'cpu' }, spec, worker: 'w-test', mayResume: false },
      {
        onEpoch: (m) => {
          lastEpoch = m.epoch;
          if (requestAt !== undefined && requestedAt === undefined && m.epoch >= requestAt) {
            requestedAt = m.epoch;
            child.requestCheckpoint();
          }
          // look for the checkpoint while the unit still trains (a finished unit deletes it)
          polling ??= (async () => {
            const end = Date.now() + 20_000;
            while (Date.now() < end && checkpointEpoch === undefined) {
              checkpointEpoch = (await artifacts.getJson<{ epoch: number }>(ckKey))?.epoch;
              if (checkpointEpoch === undefined) await new Promise((r) => setTimeout(r, 100));
            }
          })();
          if (m.epoch >= stopAt) return;
          if (checkpointEpoch !== undefined || (requestAt === undefined && m.epoch >= 60)) {
            stopAt = m.epoch;
            child.requestStop();
          }
        },
      },
    );
    await polling;
    return { outcome, lastEpoch, ...(checkpointEpoch !== undefined ? { checkpointEpoch } : {}), ...(requestedAt !== undefined ? { requestedAt } : {}) };
  } finally {
    await child.close();
    artifacts.client.destroy();
  }
}

describe('checkpoint on request', () => {
  it('no checkpoint is written in the first epochs without a request', { timeout: 60_000 }, async () => {
    const r = await runUntil(undefined);
    // stopped by request: the unit checkpoints as it stops, after epoch 60, not before
    expect(r.outcome.kind).toBe('interrupted');
    expect(r.checkpointEpoch ?? Infinity).toBeGreaterThanOrEqual(60);
  });

  it('a request saves a checkpoint at the next epoch and the unit trains on', { timeout: 60_000 }, async () => {
    const r = await runUntil(5);
    expect(r.requestedAt).toBeGreaterThanOrEqual(5);
    expect(r.checkpointEpoch).toBeDefined();
    // saved within a few epochs of the request, long before the unit's 5000 epochs or any periodic checkpoint
    expect(r.checkpointEpoch!).toBeGreaterThanOrEqual(r.requestedAt!);
    expect(r.checkpointEpoch!).toBeLessThan(r.requestedAt! + 50);
    // it kept training after the checkpoint (then was stopped by the test)
    expect(r.outcome.kind).toBe('interrupted');
  });
});

describe('an unreadable checkpoint', () => {
  it('a checkpoint that does not parse: the unit starts from its first epoch and completes, not fails', { timeout: 60_000 }, async () => {
    const jobId = `job_${Math.random().toString(36).slice(2, 10)}`;
    const unit = { kind: 'eval' as const, run: 0, repeat: 0, fold: 0, key: 'r0-k0-f0' };
    const artifacts = s3ArtifactStore(s3Options(loadConfig(env)));
    await artifacts.put(`${keys.checkpoint(jobId, unit.key)}checkpoint.json`, Buffer.from('{"epoch": 40, "weights": [{"shape": [6, 16], "da'));
    const child = new TrainerChild(env);
    const epochs: number[] = [];
    let resumedAt: number | undefined;
    try {
      const short = { ...spec, training: { ...(spec.training as object), epochs: 30 } } as JobSpec;
      const outcome = await child.run(
        { type: 'run', payload: { jobId, tenant: 'acme', unit, resourceClass: 'cpu' }, spec: short, worker: 'w-test', mayResume: true },
        { onEpoch: (m) => void epochs.push(m.epoch), onResumed: (e) => void (resumedAt = e) },
      );
      expect(outcome.kind, JSON.stringify(outcome)).toBe('done');
      expect(resumedAt).toBeUndefined();
      expect(epochs[0]).toBe(1);
      expect(epochs.at(-1)).toBe(30);
    } finally {
      await child.close();
      artifacts.client.destroy();
    }
  });
});
