// End to end (issue 9 §3 "Exports"): the run view's Export… menu in the UI served by `iommu-lab
// serve`, in headless Chromium at 1280×720 — Perfetto / Chrome JSON downloads the run from
// GET /export/… (a JSON trace with a track per component, named after the run), CSV and JSON lines
// too; the menu opens and closes from the keyboard; a refused export is a banner. Screenshots go to .tmp/ui-shots/.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../main/serve/server.ts';
import { BIN, ROOT, SHOTS, startE2eLab, type E2eLab } from '../support/e2e.ts';

/** The focused element's data-testid, evaluated in the page. */
const FOCUSED = "document.activeElement && document.activeElement.getAttribute('data-testid')";

describe('the run view\'s Export… menu', () => {
  let dir: string;
  let server: RunningServer;
  let page: Page;
  let pageErrors: string[] = [];
  let lab: E2eLab;
  const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });

  beforeAll(async () => {
    lab = await startE2eLab('export', { warmRunWorker: false, acceptDownloads: true, prepare: (_dir, db) => {
      expect(spawnSync(process.execPath, [BIN, 'run', join(ROOT, 'examples', 'seed-6-strict.yaml'), '--db', db]).status).toBe(0);
    } });
    ({ dir, server, page, pageErrors } = lab);
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
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
