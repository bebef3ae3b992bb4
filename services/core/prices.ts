/**
 * The price catalog: per instance type, its on-demand price (Linux, shared tenancy,
 * USD per instance-hour) per region, and what it holds (vCPUs, GPUs, GPU model).
 * The provisioner budgets and meters with it (spot prices come from the cloud when it
 * has them); the API checks a job's resources.maxHourlyUsd against it; slots per
 * instance follow from the GPU count (GPU types) or the vCPU count (CPU types).
 *
 * Source: the AWS EC2 On-Demand price list (aws.amazon.com/ec2/pricing/on-demand and
 * the Price List API's AmazonEC2 offer), as published before the June 2025 P4/P5
 * price cut; transcribed 2026-11 for us-east-1, us-east-2 and us-west-2 (which list
 * the same price for every type here) and eu-west-1. PRICE_SOURCE names this.
 * onDemandQuote takes overrides (region/type -> USD) for figures read elsewhere: with
 * NIGHTSHIFT_PRICING_REFRESH=on the EC2 provider reads them from the Pricing API
 * (services/provisioner/providers/pricing.ts) and records `pricing-api` as the source.
 *
 * Checked 2026-11-29 against published figures: g5.xlarge 1.006 USD/h in us-east-1
 * (a June 2026 price survey quoting the AWS on-demand page) agrees. The p4d.24xlarge
 * figure predates AWS's June 2025 price cut for P4/P5 instances and is kept as the
 * safe (higher) estimate until a Pricing API refresh replaces it; no published
 * post-cut figure could be confirmed here, so it was not changed. The other figures
 * could not be checked against a source available here and are as transcribed.
 */

export interface InstanceTypeInfo {
  vcpus: number;
  gpus: number;
  gpuModel?: string;
  /** GPU memory per GPU, GiB */
  gpuMemGiB?: number;
}

export const PRICE_SOURCE = 'AWS EC2 On-Demand price list (Linux, shared tenancy), transcribed 2026-11; pre June-2025 P4 price';
export const DEFAULT_REGION = 'us-east-1';

/** us-east-1 on-demand USD/h. */
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
  'g4dn.8xlarge': 2.176,
  'g4dn.12xlarge': 3.912,
  'g4dn.16xlarge': 4.352,
  'g5.xlarge': 1.006,
  'g5.2xlarge': 1.212,
  'g5.4xlarge': 1.624,
  'g5.8xlarge': 2.448,
  'g5.12xlarge': 5.672,
  'g5.16xlarge': 4.096,
  'g5.24xlarge': 8.144,
  'g5.48xlarge': 16.288,
  'g6.xlarge': 0.8048,
  'g6.2xlarge': 0.9776,
  'g6.4xlarge': 1.3232,
  'g6.8xlarge': 2.0144,
  'g6.12xlarge': 4.6016,
  'g6.16xlarge': 3.3968,
  'g6.24xlarge': 6.6752,
  'g6.48xlarge': 13.3504,
  'c6i.large': 0.085,
  'c6i.xlarge': 0.17,
  'c6i.2xlarge': 0.34,
  'c6i.4xlarge': 0.68,
  'c6i.8xlarge': 1.36,
  'c7i.large': 0.08925,
  'c7i.xlarge': 0.1785,
  'c7i.2xlarge': 0.357,
  'c7i.4xlarge': 0.714,
  'c7i.8xlarge': 1.428,
  'm6i.large': 0.096,
  'm6i.xlarge': 0.192,
  'm6i.2xlarge': 0.384,
  'm6i.4xlarge': 0.768,
  'm6i.8xlarge': 1.536,
  'c5.xlarge': 0.17,
  'c5.2xlarge': 0.34,
  'm5.large': 0.096,
  'm5.xlarge': 0.192,
  't3.medium': 0.0416,
};

/** Regions whose prices differ from us-east-1, per type (types not listed here use the us-east-1 price there too). */
export const REGIONAL_USD: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  'us-east-2': {},
  'us-west-2': {},
  'eu-west-1': {
    'p3.2xlarge': 3.305,
    'p3.8xlarge': 13.22,
    'p3.16xlarge': 26.44,
    'p3dn.24xlarge': 33.711,
    'p4d.24xlarge': 35.3949,
    'g4dn.xlarge': 0.587,
    'g4dn.2xlarge': 0.838,
    'g4dn.4xlarge': 1.343,
    'g4dn.12xlarge': 4.362,
    'g5.xlarge': 1.123,
    'g5.2xlarge': 1.353,
    'g5.4xlarge': 1.813,
    'g5.12xlarge': 6.332,
    'c6i.large': 0.096,
    'c6i.xlarge': 0.192,
    'c6i.2xlarge': 0.384,
    'c7i.large': 0.1008,
    'c7i.xlarge': 0.2016,
    'm6i.large': 0.107,
    'm6i.xlarge': 0.214,
    'm6i.2xlarge': 0.428,
  },
};

const sizes = (family: string, gpuModel: string | undefined, gpuMemGiB: number | undefined, rows: Array<[string, number, number]>) =>
  Object.fromEntries(rows.map(([size, vcpus, gpus]) => [`${family}.${size}`, { vcpus, gpus, ...(gpuModel && gpus ? { gpuModel, gpuMemGiB } : {}) }]));

/** What each type holds (AWS instance type specifications). */
export const INSTANCE_TYPES: Readonly<Record<string, InstanceTypeInfo>> = {
  ...sizes('p3', 'V100', 16, [['2xlarge', 8, 1], ['8xlarge', 32, 4], ['16xlarge', 64, 8]]),
  ...sizes('p3dn', 'V100', 32, [['24xlarge', 96, 8]]),
  ...sizes('p2', 'K80', 12, [['xlarge', 4, 1], ['8xlarge', 32, 8]]),
  ...sizes('p4d', 'A100', 40, [['24xlarge', 96, 8]]),
  ...sizes('g4dn', 'T4', 16, [['xlarge', 4, 1], ['2xlarge', 8, 1], ['4xlarge', 16, 1], ['8xlarge', 32, 1], ['12xlarge', 48, 4], ['16xlarge', 64, 1]]),
  ...sizes('g5', 'A10G', 24, [['xlarge', 4, 1], ['2xlarge', 8, 1], ['4xlarge', 16, 1], ['8xlarge', 32, 1], ['12xlarge', 48, 4], ['16xlarge', 64, 1], ['24xlarge', 96, 4], ['48xlarge', 192, 8]]),
  ...sizes('g6', 'L4', 24, [['xlarge', 4, 1], ['2xlarge', 8, 1], ['4xlarge', 16, 1], ['8xlarge', 32, 1], ['12xlarge', 48, 4], ['16xlarge', 64, 1], ['24xlarge', 96, 4], ['48xlarge', 192, 8]]),
  ...sizes('c6i', undefined, undefined, [['large', 2, 0], ['xlarge', 4, 0], ['2xlarge', 8, 0], ['4xlarge', 16, 0], ['8xlarge', 32, 0]]),
  ...sizes('c7i', undefined, undefined, [['large', 2, 0], ['xlarge', 4, 0], ['2xlarge', 8, 0], ['4xlarge', 16, 0], ['8xlarge', 32, 0]]),
  ...sizes('m6i', undefined, undefined, [['large', 2, 0], ['xlarge', 4, 0], ['2xlarge', 8, 0], ['4xlarge', 16, 0], ['8xlarge', 32, 0]]),
  ...sizes('c5', undefined, undefined, [['xlarge', 4, 0], ['2xlarge', 8, 0]]),
  ...sizes('m5', undefined, undefined, [['large', 2, 0], ['xlarge', 4, 0]]),
  ...sizes('t3', undefined, undefined, [['medium', 2, 0]]),
};

/** Unknown types are priced like the dearest known single-node type, so budgets err on the safe side. */
export const UNKNOWN_TYPE_USD = 32.7726;

export interface PriceQuote {
  usd: number;
  /** 'catalog' = this file for that region; 'catalog-us-east-1' = no regional figure, the us-east-1 one; 'unknown-type' = the safe maximum */
  source: 'catalog' | 'catalog-us-east-1' | 'unknown-type' | 'pricing-api';
}

/** The on-demand price of a type in a region; `overrides` (a Pricing API refresh) win over the catalog. */
export function onDemandQuote(type: string, region: string = DEFAULT_REGION, overrides?: ReadonlyMap<string, number>): PriceQuote {
  const o = overrides?.get(`${region}/${type}`);
  if (o !== undefined) return { usd: o, source: 'pricing-api' };
  const regional = REGIONAL_USD[region]?.[type];
  if (regional !== undefined) return { usd: regional, source: 'catalog' };
  const base = ON_DEMAND_USD[type];
  if (base === undefined) return { usd: UNKNOWN_TYPE_USD, source: 'unknown-type' };
  return { usd: base, source: region === DEFAULT_REGION || region in REGIONAL_USD ? 'catalog' : 'catalog-us-east-1' };
}

export function onDemandUsd(type: string, region: string = DEFAULT_REGION): number {
  return onDemandQuote(type, region).usd;
}

export const instanceTypeInfo = (type: string): InstanceTypeInfo | undefined => INSTANCE_TYPES[type];

/** GPUs of a type in the catalog (0 for CPU types); undefined for types the catalog does not know. Slots per instance are core/machines.ts slotsOf. */
export function gpusOfType(type: string): number | undefined {
  return INSTANCE_TYPES[type]?.gpus;
}
