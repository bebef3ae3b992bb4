import { describe, expect, it } from 'vitest';
import { backoffMs, classifyLaunchError } from '../../services/provisioner/providers/ec2-errors.ts';
import { clientToken, marketsFor } from '../../services/provisioner/providers/ec2.ts';
import { launchAttempts, type LaunchStep } from '../../services/provisioner/providers/launch-attempts.ts';
import { onDemandUsd, UNKNOWN_TYPE_USD } from '../../services/core/prices.ts';
import { pickSpotPrice } from '../../services/provisioner/providers/spot-prices.ts';
import { renderUserData, shellQuote, loadUserDataTemplate } from '../../services/provisioner/providers/user-data.ts';

const awsErr = (name: string, status = 400, extra: object = {}) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, ...extra });

describe('classifyLaunchError', () => {
  it.each([
    ['InsufficientInstanceCapacity', awsErr('InsufficientInstanceCapacity', 500), 'capacity'],
    ['SpotMaxPriceTooLow', awsErr('SpotMaxPriceTooLow'), 'capacity'],
    ['MaxSpotInstanceCountExceeded', awsErr('MaxSpotInstanceCountExceeded'), 'quota'],
    ['InstanceLimitExceeded', awsErr('InstanceLimitExceeded'), 'quota'],
    ['InsufficientHostCapacity', awsErr('InsufficientHostCapacity'), 'capacity'],
    ['VcpuLimitExceeded', awsErr('VcpuLimitExceeded'), 'quota'],
    ['Unsupported (type not offered in the AZ)', awsErr('Unsupported'), 'capacity'],
    ['RequestLimitExceeded (EC2 throttling)', awsErr('RequestLimitExceeded', 503), 'retry'],
    ['Throttling', awsErr('Throttling'), 'retry'],
    ['InternalError', awsErr('InternalError', 500), 'retry'],
    ['any 5xx', awsErr('SomethingNew', 502), 'retry'],
    ['429 without a known code', awsErr('Whatever', 429), 'retry'],
    ['$retryable set by the SDK', awsErr('Whatever', 400, { $retryable: {} }), 'retry'],
    ['connection reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'retry'],
    ['connection refused as a cause', Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 'retry'],
    ['bad AMI', awsErr('InvalidAMIID.NotFound'), 'fatal'],
    ['no permission', awsErr('UnauthorizedOperation', 403), 'fatal'],
    ['bad parameter', awsErr('InvalidParameterValue'), 'fatal'],
    ['idempotency mismatch', awsErr('IdempotentParameterMismatch'), 'fatal'],
    ['a plain Error', new Error('boom'), 'fatal'],
    ['not an error at all', undefined, 'fatal'],
  ])('%s -> %s', (_n, err, expected) => {
    expect(classifyLaunchError(err)).toBe(expected);
  });
});

describe('backoff', () => {
  it.each([
    [0, 500, 1, 500],
    [1, 500, 1, 1000],
    [3, 500, 1, 4000],
    [10, 500, 1, 20_000],
    [2, 500, 0, 0],
    [2, 500, 0.5, 1000],
  ])('attempt %i base %i random %f -> %i', (attempt, base, r, expected) => {
    expect(backoffMs(attempt, base, 20_000, () => r)).toBe(expected);
  });
});

describe('clientToken and markets', () => {
  it('is deterministic, differs per option, and fits in 64 characters', () => {
    const a = clientToken('c-1', 'spot', 'p3.2xlarge', 'subnet-1');
    expect(clientToken('c-1', 'spot', 'p3.2xlarge', 'subnet-1')).toBe(a);
    expect(clientToken('c-1', 'on-demand', 'p3.2xlarge', 'subnet-1')).not.toBe(a);
    expect(clientToken('c-1', 'spot', 'p3.8xlarge', 'subnet-1')).not.toBe(a);
    expect(clientToken('c-2', 'spot', 'p3.2xlarge', 'subnet-1')).not.toBe(a);
    expect(clientToken('x'.repeat(80), 'spot', 'p3.2xlarge', undefined).length).toBe(64);
  });
  it.each([
    ['no', ['on-demand']],
    ['prefer', ['spot', 'on-demand']],
    ['require', ['spot']],
  ] as const)('spot %s -> %j', (p, m) => expect(marketsFor(p)).toEqual(m));
});

describe('prices', () => {
  it.each([
    ['p3.2xlarge', 3.06],
    ['p3.8xlarge', 12.24],
    ['p3.16xlarge', 24.48],
    ['g4dn.xlarge', 0.526],
    ['g5.xlarge', 1.006],
    ['z9.mega', UNKNOWN_TYPE_USD],
  ])('on-demand %s = %f', (t, usd) => expect(onDemandUsd(t)).toBe(usd));

  it.each([
    ['empty history (no p3 rows)', [], undefined],
    ['latest row per AZ, cheapest AZ', [{ availabilityZone: 'a', price: 1.2, at: 1 }, { availabilityZone: 'a', price: 0.95, at: 2 }, { availabilityZone: 'b', price: 1.1, at: 2 }], 0.95],
    ['placeholder prices are not believed', [{ availabilityZone: 'a', price: 0.00001, at: 1 }], undefined],
    ['above on-demand is not believed', [{ availabilityZone: 'a', price: 4, at: 1 }], undefined],
    ['NaN is ignored', [{ availabilityZone: 'a', price: Number.NaN, at: 1 }, { availabilityZone: 'b', price: 0.9, at: 1 }], 0.9],
  ])('%s', (_n, rows, expected) => expect(pickSpotPrice(rows, 3.06)).toBe(expected));
});

describe('user data', () => {
  it.each([
    ['plain', "'plain'"],
    ['', "''"],
    ["it's", "'it'\\''s'"],
    ['$(reboot) `x` "y" ; rm -rf /', `'$(reboot) \`x\` "y" ; rm -rf /'`],
    ['a\nb', "'a\nb'"],
  ])('shellQuote(%j)', (v, q) => expect(shellQuote(v)).toBe(q));

  it('quotes every value and refuses a missing one', () => {
    expect(renderUserData('A={{A}}\nB={{B}}', { A: 'x y', B: "o'k" })).toBe("A='x y'\nB='o'\\''k'");
    expect(() => renderUserData('A={{A}} C={{C}}', { A: '1' })).toThrow(/C/);
  });

  it('the shipped template renders with the provider variables and carries no secret inline', () => {
    const out = renderUserData(loadUserDataTemplate(), {
      NIGHTSHIFT_PREFIX: '{ns}', NIGHTSHIFT_REDIS_CLUSTER: 'true', NIGHTSHIFT_CLUSTER: 'c', NIGHTSHIFT_IDLE_TIMEOUT_S: '120', NIGHTSHIFT_S3_BUCKET: 'b', AWS_REGION: 'us-east-1',
      NIGHTSHIFT_REDIS_URL_PARAMETER: '/c/redis-url', NIGHTSHIFT_S3_SOURCES: 'alice:s3://lab-data/alice/', NIGHTSHIFT_BOOTSTRAP_POWEROFF_MIN: '30',
      BOOTSTRAP_OS: 'ubuntu', WORKER_IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/w:1', GPU_FLAGS: '--gpus all', ACCELERATOR: 'gpu',
      WORKER_SLOTS: '1', LOG_GROUP: '/nightshift/c',
    });
    expect(out).toContain("NIGHTSHIFT_S3_SOURCES='alice:s3://lab-data/alice/'");
    expect(out).toContain('NIGHTSHIFT_S3_SOURCES=$NIGHTSHIFT_S3_SOURCES');
    expect(out).toContain("REDIS_URL_PARAMETER='/c/redis-url'");
    expect(out).toContain("NIGHTSHIFT_PREFIX='{ns}'");
    expect(out).toContain('NIGHTSHIFT_REDIS_CLUSTER=$NIGHTSHIFT_REDIS_CLUSTER');
    expect(out).toContain('aws ssm get-parameter --with-decryption');
    expect(out).not.toMatch(/\{\{/);
    expect(out).not.toMatch(/redis:\/\//);
    // the delayed power-off comes before anything that can hang, and the worker is told how to cancel it
    const powerOff = out.indexOf("shutdown -h +'30'");
    expect(powerOff).toBeGreaterThan(0);
    expect(powerOff).toBeLessThan(out.indexOf('aws ssm get-parameter'));
    // the worker runs in a container: it asks the host to cancel through /run/nightshift, a path unit runs shutdown -c
    expect(out).toContain('NIGHTSHIFT_HANDOVER_COMMAND=touch /run/nightshift/handover');
    expect(out).toContain('PathExists=/run/nightshift/handover');
    expect(out).toContain('ExecStart=/usr/sbin/shutdown -c');
  });
});

describe('launch attempts: market x type x subnet order', () => {
  const show = (steps: Iterable<LaunchStep>) => [...steps].map((s) => (s.kind === 'skip' ? `skip ${s.market} ${s.type}` : `${s.market} ${s.type}${s.subnet ? ` ${s.subnet}` : ''}${s.lastMarket ? ' (last market)' : ''}`));
  it.each([
    ['on-demand, one type, default subnet', ['on-demand'], ['g5.xlarge'], [], ['g5.xlarge'], ['on-demand g5.xlarge (last market)']],
    ['subnets inside each type', ['on-demand'], ['g5.xlarge', 'g4dn.xlarge'], ['sa', 'sb'], ['g5.xlarge', 'g4dn.xlarge'],
      ['on-demand g5.xlarge sa (last market)', 'on-demand g5.xlarge sb (last market)', 'on-demand g4dn.xlarge sa (last market)', 'on-demand g4dn.xlarge sb (last market)']],
    ['spot prefer: every spot option, then every on-demand one', ['spot', 'on-demand'], ['g5.xlarge', 'g4dn.xlarge'], ['sa'], ['g5.xlarge', 'g4dn.xlarge'],
      ['spot g5.xlarge sa', 'spot g4dn.xlarge sa', 'on-demand g5.xlarge sa (last market)', 'on-demand g4dn.xlarge sa (last market)']],
    ['a type not allowed is skipped in every market', ['spot', 'on-demand'], ['p3.2xlarge', 'g5.xlarge'], [], ['g5.xlarge'],
      ['skip spot p3.2xlarge', 'spot g5.xlarge', 'skip on-demand p3.2xlarge', 'on-demand g5.xlarge (last market)']],
    ['no types: nothing to try', ['on-demand'], [], ['sa'], [], []],
  ] as const)('%s', (_n, markets, types, subnets, allowed, expected) => {
    expect(show(launchAttempts([...markets], [...types], [...subnets], [...allowed]))).toEqual(expected);
  });
});
