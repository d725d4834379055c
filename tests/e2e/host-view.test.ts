// End to end (issue 7 §5): the run view's components by layer, the component filter and column,
// a guest request's links to the host calls it caused (and back), and the host object view, in
// headless Chromium at 1280×720 against `iommu-lab serve`. Runs are made through the service
// first. Saves screenshots under /tmp/ui-shots/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { launchBrowser } from '../support/browser.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const RENDERER = join(ROOT, 'out/renderer');
const SHOTS = '/tmp/ui-shots';

const GUEST_ONLY = `name: "virtio-iommu only: attach, map, dma, unmap"
viommu: {model: virtio-iommu, aw-bits: 48}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - map: {domain: 1, virt-start: 0x10000, virt-end: 0x1ffff, phys-start: 0x80000000, flags: [read, write]}
  - dma: {endpoint: nic0, addr: 0x10040, size: 64, access: write}
  - unmap: {domain: 1, virt-start: 0x10000, virt-end: 0x1ffff}
  - workload: {domain: 1, endpoint: nic0, count: 20, size: 0x2000, iova-base: 0x100000, phys-base: 0x40000000}
`;

describe('components, links and host objects in a browser', () => {
  let dir: string;
  let server: RunningServer;
  let service: LabService;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  /** Starts a run of `text` through the service and waits for it to end; returns its id. */
  async function runScenario(text: string, file: string): Promise<number> {
    const res = await service.call('startRun', { text, file });
    expect(res.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const runId = res.runId!;
    const end = await waitForRun(service, runId);
    expect(end.error).toBeNull();
    return runId;
  }

  beforeAll(async () => {
    if (!existsSync(join(RENDERER, 'index.html'))) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'inherit' });
    }
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-host-view-'));
    service = new LabService({ dbPath: join(dir, 'lab.db'), examplesDir: join(ROOT, 'examples') });
    server = await startServer({ service, port: 0, rendererDir: RENDERER });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });
  const rows = () => page.locator('[data-testid=event-row]');
  const total = async () => Number(await page.getByTestId('events-table').getAttribute('data-total'));

  /** Event rows whose top and bottom are inside the table's scroller. */
  async function visibleRows(): Promise<number> {
    const box = await page.getByTestId('events-scroller').boundingBox();
    if (!box) return 0;
    const boxes = await rows().evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((r) => [r.top, r.bottom]));
    return boxes.filter(([t, b]) => t >= box.y - 0.5 && b <= box.y + box.height + 0.5).length;
  }

  it('shows a virtio-iommu run\'s components by layer with their counts, filters by component and shows the component column', async () => {
    const runId = await runScenario(GUEST_ONLY, 'guest-only.yaml');
    await page.goto(server.url);
    await poll(() => page.getByTestId('run-status').getAttribute('data-status'), 30_000).toBe('done');
    const bar = page.getByTestId('components-bar');
    await bar.waitFor();
    const comps = await service.call('listComponents', { runId });
    const viommu = comps.find((c) => c.layer === 'viommu')!;
    expect(viommu).toMatchObject({ id: 'viommu0', kind: 'virtio-iommu' });
    const chip = page.getByTestId(`component-${viommu.id}`);
    expect(await chip.getAttribute('data-events')).toBe(String(viommu.events));
    expect(await chip.innerText()).toContain('viommu0');
    expect(await page.getByTestId('layer-viommu').innerText()).toMatch(/vIOMMU/i);
    const all = await total();
    expect(all).toBe(comps.reduce((n, c) => n + c.events, 0));

    // The component column names the emitter; the virtual time is shown.
    await poll(() => rows().count()).toBeGreaterThan(0);
    expect(await rows().first().locator('.comp').innerText()).toMatch(/viommu0|run/);
    expect(await rows().first().locator('.time').innerText()).toMatch(/^\d[\d,]*\.\d{3}$/);

    // Click the vIOMMU: only its events; again: all. Keyboard: focus + Enter does the same.
    await chip.click();
    await poll(total).toBe(viommu.events);
    expect(await chip.getAttribute('aria-pressed')).toBe('true');
    expect((await rows().locator('.comp').allInnerTexts()).every((t) => t === 'viommu0')).toBe(true);
    await chip.click();
    await poll(total).toBe(all);
    await chip.focus();
    await page.keyboard.press('Enter');
    await poll(total).toBe(viommu.events);
    await page.keyboard.press('Enter');
    await poll(total).toBe(all);

    // The object view toggles beside the detail, with no host objects here, and ≥ 15 rows stay visible.
    await rows().nth(1).click();
    await page.getByTestId('toggle-objects').click();
    await page.getByTestId('host-objects').waitFor();
    await poll(() => page.getByTestId('host-objects-empty').count()).toBe(1);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'guest-only-1280x720.png') });
    await poll(visibleRows).toBeGreaterThanOrEqual(15);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
