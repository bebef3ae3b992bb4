/**
 * Light check of `builtin:<generator>?<params>` URIs at submission: the generator
 * name, the parameter names and that numbers are numbers. The worker generates the
 * data (workers/trainer/ml/generators.ts) and checks the rest; here a typo becomes
 * a 400 naming dataset.uri instead of a failed job, and the table shape is known
 * early enough to check dataset.target.
 */
import { NightshiftError } from '../../core/errors.ts';
import type { DatasetSummary } from '../../core/resolve.ts';

type Kind = 'int' | 'number' | 'bool' | 'numbers';

const COMMON: Record<string, Kind> = { n_samples: 'int', n_features: 'int', shuffle: 'bool', random_state: 'int' };

export const GENERATORS: Record<string, { params: Record<string, Kind>; defaults: Record<string, number>; columns: (p: Record<string, number>) => number }> = {
  make_regression: {
    params: { ...COMMON, n_informative: 'int', n_targets: 'int', bias: 'number', noise: 'number' },
    defaults: { n_samples: 100, n_features: 100, n_targets: 1 },
    columns: (p) => p.n_features + p.n_targets,
  },
  make_classification: {
    params: {
      ...COMMON, n_informative: 'int', n_redundant: 'int', n_repeated: 'int', n_classes: 'int', n_clusters_per_class: 'int',
      weights: 'numbers', flip_y: 'number', class_sep: 'number', hypercube: 'bool', shift: 'number', scale: 'number',
    },
    defaults: { n_samples: 100, n_features: 20 },
    columns: (p) => p.n_features + 1,
  },
};

const invalid = (message: string): NightshiftError => new NightshiftError('validation_failed', `dataset.uri: ${message}`, { field: 'dataset.uri' });

function checkValue(gen: string, name: string, kind: Kind, raw: string): number | undefined {
  if (raw === '' || raw === 'None' || raw === 'null') return undefined;
  if (kind === 'bool') {
    if (!['true', 'false', 'True', 'False', '1', '0'].includes(raw)) throw invalid(`${gen}: parameter ${name} must be true or false, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  if (kind === 'numbers') {
    const xs = raw.replace(/^\[|\]$/g, '').split(',').map((s) => Number(s.trim()));
    if (xs.some((x) => !Number.isFinite(x))) throw invalid(`${gen}: parameter ${name} must be a comma-separated list of numbers, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  const v = Number(raw);
  if (!Number.isFinite(v) || (kind === 'int' && !Number.isInteger(v))) {
    throw invalid(`${gen}: parameter ${name} must be ${kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** Shape of the table a builtin URI names; throws a validation error naming dataset.uri. */
export function builtinSummary(uri: string): DatasetSummary {
  const m = /^builtin:([A-Za-z_][A-Za-z0-9_]*)(?:\?(.*))?$/s.exec(uri);
  if (!m) throw invalid(`malformed builtin URI ${JSON.stringify(uri)}: expected builtin:<generator>?<params>`);
  const gen = Object.hasOwn(GENERATORS, m[1]) ? GENERATORS[m[1]] : undefined;
  if (!gen) throw invalid(`unknown generator ${JSON.stringify(m[1])} (known: ${Object.keys(GENERATORS).join(', ')})`);
  const values: Record<string, number> = { ...gen.defaults };
  for (const [name, raw] of new URLSearchParams(m[2] ?? '')) {
    const kind = Object.hasOwn(gen.params, name) ? gen.params[name] : undefined;
    if (!kind) throw invalid(`${m[1]}: unknown parameter ${JSON.stringify(name)} (known: ${Object.keys(gen.params).join(', ')})`);
    const v = checkValue(m[1], name, kind, raw);
    if (v !== undefined) values[name] = v;
  }
  for (const name of ['n_samples', 'n_features', 'n_targets'] as const) {
    if (values[name] !== undefined && values[name] < 1) throw invalid(`${m[1]}: parameter ${name} must be at least 1, got ${values[name]}`);
  }
  return { rows: values.n_samples, columns: gen.columns(values) };
}
