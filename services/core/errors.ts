/**
 * Typed errors with stable codes. The API translates them to HTTP statuses in one
 * place (services/api/errors.ts); workers translate `retryable: false` into BullMQ's
 * UnrecoverableError so a bad spec or data set fails once with a clear message.
 */
export type ErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'idempotency_mismatch'
  | 'unavailable'
  | 'dataset_invalid'
  | 'dataset_not_found'
  | 'target_out_of_range'
  | 'non_numeric_feature'
  | 'ragged_csv'
  | 'spec_invalid'
  | 'training_diverged'
  | 'model_unavailable'
  | 'predict_input_invalid'
  | 'predict_busy'
  | 'budget_exhausted'
  | 'deadline_missed'
  | 'cancelled'
  | 'timeout'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  quota_exceeded: 429,
  idempotency_mismatch: 422,
  unavailable: 503,
  dataset_invalid: 400,
  dataset_not_found: 400,
  target_out_of_range: 400,
  non_numeric_feature: 400,
  ragged_csv: 400,
  spec_invalid: 400,
  training_diverged: 422,
  model_unavailable: 409,
  predict_input_invalid: 400,
  predict_busy: 503,
  budget_exhausted: 402,
  deadline_missed: 409,
  cancelled: 409,
  timeout: 504,
  internal: 500,
};

export class NightshiftError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** JSON path of the offending field, e.g. "/training/epochs" or "dataset.target". */
  readonly field?: string;
  /** Whether retrying the same work could succeed. Bad input never can. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { field?: string; retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'NightshiftError';
    this.code = code;
    this.status = STATUS[code];
    this.field = opts.field;
    this.retryable = opts.retryable ?? false;
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field ? { code: this.code, message: this.message, field: this.field } : { code: this.code, message: this.message };
  }
}

export const validationError = (field: string, message: string): NightshiftError =>
  new NightshiftError('validation_failed', `${field}: ${message}`, { field });

/** A worker-side error about the spec or data set, as the 400 the API answers at submission (same message and field). */
export function asSubmissionError(e: unknown): unknown {
  if (!isNightshiftError(e) || e.status !== 400 || e.code === 'validation_failed') return e;
  return new NightshiftError('validation_failed', e.message, { ...(e.field ? { field: e.field } : {}), cause: e });
}

export const notFound = (what: string, id: string): NightshiftError =>
  new NightshiftError('not_found', `${what} ${id} not found`);

export function isNightshiftError(e: unknown): e is NightshiftError {
  return e instanceof NightshiftError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'NightshiftError');
}

/** Plain-object form that survives IPC and JSON (worker -> store -> API). */
export interface ErrorInfo {
  code: string;
  message: string;
  field?: string;
}

export function toErrorInfo(e: unknown): ErrorInfo {
  if (isNightshiftError(e)) return e.toJSON();
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'internal', message };
}
