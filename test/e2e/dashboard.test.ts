/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core)
 * against a real API (Redis + embedded S3). There are no workers here: the test
 * submits jobs over HTTP and then leaves the state workers leave — per-unit
 * histories in S3, unit results in Redis, and the aggregator's history.json,
 * summary.json and completed status (the aggregator's own processor runs).
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Job as BullJob } from 'bullmq';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../services/core/keys.ts';
import { createFleetStore } from '../../services/platform/fleet-store.ts';
import type { UnitResult } from '../../services/core/job.ts';
import { createAggregateProcessor } from '../../services/platform/aggregate.ts';
import { TEST_ADMIN_KEY, TEST_KEYS, createTestStack, type TestStack } from '../../support/app.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard e2e skipped: ${CHROMIUM} not found (apt-get install chromium)`);

const XSS_NAME = '<img src=x onerror=alert(1)>';
const FOLDS = 3;
const EPOCHS = 12;

const classification = (name: string) => ({
  name,
  dataset: { uri: 'builtin:make_classification?n_samples=60&n_features=4&random_state=1' },
  model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
  training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: EPOCHS, validationSplit: 0.25 },
  evaluation: { method: 'kfold', folds: FOLDS },
  final: { fit: true },
});

const regression = (name: string) => ({
  name,
  dataset: { uri: 'builtin:make_regression?n_samples=60&n_features=3&random_state=1' },
  model: { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 1 }] },
  training: { loss: 'mse', metrics: ['mae'], epochs: EPOCHS },
  evaluation: { method: 'kfold', folds: FOLDS },
});

let stack: TestStack;
let base: string;
let browser: Browser;
const ids: Record<string, string> = {};

async function submit(spec: object): Promise<string> {
  const res = await stack.app.inject({ method: 'POST', url: '/v1/jobs', headers: stack.auth('acme'), payload: spec });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().id as string;
}

const epochLogs = (i: number, metric: string, withVal: boolean, upTo = EPOCHS) => Array.from({ length: upTo }, (_, e) => {
  const loss = 0.7 * Math.exp(-e / (4 + i)) + 0.05 * (i + 1);
  const log: Record<string, number> = { epoch: e + 1, loss, [metric]: metric === 'mae' ? loss * 2 : 1 - loss / 2 };
  if (withVal) Object.assign(log, { val_loss: loss * 1.2, [`val_${metric}`]: metric === 'mae' ? loss * 2.4 : 1 - loss * 0.6 });
  return log;
});

/** A finished unit of a running job, as its worker leaves it: the history file, then the result in Redis. */
async function finishUnit(jobId: string, fold: number): Promise<void> {
  const key = `r0-p0-f${fold}`;
  await stack.artifacts.putJson(keys.unitHistory(jobId, key), { key, kind: 'eval', run: 0, repeat: 0, fold, epochs: epochLogs(fold, 'accuracy', true) });
  await stack.store.unitDone(jobId, {
    key, kind: 'eval', run: 0, repeat: 0, fold, score: 0.9, epochs: EPOCHS, trainRows: 40, testRows: 20, durationMs: 900, backend: 'cpu', engine: 'fused', worker: 'worker-2',
  });
}

/** What the workers and the aggregator leave behind for a job whose units all finished. */
async function complete(jobId: string, opts: { scores: number[]; metric: string; withVal: boolean; final: boolean; warnings?: UnitResult['warnings'] }): Promise<void> {
  await stack.store.setStatus(jobId, 'running');
  const units: Array<{ key: string; kind: 'eval' | 'final'; fold: number; score?: number }> = opts.scores.map((score, fold) => ({ key: `r0-p0-f${fold}`, kind: 'eval', fold, score }));
  if (opts.final) units.push({ key: 'final', kind: 'final', fold: 0 });
  for (const [i, u] of units.entries()) {
    const epochs = epochLogs(i, opts.metric, opts.withVal && u.kind === 'eval');
    await stack.artifacts.putJson(keys.unitHistory(jobId, u.key), { key: u.key, kind: u.kind, run: 0, repeat: 0, fold: u.fold, epochs });
    const result: UnitResult = {
      key: u.key, kind: u.kind, run: 0, repeat: 0, fold: u.fold, epochs: EPOCHS,
      ...(u.score !== undefined ? { score: u.score, heldOut: { loss: 0.2 + u.fold / 100, [opts.metric]: u.score } } : {}),
      trainRows: 40, testRows: 20, durationMs: 1500 + 100 * i, backend: 'cpu', engine: 'fused', worker: 'worker-1', instanceId: 'i-0123456789abcdef0',
      ...(opts.warnings && u.kind === 'eval' ? { warnings: opts.warnings } : {}),
    };
    await stack.store.unitDone(jobId, result);
    await stack.store.setField(jobId, 'backend', 'cpu');
    await stack.store.setField(jobId, 'engine', 'fused');
  }
  const aggregate = createAggregateProcessor({ store: stack.store, artifacts: stack.artifacts, logger: { info() {}, warn() {} } });
  const fakeParent = { data: { jobId, tenant: 'acme' }, getIgnoredChildrenFailures: async () => ({}) } as unknown as BullJob;
  expect(await aggregate(fakeParent)).toEqual({ status: 'completed' });
}

async function openPage(): Promise<{ page: Page; errors: string[]; foreign: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => { errors.push(`dialog: ${d.message()}`); void d.dismiss(); });
  page.on('request', (r) => {
    const host = new URL(r.url()).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(host) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  await page.goto(`${base}/`);
  return { page, errors, foreign };
}

async function enterKey(page: Page, key: string): Promise<void> {
  await page.fill('#key-input', key);
  await page.click('#key-form button[type=submit]');
}

describe.skipIf(!hasChromium)('dashboard in a browser', () => {
  beforeAll(async () => {
    stack = await createTestStack({ label: 'dashboard' });
    base = await stack.app.listen({ port: 0, host: '127.0.0.1' });
    ids.xss = await submit({ ...regression(XSS_NAME) });
    ids.wide = await submit(classification('wide-mlp'));
    ids.narrow = await submit(classification('narrow-mlp'));
    ids.regA = await submit(regression('reg-small'));
    ids.regB = await submit(regression('reg-large'));
    ids.running = await submit(classification('still-training'));
    ids.dead = await submit(classification('unscaled-saturated'));
    await complete(ids.narrow, { scores: [0.9, 0.94, 0.92], metric: 'accuracy', withVal: true, final: true });
    await complete(ids.wide, { scores: [0.97, 0.99, 0.98], metric: 'accuracy', withVal: true, final: true });
    await complete(ids.regA, { scores: [3.1, 2.9, 3.3], metric: 'mae', withVal: false, final: false });
    await complete(ids.regB, { scores: [2.1, 2.4, 2.2], metric: 'mae', withVal: false, final: false });
    // what a worker records for a unit whose model saturated on unscaled features
    await complete(ids.dead, {
      scores: [0.65, 0.65, 0.65], metric: 'accuracy', withVal: false, final: true,
      warnings: [{ code: 'constant_class', message: 'the model predicts the same class (0) for every one of its 20 held-out rows; features are unscaled (values up to 6000) — try preprocess.standardize or preprocess.minmax' }],
    });
    await stack.store.setStatus(ids.running, 'running');
    await finishUnit(ids.running, 0);
    await stack.store.progress(ids.running, 'r0-p0-f1', 5, EPOCHS);
    // the fleet: one spot instance running for two hours, one on-demand instance that ran for one
    const fleet = createFleetStore(stack.redis, stack.prefix);
    const now = Date.now();
    await fleet.putInstance({ id: 'i-0aaa1111bbbb2222c', provider: 'ec2', resourceClass: 'gpu', type: 'p3.2xlarge', market: 'spot', hourlyUsd: 0.918, launchedAt: now - 2 * 3_600_000 });
    const old = { id: 'i-0ddd3333eeee4444f', provider: 'ec2', resourceClass: 'gpu', type: 'p3.2xlarge', market: 'on-demand' as const, hourlyUsd: 3.06, launchedAt: now - 5 * 3_600_000 };
    await fleet.putInstance(old);
    await fleet.retire(old, now - 4 * 3_600_000, 'idle');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--no-first-run'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('serves the page and its assets without a key, with a same-origin CSP', async () => {
    for (const url of ['/', '/dashboard', '/dashboard/app.js', '/dashboard/vocabulary.js', '/dashboard/charts.js', '/dashboard/style.css', '/dashboard/favicon.svg']) {
      const res = await stack.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    }
    expect((await stack.app.inject({ url: '/dashboard/../app.ts' })).statusCode).toBe(404);
    expect((await stack.app.inject({ url: '/dashboard/nope.js' })).statusCode).toBe(404);
    expect((await stack.app.inject({ url: '/v1/jobs' })).statusCode).toBe(401);
  });

  it('shows jobs, curves, the leaderboard and the instances panel', async () => {
    const { page, errors, foreign } = await openPage();
    await expect.poll(() => page.textContent('#conn')).toContain('No API key');
    await page.waitForLoadState('load');
    expect(errors).toEqual([]);

    // the jobs table with every name, the hostile one as text
    await enterKey(page, TEST_KEYS.acme);
    await page.waitForSelector(`#jobs-body tr[data-id="${ids.running}"]`);
    const names = await page.$$eval('#jobs-body .job-link', (as) => as.map((a) => a.textContent));
    expect(names).toEqual(expect.arrayContaining([XSS_NAME, 'wide-mlp', 'narrow-mlp', 'reg-small', 'reg-large', 'still-training']));
    expect(await page.evaluate(() => localStorage.getItem('nightshift.apiKey'))).toBe(TEST_KEYS.acme);
    expect(await page.$$('img')).toHaveLength(0);
    expect(await page.textContent(`#jobs-body tr[data-id="${ids.xss}"] .job-link`)).toBe(XSS_NAME);
    const runningRow = await page.textContent(`#jobs-body tr[data-id="${ids.running}"]`);
    expect(runningRow).toContain('running');
    expect(runningRow).toContain('1/4 units');
    expect(runningRow).toContain('epoch 5/12');
    const wideRow = await page.textContent(`#jobs-body tr[data-id="${ids.wide}"]`);
    expect(wideRow).toContain('completed');
    expect(wideRow).toContain('0.98 ± 0.008165');
    expect(wideRow).toContain('fused / cpu');

    // the leaderboard: accuracy higher first, mae lower first
    await page.waitForSelector('#lb-body [data-metric="accuracy"] tbody tr');
    const rankOf = (metric: string) => page.$$eval(`#lb-body [data-metric="${metric}"] tbody tr`, (trs) => trs.map((tr) => tr.getAttribute('data-id')));
    expect(await rankOf('accuracy')).toEqual([ids.wide, ids.narrow, ids.dead]);

    // training-health warnings: a badge in the jobs table, a mark in the leaderboard, the messages in the detail
    const deadBadge = `#jobs-body tr[data-id="${ids.dead}"] .badge-warn`;
    await page.waitForSelector(deadBadge);
    expect(await page.textContent(deadBadge)).toBe('⚠ 3 warnings');
    expect(await page.getAttribute(deadBadge, 'title')).toContain('r0-p0-f0: the model predicts the same class (0)');
    expect(await page.$$(`#jobs-body tr[data-id="${ids.wide}"] .badge-warn`)).toHaveLength(0);
    expect(await page.getAttribute(`#lb-body [data-metric="accuracy"] tr[data-id="${ids.dead}"]`, 'class')).toBe('lb-warned');
    expect(await page.textContent(`#lb-body [data-metric="accuracy"] tr[data-id="${ids.dead}"] .badge-warn`)).toBe('⚠ 3 warnings');
    expect(await page.getAttribute(`#lb-body [data-metric="accuracy"] tr[data-id="${ids.wide}"]`, 'class')).toBeNull();
    await page.click(`#jobs-body tr[data-id="${ids.dead}"] td:nth-child(4)`);
    await page.waitForSelector('#detail-summary ul.warnings li[data-code="constant_class"]');
    expect(await page.$$eval('#detail-summary ul.warnings li', (lis) => lis.length)).toBe(3);
    expect(await page.textContent('#detail-summary ul.warnings')).toContain('features are unscaled (values up to 6000) — try preprocess.standardize');
    expect(await rankOf('mae')).toEqual([ids.regB, ids.regA]);

    // a tenant key sees no fleet
    await expect.poll(() => page.textContent('#inst-body')).toContain('Admin key needed');

    // a completed job's detail: one loss path per unit plus the mean, the final fit, the metric chart, the units table
    await page.click(`#jobs-body tr[data-id="${ids.wide}"] td:nth-child(4)`);
    await page.waitForSelector('#detail [data-chart="loss"] svg path[data-kind="mean"]');
    await page.waitForSelector('#units-table tbody tr');
    const count = (sel: string) => page.$$eval(sel, (els) => els.length);
    expect(await count('#detail [data-chart="loss"] path[data-series="loss"][data-kind="unit"]')).toBe(FOLDS);
    expect(await count('#detail [data-chart="loss"] path[data-series="loss"][data-kind="mean"]')).toBe(1);
    expect(await count('#detail [data-chart="loss"] path[data-series="val_loss"][data-kind="unit"]')).toBe(FOLDS);
    expect(await count('#detail [data-chart="loss"] path[data-series="loss"][data-kind="final"]')).toBe(1);
    expect(await count('#detail [data-chart="metric"] path[data-series="accuracy"][data-kind="unit"]')).toBe(FOLDS);
    expect(await count('#detail [data-chart="metric"] path[data-series="val_accuracy"][data-kind="mean"]')).toBe(1);
    expect(await count('#units-table tbody tr')).toBe(FOLDS + 1);
    // Student t with 2 df over the sample std: 0.98 +- 4.3027 * 0.01 / sqrt(3)
    expect(await page.textContent('#detail-summary')).toContain('0.9552 – 1.005 (Student t, 2 df)');
    expect(page.url()).toContain(`#job=${ids.wide}`);

    // the hostile name in the detail heading is text too
    await page.click(`#jobs-body tr[data-id="${ids.xss}"] td:nth-child(2)`);
    await expect.poll(() => page.textContent('#detail-h')).toBe(`Job: ${XSS_NAME}`);
    expect(await page.$$('img')).toHaveLength(0);
    await page.click(`#jobs-body tr[data-id="${ids.wide}"] td:nth-child(2)`);
    await page.waitForSelector('#detail [data-chart="loss"] svg path[data-kind="mean"]');

    // a running job's curves grow as its units finish (the page polls)
    await page.click(`#jobs-body tr[data-id="${ids.running}"] td:nth-child(3)`);
    const unitPaths = () => count('#detail [data-chart="loss"] path[data-series="loss"][data-kind="unit"]');
    await expect.poll(unitPaths).toBe(1);
    await finishUnit(ids.running, 1);
    await expect.poll(unitPaths, { timeout: 6_000 }).toBe(2);
    // the jobs table follows on its own poll (every 2 s), the detail on the job's event stream
    await expect.poll(() => page.textContent(`#jobs-body tr[data-id="${ids.running}"]`), { timeout: 6_000 }).toContain('2/4 units');
    await page.click(`#jobs-body tr[data-id="${ids.wide}"] td:nth-child(2)`);

    // an admin key sees the fleet and its total cost (0.918/h x 2 h + 3.06/h x 1 h)
    await enterKey(page, TEST_ADMIN_KEY);
    await page.waitForSelector('#inst-table tbody tr');
    expect(await count('#inst-table tbody tr')).toBe(2);
    expect(await page.textContent('#inst-body [data-total="cost"]')).toBe('$4.90');
    expect(await page.textContent('#inst-table')).toContain('i-0aaa1111bbbb2222c');
    expect(await page.textContent('#inst-body')).not.toContain('Admin key needed');
    // the cost panel: the same total, one bar per UTC launch day, idle spend, no budget set
    await expect.poll(() => page.textContent('#costs-body [data-total="spent"]')).toBe('$4.90');
    expect(await count('#costs-body [data-chart="spend-per-day"] rect.bar')).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('#costs-body [data-total="idle"]')).toBe('$4.90');
    expect(await page.textContent('#costs-body [data-total="budget-left"]')).toBe('no budget');
    await page.waitForSelector('#detail [data-chart="loss"] svg path[data-kind="mean"]');

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });

    // a wrong key is said to be wrong
    await enterKey(page, 'not-a-key-123');
    await expect.poll(() => page.textContent('#conn')).toContain('not accepted');

    // the only console errors: the browser's own notes on the 403 (instances, tenant key) and 401 (wrong key) answers
    expect(errors.filter((e) => !/Failed to load resource: .*status of (401|403)/.test(e))).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
  }, 25_000);
});
