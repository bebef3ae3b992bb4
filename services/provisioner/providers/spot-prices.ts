/**
 * Spot prices: the latest DescribeSpotPriceHistory rows when they look real, else
 * unknown — the history can be empty (emulators have no p3 rows) and the on-demand
 * price (services/core/prices.ts) is then the estimate.
 */

export interface SpotRow {
  availabilityZone?: string;
  price: number;
  at: number;
}

/**
 * The cheapest latest price over availability zones; rows below 5% of on-demand or
 * above on-demand are not believed (spot never costs more than on-demand by our
 * request, and emulators answer placeholder prices). undefined = no usable row.
 */
export function pickSpotPrice(rows: SpotRow[], onDemand: number): number | undefined {
  return pickSpotRow(rows, onDemand)?.price;
}

/** The row pickSpotPrice's figure comes from (its time is when that price took effect). */
export function pickSpotRow(rows: SpotRow[], onDemand: number): SpotRow | undefined {
  const latest = new Map<string, SpotRow>();
  for (const r of rows) {
    const az = r.availabilityZone ?? '';
    const cur = latest.get(az);
    if (!cur || r.at > cur.at) latest.set(az, r);
  }
  const ok = [...latest.values()].filter((r) => Number.isFinite(r.price) && r.price >= 0.05 * onDemand && r.price <= onDemand);
  return ok.length ? ok.reduce((a, b) => (b.price < a.price ? b : a)) : undefined;
}
