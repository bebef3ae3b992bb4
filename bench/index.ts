/**
 * The benchmark registry and runner.
 *   npm run bench                 every benchmark marked `all` (a few minutes), one after another
 *   npm run bench -- submit       one by name (further arguments go to it: npm run bench -- submit 5)
 *   npm run bench -- --list       the names
 * Each benchmark runs in its own process and prints its figures beside a baseline
 * measured in the same run, and a MET / NOT MET line per target; none fails on a
 * number. Recorded figures: bench/RESULTS.md and bench/results/.
 * To add one: a file under bench/ and one line below.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Bench {
  /** file under bench/ */
  file: string;
  about: string;
  /** part of `npm run bench` (false: long, run by name) */
  all: boolean;
  /** arguments used by `npm run bench` (by name: the ones given, else the file's defaults) */
  allArgs?: string[];
}

export const BENCHMARKS: Record<string, Bench> = {
  submit: { file: 'submit.ts', about: 'POST /v1/jobs under 50 connections vs raw BullMQ Queue.add', all: true },
  dispatch: { file: 'dispatch.ts', about: 'submit -> first epoch on a warm idle worker vs raw BullMQ pickup', all: true },
  'provisioner-latency': { file: 'provisioner-latency.ts', about: 'queue -> first launch call, last unit -> last terminate (emulated EC2)', all: true, allArgs: ['2'] },
  'worker-overhead': { file: 'worker-overhead.ts', about: 'a tutorial model through a worker vs the bare engine loop', all: true },
  'batch-accept': { file: 'batch-accept.ts', about: 'expanding and accepting a 1,000-job batch', all: true, allArgs: ['1'] },
  'batch-view': { file: 'batch-view.ts', about: "one open dashboard: GET /v1/batches/:id of a 1,000-job batch, and how long it holds the API's event loop", all: true },
  'demand-count': { file: 'demand-count.ts', about: "the provisioner's per-job demand count with 10,000 queued units", all: true },
  planner: { file: 'planner.ts', about: 'the pure planner for 10,000 pending units and 200 instances', all: true },
  retention: { file: 'retention.ts', about: 'retention sweep and Redis memory per finished job', all: true },
  'month-spend': { file: 'month-spend.ts', about: 'month-to-date spend over many retired instances', all: true },
  upload: { file: 'upload.ts', about: 'data set upload throughput', all: true },
  'api-hostile': { file: 'api-hostile.ts', about: 'the API under hostile request bodies', all: true },
  'fused-vs-tfjs': { file: 'fused-vs-tfjs.ts', about: 'fused engine vs TensorFlow.js speed', all: true },
  scale: { file: 'scale.ts', about: '100 simulated instances draining 10,000 units (long)', all: false },
  'engine-parity': { file: 'engine-parity.ts', about: 'engine parity suite at a bigger size (long)', all: false },
  tutorials: { file: 'tutorials.ts', about: 'the tutorial experiments end to end (long)', all: false },
};

function run(name: string, args: string[]): number {
  const b = BENCHMARKS[name];
  const file = fileURLToPath(new URL(`./${b.file}`, import.meta.url));
  console.log(`\n=== ${name}: ${b.about}${args.length ? ` (${args.join(' ')})` : ''}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' });
  return r.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name, ...rest] = process.argv.slice(2);
  if (name === '--list') {
    for (const [n, b] of Object.entries(BENCHMARKS)) console.log(`${n.padEnd(22)} ${b.all ? '   ' : '(*)'} ${b.about}`);
    console.log('(*) not part of `npm run bench`: run it by name');
  } else if (name) {
    if (!BENCHMARKS[name]) {
      console.error(`unknown benchmark "${name}"; one of: ${Object.keys(BENCHMARKS).join(', ')}`);
      process.exit(2);
    }
    process.exit(run(name, rest));
  } else {
    const failed: string[] = [];
    for (const [n, b] of Object.entries(BENCHMARKS)) if (b.all && run(n, b.allArgs ?? []) !== 0) failed.push(n);
    // a benchmark that could not run (not one that missed a target) is reported, and the run still ends 0
    if (failed.length) console.log(`\nthese benchmarks could not run: ${failed.join(', ')}`);
  }
}
