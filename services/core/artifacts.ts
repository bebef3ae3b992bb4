/**
 * ArtifactStore: the small interface every piece uses for the bucket. The S3
 * implementation lives in services/platform/artifacts.ts (AWS S3, LocalStack, moto
 * or the embedded s3rver: same client, different endpoint).
 */
export interface ArtifactStore {
  readonly bucket: string;
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  putJson(key: string, value: unknown): Promise<void>;
  /** undefined when the key does not exist */
  get(key: string): Promise<Buffer | undefined>;
  getJson<T>(key: string): Promise<T | undefined>;
  exists(key: string): Promise<boolean>;
  list(prefix: string): Promise<string[]>;
  deletePrefix(prefix: string): Promise<number>;
  /** read an object addressed as s3://bucket/key (any bucket the credentials reach) */
  getUri(uri: string): Promise<Buffer | undefined>;
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
    async getUri(uri) {
      const r = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
      return r && r[1] === bucket ? m.get(r[2]) : undefined;
    },
    async ping() {},
  };
  return self;
}
