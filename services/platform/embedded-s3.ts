/**
 * The embedded S3-protocol server (s3rver) used by `npm start` when no S3 endpoint
 * is configured, and by tests. Loopback only; data under the given directory.
 *
 * Each server gets credentials of its own (random unless given) and refuses
 * unsigned requests, so another local user cannot list, read, write or delete
 * objects without the secret: s3rver itself accepts anonymous requests and a
 * well-known key pair (S3RVER/S3RVER), which is revoked here.
 *
 * A PUT replaces an object whole or not at all, as S3 does: s3rver writes the body
 * straight into the object's file, so a writer killed mid-upload left a truncated
 * object behind (a checkpoint a resumed unit could not parse), and a reader could
 * see a write half done. Here the body goes to a file of its own and is renamed over
 * the object only once it arrived complete (atomicPuts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
// s3rver ships CommonJS without types
// eslint-disable-next-line @typescript-eslint/ban-ts-comment
// @ts-ignore
import S3rver from 's3rver';
import { verifySignatureV4 } from './s3-signature.ts';

interface S3rverAccount {
  createKeyPair(accessKeyId: string, secretAccessKey: string): void;
  revokeAccessKey(accessKeyId: string): void;
}
const { DUMMY_ACCOUNT } = createRequire(import.meta.url)('s3rver/lib/models/account') as { DUMMY_ACCOUNT: S3rverAccount };
DUMMY_ACCOUNT.revokeAccessKey('S3RVER');

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  credentials: { accessKeyId: string; secretAccessKey: string };
  close(): Promise<void>;
}

interface KoaContext {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
  query: Record<string, unknown>;
  status: number;
  type: string;
  body: string;
}

const denied = (ctx: KoaContext, message: string): void => {
  ctx.status = 403;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${message}</Message></Error>`;
};

/**
 * Koa middleware: a request must carry a Signature V4 (header or presigned query)
 * by this server's credentials; V2 signatures are left to s3rver, which checks them.
 */
function requireSignature(credentials: { accessKeyId: string; secretAccessKey: string }) {
  return async (ctx: KoaContext, next: () => Promise<void>): Promise<void> => {
    const auth = ctx.headers.authorization ?? '';
    const v4 = auth.startsWith('AWS4-') || 'X-Amz-Algorithm' in ctx.query;
    if (!v4 && !auth && !('Signature' in ctx.query)) return denied(ctx, 'Anonymous requests are not accepted');
    if (v4 && !(await verifySignatureV4({ method: ctx.method, url: ctx.url, headers: ctx.headers }, credentials))) {
      return denied(ctx, 'The request signature does not match');
    }
    return next();
  };
}

interface S3rverObject {
  bucket: string;
  key: string;
  /** a PUT's request, a form upload's file, or a completed multipart upload's parts one after another: s3rver always passes a stream */
  content: Readable & { headers?: Record<string, string | undefined> };
  metadata: Record<string, string>;
}
interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
}

/**
 * The store's putObject, atomic: the body is written to `<object file>.<random>.part`
 * (not an object name: listings skip it) and renamed over the object once the request
 * ended with every byte its Content-Length announced. A body cut short (the client
 * died or hung up) fails the PUT and leaves the object as it was.
 */
export function atomicPuts(store: S3rverStore): void {
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(path.dirname(objectPath), { recursive: true });
    const part = `${objectPath}.${randomBytes(6).toString('hex')}.part`;
    const md5 = createHash('md5');
    let size = 0;
    try {
      const counted = new Transform({
        transform(chunk: Buffer, _enc, done) {
          md5.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      await pipeline(object.content, counted, createWriteStream(part));
      const declared = Number(object.content.headers?.['content-length']);
      const chunked = /aws-chunked/.test(object.content.headers?.['content-encoding'] ?? '');
      if (!chunked && Number.isFinite(declared) && declared !== size) throw new Error(`the body ended after ${size} of ${declared} bytes`);
      await rename(part, objectPath);
    } catch (e) {
      await rm(part, { force: true });
      throw e;
    }
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

export async function startEmbeddedS3(opts: {
  directory: string;
  port?: number;
  buckets?: string[];
  credentials?: { accessKeyId: string; secretAccessKey: string };
}): Promise<EmbeddedS3> {
  mkdirSync(opts.directory, { recursive: true });
  const credentials = opts.credentials ?? { accessKeyId: `NS${randomBytes(9).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
  DUMMY_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey);
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    silent: true,
    directory: opts.directory,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name })),
  });
  (server as { middleware: unknown[] }).middleware.unshift(requireSignature(credentials));
  atomicPuts((server as { store: S3rverStore }).store);
  const addr = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    credentials,
    close: async () => {
      DUMMY_ACCOUNT.revokeAccessKey(credentials.accessKeyId);
      await (server.close() as Promise<void>);
    },
  };
}
