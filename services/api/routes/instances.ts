/** The fleet (admin only): every instance nightshift launched, live or terminated, with what it cost. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { NightshiftError } from '../../core/errors.ts';
import { InstanceViewSchema } from '../../core/views.ts';
import { createFleetStore, fleetInstances } from '../../platform/fleet-store.ts';
import type { Services } from '../app.ts';
import { errorResponses } from '../schemas.ts';

export const InstanceSchema = InstanceViewSchema;

export const instanceRoutes: FastifyPluginAsyncTypebox<{ services: Services; keyPrefix: string; now: () => Date }> = async (app, { services, keyPrefix, now }) => {
  const fleet = createFleetStore(services.store.redis, keyPrefix);
  app.get('/v1/instances', {
    schema: {
      tags: ['instances'],
      summary: 'The fleet (admin keys only)',
      querystring: Type.Object({ state: Type.Optional(Type.String({ enum: ['live', 'terminated', 'all'] })) }, { additionalProperties: false }),
      response: { 200: Type.Array(InstanceSchema), ...errorResponses(401, 403) },
    },
  }, async (req) => {
    if (!req.principal.admin) throw new NightshiftError('forbidden', 'instances are visible to admin keys only (NIGHTSHIFT_ADMIN_KEYS)');
    const all = await fleetInstances(fleet, now().getTime());
    const state = req.query.state ?? 'all';
    return state === 'all' ? all : all.filter((i) => (state === 'live') === (i.state !== 'terminated'));
  });
};
