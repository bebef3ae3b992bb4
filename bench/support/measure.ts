/** Small helpers the benchmarks share: percentiles, a load figure, target lines. */
import { cpus, loadavg } from 'node:os';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summary(samples: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? Number.NaN };
}

/** "2 cores, load 1.3 0.9 0.7" */
export const machine = (): string => `${cpus().length} cores (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;

/** One line saying whether a figure met its target; benchmarks never fail on a number. */
export function target(label: string, ok: boolean, detail: string): string {
  const line = `${ok ? 'MET    ' : 'NOT MET'} ${label}: ${detail}`;
  console.log(line);
  return line;
}

export const ms = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '-');
