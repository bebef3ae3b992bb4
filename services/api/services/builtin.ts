/**
 * Check of `builtin:<generator>?<params>` URIs at submission, with the same parameter
 * table and rules the worker's generators use (services/core/generator-params.ts):
 * names, values, bounds, the rules between parameters and the cell limit. A URI the
 * worker would refuse becomes a 400 naming dataset.uri instead of a failed job, and
 * the table shape is known early enough to check dataset.target.
 */
import type { DatasetSummary } from '../../core/dataset-summary.ts';
import { builtinShape } from '../../core/generator-params.ts';
import { asSubmissionError } from '../../core/errors.ts';

/** Shape of the table a builtin URI names; throws a 400 error naming dataset.uri. */
export function builtinSummary(uri: string): DatasetSummary {
  try {
    const { rows, columns } = builtinShape(uri);
    return { rows, columns };
  } catch (e) {
    throw asSubmissionError(e);
  }
}
