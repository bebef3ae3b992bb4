/**
 * The engine parity suite at benchmark size: every case of support/parity.ts
 * (unscaled features, 5% positives, 10-class softmax, targets in the hundreds, 50
 * rows, 500 features) with more rows, epochs and repeated folds, through the fused
 * and the tfjs (cpu backend) engines with the same protocol and seeds. Prints each
 * case's two means, standard errors, the tolerance and the verdict.
 *   npx tsx bench/engine-parity.ts [--rows 2] [--epochs 2] [--repeats 3] [--write]   (--write: bench/results/engine-parity.md)
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { selectBackend } from '../services/platform/tf-backend.ts';
import { fusedEngine } from '../workers/trainer/ml/fused-engine.ts';
import { tfjsEngine } from '../workers/trainer/ml/train-tfjs.ts';
import { beatsBaseline, parityCases, parityTolerance, runCase, type ParitySize } from '../support/parity.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const size: ParitySize = { rows: opt('rows', 2), epochs: opt('epochs', 2), repeats: opt('repeats', 3) };

async function main(): Promise<void> {
  await selectBackend('cpu');
  const only = args.includes('--case') ? args[args.indexOf('--case') + 1] : undefined;
  const lines = [
    '| case | shape | rows | units | metric | baseline | fused mean (se) | tfjs mean (se) | tolerance | agree | both beat baseline | fused s | tfjs s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  let ok = true;
  for (const c of parityCases(size)) {
    if (only && c.name !== only) continue;
    const f = await runCase(c, fusedEngine);
    const t = await runCase(c, tfjsEngine);
    const tol = parityTolerance(c, f, t);
    const agree = Math.abs(f.mean - t.mean) <= tol;
    const beat = beatsBaseline(c, f) && beatsBaseline(c, t);
    ok &&= agree && beat;
    const metric = c.spec.training.metrics[0] ?? c.spec.training.loss;
    const n = (v: number) => v.toFixed(4);
    const line = `| ${c.name} | ${c.shape} | ${c.table.rows} | ${f.scores.length} | ${metric} | ${n(c.baseline)} | ${n(f.mean)} (${n(f.stderr)}) | ${n(t.mean)} (${n(t.stderr)}) | ${n(tol)} | ${agree ? 'yes' : 'NO'} | ${beat ? 'yes' : 'NO'} | ${(f.ms / 1000).toFixed(1)} | ${(t.ms / 1000).toFixed(1)} |`;
    lines.push(line);
    console.log(line);
  }
  if (args.includes('--write')) {
    const header = [
      '# Engine parity (benchmark size)',
      '',
      `\`npx tsx bench/engine-parity.ts --rows ${size.rows} --epochs ${size.epochs} --repeats ${size.repeats} --write\`, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), Node ${process.version}, tfjs on its cpu backend.`,
      '',
      'Each case runs every unit of its repeated k-fold protocol through both engines with the same splits and seeds.',
      'Tolerance: 3 combined standard errors of the two means (sqrt(se_fused^2 + se_tfjs^2)), at least 0.01 for accuracy or 1% of the baseline error.',
      'Baseline: the majority-class rate (accuracy) or the MAE of predicting each target\'s mean; a score must beat it by 0.01 or by 10%.',
      '',
    ];
    writeFileSync(new URL('./results/engine-parity.md', import.meta.url), [...header, ...lines, ''].join('\n'));
  }
  if (!ok) process.exitCode = 1;
}

void main();
