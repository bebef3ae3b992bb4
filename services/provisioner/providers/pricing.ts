/**
 * On-demand prices from the AWS Pricing API (GetProducts on the AmazonEC2 offer),
 * over the catalog of core/prices.ts, when NIGHTSHIFT_PRICING_REFRESH=on. The API
 * answers from us-east-1 or ap-south-1 for every region; each product is a PriceList
 * JSON document whose OnDemand terms carry pricePerUnit.USD (parsePriceListItem, pure,
 * tested on a document of the shape AWS documents). Prices are read for the catalog's
 * types in the configured region, kept with the time they were read and refreshed
 * daily; a failure keeps the catalog figures and says so in the log, never more.
 */
import { GetProductsCommand, PricingClient, type GetProductsCommandInput } from '@aws-sdk/client-pricing';

export interface PriceListPrice {
  instanceType: string;
  regionCode?: string;
  usd: number;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);

/** The instance type and its on-demand USD per hour in one PriceList item (a JSON string or its parse); undefined when it has none. */
export function parsePriceListItem(item: string | Json): PriceListPrice | undefined {
  let doc: Json | undefined;
  try {
    doc = typeof item === 'string' ? obj(JSON.parse(item)) : obj(item);
  } catch {
    return undefined;
  }
  const attrs = obj(obj(doc?.product)?.attributes);
  const instanceType = attrs?.instanceType;
  if (typeof instanceType !== 'string') return undefined;
  for (const term of Object.values(obj(obj(doc?.terms)?.OnDemand) ?? {})) {
    for (const dim of Object.values(obj(obj(term)?.priceDimensions) ?? {})) {
      const d = obj(dim);
      const raw = obj(d?.pricePerUnit)?.USD;
      const usd = typeof raw === 'string' ? Number(raw) : NaN;
      if (d?.unit === 'Hrs' && Number.isFinite(usd) && usd > 0) {
        return { instanceType, ...(typeof attrs?.regionCode === 'string' ? { regionCode: attrs.regionCode } : {}), usd };
      }
    }
  }
  return undefined;
}

/** The Pricing API's endpoints: ap-south-1 is nearer for Asia-Pacific and Middle-East regions, us-east-1 for the rest. */
export const pricingEndpointRegion = (region: string): string => (/^(ap|me)-/.test(region) ? 'ap-south-1' : 'us-east-1');

/** GetProducts filters for one type's Linux, shared-tenancy, no-preinstalled-software on-demand price in a region. */
export function productFilters(type: string, region: string): GetProductsCommandInput {
  const f = (Field: string, Value: string) => ({ Type: 'TERM_MATCH' as const, Field, Value });
  return {
    ServiceCode: 'AmazonEC2',
    Filters: [f('instanceType', type), f('regionCode', region), f('operatingSystem', 'Linux'), f('tenancy', 'Shared'), f('preInstalledSw', 'NA'), f('capacitystatus', 'Used')],
    FormatVersion: 'aws_v1',
    MaxResults: 10,
  };
}

export interface PricingSource {
  send(c: GetProductsCommand): Promise<{ PriceList?: Array<string | Json> }>;
}

export interface OnDemandRefresher {
  /** `<region>/<type>` -> USD per hour, as core/prices.ts onDemandQuote takes them */
  overrides(): ReadonlyMap<string, number>;
  /** when the figures were read (undefined: never) */
  readAt(): number | undefined;
  /** reads every type now; failures keep the previous figures (or the catalog) */
  refresh(): Promise<void>;
  /** refreshes in the background when the figures are older than maxAgeMs (or missing) */
  refreshIfStale(): void;
}

export function createOnDemandRefresher(d: {
  region: string;
  types: string[];
  client?: PricingSource;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  now?: () => number;
  maxAgeMs?: number;
}): OnDemandRefresher {
  const now = d.now ?? Date.now;
  const maxAgeMs = d.maxAgeMs ?? 24 * 3_600_000;
  const client: PricingSource = d.client ?? new PricingClient({ region: pricingEndpointRegion(d.region), ...(d.credentials ? { credentials: d.credentials } : {}) });
  let prices = new Map<string, number>();
  let at: number | undefined;
  let inFlight: Promise<void> | undefined;
  let lastTry = 0;

  async function refresh(): Promise<void> {
    lastTry = now();
    const next = new Map(prices);
    let read = 0;
    let failed: string | undefined;
    for (const type of d.types) {
      try {
        const out = await client.send(new GetProductsCommand(productFilters(type, d.region)));
        const p = (out.PriceList ?? []).map((x) => parsePriceListItem(x)).find((x) => x && x.instanceType === type && (x.regionCode === undefined || x.regionCode === d.region));
        if (p) {
          next.set(`${d.region}/${type}`, p.usd);
          read++;
        }
      } catch (err) {
        failed = `${(err as { name?: string }).name ?? 'Error'}: ${(err as Error).message}`;
        break;
      }
    }
    if (failed) {
      d.log.warn({ region: d.region, err: failed }, 'Pricing API unavailable: on-demand prices stay the catalog\'s (services/core/prices.ts)');
      return;
    }
    prices = next;
    at = now();
    d.log.info({ region: d.region, types: d.types.length, read }, 'on-demand prices read from the Pricing API');
  }

  return {
    overrides: () => prices,
    readAt: () => at,
    refresh: () => (inFlight ??= refresh().finally(() => (inFlight = undefined))),
    refreshIfStale() {
      // a failed read is tried again after an hour, not on every call
      if (inFlight || (at !== undefined && now() - at < maxAgeMs) || now() - lastTry < Math.min(maxAgeMs, 3_600_000)) return;
      void this.refresh().catch(() => undefined);
    },
  };
}
