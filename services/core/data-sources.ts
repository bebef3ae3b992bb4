/**
 * Which S3 objects a tenant's job may train on. A job reads data with the service's
 * own credentials, so an `s3://` URI is honoured only inside the tenant's own area
 * of the artifact bucket (`s3://<bucket>/datasets/<tenant>/...`, where its uploads
 * live too) or under a bucket/prefix the operator granted that tenant
 * (`NIGHTSHIFT_S3_SOURCES`). The API checks at submission and the worker checks
 * again before reading; a URI outside what the tenant may read gets the same answer
 * as a missing object, so nothing tells a tenant which files exist elsewhere.
 */
import { NightshiftError } from './errors.ts';

export interface S3Location {
  bucket: string;
  key: string;
}

/** A prefix of a bucket granted to a tenant; '' grants the whole bucket. Non-empty prefixes end in '/'. */
export interface S3Grant {
  bucket: string;
  prefix: string;
}

export interface DataSourcePolicy {
  /** the artifact bucket: each tenant may read its own datasets/<tenant>/ area there */
  bucket: string;
  /** tenant -> extra bucket/prefix pairs it may read */
  grants: ReadonlyMap<string, readonly S3Grant[]>;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** S3's "safe" key characters plus a few common ones; no %, \, control characters or quotes that servers treat differently. */
const KEY_CHARS = /^[A-Za-z0-9!_.*'()=+,@~ /-]+$/;

/**
 * Splits `s3://bucket/key` strictly: a valid bucket name, a key of 1..1024 safe
 * characters with no empty, `.` or `..` segment (some S3-protocol servers and HTTP
 * stacks normalise those, which would let a key escape its prefix). Undefined for
 * anything else.
 */
export function parseS3Uri(uri: string): S3Location | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/s.exec(uri);
  if (!m) return undefined;
  const [, bucket, key] = m;
  if (!BUCKET.test(bucket) || bucket.includes('..')) return undefined;
  if (key.length > 1024 || !KEY_CHARS.test(key)) return undefined;
  const segments = key.split('/');
  if (segments.some((s, i) => (s === '' && i < segments.length - 1) || s === '.' || s === '..')) return undefined;
  if (key.endsWith('/')) return undefined; // a "folder", not an object
  return { bucket, key };
}

/** The tenant's own area of the artifact bucket. */
export const tenantDataPrefix = (tenant: string): string => `datasets/${tenant}/`;

/** The object an `s3://` URI names when `tenant` may read it; undefined when it may not (or the URI is malformed). */
export function s3SourceFor(uri: string, tenant: string, policy: DataSourcePolicy): S3Location | undefined {
  const loc = parseS3Uri(uri);
  if (!loc) return undefined;
  if (loc.bucket === policy.bucket && loc.key.startsWith(tenantDataPrefix(tenant))) return loc;
  for (const g of policy.grants.get(tenant) ?? []) {
    if (loc.bucket === g.bucket && loc.key.startsWith(g.prefix)) return loc;
  }
  return undefined;
}

/**
 * Parses `tenant:s3://bucket/prefix/,tenant:s3://bucket` (NIGHTSHIFT_S3_SOURCES).
 * Throws a plain Error naming the bad item; config turns it into a ConfigError.
 */
export function parseS3Grants(raw: string): Map<string, S3Grant[]> {
  const out = new Map<string, S3Grant[]>();
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = item.indexOf(':');
    const tenant = i > 0 ? item.slice(0, i) : '';
    const target = item.slice(i + 1);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(tenant)) throw new Error(`expected tenant:s3://bucket/prefix/ items separated by commas, got "${item}"`);
    const m = /^s3:\/\/([^/]+)\/?(.*)$/s.exec(target);
    if (!m || !BUCKET.test(m[1])) throw new Error(`"${target}" (tenant ${tenant}) is not s3://bucket or s3://bucket/prefix/`);
    let prefix = m[2];
    // grants travel to workers in an environment file: keep them to characters that need no quoting there
    if (!/^[A-Za-z0-9_.=+@~/-]*$/.test(prefix)) throw new Error(`"${target}" (tenant ${tenant}): a granted prefix may use A-Z a-z 0-9 _ . = + @ ~ / - only`);
    if (prefix !== '') {
      if (!prefix.endsWith('/')) prefix += '/';
      if (!parseS3Uri(`s3://${m[1]}/${prefix}x`)) throw new Error(`"${target}" (tenant ${tenant}) has an empty, . or .. segment in its prefix`);
    }
    out.set(tenant, [...(out.get(tenant) ?? []), { bucket: m[1], prefix }]);
  }
  return out;
}

/** The one answer for "missing" and "not yours": it names the field and where s3:// sources may live, never whether the object exists. */
export function s3SourceNotFound(uri: string, bucket: string): NightshiftError {
  return new NightshiftError(
    'dataset_not_found',
    `dataset.uri: no readable object at ${JSON.stringify(uri.slice(0, 300))}; s3:// data sets are read from s3://${bucket}/datasets/<your tenant>/ or a prefix the operator granted your tenant (NIGHTSHIFT_S3_SOURCES); or upload the file with POST /v1/datasets`,
    { field: 'dataset.uri' },
  );
}

/** The inverse of parseS3Grants, for handing the same grants to workers (instance user data). */
export function formatS3Grants(grants: ReadonlyMap<string, readonly S3Grant[]>): string {
  return [...grants].flatMap(([tenant, gs]) => gs.map((g) => `${tenant}:s3://${g.bucket}/${g.prefix}`)).join(',');
}
