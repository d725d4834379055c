// End to end (issue 9 §3): a scenario with `variants:` run from the UI served by `iommu-lab serve`,
// in headless Chromium at 1280×720 — the shipped variants-strict-lazy example opened through the
// examples picker and run with Ctrl+Enter (the Run shortcut): both variants run one after the other, the runs list groups
// them under the scenario's name with each variant's name, and when the last has finished the
// compare view opens with both (strict the base); Escape while a long group's first variant runs
// cancels the group, and no compare view opens. Screenshots go to .tmp/ui-shots/.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../main/serve/server.ts';
import type { LabService } from '../../main/service/lab-service.ts';
import { ROOT, SHOTS, startE2eLab, type E2eLab } from '../support/e2e.ts';


describe('variants in the UI', () => {
  let service: LabService;
  let server: RunningServer;
  let page: Page;
  let pageErrors: string[] = [];
  let lab: E2eLab;
  const poll = <T>(fn: () => Promise<T> | T, timeout = 30_000) => expect.poll(fn, { timeout, interval: 100 });

  beforeAll(async () => {
    lab = await startE2eLab('variants', { prepare: (d) => {
      // The shipped variants examples, and a long one to cancel.
      const examplesDir = join(d, 'examples');
      mkdirSync(examplesDir);
      for (const f of ['variants-strict-lazy.yaml', 'variants-aw-bits.yaml']) copyFileSync(join(ROOT, 'examples', f), join(examplesDir, f));
      writeFileSync(join(examplesDir, 'variants-long.yaml'), LONG);
      return examplesDir;
    } });
    ({ service, server, page, pageErrors } = lab);
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
  });

  it('Run (Ctrl+Enter) on a variants scenario runs every variant in order, groups them in the runs list, then opens the compare view', async () => {
    await page.goto(server.url);
    await page.locator('[data-testid=scenario-editor][data-ready=true]').waitFor({ timeout: 30_000 });
    const examples = page.getByTestId('examples-select');
    // Its own group in the picker.
    expect(await examples.locator('optgroup[label="variants: configurations compared"] option').evaluateAll((os) => os.map((o) => o.getAttribute('value')))).toEqual(['variants-aw-bits', 'variants-long', 'variants-strict-lazy']);
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

  it('Escape while the first variant runs cancels the group: every run cancelled, the waiting ones without events, no compare', async () => {
    await page.keyboard.press('Control+1');
    await page.getByTestId('examples-select').selectOption('variants-long');
    await poll(() => page.getByTestId('file-name').innerText()).toContain('variants-long');
    await page.getByTestId('run-button').click();
    // The first variant (run 3) is running and shown.
    await poll(() => page.locator('[data-testid=run-item][data-run-id="3"]').getAttribute('data-status')).toBe('running');
    await poll(async () => Number((await page.locator('[data-testid=run-item][data-run-id="3"] [data-testid=run-item-events]').innerText()).replace(/\D/g, ''))).toBeGreaterThan(0);
    await page.keyboard.press('Escape');
    await poll(() => page.locator('[data-testid=run-item]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-run-id'), e.getAttribute('data-status')]))).toEqual([
      ['5', 'cancelled'],
      ['4', 'cancelled'],
      ['3', 'cancelled'],
      ['2', 'done'],
      ['1', 'done'],
    ]);
    await poll(() => page.getByTestId('run-progress').count()).toBe(0);
    expect(await page.getByTestId('layout-workbench').isVisible()).toBe(true);
    expect((await service.call('getRun', { runId: 4 }))!.events).toBe(0);
    expect((await service.call('getRun', { runId: 3 }))!.events).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'variants-cancelled.png') });
    // Leaving the compare view while its diff computes must not reject (editor/monaco.ts createConfigDiff).
    expect(pageErrors).toEqual([]);
  }, 120_000);
});

/** Three variants of a long workload (5 M iterations): cancelled while the first runs. */
const LONG = `# Variants: a long workload in three widths, to cancel.
name: long widths
viommu: {model: virtio-iommu, aw-bits: 48}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
  - workload: {domain: 1, endpoint: nic0, count: 5000000, size: 4096, iova-base: 0x10000, phys-base: 0x80000000}
variants:
  - {name: aw-48}
  - {name: aw-39, viommu: {aw-bits: 39}}
  - {name: aw-32, viommu: {aw-bits: 32}}
`;
