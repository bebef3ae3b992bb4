/**
 * The meter's Redis side: which unit ran on which instance and when (spans), which
 * instances each job ran on or caused, and measured unit durations per model shape
 * (the budget gate's estimate). Instance lifetimes and prices are the fleet records;
 * core/costs.ts turns both into dollars.
 *
 * Keys (under `<prefix>:costs:`):
 *   spans:<instanceId>   hash  `<jobId>|<unit>|<start>` -> UnitSpan JSON of a unit running
 *                              there (and, written before the ended lists existed, ended ones)
 *   ended:<instanceId>   list  UnitSpan JSON of each unit that ended there, in the order they
 *                              ended: never rewritten, so a reader that keeps what it read
 *                              asks only for the entries past its last read
 *   job:<jobId>          set   instance ids the job ran on or caused
 *   shape:<shapeKey>     list  {seconds, epochs} of the last 50 units of that shape
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { UnitSpan } from '../core/costs.ts';

const SHAPE_SAMPLES = 50;

/** one instance's spans as spansFrom read them */
export interface SpansRead {
  running: UnitSpan[];
  ended: UnitSpan[];
  endedNext: number;
  fromStart: boolean;
}

export function createMeter(redis: Redis, prefix: string) {
  const k = {
    spans: (instanceId: string) => `${prefix}:costs:spans:${instanceId}`,
    ended: (instanceId: string) => `${prefix}:costs:ended:${instanceId}`,
    job: (jobId: string) => `${prefix}:costs:job:${jobId}`,
    shape: (key: string) => `${prefix}:costs:shape:${key}`,
  };
  const field = spanKey;
  /**
   * These instances' running spans, and their ended spans from the endedFrom'th on (0:
   * all): a reader that keeps the ended ones it has read passes the last read's
   * endedNext. The running hash is read before the ended list, so a unit that ends
   * between the two is seen in both (mergeSpans keeps the ended one), never in neither.
   * An endedFrom past the list's length (the list was removed meanwhile) reads it again
   * from 0, and fromStart says so: the reader drops what it kept.
   */
  async function spansFrom(from: Array<{ id: string; endedFrom: number }>): Promise<Map<string, SpansRead>> {
    const out = new Map<string, SpansRead>();
    if (!from.length) return out;
    const pipe = redis.pipeline();
    for (const f of from) pipe.hvals(k.spans(f.id)).llen(k.ended(f.id)).lrange(k.ended(f.id), f.endedFrom, -1);
    const res = (await pipe.exec()) ?? [];
    const parse = (v: unknown) => ((v as string[] | null) ?? []).map((x) => JSON.parse(x) as UnitSpan);
    const again: typeof from = [];
    from.forEach((f, n) => {
      if (Number(res[3 * n + 1]?.[1] ?? 0) < f.endedFrom) return void again.push({ id: f.id, endedFrom: 0 });
      const ended = parse(res[3 * n + 2]?.[1]);
      out.set(f.id, { running: parse(res[3 * n]?.[1]), ended, endedNext: f.endedFrom + ended.length, fromStart: f.endedFrom === 0 });
    });
    if (again.length) for (const [id, r] of await spansFrom(again)) out.set(id, r);
    return out;
  }
  /**
   * The jobs whose demand launched these instances carry their idle cost: one SADD per
   * job naming every instance of the launch (a launch of 100 instances for a 1,000-job
   * batch was 100 transactions of 1,000 commands each), added to the caller's transaction.
   */
  function causedBy<C extends ChainableCommander>(m: C, instanceIds: string[], jobIds: string[]): C {
    if (instanceIds.length) for (const j of jobIds) m.sadd(k.job(j), ...instanceIds);
    return m;
  }
  return {
    keys: k,
    /** a unit started on an instance */
    async unitStarted(s: UnitSpan): Promise<void> {
      await redis.multi().hset(k.spans(s.instanceId), field(s), JSON.stringify(s)).sadd(k.job(s.jobId), s.instanceId).exec();
    },
    /** the same unit stopped there (done, failed, handed back or killed): it moves from the running hash to the ended list */
    async unitEnded(s: UnitSpan, end: number): Promise<void> {
      await redis.multi().hdel(k.spans(s.instanceId), field(s)).rpush(k.ended(s.instanceId), JSON.stringify({ ...s, end })).exec();
    },
    causedBy,
    /** every span of these instances */
    async spansOf(instanceIds: string[]): Promise<UnitSpan[]> {
      const read = await spansFrom(instanceIds.map((id) => ({ id, endedFrom: 0 })));
      return [...read.values()].flatMap((r) => mergeSpans(r.ended, r.running));
    },
    spansFrom,
    /**
     * Each job's instances. A job view's read is sent beside the job's record in the same
     * write (the connection's auto-pipelining): an explicit pipeline was a socket write of
     * its own per GET /v1/jobs/:id. Larger lists go as one pipeline.
     */
    async instancesOfJobs(jobIds: string[]): Promise<Map<string, string[]>> {
      const out = new Map<string, string[]>();
      if (!jobIds.length) return out;
      if (jobIds.length === 1) return out.set(jobIds[0], await redis.smembers(k.job(jobIds[0])));
      const pipe = redis.pipeline();
      for (const j of jobIds) pipe.smembers(k.job(j));
      const res = (await pipe.exec()) ?? [];
      jobIds.forEach((j, i) => out.set(j, (res[i]?.[1] as string[] | null) ?? []));
      return out;
    },
    async recordDuration(shapeKey: string, seconds: number, epochs: number): Promise<void> {
      await redis.multi().lpush(k.shape(shapeKey), JSON.stringify({ seconds, epochs })).ltrim(k.shape(shapeKey), 0, SHAPE_SAMPLES - 1).exec();
    },
    async durations(shapeKey: string): Promise<Array<{ seconds: number; epochs: number }>> {
      return (await redis.lrange(k.shape(shapeKey), 0, -1)).map((v) => JSON.parse(v) as { seconds: number; epochs: number });
    },
  };
}
export type Meter = ReturnType<typeof createMeter>;

export const spanKey = (s: Pick<UnitSpan, 'jobId' | 'unit' | 'start'>) => `${s.jobId}|${s.unit}|${s.start}`;

/**
 * One instance's spans from its ended list and its running hash: a unit in both (it
 * ended between the two reads, or its end was recorded twice) counts once, as ended.
 */
export function mergeSpans(ended: Iterable<UnitSpan>, running: UnitSpan[]): UnitSpan[] {
  const byKey = new Map<string, UnitSpan>();
  for (const s of running) byKey.set(spanKey(s), s);
  for (const s of ended) byKey.set(spanKey(s), s);
  return [...byKey.values()];
}
