/**
 * ArtifactStore: the small interface every piece uses for the bucket. The S3
 * implementation lives in services/platform/artifacts.ts (AWS S3, LocalStack, moto
 * or the embedded s3rver: same client, different endpoint).
 */
import type { Readable } from 'node:stream';
import type { S3Location } from './data-sources.ts';

export interface ArtifactStore {
  readonly bucket: string;
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  putJson(key: string, value: unknown): Promise<void>;
  /**
   * Stores a stream of unknown length (multipart in parts, so it is never held
   * whole). When the stream or S3 fails, nothing is left under the key (a multipart
   * upload is aborted) and the promise rejects.
   */
  putStream(key: string, body: Readable, contentType?: string): Promise<void>;
  /** copies an object of the bucket to another key */
  copy(from: string, to: string): Promise<void>;
  /** undefined when the key does not exist */
  get(key: string): Promise<Buffer | undefined>;
  getJson<T>(key: string): Promise<T | undefined>;
  exists(key: string): Promise<boolean>;
  list(prefix: string): Promise<string[]>;
  deletePrefix(prefix: string): Promise<number>;
  /**
   * An object in any bucket the credentials reach (a data source). Only for
   * locations that passed the data-source policy (core/data-sources.ts). Missing,
   * and refused by S3 (no access, no such bucket), both answer undefined.
   */
  getObject(loc: S3Location): Promise<Buffer | undefined>;
  /** whether getObject would find it (same rules) */
  objectExists(loc: S3Location): Promise<boolean>;
  presign?(key: string, expiresS: number): Promise<string>;
  ping(): Promise<void>;
}

/** In-memory store for pure unit tests of code that takes an ArtifactStore. */
export function memoryArtifactStore(bucket = 'memory'): ArtifactStore {
  const m = new Map<string, Buffer>();
  const self: ArtifactStore = {
    bucket,
    async put(key, body) {
      m.set(key, Buffer.from(typeof body === 'string' ? Buffer.from(body) : body));
    },
    async putJson(key, value) {
      m.set(key, Buffer.from(JSON.stringify(value)));
    },
    async putStream(key, body) {
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(Buffer.from(c as Uint8Array));
      m.set(key, Buffer.concat(parts));
    },
    async copy(from, to) {
      const b = m.get(from);
      if (!b) throw Object.assign(new Error(`no such key ${from}`), { name: 'NoSuchKey' });
      m.set(to, b);
    },
    async get(key) {
      return m.get(key);
    },
    async getJson<T>(key: string) {
      const b = m.get(key);
      return b === undefined ? undefined : (JSON.parse(b.toString('utf8')) as T);
    },
    async exists(key) {
      return m.has(key);
    },
    async list(prefix) {
      return [...m.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
    async deletePrefix(prefix) {
      let n = 0;
      for (const k of [...m.keys()]) if (k.startsWith(prefix)) (m.delete(k), n++);
      return n;
    },
    async getObject(loc) {
      return loc.bucket === bucket ? m.get(loc.key) : undefined;
    },
    async objectExists(loc) {
      return loc.bucket === bucket && m.has(loc.key);
    },
    async ping() {},
  };
  return self;
}
