import { describe, expect, it } from 'vitest';
import { plan, type ObservedInstance, type PlanInput } from '../../services/provisioner/planner.ts';
import { afterFailure, failureReason, holdsOf, type ClassFailures } from '../../services/provisioner/holds.ts';
import { launchTypes } from '../../services/provisioner/providers/ec2.ts';

const NOW = 1_000_000;
const limits = { maxInstances: 4, idleTimeoutMs: 5_000, bootTimeoutMs: 600_000, staleAfterMs: 30_000 };
const booting = (id: string, ageMs: number, o: Partial<ObservedInstance> = {}): ObservedInstance => ({ id, resourceClass: 'gpu', state: 'pending', launchedAt: NOW - ageMs, known: true, slots: 1, ...o });
const up = (id: string, hb: Partial<NonNullable<ObservedInstance['heartbeat']>> = {}, o: Partial<ObservedInstance> = {}): ObservedInstance => ({
  ...booting(id, 60_000, { state: 'running', ...o }), heartbeat: { at: NOW - 100, activeUnits: 0, lastBusyAt: NOW - 100, ...hb },
});
const input = (o: Partial<PlanInput>): PlanInput => ({ now: NOW, demand: {}, instances: [], limits, hourlyUsd: { gpu: 3.06 }, ...o });
const terms = (p: ReturnType<typeof plan>) => p.actions.flatMap((a) => (a.kind === 'terminate' ? [[a.id, a.reason]] : []));
const launches = (p: ReturnType<typeof plan>) => p.actions.flatMap((a) => (a.kind === 'launch' ? [[a.resourceClass, a.count]] : []));

describe('rule 7: unneeded booting instances', () => {
  it.each([
    ['demand gone for the idle timeout: all booting ones end', {}, [booting('a', 20_000), booting('b', 20_000)], { gpu: NOW - 5_000 }, [['a', 'unneeded'], ['b', 'unneeded']]],
    ['demand gone for less than the idle timeout: kept', {}, [booting('a', 20_000)], { gpu: NOW - 4_999 }, []],
    ['never had demand on record: measured from launch', {}, [booting('a', 5_000)], {}, [['a', 'unneeded']]],
    ['launched just now: kept', {}, [booting('a', 1_000)], {}, []],
    ['1 unit still pending of 3 booting: all kept (a slow boot is not replaced in a loop)', { gpu: { pending: 1, running: 0 } }, [booting('a', 30_000), booting('b', 20_000), booting('c', 10_000)], { gpu: NOW }, []],
    ['a running unit of the class keeps a booting instance', { gpu: { pending: 0, running: 1 } }, [up('w', { activeUnits: 1 }), booting('a', 10_000)], { gpu: NOW }, []],
    ['demand covers every booting instance: none ends', { gpu: { pending: 3, running: 0 } }, [booting('a', 30_000), booting('b', 30_000), booting('c', 30_000)], { gpu: NOW }, []],
    ['other class demand does not keep it', { cpu: { pending: 2, running: 0 } }, [booting('a', 30_000)], { gpu: NOW - 10_000, cpu: NOW }, [['a', 'unneeded']]],
    ['an unknown (orphan) instance is rule 1, not this one', {}, [booting('o', 30_000, { known: false })], {}, [['o', 'orphan']]],
  ] as const)('%s', (_n, demand, instances, lastDemandAt, expected) => {
    const p = plan(input({ demand: demand as PlanInput['demand'], instances: [...instances], lastDemandAt: { ...lastDemandAt } }));
    expect(terms(p)).toEqual(expected);
  });

  it('a booting instance is counted while it lives, so nothing launches beside it', () => {
    const p = plan(input({ demand: { gpu: { pending: 1, running: 0 } }, instances: [booting('a', 30_000)], lastDemandAt: { gpu: NOW } }));
    expect(terms(p)).toEqual([]);
    expect(launches(p)).toEqual([]);
  });
});

describe('rule 8: maximum instance lifetime', () => {
  it.each([
    ['older than the maximum: ends even while busy', [up('a', { activeUnits: 1 }, { launchedAt: NOW - 3_600_001 })], [['a', 'max-lifetime']]],
    ['younger: kept', [up('a', { activeUnits: 1 }, { launchedAt: NOW - 3_599_000 })], []],
    ['a booting instance past the maximum ends too', [booting('a', 3_700_000)], [['a', 'max-lifetime']]],
  ] as const)('%s', (_n, instances, expected) => {
    const p = plan(input({ demand: { gpu: { pending: 0, running: 1 } }, instances: [...instances], limits: { ...limits, maxLifetimeMs: 3_600_000 } }));
    expect(terms(p)).toEqual(expected);
  });
});

describe('rule 9: hung units', () => {
  it.each([
    ['busy, no progress for the limit: hung', { activeUnits: 1, lastProgressAt: NOW - 60_000 }, [['a', 'hung']]],
    ['busy, progress recently: fine', { activeUnits: 1, lastProgressAt: NOW - 59_000 }, []],
    ['idle with old progress: not hung (idle rule instead)', { activeUnits: 0, lastProgressAt: NOW - 600_000, lastBusyAt: NOW - 1_000 }, []],
    ['busy, no progress on record: not judged', { activeUnits: 1 }, []],
  ] as const)('%s', (_n, hb, expected) => {
    const p = plan(input({ demand: { gpu: { pending: 0, running: 1 } }, instances: [up('a', hb)], limits: { ...limits, hungAfterMs: 60_000 } }));
    expect(terms(p)).toEqual(expected);
  });
});

describe('rule 10: launch holds', () => {
  it.each([
    ['backoff in the future: no launch', { gpu: { notBefore: NOW + 1 } }, [], 'backoff'],
    ['backoff over: launches', { gpu: { notBefore: NOW } }, [['gpu', 2]], undefined],
    ['blocked until a probe time in the future', { gpu: { notBefore: NOW + 1, blocked: { reason: 'quota', message: 'q' } } }, [], 'blocked'],
    ['blocked, probe time reached: one more try', { gpu: { notBefore: NOW - 1, blocked: { reason: 'quota', message: 'q' } } }, [['gpu', 2]], undefined],
    ['blocked without a probe time: never', { gpu: { blocked: { reason: 'no_image', message: 'm' } } }, [], 'blocked'],
    ['another class held: this one launches', { cpu: { notBefore: NOW + 10_000 } }, [['gpu', 2]], undefined],
  ] as const)('%s', (_n, holds, expected, heldReason) => {
    const p = plan(input({ demand: { gpu: { pending: 2, running: 0 } }, holds: holds as PlanInput['holds'] }));
    expect(launches(p)).toEqual(expected);
    expect(p.held.find((h) => h.resourceClass === 'gpu')?.reason).toBe(heldReason);
  });
});

describe('per-class backoff and blocking', () => {
  const policy = { baseMs: 1_000, capMs: 60_000, blockAfter: 3 };
  const capacity = { kind: 'capacity' as const, codes: ['InsufficientInstanceCapacity'], message: 'no capacity' };
  it('doubles the wait per failure and blocks after N', () => {
    let s: ClassFailures | undefined;
    const seen: Array<[number, boolean]> = [];
    for (let i = 0; i < 3; i++) {
      s = afterFailure(s, capacity, NOW, policy);
      seen.push([s.notBefore - NOW, s.blocked]);
    }
    expect(seen).toEqual([[1_000, false], [2_000, false], [60_000, true]]);
    expect(s!.message).toMatch(/^blocked after 3 failed launches: no capacity/);
  });
  it('the wait is capped', () => {
    let s: ClassFailures | undefined;
    for (let i = 0; i < 10; i++) s = afterFailure(s, capacity, NOW, { ...policy, blockAfter: 100 });
    expect(s!.notBefore - NOW).toBe(60_000);
  });
  it.each([
    ['quota blocks at once', { kind: 'quota', codes: ['VcpuLimitExceeded'], message: 'quota reached' }, 'quota', true],
    ['no image blocks at once', { kind: 'fatal', codes: [], message: 'no AMI: set NIGHTSHIFT_EC2_AMI_ID' }, 'no_image', true],
    ['a bad AMI id blocks at once', { kind: 'fatal', codes: ['InvalidAMIID.NotFound'], message: 'x' }, 'no_image', true],
    ['permissions block at once', { kind: 'fatal', codes: ['UnauthorizedOperation'], message: 'x' }, 'permissions', true],
    ['capacity backs off first', capacity, 'capacity', false],
    ['another fatal error backs off first', { kind: 'fatal', codes: ['InvalidParameterValue'], message: 'x' }, 'launch_error', false],
  ] as const)('%s', (_n, f, reason, blocked) => {
    const s = afterFailure(undefined, { ...f, codes: [...f.codes] }, NOW, policy);
    expect([s.reason, s.blocked]).toEqual([reason, blocked]);
    expect(failureReason(f.kind, [...f.codes], f.message)).toBe(reason);
  });
  it('holds for the planner carry the block reason', () => {
    const s = afterFailure(undefined, { kind: 'quota', codes: ['VcpuLimitExceeded'], message: 'vCPU quota' }, NOW, policy);
    expect(holdsOf(new Map([['gpu', s]]))).toEqual({ gpu: { notBefore: NOW + 60_000, blocked: { reason: 'quota', message: s.message } } });
  });
});

describe('larger fallback types', () => {
  it.each([
    ['a 4-GPU fallback of a 1-GPU first type is skipped', ['p3.2xlarge', 'p3.8xlarge'], undefined, ['p3.2xlarge'], ['p3.8xlarge']],
    ['same-size fallbacks are kept', ['p3.2xlarge', 'g5.xlarge', 'g4dn.xlarge'], undefined, ['p3.2xlarge', 'g5.xlarge', 'g4dn.xlarge'], []],
    ['a job that names the larger type gets it', ['p3.2xlarge'], ['p3.2xlarge', 'p3.8xlarge'], ['p3.2xlarge', 'p3.8xlarge'], []],
    ['a larger first type is the operator\'s choice', ['p3.8xlarge', 'p3.16xlarge', 'p3.2xlarge'], undefined, ['p3.8xlarge', 'p3.2xlarge'], ['p3.16xlarge']],
  ] as const)('%s', (_n, configured, job, types, skipped) => {
    expect(launchTypes([...configured], job ? [...job] : undefined)).toEqual({ types, skipped });
  });
});
