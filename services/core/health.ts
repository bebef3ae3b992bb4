/**
 * Training health: each unit checks its own learning and records plain-language
 * warnings that the Job aggregates. Pure functions over what a unit already has (its
 * loss history, its predictions on the held-out rows, their classes); table-tested.
 *
 * - loss_not_finite: a loss of NaN or Infinity in the history;
 * - loss_flat: the loss moved by less than 1e-4 (relative) over the first 10% of epochs;
 * - constant_class: every held-out row gets the same class;
 * - accuracy_at_class_rate: held-out accuracy equals the majority- or minority-class
 *   rate of those rows (what a model that ignores its inputs scores);
 * - constant_predictions: a regression model's outputs do not vary across rows.
 */

export interface TrainingWarning {
  code: 'loss_not_finite' | 'loss_flat' | 'constant_class' | 'accuracy_at_class_rate' | 'constant_predictions';
  message: string;
  /** the training unit (r0-p0-f1, final); absent on a unit's own list */
  unit?: string;
}

export const FLAT_RELATIVE_CHANGE = 1e-4;
export const FLAT_EPOCH_FRACTION = 0.1;

export interface HealthInput {
  /** loss per epoch, in order */
  losses: readonly number[];
  /** epochs the unit was asked to train */
  epochs: number;
  task: 'regression' | 'binary' | 'multiclass';
  /** held-out predictions, rows x outputs (model outputs: probabilities or values) */
  predictions?: Float32Array;
  outputs?: number;
  /** class index of each held-out row (classification) */
  classes?: ArrayLike<number>;
  /** largest absolute feature value the model was fed (after preprocessing) */
  featureMagnitude?: number;
  /** whether any scaling was applied to the features */
  scaled?: boolean;
}

/** Feature magnitudes above this, unscaled, make the hint say so. */
export const UNSCALED_MAGNITUDE = 10;

function hint(h: HealthInput): string {
  if (!h.scaled && h.featureMagnitude !== undefined && h.featureMagnitude > UNSCALED_MAGNITUDE) {
    return `features are unscaled (values up to ${fmt(h.featureMagnitude)}) — try preprocess.standardize or preprocess.minmax`;
  }
  return 'try a lower learning rate, another initializer or more epochs';
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : String(Number(v.toPrecision(4))));

/** First epochs the flat-loss check looks at: 10% of the epochs, at least 2. */
export function flatWindow(epochs: number): number {
  return Math.max(2, Math.ceil(epochs * FLAT_EPOCH_FRACTION));
}

/** Whether the loss is flat over its first window of epochs (needs the whole window). */
export function lossIsFlat(losses: readonly number[], epochs: number): boolean {
  const w = flatWindow(epochs);
  if (losses.length < w || epochs < 2) return false;
  const first = losses[0];
  let lo = first, hi = first;
  for (let i = 1; i < w; i++) {
    lo = Math.min(lo, losses[i]);
    hi = Math.max(hi, losses[i]);
  }
  return (hi - lo) / Math.max(Math.abs(first), 1e-12) < FLAT_RELATIVE_CHANGE;
}

/** Predicted class of each row: argmax of several outputs, else output > 0.5. */
export function predictedClasses(predictions: Float32Array, rows: number, outputs: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * outputs;
    if (outputs === 1) {
      out[r] = predictions[o] > 0.5 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let c = 1; c < outputs; c++) if (predictions[o + c] > predictions[o + best]) best = c;
    out[r] = best;
  }
  return out;
}

export function trainingHealth(h: HealthInput): TrainingWarning[] {
  const warnings: TrainingWarning[] = [];
  const bad = h.losses.findIndex((l) => !Number.isFinite(l));
  if (bad >= 0) {
    warnings.push({ code: 'loss_not_finite', message: `the loss became ${h.losses[bad]} at epoch ${bad + 1}; ${hint(h)}` });
  } else if (lossIsFlat(h.losses, h.epochs)) {
    const w = flatWindow(h.epochs);
    warnings.push({ code: 'loss_flat', message: `the loss did not move over the first ${w} epochs (${fmt(h.losses[0])} to ${fmt(h.losses[w - 1])}): the model is not learning; ${hint(h)}` });
  }
  const outputs = h.outputs ?? 1;
  const p = h.predictions;
  if (!p || outputs < 1) return warnings;
  const rows = Math.floor(p.length / outputs);
  if (rows < 2) return warnings;
  if (h.task !== 'regression' && h.classes && h.classes.length === rows) {
    const pred = predictedClasses(p, rows, outputs);
    const counts = new Map<number, number>();
    let hits = 0;
    for (let r = 0; r < rows; r++) {
      const c = h.classes[r];
      counts.set(c, (counts.get(c) ?? 0) + 1);
      if (pred[r] === c) hits++;
    }
    const constant = pred.every((c) => c === pred[0]);
    if (constant) {
      warnings.push({ code: 'constant_class', message: `the model predicts the same class (${pred[0]}) for every one of its ${rows} held-out rows; ${hint(h)}` });
      return warnings;
    }
    if (counts.size >= 2) {
      const rates = [...counts.values()].map((n) => n / rows);
      const accuracy = hits / rows;
      const majority = Math.max(...rates), minority = Math.min(...rates);
      const which = accuracy === majority ? 'majority' : accuracy === minority ? 'minority' : undefined;
      if (which) {
        warnings.push({ code: 'accuracy_at_class_rate', message: `held-out accuracy ${fmt(accuracy)} equals the ${which}-class rate of those rows, what a model that ignores its inputs scores; ${hint(h)}` });
      }
    }
    return warnings;
  }
  if (h.task === 'regression') {
    let constant = true;
    for (let c = 0; c < outputs && constant; c++) {
      let lo = p[c], hi = p[c];
      for (let r = 1; r < rows; r++) {
        const v = p[r * outputs + c];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (hi - lo > 1e-6 * Math.max(1, Math.abs(lo), Math.abs(hi))) constant = false;
    }
    if (constant) warnings.push({ code: 'constant_predictions', message: `the model predicts the same value for every one of its ${rows} held-out rows; ${hint(h)}` });
  }
  return warnings;
}
