/**
 * Runs the tutorial experiments of examples/ on the local stack through the HTTP
 * API and records what they measure next to what the tutorials report:
 *   npx tsx bench/tutorials.ts [--write] [--only name,...]
 * --write stores the table in bench/results/tutorials.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startStack } from '../services/local/stack.ts';
import { createClient } from '../services/cli/client.ts';
import type { Job } from '../services/core/job.ts';

interface Case {
  file: string;
  tutorial: string;
  patch?: (spec: any) => void;
  label?: string;
}

const CASES: Case[] = [
  { file: 'regression-holdout.json', tutorial: '- (holdout of the same model)' },
  { file: 'regression-holdout.json', label: 'regression-holdout (engine tfjs)', tutorial: '- (holdout of the same model)', patch: (s) => (s.training.engine = 'tfjs', s.name += '-tfjs') },
  { file: 'regression-kfold.json', tutorial: 'MAE 8.184 (1.032)' },
  { file: 'regression-kfold.json', label: 'regression-kfold (engine tfjs)', tutorial: 'MAE 8.184 (1.032)', patch: (s) => (s.training.engine = 'tfjs', s.name += '-tfjs') },
  { file: 'mammography-kfold.json', tutorial: 'accuracy 0.987 (0.002)' },
  { file: 'mammography-learning-curves.json', tutorial: 'accuracy 0.987 (holdout 50%, stratified)' },
  { file: 'mammography-validation-split.json', tutorial: '- (learning curves with validation_split=0.33)' },
  { file: 'mammography-final.json', tutorial: "predicts '-1' for the first row" },
  { file: 'sonar-like-baseline.json', tutorial: 'UCI Sonar baseline (data not shipped; same protocol on sonar-shaped synthetic data)' },
  { file: 'sonar-like-dropout-input.json', tutorial: 'UCI Sonar, dropout on the input (data not shipped)' },
  { file: 'sonar-like-dropout-hidden.json', tutorial: 'UCI Sonar, dropout on hidden layers (data not shipped)' },
];

const args = process.argv.slice(2);
const write = args.includes('--write');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;

const stack = await startStack({ port: 0, banner: false, logger: pino({ level: 'warn' }) });
const api = createClient({ url: stack.url, key: stack.apiKey });

const rows: string[][] = [];
try {
  const ds = await api.uploadDataset(readFileSync('examples/data/mammography.csv'), { name: 'mammography' });
  for (const c of CASES) {
    const label = c.label ?? c.file.replace(/\.json$/, '');
    if (only && !only.some((o) => label.includes(o))) continue;
    const spec = JSON.parse(readFileSync(path.join('examples', c.file), 'utf8'));
    if (spec.dataset.uri === 'dataset:mammography') spec.dataset.uri = ds.uri;
    c.patch?.(spec);
    const t0 = Date.now();
    const { id } = await api.submitJob(spec);
    let job: Job;
    for (;;) {
      job = await api.getJob(id);
      if (['completed', 'failed', 'cancelled'].includes(job.status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const wall = (Date.now() - t0) / 1000;
    const summary = job.status === 'completed' ? await api.summary(id) : undefined;
    const r = job.result;
    let extra = '';
    if (c.file === 'mammography-final.json' && job.status === 'completed') {
      const p = await api.predict(id, [[0.23001961, 5.0725783, -0.27606055, 0.83244412, -0.37786573, 0.4803223]]);
      extra = `predicts '${p.labels?.[0]}' (p=${p.predictions[0][0].toExponential(2)})`;
    }
    if (c.file === 'mammography-validation-split.json' && summary?.final) {
      const last = summary.final;
      extra = `final epoch: accuracy ${last.accuracy.toFixed(4)}, val_accuracy ${last.val_accuracy.toFixed(4)}`;
    }
    if (c.file === 'mammography-learning-curves.json' && job.status === 'completed') {
      const hist = await api.history(id);
      const e = hist.units[0].epochs;
      extra = `epoch 300: loss ${e[299].loss.toFixed(4)}, val_loss ${e[299].val_loss.toFixed(4)}`;
    }
    const row = [
      label,
      job.status === 'completed' ? '' : `${job.status}: ${job.error?.message ?? ''}`,
      r ? `${r.metric} ${r.mean.toFixed(4)} (${r.std.toFixed(4)})` : extra || '-',
      r ? `[${r.ci95[0].toFixed(4)}, ${r.ci95[1].toFixed(4)}]` : '',
      r ? String(r.scores.length) : '',
      c.tutorial,
      `${wall.toFixed(1)} s`,
      summary?.unitSeconds !== undefined ? `${summary.unitSeconds.toFixed(1)} s` : '',
      `${job.engine ?? '?'} / ${job.backend ?? '?'}`,
    ];
    if (r && extra) row[2] += `; ${extra}`;
    rows.push(row);
    console.log(row.join(' | '));
  }
} finally {
  await stack.close();
}

const head = ['experiment', 'status', 'nightshift: mean (std)', '95% CI', 'n', 'tutorial reports', 'wall time', 'unit time', 'engine / backend'];
const table = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map((x) => x || ' ').join(' | ')} |`)].join('\n');
console.log(`\n${table}`);
if (write) {
  const md = `# Tutorial experiments: measured

- date: ${new Date().toISOString()}
- machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}
- command: \`npx tsx bench/tutorials.ts --write\` (local stack, ${stack.config.maxInstances} local instances, one unit at a time each)
- wall time: submission to completion, one experiment at a time; unit time: the sum of the units' training times

${table}
`;
  writeFileSync('bench/results/tutorials.md', md);
  console.log('wrote bench/results/tutorials.md');
}
