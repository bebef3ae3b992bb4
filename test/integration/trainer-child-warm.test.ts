/**
 * The trainer child stays warm: one process serves unit after unit, and one that dies
 * (killed, as for a cancellation, or crashed) is replaced in the background before
 * the next unit asks for it. Real child processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TrainerChild } from '../../workers/trainer/runtime/trainer-child.ts';

const children: TrainerChild[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.close();
});

const until = async (f: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('TrainerChild', () => {
  it('is replaced at once after it dies, without waiting for the next unit', { timeout: 60_000 }, async () => {
    const child = new TrainerChild({ ...process.env, NIGHTSHIFT_TF_BACKEND: 'cpu', LOG_LEVEL: 'silent' });
    children.push(child);
    await child.warm();
    const first = child.pid!;
    expect(first).toBeGreaterThan(0);
    // warm again: the same process
    await child.warm();
    expect(child.pid).toBe(first);

    child.kill('job cancelled');
    await until(() => child.pid !== undefined && child.pid !== first, 30_000, 'a new trainer process');
    expect(alive(first)).toBe(false);
    const second = child.pid!;
    // ready without the caller starting it: warm() answers from the replacement
    await child.warm();
    expect(child.pid).toBe(second);

    // closed: nothing is started again
    await child.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(child.pid).toBeUndefined();
    expect(alive(second)).toBe(false);
  });
});
