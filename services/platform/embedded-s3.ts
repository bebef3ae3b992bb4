/**
 * The embedded S3-protocol server (s3rver) used by `npm start` when no S3 endpoint
 * is configured, and by tests. Loopback only; data under the given directory.
 *
 * Each server gets credentials of its own (random unless given) and refuses
 * unsigned requests, so another local user cannot list, read, write or delete
 * objects without the secret: s3rver itself accepts anonymous requests and a
 * well-known key pair (S3RVER/S3RVER), which is revoked here.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
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
