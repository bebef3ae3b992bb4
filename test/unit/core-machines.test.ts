/** The machine table (image and bootstrap per family, slots), placement by estimated cost, and the EC2 type settings. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../services/core/config.ts';
import { classTypes, imageFor, slotsOf } from '../../services/core/machines.ts';
import { choosePlacement, denseParams, type PlacementOptions } from '../../services/core/placement.ts';
import { checkPriceCap } from '../../services/core/resource-rules.ts';
import type { JobSpec } from '../../services/core/spec.ts';

describe('machine image per family', () => {
  it.each([
    ['p3.2xlarge', '/aws/service/deeplearning/ami/x86_64/base-proprietary-nvidia-driver-amazon-linux-2/latest/ami-id', 'amazon-linux'],
    ['p3dn.24xlarge', '/aws/service/deeplearning/ami/x86_64/base-proprietary-nvidia-driver-amazon-linux-2/latest/ami-id', 'amazon-linux'],
    ['g4dn.xlarge', '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id', 'ubuntu'],
    ['g5.xlarge', '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id', 'ubuntu'],
    ['p4d.24xlarge', '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id', 'ubuntu'],
    ['c7i.2xlarge', '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64', 'amazon-linux'],
  ])('%s -> %s (%s)', (type, parameter, os) => {
    expect(imageFor(type)).toMatchObject({ ssmParameter: parameter, os });
  });

  it('has no image for families it does not know', () => {
    expect(imageFor('p2.xlarge')).toBeUndefined();
    expect(imageFor('nonsense')).toBeUndefined();
  });

  it.each([
    ['p3.8xlarge', 1], ['g5.12xlarge', 1], ['c7i.large', 1], ['c7i.xlarge', 2], ['c7i.2xlarge', 4], ['m6i.4xlarge', 8], ['c6i.8xlarge', 16],
  ])('%s runs %i unit(s) at once', (type, slots) => {
    expect(slotsOf(type)).toBe(slots);
  });

  it('a class launches its own types, else the operator list of its accelerator', () => {
    const fleet = { instanceTypes: ['p3.2xlarge'], cpuInstanceTypes: ['c7i.2xlarge'] };
    expect(classTypes({ accelerator: 'cpu' }, fleet)).toEqual(['c7i.2xlarge']);
    expect(classTypes({ accelerator: 'gpu' }, fleet)).toEqual(['p3.2xlarge']);
    expect(classTypes({ accelerator: 'any', instanceTypes: ['g5.xlarge'] }, fleet)).toEqual(['g5.xlarge']);
  });
});

describe('choosePlacement', () => {
  const prices: Record<string, number> = { 'p3.2xlarge': 3.06, 'g4dn.xlarge': 0.526, 'c7i.2xlarge': 0.357 };
  const base: PlacementOptions = {
    accelerator: 'any', cpuCapable: true, gpuTypes: ['p3.2xlarge', 'g4dn.xlarge'], cpuTypes: ['c7i.2xlarge'],
    work: { trainRows: 10_000, epochs: 100, batchSize: 32, params: 401 }, hourlyUsd: (t) => prices[t],
  };

  it('a small MLP: CPU (4 units per c7i.2xlarge) is far cheaper per unit than any GPU', () => {
    const p = choosePlacement(base)!;
    expect(p.accelerator).toBe('cpu');
    expect(p.instanceType).toBe('c7i.2xlarge');
    // 10 000 rows x 100 epochs x 401 params x 5 ns = 2.005 s; 0.357 $/h / 4 slots
    expect(p.estimatedUnitSeconds).toBeCloseTo(2.005, 6);
    expect(p.estimatedUsdPerUnit).toBeCloseTo((0.357 / 4) * (2.005 / 3600), 12);
  });

  it('a wide network with big batches: the GPU wins, and the cheaper GPU type of the two', () => {
    const p = choosePlacement({ ...base, work: { trainRows: 100_000, epochs: 50, batchSize: 4096, params: 20_000_000 } })!;
    expect(p.accelerator).toBe('gpu');
    expect(p.instanceType).toBe('g4dn.xlarge');
  });

  it.each([
    ['gpu asked', { accelerator: 'gpu' as const }, 'gpu'],
    ['cpu asked', { accelerator: 'cpu' as const }, 'cpu'],
    ['a model only tfjs trains', { cpuCapable: false }, 'gpu'],
    ['the job names a CPU type', { accelerator: 'any' as const, instanceTypes: ['c7i.2xlarge'] }, 'cpu'],
  ])('%s -> %s', (_n, over, acc) => {
    expect(choosePlacement({ ...base, ...over })?.accelerator).toBe(acc);
  });

  it('nothing to run on: undefined', () => {
    expect(choosePlacement({ ...base, accelerator: 'cpu', cpuCapable: false })).toBeUndefined();
    expect(choosePlacement({ ...base, accelerator: 'gpu', gpuTypes: [] })).toBeUndefined();
  });

  it('counts dense parameters with biases', () => {
    expect(denseParams([{ type: 'dense', units: 50 }, { type: 'dropout' }, { type: 'dense', units: 1 }], 6)).toBe(6 * 50 + 50 + 50 + 1);
    expect(denseParams([{ type: 'conv2d', units: 3 }], 6)).toBe(0);
  });
});

describe('EC2 type settings', () => {
  const err = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (e) {
      return e instanceof ConfigError ? e.variable : 'other';
    }
    return undefined;
  };

  it('defaults: allowed = the priced catalog with a machine image; p3 for GPU classes, c7i/c6i/m6i for CPU classes', () => {
    const c = loadConfig({});
    expect(c.ec2.allowedTypes).toContain('p3.2xlarge');
    expect(c.ec2.allowedTypes).toContain('c7i.2xlarge');
    expect(c.ec2.allowedTypes).not.toContain('t3.medium');
    expect(c.ec2.instanceTypes).toEqual(['p3.2xlarge', 'p3.8xlarge']);
    expect(c.ec2.cpuInstanceTypes).toEqual(['c7i.2xlarge', 'c6i.2xlarge', 'm6i.2xlarge']);
  });

  it.each([
    [{ NIGHTSHIFT_EC2_ALLOWED_TYPES: 'p2.xlarge' }, 'NIGHTSHIFT_EC2_ALLOWED_TYPES'],
    [{ NIGHTSHIFT_EC2_ALLOWED_TYPES: 'g5.xlarge', NIGHTSHIFT_EC2_INSTANCE_TYPES: 'p3.2xlarge' }, 'NIGHTSHIFT_EC2_INSTANCE_TYPES'],
    [{ NIGHTSHIFT_EC2_INSTANCE_TYPES: 'c7i.2xlarge' }, 'NIGHTSHIFT_EC2_INSTANCE_TYPES'],
    [{ NIGHTSHIFT_EC2_CPU_INSTANCE_TYPES: 'g5.xlarge' }, 'NIGHTSHIFT_EC2_CPU_INSTANCE_TYPES'],
    [{ NIGHTSHIFT_EC2_MAX_HOURLY_USD: 'lots' }, 'NIGHTSHIFT_EC2_MAX_HOURLY_USD'],
    [{ NIGHTSHIFT_WORKER_IMAGE: 'has spaces in it' }, 'NIGHTSHIFT_WORKER_IMAGE'],
    [{ NIGHTSHIFT_ACCELERATOR: 'tpu' }, 'NIGHTSHIFT_ACCELERATOR'],
    [{ NIGHTSHIFT_EC2_CPU_SPOT: 'sometimes' }, 'NIGHTSHIFT_EC2_CPU_SPOT'],
  ])('%o stops with %s', (env, variable) => {
    expect(err(env)).toBe(variable);
  });

  it.each([
    [{}, 'no', 'prefer'],
    [{ NIGHTSHIFT_EC2_SPOT: 'no' }, 'no', 'no'],
    [{ NIGHTSHIFT_EC2_SPOT: 'require' }, 'require', 'require'],
    [{ NIGHTSHIFT_EC2_CPU_SPOT: 'require' }, 'no', 'require'],
    [{ NIGHTSHIFT_EC2_SPOT: 'no', NIGHTSHIFT_EC2_CPU_SPOT: 'prefer' }, 'no', 'prefer'],
  ])('market %o: GPU classes %s, CPU classes %s', (env, gpu, cpu) => {
    const c = loadConfig(env);
    expect(c.ec2.spot).toBe(gpu);
    expect(c.ec2.cpuSpot).toBe(cpu);
  });

  it('a price cap below every on-demand price is refused only where the class cannot use spot', () => {
    const cpuJob = { resources: { accelerator: 'cpu', maxHourlyUsd: 0.1 } } as unknown as JobSpec;
    const fleet = { instanceTypes: ['p3.2xlarge'], cpuInstanceTypes: ['c7i.2xlarge'], spot: 'no' as const };
    expect(() => checkPriceCap(cpuJob, { ...fleet, cpuSpot: 'prefer' })).not.toThrow();
    expect(() => checkPriceCap(cpuJob, { ...fleet, cpuSpot: 'no' })).toThrow(/resources\.maxHourlyUsd/);
    expect(() => checkPriceCap({ resources: { accelerator: 'gpu', maxHourlyUsd: 0.1 } } as unknown as JobSpec, { ...fleet, cpuSpot: 'prefer' })).toThrow(/resources\.maxHourlyUsd/);
  });
});
