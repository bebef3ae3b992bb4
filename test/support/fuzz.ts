/**
 * fast-check arbitraries for the fuzz suites: CSV files, Keras model JSON, JobSpecs,
 * and a structural mutator that takes a valid document and breaks it the way hostile
 * or careless callers do (wrong types, extreme numbers, deleted and unknown fields,
 * prototype keys, deep nesting).
 */
import fc from 'fast-check';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values that have broken parsers before: extremes, wrong types, prototype names, huge and deep things. */
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null, true, false, 0, -0, -1, 1, 1.5, -1e308, 1e308, 2 ** 53 + 1, 1e-320, '', ' ', '0', '1', '-1', 'NaN', 'Infinity', 'null',
    '__proto__', 'constructor', 'toString', 'prototype', 'hasOwnProperty', 'valueOf', '../../etc/passwd', 's3://other-bucket/x.csv',
    'dataset:', 'builtin:', '\u0000', '\ud800', 'x'.repeat(5000), [], {}, [null], JSON.parse('{"__proto__": null}') as Json, [[[[[[[[[[]]]]]]]]]],
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 40 }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'type', 'units', 'config', 'class_name', '$ref', '0'),
  fc.string({ maxLength: 12 }),
);

/** Every path to a value inside a document (the root is []). */
export function paths(v: unknown, at: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths((v as Record<string, unknown>)[k], [...at, k], out);
  return out;
}

/** Sets an own property, including "__proto__" (as JSON.parse would, not as an assignment would). */
function setOwn(o: Record<string, unknown> | unknown[], k: string | number, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

type Op = { kind: 'replace'; value: Json } | { kind: 'delete' } | { kind: 'add'; key: string; value: Json } | { kind: 'wrap' } | { kind: 'nest'; depth: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: hostileValue.map((value): Op => ({ kind: 'replace', value })) },
  { weight: 2, arbitrary: fc.constant<Op>({ kind: 'delete' }) },
  { weight: 2, arbitrary: fc.tuple(hostileKey, hostileValue).map(([key, value]): Op => ({ kind: 'add', key, value })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'wrap' }) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 400 }).map((depth): Op => ({ kind: 'nest', depth })) },
);

function apply(doc: unknown, path: Array<string | number>, o: Op): unknown {
  const copy = JSON.parse(JSON.stringify(doc)) as unknown;
  if (path.length === 0) {
    if (o.kind === 'replace') return o.value;
    if (o.kind === 'wrap') return [copy];
    if (o.kind === 'add' && copy && typeof copy === 'object' && !Array.isArray(copy)) setOwn(copy as Record<string, unknown>, o.key, o.value);
    return copy;
  }
  let parent = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  const cur = parent[last];
  switch (o.kind) {
    case 'replace':
      setOwn(parent, last, o.value);
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      break;
    case 'add':
      if (cur && typeof cur === 'object' && !Array.isArray(cur)) setOwn(cur as Record<string, unknown>, o.key, o.value);
      else if (Array.isArray(cur)) cur.push(o.value);
      else setOwn(parent, last, o.value);
      break;
    case 'wrap':
      setOwn(parent, last, [cur]);
      break;
    case 'nest': {
      let deep: unknown = cur;
      for (let i = 0; i < o.depth; i++) deep = i % 2 ? [deep] : { config: deep };
      setOwn(parent, last, deep);
      break;
    }
  }
  return copy;
}

/** One to three random mutations of a document (each at a path that exists when it is applied). */
export function mutate(doc: unknown): fc.Arbitrary<unknown> {
  return fc.array(fc.tuple(fc.nat(), op), { minLength: 1, maxLength: 3 }).map((steps) => {
    let d = doc;
    for (const [i, o] of steps) {
      const ps = paths(d);
      d = apply(d, ps[i % ps.length], o);
    }
    return d;
  });
}

// ---- CSV ------------------------------------------------------------------------

const numberCell = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map(String),
  fc.constantFrom('1e308', '-1e400', '0.000000000000000000001', '12345678901234567890', '+3', '.5', '5.', '1e', '--1', '0x10', 'NaN', 'Infinity'),
);
const textCell = fc.oneof(
  fc.constantFrom('a', 'b', 'cat', '-1', "'1'", "'-1'", '', ' ', 'null', '__proto__', 'constructor', 'toString'),
  fc.string({ maxLength: 8 }).filter((s) => !/[,\r\n"']/.test(s)),
  fc.string({ maxLength: 8 }).map((s) => `"${s.replace(/"/g, '""')}"`),
  fc.constantFrom('"a,b"', '"line\nbreak"', '"unterminated', "'x", 'a"b', '"a""b"'),
);

/** A CSV file: mostly well-formed rows (numeric, with or without a label column), then damaged at random. */
export function csvFile(): fc.Arbitrary<string> {
  const clean = fc
    .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 30 }), fc.boolean(), fc.constantFrom('\n', '\r\n'))
    .chain(([cols, rows, labelled, eol]) =>
      fc.array(fc.tuple(fc.array(numberCell, { minLength: cols, maxLength: cols }), fc.constantFrom('0', '1', 'a', 'b', "'-1'")), { minLength: rows, maxLength: rows })
        .map((rs) => rs.map(([cells, label]) => (labelled ? [...cells, label] : cells).join(',')).join(eol) + (rows ? eol : '')),
    );
  const damage = fc.oneof(
    fc.constant((s: string) => s),
    fc.tuple(fc.nat(), fc.oneof(textCell, fc.constantFrom(',', '\n', '\r', '"', "'", '\ufeff', '\u0000', ',,,,'))).map(([at, ins]) => (s: string) => s.slice(0, at % (s.length + 1)) + ins + s.slice(at % (s.length + 1))),
    fc.nat().map((at) => (s: string) => s.slice(0, at % (s.length + 1))),
    fc.constant((s: string) => `\ufeff${s}`),
    fc.constant((s: string) => s.replace(/\n/g, '\n\n')),
  );
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(clean, fc.array(damage, { maxLength: 3 })).map(([s, ds]) => ds.reduce((acc, d) => d(acc), s)) },
    { weight: 1, arbitrary: fc.array(fc.array(fc.oneof(numberCell, textCell), { minLength: 1, maxLength: 5 }), { maxLength: 12 }).map((rs) => rs.map((r) => r.join(',')).join('\n')) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  );
}

// ---- Keras ----------------------------------------------------------------------

const kerasDense = fc.record({
  class_name: fc.constant('Dense'),
  config: fc.record({
    units: fc.integer({ min: 1, max: 64 }),
    activation: fc.constantFrom('relu', 'sigmoid', 'linear', 'softmax', 'tanh'),
    use_bias: fc.boolean(),
    kernel_initializer: fc.oneof(fc.constantFrom('glorot_uniform', 'he_normal'), fc.constant({ class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'normal' } })),
    kernel_constraint: fc.constantFrom(null, { class_name: 'MaxNorm', config: { max_value: 3, axis: 0 } }),
  }),
});
const kerasDropout = fc.record({ class_name: fc.constant('Dropout'), config: fc.record({ rate: fc.double({ min: 0, max: 0.9, noNaN: true }) }) });

/** A valid Keras Sequential model.to_json() (Keras 2 layout, input layer first). */
export function kerasModel(): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(fc.integer({ min: 1, max: 64 }), fc.array(fc.oneof(kerasDense, kerasDropout), { maxLength: 5 }), kerasDense)
    .map(([inputs, hidden, out]) => ({
      class_name: 'Sequential',
      config: { name: 'sequential', layers: [{ class_name: 'InputLayer', config: { batch_input_shape: [null, inputs] } }, ...hidden, out] },
      keras_version: '2.15.0',
      backend: 'tensorflow',
    }));
}
