/**
 * Group commit: callers hand in items one at a time and wait for them to be written;
 * the items that arrive while a write is in flight are written together by the next
 * one. An item arriving at an idle writer is written at once, alone (no added wait);
 * under load one write carries many (at most `maxGroup`), so the number of writes
 * follows the writer's speed, not the callers' rate.
 *
 * A write that throws rejects every item of its group with that error; the next
 * group is written as usual.
 */
export function groupCommit<T>(write: (items: T[]) => Promise<void>, maxGroup = 100): (item: T) => Promise<void> {
  if (!(maxGroup >= 1)) throw new RangeError('maxGroup must be at least 1');
  const waiting: Array<{ item: T; resolve: () => void; reject: (e: unknown) => void }> = [];
  let writing = false;
  async function drain(): Promise<void> {
    writing = true;
    while (waiting.length) {
      const group = waiting.splice(0, maxGroup);
      try {
        await write(group.map((g) => g.item));
        for (const g of group) g.resolve();
      } catch (e) {
        for (const g of group) g.reject(e);
      }
    }
    writing = false;
  }
  return (item: T) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (!writing) void drain();
    });
}

/**
 * Splits items, in order, into consecutive runs whose sizes add up to at most `max`
 * each; an item larger than `max` goes alone. Used to keep each Redis transaction small
 * enough that others are not kept waiting behind it.
 */
export function commitChunks<T>(items: T[], sizeOf: (item: T) => number, max: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let size = 0;
  for (const item of items) {
    const n = sizeOf(item);
    if (cur.length && size + n > max) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(item);
    size += n;
  }
  if (cur.length) out.push(cur);
  return out;
}
