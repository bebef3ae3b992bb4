/**
 * resources on an EC2 installation, over the API (real Redis, embedded S3): types
 * outside NIGHTSHIFT_EC2_ALLOWED_TYPES and prices above the operator's cap are refused
 * with 400 naming the field; "cpu", "gpu" and "any" are placed on a class of that
 * accelerator, shown in the dry run and on the Job, and queued under that class.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unitJobId } from '../../services/core/catalog.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

let stack: TestStack;

const spec = (resources: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => ({
  name: 'res',
  dataset: { uri: 'builtin:make_regression?n_samples=200&n_features=4&random_state=1' },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', epochs: 20 },
  evaluation: { method: 'kfold', folds: 3 },
  resources,
  ...over,
});

const post = (body: object, dryRun = false) =>
  stack.app.inject({ method: 'POST', url: `/v1/jobs${dryRun ? '?dryRun=true' : ''}`, headers: stack.auth('acme'), payload: body });

beforeAll(async () => {
  stack = await createTestStack({
    label: 'api-res',
    env: {
      NIGHTSHIFT_COMPUTE: 'ec2',
      NIGHTSHIFT_EC2_ALLOWED_TYPES: 'p3.2xlarge,g5.xlarge,c7i.2xlarge,c6i.2xlarge',
      NIGHTSHIFT_EC2_INSTANCE_TYPES: 'p3.2xlarge,g5.xlarge',
      NIGHTSHIFT_EC2_CPU_INSTANCE_TYPES: 'c7i.2xlarge,c6i.2xlarge',
      NIGHTSHIFT_EC2_MAX_HOURLY_USD: '4',
    },
  });
});
afterAll(async () => {
  await stack?.close();
});

describe('operator limits', () => {
  it.each([
    ['a type outside the allowed list', { instanceTypes: ['p4d.24xlarge'] }, 'resources.instanceTypes', /p4d\.24xlarge is not allowed on this installation; allowed: p3\.2xlarge, g5\.xlarge, c7i\.2xlarge, c6i\.2xlarge/],
    ['a type nobody knows', { instanceTypes: ['x9.mega'] }, 'resources.instanceTypes', /x9\.mega is not allowed/],
    ['GPU and CPU types mixed', { instanceTypes: ['g5.xlarge', 'c7i.2xlarge'] }, 'resources.instanceTypes', /mixes GPU and CPU/],
    ['a GPU type for a CPU job', { accelerator: 'cpu', instanceTypes: ['g5.xlarge'] }, 'resources.instanceTypes', /not CPU instance types/],
    ['a price cap above the operator\'s', { maxHourlyUsd: 10 }, 'resources.maxHourlyUsd', /above this installation's cap of 4 USD\/h/],
  ])('%s -> 400 naming %s', async (_name, resources, field, message) => {
    for (const dry of [true, false]) {
      const res = await post(spec(resources), dry);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.message).toMatch(message);
      expect(res.json().error.message).toContain(field);
    }
  });
});

describe('placement', () => {
  it('"cpu" runs on a CPU class, shown in the dry run and on the Job, queued as class "cpu"', async () => {
    const dry = await post(spec({ accelerator: 'cpu' }), true);
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json().placement).toMatchObject({ accelerator: 'cpu', instanceType: expect.stringMatching(/^c[67]i\.2xlarge$/) });
    const res = await post(spec({ accelerator: 'cpu' }));
    expect(res.statusCode, res.body).toBe(202);
    const job = (await stack.app.inject({ url: `/v1/jobs/${res.json().id}`, headers: stack.auth('acme') })).json();
    expect(job.placement).toEqual(dry.json().placement);
    const unit = await stack.queues.units.getJob(unitJobId(res.json().id, 'r0-p0-f0'));
    expect(unit?.data.resourceClass).toBe('cpu');
  });

  it('"any" picks the CPU class for a small MLP (cheaper per unit) and says by how much', async () => {
    const dry = (await post(spec({}), true)).json();
    expect(dry.placement.accelerator).toBe('cpu');
    expect(dry.placement.reason).toMatch(/^CPU \$[\d.e-]+ per unit vs GPU \$[\d.e-]+$/);
    const gpu = (await post(spec({ accelerator: 'gpu' }), true)).json().placement;
    expect(gpu.accelerator).toBe('gpu');
    expect(dry.placement.estimatedUsdPerUnit).toBeLessThan(gpu.estimatedUsdPerUnit);
  });

  it('"any" with a model only TensorFlow.js trains (engine "tfjs") goes to a GPU class', async () => {
    const res = await post(spec({}, { training: { loss: 'mse', epochs: 20, engine: 'tfjs' } }));
    expect(res.statusCode, res.body).toBe(202);
    const unit = await stack.queues.units.getJob(unitJobId(res.json().id, 'r0-p0-f0'));
    expect(unit?.data.resourceClass).toBe('gpu');
  });

  it('the job\'s own allowed type decides: g5.xlarge is a GPU class', async () => {
    const res = await post(spec({ instanceTypes: ['g5.xlarge'] }));
    expect(res.statusCode, res.body).toBe(202);
    const unit = await stack.queues.units.getJob(unitJobId(res.json().id, 'r0-p0-f0'));
    expect(unit?.data.resourceClass).toBe('gpu/types=g5.xlarge');
  });

  it('"cpu" for a model the fused engine cannot train is refused naming resources.accelerator', async () => {
    const res = await post(spec({ accelerator: 'cpu' }, { training: { loss: 'mse', epochs: 2, engine: 'tfjs' } }));
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.message).toMatch(/resources\.accelerator/);
  });
});
