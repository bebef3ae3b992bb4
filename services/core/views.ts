/**
 * Shapes of what the API answers and the workers write, shared by the API, the
 * trainer, the provisioner and the CLI. Where the API declares a response schema,
 * the type is derived from it (Static<typeof Schema>), so the two cannot drift.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { IntervalInfo } from './stats.ts';
import type { UnitResult } from './job.ts';

/** One epoch of a unit's history, Keras names: {epoch, loss, val_loss?, accuracy?, ...}. */
export interface EpochLog {
  epoch: number;
  [metric: string]: number;
}

/** jobs/<id>/units/<key>/history.json */
export interface UnitHistory {
  key: string;
  kind: 'eval' | 'final';
  run: number;
  repeat: number;
  fold: number;
  epochs: EpochLog[];
}

/** GET /v1/jobs/:id/history and jobs/<id>/history.json */
export interface JobHistory {
  units: UnitHistory[];
  final?: UnitHistory;
}

/** POST /v1/datasets and GET /v1/datasets/:id */
export const DatasetViewSchema = Type.Object({
  id: Type.String(),
  uri: Type.String({ description: 'dataset:<id>, for JobSpec dataset.uri' }),
  name: Type.Optional(Type.String()),
  rows: Type.Integer({ description: 'data rows (a header row is not counted)' }),
  columns: Type.Integer(),
  bytes: Type.Integer(),
  sha256: Type.String(),
  header: Type.Boolean(),
  createdAt: Type.String(),
});
export type DatasetView = Static<typeof DatasetViewSchema>;

/** POST /v1/jobs/:id/predict */
export interface Prediction {
  predictions: number[][];
  /** original labels, for classifiers */
  labels?: string[];
}

/** GET /v1/instances */
export const InstanceViewSchema = Type.Object({
  id: Type.String(),
  provider: Type.String(),
  type: Type.String(),
  market: Type.String(),
  resourceClass: Type.String(),
  state: Type.String(),
  launchedAt: Type.String(),
  terminatedAt: Type.Union([Type.String(), Type.Null()]),
  terminateReason: Type.Optional(Type.String()),
  hourlyUsd: Type.Number(),
  costUsd: Type.Number(),
  activeUnits: Type.Integer(),
}, { $id: 'Instance' });
export type InstanceView = Static<typeof InstanceViewSchema>;

/** Run order of units: run, then repeat, then fold. */
export const unitOrder = (a: { run: number; repeat: number; fold: number }, b: { run: number; repeat: number; fold: number }): number =>
  a.run - b.run || a.repeat - b.repeat || a.fold - b.fold;

/** A job's history from its units' histories: evaluation units in run order, the final fit apart. */
export function assembleHistory(all: UnitHistory[]): JobHistory {
  const units = all.filter((u) => u.kind !== 'final').sort(unitOrder);
  const final = all.find((u) => u.kind === 'final');
  return final ? { units, final } : { units };
}

/** summary.json as the aggregator writes it. */
export interface JobSummary {
  jobId?: string;
  name?: string;
  metric: string;
  method?: string;
  n: number;
  scores: number[];
  mean?: number;
  std?: number;
  stderr?: number;
  ci95?: [number, number];
  interval?: IntervalInfo;
  min?: number;
  max?: number;
  runMeans?: number[];
  units: Array<Omit<UnitResult, 'backend' | 'engine'>>;
  workers?: string[];
  final?: Record<string, number>;
  backend?: string;
  engine?: string;
  unitSeconds?: number;
}
