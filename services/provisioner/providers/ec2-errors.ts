/**
 * What to do with a failed EC2 call, as a pure function (table-tested):
 *  - capacity: this type/subnet/market cannot give us instances now -> try the next one
 *  - retry:    throttling, 5xx, network trouble -> back off and call again (same ClientToken)
 *  - quota:    an account limit (vCPUs, spot instance count, instance count) -> the class
 *              is blocked with a message naming the quota (retrying cannot help)
 *  - fatal:    anything else (bad AMI, permissions, malformed request) -> surface it
 */
export type LaunchErrorClass = 'capacity' | 'retry' | 'fatal' | 'quota';

/** Account quotas, with the Service Quotas name a user raises. */
export const QUOTAS: Readonly<Record<string, string>> = {
  VcpuLimitExceeded: 'the vCPU quota of this instance family ("Running On-Demand ... instances" / "All ... Spot Instance Requests" in Service Quotas)',
  MaxSpotInstanceCountExceeded: 'the spot instance count quota ("All ... Spot Instance Requests")',
  InstanceLimitExceeded: 'the instance count limit of this type in the region',
};

const CAPACITY = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientFreeAddressesInSubnet',
  'SpotMaxPriceTooLow',
  'Unsupported',
]);

const RETRY = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

export function errorCode(err: unknown): string {
  const e = err as { name?: string; Code?: string; code?: string } | undefined;
  return e?.Code ?? (e?.name && e.name !== 'Error' ? e.name : undefined) ?? e?.code ?? 'Unknown';
}

export function classifyLaunchError(err: unknown): LaunchErrorClass {
  const e = err as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown; code?: string; cause?: { code?: string } } | undefined;
  const code = errorCode(err);
  if (code in QUOTAS) return 'quota';
  if (CAPACITY.has(code)) return 'capacity';
  if (RETRY.has(code)) return 'retry';
  if (e?.$retryable) return 'retry';
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return 'retry';
  if (status === 429) return 'retry';
  if (NETWORK.has(e?.code ?? '') || NETWORK.has(e?.cause?.code ?? '')) return 'retry';
  return 'fatal';
}

/** Exponential backoff with full jitter, capped. attempt 0 = first retry. */
export function backoffMs(attempt: number, baseMs: number, capMs = 20_000, random: () => number = Math.random): number {
  return Math.round(random() * Math.min(capMs, baseMs * 2 ** attempt));
}
