/** GET /healthz: ok once Redis and the artifact store answer. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../app.ts';
import { HealthAnswer } from '../schemas.ts';

const within = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);

export const healthRoutes: FastifyPluginAsyncTypebox<{ services: Services; timeoutMs?: number }> = async (app, { services, timeoutMs = 2_000 }) => {
  app.get('/healthz', {
    schema: {
      tags: ['health'],
      summary: 'Liveness and readiness: Redis and the artifact store answer',
      response: { 200: HealthAnswer, 503: HealthAnswer },
    },
  }, async (req, reply) => {
    const [redis, s3] = await Promise.all([
      within(services.store.redis.ping(), timeoutMs).then((r) => r === 'PONG', () => false),
      within(services.artifacts.ping(), timeoutMs).then(() => true, (err: unknown) => (req.log.warn({ err }, 'artifact store not answering'), false)),
    ]);
    const holds = redis ? await within(services.fleetHolds(), timeoutMs).catch(() => []) : [];
    if (redis && s3) return { ok: true, ...(holds.length ? { fleet: { holds } } : {}) };
    return reply.code(503).send({ ok: false, redis, s3 });
  });
};
