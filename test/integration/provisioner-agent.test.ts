/** The worker agent against real Redis and a metadata endpoint on loopback. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectRedis, type Redis } from '../../services/platform/redis.ts';
import { fleetKeys, parseHeartbeat } from '../../services/platform/fleet.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import { startAgent, type WorkerAgent } from '../../workers/trainer/agent/index.ts';
import { startImdsServer, waitFor } from '../../support/cloud-sim.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

async function env(o: { idleTimeoutS?: number; imds?: boolean; instanceId?: string } = {}) {
  const prefix = uniquePrefix('agent');
  const redis: Redis = connectRedis(TEST_REDIS_URL, { forBullWorker: true });
  const dir = mkdtempSync(path.join(tmpdir(), 'ns-agent-'));
  const marker = path.join(dir, 'shutdown');
  const imds = o.imds ? await startImdsServer({ instanceId: 'i-0123456789abcdef0' }) : undefined;
  const agent: WorkerAgent = await startAgent({
    redis, prefix, workerId: 'w1', idleTimeoutS: o.idleTimeoutS ?? 1, imdsEndpoint: imds?.endpoint ?? 'off',
    shutdownCommand: `touch '${marker}'`, spotPollMs: 100, heartbeatMs: 100,
    ...(o.instanceId ? { instanceId: o.instanceId } : {}),
  });
  cleanups.push(async () => {
    await agent.stop();
    await imds?.close();
    redis.disconnect();
    await cleanupPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });
  const hb = async () => parseHeartbeat(await redis.hgetall(fleetKeys(prefix).worker(agent.instanceId)));
  return { prefix, redis, agent, imds, marker, hb, store: createFleetStore(redis, prefix) };
}

describe('worker agent', () => {
  it('takes its instance id from IMDSv2, heartbeats, and moves lastBusyAt with its units', async () => {
    const e = await env({ imds: true, idleTimeoutS: 30 });
    expect(e.agent.instanceId).toBe('i-0123456789abcdef0');
    const first = await e.hb();
    expect(first).toMatchObject({ instanceId: 'i-0123456789abcdef0', workerId: 'w1', activeUnits: 0 });
    e.agent.setActiveUnits(1);
    await waitFor(async () => (await e.hb())?.activeUnits === 1, 2_000, 'activeUnits 1');
    await new Promise((r) => setTimeout(r, 150));
    e.agent.setActiveUnits(0);
    await waitFor(async () => (await e.hb())?.activeUnits === 0, 2_000, 'activeUnits 0');
    const h = (await e.hb())!;
    expect(h.lastBusyAt).toBeGreaterThan(first!.lastBusyAt + 100);
    expect(h.heartbeatAt).toBeGreaterThanOrEqual(h.lastBusyAt);
  });

  it('without IMDS the id is local-<host>-<pid>', async () => {
    const e = await env({ imds: false, idleTimeoutS: 30 });
    expect(e.agent.instanceId).toMatch(new RegExp(`^local-.+-${process.pid}$`));
  });

  it('a spot instance-action notice fires onInterruption once', async () => {
    const e = await env({ imds: true, idleTimeoutS: 30 });
    const got: Array<{ action: string; time?: string }> = [];
    e.agent.onInterruption((n) => got.push(n));
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([]); // 404 = no notice
    e.imds!.setSpotNotice({ action: 'terminate', time: '2026-11-27T03:00:00Z' });
    await waitFor(() => got.length > 0, 2_000, 'notice');
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([{ action: 'terminate', time: '2026-11-27T03:00:00Z' }]);
  });

  it('a rebalance recommendation fires onRebalance once and is not an interruption', async () => {
    const e = await env({ imds: true, idleTimeoutS: 30 });
    const rebalances: Array<{ noticeTime?: string }> = [];
    const interruptions: unknown[] = [];
    e.agent.onRebalance((n) => rebalances.push(n));
    e.agent.onInterruption((n) => interruptions.push(n));
    await new Promise((r) => setTimeout(r, 300));
    expect(rebalances).toEqual([]); // 404 = no recommendation
    e.imds!.setRebalance({ noticeTime: '2026-11-27T02:58:00Z' });
    await waitFor(() => rebalances.length > 0, 2_000, 'rebalance recommendation');
    await new Promise((r) => setTimeout(r, 300));
    expect(rebalances).toEqual([{ noticeTime: '2026-11-27T02:58:00Z' }]);
    expect(interruptions).toEqual([]);
  });

  it('a GPU failure report lands where the provisioner reads it', async () => {
    const e = await env({ instanceId: 'i-gpu', idleTimeoutS: 30 });
    await e.agent.reportGpuFailure('tf_no_gpu: TensorFlow registered no GPU device');
    expect(await e.store.gpuFailures()).toEqual([{ instanceId: 'i-gpu', reason: 'tf_no_gpu: TensorFlow registered no GPU device', at: expect.any(Number) }]);
  });

  it('the provisioner claim: refused while a unit is held; once claimed, the agent drains', async () => {
    const e = await env({ instanceId: 'i-claim', idleTimeoutS: 30 });
    const got: string[] = [];
    e.agent.onInterruption((n) => got.push(n.action));
    e.agent.setActiveUnits(1);
    await waitFor(async () => (await e.hb())?.activeUnits === 1, 2_000, 'busy');
    expect(await e.store.claim('i-claim', Date.now(), false)).toBe(false);
    e.agent.setActiveUnits(0);
    await waitFor(async () => (await e.hb())?.activeUnits === 0, 2_000, 'idle');
    expect(await e.store.claim('i-claim', Date.now(), false)).toBe(true);
    await waitFor(() => got.length > 0, 2_000, 'drain notice');
    expect(got).toEqual(['drain']);
  });

  it('dead-man switch: no unit and no provisioner for 2 x idle -> shutdown command; a live provisioner holds it off', async () => {
    const held = await env({ instanceId: 'i-held', idleTimeoutS: 1 });
    const beat = setInterval(() => void held.store.beat('prov-test', 1_000), 200);
    await held.store.beat('prov-test', 1_000);
    const lone = await env({ instanceId: 'i-lone', idleTimeoutS: 1 });
    const t0 = Date.now();
    await waitFor(() => existsSync(lone.marker), 5_000, 'shutdown command run');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1_700);
    expect(existsSync(held.marker)).toBe(false);
    clearInterval(beat);
  });

  it('dead-man switch waits while a unit runs, even with no provisioner', async () => {
    const e = await env({ instanceId: 'i-busy', idleTimeoutS: 1 });
    e.agent.setActiveUnits(1);
    await new Promise((r) => setTimeout(r, 2_600));
    expect(existsSync(e.marker)).toBe(false);
  });
});
