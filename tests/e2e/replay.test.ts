// End to end (issue 9 §2): replaying an imported trace from the UI served by `iommu-lab serve`, in
// headless Chromium at 1280×720 — the golden late-DMA ftrace (tests/support/traces.ts) replayed
// against two examples (seed 6, strict and lazy) with "Replay against…": two stored replay runs
// (REPLAY lines in the runs list), the compare view opens with both, and the lazy replay's header
// names its divergence from the trace and reveals its step. Screenshots go to .tmp/ui-shots/.
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabService } from '../../main/service/lab-service.ts';
import { SHOTS, startE2eLab, type E2eLab } from '../support/e2e.ts';
import { GUEST_LATE_DMA_FTRACE_LINES } from '../support/traces.ts';

describe('replaying a trace in the UI', () => {
  let lab: E2eLab;
  let service: LabService;
  let page: Page;
  const poll = <T>(fn: () => Promise<T> | T, timeout = 15_000) => expect.poll(fn, { timeout, interval: 100 });

  beforeAll(async () => {
    lab = await startE2eLab('replay', { warmRunWorker: false });
    ({ service, page } = lab);
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
  });

  it('replays the late-DMA trace against seed 6 strict and lazy: two replay runs, compared; the lazy one names its divergence', async () => {
    const imported = await service.call('importTrace', { name: 'late-dma.trace', text: GUEST_LATE_DMA_FTRACE_LINES.join('\n') + '\n' });
    await page.goto(lab.server.url);
    await poll(() => page.getByTestId('run-item-trace').count()).toBe(1);
    await page.getByTestId('run-item-trace').click();
    await poll(() => page.getByTestId('run-name').innerText()).toBe('late-dma.trace');
    await page.getByTestId('replay-button').click();
    await poll(() => page.getByTestId('replay-choice-seed-6-strict').count()).toBe(1);
    // The editor's document is picked by default: replay against the two examples instead.
    await page.getByTestId('replay-choice-editor').locator('input').uncheck();
    await page.getByTestId('replay-choice-seed-6-strict').locator('input').check();
    await page.getByTestId('replay-choice-seed-6-lazy').locator('input').check();
    await page.screenshot({ path: join(SHOTS, 'replay-menu.png') });
    await page.getByTestId('replay-start').click();
    // Both finish, then the compare view opens with them.
    await poll(() => page.getByTestId('run-item-replay').count(), 30_000).toBe(2);
    await poll(async () => (await page.getByTestId('run-item-replay').allInnerTexts()).map((l) => l.trim()).sort(), 30_000).toEqual([`REPLAY of #${imported.runId} · 0 divergences`, `REPLAY of #${imported.runId} · 1 divergence`]);
    await poll(() => page.getByTestId('compare-view').isVisible(), 30_000).toBe(true);
    await poll(() => page.getByTestId('compare-view').getAttribute('data-state'), 30_000).toBe('ready');
    expect(await page.getByTestId('compare-run').count()).toBe(2);
    await page.screenshot({ path: join(SHOTS, 'replay-compare.png') });

    // The lazy replay in the workbench: its header names the trace and the divergence.
    const runs = await service.call('listRuns', {});
    const lazy = runs.find((r) => r.replay && r.file === 'seed-6-lazy.yaml')!;
    await page.keyboard.press('Control+1');
    await page.locator(`[data-testid="run-item"][data-run-id="${lazy.id}"]`).click();
    await poll(() => page.getByTestId('run-replay-divergences').innerText()).toContain('1 divergence from the trace');
    expect(await page.getByTestId('run-replay-trace').innerText()).toBe(`#${imported.runId} late-dma.trace`);
    expect(await page.getByTestId('run-replay-notused').innerText()).toContain('iommu:map ×1');
    await page.getByTestId('run-replay-first').click();
    // The divergence's step (4: the late write) is the selected events' step.
    await poll(() => page.locator('[data-testid="event-row"].selected .step').innerText()).toBe('4');
    await page.screenshot({ path: join(SHOTS, 'replay-run.png') });
    expect(lab.pageErrors).toEqual([]);
  }, 120_000);
});
