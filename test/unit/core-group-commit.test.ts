import { describe, expect, it } from 'vitest';
import { commitChunks, groupCommit } from '../../services/core/group-commit.ts';

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

describe('commitChunks', () => {
  const size = (n: number) => n;
  it.each([
    { items: [], max: 10, want: [] },
    { items: [4], max: 10, want: [[4]] },
    { items: [4, 4, 4], max: 10, want: [[4, 4], [4]] },
    { items: [5, 5, 5, 5], max: 10, want: [[5, 5], [5, 5]] },
    { items: [11, 1, 1], max: 10, want: [[11], [1, 1]] }, // larger than max: alone
    { items: [1, 11, 1], max: 10, want: [[1], [11], [1]] },
    { items: [3, 3, 3, 3], max: 3, want: [[3], [3], [3], [3]] },
  ])('$items within $max -> $want', ({ items, max, want }) => {
    const got = commitChunks(items, size, max);
    expect(got).toEqual(want);
    expect(got.flat()).toEqual(items); // nothing lost, reordered or repeated
  });
  it('a batch of 1,000 ten-unit jobs goes in transactions of at most 100 BullMQ jobs, 9 jobs each', () => {
    const jobs = Array.from({ length: 1000 }, (_, i) => ({ id: i, units: new Array(10) }));
    const got = commitChunks(jobs, (j) => j.units.length + 1, 100);
    expect(got).toHaveLength(112);
    expect(got.every((c) => c.reduce((n, j) => n + j.units.length + 1, 0) <= 100)).toBe(true);
    expect(got.flat().map((j) => j.id)).toEqual(jobs.map((j) => j.id));
  });
});
