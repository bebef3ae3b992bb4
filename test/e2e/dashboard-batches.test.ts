/**
 * The batch page in a real browser (Debian's chromium via playwright-core) against
 * a real API (Redis + embedded S3): a 2x2 sweep, three of its jobs finished the way
 * workers leave them; the page shows progress, window and deadline, the leaderboard
 * with its marks, sorts it by any column, and draws one chart per parameter.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UnitResult } from '../../services/core/job.ts';
import { TEST_KEYS, createTestStack, type TestStack } from '../../support/app.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`batch dashboard e2e skipped: ${CHROMIUM} not found (apt-get install chromium)`);

let stack: TestStack;
let base: string;
let browser: Browser;
let batchId: string;
let jobIds: string[];

const sweep = {
  name: 'night-sweep',
  base: {
    dataset: { uri: 'builtin:make_classification?n_samples=60&n_features=4&random_state=1' },
    model: { layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1, activation: 'sigmoid' }] },
    training: { loss: 'binaryCrossentropy', metrics: ['accuracy'], epochs: 5 },
    evaluation: { method: 'kfold', folds: 3 },
  },
  grid: { 'model.layers.0.units': [4, 32], 'model.layers.1.activation': ['sigmoid', 'linear'] },
  schedule: { window: { start: '22:00', end: '07:00', timezone: 'Europe/Berlin' } },
  budgetUsd: 40,
};

async function finish(jobId: string, scores: number[]): Promise<void> {
  await stack.store.setStatus(jobId, 'running');
  for (const [fold, score] of scores.entries()) {
    const r: UnitResult = { key: `r0-p0-f${fold}`, kind: 'eval', run: 0, repeat: 0, fold, score, epochs: 5, trainRows: 40, testRows: 20, durationMs: 800, backend: 'cpu', engine: 'fused', worker: 'w' };
    await stack.store.unitDone(jobId, r);
  }
  const mean = scores.reduce((s, x) => s + x, 0) / scores.length;
  await stack.store.setStatus(jobId, 'completed', { result: { metric: 'accuracy', scores, mean, std: 0, stderr: 0, ci95: [mean, mean] } });
}

async function open(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors: string[] = [];
  // 403: /v1/instances is for admin keys; the page says so in its instances section
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('403')) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/#batch=${batchId}`);
  await page.fill('#key-input', TEST_KEYS.acme);
  await page.click('#key-form button[type=submit]');
  return { page, errors };
}

const column = (page: Page, i: number) => page.$$eval(`#batch-lb tbody tr`, (trs, i) => trs.map((tr) => (tr as HTMLTableRowElement).cells[i].textContent), i);

describe.skipIf(!hasChromium)('batch page in a browser', () => {
  beforeAll(async () => {
    stack = await createTestStack({ label: 'dash-batches' });
    base = await stack.app.listen({ port: 0, host: '127.0.0.1' });
    const res = await stack.app.inject({ method: 'POST', url: '/v1/batches', headers: stack.auth('acme'), payload: sweep });
    expect(res.statusCode, res.body).toBe(201);
    ({ id: batchId, jobIds } = res.json());
    // job order: (4, sigmoid), (4, linear), (32, sigmoid), (32, linear)
    await finish(jobIds[2], [0.95, 0.93, 0.97]); // best
    await finish(jobIds[0], [0.94, 0.92, 0.95]); // close: ≈ best
    await finish(jobIds[1], [0.60, 0.62, 0.58]); // clearly worse
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('shows the batch: progress, window, deadline, budget, marks and one chart per parameter', async () => {
    const { page, errors } = await open();
    await page.waitForSelector('#batch-lb tbody tr');
    expect(await page.textContent('#batch-h')).toBe('Batch: night-sweep');
    expect(await page.textContent('#batch-summary [data-field=progress]')).toContain('9/12 units');
    expect(await page.textContent('#batch-summary [data-field=window]')).toBe('22:00–07:00 Europe/Berlin');
    expect(await page.textContent('#batch-summary [data-field=cost]')).toBe('not metered of $40.00');
    expect(await page.isVisible('#batch-summary [data-field=deadline]')).toBe(true);
    expect(await column(page, 1)).toEqual(['night-sweep units=32 activation=sigmoid', 'night-sweep units=4 activation=sigmoid', 'night-sweep units=4 activation=linear', 'night-sweep units=32 activation=linear']);
    expect(await column(page, 6)).toEqual(['best', '≈ best', 'worse', '']);
    expect(await page.$$eval('#batch-params figure', (f) => f.map((x) => x.getAttribute('data-param')))).toEqual(['model.layers.0.units', 'model.layers.1.activation']);
    expect(await page.$$eval('#batch-params figure[data-param="model.layers.0.units"] circle', (c) => c.length)).toBe(3);
    expect(await page.textContent('#batches-body')).toContain('night-sweep');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('draws a unit\'s learning curve while it trains, from the per-epoch progress events', async () => {
    const job = jobIds[3]; // not finished: no unit history exists
    await stack.store.setStatus(job, 'running');
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${base}/`);
    await page.fill('#key-input', TEST_KEYS.acme);
    await page.click('#key-form button[type=submit]');
    await page.evaluate((id) => { location.hash = `#job=${id}`; }, job);
    await page.waitForSelector('#detail-charts p.empty');
    expect(await page.textContent('#detail-charts')).toContain('as soon as a training unit reports its first epoch');
    await page.waitForTimeout(500); // the event stream is open
    for (let e = 1; e <= 4; e++) await stack.store.progress(job, 'r0-p0-f1', e, 5, { loss: 1 / e, accuracy: 0.5 + e / 10 });
    await page.waitForSelector('#detail-charts figure[data-chart=loss] path[data-kind=unit]');
    const lossTitle = await page.textContent('#detail-charts figure[data-chart=loss] path[data-kind=unit] title');
    expect(lossTitle).toContain('r0-p0-f1');
    expect(await page.$$('#detail-charts figure[data-chart=metric] path[data-kind=unit]')).toHaveLength(1);
    // a second unit's epochs add a second curve
    await stack.store.progress(job, 'r0-p0-f2', 1, 5, { loss: 0.9, accuracy: 0.55 });
    await page.waitForFunction(() => document.querySelectorAll('#detail-charts figure[data-chart=loss] path[data-kind=unit]').length === 2);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('sorts the leaderboard by a clicked column, and reverses on a second click', async () => {
    const { page, errors } = await open();
    await page.waitForSelector('#batch-lb tbody tr');
    await page.click('#batch-lb th[data-col=mean] button');
    expect(await page.getAttribute('#batch-lb th[data-col=mean]', 'aria-sort')).toBe('ascending');
    expect(await column(page, 0)).toEqual(['3', '2', '1', '—']); // lowest mean first, the unscored job last
    await page.click('#batch-lb th[data-col=mean] button');
    expect(await page.getAttribute('#batch-lb th[data-col=mean]', 'aria-sort')).toBe('descending');
    expect(await column(page, 0)).toEqual(['1', '2', '3', '—']);
    await page.click('#batch-lb th[data-col="param:model.layers.1.activation"] button');
    expect(await column(page, 11)).toEqual(['linear', 'linear', 'sigmoid', 'sigmoid']);
    // a refresh keeps the chosen order
    await page.waitForTimeout(2_500);
    expect(await column(page, 11)).toEqual(['linear', 'linear', 'sigmoid', 'sigmoid']);
    expect(errors).toEqual([]);
    await page.close();
  });
});
