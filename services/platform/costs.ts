/**
 * Reads what was spent: instance lifetimes and prices (through InstanceSource, the
 * fleet records) and unit spans (the meter), apportioned by core/costs.ts. Shared by
 * the API (GET /v1/costs, Job.cost) and the provisioner (budgets).
 */
import { apportionInstance, jobCost, type CostLine, type JobCost, type MeteredInstance } from '../core/costs.ts';
import type { Meter } from './meter.ts';

export interface InstanceSource {
  /** every instance of record, live and terminated */
  all(): Promise<MeteredInstance[]>;
  byIds(ids: string[]): Promise<MeteredInstance[]>;
}

export function createCostReader(meter: Meter, instances: InstanceSource, now: () => number = Date.now) {
  async function linesOf(list: MeteredInstance[]): Promise<CostLine[]> {
    const spans = await meter.spansOf(list.map((i) => i.id));
    const t = now();
    return list.flatMap((i) => apportionInstance(i, spans, t).lines);
  }
  return {
    /** every cost line of every instance of record */
    async lines(): Promise<CostLine[]> {
      return linesOf(await instances.all());
    },
    /** each job's cost (jobs that never ran or caused an instance cost nothing) */
    async jobCosts(jobIds: string[]): Promise<Map<string, JobCost>> {
      const byJob = await meter.instancesOfJobs(jobIds);
      const ids = [...new Set([...byJob.values()].flat())];
      const lines = ids.length ? await linesOf(await instances.byIds(ids)) : [];
      return new Map(jobIds.map((j) => [j, jobCost(lines, j)]));
    },
  };
}
export type CostReader = ReturnType<typeof createCostReader>;
