/**
 * The resource class codec: every record survives format -> parse, the string form is
 * the one older versions wrote (tags and records keep working), and strings that are
 * not valid classes degrade to what can be read from them.
 */
import { describe, expect, it } from 'vitest';
import { formatResourceClass, parseResourceClass, type ResourceClass } from '../../services/core/resource-class.ts';

describe('resource class codec', () => {
  it.each<[ResourceClass, string]>([
    [{ accelerator: 'any' }, 'any'],
    [{ accelerator: 'gpu' }, 'gpu'],
    [{ accelerator: 'cpu', spot: 'no' }, 'cpu/spot=no'],
    [{ accelerator: 'gpu', spot: 'prefer' }, 'gpu/spot=prefer'],
    [{ accelerator: 'gpu', spot: 'require', instanceTypes: ['p3.2xlarge'] }, 'gpu/spot=require/types=p3.2xlarge'],
    [{ accelerator: 'cpu', instanceTypes: ['c5.xlarge', 'm5.xlarge'], maxHourlyUsd: 0.5 }, 'cpu/types=c5.xlarge+m5.xlarge/max=0.5'],
    [{ accelerator: 'gpu', spot: 'prefer', instanceTypes: ['p3.2xlarge', 'p3.8xlarge'], maxHourlyUsd: 3.5 }, 'gpu/spot=prefer/types=p3.2xlarge+p3.8xlarge/max=3.5'],
    [{ accelerator: 'any', maxHourlyUsd: 12 }, 'any/max=12'],
  ])('%j <-> %s', (record, text) => {
    expect(formatResourceClass(record)).toBe(text);
    expect(parseResourceClass(text)).toEqual(record);
    expect(formatResourceClass(parseResourceClass(text))).toBe(text);
  });

  it('writes no empty type list', () => {
    expect(formatResourceClass({ accelerator: 'gpu', instanceTypes: [] })).toBe('gpu');
  });

  it.each<[string, ResourceClass]>([
    ['', { accelerator: 'any' }],
    ['tpu', { accelerator: 'any' }],
    ['GPU', { accelerator: 'any' }],
    ['gpu/spot=maybe', { accelerator: 'gpu' }],
    ['gpu/spot', { accelerator: 'gpu' }],
    ['gpu/types=', { accelerator: 'gpu' }],
    ['gpu/types=+p3.2xlarge+', { accelerator: 'gpu', instanceTypes: ['p3.2xlarge'] }],
    ['cpu/max=', { accelerator: 'cpu' }],
    ['cpu/max=-1', { accelerator: 'cpu' }],
    ['cpu/max=0', { accelerator: 'cpu' }],
    ['cpu/max=cheap', { accelerator: 'cpu' }],
    ['cpu/max=Infinity', { accelerator: 'cpu' }],
    ['gpu/zone=us-east-1a/spot=require', { accelerator: 'gpu', spot: 'require' }],
    ['gpu//spot=no', { accelerator: 'gpu', spot: 'no' }],
  ])('reads %j as %j', (text, record) => {
    expect(parseResourceClass(text)).toEqual(record);
  });
});
