/** The Job resource as the API answers it, and the statuses it moves through. */
import { Type, type Static } from '@sinclair/typebox';
import type { TrainingWarning } from './health.ts';

export const PlacementSchema = Type.Object({
  accelerator: Type.Union([Type.Literal('gpu'), Type.Literal('cpu')]),
  instanceType: Type.String(),
  estimatedUnitSeconds: Type.Number(),
  estimatedUsdPerUnit: Type.Number(),
  reason: Type.String(),
});

export const JOB_STATUSES = ['queued', 'scheduled', 'running', 'completed', 'failed', 'cancelled', 'budget_exhausted', 'deadline_missed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled', 'budget_exhausted', 'deadline_missed']);
export const isTerminal = (s: string): boolean => TERMINAL.has(s as JobStatus);



const Num = Type.Number();
export const JobSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tenant: Type.String(),
  batchId: Type.Optional(Type.String()),
  status: Type.Union(JOB_STATUSES.map((s) => Type.Literal(s))),
  createdAt: Type.String(),
  startedAt: Type.Optional(Type.String()),
  finishedAt: Type.Optional(Type.String()),
  progress: Type.Object({
    unitsDone: Type.Integer(),
    unitsTotal: Type.Integer(),
    unitsFailed: Type.Optional(Type.Integer()),
    epoch: Type.Optional(Type.Integer()),
    epochs: Type.Optional(Type.Integer()),
  }),
  result: Type.Optional(Type.Object({
    metric: Type.String(),
    scores: Type.Array(Num),
    mean: Num,
    std: Num,
    stderr: Num,
    ci95: Type.Tuple([Num, Num]),
    interval: Type.Optional(Type.Object({
      method: Type.Union([Type.Literal('student_t'), Type.Literal('none')]),
      confidence: Num,
      df: Type.Integer(),
      t: Type.Optional(Num),
      sampleStderr: Type.Optional(Num),
    }, { description: 'how ci95 was computed: mean +- t(0.975, n-1) * s/sqrt(n), s the sample standard deviation' })),
    runMeans: Type.Optional(Type.Array(Num)),
    final: Type.Optional(Type.Record(Type.String(), Num)),
  })),
  artifacts: Type.Optional(Type.Record(Type.String(), Type.String())),
  cost: Type.Optional(Type.Object({ usd: Num, instanceSeconds: Num, idleUsd: Type.Optional(Num), spotSavingsUsd: Type.Optional(Num) })),
  waiting: Type.Optional(Type.Object({ reason: Type.String(), message: Type.String() })),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) })),
  backend: Type.Optional(Type.String()),
  engine: Type.Optional(Type.String()),
  engineReason: Type.Optional(Type.String()),
  warnings: Type.Optional(Type.Array(Type.Object({
    code: Type.String(),
    message: Type.String(),
    unit: Type.Optional(Type.String()),
  }), { description: 'training-health findings: a unit whose loss is flat or not finite, whose predictions are constant, or whose accuracy is the class rate' })),
  placement: Type.Optional(PlacementSchema),
  archived: Type.Optional(Type.Boolean({ description: 'the job finished longer ago than NIGHTSHIFT_RETENTION_DAYS: this is its archive copy from S3' })),
  archivedAt: Type.Optional(Type.String()),
}, { $id: 'Job' });

/** The Job resource, derived from its schema. */
export type Job = Static<typeof JobSchema>;
export type JobResult = NonNullable<Job['result']>;

/** What a unit leaves behind (stored in Redis and as units/<key>/result.json). */
export interface UnitResult {
  key: string;
  kind: 'eval' | 'final';
  run: number;
  repeat: number;
  fold: number;
  /** primary metric on the held-out rows (eval units) */
  score?: number;
  /** every metric on the held-out rows, Keras names */
  heldOut?: Record<string, number>;
  epochs: number;
  trainRows: number;
  testRows: number;
  durationMs: number;
  backend: string;
  engine: string;
  worker: string;
  instanceId?: string;
  /** the unit continued from a checkpoint written at this epoch (after an interruption or a crash) */
  resumedFromEpoch?: number;
  /** why the engine was chosen */
  engineReason?: string;
  /** training-health findings of this unit */
  warnings?: TrainingWarning[];
}

/** The job's warnings: every unit's, tagged with its unit key, in unit order. */
export function jobWarnings(results: readonly UnitResult[]): TrainingWarning[] {
  return results.flatMap((r) => (r.warnings ?? []).map((w) => ({ code: w.code, message: w.message, unit: r.key })));
}
