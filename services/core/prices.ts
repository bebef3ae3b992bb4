/**
 * The price catalog: on-demand prices (us-east-1, Linux, USD per instance-hour). The
 * provisioner budgets with them (spot prices come from the cloud when it has them);
 * the API checks a job's resources.maxHourlyUsd against them.
 */
export const ON_DEMAND_USD: Readonly<Record<string, number>> = {
  'p3.2xlarge': 3.06,
  'p3.8xlarge': 12.24,
  'p3.16xlarge': 24.48,
  'p3dn.24xlarge': 31.212,
  'p2.xlarge': 0.9,
  'p2.8xlarge': 7.2,
  'p4d.24xlarge': 32.7726,
  'g4dn.xlarge': 0.526,
  'g4dn.2xlarge': 0.752,
  'g4dn.4xlarge': 1.204,
  'g4dn.12xlarge': 3.912,
  'g5.xlarge': 1.006,
  'g5.2xlarge': 1.212,
  'g5.4xlarge': 1.624,
  'g5.12xlarge': 5.672,
  'c5.xlarge': 0.17,
  'c5.2xlarge': 0.34,
  'm5.large': 0.096,
  'm5.xlarge': 0.192,
  't3.medium': 0.0416,
};

/** Unknown types are priced like the dearest known single-node type, so budgets err on the safe side. */
export const UNKNOWN_TYPE_USD = 32.7726;

export function onDemandUsd(type: string): number {
  return ON_DEMAND_USD[type] ?? UNKNOWN_TYPE_USD;
}
