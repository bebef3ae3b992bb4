/**
 * Property-based fuzzing of the trainer's parsers (fast-check): generated and
 * mutated CSV files, Keras model JSON, builtin data set URIs and whole data set
 * loads. Each input either parses or is refused with a NightshiftError that names
 * what is wrong (a field, or the CSV line); no TypeError, RangeError or stack
 * overflow escapes. Seeded, so a failure reproduces; the counts are the NUM_RUNS
 * figures below.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNightshiftError } from '../../services/core/errors.ts';
import { resolveJobSpec } from '../../services/core/job-defaults.ts';
import { builtinSummary } from '../../services/api/services/builtin.ts';
import { parseCsv, summarizeTable } from '../../services/platform/csv.ts';
import { loadTable, prepareDataset } from '../../workers/trainer/ml/dataset.ts';
import { generateBuiltin } from '../../workers/trainer/ml/generators.ts';
import { fromKerasJson } from '../../services/core/layers.ts';
import { csvFile, kerasModel, mutate } from '../support/fuzz.ts';

const SEED = 20261128;
export const NUM_RUNS = { csv: 1500, keras: 1500, builtin: 800, load: 400 };

/** The error is ours and says where: a field path ("model.keras.config.layers.0.config.units: ...") or a CSV line. */
function expectNamedRejection(e: unknown): void {
  if (!isNightshiftError(e)) throw new Error(`not a NightshiftError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  const named = !!e.field || /^[A-Za-z0-9_.\[\]-]+: /.test(e.message) || /\b(line|row) \d+/.test(e.message);
  if (!named) throw new Error(`rejection does not name the field or line: ${e.code}: ${e.message}`);
  expect(e.status).toBeGreaterThanOrEqual(400);
  expect(e.status).toBeLessThan(500);
}

function outcome<T>(f: () => T): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    expectNamedRejection(e);
    return { ok: false };
  }
}

describe('fuzz: CSV parser', () => {
  it('parses or names the line for generated and mutated CSV files', () => {
    let parsed = 0;
    fc.assert(
      fc.property(csvFile(), fc.boolean(), (text, header) => {
        const r = outcome(() => summarizeTable(parseCsv(Buffer.from(text, 'utf8'), { header })));
        if (r.ok) {
          parsed++;
          expect(r.value.rows).toBeGreaterThanOrEqual(0);
          expect(Number.isInteger(r.value.columns)).toBe(true);
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS.csv },
    );
    // the generator is meant to produce both kinds: a suite where nothing parses tests little
    expect(parsed).toBeGreaterThan(NUM_RUNS.csv / 10);
    expect(parsed).toBeLessThan(NUM_RUNS.csv);
  });

  it('never throws anything but a named rejection on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.boolean(), (bytes, header) => {
        outcome(() => summarizeTable(parseCsv(bytes, { header })));
      }),
      { seed: SEED, numRuns: NUM_RUNS.csv },
    );
  });
});

describe('fuzz: Keras model JSON', () => {
  it('normalizes or names the field for generated and mutated Keras models', () => {
    let accepted = 0;
    fc.assert(
      fc.property(kerasModel().chain((m) => fc.tuple(fc.constant(m), mutate(m))), fc.integer({ min: 1, max: 64 }), ([, mutated], inputDim) => {
        const r = outcome(() => fromKerasJson(mutated as Record<string, unknown>, inputDim));
        if (r.ok) {
          accepted++;
          expect(r.value.length).toBeGreaterThan(0);
          expect(r.value[r.value.length - 1].type).toBe('dense');
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS.keras },
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it('names the field for arbitrary JSON and very deep nesting', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        outcome(() => fromKerasJson({ class_name: 'Sequential', config: { layers: v } } as Record<string, unknown>));
        outcome(() => fromKerasJson((typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { config: v }) as Record<string, unknown>));
      }),
      { seed: SEED, numRuns: NUM_RUNS.keras },
    );
    let deep: unknown = { class_name: 'Dense', config: { units: 1 } };
    for (let i = 0; i < 100_000; i++) deep = { config: deep };
    outcome(() => fromKerasJson({ class_name: 'Sequential', config: { layers: [deep] } }));
  });
});

describe('fuzz: builtin data set URIs', () => {
  const params = fc.constantFrom('n_samples', 'n_features', 'n_targets', 'n_informative', 'noise', 'bias', 'shuffle', 'random_state', 'weights', 'n_classes', '__proto__', 'constructor', 'toString', 'x');
  const value = fc.oneof(fc.constantFrom('', '0', '-1', '1e400', 'NaN', 'Infinity', '1.5', 'true', 'None', '[0.5,0.5]', '%00', '10'), fc.string({ maxLength: 12 }));
  const uri = fc.oneof(
    fc.tuple(fc.constantFrom('make_regression', 'make_classification', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'make_moons'), fc.array(fc.tuple(params, value), { maxLength: 6 }))
      .map(([g, ps]) => `builtin:${g}?${ps.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`),
    fc.string({ maxLength: 40 }).map((s) => `builtin:${s}`),
  );
  it('summarizes or names dataset.uri, and what submission accepts the worker generates with that shape', () => {
    let generated = 0;
    fc.assert(
      fc.property(uri, (u) => {
        const r = outcome(() => builtinSummary(u));
        if (r.ok) {
          expect(Number.isInteger(r.value.rows) && r.value.rows >= 1).toBe(true);
          expect(Number.isInteger(r.value.columns) && r.value.columns >= 2).toBe(true);
          const t = generateBuiltin(u);
          expect({ rows: t.rows, columns: t.columns }).toEqual({ rows: r.value.rows, columns: r.value.columns });
          generated++;
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS.builtin },
    );
    expect(generated).toBeGreaterThan(0);
  });
});

describe('fuzz: loading a data set for training', () => {
  it('prepares or names the field for generated CSV files and targets', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvFile(),
        fc.array(fc.integer({ min: -6, max: 6 }), { minLength: 1, maxLength: 3 }),
        fc.constantFrom('mse', 'binaryCrossentropy', 'categoricalCrossentropy', 'sparseCategoricalCrossentropy'),
        async (text, target, loss) => {
          const spec = resolveJobSpec({
            dataset: { uri: 'dataset:ds_x', target },
            model: { layers: [{ type: 'dense', units: 1 }] },
            training: { loss: loss as 'mse', epochs: 1 },
          });
          try {
            const table = await loadTable('dataset:ds_x', false, async () => Buffer.from(text));
            prepareDataset(table, spec);
          } catch (e) {
            expectNamedRejection(e);
          }
        },
      ),
      { seed: SEED, numRuns: NUM_RUNS.load },
    );
  });
});
