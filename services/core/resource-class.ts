/**
 * The resource class: what a job's units need from an instance. The provisioner
 * launches per class, and units with the same class can share instances. Its record
 * form (`ResourceClass`) is what code reads; its string form (`formatResourceClass`),
 * e.g. "gpu" or "gpu/spot=prefer/types=p3.2xlarge+p3.8xlarge/max=3.5", is what travels
 * in queue payloads, job and fleet records, EC2 tags and metric labels. This module is
 * the only place that writes or reads that string.
 */

export type Accelerator = 'gpu' | 'cpu' | 'any';
export type SpotPolicy = 'no' | 'prefer' | 'require';

export interface ResourceClass {
  accelerator: Accelerator;
  /** absent: the provisioner's default (NIGHTSHIFT_EC2_SPOT) */
  spot?: SpotPolicy;
  /** absent: NIGHTSHIFT_EC2_INSTANCE_TYPES */
  instanceTypes?: string[];
  maxHourlyUsd?: number;
}

/**
 * The string form: the accelerator, then `spot=`, `types=` (joined by '+') and `max=`
 * when set, joined by '/'. Safe as an EC2 tag value (at most 8 types of at most 24
 * characters keep it under 256).
 */
export function formatResourceClass(c: ResourceClass): string {
  const parts: string[] = [c.accelerator];
  if (c.spot) parts.push(`spot=${c.spot}`);
  if (c.instanceTypes?.length) parts.push(`types=${c.instanceTypes.join('+')}`);
  if (c.maxHourlyUsd !== undefined) parts.push(`max=${c.maxHourlyUsd}`);
  return parts.join('/');
}

/**
 * Inverse of formatResourceClass. Lenient, because the string comes back from tags and
 * records that older versions wrote: an unknown accelerator reads as "any", and an
 * unknown or malformed part (a spot policy we do not know, an empty type list, a price
 * that is not a positive number) is ignored.
 */
export function parseResourceClass(s: string): ResourceClass {
  const [acc, ...rest] = s.split('/');
  const c: ResourceClass = { accelerator: acc === 'gpu' || acc === 'cpu' ? acc : 'any' };
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const [k, v] = [part.slice(0, eq), part.slice(eq + 1)];
    if (k === 'spot' && (v === 'no' || v === 'prefer' || v === 'require')) c.spot = v;
    else if (k === 'types' && v) c.instanceTypes = v.split('+').filter(Boolean);
    else if (k === 'max' && v !== '' && Number.isFinite(Number(v)) && Number(v) > 0) c.maxHourlyUsd = Number(v);
  }
  return c;
}

/**
 * Resource class of a job: its accelerator, plus the spot policy (when the spec sets
 * it), instance types and price cap.
 */
export function resourceClassOf(
  spec: { resources: { accelerator: Accelerator; instanceTypes?: string[]; maxHourlyUsd?: number } },
  explicitSpot?: SpotPolicy,
): string {
  const r = spec.resources;
  return formatResourceClass({
    accelerator: r.accelerator,
    ...(explicitSpot ? { spot: explicitSpot } : {}),
    ...(r.instanceTypes?.length ? { instanceTypes: r.instanceTypes } : {}),
    ...(r.maxHourlyUsd !== undefined ? { maxHourlyUsd: r.maxHourlyUsd } : {}),
  });
}
