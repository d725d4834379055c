// End to end (issue 9 §3): a scenario with `variants:` run from the UI served by `iommu-lab serve`,
// in headless Chromium at 1280×720 — the shipped variants-strict-lazy example opened through the
// examples picker and run with Ctrl+Enter (the Run shortcut): both variants run one after the other, the runs list groups
// them under the scenario's name with each variant's name, and when the last has finished the
// compare view opens with both (strict the base). Screenshots go to .tmp/ui-shots/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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

describe('variants in the UI', () => {
  let dir: string;
  let service: LabService;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const poll = <T>(fn: () => Promise<T> | T, timeout = 30_000) => expect.poll(fn, { timeout, interval: 100 });

  beforeAll(async () => {
    if (!existsSync(join(RENDERER, 'index.html'))) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'inherit' });
    }
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-variants-e2e-'));
    service = new LabService({ dbPath: join(dir, 'lab.db'), examplesDir: join(ROOT, 'examples') });
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

  it('Run (Ctrl+Enter) on a variants scenario runs every variant in order, groups them in the runs list, then opens the compare view', async () => {
    await page.goto(server.url);
    await page.locator('[data-testid=scenario-editor][data-ready=true]').waitFor({ timeout: 30_000 });
    const examples = page.getByTestId('examples-select');
    // Its own group in the picker.
    expect(await examples.locator('optgroup[label="variants: configurations compared"] option').evaluateAll((os) => os.map((o) => o.getAttribute('value')))).toEqual(['variants-aw-bits', 'variants-strict-lazy']);
    await examples.selectOption('variants-strict-lazy');
    await poll(() => page.getByTestId('file-name').innerText()).toContain('variants-strict-lazy');
    await poll(() => page.locator('[data-testid=problem]').count(), 10_000).toBe(0);

    await page.locator('[data-testid=scenario-editor] .view-lines').click();
    await page.keyboard.press('Control+Enter');

    // Both variants ran; the compare view opened by itself with them, strict (the first) the base.
    await poll(() => page.getByTestId('compare-view').getAttribute('data-state')).toBe('ready');
    const compared = await page.getByTestId('compare-run').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-run-id'))));
    expect(compared).toEqual([1, 2]);
    expect(await page.getByTestId('compare-run').first().innerText()).toContain('[strict]');
    expect(await page.getByTestId('compare-run').nth(1).innerText()).toContain('[lazy]');
    await poll(() => page.locator('[data-testid="compare-row"][data-differs="true"]').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'variants-compare.png') });

    // The runs list: one group, the scenario's name, both variants by name, in order (newest first).
    await page.keyboard.press('Control+1');
    const group = page.getByTestId('run-group');
    await poll(() => group.count()).toBe(1);
    expect(await group.getAttribute('data-run-ids')).toBe('1,2');
    expect(await group.innerText()).toContain('Variants: strict vs lazy invalidation');
    expect(await page.getByTestId('run-item-variant').allInnerTexts()).toEqual(['lazy', 'strict']);
    expect(await page.locator('[data-testid=run-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')))).toEqual(['done', 'done']);
    await page.screenshot({ path: join(SHOTS, 'variants-runs-list.png') });

    // The group's Compare opens them again.
    await page.getByTestId('group-compare').click();
    await poll(() => page.getByTestId('compare-view').getAttribute('data-state')).toBe('ready');
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
