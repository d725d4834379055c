// End to end (issue 9 §3 "Exports"): the run view's Export… menu in the UI served by `iommu-lab
// serve`, in headless Chromium at 1280×720 — Perfetto / Chrome JSON downloads the run from
// GET /export/… (a JSON trace with a track per component, named after the run), CSV and JSON lines
// too; the menu opens and closes from the keyboard; a refused export is a banner. Screenshots go to .tmp/ui-shots/.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService } from '../../main/service/lab-service.ts';
import { launchBrowser } from '../support/browser.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const RENDERER = join(ROOT, 'out/renderer');
const SHOTS = join(ROOT, '.tmp/ui-shots');
const BIN = join(ROOT, 'main', 'cli', 'iommu-lab.js');
/** The focused element's data-testid, evaluated in the page. */
const FOCUSED = "document.activeElement && document.activeElement.getAttribute('data-testid')";

describe('the run view\'s Export… menu', () => {
  let dir: string;
  let service: LabService;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });

  beforeAll(async () => {
    if (!existsSync(join(RENDERER, 'index.html'))) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'inherit' });
    }
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-export-e2e-'));
    const db = join(dir, 'lab.db');
    expect(spawnSync(process.execPath, [BIN, 'run', join(ROOT, 'examples', 'seed-6-strict.yaml'), '--db', db]).status).toBe(0);
    service = new LabService({ dbPath: db, examplesDir: join(ROOT, 'examples'), warmRunWorker: false });
    server = await startServer({ service, port: 0, rendererDir: RENDERER });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await service?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Perfetto / Chrome JSON downloads the run as a trace with a track per component', async () => {
    await page.goto(server.url);
    await poll(() => page.getByTestId('run-item').count()).toBe(1);
    await page.getByTestId('run-item').first().click();
    await poll(() => page.getByTestId('run-name').innerText()).toBe('Seed 6a: strict invalidation');
    const button = page.getByTestId('export-button');
    await poll(() => button.isEnabled()).toBe(true);
    await button.click();
    expect(await page.getByRole('menuitem').allInnerTexts()).toEqual(['Perfetto / Chrome JSON', 'CSV', 'JSON lines']);
    expect(await button.getAttribute('aria-expanded')).toBe('true');
    await page.screenshot({ path: join(SHOTS, 'export-menu.png') });
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-perfetto').click()]);
    expect(download.suggestedFilename()).toBe('run-1-seed-6a-strict-invalidation.json');
    const doc = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { displayTimeUnit: string; traceEvents: { name: string; ph: string; args?: { name?: string } }[]; otherData: { events: number } };
    expect(doc.displayTimeUnit).toBe('ns');
    expect(doc.otherData.events).toBe(65);
    expect(doc.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args!.name)).toEqual([
      'nic0 (guest)',
      'guest0 (linux)',
      'viommu0 (virtio-iommu)',
      'hiod-nic0 (host-iommu-device)',
      'iommufd0 (iommufd)',
      'dmar0 (intel-vtd)',
      'run',
    ]);
    // The menu closed; the page stayed (a download, not a navigation).
    expect(await page.getByRole('menu').count()).toBe(0);
    expect(await page.getByTestId('run-name').innerText()).toBe('Seed 6a: strict invalidation');
  });

  it('CSV and JSON lines download too', async () => {
    await page.getByTestId('export-button').click();
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    expect(csv.suggestedFilename()).toBe('run-1-seed-6a-strict-invalidation.csv');
    expect(readFileSync((await csv.path())!, 'utf8').split('\r\n')).toHaveLength(65 + 2);
    await page.getByTestId('export-button').click();
    const [jsonl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-jsonl').click()]);
    expect(jsonl.suggestedFilename()).toBe('run-1-seed-6a-strict-invalidation.jsonl');
    expect(readFileSync((await jsonl.path())!, 'utf8').trim().split('\n')).toHaveLength(65);
  });

  it('opens from the keyboard (ArrowDown focuses the first format), arrows move, Escape closes back on the button', async () => {
    const button = page.getByTestId('export-button');
    await button.focus();
    await page.keyboard.press('ArrowDown');
    await poll(() => page.evaluate<string | null>(FOCUSED)).toBe('export-perfetto');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate<string | null>(FOCUSED)).toBe('export-csv');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    expect(await page.evaluate<string | null>(FOCUSED)).toBe('export-jsonl');
    await page.keyboard.press('Escape');
    expect(await page.getByRole('menu').count()).toBe(0);
    expect(await page.evaluate<string | null>(FOCUSED)).toBe('export-button');
    expect(pageErrors).toEqual([]);
  });

  it('a run deleted meanwhile: a banner says why, nothing downloads', async () => {
    expect(spawnSync(process.execPath, [BIN, 'rm', '1', '--db', join(dir, 'lab.db')]).status).toBe(0);
    let downloads = 0;
    page.on('download', () => downloads++);
    await page.getByTestId('export-button').click();
    await page.getByTestId('export-perfetto').click();
    await poll(() => page.getByTestId('error-banner').allInnerTexts()).toEqual([expect.stringContaining('Export of run #1 failed: the lab answered 404 Not Found')]);
    expect(downloads).toBe(0);
  });
});
