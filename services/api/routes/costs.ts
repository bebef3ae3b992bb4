/** GET /v1/costs: what was spent, grouped; tenant keys see their own jobs' share, admin keys everything. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Services } from '../app.ts';
import { errorResponses } from '../schemas.ts';

const Usd = Type.Number({ description: 'USD' });
const BudgetFigures = { limitUsd: Usd, spentUsd: Usd, leftUsd: Usd };

export const CostAnswerSchema = Type.Object({
  totalUsd: Usd,
  idleUsd: Type.Number({ description: 'the part no unit used (boot, idle tail, empty slots), included in totalUsd' }),
  spotSavingsUsd: Type.Number({ description: 'on-demand price minus what was paid, over the same seconds' }),
  unattributedUsd: Type.Number({ description: 'the part no job carries (admin keys only see it)' }),
  groupBy: Type.String(),
  from: Type.Union([Type.String(), Type.Null()]),
  to: Type.Union([Type.String(), Type.Null()]),
  groups: Type.Array(Type.Object({ key: Type.String(), usd: Usd, instanceSeconds: Type.Number(), idleUsd: Usd, spotSavingsUsd: Usd })),
  budgets: Type.Object({
    global: Type.Optional(Type.Object(BudgetFigures)),
    tenant: Type.Optional(Type.Object({ tenant: Type.String(), ...BudgetFigures })),
  }),
}, { $id: 'CostReport' });

export const costRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/v1/costs', {
    schema: {
      tags: ['costs'],
      summary: 'What instances cost, grouped by day, job, batch, instance type or tenant',
      description: 'Per-second billing with the 60-second minimum, from the launch call to termination; live instances count up to now. A unit pays its wall time x price / the instance\'s slots; idle time is charged to the jobs whose demand launched the instance. Costs count on the UTC day they were billed (an instance or a unit running past midnight is split there; the billing minimum counts on the launch day); from/to (ISO 8601, to exclusive) select by that time. groups add up to totalUsd.',
      querystring: Type.Object({
        from: Type.Optional(Type.String()),
        to: Type.Optional(Type.String()),
        groupBy: Type.Optional(Type.String({ description: 'day (default), job, batch, instanceType or tenant' })),
      }, { additionalProperties: false }),
      response: { 200: CostAnswerSchema, ...errorResponses(400, 401) },
    },
  }, async (req) => services.costs.report(req.principal, req.query));
};
