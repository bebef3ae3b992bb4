/**
 * `npm run demo`: runs the tutorial experiments from examples/ on the local stack
 * (a running one, or one it starts), shows progress while they train and prints
 * the results table. Everything goes through the public HTTP API.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { loadConfig, ConfigError } from '../core/config.ts';
import { startStack, readStackInfo, type Stack } from './stack.ts';
import { StackError } from './infra.ts';
import { createClient } from '../cli/client.ts';
import { isTerminal, type Job } from '../core/job.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const examples = path.join(root, 'examples');

interface DemoJob {
  file: string;
  /** what the tutorial reports, for the table */
  tutorial: string;
  predict?: { row: number[]; expect: string };
}

const JOBS: DemoJob[] = [
  { file: 'regression-kfold.json', tutorial: 'MAE 8.184 (1.032)' },
  { file: 'mammography-kfold.json', tutorial: 'accuracy 0.987 (0.002)' },
  {
    file: 'mammography-final.json',
    tutorial: "predicts '-1'",
    predict: { row: [0.23001961, 5.0725783, -0.27606055, 0.83244412, -0.37786573, 0.4803223], expect: '-1' },
  },
];

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return r.ok;
  } catch {
    return false;
  }
}

const fmt = (x: number | undefined, d = 3) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
const dur = (j: Job) => (j.startedAt && j.finishedAt ? `${((Date.parse(j.finishedAt) - Date.parse(j.createdAt)) / 1000).toFixed(1)}s` : '-');

async function main(): Promise<void> {
  const config = loadConfig();
  let stack: Stack | undefined;
  let url: string;
  let key: string;
  const running = readStackInfo(config.dataDir);
  if (running?.url && running.apiKey && (await healthy(running.url))) {
    ({ url, apiKey: key } = { url: running.url, apiKey: running.apiKey });
    console.log(`Using the nightshift stack running at ${url}`);
  } else {
    stack = await startStack({ logger: pino({ level: 'warn' }), banner: true });
    ({ url, apiKey: key } = stack);
  }
  const t0 = Date.now();
  const api = createClient({ url, key });
  try {
    const csv = readFileSync(path.join(examples, 'data/mammography.csv'));
    const ds = await api.uploadDataset(csv, { name: 'mammography', header: false });
    console.log(`Uploaded mammography.csv: ${ds.rows} rows x ${ds.columns} columns (${ds.uri})`);

    const submitted: Array<{ demo: DemoJob; id: string; name: string }> = [];
    for (const demo of JOBS) {
      const spec = JSON.parse(readFileSync(path.join(examples, demo.file), 'utf8'));
      if (spec.dataset.uri === 'dataset:mammography') spec.dataset.uri = ds.uri;
      const r = await api.submitJob(spec);
      submitted.push({ demo, id: r.id, name: spec.name });
      console.log(`Submitted ${spec.name} as ${r.id}`);
    }

    const tty = process.stdout.isTTY;
    let lastPrint = 0;
    for (;;) {
      const jobs = await Promise.all(submitted.map((s) => api.getJob(s.id)));
      const lines = jobs.map((j) => {
        const p = j.progress;
        const ep = p.epoch ? ` epoch ${p.epoch}/${p.epochs}` : '';
        return `  ${j.name.padEnd(40)} ${j.status.padEnd(10)} units ${p.unitsDone}/${p.unitsTotal}${ep}`;
      });
      const done = jobs.every((j) => isTerminal(j.status));
      if (tty) {
        process.stdout.write(`\x1b[2K${lines.join('\n\x1b[2K')}\n`);
        if (!done) process.stdout.write(`\x1b[${lines.length}A`);
      } else if (done || Date.now() - lastPrint > 10_000) {
        lastPrint = Date.now();
        console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s]\n${lines.join('\n')}`);
      }
      if (done) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }

    const final = await Promise.all(submitted.map((s) => api.getJob(s.id)));
    console.log('\nResults');
    const head = ['job', 'status', 'metric', 'mean', 'std', '95% CI', 'n', 'time', 'tutorial'];
    const rows = final.map((j, i) => {
      const r = j.result;
      return [
        j.name, j.status, r?.metric ?? '-', fmt(r?.mean), fmt(r?.std), r ? `[${fmt(r.ci95[0])}, ${fmt(r.ci95[1])}]` : '-',
        r ? String(r.scores.length) : '-', dur(j), submitted[i].demo.tutorial,
      ];
    });
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const line = (cells: string[]) => '  ' + cells.map((c, i) => c.padEnd(widths[i])).join('  ');
    console.log(line(head));
    console.log(line(widths.map((w) => '-'.repeat(w))));
    for (const r of rows) console.log(line(r));
    for (const [i, j] of final.entries()) {
      if (j.status !== 'completed') console.log(`  ${j.name}: ${j.error?.code ?? j.status}: ${j.error?.message ?? ''}`);
      const pr = submitted[i].demo.predict;
      if (pr && j.status === 'completed') {
        const out = await api.predict(j.id, [pr.row]);
        console.log(`  ${j.name}: predict(${JSON.stringify(pr.row)}) -> ${JSON.stringify(out.labels?.[0] ?? out.predictions[0])} (p=${fmt(out.predictions[0][0], 4)}; the tutorial predicts '${pr.expect}')`);
      }
    }
    const backend = final.find((j) => j.backend)?.backend;
    const engine = final.find((j) => j.engine)?.engine;
    console.log(`\nAll jobs finished in ${((Date.now() - t0) / 1000).toFixed(1)}s (backend ${backend ?? '?'}, engine ${engine ?? '?'}).`);
    console.log(`Artifacts: ${url}/v1/jobs/<id>/artifacts/summary.json, history.json, model.json`);
    if (final.some((j) => j.status !== 'completed')) process.exitCode = 1;
  } finally {
    if (stack) await stack.close();
  }
}

main().catch((e) => {
  if (e instanceof ConfigError || e instanceof StackError) {
    console.error(`nightshift demo: ${e.message}`);
    process.exit(2);
  }
  console.error(`nightshift demo failed: ${(e as Error).message}`);
  process.exit(1);
});
