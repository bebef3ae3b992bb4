import { describe, expect, it } from 'vitest';
import { plan, type ObservedInstance, type PlanInput } from '../../services/provisioner/planner.ts';

const NOW = 1_000_000;
const limits = { maxInstances: 4, idleTimeoutMs: 3_000, bootTimeoutMs: 10_000, staleAfterMs: 20_000 };

function inst(id: string, o: Partial<ObservedInstance> & { hb?: Partial<NonNullable<ObservedInstance['heartbeat']>> | null } = {}): ObservedInstance {
  const { hb, ...rest } = o;
  return {
    id,
    resourceClass: 'gpu',
    state: 'running',
    launchedAt: NOW - 60_000,
    known: true,
    slots: 1,
    ...(hb === null ? {} : { heartbeat: { at: NOW - 500, activeUnits: 0, lastBusyAt: NOW - 500, ...(hb ?? {}) } }),
    ...rest,
  };
}

function input(o: Partial<PlanInput>): PlanInput {
  return { now: NOW, demand: {}, instances: [], limits, hourlyUsd: { gpu: 3.06, cpu: 0.1 }, ...o };
}

const launches = (p: ReturnType<typeof plan>) => p.actions.filter((a) => a.kind === 'launch').map((a) => a.kind === 'launch' && [a.resourceClass, a.count]);
const terms = (p: ReturnType<typeof plan>) => p.actions.filter((a) => a.kind === 'terminate').map((a) => a.kind === 'terminate' && [a.id, a.reason]);

describe('planner: scale up', () => {
  it.each([
    // [case, demand, instances, slotsPerInstance, expected launches]
    ['nothing pending, nothing running', {}, [], undefined, []],
    ['3 pending, no instance', { gpu: { pending: 3, running: 0 } }, [], undefined, [['gpu', 3]]],
    ['3 pending, 1 busy instance', { gpu: { pending: 3, running: 1 } }, [inst('a', { hb: { activeUnits: 1 } })], undefined, [['gpu', 3]]],
    ['1 pending, 1 idle instance covers it', { gpu: { pending: 1, running: 0 } }, [inst('a')], undefined, []],
    ['booting instance counts as capacity', { gpu: { pending: 1, running: 0 } }, [inst('a', { state: 'pending', hb: null, launchedAt: NOW - 1_000 })], undefined, []],
    ['slots per instance: 5 pending / 2 slots -> 3', { gpu: { pending: 5, running: 0 } }, [], { gpu: 2 }, [['gpu', 3]]],
    ['instances with more slots cover more', { gpu: { pending: 3, running: 0 } }, [inst('a', { slots: 4 })], undefined, []],
    ['other class capacity does not count', { cpu: { pending: 1, running: 0 } }, [inst('a')], undefined, [['cpu', 1]]],
    ['two classes, larger backlog first', { cpu: { pending: 1, running: 0 }, gpu: { pending: 2, running: 0 } }, [], undefined, [['gpu', 2], ['cpu', 1]]],
  ] as const)('%s', (_name, demand, instances, slots, expected) => {
    const p = plan(input({ demand: demand as PlanInput['demand'], instances: [...instances], limits: { ...limits, ...(slots ? { slotsPerInstance: slots } : {}) } }));
    expect(launches(p)).toEqual(expected);
  });

  it.each([
    ['cap of 4 with 20 pending', 4, [], [['gpu', 4]], 16],
    ['cap counts existing instances', 4, [inst('a', { hb: { activeUnits: 1 } }), inst('b', { hb: { activeUnits: 1 } }), inst('c', { hb: { activeUnits: 1 } })], [['gpu', 1]], 16],
    ['at the cap: no launch', 2, [inst('a', { hb: { activeUnits: 1 } }), inst('b', { hb: { activeUnits: 1 } })], [], 18],
    ['cap 0: never launch', 0, [], [], 20],
  ] as const)('never above maxInstances: %s', (_n, max, instances, expected, heldCount) => {
    const running = instances.length;
    const p = plan(input({ demand: { gpu: { pending: 20 - running, running } }, instances: [...instances], limits: { ...limits, maxInstances: max } }));
    expect(launches(p)).toEqual(expected);
    expect(p.held.find((h) => h.reason === 'cap')?.wanted ?? 0).toBe(heldCount);
  });

  it('the cap is shared across classes', () => {
    const p = plan(input({ demand: { gpu: { pending: 3, running: 0 }, cpu: { pending: 2, running: 0 } }, limits: { ...limits, maxInstances: 4 } }));
    expect(launches(p)).toEqual([['gpu', 3], ['cpu', 1]]);
  });

  it.each([
    ['no budget left', 0, []],
    ['negative budget', -1, []],
    ['budget for 2 one-minute reservations of 3.06/h', (3.06 / 60) * 2 + 1e-6, [['gpu', 2]]],
    ['plenty of budget', 100, [['gpu', 3]]],
    ['no budget limit', undefined, [['gpu', 3]]],
  ] as const)('no launch without budget: %s', (_n, budget, expected) => {
    const p = plan(input({ demand: { gpu: { pending: 3, running: 0 } }, ...(budget === undefined ? {} : { budgetLeftUsd: budget }) }));
    expect(launches(p)).toEqual(expected);
    if (expected.length === 0) expect(p.held).toContainEqual({ resourceClass: 'gpu', wanted: 3, reason: 'budget' });
  });

  it('budget is spent across classes in order', () => {
    const p = plan(input({ demand: { gpu: { pending: 2, running: 0 }, cpu: { pending: 1, running: 0 } }, budgetLeftUsd: (3.06 / 60) * 2 + 0.0001 }));
    expect(launches(p)).toEqual([['gpu', 2]]);
  });

  it('an exhausted budget holds even free launches', () => {
    const p = plan(input({ demand: { cpu: { pending: 1, running: 0 } }, hourlyUsd: { cpu: 0 }, budgetLeftUsd: 0 }));
    expect(launches(p)).toEqual([]);
  });
});

describe('planner: scale down and repair', () => {
  it.each([
    ['idle >= timeout, nothing pending', {}, inst('a', { hb: { lastBusyAt: NOW - 3_000 } }), [['a', 'idle']]],
    ['idle < timeout', {}, inst('a', { hb: { lastBusyAt: NOW - 2_999 } }), []],
    ['idle but work pending for its class', { gpu: { pending: 1, running: 0 } }, inst('a', { hb: { lastBusyAt: NOW - 9_000 } }), []],
    ['idle, work pending for another class only', { cpu: { pending: 1, running: 0 } }, inst('a', { hb: { lastBusyAt: NOW - 9_000 } }), [['a', 'idle']]],
    ['holds a unit: never terminated for idleness', {}, inst('a', { hb: { activeUnits: 1, lastBusyAt: NOW - 99_000 } }), []],
    ['no heartbeat within the boot timeout', {}, inst('a', { hb: null, launchedAt: NOW - 10_000 }), [['a', 'boot-timeout']]],
    ['still booting, a unit waits for it', { gpu: { pending: 1, running: 0 } }, inst('a', { hb: null, launchedAt: NOW - 9_999 }), []],
    ['orphan: unknown and silent', {}, inst('a', { hb: null, known: false, launchedAt: NOW - 1 }), [['a', 'orphan']]],
    ['unknown but heartbeating: adopted, not an orphan', {}, inst('a', { known: false, hb: { activeUnits: 1 } }), []],
    ['heartbeat stale: lost', {}, inst('a', { hb: { at: NOW - 20_000, activeUnits: 1 } }), [['a', 'lost']]],
    ['already claimed for termination: nothing more', {}, inst('a', { hb: { drainingAt: NOW - 100, lastBusyAt: NOW - 9_000 } }), []],
    ['shutting-down is ignored', {}, inst('a', { state: 'shutting-down', hb: null, known: false }), []],
    ['terminated is ignored', {}, inst('a', { state: 'terminated', hb: null, launchedAt: NOW - 99_000 }), []],
    ['stopped (should not happen with shutdown=terminate) is terminated', {}, inst('a', { state: 'stopped' }), [['a', 'stopped']]],
  ] as const)('%s', (_n, demand, i, expected) => {
    expect(terms(plan(input({ demand: demand as PlanInput['demand'], instances: [i] })))).toEqual(expected);
  });

  it('only idle-for-its-class instances get the non-forced claim; repairs are forced when the worker is gone', () => {
    const p = plan(input({ instances: [inst('idle', { hb: { lastBusyAt: NOW - 5_000 } }), inst('lost', { hb: { at: NOW - 30_000 } })] }));
    expect(p.actions).toEqual([
      { kind: 'terminate', id: 'idle', resourceClass: 'gpu', reason: 'idle', force: false },
      { kind: 'terminate', id: 'lost', resourceClass: 'gpu', reason: 'lost', force: true },
    ]);
  });

  it('an instance that never booted is replaced in the same plan', () => {
    const p = plan(input({ demand: { gpu: { pending: 1, running: 0 } }, instances: [inst('a', { hb: null, launchedAt: NOW - 11_000 })] }));
    expect(terms(p)).toEqual([['a', 'boot-timeout']]);
    expect(launches(p)).toEqual([['gpu', 1]]);
  });

  it('terminations free room under the cap', () => {
    const p = plan(input({ demand: { gpu: { pending: 1, running: 0 } }, limits: { ...limits, maxInstances: 1 }, instances: [inst('o', { hb: null, known: false })] }));
    expect(terms(p)).toEqual([['o', 'orphan']]);
    expect(launches(p)).toEqual([['gpu', 1]]);
  });

  it('a draining instance is not counted as capacity', () => {
    const p = plan(input({ demand: { gpu: { pending: 1, running: 0 } }, instances: [inst('a', { hb: { drainingAt: NOW - 10 } })] }));
    expect(launches(p)).toEqual([['gpu', 1]]);
  });

  it('a drained fleet: everything idle goes, nothing launches', () => {
    const p = plan(input({ instances: ['a', 'b', 'c'].map((id) => inst(id, { hb: { lastBusyAt: NOW - 4_000 } })) }));
    expect(terms(p).map((t) => t && t[0])).toEqual(['a', 'b', 'c']);
    expect(launches(p)).toEqual([]);
  });
});
