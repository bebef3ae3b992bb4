/**
 * Checks AWS Signature Version 4 on requests to the embedded S3 server (s3rver
 * checks V2 signatures but only looks up the access key of a V4 one). The
 * signature is recomputed with the server's secret over the signed headers, the
 * path, the query and the payload hash the client declared.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

class Sha256 {
  private readonly h;
  constructor(secret?: unknown) {
    this.h = secret ? createHmac("sha256", secret as string | Uint8Array) : createHash("sha256");
  }
  update(data: string | Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

export interface SignedRequest {
  method: string;
  /** path and query as sent, e.g. /bucket/key?list-type=2 */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$/;

function amzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : undefined;
}

const equal = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** Whether a request carries a valid V4 signature by `credentials` (header or presigned query). */
export async function verifySignatureV4(req: SignedRequest, credentials: { accessKeyId: string; secretAccessKey: string }): Promise<boolean> {
  const q = req.url.indexOf('?');
  const path = q >= 0 ? req.url.slice(0, q) : req.url;
  const params = new URLSearchParams(q >= 0 ? req.url.slice(q + 1) : '');
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  let accessKeyId: string, region: string, service: string, signed: string[], given: string, date: Date | undefined;
  const presigned = params.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256';
  if (presigned) {
    const cred = (params.get('X-Amz-Credential') ?? '').split('/');
    [accessKeyId, , region, service] = cred;
    signed = (params.get('X-Amz-SignedHeaders') ?? '').split(';');
    given = params.get('X-Amz-Signature') ?? '';
    date = amzDate(params.get('X-Amz-Date') ?? '');
    const expires = Number(params.get('X-Amz-Expires'));
    if (!date || !Number.isFinite(expires) || Date.now() > date.getTime() + expires * 1000) return false;
  } else {
    const m = AUTH.exec(header('authorization') ?? '');
    if (!m) return false;
    [, accessKeyId, , region, service] = m;
    signed = m[5].split(';');
    given = m[6];
    date = amzDate(header('x-amz-date') ?? '');
    if (!date) return false;
  }
  if (!accessKeyId || accessKeyId !== credentials.accessKeyId || !region || !service) return false;
  const headers: Record<string, string> = {};
  for (const h of signed) {
    const v = header(h);
    if (v === undefined) return false;
    headers[h] = v;
  }
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of params) {
    if (presigned && k === 'X-Amz-Signature') continue;
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const host = headers.host ?? '';
  for (const uriEscapePath of [false, true]) {
    const signer = new SignatureV4({ credentials, region, service, sha256: Sha256, uriEscapePath, applyChecksum: false });
    const request = { method: req.method, protocol: 'http:', hostname: host, path, query, headers: { ...headers }, body: undefined };
    let want: string | undefined;
    if (presigned) {
      // the presigner signed X-Amz-Content-Sha256 as a header it then moved into the query
      const contentSha = params.get('X-Amz-Content-Sha256');
      const p = {
        ...request,
        headers: { ...headers, ...(contentSha ? { 'X-Amz-Content-Sha256': contentSha } : {}) },
        query: Object.fromEntries(Object.entries(query).filter(([k]) => !k.startsWith('X-Amz-'))),
      };
      const out = await signer.presign(p as never, {
        signingDate: date,
        expiresIn: Number(params.get('X-Amz-Expires')),
        signableHeaders: new Set(signed),
        unhoistableHeaders: new Set(),
      });
      want = (out.query as Record<string, string>)['X-Amz-Signature'];
    } else {
      const out = await signer.sign(request as never, { signingDate: date, signableHeaders: new Set(signed) });
      want = /Signature=([0-9a-f]{64})/.exec(String((out.headers as Record<string, string>).authorization ?? ''))?.[1];
    }
    if (want && equal(want, given)) return true;
  }
  return false;
}
