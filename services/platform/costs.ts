/**
 * Reads what was spent: instance lifetimes and prices (through InstanceSource, the
 * fleet records) and unit spans (the meter), apportioned by core/costs.ts. Shared by
 * the API (GET /v1/costs, Job.cost) and the provisioner (budgets).
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { addJobCosts, apportionInstance, instanceJobShares, monthStartUtc, type CostLine, type InstanceJobShares, type JobCost, type MeteredInstance, type UnitSpan } from '../core/costs.ts';
import { mergeSpans, spanKey, type Meter } from './meter.ts';

export interface InstanceSource {
  /** every instance of record, live and terminated */
  all(): Promise<MeteredInstance[]>;
  byIds(ids: string[]): Promise<MeteredInstance[]>;
  /** the live instances only (the spend ledger adds their bill so far) */
  live(): Promise<MeteredInstance[]>;
  /** ids of every retired instance (the ledger's first build) */
  retiredIds(): Promise<string[]>;
  /** retired instances whose cost the ledger has not added yet, and the Redis set that holds them */
  unfolded(): Promise<string[]>;
  unfoldedKey: string;
}

/** spans grouped by instance (apportioning one instance reads only its own) */
function bySpanInstance(spans: UnitSpan[]): Map<string, UnitSpan[]> {
  const out = new Map<string, UnitSpan[]>();
  for (const sp of spans) {
    const list = out.get(sp.instanceId);
    if (list) list.push(sp);
    else out.set(sp.instanceId, [sp]);
  }
  return out;
}

export interface CostReaderOptions {
  /**
   * How long a live instance's apportioned bill may be reused (ms; 0, the default: no
   * cache, recomputed on every read; above 0, settled retired instances are also kept).
   * A job's cost so far then lags by at most this much (plus staleMs), an instance's end included. The API reads a job's cost on every GET: with 100 instances running
   * 100 units each, recomputing meant reading and apportioning every span of every
   * instance the job touched, per request.
   */
  liveCacheMs?: number;
  /**
   * How long past liveCacheMs a live instance's bill may still be answered while a
   * refresh runs in the background (ms; 0, the default: a read past liveCacheMs waits
   * for the recomputation). With 100 instances of a 10,000-unit batch, one recomputation
   * reads about 10,000 spans: with a stale window, no read waits for it, and a job's
   * cost lags by at most liveCacheMs + staleMs.
   */
  staleMs?: number;
}

/** the shares of an instance without a record (none) */
const NO_SHARES: InstanceJobShares = { of: () => undefined, jobIds: () => [] };

/** apportioning gives the event loop back at least this often (ms), so other requests are answered meanwhile */
const SLICE_MS = 4;
/**
 * Instances whose records and spans one round trip reads: a live instance holds a span
 * per unit it ran (100 instances of a 10,000-unit batch: ~10,000 spans, ~2 MB), and
 * parsing the whole reply at once held the event loop for tens of ms.
 */
const READ_CHUNK = 10;
/** ended spans a cost reader keeps between reads (about 300 bytes each) */
const KEPT_SPANS_MAX = 200_000;

/**
 * A retired instance's bill is final once its last spans are in: it is kept (up to
 * CACHE_MAX entries, oldest dropped first) from RETIRED_SETTLE_MS past its end.
 */
const RETIRED_SETTLE_MS = 60_000;
const CACHE_MAX = 20_000;

export function createCostReader(meter: Meter, instances: InstanceSource, now: () => number = Date.now, opts: CostReaderOptions = {}) {
  const liveCacheMs = opts.liveCacheMs ?? 0;
  const staleMs = liveCacheMs > 0 ? opts.staleMs ?? 0 : 0;
  /** instance id -> each job's share of its bill, and until when it may be used (Infinity: retired and settled) */
  const cache = new Map<string, { until: number; jobs: InstanceJobShares }>();
  /**
   * instance id -> the ended spans read so far (by span key) and where the next read of
   * its ended list starts (kept for live and unsettled instances, with a cache, up to
   * KEPT_SPANS_MAX spans, least recently read dropped first)
   */
  const kept = new Map<string, { ended: Map<string, UnitSpan>; next: number }>();
  let keptSpans = 0;
  const drop = (id: string) => {
    keptSpans -= kept.get(id)?.ended.size ?? 0;
    kept.delete(id);
  };
  /**
   * These instances' spans: with a cache, each read asks only for the spans that ended
   * since the last read (and the running ones); a 100-unit instance is not read and
   * parsed whole every liveCacheMs.
   */
  async function readSpans(ids: string[]): Promise<Map<string, UnitSpan[]>> {
    if (!liveCacheMs) return bySpanInstance(await meter.spansOf(ids));
    const asked = new Map(ids.map((id) => [id, kept.get(id)?.next ?? 0]));
    const read = await meter.spansFrom([...asked].map(([id, endedFrom]) => ({ id, endedFrom })));
    // what was kept changed meanwhile (dropped to stay within the bound): read those whole
    const again = [...read].filter(([id, r]) => !r.fromStart && kept.get(id)?.next !== asked.get(id)).map(([id]) => id);
    if (again.length) for (const [id, r] of await meter.spansFrom(again.map((id) => ({ id, endedFrom: 0 })))) read.set(id, r);
    const out = new Map<string, UnitSpan[]>();
    for (const [id, r] of read) {
      if (r.fromStart) drop(id);
      const k = kept.get(id) ?? { ended: new Map<string, UnitSpan>(), next: 0 };
      for (const sp of r.ended) {
        const key = spanKey(sp);
        if (!k.ended.has(key)) keptSpans++;
        k.ended.set(key, sp);
      }
      k.next = r.endedNext;
      kept.delete(id);
      kept.set(id, k);
      out.set(id, mergeSpans(k.ended.values(), r.running));
    }
    for (const id of kept.keys()) {
      if (keptSpans <= KEPT_SPANS_MAX || kept.size <= 1) break;
      drop(id);
    }
    return out;
  }
  /** instances whose shares are being computed: a concurrent reader waits for that */
  const inflight = new Map<string, Promise<Map<string, InstanceJobShares>>>();
  async function linesOf(list: MeteredInstance[]): Promise<CostLine[]> {
    const spans = bySpanInstance(await meter.spansOf(list.map((i) => i.id)));
    const t = now();
    return list.flatMap((i) => apportionInstance(i, spans.get(i.id) ?? [], t).lines);
  }
  /**
   * Each job's share of each of these instances' bills, from the cache where it holds
   * them: a live instance's is reused for liveCacheMs (its record and spans are not
   * read meanwhile), then answered for staleMs more while one background refresh
   * recomputes it; a settled retired one's for good.
   */
  async function sharesOf(ids: string[]): Promise<Map<string, InstanceJobShares>> {
    const t = now();
    const out = new Map<string, InstanceJobShares>();
    const stale: string[] = [];
    const refresh: string[] = [];
    const waits: Array<Promise<void>> = [];
    for (const id of ids) {
      const c = liveCacheMs > 0 ? cache.get(id) : undefined;
      const pending = liveCacheMs > 0 ? inflight.get(id) : undefined;
      if (c && c.until > t) out.set(id, c.jobs);
      else if (c && c.until + staleMs > t) {
        // answered from the last figure; one background refresh per instance at a time
        out.set(id, c.jobs);
        if (!pending) refresh.push(id);
      } else if (pending) waits.push(pending.then((m) => void out.set(id, m.get(id) ?? NO_SHARES)));
      else stale.push(id);
    }
    if (refresh.length) void track(refresh, t).catch(() => undefined); // a failed refresh leaves the last figure, and the next read tries again
    if (stale.length) for (const [id, jobs] of await track(stale, t)) out.set(id, jobs);
    await Promise.all(waits);
    return out;
  }
  /** computes these instances' shares; concurrent readers of the same instances wait for (or are answered beside) this one computation */
  async function track(ids: string[], t: number): Promise<Map<string, InstanceJobShares>> {
    const work = computeShares(ids, t);
    if (liveCacheMs > 0) for (const id of ids) inflight.set(id, work);
    try {
      return await work;
    } finally {
      for (const id of ids) if (inflight.get(id) === work) inflight.delete(id);
    }
  }
  async function computeShares(ids: string[], t: number): Promise<Map<string, InstanceJobShares>> {
    const out = new Map<string, InstanceJobShares>();
    // every chunk is asked for at once (one wait, not one per chunk); each reply is parsed and apportioned as it is taken
    const reads: Array<Promise<[MeteredInstance[], Map<string, UnitSpan[]>]>> = [];
    for (let c = 0; c < ids.length; c += READ_CHUNK) {
      const chunk = ids.slice(c, c + READ_CHUNK);
      reads.push(Promise.all([instances.byIds(chunk), readSpans(chunk)]));
    }
    // a failed read fails the computation below; the others' rejections are not left unhandled
    for (const r of reads) r.catch(() => undefined);
    for (const read of reads) {
      const [recs, spans] = await read;
      let slice = performance.now();
      for (const i of recs) {
        if (performance.now() - slice > SLICE_MS) {
          await nextTurn();
          slice = performance.now();
        }
        const jobs = instanceJobShares(i, spans.get(i.id) ?? [], t);
        out.set(i.id, jobs);
        if (!liveCacheMs) continue;
        cache.delete(i.id);
        if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
        const settled = i.terminatedAt !== undefined && t - i.terminatedAt >= RETIRED_SETTLE_MS;
        cache.set(i.id, { until: settled ? Infinity : t + liveCacheMs, jobs });
        if (settled) drop(i.id); // its shares are final: its spans are not read again
      }
    }
    return out;
  }
  return {
    /** resolves once no computation is in flight (background refreshes included) */
    async settled(): Promise<void> {
      while (inflight.size) await Promise.allSettled([...new Set(inflight.values())]);
    },
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
    /**
     * Each job's cost (jobs that never ran or caused an instance cost nothing): the sum
     * of its shares of the instances it ran on or caused. With a cache, settled retired
     * instances are apportioned once and live ones at most every liveCacheMs.
     */
    async jobCosts(jobIds: string[]): Promise<Map<string, JobCost>> {
      const byJob = await meter.instancesOfJobs(jobIds);
      const ids = new Set<string>();
      for (const list of byJob.values()) for (const i of list) ids.add(i);
      const shares = ids.size ? await sharesOf([...ids]) : new Map<string, InstanceJobShares>();
      // a 1,000-job batch on 100 instances is 100,000 shares: summed in slices, the event loop let go between them
      const out = new Map<string, JobCost>();
      let slice = performance.now();
      for (const j of jobIds) {
        if (performance.now() - slice > SLICE_MS) {
          await nextTurn();
          slice = performance.now();
        }
        out.set(j, addJobCosts((byJob.get(j) ?? []).map((i) => shares.get(i)?.of(j))));
      }
      return out;
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

/**
 * Keeps what was spent per UTC month (in all and per tenant) and per batch as running
 * totals in Redis, so budgets do not read the whole fleet history every pass: a
 * retired instance's bill is added once (the fleet store marks it `unfolded` in the
 * same step that retires it), and the live instances' bills so far are added on read.
 * The first read folds every retired instance of record (once per deployment).
 *
 * Keys (under `<prefix>:costs:`): month:<YYYY-MM> hash (`global`, `tenant:<name>`),
 * batches hash (`<batchId>`), folded set (instance ids already added), ledger-built.
 */
const FOLD_LUA = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
  return 0
end
for i = 2, #ARGV, 3 do
  redis.call('HINCRBYFLOAT', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
end
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`;

const monthKey = (t: number): string => new Date(t).toISOString().slice(0, 7);

/** What a retired instance adds to the ledger: per month key, per field (pure). */
export function ledgerEntries(lines: CostLine[]): Array<{ month: string | null; field: string; usd: number }> {
  const acc = new Map<string, { month: string | null; field: string; usd: number }>();
  const add = (month: string | null, field: string, usd: number) => {
    const k = `${month}\u0000${field}`;
    const cur = acc.get(k) ?? { month, field, usd: 0 };
    cur.usd += usd;
    acc.set(k, cur);
  };
  for (const l of lines) {
    const m = monthKey(l.at);
    add(m, 'global', l.usd);
    if (l.tenant) add(m, `tenant:${l.tenant}`, l.usd);
    if (l.batchId) add(null, l.batchId, l.usd);
  }
  return [...acc.values()].filter((e) => e.usd !== 0);
}

export function createSpendLedger(redis: Redis, prefix: string, meter: Meter, instances: InstanceSource) {
  const k = {
    month: (m: string) => `${prefix}:costs:month:${m}`,
    batches: `${prefix}:costs:batches`,
    folded: `${prefix}:costs:folded`,
    built: `${prefix}:costs:ledger-built`,
  };
  async function fold(ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const [recs, spans] = await Promise.all([instances.byIds(chunk), meter.spansOf(chunk)]);
      const byInstance = bySpanInstance(spans);
      const pipe = redis.pipeline();
      const found = new Set(recs.map((r) => r.id));
      for (const r of recs) {
        if (r.terminatedAt === undefined) continue; // live again (adopted): counted live
        const entries = ledgerEntries(apportionInstance(r, byInstance.get(r.id) ?? [], r.terminatedAt).lines);
        const keys = [k.folded, instances.unfoldedKey];
        const argv: string[] = [r.id];
        for (const e of entries) {
          const key = e.month === null ? k.batches : k.month(e.month);
          let idx = keys.indexOf(key);
          if (idx < 0) idx = keys.push(key) - 1;
          argv.push(String(idx + 1), e.field, String(e.usd));
        }
        pipe.eval(FOLD_LUA, keys.length, ...keys, ...argv);
      }
      // ids without a record (removed by retention after folding, or never written) leave the set
      for (const id of chunk) if (!found.has(id)) pipe.srem(instances.unfoldedKey, id);
      const res = (await pipe.exec()) ?? [];
      n += res.filter(([, v]) => v === 1).length;
    }
    return n;
  }
  async function sync(): Promise<void> {
    if (!(await redis.exists(k.built))) {
      await fold(await instances.retiredIds());
      await redis.set(k.built, String(Date.now()));
    }
    const pending = await instances.unfolded();
    if (pending.length) await fold(pending);
  }
  async function liveLines(t: number): Promise<CostLine[]> {
    const live = await instances.live();
    if (!live.length) return [];
    const spans = bySpanInstance(await meter.spansOf(live.map((i) => i.id)));
    return live.flatMap((i) => apportionInstance(i, spans.get(i.id) ?? [], t).lines);
  }
  return {
    keys: k,
    /** adds every retired instance not added yet */
    sync,
    /** what was spent in t's UTC month, in all and per tenant: the ledger plus the live instances so far */
    async monthToDate(t: number): Promise<MonthSpend> {
      // live first: an instance retired meanwhile is then counted twice for this read, never missed
      const live = await liveLines(t);
      await sync();
      const stored = await redis.hgetall(k.month(monthKey(t)));
      const out = monthSpendOf(live, t);
      for (const [field, v] of Object.entries(stored)) {
        if (field === 'global') out.global += Number(v);
        else if (field.startsWith('tenant:')) out.tenants.set(field.slice(7), (out.tenants.get(field.slice(7)) ?? 0) + Number(v));
      }
      return out;
    },
    /** what each batch spent in its whole life */
    async batchSpend(batchIds: string[], t: number): Promise<Map<string, number>> {
      const out = new Map(batchIds.map((b) => [b, 0]));
      if (!batchIds.length) return out;
      const live = await liveLines(t);
      await sync();
      const stored = await redis.hmget(k.batches, ...batchIds);
      batchIds.forEach((b, i) => out.set(b, Number(stored[i] ?? 0)));
      for (const l of live) if (l.batchId && out.has(l.batchId)) out.set(l.batchId, out.get(l.batchId)! + l.usd);
      return out;
    },
  };
}
export type SpendLedger = ReturnType<typeof createSpendLedger>;
