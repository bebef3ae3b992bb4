/**
 * The spend ledger over a real Redis: month-to-date and batch spend as running totals
 * must equal what a full read of the fleet history gives, across a month boundary,
 * with live instances, a first build over history written before the ledger existed,
 * and a retired instance folded only once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCostReader, createSpendLedger, ledgerEntries, monthSpendOf } from '../../services/platform/costs.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import type { InstanceRecord } from '../../services/platform/fleet.ts';
import { createMeter } from '../../services/platform/meter.ts';
import { connectRedis, type Redis } from '../../services/platform/redis.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis.ts';

const NOV30 = Date.UTC(2026, 10, 30, 22, 0, 0);
const DEC = Date.UTC(2026, 11, 1);
const H = 3_600_000;
let redis: Redis;
let prefix: string;
beforeAll(() => {
  redis = connectRedis(TEST_REDIS_URL);
  prefix = uniquePrefix('ledger');
});
afterAll(async () => {
  await cleanupPrefix(prefix);
  redis.disconnect();
});

const rec = (id: string, launchedAt: number, o: Partial<InstanceRecord> = {}): InstanceRecord => ({ id, provider: 'ec2', resourceClass: 'gpu', type: 'g5.xlarge', market: 'on-demand', hourlyUsd: 3.6, launchedAt, slots: 1, ...o });

describe('spend ledger', () => {
  it('equals the full read: months split at midnight, tenants, batches, live instances; each instance folded once', async () => {
    const fleet = createFleetStore(redis, prefix);
    const meter = createMeter(redis, prefix);
    const src = fleet.instanceSource();
    // written before any ledger: 4 h across the month boundary for alice's job of batch B, 1 h in November for bob
    const a = rec('i-a', NOV30, { demand: [{ jobId: 'ja', tenant: 'alice', batchId: 'B', units: 1 }] });
    await fleet.putInstance(a);
    await meter.unitStarted({ instanceId: 'i-a', jobId: 'ja', tenant: 'alice', batchId: 'B', unit: 'u0', start: NOV30 });
    await meter.unitEnded({ instanceId: 'i-a', jobId: 'ja', tenant: 'alice', batchId: 'B', unit: 'u0', start: NOV30 }, NOV30 + 3 * H);
    await fleet.retire(a, NOV30 + 4 * H, 'idle');
    const b = rec('i-b', NOV30 - 5 * H, { demand: [{ jobId: 'jb', tenant: 'bob', units: 1 }] });
    await fleet.putInstance(b);
    await fleet.retire(b, NOV30 - 4 * H, 'idle');
    await redis.del(src.unfoldedKey); // as if retired by a version without the ledger

    const ledger = createSpendLedger(redis, prefix, meter, src);
    const t = DEC + 10 * H;
    // a live instance in December so far: 1 h
    await fleet.putInstance(rec('i-c', DEC + 9 * H, { demand: [{ jobId: 'jc', tenant: 'alice', batchId: 'B', units: 1 }] }));

    const full = monthSpendOf(await createCostReader(meter, src, () => t).lines(), t);
    const fast = await ledger.monthToDate(t);
    expect(fast.global).toBeCloseTo(full.global, 9);
    expect(Object.fromEntries(fast.tenants)).toEqual(Object.fromEntries([...full.tenants].map(([k, v]) => [k, expect.closeTo(v, 9)])));
    // December: i-a's 2 h after midnight + i-c's 1 h, all alice's
    expect(fast.global).toBeCloseTo(3 * 3.6, 9);
    const nov = await ledger.monthToDate(NOV30);
    // asked in November: i-a before midnight, i-b; the live i-c (not launched yet then) only its minute
    expect(nov.global).toBeCloseTo(2 * 3.6 + 3.6 + 0.06, 9);
    expect((await ledger.batchSpend(['B', 'none'], t)).get('B')).toBeCloseTo(5 * 3.6, 9);

    // retiring the live one moves it into the ledger exactly once
    await fleet.retire((await fleet.instances()).get('i-c')!, DEC + 10 * H, 'idle');
    expect((await ledger.monthToDate(t)).global).toBeCloseTo(3 * 3.6, 9);
    await redis.sadd(src.unfoldedKey, 'i-c', 'i-a'); // a repeated fold changes nothing
    expect((await ledger.monthToDate(t)).global).toBeCloseTo(3 * 3.6, 9);
    expect(await redis.scard(src.unfoldedKey)).toBe(0);
  });

  it('a retired instance\'s entries: per month of billing, per tenant, per batch', () => {
    const at = (t: number, usd: number, o: { tenant?: string; batchId?: string } = {}) => ({ instanceId: 'i', instanceType: 't', market: 'on-demand' as const, launchedAt: NOV30, at: t, usd, idleUsd: 0, instanceSeconds: 1, spotSavingsUsd: 0, ...(o.tenant ? { jobId: 'j', tenant: o.tenant } : {}), ...(o.batchId ? { batchId: o.batchId } : {}) });
    expect(ledgerEntries([at(NOV30, 1, { tenant: 'alice', batchId: 'B' }), at(DEC, 2, { tenant: 'alice', batchId: 'B' }), at(DEC, 0.5)])).toEqual([
      { month: '2026-11', field: 'global', usd: 1 },
      { month: '2026-11', field: 'tenant:alice', usd: 1 },
      { month: null, field: 'B', usd: 3 },
      { month: '2026-12', field: 'global', usd: 2.5 },
      { month: '2026-12', field: 'tenant:alice', usd: 2 },
    ]);
  });
});

describe('job costs read through the cache', () => {
  it('reuses a live instance\'s bill for liveCacheMs, then recomputes it (its end included), keeps a settled retired one', async () => {
    const p = `${prefix}:cache`;
    const fleet = createFleetStore(redis, p);
    const meter = createMeter(redis, p);
    const src = fleet.instanceSource();
    const T0 = Date.UTC(2026, 10, 10, 12);
    let t = T0 + H;
    const cached = createCostReader(meter, src, () => t, { liveCacheMs: 2_000 });
    const fresh = createCostReader(meter, src, () => t);
    await fleet.putInstance(rec('i-live', T0, { demand: [{ jobId: 'jx', tenant: 'alice', units: 1 }] }));
    await meter.unitStarted({ instanceId: 'i-live', jobId: 'jx', tenant: 'alice', unit: 'u0', start: T0 });
    const first = (await cached.jobCosts(['jx'])).get('jx')!.usd;
    expect(first).toBeCloseTo(3.6, 9);
    expect((await fresh.jobCosts(['jx'])).get('jx')!.usd).toBeCloseTo(first, 9);

    // within the window the figure is reused, even though the bill grew
    t += 1_000;
    expect((await cached.jobCosts(['jx'])).get('jx')!.usd).toBe(first);
    expect((await fresh.jobCosts(['jx'])).get('jx')!.usd).toBeGreaterThan(first);
    // past it, recomputed
    t += 1_500;
    expect((await cached.jobCosts(['jx'])).get('jx')!.usd).toBeCloseTo((await fresh.jobCosts(['jx'])).get('jx')!.usd, 9);


    // an instance that ended shows its final bill once the window has passed
    await meter.unitEnded({ instanceId: 'i-live', jobId: 'jx', tenant: 'alice', unit: 'u0', start: T0 }, T0 + H / 2);
    await fleet.retire((await fleet.instances()).get('i-live')!, T0 + H / 2, 'idle');
    const ended = (await fresh.jobCosts(['jx'])).get('jx')!;
    expect(ended.usd).toBeCloseTo(1.8, 9);
    t += 2_500;
    expect((await cached.jobCosts(['jx'])).get('jx')).toEqual(ended);

    // settled (a minute past its end): kept, spans are not read again
    t = T0 + H;
    await cached.jobCosts(['jx']);
    // (a span written after the fact, which a settled instance never gets, shows that nothing was read again)
    await meter.unitEnded({ instanceId: 'i-live', jobId: 'jy', tenant: 'bob', unit: 'u0', start: T0 }, T0 + H / 2);
    expect((await cached.jobCosts(['jx'])).get('jx')).toEqual(ended);
    expect((await fresh.jobCosts(['jx'])).get('jx')!.usd).toBeLessThan(ended.usd);
  });
});

describe('job costs read through the cache with a stale window', () => {
  it('answers the last figure at once past liveCacheMs while one background refresh runs; past the window a read waits', async () => {
    const p = `${prefix}:stale`;
    const fleet = createFleetStore(redis, p);
    const meter = createMeter(redis, p);
    const src = fleet.instanceSource();
    const T0 = Date.UTC(2026, 10, 10, 12);
    let t = T0 + H;
    const swr = createCostReader(meter, src, () => t, { liveCacheMs: 2_000, staleMs: 8_000 });
    const fresh = createCostReader(meter, src, () => t);
    await fleet.putInstance(rec('i-live', T0, { demand: [{ jobId: 'jx', tenant: 'alice', units: 1 }] }));
    await meter.unitStarted({ instanceId: 'i-live', jobId: 'jx', tenant: 'alice', unit: 'u0', start: T0 });
    const first = (await swr.jobCosts(['jx'])).get('jx')!.usd;
    expect(first).toBeCloseTo(3.6, 9);

    t += 3_000; // past liveCacheMs, inside the stale window
    const grown = (await fresh.jobCosts(['jx'])).get('jx')!.usd;
    expect(grown).toBeGreaterThan(first);
    expect((await swr.jobCosts(['jx'])).get('jx')!.usd).toBe(first);
    await swr.settled();
    expect((await swr.jobCosts(['jx'])).get('jx')!.usd).toBeCloseTo(grown, 9);

    t += 20_000; // past the stale window: the read waits for the recomputation
    expect((await swr.jobCosts(['jx'])).get('jx')!.usd).toBeCloseTo((await fresh.jobCosts(['jx'])).get('jx')!.usd, 9);
    expect((await swr.jobCosts(['jx'])).get('jx')!.usd).toBeGreaterThan(grown);
  });
});

describe('a cached reader reads only the spans that ended since its last read', () => {
  it('matches a full read as units start and end, with an end recorded twice, a span stored before the ended lists, and an ended list removed', async () => {
    const p = `${prefix}:incremental`;
    const fleet = createFleetStore(redis, p);
    const meter = createMeter(redis, p);
    const src = fleet.instanceSource();
    const T0 = Date.UTC(2026, 10, 10, 12);
    let t = T0 + 60_000;
    const cached = createCostReader(meter, src, () => t, { liveCacheMs: 1_000 });
    const full = createCostReader(meter, src, () => t);
    const jobs = ['ja', 'jb', 'jc'];
    const same = async () => {
      t += 1_500; // past liveCacheMs: the cached reader recomputes
      const [a, b] = await Promise.all([cached.jobCosts(jobs), full.jobCosts(jobs)]);
      for (const j of jobs) expect(a.get(j), j).toEqual(b.get(j));
      return b;
    };
    await fleet.putInstance(rec('i-1', T0, { slots: 2 }));
    const span = (jobId: string, unit: string, start: number) => ({ instanceId: 'i-1', jobId, tenant: 'alice', unit, start });
    // a unit that ended before the ended lists existed: its end is in the running hash
    await redis.hset(meter.keys.spans('i-1'), `jc|u0|${T0}`, JSON.stringify({ ...span('jc', 'u0', T0), end: T0 + 20_000 }));
    await meter.unitStarted(span('ja', 'u1', T0 + 10_000));
    await same();
    await meter.unitEnded(span('ja', 'u1', T0 + 10_000), T0 + 30_000);
    await meter.unitStarted(span('jb', 'u2', T0 + 30_000));
    const mid = await same();
    expect(mid.get('ja')!.instanceSeconds).toBeGreaterThan(0);
    expect(await redis.hexists(meter.keys.spans('i-1'), `ja|u1|${T0 + 10_000}`)).toBe(0); // moved to the ended list
    await meter.unitEnded(span('jb', 'u2', T0 + 30_000), T0 + 50_000);
    await meter.unitEnded(span('jb', 'u2', T0 + 30_000), T0 + 50_000); // recorded twice: counted once
    expect(await redis.llen(meter.keys.ended('i-1'))).toBe(3);
    const after = await same();
    expect(after.get('jb')!.instanceSeconds).toBeGreaterThan(0);
    // the ended list removed and written again from scratch: the reader starts over
    await redis.del(meter.keys.ended('i-1'));
    await meter.unitEnded(span('ja', 'u3', T0 + 50_000), T0 + 55_000);
    const reset = await same();
    expect(reset.get('jb')!.instanceSeconds).toBe(0); // its ended span went with the list
    expect(reset.get('ja')!.instanceSeconds).toBeGreaterThan(0);
  });
});

describe('a launch\'s demand list', () => {
  it('is stored once and read into each of its instances (and a record that carries its own list keeps it)', async () => {
    const p = `${prefix}:demand`;
    const fleet = createFleetStore(redis, p);
    const src = fleet.instanceSource();
    const demand = [{ jobId: 'j1', tenant: 'alice', units: 3 }, { jobId: 'j2', tenant: 'bob', batchId: 'B', units: 1 }];
    const key = await fleet.putLaunchDemand('L1', demand);
    const T0 = Date.UTC(2026, 10, 10, 12);
    // as a launch writes them: the records and their jobs' instance sets in one transaction
    const meter = createMeter(redis, p);
    await fleet.putInstances([rec('i-1', T0, { launchId: 'L1', demandOf: key }), rec('i-2', T0, { launchId: 'L1', demandOf: key })], (tx) => meter.causedBy(tx, ['i-1', 'i-2'], ['j1', 'j2']));
    await fleet.putInstance(rec('i-old', T0, { demand: [{ jobId: 'j0', tenant: 'carol', units: 1 }] }));
    expect(await redis.hget(fleet.keys.instances, 'i-1')).not.toContain('j1'); // the record names the launch only
    await fleet.retire((await fleet.instances()).get('i-2')!, T0 + H, 'idle');
    for (const list of [await src.live(), await src.all(), await src.byIds(['i-1', 'i-2', 'i-old'])]) {
      const byId = new Map(list.map((i) => [i.id, i.demand]));
      expect(byId.get('i-1')).toEqual(demand);
      expect(byId.get('i-old')).toEqual([{ jobId: 'j0', tenant: 'carol', units: 1 }]);
      if (byId.has('i-2')) expect(byId.get('i-2')).toEqual(demand);
    }
    // a second store (another process) reads the list from Redis, not from memory
    const other = createFleetStore(redis, p).instanceSource();
    expect((await other.byIds(['i-2']))[0].demand).toEqual(demand);
    // the same launch id again (a sequence restarted with an emptied Redis): its own list,
    // and a store that holds the first one in memory still reads the second correctly
    const again = await fleet.putLaunchDemand('L1', [{ jobId: 'j9', tenant: 'dan', units: 1 }]);
    expect(again).not.toBe(key);
    await fleet.putInstance(rec('i-3', T0, { launchId: 'L1', demandOf: again }));
    expect((await src.byIds(['i-3', 'i-1'])).map((i) => i.demand?.[0]?.jobId)).toEqual(['j9', 'j1']);
    // the launch's two instances bill both its jobs; idle goes to them by their units (3:1)
    const sets = await meter.instancesOfJobs(['j1', 'j2', 'j0']);
    expect([...sets].map(([j, ids]) => [j, [...ids].sort()])).toEqual([['j1', ['i-1', 'i-2']], ['j2', ['i-1', 'i-2']], ['j0', []]]);
    const costs = await createCostReader(meter, other, () => T0 + H).jobCosts(['j1', 'j2']);
    // i-1 live for an hour, i-2 retired after one: 2 x 3.6 USD
    expect(costs.get('j1')!.usd).toBeCloseTo(0.75 * 7.2, 9);
    expect(costs.get('j2')!.usd).toBeCloseTo(0.25 * 7.2, 9);
  });
});
