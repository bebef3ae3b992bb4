/**
 * What the API knows about a data set before training (rows, columns, class counts),
 * written by the CSV summarizers and read by the spec rules that need the data set.
 */

/** What the API knows about a data set before training: enough to reject specs early. */
export interface DatasetSummary {
  rows: number;
  columns: number;
  /** per column: class counts when the column is categorical (or few distinct values) */
  classCounts?: Array<Record<string, number> | null>;
  /** per column: rows whose value is not listed in classCounts (summaries list at most the 50 most frequent values) */
  other?: number[];
}

/** Resolve a possibly negative column index; undefined when out of range. */
export function resolveColumn(index: number, columns: number): number | undefined {
  const c = index < 0 ? columns + index : index;
  return c >= 0 && c < columns ? c : undefined;
}
