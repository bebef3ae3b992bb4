/**
 * Schemas of the API's own resources (JobSpec and Job live in services/core).
 * They drive validation, response serialization and the OpenAPI document.
 */
import { DatasetViewSchema } from '../core/views.ts';
import { Type, type TSchema } from '@sinclair/typebox';
import { JOB_STATUSES, JobSchema, PlacementSchema } from '../core/job.ts';
import { ErrorSchema } from './errors.ts';
import { PREDICT_MAX_ROWS } from './services/predict.ts';

export { ErrorSchema, JobSchema };

export const ErrorRef = Type.Ref(ErrorSchema);
export const JobRef = Type.Ref(JobSchema);

/** Error answers a route declares: errorResponses(400, 404) -> {400: Error, 401: Error, 404: Error, 500: Error}. */
export function errorResponses(...codes: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const c of [...codes, 401, 500]) out[c] = ErrorRef;
  return out;
}

export const JobIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'job id' }),
});

export const DatasetName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' });

export const DatasetQuery = Type.Object({
  name: Type.Optional({ ...DatasetName, description: 'name to refer to the upload by (dataset:<name>); the newest upload wins' }),
  header: Type.Optional(Type.Boolean({ default: false, description: 'the first line is a header row' })),
}, { additionalProperties: false });

/** Mutating routes without query parameters: any parameter is refused (a misspelt flag never silently does nothing). */
export const NoQuery = Type.Object({}, { additionalProperties: false });

export const DatasetParams = Type.Object({ id: { ...DatasetName, description: 'data set id or name' } });

export const DatasetCreated = DatasetViewSchema;

export const JobAccepted = Type.Object({ id: Type.String(), status: Type.String() });

export const DryRunAnswer = Type.Object({
  valid: Type.Literal(true),
  unitsTotal: Type.Integer({ description: 'training units (folds x repeats x runs, + the final fit)' }),
  resolved: Type.Object({}, { additionalProperties: true, description: 'the spec with every default filled in' }),
  estimate: Type.Optional(Type.Object({
    units: Type.Integer(),
    unitSeconds: Type.Number({ description: 'projected seconds per unit' }),
    basis: Type.String({ description: 'how unitSeconds was found' }),
    instanceType: Type.String(),
    hourlyOnDemandUsd: Type.Number(),
    onDemandUsd: Type.Number({ description: 'projected cost on on-demand instances' }),
    hourlySpotUsd: Type.Union([Type.Number(), Type.Null()]),
    spotUsd: Type.Union([Type.Number(), Type.Null()], { description: 'projected cost at the last spot price paid for the type (null: none on record)' }),
  })),
  compute: Type.Optional(Type.Object({
    parameters: Type.Number(),
    rows: Type.Number(),
    epochs: Type.Number(),
    units: Type.Number(),
    total: Type.Number({ description: 'parameters x rows x epochs x units; refused above NIGHTSHIFT_MAX_JOB_COMPUTE' }),
  }, { description: 'compute estimate, when the data set shape is known at submission' })),
  placement: Type.Optional(PlacementSchema),
});

export const SubmitQuery = Type.Object({
  dryRun: Type.Optional(Type.Boolean({ default: false, description: 'only validate and count the training units' })),
}, { additionalProperties: false });

export const ListQuery = Type.Object({
  status: Type.Optional(Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)))),
  batch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'nextCursor of the previous page' })),
});

export const JobList = Type.Object({
  items: Type.Array(JobRef),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

const UnitHistory = Type.Object({
  key: Type.String(),
  kind: Type.String(),
  run: Type.Integer(),
  repeat: Type.Integer(),
  fold: Type.Integer(),
  epochs: Type.Array(Type.Record(Type.String(), Type.Number()), { description: '{epoch, loss, val_loss?, <metric>...} per epoch' }),
});

export const HistoryAnswer = Type.Object({
  units: Type.Array(UnitHistory),
  final: Type.Optional(UnitHistory),
});

export const ArtifactParams = Type.Object({
  id: JobIdParams.properties.id,
  '*': Type.String({ minLength: 1, maxLength: 256, description: 'artifact name: history.json, summary.json, spec.json, model.json, weights.bin, meta.json, units/<unit>/history.json' }),
});

export const ArtifactQuery = Type.Object({
  redirect: Type.Optional(Type.Boolean({ default: false, description: 'answer 302 to a presigned URL instead of the file' })),
});

export const PredictBody = Type.Object({
  rows: Type.Array(Type.Array(Type.Number(), { minItems: 1, maxItems: 100_000 }), { minItems: 1, maxItems: PREDICT_MAX_ROWS }),
}, { additionalProperties: false });

export const PredictAnswer = Type.Object({
  predictions: Type.Array(Type.Array(Type.Number())),
  labels: Type.Optional(Type.Array(Type.String())),
});

export const HealthAnswer = Type.Object({
  ok: Type.Boolean(),
  redis: Type.Optional(Type.Boolean()),
  s3: Type.Optional(Type.Boolean()),
  /** resource classes that cannot launch now: backing off after failures, or blocked (no image, a quota, permissions) */
  fleet: Type.Optional(Type.Object({
    holds: Type.Array(Type.Object({ resourceClass: Type.String(), reason: Type.String(), message: Type.String(), blocked: Type.Boolean(), until: Type.String() })),
  })),
});
