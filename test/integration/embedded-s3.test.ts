/** The embedded S3 server: loopback only, its own credentials, no anonymous or well-known-key access. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startEmbeddedS3, type EmbeddedS3 } from '../../services/platform/embedded-s3.ts';

let s3: EmbeddedS3;
let dir: string;
const bucket = 'nstest-embedded';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'nightshift-s3-'));
  s3 = await startEmbeddedS3({ directory: dir, buckets: [bucket] });
});
afterAll(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
  new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials, maxAttempts: 1 });

describe('embedded S3 server', () => {
  it('listens on loopback only, with credentials of its own', () => {
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s3.credentials.accessKeyId).not.toBe('S3RVER');
    expect(s3.credentials.secretAccessKey.length).toBeGreaterThanOrEqual(32);
  });

  it('refuses unsigned list, put and delete', async () => {
    expect((await fetch(`${s3.endpoint}/${bucket}?list-type=2`)).status).toBe(403);
    expect((await fetch(`${s3.endpoint}/${bucket}/x.txt`, { method: 'PUT', body: 'x' })).status).toBe(403);
    expect((await fetch(`${s3.endpoint}/${bucket}/x.txt`, { method: 'DELETE' })).status).toBe(403);
  });

  it('refuses the well-known S3RVER key and a wrong secret; accepts its own credentials', async () => {
    await expect(client({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }).send(new ListObjectsV2Command({ Bucket: bucket }))).rejects.toThrow();
    await expect(client({ accessKeyId: s3.credentials.accessKeyId, secretAccessKey: 'wrong-secret' }).send(new PutObjectCommand({ Bucket: bucket, Key: 'y', Body: 'y' }))).rejects.toThrow();
    const own = client(s3.credentials);
    await own.send(new PutObjectCommand({ Bucket: bucket, Key: 'z', Body: 'z' }));
    const listed = await own.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['z']);
  });

  it('serves presigned URLs by its credentials only, and not once tampered with', async () => {
    const own = client(s3.credentials);
    await own.send(new PutObjectCommand({ Bucket: bucket, Key: 'p', Body: 'presigned' }));
    const url = await getSignedUrl(own, new GetObjectCommand({ Bucket: bucket, Key: 'p' }), { expiresIn: 60 });
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('presigned');
    expect((await fetch(url.replace('/p?', '/z?'))).status).toBe(403);
    const forged = await getSignedUrl(client({ accessKeyId: s3.credentials.accessKeyId, secretAccessKey: 'guess' }), new GetObjectCommand({ Bucket: bucket, Key: 'p' }), { expiresIn: 60 });
    expect((await fetch(forged)).status).toBe(403);
  });

  it('a PUT cut short leaves the object as it was: no truncated object, no stray file', async () => {
    const own = client(s3.credentials);
    const whole = JSON.stringify({ epoch: 5, weights: 'w'.repeat(5000) });
    await own.send(new PutObjectCommand({ Bucket: bucket, Key: 'ck/checkpoint.json', Body: whole }));
    // a writer that dies mid-upload: the request announces 10,000 bytes and sends 3,000
    const url = new URL(await getSignedUrl(own, new PutObjectCommand({ Bucket: bucket, Key: 'ck/checkpoint.json' }), { expiresIn: 60 }));
    await new Promise<void>((resolve, reject) => {
      const sock = connect(Number(url.port), url.hostname, () => {
        sock.write(`PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 10000\r\n\r\n`);
        sock.write('{"epoch": 9, "weights": "' + 'x'.repeat(3000));
        setTimeout(() => {
          sock.destroy();
          resolve();
        }, 200);
      });
      sock.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    const got = await own.send(new GetObjectCommand({ Bucket: bucket, Key: 'ck/checkpoint.json' }));
    expect(await got.Body!.transformToString()).toBe(whole);
    const listed = await own.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'ck/' }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['ck/checkpoint.json']);
    const files = readdirSync(dir, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith('.part'))).toEqual([]);
    expect(files.some((f) => f.includes('checkpoint.json'))).toBe(true);
    // a complete presigned PUT still replaces it
    const next = JSON.stringify({ epoch: 10 });
    expect((await fetch(url, { method: 'PUT', body: next })).status).toBe(200);
    expect(await (await own.send(new GetObjectCommand({ Bucket: bucket, Key: 'ck/checkpoint.json' }))).Body!.transformToString()).toBe(next);
  });
});
