/**
 * Data set uploads are streamed: over real HTTP to the API, multipart to a real
 * S3-protocol server (the embedded s3rver and moto), summarized in a thread as the
 * bytes arrive. A large upload lands with its SHA-256 and summary; a client that
 * goes away, an upload over the size limit and a CSV error leave no object (and no
 * unfinished multipart upload) under datasets/<tenant>/.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../services/core/keys.ts';
import { createSummarizer, type Summarizer } from '../../services/api/services/summarize.ts';
import { EMULATOR_CREDENTIALS, startAwsEmulator, type AwsEmulator } from '../support/moto.ts';
import { createTestStack, type TestStack } from '../../support/app.ts';

const LIMIT = 12 * 1024 * 1024;

/** A CSV of about `bytes` bytes: two numeric columns, a unique id per row, a label of three classes. */
function bigCsv(bytes: number): Buffer {
  const lines = ['x1,x2,id,label'];
  let size = lines[0].length + 1;
  for (let i = 0; size < bytes; i++) {
    const l = `${(i % 997) / 7},${i * 3},row-${i.toString(36)}-${'z'.repeat(i % 40)},${['a', 'b', 'c'][i % 3]}`;
    lines.push(l);
    size += l.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** Readable of `buf` in 256 KiB chunks, optionally failing after `failAfter` bytes. */
const chunks = (buf: Buffer, failAfter = Infinity): Readable =>
  Readable.from((function* () {
    for (let at = 0; at < buf.length; at += 256 * 1024) {
      if (at >= failAfter) throw new Error('client went away');
      yield buf.subarray(at, at + 256 * 1024);
    }
  })());

const waitFor = async (what: string, cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> => {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

interface Seen {
  written: number;
  aborted: number;
}

/** The real summarizer, counting what reaches it (to know how far an upload got). */
function countingSummarizer(seen: Seen): Summarizer {
  const real = createSummarizer();
  return async (header) => {
    const s = await real(header);
    return {
      write: async (c) => {
        seen.written += c.length;
        await s.write(c);
      },
      end: () => s.end(),
      abort: () => {
        seen.aborted++;
        s.abort();
      },
    };
  };
}

describe.each(['embedded', 'moto'] as const)('streamed uploads (%s S3)', (kind) => {
  let aws: AwsEmulator | undefined;
  let stack: TestStack;
  let base: string;
  const seen: Seen = { written: 0, aborted: 0 };

  beforeAll(async () => {
    if (kind === 'moto') aws = await startAwsEmulator();
    stack = await createTestStack({
      label: `upload-${kind}`,
      apiKeys: { acme: 'acme-key-0123456789', globex: 'globex-key-0123456789', initech: 'initech-key-0123456789', umbrella: 'umbrella-key-0123456789' },
      ...(aws ? { s3: { endpoint: aws.endpoint, ...EMULATOR_CREDENTIALS } } : {}),
      deps: { summarize: countingSummarizer(seen), maxUploadBytes: LIMIT },
    });
    await stack.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await aws?.stop();
  });

  const tenantObjects = (tenant: string) => stack.artifacts.list(`datasets/${tenant}/`);
  /** unfinished multipart uploads (moto lists them; s3rver does not support the listing) */
  const multiparts = async (): Promise<number | undefined> => {
    if (kind !== 'moto') return undefined;
    const { client } = stack.artifacts as unknown as { client: S3Client };
    const r = await client.send(new ListMultipartUploadsCommand({ Bucket: stack.artifacts.bucket }));
    return r.Uploads?.length ?? 0;
  };

  it('a large upload lands content-addressed with its hash and summary, and no temporary object stays', async () => {
    const csv = bigCsv(11 * 1024 * 1024); // two parts of 8 MiB
    const sha256 = createHash('sha256').update(csv).digest('hex');
    const res = await fetch(`${base}/v1/datasets?header=true`, {
      method: 'POST',
      headers: { ...stack.auth('acme'), 'content-type': 'text/csv' },
      body: Readable.toWeb(chunks(csv)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    const rows = csv.toString().split('\n').length - 2;
    expect(body).toMatchObject({ sha256, bytes: csv.length, rows, columns: 4 });
    const stored = await stack.artifacts.get(keys.dataset('acme', sha256));
    expect(stored && createHash('sha256').update(stored).digest('hex')).toBe(sha256);
    const rec = await stack.store.getDataset('acme', body.id);
    expect(rec?.summary.classCounts?.[3]).toEqual({ a: Math.ceil(rows / 3), b: Math.ceil((rows - 1) / 3), c: Math.ceil((rows - 2) / 3) });
    expect(rec?.summary.other?.[2]).toBe(rows - 50); // unique ids: 50 listed, the rest "other"
    expect(await tenantObjects('acme')).toEqual([keys.dataset('acme', sha256), keys.datasetMeta('acme', body.id)].sort());
    expect(await stack.store.storedBytes('acme')).toBe(csv.length);
    expect([0, undefined]).toContain(await multiparts());
  }, 120_000);

  it('a client that goes away mid-upload leaves no object and no multipart upload', async () => {
    const csv = bigCsv(LIMIT - 1024);
    const before = { ...seen };
    const req = request(`${base}/v1/datasets`, { method: 'POST', headers: { ...stack.auth('initech'), 'content-type': 'text/csv', 'content-length': String(csv.length) } });
    req.on('error', () => undefined);
    req.write(csv.subarray(0, 10 * 1024 * 1024));
    // the server has read past the first part (a multipart upload is open) before the client leaves
    await waitFor('the API to read 9 MiB', () => seen.written - before.written >= 9 * 1024 * 1024);
    if (kind === 'moto') await waitFor('a multipart upload to be open', async () => (await multiparts())! > 0);
    req.destroy();
    await waitFor('the upload to be abandoned', () => seen.aborted > before.aborted);
    await waitFor('no object under datasets/initech/', async () => (await tenantObjects('initech')).length === 0 && ((await multiparts()) ?? 0) === 0);
    expect(await stack.store.storedBytes('initech')).toBe(0);
  }, 120_000);

  it('an upload over the size limit without a declared length is a 413 and leaves nothing', async () => {
    const csv = bigCsv(LIMIT + 2 * 1024 * 1024);
    // no Content-Length: the limit is found while reading
    const res = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: { ...stack.auth('globex'), 'content-type': 'text/csv' }, payload: chunks(csv) });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({ code: 'payload_too_large', field: 'body' });
    await waitFor('no object under datasets/globex/', async () => (await tenantObjects('globex')).length === 0 && ((await multiparts()) ?? 0) === 0);
    expect(await stack.store.storedBytes('globex')).toBe(0);
  }, 120_000);

  it('a declared length over the limit is a 413 before any byte is read', async () => {
    const before = seen.written;
    const res = await stack.app.inject({ method: 'POST', url: '/v1/datasets', headers: { ...stack.auth('globex'), 'content-type': 'text/csv', 'content-length': String(LIMIT + 1) }, payload: chunks(Buffer.alloc(1024, 49)) });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
    expect(seen.written).toBe(before);
  });

  it('a CSV error found mid-stream is a 400 naming the line, and leaves nothing', async () => {
    const good = bigCsv(5 * 1024 * 1024);
    const csv = Buffer.concat([good, Buffer.from('1,2,3\n'), good.subarray(good.indexOf(10) + 1)]);
    const line = good.toString().split('\n').length; // the short row's line
    const res = await stack.app.inject({ method: 'POST', url: '/v1/datasets?header=true', headers: { ...stack.auth('umbrella'), 'content-type': 'text/csv' }, payload: chunks(csv) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'ragged_csv', message: `line ${line}: expected 4 columns, found 3` });
    await waitFor('no object under datasets/umbrella/', async () => (await tenantObjects('umbrella')).length === 0 && ((await multiparts()) ?? 0) === 0);
  }, 120_000);
});
