/**
 * A steady GET load in a process of its own, so that the latencies it measures are not
 * delayed by work in the benchmark's process (the scale bench runs the provisioner
 * there). Started by getLoad(); runs autocannon at a fixed rate over random paths
 * until its duration ends or the parent sends 'stop', then sends back the result.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface GetLoadResult {
  latency: { p50: number; p99: number; max: number };
  requests: { total: number };
  non2xx: number;
  errors: number;
  /** second by second from the first response: requests answered and the slowest of them (ms) */
  perSecond: Array<{ n: number; maxMs: number }>;
}

interface LoadSpec {
  url: string;
  paths: string[];
  rate: number;
  connections: number;
  durationS: number;
  authorization: string;
}

/** Starts the load in a child process; stop() ends it early; done answers its result. */
export function getLoad(spec: LoadSpec): { stop(): void; done: Promise<GetLoadResult> } {
  const gen = loadProcess();
  return gen.start(spec);
}

/**
 * A load process started ahead of its load: start() then sends the first request at
 * once, without the process's own start-up (a second or more on a busy machine) in
 * the first latencies.
 */
export function loadProcess(): { ready: Promise<void>; start(spec: LoadSpec): { stop(): void; done: Promise<GetLoadResult> } } {
  const child = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the load process exited (${code}) without a result`))));
  exited.catch(() => undefined);
  const ready = Promise.race([new Promise<void>((resolve) => child.once('message', () => resolve())), exited]);
  return {
    ready,
    start(spec) {
      const done = ready.then(() => {
        const result = Promise.race([new Promise<GetLoadResult>((resolve) => child.once('message', (m) => resolve(m as GetLoadResult))), exited]);
        child.send(spec);
        return result;
      });
      return { stop: () => void ready.then(() => child.send('stop')), done };
    },
  };
}

if (process.argv.includes('--child')) {
  const autocannon = (await import('autocannon' as string)).default as (o: Record<string, unknown>) => {
    stop(): void;
    once(ev: 'done', cb: (r: GetLoadResult) => void): void;
    on(ev: 'response', cb: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  };
  process.send!('ready');
  process.once('message', (spec: LoadSpec) => {
    const inst = autocannon({
      url: spec.url,
      connections: spec.connections,
      overallRate: spec.rate,
      duration: spec.durationS,
      headers: { authorization: spec.authorization },
      requests: [{ method: 'GET', setupRequest: (req: Record<string, unknown>) => ({ ...req, path: spec.paths[Math.floor(Math.random() * spec.paths.length)] }) }],
    });
    const perSecond: GetLoadResult['perSecond'] = [];
    let first: number | undefined;
    inst.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      const t = Date.now();
      first ??= t;
      const s = Math.floor((t - first) / 1000);
      while (perSecond.length <= s) perSecond.push({ n: 0, maxMs: 0 });
      perSecond[s].n++;
      perSecond[s].maxMs = Math.max(perSecond[s].maxMs, ms);
    });
    process.on('message', (m) => {
      if (m === 'stop') inst.stop();
    });
    inst.once('done', (r) => {
      const out: GetLoadResult = { latency: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max }, requests: { total: r.requests.total }, non2xx: r.non2xx, errors: r.errors, perSecond };
      process.send!(out, () => process.exit(0));
    });
  });
}
