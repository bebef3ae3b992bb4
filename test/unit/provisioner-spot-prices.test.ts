/** Hourly spot price re-reads: which instances are due, and the price segments a re-read records (pure). */
import { describe, expect, it } from 'vitest';
import { apportionInstance } from '../../services/core/costs.ts';
import { meteredOf, type InstanceRecord } from '../../services/platform/fleet.ts';
import { pickSpotRow } from '../../services/provisioner/providers/spot-prices.ts';
import { dueForSpotRead, NO_SPOT_HISTORY, SPOT_REREAD_MS, withSpotPrice } from '../../services/provisioner/spot-prices.ts';

const T = Date.UTC(2026, 10, 28, 1, 0, 0);
const H = 3_600_000;
const rec = (o: Partial<InstanceRecord> = {}): InstanceRecord => ({ id: 'i-1', provider: 'ec2', resourceClass: 'gpu', type: 'g5.xlarge', market: 'spot', hourlyUsd: 0.4, onDemandUsd: 1.006, launchedAt: T, zone: 'us-east-1a', slots: 1, priceSource: 'spot-history', ...o });

describe('which instances are due for a re-read', () => {
  it.each([
    ['spot, an hour after launch', rec(), T + H, true],
    ['spot, 59 minutes after launch', rec(), T + H - 60_000, false],
    ['an hour after the last read', rec({ priceCheckedAt: T + 2 * H }), T + 3 * H, true],
    ['on-demand never', rec({ market: 'on-demand' }), T + 5 * H, false],
    ['no zone on record (adopted before zones were kept)', rec({ zone: undefined }), T + 5 * H, false],
    ['terminated', rec({ terminatedAt: T + H }), T + 5 * H, false],
  ] as const)('%s', (_n, r, t, due) => {
    expect(dueForSpotRead([r], t, SPOT_REREAD_MS).length === 1).toBe(due);
  });
});

describe('what a re-read records', () => {
  it.each([
    ['no history: the catalog price stays, the record says why', rec({ priceSource: 'catalog: no spot price history' }), undefined, T + H, undefined, NO_SPOT_HISTORY],
    ['the same price: only the read time moves', rec(), { hourlyUsd: 0.4, since: T - H }, T + H, [[T, 0.4]], 'spot-history'],
    ['a new price from when the history says', rec(), { hourlyUsd: 0.5, since: T + H / 2 }, T + H, [[T, 0.4], [T + H / 2, 0.5]], 'spot-history'],
    ['a change before the last read counts from the last read', rec({ priceCheckedAt: T + H }), { hourlyUsd: 0.5, since: T + H / 2 }, T + 2 * H, [[T, 0.4], [T + H, 0.5]], 'spot-history'],
    ['a third segment', rec({ priceCheckedAt: T + H, prices: [{ from: T, hourlyUsd: 0.4 }, { from: T + H / 2, hourlyUsd: 0.5 }] }), { hourlyUsd: 0.3, since: T + 1.5 * H }, T + 2 * H, [[T, 0.4], [T + H / 2, 0.5], [T + 1.5 * H, 0.3]], 'spot-history'],
    ['a time stamp in the future is clamped to now', rec(), { hourlyUsd: 0.5, since: T + 9 * H }, T + H, [[T, 0.4], [T + H, 0.5]], 'spot-history'],
  ] as const)('%s', (_n, r, quote, t, segs, source) => {
    const next = withSpotPrice(r, quote, t);
    expect(next.priceCheckedAt).toBe(t);
    expect(next.priceSource).toBe(source);
    expect(next.prices?.map((s) => [s.from, s.hourlyUsd])).toEqual(segs);
  });

  it('the meter charges each stretch at the price in force: 30 min at 0.40, 90 min at 0.50', () => {
    const r = withSpotPrice(rec(), { hourlyUsd: 0.5, since: T + H / 2 }, T + H);
    const bill = apportionInstance(meteredOf({ ...r, terminatedAt: T + 2 * H }), [], 0);
    expect(bill.usd).toBeCloseTo(0.2 + 0.75, 9);
    expect(bill.spotSavingsUsd).toBeCloseTo((1.006 - 0.4) * 0.5 + (1.006 - 0.5) * 1.5, 9);
  });

  it('the history row a price comes from: the cheapest latest believable row, with its time', () => {
    expect(pickSpotRow([
      { availabilityZone: 'a', price: 0.5, at: 1 }, { availabilityZone: 'a', price: 0.45, at: 2 },
      { availabilityZone: 'b', price: 0.001, at: 3 }, // below 5% of on-demand: a placeholder
    ], 1.006)).toEqual({ availabilityZone: 'a', price: 0.45, at: 2 });
    expect(pickSpotRow([], 1)).toBeUndefined();
  });
});
