/**
 * Monthly budgets (global and per tenant), changed while everything runs: admin keys
 * set and clear them, tenant keys read their own. The provisioner reads them every
 * reconcile pass, so a raised budget reopens the work it stopped.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Services } from '../app.ts';
import { errorResponses } from '../schemas.ts';
import { MAX_BUDGET_USD } from '../../core/budget.ts';

const Usd = Type.Number({ description: 'USD' });
const Source = Type.Union([Type.Literal('env'), Type.Literal('api')], { description: 'env: NIGHTSHIFT_BUDGET_USD / NIGHTSHIFT_TENANT_BUDGETS; api: set through this API' });
const Figures = { limitUsd: Usd, spentUsd: Type.Number({ description: 'USD billed this UTC month' }), leftUsd: Usd, source: Source };

export const BudgetsSchema = Type.Object({
  month: Type.String({ description: 'the UTC month spend is counted in (YYYY-MM)' }),
  global: Type.Union([Type.Object(Figures), Type.Null()], { description: 'the monthly budget of all tenants together (admin keys only; null: none)' }),
  tenants: Type.Array(Type.Object({ tenant: Type.String(), ...Figures }), { description: 'per-tenant monthly budgets (a tenant key sees its own)' }),
}, { $id: 'Budgets' });

const Body = Type.Object({
  limitUsd: Type.Number({ minimum: 0, maximum: MAX_BUDGET_USD, description: 'monthly budget in USD' }),
}, { additionalProperties: false });
const TenantParams = Type.Object({ tenant: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }) });
const ok = { 200: BudgetsSchema };

export const budgetRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { costs } = services;
  app.get('/v1/budgets', {
    schema: {
      tags: ['costs'],
      summary: 'Monthly budgets with what was spent and what is left',
      description: 'Admin keys: the global budget and every tenant\'s; tenant keys: their own. Budgets set here win over NIGHTSHIFT_BUDGET_USD and NIGHTSHIFT_TENANT_BUDGETS, which are the defaults.',
      response: { ...ok, ...errorResponses() },
    },
  }, async (req) => costs.budgets(req.principal));

  app.put('/v1/budgets/global', {
    schema: {
      tags: ['costs'], summary: 'Set the global monthly budget (admin keys only)',
      description: 'Applies from the provisioner\'s next pass: launches stop at the new cap, or jobs stopped as budget_exhausted queue again when it is raised.',
      body: Body, response: { ...ok, ...errorResponses(400, 403) },
    },
  }, async (req) => costs.setBudget(req.principal, 'global', undefined, req.body.limitUsd));

  app.put('/v1/budgets/tenants/:tenant', {
    schema: { tags: ['costs'], summary: 'Set a tenant\'s monthly budget (admin keys only)', params: TenantParams, body: Body, response: { ...ok, ...errorResponses(400, 403) } },
  }, async (req) => costs.setBudget(req.principal, 'tenant', req.params.tenant, req.body.limitUsd));

  app.delete('/v1/budgets/global', {
    schema: { tags: ['costs'], summary: 'Remove the global monthly budget (admin keys only), whatever NIGHTSHIFT_BUDGET_USD says', response: { ...ok, ...errorResponses(403) } },
  }, async (req) => costs.clearBudget(req.principal, 'global'));

  app.delete('/v1/budgets/tenants/:tenant', {
    schema: { tags: ['costs'], summary: 'Remove a tenant\'s monthly budget (admin keys only), whatever NIGHTSHIFT_TENANT_BUDGETS says', params: TenantParams, response: { ...ok, ...errorResponses(400, 403) } },
  }, async (req) => costs.clearBudget(req.principal, 'tenant', req.params.tenant));
};
