/** `nightshift cost`: the cost report as a table, totals and budgets below it. */
import type { CostReport } from './client.ts';
import { table, usd } from './format.ts';

const hours = (s: number): string => (s >= 3600 ? `${(s / 3600).toFixed(2)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

export function costReport(r: CostReport): string {
  const lines: string[] = [];
  const head = r.groupBy === 'instanceType' ? 'INSTANCE TYPE' : r.groupBy.toUpperCase();
  lines.push(r.groups.length ? table([head, 'COST', 'INSTANCE TIME', 'IDLE', 'SPOT SAVED'], r.groups.map((g) => [g.key, usd(g.usd), hours(g.instanceSeconds), usd(g.idleUsd), usd(g.spotSavingsUsd)])) : 'no costs in this range');
  lines.push('');
  lines.push(`total ${usd(r.totalUsd)}  (idle ${usd(r.idleUsd)}${r.unattributedUsd > 0 ? `, of which unattributed ${usd(r.unattributedUsd)}` : ''}; spot saved ${usd(r.spotSavingsUsd)})`);
  if (r.from || r.to) lines.push(`costs billed ${r.from ? `from ${r.from}` : ''}${r.from && r.to ? ' ' : ''}${r.to ? `before ${r.to}` : ''}`);
  const b = r.budgets;
  if (b.global) lines.push(`monthly budget ${usd(b.global.limitUsd)}: spent ${usd(b.global.spentUsd)}, left ${usd(b.global.leftUsd)}`);
  if (b.tenant) lines.push(`budget of ${b.tenant.tenant} ${usd(b.tenant.limitUsd)}: spent ${usd(b.tenant.spentUsd)}, left ${usd(b.tenant.leftUsd)}`);
  return lines.join('\n');
}
