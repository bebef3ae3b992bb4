import { describe, expect, it } from 'vitest';
import { formatS3Grants, parseS3Grants, parseS3Uri, s3SourceFor, s3SourceNotFound, type DataSourcePolicy } from '../../services/core/data-sources.ts';

const policy: DataSourcePolicy = {
  bucket: 'artifacts',
  grants: new Map([
    ['alice', [{ bucket: 'lab-data', prefix: 'alice/' }, { bucket: 'public-sets', prefix: '' }]],
  ]),
};

describe('parseS3Uri', () => {
  it.each([
    ['s3://artifacts/datasets/alice/x.csv', { bucket: 'artifacts', key: 'datasets/alice/x.csv' }],
    ['s3://lab-data/alice/2026/run (1).csv', { bucket: 'lab-data', key: 'alice/2026/run (1).csv' }],
    ['s3://a.b-c/k', { bucket: 'a.b-c', key: 'k' }],
  ])('%s is an object location', (uri, loc) => {
    expect(parseS3Uri(uri)).toEqual(loc);
  });

  it.each([
    's3://artifacts/datasets/alice/../bob/x.csv', // .. segment
    's3://artifacts/datasets/alice/./x.csv', // . segment
    's3://artifacts/datasets//alice/x.csv', // empty segment
    's3://artifacts/datasets/alice/', // a folder
    's3://artifacts/', // no key
    's3://artifacts', // no key
    's3://Artifacts/x.csv', // not a bucket name
    's3://a..b/x.csv', // not a bucket name
    's3://artifacts/x%2e%2e/y.csv', // percent-encoding
    's3://artifacts/x\\..\\y.csv', // backslashes
    's3://artifacts/x\ny.csv', // control character
    `s3://artifacts/${'k'.repeat(1025)}`, // too long
    'https://artifacts.s3.amazonaws.com/x.csv',
    'S3://artifacts/x.csv',
  ])('%j is refused', (uri) => {
    expect(parseS3Uri(uri)).toBeUndefined();
  });
});

describe('s3SourceFor', () => {
  it.each([
    ['alice', 's3://artifacts/datasets/alice/x.csv', true], // own area
    ['alice', 's3://artifacts/datasets/alice/sub/dir/x.csv', true],
    ['alice', 's3://artifacts/datasets/bob/x.csv', false], // another tenant's area
    ['alice', 's3://artifacts/datasets/alice-other/x.csv', false], // a prefix of another tenant's name
    ['alice', 's3://artifacts/datasets/alice/../bob/x.csv', false], // traversal
    ['alice', 's3://artifacts/jobs/job_1/model/meta.json', false], // job files
    ['alice', 's3://artifacts/releases/nightshift.tgz', false],
    ['alice', 's3://lab-data/alice/x.csv', true], // granted prefix
    ['alice', 's3://lab-data/bob/x.csv', false], // outside the granted prefix
    ['alice', 's3://lab-data/alicex/x.csv', false], // granted prefix ends at its slash
    ['alice', 's3://public-sets/any/thing.csv', true], // whole bucket granted
    ['bob', 's3://public-sets/any/thing.csv', false], // grants are per tenant
    ['bob', 's3://lab-data/alice/x.csv', false],
    ['bob', 's3://artifacts/datasets/bob/x.csv', true],
    ['bob', 's3://other-bucket/datasets/bob/x.csv', false], // own area only in the artifact bucket
  ])('%s reading %s: %s', (tenant, uri, allowed) => {
    expect(s3SourceFor(uri, tenant, policy) !== undefined).toBe(allowed);
  });
});

describe('parseS3Grants', () => {
  it('reads tenant:s3://bucket/prefix items; prefixes end in a slash; a bare bucket grants all of it', () => {
    const g = parseS3Grants('alice:s3://lab-data/alice, alice:s3://public-sets,bob:s3://lab-data/shared/');
    expect(g.get('alice')).toEqual([{ bucket: 'lab-data', prefix: 'alice/' }, { bucket: 'public-sets', prefix: '' }]);
    expect(g.get('bob')).toEqual([{ bucket: 'lab-data', prefix: 'shared/' }]);
    expect(parseS3Grants('').size).toBe(0);
  });

  it('round-trips through formatS3Grants (what workers receive)', () => {
    const g = parseS3Grants('alice:s3://lab-data/alice/,alice:s3://public-sets/,bob:s3://lab-data/shared/');
    expect(parseS3Grants(formatS3Grants(g))).toEqual(g);
  });

  it.each([
    ['alice', /expected tenant:s3/],
    [':s3://b/p/', /expected tenant:s3/],
    ['alice:s3://Bad_Bucket/p', /not s3:\/\/bucket/],
    ['alice:https://lab-data/p', /not s3:\/\/bucket/],
    ['alice:s3://lab-data/../other/', /segment/],
    ['alice:s3://lab-data/a b/', /may use/],
    ["alice:s3://lab-data/it's/", /may use/],
  ])('%j is refused', (raw, msg) => {
    expect(() => parseS3Grants(raw)).toThrow(msg);
  });
});

describe('s3SourceNotFound', () => {
  it('names the field and says nothing about whether the object exists', () => {
    const e = s3SourceNotFound('s3://artifacts/datasets/bob/x.csv', 'artifacts');
    expect(e.code).toBe('dataset_not_found');
    expect(e.message).toMatch(/^dataset\.uri: /);
    expect(e.message).not.toMatch(/exist|denied|forbidden|permission/i);
  });
});
