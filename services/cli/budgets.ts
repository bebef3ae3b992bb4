/** `nightshift budget [set USD | clear] [--tenant T]`: monthly budgets through the API (setting needs an admin key). */
import type { BudgetsView, Client } from './client.ts';
import type { Io } from './commands.ts';
import { table, usd, UsageError } from './format.ts';

export function budgetsTable(v: BudgetsView): string {
  const rows = [
    ...(v.global ? [['(global)', usd(v.global.limitUsd), usd(v.global.spentUsd), usd(v.global.leftUsd), v.global.source]] : []),
    ...v.tenants.map((t) => [t.tenant, usd(t.limitUsd), usd(t.spentUsd), usd(t.leftUsd), t.source]),
  ];
  return rows.length ? `${table(['BUDGET', 'LIMIT', `SPENT ${v.month}`, 'LEFT', 'SET BY'], rows)}` : `no budgets (spend in ${v.month} is not capped)`;
}

/** a budget figure typed on the command line: a plain non-negative number of USD */
export function parseUsdArg(raw: string | undefined): number {
  const v = Number(raw);
  if (raw === undefined || raw.trim() === '' || !/^\d+(\.\d+)?$/.test(raw.trim()) || !Number.isFinite(v) || v > 1e9) {
    throw new UsageError(`USD must be a number from 0 to 1000000000, e.g. \`nightshift budget set 50\`, got ${raw === undefined ? 'nothing' : `"${raw}"`}`);
  }
  return v;
}

export function createBudgetCommands(client: () => Client, io: Io) {
  const show = (json: boolean | undefined, v: BudgetsView) => io.out(json ? JSON.stringify(v, null, 2) : budgetsTable(v));
  return {
    async dispatch(action: string | undefined, arg: string | undefined, o: { tenant?: string; json?: boolean }): Promise<number> {
      if (action === undefined || action === 'show') {
        show(o.json, await client().budgets());
      } else if (action === 'set') {
        const limit = parseUsdArg(arg);
        show(o.json, await client().setBudget(o.tenant, limit));
      } else if (action === 'clear') {
        if (arg !== undefined) throw new UsageError(`budget clear takes no value (got "${arg}"); use --tenant NAME for a tenant's budget`);
        show(o.json, await client().setBudget(o.tenant, null));
      } else {
        throw new UsageError(`unknown budget action "${action}": expected set or clear (or nothing, to show the budgets)`);
      }
      return 0;
    },
  };
}
