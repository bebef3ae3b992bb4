/** Real Redis for tests: a unique key prefix per test, removed afterwards. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const TEST_REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

export function uniquePrefix(label = 't'): string {
  return `nstest-${label}-${randomBytes(4).toString('hex')}`;
}

export async function cleanupPrefix(prefix: string): Promise<void> {
  const r = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
