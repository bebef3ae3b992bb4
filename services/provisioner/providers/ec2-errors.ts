/**
 * What to do with a failed EC2 call, as a pure function (table-tested):
 *  - capacity: this type/subnet/market cannot give us instances now -> try the next one
 *  - retry:    throttling, 5xx, network trouble -> back off and call again (same ClientToken)
 *  - fatal:    anything else (bad AMI, permissions, malformed request) -> surface it
 */
export type LaunchErrorClass = 'capacity' | 'retry' | 'fatal';

const CAPACITY = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientFreeAddressesInSubnet',
  'SpotMaxPriceTooLow',
  'MaxSpotInstanceCountExceeded',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
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
