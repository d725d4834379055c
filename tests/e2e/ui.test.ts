// End to end: the built renderer in headless Chromium against a real LabService behind
// `iommu-lab serve` (everything on 127.0.0.1). Opens the quickstart example, breaks the YAML and
// sees the error marker and the problems list, fixes it, runs it with Ctrl+Enter, and checks the
// run finished with metrics, steps and event rows; saves test-results/e2e.png (workbench.test.ts writes the README's picture).
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

describe('the UI in a browser against iommu-lab serve', () => {
  let dir: string;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(RENDERER, 'index.html'))) {
      // `npm test` builds first; a bare `vitest run tests/e2e` builds once here.
      execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'inherit' });
    }
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-e2e-'));
    const service = new LabService({ dbPath: join(dir, 'lab.db'), examplesDir: join(ROOT, 'examples') });
    server = await startServer({ service, port: 0, rendererDir: RENDERER });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close(); // also closes the service
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Polls `fn` for up to `timeout` ms (UI updates are asynchronous). */
  const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });

  /** The editor's text as Monaco renders it (non-breaking spaces normalised). */
  async function editorText(): Promise<string> {
    return (await page.locator('[data-testid=scenario-editor] .view-lines').innerText()).replace(/\u00a0/g, ' ');
  }

  it('opens an example, shows a broken edit as an error, runs the fixed scenario and shows the run', async () => {
    await page.goto(server.url);
    await page.locator('[data-testid=scenario-editor][data-ready=true]').waitFor({ timeout: 30_000 });

    // Open the shipped quickstart through the examples picker.
    const select = page.getByTestId('examples-select');
    const names = (await select.locator('option').evaluateAll((opts) => opts.map((o) => o.getAttribute('value') ?? ''))).filter(Boolean);
    const quickstart = names.find((n) => n.startsWith('quickstart'));
    expect(quickstart, `examples offered: ${names.join(', ')}`).toBeDefined();
    await select.selectOption(quickstart!);
    await poll(() => page.getByTestId('file-name').innerText()).toContain('quickstart');
    await poll(editorText).toContain('steps');
    // The shipped example is clean.
    await poll(() => page.locator('[data-testid=problem]').count(), 10_000).toBe(0);

    // Break it: an unknown top-level key on a new first line.
    await page.locator('[data-testid=scenario-editor] .view-lines').click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Enter');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.type('bogus-key: 1');
    await page.keyboard.press('Escape'); // close the suggestion widget, if any
    const errors = page.locator('[data-testid=problem].error');
    await poll(() => errors.count(), 10_000).toBeGreaterThan(0);
    await poll(() => page.locator('[data-testid=scenario-editor] .squiggly-error').count()).toBeGreaterThan(0);
    expect(await errors.first().getAttribute('data-line')).toBe('1');
    expect(await page.getByTestId('problems-list').innerText()).toMatch(/bogus-key/);

    // Fix it: delete the line again.
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Delete');
    await poll(() => errors.count(), 10_000).toBe(0);
    await poll(() => page.locator('[data-testid=scenario-editor] .squiggly-error').count()).toBe(0);

    // Run with the keyboard shortcut and wait for the run to finish.
    await page.keyboard.press('Control+Enter');
    const status = page.getByTestId('run-status');
    await poll(() => status.getAttribute('data-status'), 60_000).toBe('done');
    await poll(() => page.locator('[data-testid=run-item][data-status=done]').count()).toBeGreaterThan(0);
    // The progress bar goes with the run's end (within a moment: the status may come from a
    // getRun answered just before the runFinished notification arrives).
    await poll(() => page.getByTestId('run-progress').count(), 2000).toBe(0);

    // Metrics, steps and events.
    const metrics = page.getByTestId('metrics');
    await metrics.waitFor();
    const eventsMetric = Number((await page.getByTestId('metric-events').locator('.v').innerText()).replace(/[^0-9]/g, ''));
    expect(eventsMetric).toBeGreaterThan(0);
    expect(await page.getByTestId('chart-events-by-kind').locator('.track').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-testid=step-row]').count()).toBeGreaterThan(0);
    const table = page.getByTestId('events-table');
    await poll(async () => Number(await table.getAttribute('data-total'))).toBe(eventsMetric);
    const rows = page.locator('[data-testid=event-row]');
    await poll(() => rows.count()).toBeGreaterThan(0);
    // Virtualized: never more rows in the DOM than fit the viewport plus overscan.
    expect(await rows.count()).toBeLessThanOrEqual(Math.min(eventsMetric, 120));
    expect(await rows.first().innerText()).toMatch(/\S/);

    // Filter by the first kind chip: every row shown is of that kind.
    const chip = page.locator('[data-testid^=kind-chip-]').first();
    const kind = (await chip.getAttribute('data-testid'))!.replace('kind-chip-', '');
    await chip.click();
    await poll(async () => (await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')))).every((k) => k === kind)).toBe(true);
    await chip.click();
    await poll(async () => Number(await table.getAttribute('data-total'))).toBe(eventsMetric);

    // Clicking an event selects it and shows its step's line in the editor (selected there), while
    // the table keeps the keyboard focus; double-click moves the focus into the editor.
    const row = rows.nth(Math.min(3, (await rows.count()) - 1));
    await row.click();
    await poll(() => row.getAttribute('aria-selected')).toBe('true');
    await poll(() => page.locator('[data-testid=scenario-editor] .selected-text').count()).toBeGreaterThan(0);
    await poll(() => page.evaluate<string | null>("document.activeElement && document.activeElement.getAttribute('data-testid')")).toBe('events-scroller');
    await row.dblclick();
    await poll(() => page.locator('[data-testid=scenario-editor] .monaco-editor.focused').count()).toBe(1);

    // Screenshot of the finished run for the README.
    await page.mouse.move(0, 0);
    await page.waitForTimeout(300);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    // The README's picture (tests/e2e/screenshot.png, 1280×720) is written by workbench.test.ts.
    await page.screenshot({ path: join(ROOT, 'test-results/e2e.png') });

    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });

  it('opens a local file and shows 64-bit addresses exactly, from the top of the address space', async () => {
    // The user's own file through Open… (the browser's file picker), not a shipped example.
    const text = [
      'name: top of the address space',
      'viommu: {model: virtio-iommu, aw-bits: 64, boot-bypass: false}',
      'devices:',
      '  - {name: nic0, bdf: "00:03.0"}',
      'steps:',
      '  - attach: {domain: 1, endpoint: nic0}',
      '  - map: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: 0x1000, flags: [read]}',
      '  - dma: {endpoint: nic0, addr: 0xfffffffffffffff8, size: 8, access: read}',
      '    expect: {translated: 0x1ff8}',
      '  - dma: {endpoint: nic0, addr: 0xffffffffffffeff8, access: write}',
      '    expect: {fault: {reason: MAPPING, address: 0xffffffffffffeff8}}',
      '',
    ].join('\n');
    await page.getByTestId('file-input').setInputFiles({ name: 'top.yaml', mimeType: 'text/yaml', buffer: Buffer.from(text) });
    await poll(() => page.getByTestId('file-name').innerText()).toContain('top.yaml');
    await poll(editorText).toContain('0xfffffffffffff000');
    await poll(() => page.locator('[data-testid=problem].error').count(), 10_000).toBe(0);

    await page.getByTestId('run-button').click();
    await poll(() => page.locator('[data-testid=run-item][data-status=done]').count(), 60_000).toBe(2);
    await poll(() => page.getByTestId('run-status').getAttribute('data-status'), 60_000).toBe('done');
    expect(await page.getByTestId('metric-expectations').innerText()).toMatch(/2\s*held/);

    // The events table shows the exact u64 values that went through core → SQLite → contract → UI.
    const rows = page.locator('[data-testid=event-row]');
    const table = async () => (await rows.allInnerTexts()).join('\n');
    await poll(table).toContain('0xfffffffffffff000');
    const all = await table();
    expect(all).toContain('0xffffffffffffffff');
    expect(all).toContain('0xfffffffffffffff8');
    expect(all).toContain('0x1ff8');
    expect(all).toContain('0xffffffffffffeff8');
    expect(pageErrors).toEqual([]);
  });
});
