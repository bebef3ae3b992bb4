/**
 * Metering and cost apportioning, as pure functions (table tests in
 * test/unit/core-costs.test.ts).
 *
 * - An instance bills per second from its launch call until it is terminated, with
 *   EC2's 60-second minimum: billed seconds = max(60, end - launch).
 * - A unit's cost is its wall time on the instance x the instance's price / the
 *   instance's slots (a 4-GPU instance running one unit charges that unit a quarter).
 * - What no unit used (boot, idle tail, empty slots) is idle cost: it is attributed
 *   to the jobs whose demand caused the launch (weights recorded at launch), else to
 *   the jobs that ran on the instance (by their use), else it stays unattributed.
 * - Totals always add up: the sum over jobs plus the unattributed part equals the sum
 *   over instances, in USD and in instance-seconds.
 */

export const MIN_BILLED_S = 60;

export interface MeteredInstance {
  id: string;
  type: string;
  market: 'spot' | 'on-demand';
  resourceClass?: string;
  /** what this instance is paid, USD per hour (at launch, when `prices` says more) */
  hourlyUsd: number;
  /** prices in force while it ran, oldest first (spot prices re-read hourly); absent = hourlyUsd throughout */
  prices?: PriceSegment[];
  /** the on-demand price of its type in its region (spot savings = on-demand - paid) */
  onDemandUsd?: number;
  launchedAt: number;
  /** undefined while it runs: the bill so far is computed up to `now` */
  terminatedAt?: number;
  slots: number;
  /** the provider's minimum billed seconds per instance (EC2: 60, the default; the local provider: 0) */
  minBilledS?: number;
  /** jobs whose pending units made the provisioner launch it, with their unit counts */
  demand?: Array<{ jobId: string; tenant: string; batchId?: string; units: number }>;
}

/** One unit's stay on an instance (a unit handed back and resumed elsewhere has one span per instance). */
export interface UnitSpan {
  instanceId: string;
  jobId: string;
  tenant: string;
  batchId?: string;
  unit: string;
  start: number;
  /** undefined while it runs (or when its worker died): it counts until the instance ended */
  end?: number;
}

export interface CostLine {
  instanceId: string;
  instanceType: string;
  market: 'spot' | 'on-demand';
  launchedAt: number;
  /** start of the billing window the line covers (one UTC day, one price): reports by day and month count it here */
  at: number;
  /** undefined = the unattributed rest of the instance */
  jobId?: string;
  tenant?: string;
  batchId?: string;
  usd: number;
  /** the idle part of usd */
  idleUsd: number;
  instanceSeconds: number;
  spotSavingsUsd: number;
}

export interface InstanceBill {
  instanceId: string;
  billedSeconds: number;
  usd: number;
  idleUsd: number;
  spotSavingsUsd: number;
  lines: CostLine[];
}

export function billedSeconds(launchedAt: number, end: number, minS: number = MIN_BILLED_S): number {
  return Math.max(minS, Math.max(0, end - launchedAt) / 1000);
}

/** The price an instance paid from `from` on (until the next segment): spot prices change while it runs. */
export interface PriceSegment {
  from: number;
  hourlyUsd: number;
}

/** One stretch of an instance's life that lies in one UTC day and at one price. */
export interface BillingWindow {
  from: number;
  to: number;
  hourlyUsd: number;
  /** seconds billed in it: its length, plus (first window) what the billing minimum adds */
  seconds: number;
}

const DAY_MS = 86_400_000;

/** the price in force at t: the last segment starting at or before t (else the first, else hourlyUsd) */
function priceAt(i: Pick<MeteredInstance, 'hourlyUsd' | 'prices'>, t: number): number {
  let p = i.prices?.[0]?.hourlyUsd ?? i.hourlyUsd;
  for (const s of i.prices ?? []) if (s.from <= t) p = s.hourlyUsd;
  return p;
}

/**
 * An instance's life cut at every UTC midnight and every price change, each stretch
 * with its price; the billing minimum's extra seconds go to the first stretch (they
 * are billed at launch). The windows' seconds add up to billedSeconds.
 */
export function billingWindows(i: Pick<MeteredInstance, 'hourlyUsd' | 'prices' | 'launchedAt' | 'terminatedAt' | 'minBilledS'>, now: number): BillingWindow[] {
  const start = i.launchedAt;
  const end = Math.max(start, i.terminatedAt ?? now);
  const cuts = new Set<number>();
  for (let d = Math.floor(start / DAY_MS) * DAY_MS + DAY_MS; d < end; d += DAY_MS) cuts.add(d);
  for (const s of i.prices ?? []) if (s.from > start && s.from < end) cuts.add(s.from);
  const points = [start, ...[...cuts].sort((a, b) => a - b), end];
  const out: BillingWindow[] = [];
  for (let k = 0; k + 1 < points.length; k++) out.push({ from: points[k], to: points[k + 1], hourlyUsd: priceAt(i, points[k]), seconds: (points[k + 1] - points[k]) / 1000 });
  out[0].seconds += billedSeconds(start, end, i.minBilledS) - (end - start) / 1000;
  return out;
}

/** USD of an instance up to `now` (its whole life once terminated), with the 60 s minimum, at the prices in force. */
export function instanceUsd(i: Pick<MeteredInstance, 'hourlyUsd' | 'prices' | 'launchedAt' | 'terminatedAt' | 'minBilledS'>, now: number): number {
  if (!i.prices?.length) return (billedSeconds(i.launchedAt, i.terminatedAt ?? now, i.minBilledS) * i.hourlyUsd) / 3600;
  return billingWindows(i, now).reduce((s, w) => s + (w.seconds * w.hourlyUsd) / 3600, 0);
}

interface Who {
  jobId: string;
  tenant: string;
  batchId?: string;
}

/** An instance's billing windows, each with every job's use in it (wall seconds / slots, scaled down where units overlap past the bill) and the idle rest, and who carries the idle seconds. */
interface InstanceUse {
  windows: Array<{ w: BillingWindow; perS: number; savingsPerS: number; use: Map<string, { who: Who; s: number }>; idleS: number }>;
  weights: Map<string, { who: Who; w: number }>;
  totalW: number;
}

type Weights = { weights: Map<string, { who: Who; w: number }>; totalW: number };
const NO_WEIGHTS: Weights = { weights: new Map(), totalW: 0 };
/** one launch's demand list is shared by its instances (100 for a 1,000-job batch): its weights are worked out once per list */
const weightsOfDemand = new WeakMap<NonNullable<MeteredInstance['demand']>, Weights>();

/** each job's units in a launch's demand list, and their sum (read only: shared between instances and calls) */
function demandWeights(demand: MeteredInstance['demand']): Weights {
  if (!demand?.length) return NO_WEIGHTS;
  const known = weightsOfDemand.get(demand);
  if (known) return known;
  const weights = new Map<string, { who: Who; w: number }>();
  for (const d of demand) {
    if (d.units <= 0) continue;
    const cur = weights.get(d.jobId) ?? { who: { jobId: d.jobId, tenant: d.tenant, ...(d.batchId ? { batchId: d.batchId } : {}) }, w: 0 };
    cur.w += d.units;
    weights.set(d.jobId, cur);
  }
  let totalW = 0;
  for (const x of weights.values()) totalW += x.w;
  const out = { weights, totalW };
  weightsOfDemand.set(demand, out);
  return out;
}

function instanceUse(inst: MeteredInstance, spans: UnitSpan[], now: number): InstanceUse {
  const end = inst.terminatedAt ?? now;
  const od = inst.onDemandUsd;
  const slots = Math.max(1, inst.slots);
  const mine = spans.filter((sp) => sp.instanceId === inst.id);
  const whoOf = (sp: { jobId: string; tenant: string; batchId?: string }): Who => ({ jobId: sp.jobId, tenant: sp.tenant, ...(sp.batchId ? { batchId: sp.batchId } : {}) });

  /** use per job in [a, b): wall seconds / slots */
  const useIn = (a: number, b: number) => {
    const use = new Map<string, { who: Who; s: number }>();
    for (const sp of mine) {
      const x = Math.max(sp.start, inst.launchedAt, a);
      const y = Math.min(sp.end ?? end, end, b);
      if (y <= x) continue;
      const cur = use.get(sp.jobId) ?? { who: whoOf(sp), s: 0 };
      cur.s += (y - x) / 1000 / slots;
      use.set(sp.jobId, cur);
    }
    return use;
  };

  // who carries the idle seconds: the launch's demand, else the users (over the whole life), else nobody
  let { weights, totalW } = demandWeights(inst.demand);
  if (weights.size === 0) {
    weights = new Map();
    for (const [id, u] of useIn(inst.launchedAt, end)) if (u.s > 0) weights.set(id, { who: u.who, w: u.s });
    for (const x of weights.values()) totalW += x.w;
  }

  const windows = billingWindows(inst, now).map((w) => {
    const use = useIn(w.from, w.to);
    let usedS = 0;
    for (const u of use.values()) usedS += u.s;
    // more overlapping units than slots (a misreported slot count): never charge more than the bill
    if (usedS > w.seconds) {
      for (const u of use.values()) u.s *= w.seconds / usedS;
      usedS = w.seconds;
    }
    return { w, perS: w.hourlyUsd / 3600, savingsPerS: Math.max(0, (od ?? w.hourlyUsd) - w.hourlyUsd) / 3600, use, idleS: w.seconds - usedS };
  });
  return { windows, weights, totalW };
}

/** a job's idle seconds in a window: its weight's part of the window's idle rest */
const idleShareOf = (u: InstanceUse, idleS: number, jobId: string): number => {
  const wt = u.weights.get(jobId);
  return u.totalW > 0 && wt ? (idleS * wt.w) / u.totalW : 0;
};

/**
 * An instance's bill as cost lines: one per job (and one for the unattributed rest)
 * per billing window, so a report by day splits the instance, and each unit, at UTC
 * midnight, and every second is charged at the price in force then. Idle seconds of
 * every window go to the same jobs in the same proportions (the launch's demand, else
 * use over the whole life).
 */
export function apportionInstance(inst: MeteredInstance, spans: UnitSpan[], now: number): InstanceBill {
  const u = instanceUse(inst, spans, now);
  const lines: CostLine[] = [];
  let usd = 0;
  let idleUsd = 0;
  let savings = 0;
  let billed = 0;
  for (const { w, perS, savingsPerS, use, idleS } of u.windows) {
    for (const id of new Set([...use.keys(), ...u.weights.keys()])) {
      const used = use.get(id);
      const idleShareS = idleShareOf(u, idleS, id);
      const sec = (used?.s ?? 0) + idleShareS;
      if (sec <= 0) continue;
      // properties written out: spreading three objects into each line cost ~12 us a line (V8), 300 jobs' lines a few ms an instance
      const who = (used ?? u.weights.get(id))!.who;
      const line: CostLine = { instanceId: inst.id, instanceType: inst.type, market: inst.market, launchedAt: inst.launchedAt, at: w.from, jobId: who.jobId, tenant: who.tenant, usd: sec * perS, idleUsd: idleShareS * perS, instanceSeconds: sec, spotSavingsUsd: sec * savingsPerS };
      if (who.batchId) line.batchId = who.batchId;
      lines.push(line);
    }
    if (u.totalW === 0 && idleS > 0) lines.push({ instanceId: inst.id, instanceType: inst.type, market: inst.market, launchedAt: inst.launchedAt, at: w.from, usd: idleS * perS, idleUsd: idleS * perS, instanceSeconds: idleS, spotSavingsUsd: idleS * savingsPerS });
    usd += w.seconds * perS;
    idleUsd += idleS * perS;
    savings += w.seconds * savingsPerS;
    billed += w.seconds;
  }
  return { instanceId: inst.id, billedSeconds: billed, usd, idleUsd, spotSavingsUsd: savings, lines };
}

/** Each job's share of one instance's bill, read one job at a time. */
export interface InstanceJobShares {
  /** this job's share (undefined: it neither ran there nor caused the launch) */
  of(jobId: string): JobCost | undefined;
  /** the jobs with a share */
  jobIds(): string[];
}

/**
 * The figures jobCostsOf(apportionInstance(inst, spans, now).lines) gives, without a
 * line per job and window: one pass over the spans, then each job's share in
 * O(windows) when it is asked for. An instance launched for a 1,000-job batch has a
 * line per job; the API reads one job's cost at a time.
 */
export function instanceJobShares(inst: MeteredInstance, spans: UnitSpan[], now: number): InstanceJobShares {
  const u = instanceUse(inst, spans, now);
  return {
    of(jobId) {
      let c: JobCost | undefined;
      for (const { perS, savingsPerS, use, idleS } of u.windows) {
        const idleShareS = idleShareOf(u, idleS, jobId);
        const sec = (use.get(jobId)?.s ?? 0) + idleShareS;
        if (sec <= 0) continue;
        c ??= { usd: 0, instanceSeconds: 0, idleUsd: 0, spotSavingsUsd: 0 };
        c.usd += sec * perS;
        c.instanceSeconds += sec;
        c.idleUsd += idleShareS * perS;
        c.spotSavingsUsd += sec * savingsPerS;
      }
      return c;
    },
    jobIds() {
      const ids = new Set(u.weights.keys());
      for (const win of u.windows) for (const id of win.use.keys()) ids.add(id);
      return [...ids];
    },
  };
}

export const GROUP_BY = ['day', 'job', 'batch', 'instanceType', 'tenant'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

export interface CostGroup {
  key: string;
  usd: number;
  instanceSeconds: number;
  idleUsd: number;
  spotSavingsUsd: number;
}

export interface CostReport {
  totalUsd: number;
  idleUsd: number;
  spotSavingsUsd: number;
  /** the part no job carries (an instance no demand of record launched and no unit used) */
  unattributedUsd: number;
  groups: CostGroup[];
}

/** UTC day of a timestamp, YYYY-MM-DD. */
export const utcDay = (t: number): string => new Date(t).toISOString().slice(0, 10);

const UNATTRIBUTED = '(unattributed)';
const NO_BATCH = '(no batch)';

function keyOf(l: CostLine, by: GroupBy): string {
  switch (by) {
    case 'day':
      return utcDay(l.at);
    case 'job':
      return l.jobId ?? UNATTRIBUTED;
    case 'batch':
      return l.jobId === undefined ? UNATTRIBUTED : l.batchId ?? NO_BATCH;
    case 'instanceType':
      return l.instanceType;
    case 'tenant':
      return l.tenant ?? UNATTRIBUTED;
  }
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/**
 * Groups cost lines. A line counts in the UTC day of its billing window (an instance
 * running past midnight counts in both days), and `from`/`to` (ms, to exclusive)
 * select lines by that time too.
 */
export function groupCosts(lines: CostLine[], by: GroupBy, range: { from?: number; to?: number } = {}): CostReport {
  const sel = lines.filter((l) => (range.from === undefined || l.at >= range.from) && (range.to === undefined || l.at < range.to));
  const groups = new Map<string, CostGroup>();
  let total = 0;
  let idle = 0;
  let savings = 0;
  let unattributed = 0;
  for (const l of sel) {
    const k = keyOf(l, by);
    const g = groups.get(k) ?? { key: k, usd: 0, instanceSeconds: 0, idleUsd: 0, spotSavingsUsd: 0 };
    g.usd += l.usd;
    g.instanceSeconds += l.instanceSeconds;
    g.idleUsd += l.idleUsd;
    g.spotSavingsUsd += l.spotSavingsUsd;
    groups.set(k, g);
    total += l.usd;
    idle += l.idleUsd;
    savings += l.spotSavingsUsd;
    if (l.jobId === undefined) unattributed += l.usd;
  }
  const out = [...groups.values()].map((g) => ({ key: g.key, usd: round6(g.usd), instanceSeconds: round6(g.instanceSeconds), idleUsd: round6(g.idleUsd), spotSavingsUsd: round6(g.spotSavingsUsd) }));
  out.sort((a, b) => (by === 'day' ? a.key.localeCompare(b.key) : b.usd - a.usd || a.key.localeCompare(b.key)));
  return { totalUsd: round6(total), idleUsd: round6(idle), spotSavingsUsd: round6(savings), unattributedUsd: round6(unattributed), groups: out };
}

export interface JobCost {
  usd: number;
  instanceSeconds: number;
  idleUsd: number;
  spotSavingsUsd: number;
}

/** A job's cost from the lines of the instances it ran on or caused. */
export function jobCost(lines: CostLine[], jobId: string): JobCost {
  const mine = lines.filter((l) => l.jobId === jobId);
  const sum = (f: (l: CostLine) => number) => round6(mine.reduce((s, l) => s + f(l), 0));
  return { usd: sum((l) => l.usd), instanceSeconds: sum((l) => l.instanceSeconds), idleUsd: sum((l) => l.idleUsd), spotSavingsUsd: sum((l) => l.spotSavingsUsd) };
}

/** Each job's unrounded share of some cost lines (one instance's, say): add them up with addJobCosts. */
export function jobCostsOf(lines: CostLine[]): Map<string, JobCost> {
  const out = new Map<string, JobCost>();
  for (const l of lines) {
    if (l.jobId === undefined) continue;
    const c = out.get(l.jobId) ?? { usd: 0, instanceSeconds: 0, idleUsd: 0, spotSavingsUsd: 0 };
    c.usd += l.usd;
    c.instanceSeconds += l.instanceSeconds;
    c.idleUsd += l.idleUsd;
    c.spotSavingsUsd += l.spotSavingsUsd;
    out.set(l.jobId, c);
  }
  return out;
}

/** The sum of a job's shares (from jobCostsOf), rounded as jobCost rounds. */
export function addJobCosts(parts: Array<JobCost | undefined>): JobCost {
  const t = { usd: 0, instanceSeconds: 0, idleUsd: 0, spotSavingsUsd: 0 };
  for (const c of parts) {
    if (!c) continue;
    t.usd += c.usd;
    t.instanceSeconds += c.instanceSeconds;
    t.idleUsd += c.idleUsd;
    t.spotSavingsUsd += c.spotSavingsUsd;
  }
  return { usd: round6(t.usd), instanceSeconds: round6(t.instanceSeconds), idleUsd: round6(t.idleUsd), spotSavingsUsd: round6(t.spotSavingsUsd) };
}

/** Start of the UTC calendar month of `t` (budgets are per month). */
export function monthStartUtc(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}
