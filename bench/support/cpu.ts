/**
 * Where a machine's cores went between two snapshots (Linux /proc): the whole
 * machine's busy share and each process group's CPU time, for benchmarks that share
 * a few cores between the service, Redis, stand-in instances and the load generator.
 * Elsewhere (no /proc) a snapshot is empty and the line says so.
 */
import fs from 'node:fs';
import os from 'node:os';

export interface CpuSnapshot {
  at: number;
  /** jiffies over all cores: busy, taken by the hypervisor (steal), and in all */
  busy: number;
  steal: number;
  total: number;
  /** pid -> [command line, utime + stime in jiffies] */
  procs: Map<number, [string, number]>;
}

const HZ = 100; // USER_HZ on Linux

export function cpuSnapshot(): CpuSnapshot {
  const snap: CpuSnapshot = { at: Date.now(), busy: 0, steal: 0, total: 0, procs: new Map() };
  try {
    // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = cpu[3] + (cpu[4] ?? 0);
    snap.steal = cpu[7] ?? 0;
    snap.total = cpu.reduce((a, b) => a + b, 0);
    snap.busy = snap.total - idle - snap.steal;
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
        snap.procs.set(Number(d), [cmd, Number(f[11]) + Number(f[12])]);
      } catch {
        // the process ended meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return snap;
}

/**
 * Machine busy % of all cores and each group's share of one core (100% = one core
 * busy the whole time) between a and b. A process counts in the first group whose
 * test its command line (or pid) passes; the rest are "other".
 */
export function cpuLine(a: CpuSnapshot, b: CpuSnapshot, groups: Array<[string, (cmd: string, pid: number) => boolean]>): string {
  if (!b.total) return 'CPU: not measured (no /proc)';
  const seconds = (b.at - a.at) / 1000;
  const used = new Map<string, number>();
  for (const [pid, [cmd, t]] of b.procs) {
    const d = t - (a.procs.get(pid)?.[1] ?? 0);
    if (d <= 0) continue;
    const g = groups.find(([, test]) => test(cmd, pid))?.[0] ?? 'other';
    used.set(g, (used.get(g) ?? 0) + d);
  }
  const pct = (jiffies: number) => `${((jiffies / HZ / seconds) * 100).toFixed(0)}%`;
  const shown = [...groups.map(([n]) => n), 'other'].filter((n) => used.has(n)).map((n) => `${n} ${pct(used.get(n)!)}`);
  return `CPU over ${seconds.toFixed(1)} s: machine ${(((b.busy - a.busy) / (b.total - a.total)) * 100).toFixed(0)}% busy of ${os.cpus().length} cores, ${(((b.steal - a.steal) / (b.total - a.total)) * 100).toFixed(0)}% taken by the hypervisor (steal); per process group (100% = one core): ${shown.join(', ')}`;
}
