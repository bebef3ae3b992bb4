/**
 * Reads what was spent: instance lifetimes and prices (through InstanceSource, the
 * fleet records) and unit spans (the meter), apportioned by core/costs.ts. Shared by
 * the API (GET /v1/costs, Job.cost) and the provisioner (budgets).
 */
import { apportionInstance, jobCost, monthStartUtc, type CostLine, type JobCost, type MeteredInstance } from '../core/costs.ts';
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
    /** what was spent this UTC month, in all and per tenant */
    async monthToDate(t: number): Promise<MonthSpend> {
      return monthSpendOf(await linesOf(await instances.all()), t);
    },
    /** what each batch spent in its whole life */
    async batchSpend(batchIds: string[]): Promise<Map<string, number>> {
      const out = new Map(batchIds.map((b) => [b, 0]));
      if (!batchIds.length) return out;
      for (const l of await linesOf(await instances.all())) if (l.batchId && out.has(l.batchId)) out.set(l.batchId, out.get(l.batchId)! + l.usd);
      return out;
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

export interface MonthSpend {
  global: number;
  tenants: Map<string, number>;
}

/** The month-to-date figures of some cost lines: those billed in t's UTC month. */
export function monthSpendOf(lines: CostLine[], t: number): MonthSpend {
  const month = monthStartUtc(t);
  const out: MonthSpend = { global: 0, tenants: new Map() };
  for (const l of lines) {
    if (l.at < month) continue;
    out.global += l.usd;
    if (l.tenant) out.tenants.set(l.tenant, (out.tenants.get(l.tenant) ?? 0) + l.usd);
  }
  return out;
}
