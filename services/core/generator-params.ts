/**
 * The parameters of the built-in generators (`builtin:<generator>?<params>`), one
 * table per generator with kinds, defaults and bounds, and the rules that need no
 * data: parameter names and values, the cross-parameter rules and the cell limit.
 * The API checks submissions with `builtinShape`; the worker's generators parse their
 * parameters with `parseGeneratorParams`, so both accept exactly the same URIs.
 */
import { NightshiftError } from './errors.ts';

export const GENERATOR_LIMITS = { samples: 1_000_000, features: 10_000, cells: 50_000_000 } as const;

export type ParamKind = 'int' | 'number' | 'bool' | 'numbers';
/** nullable: an explicit None/null is kept as null (instead of the default) */
export type ParamDef = { kind: ParamKind; dflt?: number | boolean; min?: number; max?: number; nullable?: boolean };
export type ParamValue = number | boolean | number[] | null | undefined;

const COMMON: Record<string, ParamDef> = {
  shuffle: { kind: 'bool', dflt: true },
  random_state: { kind: 'int', dflt: 0, min: 0, max: 2 ** 32 - 1 },
};

export const GENERATOR_PARAMS: Record<'make_regression' | 'make_classification', Record<string, ParamDef>> = {
  make_regression: {
    n_samples: { kind: 'int', dflt: 100, min: 1, max: GENERATOR_LIMITS.samples },
    n_features: { kind: 'int', dflt: 100, min: 1, max: GENERATOR_LIMITS.features },
    n_informative: { kind: 'int', dflt: 10, min: 0, max: GENERATOR_LIMITS.features },
    n_targets: { kind: 'int', dflt: 1, min: 1, max: 1024 },
    bias: { kind: 'number', dflt: 0 },
    noise: { kind: 'number', dflt: 0, min: 0 },
    ...COMMON,
  },
  make_classification: {
    n_samples: { kind: 'int', dflt: 100, min: 1, max: GENERATOR_LIMITS.samples },
    n_features: { kind: 'int', dflt: 20, min: 1, max: GENERATOR_LIMITS.features },
    n_informative: { kind: 'int', dflt: 2, min: 1, max: GENERATOR_LIMITS.features },
    n_redundant: { kind: 'int', dflt: 2, min: 0, max: GENERATOR_LIMITS.features },
    n_repeated: { kind: 'int', dflt: 0, min: 0, max: GENERATOR_LIMITS.features },
    n_classes: { kind: 'int', dflt: 2, min: 2, max: 1000 },
    n_clusters_per_class: { kind: 'int', dflt: 2, min: 1, max: 1000 },
    weights: { kind: 'numbers' },
    flip_y: { kind: 'number', dflt: 0.01, min: 0, max: 1 },
    class_sep: { kind: 'number', dflt: 1 },
    hypercube: { kind: 'bool', dflt: true },
    // None draws a random shift / scale per feature, as scikit-learn
    shift: { kind: 'number', dflt: 0, nullable: true },
    scale: { kind: 'number', dflt: 1, nullable: true },
    ...COMMON,
  },
};
export type GeneratorName = keyof typeof GENERATOR_PARAMS;

export const generatorInvalid = (message: string): NightshiftError => new NightshiftError('dataset_invalid', `dataset.uri: ${message}`, { field: 'dataset.uri' });

export function parseGeneratorParams(gen: string, query: URLSearchParams, defs: Record<string, ParamDef>): Record<string, ParamValue> {
  const invalid = generatorInvalid;
  const out: Record<string, ParamValue> = {};
  for (const key of query.keys()) {
    if (!Object.hasOwn(defs, key)) throw invalid(`${gen}: unknown parameter ${JSON.stringify(key)} (known: ${Object.keys(defs).join(', ')})`);
  }
  for (const [name, d] of Object.entries(defs)) {
    const raw = query.get(name);
    if (raw === null || raw === '' || raw === 'None' || raw === 'null') {
      out[name] = d.nullable && raw !== null && raw !== '' ? null : d.dflt;
      continue;
    }
    if (d.kind === 'bool') {
      if (!['true', 'false', 'True', 'False', '1', '0'].includes(raw)) throw invalid(`${gen}: parameter ${name} must be true or false, got ${JSON.stringify(raw)}`);
      out[name] = raw === 'true' || raw === 'True' || raw === '1';
      continue;
    }
    if (d.kind === 'numbers') {
      const xs = raw.replace(/^\[|\]$/g, '').split(',').map((s) => Number(s.trim()));
      if (xs.some((x) => !Number.isFinite(x) || x < 0)) throw invalid(`${gen}: parameter ${name} must be a comma-separated list of non-negative numbers, got ${JSON.stringify(raw)}`);
      out[name] = xs;
      continue;
    }
    const v = Number(raw);
    if (!Number.isFinite(v) || (d.kind === 'int' && !Number.isInteger(v))) {
      throw invalid(`${gen}: parameter ${name} must be ${d.kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
    }
    if ((d.min !== undefined && v < d.min) || (d.max !== undefined && v > d.max)) {
      throw invalid(`${gen}: parameter ${name} must be in [${d.min ?? '-inf'}, ${d.max ?? 'inf'}], got ${v}`);
    }
    out[name] = v;
  }
  return out;
}

export function checkCells(gen: string, samples: number, columns: number): void {
  if (samples * columns > GENERATOR_LIMITS.cells) {
    throw generatorInvalid(`${gen}: n_samples x columns = ${samples * columns} cells, over the limit of ${GENERATOR_LIMITS.cells}`);
  }
}

/** make_classification's rules between parameters (scikit-learn raises the same). */
export function checkClassificationParams(p: Record<string, ParamValue>): void {
  const g = 'make_classification';
  const f = p.n_features as number, inf = p.n_informative as number, red = p.n_redundant as number, rep = p.n_repeated as number;
  const classes = p.n_classes as number, cpc = p.n_clusters_per_class as number;
  if (inf + red + rep > f) throw generatorInvalid(`${g}: n_informative + n_redundant + n_repeated (${inf + red + rep}) must be at most n_features (${f})`);
  if (Math.log2(classes * cpc) > inf) {
    throw generatorInvalid(`${g}: n_classes (${classes}) * n_clusters_per_class (${cpc}) must be at most 2**n_informative (${2 ** Math.min(inf, 52)})`);
  }
  const w = p.weights as number[] | undefined;
  if (w && w.length !== classes && w.length !== classes - 1) throw generatorInvalid(`${g}: parameter weights must have n_classes or n_classes - 1 entries, got ${w.length}`);
}

export interface BuiltinUri {
  generator: GeneratorName;
  query: URLSearchParams;
}

export function parseBuiltinUri(uri: string): BuiltinUri {
  const m = /^builtin:([A-Za-z_][A-Za-z0-9_]*)(?:\?(.*))?$/s.exec(uri);
  if (!m) throw generatorInvalid(`malformed builtin URI ${JSON.stringify(uri)}: expected builtin:<generator>?<params>`);
  if (!Object.prototype.hasOwnProperty.call(GENERATOR_PARAMS, m[1])) {
    throw generatorInvalid(`unknown generator ${JSON.stringify(m[1])} (known: ${Object.keys(GENERATOR_PARAMS).join(', ')})`);
  }
  return { generator: m[1] as GeneratorName, query: new URLSearchParams(m[2] ?? '') };
}

/** Table shape of a builtin URI (every rule the generator applies before drawing): rows, columns and target columns (the last ones). */
export function builtinShape(uri: string): { rows: number; columns: number; targets: number } {
  const { generator, query } = parseBuiltinUri(uri);
  const p = parseGeneratorParams(generator, query, GENERATOR_PARAMS[generator]);
  const rows = p.n_samples as number;
  const features = p.n_features as number;
  const targets = generator === 'make_regression' ? (p.n_targets as number) : 1;
  if (generator === 'make_classification') checkClassificationParams(p);
  checkCells(generator, rows, features + targets);
  return { rows, columns: features + targets, targets };
}

/**
 * Default dataset.target of a data set URI: the generator's target columns for a
 * builtin (make_regression with n_targets=3 -> [-3, -2, -1]), else the last column.
 * A malformed builtin URI gets [-1] here and its error from builtinShape.
 */
export function defaultTarget(uri: string): number[] {
  if (!uri.startsWith('builtin:')) return [-1];
  try {
    const { targets } = builtinShape(uri);
    return Array.from({ length: targets }, (_, i) => i - targets);
  } catch {
    return [-1];
  }
}
