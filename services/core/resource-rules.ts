/**
 * Rules about a job's resources: what the operator allows (instance types, price cap)
 * and whether a price cap leaves any instance type the job can run on.
 */
import type { JobSpec } from './spec.ts';
import { validationError } from './errors.ts';
import { onDemandUsd } from './prices.ts';
import { acceleratorOf } from './machines.ts';
import type { SpotPolicy } from './resource-class.ts';

/** The fleet a job would run on, for rules about prices (EC2 only). */
export interface FleetDefaults {
  instanceTypes: string[];
  /** types of CPU classes (resources.accelerator "cpu"); "any" may land on either list */
  cpuInstanceTypes?: string[];
  spot: SpotPolicy;
  /** market policy of CPU classes (default: spot) */
  cpuSpot?: SpotPolicy;
}

/** What the operator allows any job to ask for (NIGHTSHIFT_EC2_ALLOWED_TYPES, NIGHTSHIFT_EC2_MAX_HOURLY_USD). */
export interface OperatorLimits {
  allowedTypes: readonly string[];
  maxHourlyUsd?: number;
}

/** resources.instanceTypes and maxHourlyUsd against the operator's limits and the accelerator asked for. */
export function checkResources(spec: JobSpec, limits: OperatorLimits): void {
  const r = spec.resources;
  if (!r) return;
  const types = r.instanceTypes ?? [];
  const refused = types.filter((t) => !limits.allowedTypes.includes(t));
  if (refused.length) {
    throw validationError('resources.instanceTypes', `${refused.join(', ')} ${refused.length > 1 ? 'are' : 'is'} not allowed on this installation; allowed: ${limits.allowedTypes.join(', ')}`);
  }
  const accs = new Set(types.map((t) => acceleratorOf(t)));
  if (accs.size > 1) throw validationError('resources.instanceTypes', 'mixes GPU and CPU instance types; a job runs on one kind');
  const acc = r.accelerator ?? 'any';
  const typesAcc = [...accs][0];
  if (typesAcc && acc !== 'any' && typesAcc !== acc) {
    throw validationError('resources.instanceTypes', `${types.join(', ')} ${types.length > 1 ? 'are' : 'is'} not ${acc.toUpperCase()} instance types, but resources.accelerator is "${acc}"`);
  }
  if (limits.maxHourlyUsd !== undefined && r.maxHourlyUsd !== undefined && r.maxHourlyUsd > limits.maxHourlyUsd) {
    throw validationError('resources.maxHourlyUsd', `${r.maxHourlyUsd} USD/h is above this installation's cap of ${limits.maxHourlyUsd} USD/h`);
  }
}

/** A price cap below the on-demand price of every type the job could run on is refused when the job cannot use spot. */
export function checkPriceCap(spec: JobSpec, fleet: FleetDefaults): void {
  const max = spec.resources?.maxHourlyUsd;
  const acc = spec.resources?.accelerator ?? 'any';
  if (max !== undefined && (spec.resources?.spot ?? (acc === 'cpu' ? fleet.cpuSpot ?? fleet.spot : fleet.spot)) === 'no') {
    const types = spec.resources?.instanceTypes
      ?? (acc === 'cpu' ? fleet.cpuInstanceTypes ?? [] : acc === 'gpu' ? fleet.instanceTypes : [...fleet.instanceTypes, ...(fleet.cpuInstanceTypes ?? [])]);
    const cheapest = Math.min(...types.map((t) => onDemandUsd(t)));
    if (types.length && cheapest > max) {
      throw validationError('resources.maxHourlyUsd', `${max} USD/h is below the on-demand price of every instance type (${types.map((t) => `${t} ${onDemandUsd(t)}`).join(', ')}); raise it, allow spot ("prefer") or pick cheaper resources.instanceTypes`);
    }
  }
}
