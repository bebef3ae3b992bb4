/**
 * `nightshift batch ...` and `nightshift batches`: submit a sweep (optionally
 * following it), show a batch with its leaderboard, print its report, list and
 * cancel batches. Formatting is pure (batchDetail, batchesTable).
 */
import { isBatchTerminal } from '../core/batch.ts';
import type { BatchClient, BatchView } from './client.ts';
import type { Io } from './commands.ts';
import { loadSpec } from './commands.ts';
import { num, table, time, UsageError } from './format.ts';

const sigMark = (r: BatchView['leaderboard'][number]): string => (r.rank === null ? '' : r.best ? 'best' : r.tiedWithBest === null ? 'n/a' : r.tiedWithBest ? '≈ best' : '');
/** the significance mark, and ⚠ with the codes when the job's training-health checks flagged it */
const mark = (r: BatchView['leaderboard'][number]): string => [sigMark(r), r.warnings?.length ? `⚠ ${r.warnings.join(',')}` : ''].filter(Boolean).join(' ');
/** "model.layers.0.units" -> "layers.0.units", "training.optimizer.learningRate" -> "learningRate" */
const shortPath = (k: string): string => {
  const parts = k.split('.');
  return parts.length >= 3 && /^\d+$/.test(parts[parts.length - 2]) ? parts.slice(-3).join('.') : parts[parts.length - 1];
};
const paramText = (p: Record<string, unknown>): string => Object.entries(p).map(([k, v]) => `${shortPath(k)}=${typeof v === 'number' ? num(v, 6).replace(/\.?0+$/, '') : typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
const usd = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `$${x.toFixed(2)}`);

export function batchDetail(b: BatchView): string {
  const counts = Object.entries(b.counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ');
  const lines = [
    `batch     ${b.name} (${b.id})`,
    `status    ${b.status}${counts ? ` (${counts})` : ''}`,
    `units     ${b.progress.unitsDone}/${b.progress.unitsTotal}`,
  ];
  if (b.window) lines.push(`window    ${b.window.start}-${b.window.end} ${b.window.timezone}`);
  if (b.notBefore) lines.push(`starts    ${time(b.notBefore)}`);
  if (b.deadline) lines.push(`deadline  ${time(b.deadline)}${b.atRisk ? `  AT RISK: projected finish ${time(b.projection?.projectedFinish ?? null)}` : b.projection?.projectedFinish ? `  (projected finish ${time(b.projection.projectedFinish)})` : ''}`);
  lines.push(`cost      ${usd(b.costUsd)}${b.budgetUsd !== undefined ? ` of $${b.budgetUsd}` : ''}`);
  if (b.metric) lines.push(`ranked by ${b.metric} (${b.higherIsBetter ? 'higher' : 'lower'} is better); ≈ best: not significantly different from the best (alpha 0.05); ⚠: training-health warnings (see nightshift status <job>)`);
  lines.push('');
  lines.push(table(
    ['rank', 'job', 'status', 'mean', 'std', '95% CI', 'n', 'mark', 'p', 'cost', 'params'],
    b.leaderboard.map((r) => [
      r.rank ?? '-', r.jobId, r.status, num(r.mean), num(r.std), r.ci95 ? `[${num(r.ci95[0])}, ${num(r.ci95[1])}]` : '-', r.n, mark(r),
      r.sig ? num(r.sig.p, 3) : '-', usd(r.costUsd), paramText(r.params),
    ]),
  ));
  return lines.join('\n');
}

export function batchesTable(items: BatchView[]): string {
  if (items.length === 0) return 'no batches';
  return table(
    ['id', 'name', 'status', 'jobs', 'units', 'best', 'deadline', 'cost'],
    items.map((b) => {
      const best = b.leaderboard.find((r) => r.rank === 1);
      return [b.id, b.name, b.atRisk ? `${b.status} (at risk)` : b.status, b.jobIds.length, `${b.progress.unitsDone}/${b.progress.unitsTotal}`, best ? `${num(best.mean)} ${b.metric}` : '-', b.deadline ? time(b.deadline) : '-', usd(b.costUsd)];
    }),
  );
}

export interface BatchCommandDeps {
  client(): BatchClient;
  io: Io;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
}

export function createBatchCommands({ client, io, sleep = (ms) => new Promise((r) => setTimeout(r, ms)), pollMs = 2_000 }: BatchCommandDeps) {
  const show = (json: boolean | undefined, raw: unknown, human: () => string) => io.out(json ? JSON.stringify(raw, null, 2) : human());

  /** Prints a line whenever the batch's status or progress changes; answers the final batch. */
  async function follow(id: string): Promise<BatchView> {
    let last = '';
    for (;;) {
      const b = await client().get(id);
      const line = `${b.status} ${b.progress.unitsDone}/${b.progress.unitsTotal} units${b.atRisk ? ' (at risk)' : ''}`;
      if (line !== last) io.err(`${new Date().toISOString().slice(11, 19)} ${line}`);
      last = line;
      if (isBatchTerminal(b.status)) return b;
      await sleep(pollMs);
    }
  }

  return {
    async submit(file: string, o: { set?: string[]; watch?: boolean; json?: boolean; dryRun?: boolean }): Promise<number> {
      const spec = loadSpec(file, io, o.set ?? []);
      if (o.dryRun) {
        const d = await client().dryRun(spec);
        show(o.json, d, () => [
          `valid: ${d.jobs.length} jobs, ${d.unitsTotal} units`,
          `starts    ${d.notBefore ? time(d.notBefore) : 'now'}`,
          `deadline  ${d.deadline ? time(d.deadline) : '-'}`,
          '',
          table(['job', 'units'], d.jobs.map((j) => [j.name, j.units])),
        ].join('\n'));
        return 0;
      }
      const accepted = await client().submit(spec);
      show(o.json, accepted, () => accepted.id);
      if (!o.watch) return 0;
      if (!o.json) io.err(`${accepted.jobIds.length} jobs, ${accepted.unitsTotal} units, ${accepted.status}${accepted.notBefore ? ` until ${time(accepted.notBefore)}` : ''}`);
      const b = await follow(accepted.id);
      io.err(batchDetail(b));
      return b.status === 'completed' ? 0 : 1;
    },
    async show(id: string, o: { json?: boolean; watch?: boolean }): Promise<number> {
      const b = o.watch ? await follow(id) : await client().get(id);
      show(o.json, b, () => batchDetail(b));
      return 0;
    },
    async report(id: string, o: { csv?: boolean }): Promise<number> {
      io.write(await client().report(id, o.csv ? 'csv' : 'md'));
      return 0;
    },
    async cancel(id: string, o: { json?: boolean }): Promise<number> {
      const b = await client().cancel(id);
      show(o.json, b, () => `${b.id} ${b.status}`);
      return 0;
    },
    async retryFailed(id: string, o: { json?: boolean }): Promise<number> {
      const r = await client().retryFailed(id);
      show(o.json, r, () => (r.retried.length ? r.retried.map((x) => `${x.from} -> ${x.to}`).join('\n') : 'no failed jobs'));
      return 0;
    },
    async list(o: { status?: string; limit?: number; cursor?: string; json?: boolean }): Promise<number> {
      // the table shows each batch's best job: one leaderboard row each (--json prints the API's whole answer)
      const l = await client().list({ ...(o.status ? { status: o.status } : {}), ...(o.limit ? { limit: o.limit } : {}), ...(o.cursor ? { cursor: o.cursor } : {}), ...(o.json ? {} : { rows: 1 }) });
      show(o.json, l, () => batchesTable(l.items) + (l.nextCursor ? `\n(more: --cursor ${l.nextCursor})` : ''));
      return 0;
    },
    /** `batch <id>`, `batch submit <file>`, `batch report <id>`, `batch cancel <id>`, `batch retry-failed <id>` */
    async dispatch(what: string, arg: string | undefined, o: { set?: string[]; watch?: boolean; json?: boolean; csv?: boolean; dryRun?: boolean }): Promise<number> {
      const need = (n: string) => {
        if (!arg) throw new UsageError(`batch ${what} needs ${n}`);
        return arg;
      };
      switch (what) {
        case 'submit': return this.submit(need('a BatchSpec file'), o);
        case 'report': return this.report(need('a batch id'), o);
        case 'cancel': return this.cancel(need('a batch id'), o);
        case 'retry-failed': return this.retryFailed(need('a batch id'), o);
        default:
          if (arg) throw new UsageError(`unknown batch command "${what}" (submit, report, cancel, retry-failed, or a batch id)`);
          return this.show(what, o);
      }
    },
  };
}
