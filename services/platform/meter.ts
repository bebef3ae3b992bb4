/**
 * The meter's Redis side: which unit ran on which instance and when (spans), which
 * instances each job ran on or caused, and measured unit durations per model shape
 * (the budget gate's estimate). Instance lifetimes and prices are the fleet records;
 * core/costs.ts turns both into dollars.
 *
 * Keys (under `<prefix>:costs:`):
 *   spans:<instanceId>   hash  `<jobId>|<unit>|<start>` -> UnitSpan JSON
 *   job:<jobId>          set   instance ids the job ran on or caused
 *   shape:<shapeKey>     list  {seconds, epochs} of the last 50 units of that shape
 */
import type { Redis } from 'ioredis';
import type { UnitSpan } from '../core/costs.ts';

const SHAPE_SAMPLES = 50;

export function createMeter(redis: Redis, prefix: string) {
  const k = {
    spans: (instanceId: string) => `${prefix}:costs:spans:${instanceId}`,
    job: (jobId: string) => `${prefix}:costs:job:${jobId}`,
    shape: (key: string) => `${prefix}:costs:shape:${key}`,
  };
  const field = (s: Pick<UnitSpan, 'jobId' | 'unit' | 'start'>) => `${s.jobId}|${s.unit}|${s.start}`;
  return {
    keys: k,
    /** a unit started on an instance */
    async unitStarted(s: UnitSpan): Promise<void> {
      await redis.multi().hset(k.spans(s.instanceId), field(s), JSON.stringify(s)).sadd(k.job(s.jobId), s.instanceId).exec();
    },
    /** the same unit stopped there (done, failed, handed back or killed) */
    async unitEnded(s: UnitSpan, end: number): Promise<void> {
      await redis.hset(k.spans(s.instanceId), field(s), JSON.stringify({ ...s, end }));
    },
    /** the jobs whose demand launched an instance carry its idle cost */
    async instanceCausedBy(instanceId: string, jobIds: string[]): Promise<void> {
      if (!jobIds.length) return;
      const m = redis.multi();
      for (const j of jobIds) m.sadd(k.job(j), instanceId);
      await m.exec();
    },
    async spansOf(instanceIds: string[]): Promise<UnitSpan[]> {
      if (!instanceIds.length) return [];
      const pipe = redis.pipeline();
      for (const id of instanceIds) pipe.hvals(k.spans(id));
      const res = (await pipe.exec()) ?? [];
      return res.flatMap(([, v]) => ((v as string[] | null) ?? []).map((x) => JSON.parse(x) as UnitSpan));
    },
    async instancesOfJobs(jobIds: string[]): Promise<Map<string, string[]>> {
      const out = new Map<string, string[]>();
      if (!jobIds.length) return out;
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
