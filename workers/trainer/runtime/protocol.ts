/**
 * Messages between a worker process and its trainer child. Training runs in the
 * child so the worker's event loop stays free for BullMQ lock renewal, heartbeats,
 * cancellation and interruption notices.
 */
import type { ErrorInfo } from '../../../services/core/errors.ts';
import type { JobSpec } from '../../../services/core/spec.ts';
import type { UnitPayload } from '../../../services/core/catalog.ts';
import type { UnitResult } from '../../../services/core/job.ts';
import type { S3Location } from '../../../services/core/data-sources.ts';

export interface RunUnitMessage {
  type: 'run';
  payload: UnitPayload;
  spec: JobSpec;
  /** S3 key of an uploaded data set (dataset:<id> URIs are resolved by the worker) */
  datasetKey?: string;
  /** the object an s3:// data set names, once the worker checked the job's tenant may read it */
  datasetObject?: S3Location;
  /** whether the uploaded CSV has a header row (as given at upload); the spec's own dataset.header wins */
  datasetHeader?: boolean;
  worker: string;
  instanceId?: string;
  /**
   * false when the unit never ran before (first attempt, never stalled, no epoch
   * reported): no checkpoint can exist, so the child does not look for one
   */
  mayResume?: boolean;
}

export type ParentMessage = RunUnitMessage | { type: 'stop' } | { type: 'checkpoint' };

export type ChildMessage =
  | { type: 'ready'; backend: string }
  | { type: 'epoch'; unit: string; epoch: number; epochs: number; logs: Record<string, number> }
  | { type: 'resumed'; unit: string; epoch: number }
  | { type: 'done'; result: UnitResult }
  | { type: 'interrupted'; unit: string; epoch: number }
  | { type: 'error'; error: ErrorInfo; retryable: boolean };
