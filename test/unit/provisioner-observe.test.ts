/** The reconcile pass's steps alone: observe's sorting, the plan's input, act's termination list (pure). */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/core/config.ts';
import { terminationsOf } from '../../services/provisioner/act.ts';
import type { InstanceRecord, LaunchRecord, WorkerHeartbeat } from '../../services/platform/fleet.ts';
import { sortOut } from '../../services/provisioner/observe.ts';
import { planInputOf } from '../../services/provisioner/plan-input.ts';
import { plan, type ObservedInstance } from '../../services/provisioner/planner.ts';
import type { ProviderInstance } from '../../services/provisioner/provider.ts';

const T = 1_000_000;
const rec = (id: string, launchedAt = T - 10_000): InstanceRecord => ({ id, provider: 'ec2', resourceClass: 'gpu', type: 'g5.xlarge', market: 'on-demand', hourlyUsd: 1, launchedAt });
const inst = (id: string, state: ProviderInstance['state'], o: Partial<ProviderInstance> = {}): ProviderInstance => ({ id, state, type: 'g5.xlarge', market: 'on-demand', launchedAt: T - 10_000, ...o });
const hb = (id: string): WorkerHeartbeat => ({ instanceId: id, workerId: 'w', activeUnits: 0, lastBusyAt: T, heartbeatAt: T, startedAt: T });
const launchRec = (launchId: string): LaunchRecord => ({ launchId, resourceClass: 'cpu', count: 1, createdAt: T, status: 'launched' });

describe('observe: records against what the cloud lists', () => {
  it.each([
    ['a recorded running instance is known', [rec('a')], [inst('a', 'running')], [], [], { known: [['a', 'running']], retire: [], adopt: [], orphans: [] }],
    ['a terminated one retires with the time the cloud says it ended', [rec('a')], [inst('a', 'terminated', { endedAt: T - 5 })], [], [], { known: [], retire: [['a', 'terminated', T - 5]], adopt: [], orphans: [] }],
    ['shutting-down retires too', [rec('a')], [inst('a', 'shutting-down')], [], [], { known: [], retire: [['a', 'shutting-down', undefined]], adopt: [], orphans: [] }],
    ['not listed yet, within the boot timeout: pending', [rec('a', T - 1_000)], [], [], [], { known: [['a', 'pending']], retire: [], adopt: [], orphans: [] }],
    ['not listed past the boot timeout: vanished', [rec('a', T - 120_000)], [], [], [], { known: [], retire: [['a', 'vanished', undefined]], adopt: [], orphans: [] }],
    ['unrecorded, our launch id: adopted with the launch\'s class', [], [inst('b', 'running', { launchId: 'L1' })], [launchRec('L1')], [], { known: [], retire: [], adopt: [['b', 'cpu', true]], orphans: [] }],
    ['unrecorded, a heartbeat vouches: adopted as a stranger', [], [inst('b', 'pending', { resourceClass: 'gpu' })], [], ['b'], { known: [], retire: [], adopt: [['b', 'gpu', false]], orphans: [] }],
    ['unrecorded and nothing vouches: orphan', [], [inst('c', 'running')], [], [], { known: [], retire: [], adopt: [], orphans: [['c', 'any']] }],
    ['unrecorded and already ending: ignored', [], [inst('c', 'terminated')], [], [], { known: [], retire: [], adopt: [], orphans: [] }],
  ] as const)('%s', (_n, records, described, launches, hbs, expected) => {
    const s = sortOut(new Map(records.map((r) => [r.id, r])), [...described], new Map(launches.map((l) => [l.launchId, l])), new Map(hbs.map((id) => [id, hb(id)])), T, 60_000);
    expect({
      known: s.known.map((k) => [k.record.id, k.state]),
      retire: s.retire.map((r) => [r.record.id, r.reason, r.endedAt]),
      adopt: s.adopt.map((a) => [a.instance.id, a.resourceClass, a.known]),
      orphans: s.orphans.map((o) => [o.instance.id, o.resourceClass]),
    }).toEqual(expected);
  });
});

describe('act: what is terminated', () => {
  const o = (id: string, heartbeat?: ObservedInstance['heartbeat']): ObservedInstance => ({ id, resourceClass: 'gpu', state: 'running', launchedAt: 0, known: true, slots: 1, ...(heartbeat ? { heartbeat } : {}) });
  it.each([
    ['claimed terminations', [{ id: 'a', reason: 'idle' }], [o('a'), o('b')], [['a', 'idle']]],
    ['claimed earlier and now empty: drained', [], [o('a', { at: T, activeUnits: 0, lastBusyAt: 0, drainingAt: T - 1_000 })], [['a', 'drained']]],
    ['claimed earlier, a unit slipped in less than a minute ago: kept', [], [o('a', { at: T, activeUnits: 1, lastBusyAt: 0, drainingAt: T - 30_000 })], []],
    ['claimed earlier, a unit still there after a minute: ended', [], [o('a', { at: T, activeUnits: 1, lastBusyAt: 0, drainingAt: T - 61_000 })], [['a', 'drained']]],
    ['claimed now and earlier: listed once', [{ id: 'a', reason: 'idle' }], [o('a', { at: T, activeUnits: 0, lastBusyAt: 0, drainingAt: T - 1_000 })], [['a', 'idle']]],
  ] as const)('%s', (_n, claimed, observed, expected) => {
    expect(terminationsOf([...claimed], [...observed], T).map((x) => [x.id, x.reason])).toEqual(expected);
  });
});

describe('plan: the input from the configuration and what was observed', () => {
  it('carries the limits, budget, holds and minimum bill; the planner acts on it', () => {
    const config = loadConfig({ NIGHTSHIFT_COMPUTE: 'ec2', NIGHTSHIFT_MAX_INSTANCES: '3', NIGHTSHIFT_IDLE_TIMEOUT_S: '5', NIGHTSHIFT_BOOT_TIMEOUT_S: '60', NIGHTSHIFT_MAX_INSTANCE_HOURS: '2' });
    const input = planInputOf(config, {
      now: T, demand: { gpu: { pending: 5, running: 0 } }, observed: [], hourlyUsd: { gpu: 3.6 }, slots: { gpu: 1 },
      budgetLeftUsd: 0.15, holds: {}, lastDemandAt: { gpu: T }, staleAfterMs: 30_000, reserveS: 60,
    });
    expect(input.limits).toMatchObject({ maxInstances: 3, idleTimeoutMs: 5_000, bootTimeoutMs: 60_000, staleAfterMs: 30_000, maxLifetimeMs: 7_200_000, slotsPerInstance: { gpu: 1 } });
    // 0.15 USD pays for 2 launches of 60 s at 3.60 USD/h (0.06 each), under the cap of 3
    expect(plan(input).actions).toEqual([expect.objectContaining({ kind: 'launch', resourceClass: 'gpu', count: 2 })]);
  });
});
