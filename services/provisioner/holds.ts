/**
 * Per-class launch backoff and blocking, as pure functions (table tests in
 * test/unit/provisioner-holds.test.ts). Every failed launch of a class doubles its
 * wait (base, 2 x base, ... up to cap). A quota error, a missing image or missing
 * permissions cannot be fixed by trying again soon: the class is blocked, and so is
 * any class after `blockAfter` consecutive failures. A blocked class is probed again
 * after the cap; a launch that succeeds clears everything. Blocked and backing-off
 * classes put `waiting: {reason, message}` on their jobs.
 */
import type { ClassHold } from './planner.ts';
import type { LaunchErrorKind } from './provider.ts';
import type { ClassFailures, WaitingReason } from '../platform/fleet.ts';

export type { ClassFailures, WaitingReason };

export interface HoldPolicy {
  baseMs: number;
  capMs: number;
  blockAfter: number;
}

const QUOTA_CODES = ['VcpuLimitExceeded', 'MaxSpotInstanceCountExceeded', 'InstanceLimitExceeded'];
const PERMISSION_CODES = ['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException', 'AuthFailure', 'InvalidClientTokenId', 'Blocked'];

/** What a launch failure means for the people waiting, from its kind, the error codes seen and its message. */
export function failureReason(kind: LaunchErrorKind, codes: string[], message: string): WaitingReason {
  if (kind === 'quota' || codes.some((c) => QUOTA_CODES.includes(c))) return 'quota';
  if (/no AMI|InvalidAMIID/i.test(message) || codes.some((c) => c.startsWith('InvalidAMIID'))) return 'no_image';
  if (codes.some((c) => PERMISSION_CODES.includes(c)) || /UnauthorizedOperation|AccessDenied/.test(message)) return 'permissions';
  if (kind === 'capacity') return 'capacity';
  return 'launch_error';
}

const BLOCK_AT_ONCE: ReadonlySet<WaitingReason> = new Set(['quota', 'no_image', 'permissions']);

export function afterFailure(prev: ClassFailures | undefined, f: { kind: LaunchErrorKind; codes: string[]; message: string }, now: number, p: HoldPolicy): ClassFailures {
  const failures = (prev?.failures ?? 0) + 1;
  const reason = failureReason(f.kind, f.codes, f.message);
  const blocked = BLOCK_AT_ONCE.has(reason) || failures >= p.blockAfter;
  const wait = blocked ? p.capMs : Math.min(p.capMs, p.baseMs * 2 ** (failures - 1));
  const prefix = blocked ? `blocked after ${failures} failed launch${failures > 1 ? 'es' : ''}` : `launch failed (${failures}x), next try in ${Math.round(wait / 1000)} s`;
  return { failures, notBefore: now + wait, reason, message: `${prefix}: ${f.message}`, blocked };
}

/**
 * A class whose instances could not use their GPU (gpu-failures.ts blocks it): held
 * like a blocked launch, so its jobs show why they wait. It stays blocked: the class
 * is kept out of the demand until an operator clears it.
 */
export function gpuBlocked(instances: number, reason: string, now: number, p: HoldPolicy): ClassFailures {
  return { failures: instances, notBefore: now + p.capMs, reason: 'gpu_unusable', message: `blocked: ${reason}; check the worker image and the machine image's driver (docs/aws.md)`, blocked: true };
}

/** The planner's view of the failure states. */
export function holdsOf(states: ReadonlyMap<string, ClassFailures>): Record<string, ClassHold> {
  const out: Record<string, ClassHold> = {};
  for (const [cls, s] of states) out[cls] = { notBefore: s.notBefore, ...(s.blocked ? { blocked: { reason: s.reason, message: s.message } } : {}) };
  return out;
}
