/**
 * ArtifactStore over the S3 protocol: AWS S3, LocalStack, moto and the embedded
 * s3rver all go through this one client; only the endpoint differs.
 */
import {
  S3Client, GetObjectCommand, PutObjectCommand, HeadObjectCommand, ListObjectsV2Command,
  DeleteObjectsCommand, CreateBucketCommand, HeadBucketCommand, CopyObjectCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ArtifactStore } from '../core/artifacts.ts';
import type { Config } from '../core/config.ts';

// The lock file pins AWS SDK releases that support Node 20; their notice about
// future releases needing Node 22 would otherwise open every log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface S3Options {
  bucket: string;
  endpoint?: string;
  region: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
}

export function s3Options(config: Config): S3Options {
  return { ...config.s3 };
}

export function createS3Client(o: S3Options): S3Client {
  return new S3Client({
    region: o.region,
    endpoint: o.endpoint,
    forcePathStyle: o.forcePathStyle ?? o.endpoint !== undefined,
    ...(o.accessKeyId && o.secretAccessKey ? { credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } } : {}),
    maxAttempts: 4,
    // moto answers a CRC32 for objects uploaded in parts that is neither the whole
    // object's nor a composite one; against an emulator endpoint, read checksums
    // are checked only where a call asks for them (AWS S3 keeps the SDK default)
    ...(o.endpoint ? { responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
  });
}

const isMissing = (e: unknown): boolean => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'NoSuchKey' || err?.name === 'NotFound' || err?.$metadata?.httpStatusCode === 404;
};

/** S3 refused to say: no access to that bucket or key, or no such bucket. For data sources this reads as "not found". */
const isRefused = (e: unknown): boolean => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'AccessDenied' || err?.name === 'Forbidden' || err?.name === 'NoSuchBucket' || err?.$metadata?.httpStatusCode === 403;
};

export function s3ArtifactStore(o: S3Options, client: S3Client = createS3Client(o)): ArtifactStore & { client: S3Client; ensureBucket(): Promise<void> } {
  const Bucket = o.bucket;

  async function getFrom(bucket: string, key: string): Promise<Buffer | undefined> {
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  return {
    bucket: Bucket,
    client,
    async ensureBucket() {
      try {
        await client.send(new HeadBucketCommand({ Bucket }));
      } catch (e) {
        if (!isMissing(e) && (e as { name?: string }).name !== 'NoSuchBucket') throw e;
        try {
          await client.send(new CreateBucketCommand({ Bucket }));
        } catch (c) {
          const n = (c as { name?: string }).name;
          if (n !== 'BucketAlreadyOwnedByYou' && n !== 'BucketAlreadyExists') throw c;
        }
      }
    },
    async put(key, body, contentType = 'application/octet-stream') {
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: typeof body === 'string' ? Buffer.from(body) : body, ContentType: contentType }));
    },
    async putJson(key, value) {
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: Buffer.from(JSON.stringify(value)), ContentType: 'application/json' }));
    },
    async putStream(key, body, contentType = 'application/octet-stream') {
      // parts of 8 MiB, two in flight: about 16 MiB held per upload whatever its size
      const upload = new Upload({ client, params: { Bucket, Key: key, Body: body, ContentType: contentType }, partSize: 8 * 1024 * 1024, queueSize: 2, leavePartsOnError: false });
      await upload.done();
    },
    async copy(from, to) {
      await client.send(new CopyObjectCommand({ Bucket, Key: to, CopySource: `${Bucket}/${from.split('/').map(encodeURIComponent).join('/')}` }));
    },
    get: (key) => getFrom(Bucket, key),
    async getJson<T>(key: string) {
      const b = await getFrom(Bucket, key);
      return b === undefined ? undefined : (JSON.parse(b.toString('utf8')) as T);
    },
    async exists(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket, Key: key }));
        return true;
      } catch (e) {
        if (isMissing(e)) return false;
        throw e;
      }
    },
    async list(prefix) {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken: token }));
        for (const c of r.Contents ?? []) if (c.Key) out.push(c.Key);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out.sort();
    },
    async deletePrefix(prefix) {
      const all = await this.list(prefix);
      for (let i = 0; i < all.length; i += 1000) {
        const chunk = all.slice(i, i + 1000);
        await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true } }));
      }
      return all.length;
    },
    async getObject(loc) {
      try {
        return await getFrom(loc.bucket, loc.key);
      } catch (e) {
        if (isRefused(e)) return undefined;
        throw e;
      }
    },
    async objectExists(loc) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
        return true;
      } catch (e) {
        if (isMissing(e) || isRefused(e)) return false;
        throw e;
      }
    },
    async presign(key, expiresS) {
      return getSignedUrl(client, new GetObjectCommand({ Bucket, Key: key }), { expiresIn: expiresS });
    },
    async ping() {
      await client.send(new HeadBucketCommand({ Bucket }));
    },
  };
}
