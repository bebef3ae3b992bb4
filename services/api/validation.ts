/**
 * Request validation. Two Ajv instances: bodies are validated strictly (no type
 * coercion, unknown fields are errors, not silently removed), while querystring,
 * params and headers coerce ("?limit=20" is the integer 20). Errors are turned into
 * one message that names the field by its dotted path: "training.epochs: must be <= 10000".
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

type Schema = Record<string, unknown>;

const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false });
const looseAjv = new Ajv({ allErrors: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false });

/** Body schemas marked `format: binary` (raw uploads) are documented, not validated. */
const isBinary = (s: Schema): boolean => s.type === 'string' && s.format === 'binary';

function compileWith(ajv: Ajv, schema: Schema): ValidateFunction {
  const id = typeof schema.$id === 'string' ? schema.$id : undefined;
  if (id) {
    const known = ajv.getSchema(id);
    if (known) return known;
  }
  return ajv.compile(schema);
}

export const validatorCompiler: FastifySchemaCompiler<Schema> = ({ schema, httpPart }) => {
  if (httpPart === 'body' && isBinary(schema)) return () => true;
  const v = compileWith(httpPart === 'body' ? bodyAjv : looseAjv, schema);
  const fn = (data: unknown): boolean => {
    if (v(data)) return true;
    (fn as unknown as { errors: ErrorObject[] }).errors = rankErrors(v.errors ?? [], schema, data);
    return false;
  };
  return fn;
};

// ---- choosing the error to report ----------------------------------------------

function walk(root: unknown, pointer: string): unknown {
  let cur = root;
  for (const raw of pointer.replace(/^#?\/?/, '').split('/').filter(Boolean)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * With allErrors off Ajv still reports one error per branch of a union. For a
 * union discriminated by a `type` literal (dense | dropout layers), errors of a
 * branch whose literal does not match the data are noise: drop them. Of the rest,
 * the most specific (deepest field) wins.
 */
export function rankErrors(errors: ErrorObject[], schema: Schema, data: unknown): ErrorObject[] {
  const mismatched: string[] = [];
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && e.keyword !== 'oneOf') continue;
    const branches = walk(schema, e.schemaPath);
    const value = walk(data, e.instancePath);
    if (!Array.isArray(branches) || value === null || typeof value !== 'object') continue;
    branches.forEach((b, i) => {
      const lit = (b as { properties?: { type?: { const?: unknown } } })?.properties?.type?.const;
      if (lit !== undefined && (value as { type?: unknown }).type !== lit) mismatched.push(`${e.schemaPath}/${i}/`);
    });
  }
  const candidates = errors.filter((e) => !mismatched.some((p) => e.schemaPath.startsWith(p)));
  const specific = candidates.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
  const pool = specific.length ? specific : candidates.length ? candidates : errors;
  let best = pool[0];
  for (const e of pool) if (fieldPath(e).length > fieldPath(best).length) best = e;
  return [asEnum(best, errors, schema) ?? best, ...errors.filter((e) => e !== best)];
}

/** A union of literals ("mae" | "mse" | ...) fails once per literal: report it as one list. */
function asEnum(best: ErrorObject, errors: ErrorObject[], schema: Schema): ErrorObject | undefined {
  const union = errors.find((e) => (e.keyword === 'anyOf' || e.keyword === 'oneOf') && e.instancePath === best.instancePath);
  if (!union) return undefined;
  const branches = walk(schema, union.schemaPath);
  if (!Array.isArray(branches)) return undefined;
  const values = branches.map((b) => (b as { const?: unknown })?.const);
  if (values.some((v) => v === undefined)) return undefined;
  return {
    keyword: 'enum',
    instancePath: best.instancePath,
    schemaPath: union.schemaPath,
    params: { allowedValues: values },
    message: `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}`,
  };
}

/** Dotted path of the field an Ajv error is about, e.g. "model.layers.0.units". */
export function fieldPath(e: ErrorObject, prefix = ''): string {
  const parts = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = e.params as { missingProperty?: string; additionalProperty?: string };
  if (e.keyword === 'required' && params.missingProperty) parts.push(params.missingProperty);
  if (e.keyword === 'additionalProperties' && params.additionalProperty) parts.push(params.additionalProperty);
  const path = parts.join('.');
  return prefix && path ? `${prefix}.${path}` : path || prefix;
}

function describe(e: ErrorObject): string {
  switch (e.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'unknown field';
    case 'const':
      return `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    case 'anyOf':
      return 'does not match any allowed form';
    case 'enum':
      return `must be one of ${((e.params as { allowedValues?: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return e.message ?? 'is invalid';
  }
}

/** "training.epochs: must be <= 10000"; query/params fields are named as sent. */
export function validationMessage(errors: ErrorObject[], context: string): { field: string; message: string } {
  const e = errors[0];
  if (!e) return { field: context, message: `${context}: is invalid` };
  const field = fieldPath(e) || (context === 'body' ? 'body' : context);
  return { field, message: `${field}: ${describe(e)}` };
}

/**
 * A JobSpec checked against its schema with the same choice of error as request
 * bodies (the branch of a union the data meant, enums as one list): the dotted path
 * and the message. For specs that are not request bodies (a batch's expanded jobs).
 */
export function jobSpecProblem(schema: Schema): (spec: unknown) => { path: string; message: string } | undefined {
  const v = compileWith(bodyAjv, schema);
  return (spec) => {
    if (v(spec)) return undefined;
    const [e] = rankErrors(v.errors ?? [], schema, spec);
    return e ? { path: fieldPath(e), message: describe(e) } : { path: '', message: 'is invalid' };
  };
}
