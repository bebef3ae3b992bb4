/** Fails fast, with a message saying what to do, when Redis is not answering. */
import { pingRedis } from '../../services/platform/redis.ts';
import { TEST_REDIS_URL } from '../../support/redis.ts';

export default async function setup(): Promise<void> {
  if (!(await pingRedis(TEST_REDIS_URL, 2_000))) {
    throw new Error(`Redis is not answering at ${TEST_REDIS_URL}: start redis-server (or set REDIS_URL); .ci/run starts one itself`);
  }
}
