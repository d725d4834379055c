// End to end (issue 9 §1): importing a trace in the UI served by `iommu-lab serve`, in headless
// Chromium at 1280×720 — "Import trace…" with a QEMU -trace log: the trace appears in the runs list
// (TRACE, format, lines, unknown lines), its header lists the unknown lines by number, and the
// events table shows each event's line in the file; a file no importer recognises leaves a notice
// and stores nothing. Screenshots go to .tmp/ui-shots/.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../main/serve/server.ts';
import { SHOTS, startE2eLab, type E2eLab } from '../support/e2e.ts';


// Lines from QEMU's hw/virtio/trace-events and backends/trace-events format strings (reference A2),
// with the old `tid@sec.usec:` prefix; one line QEMU never printed.
const QEMU_LOG = [
  '4242@1733044380.000100:virtio_iommu_attach domain=1 endpoint=24',
  '4242@1733044380.000200:virtio_iommu_map domain=1 virt_start=0xfffff000 virt_end=0xffffffff phys_start=0x40000000 flags=2',
  '4242@1733044380.000300:iommufd_backend_map_dma  iommufd=10 ioas=2 iova=0xfffff000 size=0x1000 addr=0x7f3c40000000 readonly=0 (0)',
  'not a QEMU trace line at all',
  '4242@1733044380.000400:virtio_iommu_unmap domain=1 virt_start=0xfffff000 virt_end=0xffffffff',
  '',
].join('\n');

describe('importing a trace in the UI', () => {
  let dir: string;
  let server: RunningServer;
  let page: Page;
  let pageErrors: string[] = [];
  let lab: E2eLab;
  const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });

  beforeAll(async () => {
    lab = await startE2eLab('import', { warmRunWorker: false, prepare: () => undefined });
    ({ dir, server, page, pageErrors } = lab);
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
  });

  it('imports a QEMU -trace log: runs list, header with unknown lines, events with their lines', async () => {
    const log = join(dir, 'qemu-trace.log');
    writeFileSync(log, QEMU_LOG);
    await page.goto(server.url);
    await poll(() => page.getByTestId('import-button').isEnabled()).toBe(true);
    await page.getByTestId('trace-input').setInputFiles(log);
    await poll(() => page.getByTestId('run-item-trace').count(), 20_000).toBe(1);
    expect(await page.getByTestId('run-item-trace').innerText()).toBe('TRACE qemu trace · 5 lines · 1 unknown');
    await poll(() => page.getByTestId('run-name').innerText()).toBe('qemu-trace.log');
    expect(await page.getByTestId('run-trace-format').innerText()).toBe('trace qemu');
    expect(await page.getByTestId('run-trace-unknown').innerText()).toContain('1 unknown line: 4');
    // A trace has no steps: its pane says where it came from and how its lines were read.
    expect(await page.getByTestId('step-results').count()).toBe(0);
    expect((await page.getByTestId('trace-source-lines').innerText()).trim()).toBe('5: 4 events, 0 headers, 0 ignored, 1 unknown, 0 malformed');
    expect(await page.getByTestId('trace-source').innerText()).toMatch(/format\s+qemu \(detected: ftrace 0, kmsg 0, qemu 0\.8\)/);
    await poll(() => page.getByTestId('event-row').count()).toBe(4);
    const rows = await page.getByTestId('event-row').evaluateAll((els) => els.map((e) => [e.querySelector('.step')!.textContent!.trim(), e.getAttribute('data-kind')]));
    expect(rows).toEqual([
      ['1', 'trace-attach'],
      ['2', 'trace-map'],
      ['3', 'trace-map'],
      ['5', 'trace-unmap'],
    ]);
    expect(await page.locator('.table .head .step').innerText()).toBe('line');
    // Times count from the trace's first event (its own timestamps: 100 µs apart).
    expect(await page.getByTestId('event-row').evaluateAll((els) => els.map((e) => e.querySelector('.time')!.textContent!.trim()))).toEqual(['0.0µs', '100.0µs', '200.0µs', '300.0µs']);
    await page.screenshot({ path: join(SHOTS, 'import-trace.png') });
  });

  it('stores nothing and says why when no importer recognises the file', async () => {
    const prose = join(dir, 'notes.txt');
    writeFileSync(prose, 'Dear list,\nthe attached patch fixes the race.\n');
    await page.getByTestId('trace-input').setInputFiles(prose);
    await poll(() => page.getByTestId('error-banner').allInnerTexts()).toEqual(expect.arrayContaining([expect.stringContaining('notes.txt: nothing imported — cannot tell the trace format')]));
    expect(await page.getByTestId('run-item').count()).toBe(1);
    expect(pageErrors).toEqual([]);
  });

  it('asks before keeping a trace with malformed lines, and keeps it as a partial import when told to', async () => {
    const bad = join(dir, 'bad-qemu.log');
    writeFileSync(bad, QEMU_LOG + '4242@1733044380.000500:virtio_iommu_map domain=1 virt_start=0xzz\n');
    const dialogs: string[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await page.getByTestId('trace-input').setInputFiles(bad);
    await poll(() => page.getByTestId('run-item-trace').count(), 20_000).toBe(2);
    expect(dialogs[0]).toMatch(/^bad-qemu\.log: 1 malformed line of known events \(line 6: virtio_iommu_map: expected/);
    expect(await page.getByTestId('run-item-trace').first().innerText()).toBe('TRACE qemu trace · 6 lines · 1 unknown · 1 malformed skipped');
    await poll(() => page.getByTestId('run-trace-unknown').innerText()).toContain('1 malformed line skipped (partial import): line 6');
    await page.screenshot({ path: join(SHOTS, 'import-partial.png') });
    expect(pageErrors).toEqual([]);
  });
});
