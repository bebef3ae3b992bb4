/**
 * What the provisioner does about workers that could not use their GPU (the worker
 * verifies its GPU before taking units and reports the reason when it cannot): the
 * instance is terminated at once; its class gets one replacement; when a second
 * instance of the same class fails too, the class is blocked with the reason, so no
 * more GPU machines are paid for to train nothing. Pure, with a table test.
 */

import type { GpuFailure } from '../platform/fleet.ts';

export type { GpuFailure };

export interface GpuFailurePlan {
  /** failed instances still live: terminate now */
  terminate: string[];
  /** classes to block now (not blocked before) */
  block: Array<{ resourceClass: string; reason: string; instances: string[] }>;
}

/** Failed instances of one class that block it: the first is replaced once, the second blocks. */
export const BLOCK_AFTER = 2;

export function planGpuFailures(failures: GpuFailure[], live: ReadonlySet<string>, blocked: ReadonlySet<string>): GpuFailurePlan {
  const terminate = failures.filter((f) => live.has(f.instanceId)).map((f) => f.instanceId);
  const byClass = new Map<string, GpuFailure[]>();
  for (const f of failures) {
    if (!f.resourceClass) continue;
    byClass.set(f.resourceClass, [...(byClass.get(f.resourceClass) ?? []), f]);
  }
  const block: GpuFailurePlan['block'] = [];
  for (const [cls, fs] of [...byClass].sort(([a], [b]) => a.localeCompare(b))) {
    const ids = [...new Set(fs.map((f) => f.instanceId))];
    if (ids.length < BLOCK_AFTER || blocked.has(cls)) continue;
    const last = [...fs].sort((a, b) => b.at - a.at)[0];
    block.push({ resourceClass: cls, reason: `${ids.length} instances could not use their GPU; last: ${last.reason}`, instances: ids });
  }
  return { terminate, block };
}
