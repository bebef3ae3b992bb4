/**
 * IMDSv2 client: a session token (PUT /latest/api/token), then metadata reads with
 * it. Short timeouts: off EC2 nothing answers and the caller falls back.
 */

export interface ImdsClient {
  /** undefined when the endpoint does not answer */
  instanceId(): Promise<string | undefined>;
  /** undefined = no notice (404); throws when the endpoint cannot be reached */
  spotInstanceAction(): Promise<{ action: string; time?: string } | undefined>;
  /** undefined = no recommendation (404); EC2 answers {"noticeTime": "..."} once it recommends rebalancing */
  rebalanceRecommendation(): Promise<{ noticeTime?: string } | undefined>;
}

export function imdsClient(endpoint: string, timeoutMs = 1_000): ImdsClient {
  const base = endpoint.replace(/\/+$/, '');
  let token: { value: string; expires: number } | undefined;
  const TTL_S = 21_600;

  async function getToken(): Promise<string> {
    if (token && token.expires > Date.now() + 60_000) return token.value;
    const r = await fetch(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(TTL_S) },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!r.ok) throw new Error(`IMDS token: HTTP ${r.status}`);
    token = { value: (await r.text()).trim(), expires: Date.now() + TTL_S * 1000 };
    return token.value;
  }

  async function get(path: string): Promise<Response> {
    const t = await getToken();
    const r = await fetch(`${base}/latest/meta-data/${path}`, { headers: { 'X-aws-ec2-metadata-token': t }, signal: AbortSignal.timeout(timeoutMs) });
    if (r.status === 401) token = undefined; // expired: next call asks again
    return r;
  }

  return {
    async instanceId() {
      try {
        const r = await get('instance-id');
        return r.ok ? (await r.text()).trim() || undefined : undefined;
      } catch {
        return undefined;
      }
    },
    async rebalanceRecommendation() {
      const r = await get('events/recommendations/rebalance');
      if (r.status === 404) return undefined;
      if (!r.ok) throw new Error(`IMDS events/recommendations/rebalance: HTTP ${r.status}`);
      try {
        const j = JSON.parse(await r.text()) as { noticeTime?: string };
        return j.noticeTime ? { noticeTime: j.noticeTime } : {};
      } catch {
        return {};
      }
    },
    async spotInstanceAction() {
      const r = await get('spot/instance-action');
      if (r.status === 404) return undefined;
      if (!r.ok) throw new Error(`IMDS spot/instance-action: HTTP ${r.status}`);
      const body = await r.text();
      try {
        const j = JSON.parse(body) as { action?: string; time?: string };
        return { action: j.action ?? 'terminate', ...(j.time ? { time: j.time } : {}) };
      } catch {
        return { action: body.trim() || 'terminate' };
      }
    },
  };
}
