/**
 * Spot prices move while an instance runs. Every hour of its life the provisioner
 * re-reads the price of its type in the zone it launched in and records it on the
 * instance as a price segment; the meter charges each stretch at the price then in
 * force (core/costs.ts billingWindows). Where no history exists (emulators) the price
 * stays the catalog's, and the record says so (priceSource). The decisions are pure
 * (dueForSpotRead, withSpotPrice: test/unit/provisioner-spot-prices.test.ts).
 */
import type { InstanceRecord } from '../platform/fleet.ts';
import type { FleetStore } from '../platform/fleet-store.ts';
import type { ComputeProvider } from './provider.ts';

export const SPOT_REREAD_MS = 3_600_000;
export const NO_SPOT_HISTORY = 'catalog: no spot price history';

/** live spot instances whose price was last read (or set at launch) at least `everyMs` ago */
export function dueForSpotRead(records: Iterable<InstanceRecord>, t: number, everyMs: number = SPOT_REREAD_MS): InstanceRecord[] {
  return [...records].filter((r) => r.market === 'spot' && r.zone !== undefined && r.terminatedAt === undefined && t - (r.priceCheckedAt ?? r.launchedAt) >= everyMs);
}

/**
 * The record after a re-read at t. A new price counts from when the history says it
 * took effect, but never before the last read (what was charged up to then stays) nor
 * after t; an unchanged price only moves the read time; no history keeps the price and
 * records why.
 */
export function withSpotPrice(r: InstanceRecord, quote: { hourlyUsd: number; since: number } | undefined, t: number): InstanceRecord {
  if (!quote) return { ...r, priceCheckedAt: t, priceSource: r.prices?.length ? r.priceSource ?? NO_SPOT_HISTORY : NO_SPOT_HISTORY };
  const segs = r.prices?.length ? r.prices : [{ from: r.launchedAt, hourlyUsd: r.hourlyUsd }];
  const last = segs[segs.length - 1];
  if (quote.hourlyUsd === last.hourlyUsd) return { ...r, priceCheckedAt: t, prices: segs };
  const from = Math.min(t, Math.max(quote.since, r.priceCheckedAt ?? r.launchedAt, last.from));
  const kept = segs.filter((s) => s.from < from);
  return { ...r, priceCheckedAt: t, priceSource: 'spot-history', prices: [...kept, { from, hourlyUsd: quote.hourlyUsd }] };
}

/** Re-reads the spot price of every instance that is due and records it (records is updated in place). */
export async function rereadSpotPrices(d: { store: FleetStore; provider: ComputeProvider; log: { info(o: object, m?: string): void; warn(o: object, m?: string): void } }, records: Map<string, InstanceRecord>, t: number): Promise<void> {
  const { provider } = d;
  if (!provider.spotPrice) return;
  for (const r of dueForSpotRead(records.values(), t)) {
    try {
      const next = withSpotPrice(r, await provider.spotPrice(r.type, r.zone!), t);
      await d.store.putInstance(next);
      records.set(r.id, next);
      const was = r.prices?.[r.prices.length - 1]?.hourlyUsd ?? r.hourlyUsd;
      const now = next.prices?.[next.prices.length - 1]?.hourlyUsd ?? next.hourlyUsd;
      if (now !== was) d.log.info({ instanceId: r.id, type: r.type, zone: r.zone, hourlyUsd: now, was }, 'spot price changed');
    } catch (err) {
      d.log.warn({ instanceId: r.id, err: (err as Error).message }, 'spot price re-read failed; the next pass tries again');
    }
  }
}
