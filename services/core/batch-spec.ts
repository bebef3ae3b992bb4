/**
 * BatchSpec: a base JobSpec and how to vary it (a grid, random samples, or an
 * explicit list of jobs / merge patches), a schedule, a budget and a priority.
 * Expansion is pure: spec in, JobSpecs out, each with the parameters that differ
 * from the base. Every problem is reported with the path at fault
 * ("grid.model.layers.0.units[1]: must be >= 1").
 */
import { Type, type Static } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { validationError } from './errors.ts';
import { createRng } from './rng.ts';
import { JobSpecSchema, type JobSpec } from './spec.ts';

export const BATCH_LIMITS = {
  jobs: 1_000,
  /** training units of all the batch's jobs together */
  units: 20_000,
  gridPaths: 16,
  gridValues: 1_000,
} as const;

const Strict = { additionalProperties: false } as const;
const GridValue = Type.Union([Type.Number(), Type.String(), Type.Boolean(), Type.Null(), Type.Array(Type.Unknown()), Type.Object({})]);
const Range = Type.Tuple([Type.Number(), Type.Number()]);
const Distribution = Type.Union([
  Type.Object({ uniform: Range }, Strict),
  Type.Object({ logUniform: Range }, Strict),
  Type.Object({ int: Range }, Strict),
  Type.Object({ choice: Type.Array(GridValue, { minItems: 1, maxItems: BATCH_LIMITS.gridValues }) }, Strict),
]);

export const DailyWindowSchema = Type.Object({
  start: Type.String({ description: 'HH:MM, 24-hour wall clock' }),
  end: Type.String({ description: 'HH:MM; not after start = the window spans midnight' }),
  timezone: Type.String({ description: 'IANA time zone, e.g. Europe/Berlin' }),
}, Strict);

export const BatchSpecSchema = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 96 })),
  base: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'JobSpec every job starts from' })),
  grid: Type.Optional(Type.Record(Type.String(), Type.Array(GridValue, { maxItems: BATCH_LIMITS.gridValues }), { description: 'dotted JobSpec path -> values; the jobs are the cartesian product' })),
  random: Type.Optional(Type.Object({
    count: Type.Integer({ minimum: 1, maximum: BATCH_LIMITS.jobs }),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
    space: Type.Record(Type.String(), Distribution),
  }, Strict)),
  jobs: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }), { minItems: 1, maxItems: BATCH_LIMITS.jobs, description: 'JobSpecs, or JSON merge patches onto base when base is given' })),
  schedule: Type.Optional(Type.Object({
    notBefore: Type.Optional(Type.String({ description: 'ISO 8601 time with zone' })),
    deadline: Type.Optional(Type.String({ description: 'ISO 8601 time with zone: units not started by then are cancelled' })),
    window: Type.Optional(DailyWindowSchema),
  }, Strict)),
  budgetUsd: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e6 })),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  resources: Type.Optional(JobSpecSchema.properties.resources),
}, { ...Strict, $id: 'BatchSpec' });

export type BatchSpec = Static<typeof BatchSpecSchema>;

export interface ExpandedJob {
  spec: JobSpec;
  /** dotted path -> value, where this job differs from the base */
  params: Record<string, unknown>;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Record<string, unknown> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Leaves of an object as dotted paths (arrays are leaves). */
export function flatten(v: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = v;
  return out;
}

/** Leaves where `b` differs from `a`. */
export function diffLeaves(a: unknown, b: unknown): Record<string, unknown> {
  const fa = flatten(a);
  const fb = flatten(b);
  const out: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(fa), ...Object.keys(fb)])) {
    if (JSON.stringify(fa[k]) !== JSON.stringify(fb[k])) out[k] = fb[k] ?? null;
  }
  return out;
}

type SchemaNode = { type?: string; properties?: Record<string, SchemaNode>; items?: SchemaNode; anyOf?: SchemaNode[]; additionalProperties?: unknown };

/** Whether a dotted path names a field the JobSpec schema has (array indices included). */
export function schemaHasPath(path: string, schema: SchemaNode = JobSpecSchema as unknown as SchemaNode): boolean {
  const parts = path.split('.');
  let nodes: SchemaNode[] = [schema];
  for (const part of parts) {
    if (part === '') return false;
    const next: SchemaNode[] = [];
    const expand = (n: SchemaNode): SchemaNode[] => (n.anyOf ? n.anyOf.flatMap(expand) : [n]);
    for (const n of nodes.flatMap(expand)) {
      if (n.type === 'array' && /^\d+$/.test(part) && n.items) next.push(n.items);
      else if (n.type === 'object' && n.properties?.[part]) next.push(n.properties[part]);
      else if (n.type === 'object' && n.additionalProperties === true) next.push({ type: 'object', additionalProperties: true }); // model.keras: free-form
    }
    if (next.length === 0) return false;
    nodes = next;
  }
  return true;
}

/** Sets a dotted path in a (cloned) spec; array elements must already exist. Returns an error message or undefined. */
function setPath(root: Record<string, unknown>, path: string, value: unknown): string | undefined {
  const parts = path.split('.');
  let cur: unknown = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i];
    if (Array.isArray(cur)) {
      const idx = Number(p);
      if (!(idx < cur.length)) return `${parts.slice(0, i + 1).join('.')} does not exist in base (it has ${cur.length} elements)`;
      cur = cur[idx];
    } else if (isObj(cur)) {
      if (cur[p] === undefined) cur[p] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      cur = cur[p];
    } else return `${parts.slice(0, i).join('.')} is not an object in base`;
  }
  const last = parts[parts.length - 1];
  if (Array.isArray(cur)) {
    const idx = Number(last);
    if (!(idx < cur.length)) return `${path} does not exist in base (it has ${cur.length} elements)`;
    cur[idx] = clone(value);
  } else if (isObj(cur)) cur[last] = clone(value);
  else return `${parts.slice(0, -1).join('.')} is not an object in base`;
  return undefined;
}

function sample(d: Static<typeof Distribution>, rng: ReturnType<typeof createRng>): unknown {
  if ('uniform' in d) return d.uniform[0] + rng.next() * (d.uniform[1] - d.uniform[0]);
  if ('logUniform' in d) return Math.exp(Math.log(d.logUniform[0]) + rng.next() * (Math.log(d.logUniform[1]) - Math.log(d.logUniform[0])));
  if ('int' in d) return d.int[0] + rng.int(d.int[1] - d.int[0] + 1);
  return clone(d.choice[rng.int(d.choice.length)]);
}

const ajv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false });
let jobSpecValidator: ValidateFunction | undefined;
/** A JobSpec schema problem as a dotted path and a message; undefined when the spec is valid. */
export type JobSpecCheck = (spec: unknown) => { path: string; message: string } | undefined;

function checkJobSchema(spec: unknown): { path: string; message: string } | undefined {
  jobSpecValidator ??= ajv.compile(JobSpecSchema);
  if (jobSpecValidator(spec)) return undefined;
  const e = jobSpecValidator.errors![0];
  const parts = e.instancePath.split('/').slice(1);
  const p = e.params as { missingProperty?: string; additionalProperty?: string };
  if (e.keyword === 'required' && p.missingProperty) parts.push(p.missingProperty);
  if (e.keyword === 'additionalProperties' && p.additionalProperty) parts.push(p.additionalProperty);
  const message = e.keyword === 'required' ? 'is required' : e.keyword === 'additionalProperties' ? 'unknown field' : e.message ?? 'is invalid';
  return { path: parts.join('.'), message };
}

/** Short label of a value for job names: 0.001, relu, [..]. */
const label = (v: unknown): string => (typeof v === 'number' ? String(Math.round(v * 1e6) / 1e6) : typeof v === 'string' ? v : JSON.stringify(v));

function jobName(batch: string, params: Record<string, unknown>, i: number): string {
  const parts = Object.entries(params).filter(([k]) => k !== 'name').map(([k, v]) => `${k.split('.').pop()}=${label(v)}`);
  const name = parts.length ? `${batch} ${parts.join(' ')}` : `${batch} #${i + 1}`;
  return name.length <= 128 ? name : `${name.slice(0, 120)} #${i + 1}`;
}

/**
 * The batch's jobs. Throws a validation error naming the path for an empty or
 * missing variation, a grid path the JobSpec does not have, a value the JobSpec
 * schema refuses, or more jobs than the limit.
 */
export function expandBatch(b: BatchSpec, check: JobSpecCheck = checkJobSchema): ExpandedJob[] {
  const forms = (['grid', 'random', 'jobs'] as const).filter((f) => b[f] !== undefined);
  if (forms.length === 0) throw validationError('grid', 'give one of grid, random or jobs');
  if (forms.length > 1) throw validationError(forms[1], `give only one of grid, random or jobs (also got ${forms[0]})`);
  const batchName = b.name ?? 'batch';
  const base = (b.base ?? {}) as Record<string, unknown>;
  const variations: Array<{ spec: Record<string, unknown>; params: Record<string, unknown>; where: (path: string) => string }> = [];

  if (b.grid) {
    const paths = Object.keys(b.grid);
    if (paths.length === 0) throw validationError('grid', 'is empty: name at least one path with values');
    if (paths.length > BATCH_LIMITS.gridPaths) throw validationError('grid', `has ${paths.length} paths, over the limit of ${BATCH_LIMITS.gridPaths}`);
    let total = 1;
    for (const p of paths) {
      if (!schemaHasPath(p)) throw validationError(`grid.${p}`, 'is not a JobSpec field');
      if (b.grid[p].length === 0) throw validationError(`grid.${p}`, 'has no values');
      total *= b.grid[p].length;
      if (total > BATCH_LIMITS.jobs) throw validationError('grid', `makes more than ${BATCH_LIMITS.jobs} jobs (the limit of a batch)`);
    }
    const idx = paths.map(() => 0);
    for (let n = 0; n < total; n++) {
      const spec = clone(base);
      const params: Record<string, unknown> = {};
      paths.forEach((p, j) => {
        const v = b.grid![p][idx[j]];
        const err = setPath(spec, p, v);
        if (err) throw validationError(`grid.${p}`, err);
        params[p] = v;
      });
      const at = [...idx];
      variations.push({ spec, params, where: (path) => {
        const j = paths.indexOf(path);
        return j >= 0 ? `grid.${path}[${at[j]}]` : `base.${path}`;
      } });
      for (let j = paths.length - 1; j >= 0; j--) {
        if (++idx[j] < b.grid[paths[j]].length) break;
        idx[j] = 0;
      }
    }
  } else if (b.random) {
    const paths = Object.keys(b.random.space);
    if (paths.length === 0) throw validationError('random.space', 'is empty: name at least one path to sample');
    for (const p of paths) {
      if (!schemaHasPath(p)) throw validationError(`random.space.${p}`, 'is not a JobSpec field');
      const d = b.random.space[p];
      const range = 'uniform' in d ? d.uniform : 'logUniform' in d ? d.logUniform : 'int' in d ? d.int : undefined;
      if (range && !(range[0] <= range[1])) throw validationError(`random.space.${p}`, `range [${range[0]}, ${range[1]}] is empty`);
      if ('logUniform' in d && !(d.logUniform[0] > 0)) throw validationError(`random.space.${p}`, 'logUniform needs a range above 0');
      if ('int' in d && !(Number.isInteger(d.int[0]) && Number.isInteger(d.int[1]))) throw validationError(`random.space.${p}`, 'int needs integer bounds');
    }
    const rng = createRng(b.random.seed ?? 1);
    for (let n = 0; n < b.random.count; n++) {
      const spec = clone(base);
      const params: Record<string, unknown> = {};
      for (const p of paths) {
        const v = sample(b.random.space[p], rng);
        const err = setPath(spec, p, v);
        if (err) throw validationError(`random.space.${p}`, err);
        params[p] = v;
      }
      variations.push({ spec, params, where: (path) => (path in params ? `random.space.${path} (sample ${n})` : `base.${path}`) });
    }
  } else {
    const jobs = b.jobs!;
    const first = b.base ? base : jobs[0];
    jobs.forEach((j, n) => {
      const spec = (b.base ? mergePatch(base, j) : clone(j)) as Record<string, unknown>;
      variations.push({ spec, params: diffLeaves(first, spec), where: (path) => `jobs.${n}.${path}` });
    });
  }

  return variations.map((v, i) => {
    if (b.resources) v.spec.resources = { ...(v.spec.resources as object | undefined), ...b.resources };
    if (b.priority !== undefined) v.spec.priority = b.priority;
    if (v.spec.name === undefined || b.grid || b.random) v.spec.name = v.params.name !== undefined ? v.spec.name : jobName(batchName, v.params, i);
    const bad = check(v.spec);
    if (bad) throw validationError(v.where(bad.path), bad.message);
    return { spec: v.spec as unknown as JobSpec, params: v.params };
  });
}
