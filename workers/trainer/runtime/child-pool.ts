/**
 * Trainer children for a worker that runs several units at once (CPU instances run
 * one unit per core): each unit takes a free child and gives it back when done. The
 * queue worker's concurrency equals the pool size, so a free child is always there.
 */
import { TrainerChild } from './trainer-child.ts';

export class ChildPool {
  private readonly free: TrainerChild[];
  readonly all: TrainerChild[];

  constructor(size: number, make: () => TrainerChild = () => new TrainerChild()) {
    this.all = Array.from({ length: Math.max(1, size) }, make);
    this.free = [...this.all];
  }

  get size(): number {
    return this.all.length;
  }

  take(): TrainerChild {
    const c = this.free.pop();
    if (!c) throw new Error('no free trainer process: the queue worker ran more units than the pool has children');
    return c;
  }

  give(c: TrainerChild): void {
    if (this.all.includes(c) && !this.free.includes(c)) this.free.push(c);
  }

  /** starts every child; resolves with the backend the first one selected */
  async warm(): Promise<string> {
    const names = await Promise.all(this.all.map((c) => c.warm()));
    return names[0];
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((c) => c.close()));
  }
}
