import { describe, expect, it } from 'vitest';
import { groupCommit } from '../../services/core/group-commit.ts';

/** A writer whose writes finish only when the test says so. */
function gatedWriter(fail?: (items: number[]) => boolean) {
  const writes: number[][] = [];
  const gates: Array<() => void> = [];
  const write = (items: number[]) =>
    new Promise<void>((resolve, reject) => {
      writes.push(items);
      gates.push(() => (fail?.(items) ? reject(new Error(`write ${items.join(',')} failed`)) : resolve()));
    });
  const open = async () => {
    gates.shift()!();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { writes, write, open };
}

describe('groupCommit', () => {
  it('writes an item that finds the writer idle at once and alone', async () => {
    const w = gatedWriter();
    const commit = groupCommit(w.write);
    const p = commit(1);
    expect(w.writes).toEqual([[1]]);
    await w.open();
    await expect(p).resolves.toBeUndefined();
  });

  it('groups what arrives during a write into the next write, in arrival order, at most maxGroup each', async () => {
    const w = gatedWriter();
    const commit = groupCommit(w.write, 3);
    const done: number[] = [];
    const all = [1, 2, 3, 4, 5, 6].map((i) => commit(i).then(() => done.push(i)));
    expect(w.writes).toEqual([[1]]);
    await w.open();
    expect(done).toEqual([1]);
    expect(w.writes).toEqual([[1], [2, 3, 4]]);
    await w.open();
    expect(done).toEqual([1, 2, 3, 4]);
    expect(w.writes).toEqual([[1], [2, 3, 4], [5, 6]]);
    await w.open();
    await Promise.all(all);
    expect(done).toEqual([1, 2, 3, 4, 5, 6]);
    // idle again: the next item is written alone, at once
    void commit(7);
    expect(w.writes.at(-1)).toEqual([7]);
  });

  it('a failed write rejects its own group only; the next group is written', async () => {
    const w = gatedWriter((items) => items.includes(2));
    const commit = groupCommit(w.write);
    const r = [1, 2, 3].map((i) => commit(i).then(() => 'ok', (e: Error) => e.message));
    await w.open();
    await w.open();
    void commit(4).then(() => undefined);
    await w.open();
    expect(await Promise.all(r)).toEqual(['ok', 'write 2,3 failed', 'write 2,3 failed']);
    expect(w.writes).toEqual([[1], [2, 3], [4]]);
  });

  it('refuses a group size below 1', () => {
    expect(() => groupCommit(async () => undefined, 0)).toThrow(RangeError);
  });
});
