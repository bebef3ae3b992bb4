/**
 * Processes for fault tests: the API, the provisioner and a redis-server as real
 * child processes that a test can SIGKILL and start again, and a lookup of the
 * worker processes (and their trainer children) that belong to one key prefix.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export { freePort } from '../../services/platform/ports.ts';

/** A restartable child process; its output goes to a log file (appended across restarts). */
export class Proc {
  child?: ChildProcess;
  starts = 0;
  /** stdout of the current run */
  stdout = '';
  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: Record<string, string | undefined>,
    private readonly logFile: string,
  ) {}

  start(): void {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(this.command, this.args, { cwd: REPO_ROOT, env: this.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    this.stdout = '';
    child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      log.write(d);
    });
    child.stderr?.pipe(log);
    this.child = child;
    this.starts++;
  }

  /** The first match of `re` in this run's stdout (e.g. the URL a server prints once listening). */
  async waitFor(re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.stdout);
      if (m) return m;
      if (!this.alive) throw new Error(`${this.name} exited before printing ${re}; see ${this.logFile}`);
      if (Date.now() > end) throw new Error(`${this.name} did not print ${re} within ${timeoutMs} ms; see ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL (default) or SIGTERM, and wait for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 20_000): Promise<void> {
    const c = this.child;
    if (!c || !this.alive) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(t);
  }
}

/** node --import tsx <entry> */
export const tsxProc = (name: string, entry: string, env: Record<string, string | undefined>, logFile: string): Proc =>
  new Proc(name, process.execPath, ['--import', 'tsx', entry], env, logFile);

/** Pids of live processes running `pattern` whose environment holds NIGHTSHIFT_PREFIX=<prefix>. */
export function pidsOf(pattern: string, prefix: string): number[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  return out.trim().split('\n').map(Number).filter((pid) => {
    if (!(pid > 0)) return false;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/\) Z /.test(stat)) return false; // a zombie is not running
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`NIGHTSHIFT_PREFIX=${prefix}`);
    } catch {
      return false;
    }
  });
}

export const workerPids = (prefix: string): number[] => pidsOf('workers/trainer/main.ts', prefix);
export const trainerChildPids = (prefix: string): number[] => pidsOf('workers/trainer/runtime/child-main.ts', prefix);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
