/**
 * On-demand prices from the AWS Pricing API. moto (5.x) does not implement the Pricing
 * API (GetProducts answers HTTP 500 there), so the parser is tested on a PriceList
 * item of the shape AWS documents for GetProducts (AmazonEC2 offer, aws_v1 format) and
 * the refresher on an injected client that answers such items or fails.
 */
import { GetProductsCommand } from '@aws-sdk/client-pricing';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/core/config.ts';
import { onDemandQuote } from '../../services/core/prices.ts';
import { createOnDemandRefresher, parsePriceListItem, pricingEndpointRegion, productFilters, type PricingSource } from '../../services/provisioner/providers/pricing.ts';

/** One PriceList entry as GetProducts returns it: a JSON string per product, OnDemand and Reserved terms. */
const priceListItem = (type: string, usd: string, regionCode = 'us-east-1') => JSON.stringify({
  product: {
    productFamily: 'Compute Instance',
    attributes: {
      enhancedNetworkingSupported: 'Yes', memory: '61 GiB', vcpu: '8', capacitystatus: 'Used', locationType: 'AWS Region', storage: 'EBS only',
      instanceFamily: 'GPU instance', operatingSystem: 'Linux', regionCode, physicalProcessor: 'Intel Xeon E5-2686 v4 (Broadwell)', servicecode: 'AmazonEC2',
      licenseModel: 'No License required', usagetype: `BoxUsage:${type}`, tenancy: 'Shared', location: 'US East (N. Virginia)', servicename: 'Amazon Elastic Compute Cloud',
      instanceType: type, gpu: '1', operation: 'RunInstances', preInstalledSw: 'NA',
    },
    sku: 'SKU0TESTPRICE',
  },
  serviceCode: 'AmazonEC2',
  terms: {
    OnDemand: {
      'SKU0TESTPRICE.JRTCKXETXF': {
        priceDimensions: {
          'SKU0TESTPRICE.JRTCKXETXF.6YS6EN2CT7': {
            unit: 'Hrs', endRange: 'Inf', description: `$${usd} per On Demand Linux ${type} Instance Hour`, appliesTo: [], rateCode: 'SKU0TESTPRICE.JRTCKXETXF.6YS6EN2CT7', beginRange: '0',
            pricePerUnit: { USD: usd },
          },
        },
        sku: 'SKU0TESTPRICE', effectiveDate: '2026-11-01T00:00:00Z', offerTermCode: 'JRTCKXETXF', termAttributes: {},
      },
    },
    Reserved: {
      'SKU0TESTPRICE.4NA7Y494T4': {
        priceDimensions: { 'SKU0TESTPRICE.4NA7Y494T4.6YS6EN2CT7': { unit: 'Hrs', pricePerUnit: { USD: '1.9000000000' }, description: 'Linux/UNIX (Amazon VPC), p3.2xlarge reserved instance applied', beginRange: '0', endRange: 'Inf', appliesTo: [], rateCode: 'x' } },
        sku: 'SKU0TESTPRICE', effectiveDate: '2026-11-01T00:00:00Z', offerTermCode: '4NA7Y494T4', termAttributes: { LeaseContractLength: '1yr', OfferingClass: 'standard', PurchaseOption: 'No Upfront' },
      },
    },
  },
  version: '20261101000000',
  publicationDate: '2026-11-01T00:00:00Z',
});

describe('PriceList parsing', () => {
  it('reads the OnDemand USD per hour, not the Reserved one', () => {
    expect(parsePriceListItem(priceListItem('p3.2xlarge', '3.0600000000'))).toEqual({ instanceType: 'p3.2xlarge', regionCode: 'us-east-1', usd: 3.06 });
    expect(parsePriceListItem(JSON.parse(priceListItem('g5.xlarge', '1.0060000000')))).toEqual({ instanceType: 'g5.xlarge', regionCode: 'us-east-1', usd: 1.006 });
  });
  it.each([
    ['not JSON', '{"product":'],
    ['no instance type', JSON.stringify({ product: { attributes: {} }, terms: { OnDemand: {} } })],
    ['no OnDemand terms', JSON.stringify({ product: { attributes: { instanceType: 'p3.2xlarge' } }, terms: {} })],
    ['a zero price (a reservation-only product)', priceListItem('p3.2xlarge', '0.0000000000')],
    ['a price that is not a number', priceListItem('p3.2xlarge', 'n/a')],
  ])('%s: no price', (_n, item) => {
    expect(parsePriceListItem(item)).toBeUndefined();
  });
  it('asks for Linux, shared tenancy, no pre-installed software, in the region; from the nearest endpoint', () => {
    const f = productFilters('g6.xlarge', 'eu-west-1');
    expect(f.ServiceCode).toBe('AmazonEC2');
    expect(Object.fromEntries(f.Filters!.map((x) => [x.Field, x.Value]))).toEqual({ instanceType: 'g6.xlarge', regionCode: 'eu-west-1', operatingSystem: 'Linux', tenancy: 'Shared', preInstalledSw: 'NA', capacitystatus: 'Used' });
    expect([pricingEndpointRegion('us-west-2'), pricingEndpointRegion('eu-west-1'), pricingEndpointRegion('ap-northeast-1')]).toEqual(['us-east-1', 'us-east-1', 'ap-south-1']);
  });
});

describe('the refresher', () => {
  const log = () => {
    const lines: string[] = [];
    return { lines, info: (_o: object, m?: string) => void lines.push(`info ${m}`), warn: (o: object, m?: string) => void lines.push(`warn ${m} ${JSON.stringify(o)}`) };
  };
  const client = (answer: (type: string) => string[] | Error): PricingSource & { calls: string[] } => {
    const calls: string[] = [];
    return {
      calls,
      async send(c: GetProductsCommand) {
        const type = c.input.Filters!.find((f) => f.Field === 'instanceType')!.Value!;
        calls.push(type);
        const a = answer(type);
        if (a instanceof Error) throw a;
        return { PriceList: a };
      },
    };
  };

  it('overrides the catalog with what the Pricing API answers, with the time it was read', async () => {
    const l = log();
    let t = 1_000;
    const c = client((type) => (type === 'p3.2xlarge' ? [priceListItem(type, '2.9000000000')] : []));
    const r = createOnDemandRefresher({ region: 'us-east-1', types: ['p3.2xlarge', 'g5.xlarge'], client: c, log: l, now: () => t });
    expect(onDemandQuote('p3.2xlarge', 'us-east-1', r.overrides())).toEqual({ usd: 3.06, source: 'catalog' });
    await r.refresh();
    expect(c.calls).toEqual(['p3.2xlarge', 'g5.xlarge']);
    expect(r.readAt()).toBe(1_000);
    expect(onDemandQuote('p3.2xlarge', 'us-east-1', r.overrides())).toEqual({ usd: 2.9, source: 'pricing-api' });
    // a type the API had nothing for keeps the catalog figure
    expect(onDemandQuote('g5.xlarge', 'us-east-1', r.overrides())).toEqual({ usd: 1.006, source: 'catalog' });
    // fresh figures are not read again; a day later they are
    r.refreshIfStale();
    expect(c.calls).toHaveLength(2);
    t += 24 * 3_600_000;
    r.refreshIfStale();
    await r.refresh();
    expect(c.calls.length).toBeGreaterThan(2);
  });

  it('a failing Pricing API (no permission, no network) keeps the catalog and says so once, never throws', async () => {
    const l = log();
    const c = client(() => Object.assign(new Error('User is not authorized to perform: pricing:GetProducts'), { name: 'AccessDeniedException' }));
    const r = createOnDemandRefresher({ region: 'us-east-1', types: ['p3.2xlarge', 'g5.xlarge'], client: c, log: l });
    await r.refresh();
    expect(r.readAt()).toBeUndefined();
    expect(r.overrides().size).toBe(0);
    expect(c.calls).toEqual(['p3.2xlarge']);
    expect(l.lines).toEqual([expect.stringMatching(/^warn Pricing API unavailable: on-demand prices stay the catalog's .*AccessDeniedException/)]);
  });

  it('NIGHTSHIFT_PRICING_REFRESH is on or off (default off)', () => {
    expect(loadConfig({}).costs.pricingRefresh).toBe(false);
    expect(loadConfig({ NIGHTSHIFT_PRICING_REFRESH: 'on' }).costs.pricingRefresh).toBe(true);
    expect(loadConfig({ NIGHTSHIFT_PRICING_REFRESH: 'off' }).costs.pricingRefresh).toBe(false);
    expect(() => loadConfig({ NIGHTSHIFT_PRICING_REFRESH: 'sometimes' })).toThrow(/NIGHTSHIFT_PRICING_REFRESH/);
  });
});
