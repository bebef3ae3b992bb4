/**
 * The one job catalog: every queue, its job names, payload schema and retry policy.
 * The API, the provisioner and the workers import it; a worker parses job.data with
 * `parsePayload` before trusting it.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { NightshiftError } from './errors.ts';

export const QUEUES = {
  /** one job per training unit (fold x repeat x run, and the final fit) */
  units: 'units',
  /** one parent job per JobSpec: aggregates when all units are done */
  jobs: 'jobs',
} as const;

export const UnitPayload = Type.Object({
  jobId: Type.String(),
  tenant: Type.String(),
  unit: Type.Object({
    kind: Type.Union([Type.Literal('eval'), Type.Literal('final')]),
    run: Type.Integer({ minimum: 0 }),
    repeat: Type.Integer({ minimum: 0 }),
    fold: Type.Integer({ minimum: 0 }),
    key: Type.String(),
  }),
  /** resource class the unit needs (provisioner groups pending units by it) */
  resourceClass: Type.String(),
});
export type UnitPayload = Static<typeof UnitPayload>;

export const AggregatePayload = Type.Object({ jobId: Type.String(), tenant: Type.String() });
export type AggregatePayload = Static<typeof AggregatePayload>;

export const CATALOG = {
  unit: { queue: QUEUES.units, name: 'train-unit', schema: UnitPayload, backoff: { type: 'exponential' as const, delay: 2_000 } },
  aggregate: { queue: QUEUES.jobs, name: 'aggregate', schema: AggregatePayload, attempts: 5, backoff: { type: 'exponential' as const, delay: 1_000 } },
} as const;

/** BullMQ job ids: no ':' allowed in custom ids. */
export const unitJobId = (jobId: string, unitKey: string): string => `${jobId}.${unitKey}`;
export const parentJobId = (jobId: string): string => jobId;

export function parsePayload<T extends TSchema>(schema: T, data: unknown): Static<T> {
  if (!Value.Check(schema, data)) {
    const first = [...Value.Errors(schema, data)][0];
    throw new NightshiftError('bad_request', `malformed queue payload at ${first?.path || '/'}: ${first?.message ?? 'invalid'}`);
  }
  return data as Static<T>;
}
