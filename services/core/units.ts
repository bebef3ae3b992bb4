/**
 * Fan-out of a job into training units (one BullMQ child job each). Pure.
 * An evaluation unit trains on the training rows of one (run, repeat, fold) and is
 * scored on its held-out rows; the final unit trains on all rows and its model is
 * the one `predict` serves. With evaluation "none" the final unit is the only one.
 */
import type { ResolvedJobSpec } from './job-defaults.ts';

export interface UnitRef {
  kind: 'eval' | 'final';
  run: number;
  repeat: number;
  fold: number;
  /** stable key, safe in ids and S3 keys: "r0-p1-f3" or "final" */
  key: string;
}

export const unitKey = (run: number, repeat: number, fold: number): string => `r${run}-p${repeat}-f${fold}`;

export function planUnits(spec: ResolvedJobSpec): UnitRef[] {
  const out: UnitRef[] = [];
  const e = spec.evaluation;
  if (e.method !== 'none') {
    const folds = e.method === 'kfold' ? e.folds : 1;
    for (let run = 0; run < spec.runs; run++) {
      for (let repeat = 0; repeat < e.repeats; repeat++) {
        for (let fold = 0; fold < folds; fold++) out.push({ kind: 'eval', run, repeat, fold, key: unitKey(run, repeat, fold) });
      }
    }
  }
  if (spec.final.fit || e.method === 'none') out.push({ kind: 'final', run: 0, repeat: 0, fold: 0, key: 'final' });
  return out;
}

/**
 * Seeds, derived deterministically so a rerun (or a resumed unit) sees the same
 * split and the same initial weights.
 *  - split seed: evaluation.seed + repeat (each repeat reshuffles; runs share splits)
 *  - model seed: job seed + 1000 * run + fold (each run draws new initial weights)
 */
export function splitSeed(spec: ResolvedJobSpec, repeat: number): number {
  return (spec.evaluation.seed + 104_729 * repeat) >>> 0;
}

export function modelSeed(spec: ResolvedJobSpec, unit: UnitRef): number {
  if (unit.kind === 'final') return (spec.seed + 7_919) >>> 0;
  return (spec.seed + 1_000 * unit.run + 31 * unit.repeat + unit.fold) >>> 0;
}
