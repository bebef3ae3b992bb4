/**
 * The batch supervisor, run by the provisioner's leader every reconcile pass:
 *  - a scheduled job whose window has opened becomes queued;
 *  - at a batch's deadline, jobs that have not finished become deadline_missed:
 *    their units not started are removed from the queue, running ones checkpoint
 *    and stop (the unit processor sees the status), and the idle instances drain;
 *  - before the deadline, the remaining work is projected (core/deadline.ts): the
 *    batch says `atRisk` with its projected finish, and the provisioner scales the
 *    batch's class to the instances the deadline needs;
 *  - a batch whose jobs have all ended gets its report written to
 *    batches/<id>/report.md and leaves the active set.
 * Everything it reads and writes is in Redis, so a restart resumes where it was.
 */
import type { ArtifactStore } from '../core/artifacts.ts';
import { isBatchTerminal, reportMarkdown } from '../core/batch.ts';
import { deadlinePlan, type ClassDeadlineNeed } from '../core/deadline.ts';
import { isTerminal } from '../core/job.ts';
import { resolveJobSpec } from '../core/job-defaults.ts';
import { planUnits } from '../core/units.ts';
import type { BatchStore } from '../platform/batches.ts';
import { promoteDueUnits, removePendingUnits, type Queues } from '../platform/queue.ts';
import type { Store } from '../platform/store.ts';

export interface SupervisorDeps {
  store: Store;
  batches: BatchStore;
  queues: Queues;
  /** where reports are written (absent: the report is only served by the API) */
  artifacts?: ArtifactStore;
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
}

export interface FleetContext {
  /** live instances per resource class */
  live: Record<string, number>;
  slots(cls: string): number;
  maxInstances: number;
  /** seconds a new instance takes before it trains */
  bootSeconds: number;
}

/** Until a unit of the batch has finished: seconds a unit is assumed to take, from its epochs. */
export const estimateUnitSeconds = (epochs: number): number => 5 + 0.1 * epochs;

export function createBatchSupervisor(d: SupervisorDeps) {
  const reportKey = (id: string) => `batches/${id}/report.md`;

  async function tick(t: number, fleet: FleetContext): Promise<Record<string, ClassDeadlineNeed>> {
    const needs: Record<string, ClassDeadlineNeed> = {};
    const ids = await d.batches.active();
    if (ids.length === 0) return needs;
    const active = await d.queues.units.getRanges(['active'], 0, -1);
    const runningByJob = new Map<string, number>();
    for (const u of active) {
      const jobId = u.slice(0, u.indexOf('.'));
      runningByJob.set(jobId, (runningByJob.get(jobId) ?? 0) + 1);
    }
    for (const id of ids) {
      const rec = await d.batches.getRecord(id);
      if (!rec) continue;
      const notBefore = rec.notBefore ? Date.parse(rec.notBefore) : undefined;
      const deadline = rec.deadline ? Date.parse(rec.deadline) : undefined;
      const members = await d.batches.members(rec);

      if (notBefore === undefined || notBefore <= t) {
        for (const m of members) {
          if (m.job.status !== 'scheduled') continue;
          // due delayed units move to the queue here: workers would promote them, but no worker runs before there is demand
          await promoteDueUnits(d.queues, m.job.id, planUnits(resolveJobSpec(m.record.spec)).map((u) => u.key));
          await d.store.promoteScheduled(m.job.id);
        }
      }
      if (deadline !== undefined && deadline <= t) {
        let missed = 0;
        for (const m of members) {
          if (isTerminal(m.job.status)) continue;
          const ok = await d.store.setStatus(m.job.id, 'deadline_missed', {
            error: { code: 'deadline_missed', message: `the batch deadline ${rec.deadline} passed with ${m.job.progress.unitsDone} of ${m.job.progress.unitsTotal} units done` },
          });
          if (!ok) continue;
          missed++;
          await removePendingUnits(d.queues, m.job.id, planUnits(resolveJobSpec(m.record.spec)).map((u) => u.key));
        }
        if (missed) d.logger.info({ batchId: id, jobs: missed, deadline: rec.deadline }, 'batch deadline passed: unfinished jobs deadline_missed');
      } else if (deadline !== undefined) {
        let remaining = 0;
        let running = 0;
        const durations: number[] = [];
        let epochs = 0;
        for (const m of members) {
          for (const u of m.units) durations.push(u.durationMs / 1000);
          epochs = Math.max(epochs, resolveJobSpec(m.record.spec).training.epochs);
          if (isTerminal(m.job.status)) continue;
          const left = Math.max(0, m.job.progress.unitsTotal - m.job.progress.unitsDone);
          const r = Math.min(left, runningByJob.get(m.job.id) ?? 0);
          remaining += left;
          running += r;
        }
        const measured = durations.length > 0;
        const unitSeconds = measured ? durations.reduce((s, x) => s + x, 0) / durations.length : estimateUnitSeconds(epochs);
        const cls = rec.resourceClass;
        const slots = Math.max(1, fleet.slots(cls));
        const start = Math.max(t, notBefore ?? t);
        const p = deadlinePlan({
          now: start, deadline, pendingUnits: remaining - running, runningUnits: running, unitSeconds, slotsPerInstance: slots,
          liveInstances: notBefore !== undefined && notBefore > t ? 0 : fleet.live[cls] ?? 0, maxInstances: fleet.maxInstances, bootSeconds: fleet.bootSeconds,
        });
        await d.batches.setProjection(id, p.atRisk, {
          at: new Date(t).toISOString(),
          projectedFinish: Number.isFinite(p.projectedFinish) ? new Date(p.projectedFinish).toISOString() : null,
          instancesNeeded: p.instancesNeeded,
          unitSeconds: Math.round(unitSeconds * 1000) / 1000,
          basis: measured ? 'measured' : 'estimated',
        });
        if (remaining - running > 0) {
          const n = needs[cls] ?? { pending: 0, slots: 0 };
          n.pending += remaining - running;
          n.slots += p.instancesNeeded * slots;
          needs[cls] = n;
        }
      }

      // the full view (leaderboard) is assembled only for a batch that has ended
      const statuses = await Promise.all(members.map(async (m) => (isTerminal(m.job.status) ? m.job.status : (await d.store.getStatus(m.job.id)) ?? m.job.status)));
      if (!statuses.every((s) => isTerminal(s))) continue;
      const v = await d.batches.view(id, t);
      if (v && isBatchTerminal(v.batch.status)) {
        if (d.artifacts) await d.artifacts.put(reportKey(id), reportMarkdown(v.batch, v.leaderboard), 'text/markdown; charset=utf-8');
        await d.batches.finish(id, new Date(t).toISOString());
        d.logger.info({ batchId: id, status: v.batch.status }, 'batch ended; report written');
      }
    }
    return needs;
  }

  return { tick };
}

export type BatchSupervisor = ReturnType<typeof createBatchSupervisor>;
