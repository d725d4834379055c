// End to end (issue 9 §3): the compare view in the UI served by `iommu-lab serve`, in headless
// Chromium at 1280×720 and 1024×768 — seed-6-strict and seed-6-lazy run through the API, picked in
// the runs list (click, Ctrl-click), "Compare (2)": the runs in the header (strict the base), the
// configurations in a Monaco diff (iommu-dma strict vs lazy), the metrics table with rows that
// differ, the plots drawn with both runs' samples, the first divergence; "Open in B" lands on the
// lazy run's event of that step in the workbench. Ctrl+1 / Ctrl+2 switch views. Screenshots go to
// .tmp/ui-shots/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { launchBrowser } from '../support/browser.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const RENDERER = join(ROOT, 'out/renderer');
const SHOTS = join(ROOT, '.tmp/ui-shots');

describe('the compare view', () => {
  let dir: string;
  let service: LabService;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let strictId: number;
  let lazyId: number;
  const pageErrors: string[] = [];
  const poll = <T>(fn: () => Promise<T> | T, timeout = 15_000) => expect.poll(fn, { timeout, interval: 100 });

  async function runExample(name: string): Promise<number> {
    const text = readFileSync(join(ROOT, 'examples', `${name}.yaml`), 'utf8');
    const res = await service.call('startRun', { text, file: `examples/${name}.yaml` });
    expect((await waitForRun(service, res.runId!)).status).toBe('done');
    return res.runId!;
  }

  beforeAll(async () => {
    if (!existsSync(join(RENDERER, 'index.html'))) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'inherit' });
    }
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-compare-e2e-'));
    service = new LabService({ dbPath: join(dir, 'lab.db'), examplesDir: join(ROOT, 'examples'), warmRunWorker: false });
    strictId = await runExample('seed-6-strict');
    lazyId = await runExample('seed-6-lazy');
    server = await startServer({ service, port: 0, rendererDir: RENDERER });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await service?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('compares two runs picked in the runs list: runs, diff, table, plots, first divergence', async () => {
    await page.goto(server.url);
    await poll(() => page.getByTestId('run-item').count()).toBe(2);
    // No tab is shown for a view that does not exist yet; the compare view starts empty.
    expect(await page.getByTestId('view-tabs').locator('button').allInnerTexts()).toEqual(expect.arrayContaining(['Workbench', 'Compare']));
    await page.keyboard.press('Control+2');
    await poll(() => page.getByTestId('compare-view').getAttribute('data-state')).toBe('empty');
    await page.keyboard.press('Control+1');
    await poll(() => page.getByTestId('layout-workbench').isVisible()).toBe(true);

    // Pick strict (plain click), then lazy (Ctrl-click): strict is the base.
    await page.locator(`[data-testid="run-item"][data-run-id="${strictId}"]`).click();
    expect(await page.getByTestId('compare-button').count()).toBe(0);
    await page.locator(`[data-testid="run-item"][data-run-id="${lazyId}"]`).click({ modifiers: ['Control'] });
    await poll(() => page.getByTestId('compare-button').innerText()).toBe('Compare (2)');
    expect(await page.locator('[data-testid="run-item"][data-picked="true"]').count()).toBe(2);
    await page.getByTestId('compare-button').click();

    await poll(() => page.getByTestId('compare-view').getAttribute('data-state')).toBe('ready');
    expect(await page.getByTestId('compare-run').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-run-id'))))).toEqual([strictId, lazyId]);
    expect(await page.getByTestId('compare-run').first().innerText()).toContain('Seed 6a: strict invalidation');

    // The configurations: a Monaco diff whose sides differ in iommu-dma.
    await poll(() => page.getByTestId('compare-diff').locator('.monaco-diff-editor').count()).toBe(1);
    await poll(() => page.getByTestId('compare-diff').locator('.monaco-editor.modified-in-monaco-diff-editor .view-lines').innerText()).toContain('lazy');
    expect(await page.getByTestId('compare-diff').locator('.monaco-editor.original-in-monaco-diff-editor .view-lines').innerText()).toContain('strict');
    await poll(() => page.getByTestId('compare-diff').getAttribute('data-changes')).not.toBe('');
    expect(Number(await page.getByTestId('compare-diff').getAttribute('data-changes'))).toBeGreaterThan(0);

    // The metrics table: rows that differ (the lazy run's flush-queue flushes, stale accesses, …).
    const differing = page.locator('[data-testid="compare-row"][data-differs="true"]');
    await poll(() => differing.count()).toBeGreaterThan(0);
    const allRows = await page.getByTestId('compare-row').count();
    await page.getByTestId('compare-only-changed').check();
    await poll(() => page.getByTestId('compare-row').count()).toBe(await differing.count());
    expect(await page.getByTestId('compare-row').count()).toBeLessThan(allRows);
    await page.getByTestId('compare-only-changed').uncheck();
    // Export: the table as CSV, downloaded (exportComparison), the same text the service gives.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('compare-export-csv').click()]);
    expect(download.suggestedFilename()).toBe(`compare-${strictId}-${lazyId}.csv`);
    const csv = readFileSync((await download.path())!, 'utf8');
    expect(csv).toBe((await service.call('exportComparison', { runIds: [strictId, lazyId], format: 'csv' })).text);

    // The plots: three canvases, both runs' samples.
    expect(Number(await page.getByTestId('compare-plots').getAttribute('data-samples'))).toBeGreaterThan(10);
    for (const key of ['liveMappings', 'iovaBytes', 'faults']) {
      await poll(() => page.getByTestId(`compare-plot-${key}`).locator('canvas').count()).toBe(1);
    }
    const legend = await page.getByTestId('compare-plot-legend').allInnerTexts();
    expect(legend).toEqual([expect.stringContaining(`A #${strictId}`), expect.stringContaining(`B #${lazyId}`)]);
    // Hovering a plot reads both runs' values at that time: at ~5 ms strict has unmapped everything, lazy still has both mappings.
    const box = (await page.getByTestId('compare-plot-liveMappings').locator('.u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.25, box.y + 4);
    await poll(() => page.locator('.plot-title .val').allInnerTexts()).toEqual(expect.arrayContaining(['A 0', 'B 2']));
    // A drag zooms in and opens nothing.
    await page.mouse.move(box.x + box.width * 0.05, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    expect(await page.getByTestId('compare-view').isVisible()).toBe(true);
    await page.getByTestId('compare-plot-liveMappings').locator('.u-over').dblclick();

    // The first divergence: a step where strict faulted (or the IOVA was reused) and lazy did not.
    await poll(() => page.getByTestId('divergence-step').count()).toBe(1);
    expect(await page.getByTestId('divergence-a-text').innerText()).not.toBe(await page.getByTestId('divergence-b-text').innerText());
    await page.screenshot({ path: join(SHOTS, 'compare-1280.png') });
    // Neither the drag nor the double-click opened an event: still comparing.
    expect(await page.getByTestId('compare-view').getAttribute('data-state')).toBe('ready');
    expect(pageErrors).toEqual([]);
  });

  it('"Open in B" shows the lazy run in the workbench with that step\'s event selected', async () => {
    const cmp = await service.call('compareRuns', { runIds: [strictId, lazyId] });
    const d = cmp.divergences[0];
    expect(d.bSeq).not.toBeNull();
    await page.getByTestId('divergence-open-b').click();
    await poll(() => page.getByTestId('layout-workbench').isVisible()).toBe(true);
    await poll(() => page.locator('[data-testid="run-item"].selected').getAttribute('data-run-id')).toBe(String(lazyId));
    await poll(() => page.locator('[data-testid="event-row"].selected').getAttribute('data-seq')).toBe(String(d.bSeq));
    await page.screenshot({ path: join(SHOTS, 'compare-open-b.png') });
    // Back to the comparison (Ctrl+2): still there.
    await page.keyboard.press('Control+2');
    await poll(() => page.getByTestId('compare-view').getAttribute('data-state')).toBe('ready');
    expect(pageErrors).toEqual([]);
  });

  it('a click on a plot line opens that run at its event there', async () => {
    // At ~5 ms, near the top of the live mappings plot: the lazy run's line (2 mappings until its flush queue fires).
    const series = (await service.call('getTimeSeries', { runId: lazyId }))!;
    const box = (await page.getByTestId('compare-plot-liveMappings').locator('.u-over').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.25, box.y + 4);
    await poll(() => page.getByTestId('layout-workbench').isVisible()).toBe(true);
    await poll(() => page.locator('[data-testid="run-item"].selected').getAttribute('data-run-id')).toBe(String(lazyId));
    // The event is the lazy run's sample there: one after which 2 mappings are live.
    await poll(() => page.locator('[data-testid="event-row"].selected').count()).toBe(1);
    const seq = Number(await page.locator('[data-testid="event-row"].selected').getAttribute('data-seq'));
    const i = series.seq.indexOf(seq);
    expect(i).toBeGreaterThan(-1);
    expect(series.liveMappings[i]).toBe(2);
    await page.keyboard.press('Control+2');
    await poll(() => page.getByTestId('compare-view').getAttribute('data-state')).toBe('ready');
  });

  it('fits 1024×768 and reorders: the lazy run as the base', async () => {
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.locator(`[data-testid="compare-run"][data-run-id="${lazyId}"]`).getByTestId('compare-run-left').click();
    await poll(() => page.getByTestId('compare-run').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-run-id'))))).toEqual([lazyId, strictId]);
    await poll(() => page.getByTestId('compare-view').getAttribute('data-state')).toBe('ready');
    await poll(() => page.getByTestId('compare-plot-faults').locator('canvas').count()).toBe(1);
    await poll(() => page.getByTestId('compare-diff').getAttribute('data-changes')).not.toBe('');
    // Nothing overflows the window.
    const overflow = await page.evaluate('document.documentElement.scrollWidth > window.innerWidth || document.documentElement.scrollHeight > window.innerHeight');
    expect(overflow).toBe(false);
    await page.screenshot({ path: join(SHOTS, 'compare-1024.png') });
    // Removing a run leaves fewer than two: the empty state.
    await page.locator(`[data-testid="compare-run"][data-run-id="${strictId}"]`).getByTestId('compare-run-remove').click();
    await poll(() => page.getByTestId('compare-view').getAttribute('data-state')).toBe('empty');
    expect(pageErrors).toEqual([]);
  });
});
