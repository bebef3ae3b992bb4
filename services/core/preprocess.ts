/**
 * Feature preprocessing: per feature column, nothing, standardization ((x - mean) / std)
 * or min-max scaling to [0, 1] ((x - min) / (max - min)), as scikit-learn's
 * StandardScaler and MinMaxScaler. `preprocess.standardize` / `preprocess.minmax` set
 * the default for every feature; `preprocess.columns` chooses per column (keys are
 * the data set's column indices, negative from the end, like dataset.target).
 * Statistics are fitted on a unit's training rows only and stored with the model
 * (ModelMeta.scaling), so predict applies exactly the same transform. Pure.
 */

export const SCALE_KINDS = ['none', 'standardize', 'minmax'] as const;
export type ScaleKind = (typeof SCALE_KINDS)[number];

export interface PreprocessSpec {
  standardize: boolean;
  minmax: boolean;
  columns: Record<string, ScaleKind>;
}

/** x' = (x - offset[j]) / scale[j] per feature j (scale 1, offset 0 for 'none'). */
export interface Scaling {
  kinds: ScaleKind[];
  offset: number[];
  scale: number[];
}

export const anyScaling = (p: PreprocessSpec): boolean => p.standardize || p.minmax || Object.values(p.columns).some((k) => k !== 'none');

/**
 * Kind of each feature, in feature order. `featureColumns[j]` is feature j's column
 * index in the data set of `columns` columns. Throws on a key that names no feature
 * (the message names preprocess.columns.<key>).
 */
export function scalingPlan(p: PreprocessSpec, featureColumns: readonly number[], columns: number): ScaleKind[] {
  const dflt: ScaleKind = p.standardize ? 'standardize' : p.minmax ? 'minmax' : 'none';
  const kinds: ScaleKind[] = featureColumns.map(() => dflt);
  const position = new Map(featureColumns.map((c, j) => [c, j]));
  for (const [key, kind] of Object.entries(p.columns)) {
    const i = Number(key);
    const c = i < 0 ? columns + i : i;
    const ok = c >= 0 && c < columns;
    const j = ok ? position.get(c) : undefined;
    if (j === undefined) {
      throw new PreprocessColumnError(key, !ok ? `column ${key} is out of range: the data set has ${columns} columns` : `column ${key} is a target column, not a feature`);
    }
    kinds[j] = kind;
  }
  return kinds;
}

export class PreprocessColumnError extends Error {
  constructor(readonly key: string, readonly reason: string) {
    super(`preprocess.columns.${key}: ${reason}`);
    this.name = 'PreprocessColumnError';
  }
}

/** Fit the statistics of `kinds` over rows `indices` of a row-major rows x cols matrix. */
export function fitScaling(x: Float32Array, cols: number, indices: ArrayLike<number>, kinds: readonly ScaleKind[]): Scaling {
  const n = indices.length;
  const offset = new Array<number>(cols).fill(0);
  const scale = new Array<number>(cols).fill(1);
  for (let j = 0; j < cols; j++) {
    const kind = kinds[j];
    if (kind === 'none' || n === 0) continue;
    if (kind === 'standardize') {
      let mean = 0;
      for (let k = 0; k < n; k++) mean += x[indices[k] * cols + j];
      mean /= n;
      let m2 = 0;
      for (let k = 0; k < n; k++) { const d = x[indices[k] * cols + j] - mean; m2 += d * d; }
      const std = Math.sqrt(m2 / n);
      offset[j] = mean;
      scale[j] = std > 0 && Number.isFinite(std) ? std : 1;
    } else {
      let lo = Infinity, hi = -Infinity;
      for (let k = 0; k < n; k++) { const v = x[indices[k] * cols + j]; if (v < lo) lo = v; if (v > hi) hi = v; }
      offset[j] = lo;
      scale[j] = hi - lo > 0 ? hi - lo : 1;
    }
  }
  return { kinds: [...kinds], offset, scale };
}

/** Apply a fitted scaling to every row; returns a new array. */
export function applyScaling(x: Float32Array, cols: number, s: Scaling): Float32Array {
  const out = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += cols) for (let j = 0; j < cols; j++) out[o + j] = (x[o + j] - s.offset[j]) / s.scale[j];
  return out;
}

/** One row, for predict. */
export function scaleRow(row: readonly number[], s: Scaling): number[] {
  return row.map((v, j) => (v - s.offset[j]) / s.scale[j]);
}

/** Largest absolute value of a matrix (how unscaled the features the model sees are). */
export function maxAbs(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) { const v = Math.abs(x[i]); if (v > m) m = v; }
  return m;
}
