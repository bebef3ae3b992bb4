/**
 * The worker's handle on its trainer child process: forks it lazily, runs one unit
 * at a time, and can ask it to stop at the next epoch boundary or kill it outright.
 * The child stays up between units (the backend loaded once). A child that dies after
 * it was ready (a crash, an out-of-memory kill, a kill for a cancellation or timeout)
 * is replaced at once in the background, so the next unit finds a warm one.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, RunUnitMessage } from './protocol.ts';
import type { UnitResult } from '../../../services/core/job.ts';
import type { ErrorInfo } from '../../../services/core/errors.ts';

const CHILD_ENTRY = fileURLToPath(new URL('./child-main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export type UnitOutcome =
  | { kind: 'done'; result: UnitResult }
  | { kind: 'interrupted'; epoch: number }
  | { kind: 'error'; error: ErrorInfo; retryable: boolean }
  | { kind: 'killed'; reason: string }
  | { kind: 'crashed'; code: number | null; signal: string | null };

export interface RunHandlers {
  onEpoch?(m: Extract<ChildMessage, { type: 'epoch' }>): void;
  onResumed?(epoch: number): void;
}

export class TrainerChild {
  private proc?: ChildProcess;
  private ready?: Promise<string>;
  private killReason?: string;
  private closed = false;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  private start(): Promise<string> {
    const proc = fork(CHILD_ENTRY, [], { execArgv: ['--import', TSX], env: this.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc = proc;
    this.ready = new Promise<string>((resolve, reject) => {
      const onMsg = (m: ChildMessage) => {
        if (m.type === 'ready') {
          proc.off('message', onMsg);
          resolve(m.backend);
        }
      };
      proc.on('message', onMsg);
      proc.once('exit', (code, signal) => reject(new Error(`trainer process exited during start (code ${code}, signal ${signal})`)));
    });
    const ready = this.ready;
    proc.once('exit', () => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.ready = undefined;
      // a child that had started is replaced now; one that failed to start is retried by the next run
      void ready.then(() => {
        if (!this.closed && !this.proc) this.start().catch(() => undefined);
      }, () => undefined);
    });
    return this.ready;
  }

  /** the running child's process id (undefined between a death and its replacement) */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async warm(): Promise<string> {
    this.closed = false;
    return this.ready ?? this.start();
  }

  async run(msg: RunUnitMessage, h: RunHandlers = {}): Promise<UnitOutcome> {
    await this.warm();
    const proc = this.proc!;
    this.killReason = undefined;
    return new Promise<UnitOutcome>((resolve) => {
      const cleanup = () => {
        proc.off('message', onMsg);
        proc.off('exit', onExit);
      };
      const onMsg = (m: ChildMessage) => {
        switch (m.type) {
          case 'epoch':
            h.onEpoch?.(m);
            break;
          case 'resumed':
            h.onResumed?.(m.epoch);
            break;
          case 'done':
            cleanup();
            resolve({ kind: 'done', result: m.result });
            break;
          case 'interrupted':
            cleanup();
            resolve({ kind: 'interrupted', epoch: m.epoch });
            break;
          case 'error':
            cleanup();
            resolve({ kind: 'error', error: m.error, retryable: m.retryable });
            break;
          default:
            break;
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        resolve(this.killReason ? { kind: 'killed', reason: this.killReason } : { kind: 'crashed', code, signal });
      };
      proc.on('message', onMsg);
      proc.on('exit', onExit);
      proc.send(msg);
    });
  }

  /** Ask the running unit to checkpoint at the next epoch boundary and stop. */
  requestStop(): void {
    this.proc?.send({ type: 'stop' });
  }

  /** Ask the running unit to save a checkpoint at the next epoch boundary and go on. */
  requestCheckpoint(): void {
    this.proc?.send({ type: 'checkpoint' });
  }

  /** Kill the child now (cancellation, timeout). The next run forks a new one. */
  kill(reason: string): void {
    if (!this.proc) return;
    this.killReason = reason;
    this.proc.kill('SIGKILL');
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.proc;
    if (!p) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.disconnect();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}
