/**
 * The embedded S3-protocol server (s3rver) used by `npm start` when no S3 endpoint
 * is configured, and by tests. Loopback only; data under the given directory.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
// s3rver ships CommonJS without types
// eslint-disable-next-line @typescript-eslint/ban-ts-comment
// @ts-ignore
import S3rver from 's3rver';

export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export async function startEmbeddedS3(opts: { directory: string; port?: number; buckets?: string[] }): Promise<EmbeddedS3> {
  mkdirSync(opts.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    silent: true,
    directory: opts.directory,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name })),
  });
  const addr = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    close: () => server.close() as Promise<void>,
  };
}
