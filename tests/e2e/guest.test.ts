// End to end (issue 8 §3): a guest DMA run's IOVA space view (the run view's second tab, chosen by
// click or keyboard and remembered; uPlot: lanes by kind, hover shows a range, a click selects its
// event, log2/linear scales), with the events table keeping issue 6's layout (15 rows at 1280×720,
// no horizontal page scroll at 1024×768) while it is shown, following one buffer through the layers
// from the event detail, and the examples picker's groups — in headless Chromium at 1280×720
// against `iommu-lab serve`. The run's events are written through the service's store (the shared
// group bug: a hotplugged device joins its root port's domain, its IOVAs land in a host hole and
// the host refuses the map; a lazy unmap touched in the window, then flushed), and a seed scenario
// (examples/seed-3-shared-group.yaml) is run through the lab. Screenshots go to .tmp/ui-shots/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_CATALOG, type EventKind, type FieldSpec, type KindSpec } from '../../core/events/catalog.ts';
import { computeMetrics } from '../../core/events/metrics.ts';
import type { SeqEvent } from '../../core/events/sink.ts';
import { startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { EventWriter } from '../../main/store/index.ts';
import { launchBrowser } from '../support/browser.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const RENDERER = join(ROOT, 'out/renderer');
const SHOTS = join(ROOT, '.tmp/ui-shots');

/** An event of `kind` from `component` in `step`, every required field neutral, then `over`. */
function ev(kind: EventKind, component: string, step: number, over: Record<string, unknown> = {}): Omit<SeqEvent, 'seq'> {
  const out: Record<string, unknown> = { kind, step, component };
  for (const [name, f] of Object.entries((EVENT_CATALOG[kind] as KindSpec).fields) as [string, FieldSpec][]) {
    if (!f.optional) out[name] = f.type === 'u64' ? 0n : f.type === 'json' ? {} : 0;
  }
  return { ...out, ...over } as unknown as Omit<SeqEvent, 'seq'>;
}

const RP = 0x08; // 00:01.0, the root port
const NIC = 0x18; // 00:03.0, hotplugged behind it
const T_MAP = 3;
const T_UNMAP = 4;

/** The shared-group run (see the file comment), with virtual times 1 µs apart. */
function sharedGroupRun(): Omit<SeqEvent, 'seq'>[] {
  const e: Omit<SeqEvent, 'seq'>[] = [];
  const ranges = [['0x0', '0xfedfffff'], ['0xfef00000', '0x7fffffffff']];
  e.push(ev('hiod-realize', 'hiod-vf0', -1, { status: 0, data: { device: 'vf0', variant: 'iommufd-vfio', awBits: 39, iovaRanges: ranges, pageSizeMask: '0x40201000' } }));
  e.push(ev('guest-probe', 'guest0', 0, {
    endpoint: RP,
    domain: 1,
    group: 0,
    init: 0,
    data: { device: 'rp0', hotplug: false, domainType: 'DMA-FQ', regions: [{ type: 'MSI', start: '0xfee00000', end: '0xfeefffff' }], aperture: ['0x0', '0xffffffffffffffff'], granule: 4096 },
  }));
  e.push(ev('iova-reserve', 'guest0', 0, { domain: 1, start: 0xfee00000n, end: 0xfeefffffn, data: { source: 'MSI', device: 'rp0' } }));
  e.push(ev('device-plug', 'guest0', 1, { endpoint: NIC, action: 1, status: 0, data: { device: 'nic0', host: 'vf0' } }));
  e.push(ev('guest-probe', 'guest0', 1, {
    endpoint: NIC,
    domain: 1,
    group: 0,
    init: 1,
    data: { device: 'nic0', hotplug: true, domainType: 'DMA-FQ', regions: [{ type: 'RESERVED', start: '0x8000000000', end: '0xffffffffffffffff' }], aperture: ['0x0', '0xffffffffffffffff'], granule: 4096 },
  }));
  const map = (step: number, handle: string, iova: bigint, pages: bigint, errno = 0): void => {
    e.push(ev('dma-map', 'guest0', step, { endpoint: NIC, domain: 1, iova, size: pages * 0x1000n, phys: 0x40000000n + (iova & 0xffffffn), dir: 2, outcome: 0, data: { device: 'nic0', handle, cpu: 0, pages: Number(pages), path: 'tree' } }));
    e.push(ev('guest-sync', 'guest0', step, { requests: 1, why: 0 }));
    const m = e.length;
    e.push(ev('map', 'viommu0', step, { domain: 1, virtStart: iova, virtEnd: iova + pages * 0x1000n - 1n, physStart: 0x40000000n, flags: 3 }));
    e.push(ev('host-call', 'iommufd0', step, { backend: 1, errno, id: 1, iova, length: pages * 0x1000n, cause: BigInt(m), call: { op: 'ioas-map', ioctl: 'IOMMU_IOAS_MAP', args: { 'ioas-id': 1, iova: `0x${iova.toString(16)}` }, out: {} } }));
    if (errno) e.push(ev('qemu-error', 'vfio-nic0', step, { data: { message: `vfio_container_dma_map(0x5581a2c3e000, 0x${iova.toString(16)}, 0x${(pages * 0x1000n).toString(16)}, 0x7f3c40000000) = -22 (Invalid argument)`, level: 'error' }, cause: BigInt(m) }));
    e.push(ev('request', 'viommu0', step, { reqType: T_MAP, status: 0, domain: 1, virtStart: iova, virtEnd: iova + pages * 0x1000n - 1n, physStart: 0x40000000n, reqFlags: 3, used: 4 }));
  };
  map(2, 'b0', 0xffffe000n, 2n);
  map(3, 'b1', 0xffffc000n, 2n);
  map(4, 'b2', 0xfffffffffffff000n, 1n, 22); // above the host's 2^39: the host refuses it
  e.push(ev('translate', 'viommu0', 5, { endpoint: NIC, domain: 1, iova: 0xffffe040n, phys: 0x40ffe040n, size: 64n, access: 2 }));
  e.push(ev('host-dma', 'dmar0', 5, { endpoint: 0x3b00, iova: 0xffffe040n, phys: 0x7f3c40ffe040n, size: 64n, access: 2, outcome: 0, domain: 3, data: { device: 'vf0', iommu: 'dmar0' } }));
  e.push(ev('dma-unmap', 'guest0', 6, { endpoint: NIC, domain: 1, iova: 0xffffe000n, size: 0x2000n, dir: 2, mode: 1, data: { device: 'nic0', handle: 'b0', cpu: 0 } }));
  e.push(ev('stale-access', 'guest0', 7, { endpoint: NIC, address: 0xffffe080n, sinceNs: 2000n, phys: 0x40ffe080n, access: 2, data: { device: 'nic0', handle: 'b0', unmappedAtNs: 0, path: 'viommu' } }));
  e.push(ev('guest-sync', 'guest0', 8, { requests: 1, why: 2, data: { windows: { count: 1, minNs: 4000, maxNs: 4000 } } }));
  const u = e.length;
  e.push(ev('unmap', 'viommu0', 8, { domain: 1, virtStart: 0xffffe000n, virtEnd: 0xffffffffn, physStart: 0x40000000n, flags: 3 }));
  e.push(ev('host-call', 'iommufd0', 8, { backend: 1, errno: 0, id: 1, iova: 0xffffe000n, length: 0x2000n, cause: BigInt(u), call: { op: 'ioas-unmap', ioctl: 'IOMMU_IOAS_UNMAP', args: { 'ioas-id': 1, iova: '0xffffe000' }, out: {} } }));
  e.push(ev('request', 'viommu0', 8, { reqType: T_UNMAP, status: 0, domain: 1, virtStart: 0xffffe000n, virtEnd: 0xffffffffn, used: 4 }));
  e.push(ev('fq-flush', 'guest0', 8, { domain: 1, reason: 1, freed: 1, data: { cpu: 0, startCnt: 1, finishCnt: 1, pending: 0 } }));
  return e;
}

describe('guest DMA views in a browser', () => {
  let dir: string;
  let server: RunningServer;
  let service: LabService;
  let browser: Browser;
  let page: Page;
  let runId: number;
  const pageErrors: string[] = [];
  const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });

  beforeAll(async () => {
    if (!existsSync(join(RENDERER, 'index.html'))) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'inherit' });
    }
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-guest-e2e-'));
    service = new LabService({ dbPath: join(dir, 'lab.db'), examplesDir: join(ROOT, 'examples'), warmRunWorker: false });
    const events = sharedGroupRun().map((x, seq) => ({ time: 1000 * seq, ...x, seq }) as SeqEvent);
    runId = service.store.createRun({ name: 'shared group: hotplugged nic0 joins the root port\'s domain', file: 'shared-group.yaml', scenarioText: 'name: shared group', steps: 9, totalUnits: 9 });
    const w = new EventWriter(service.store.path, runId);
    w.write(events);
    w.commit(9, 9);
    // The run's metrics count its kinds (the view is offered for guest DMA runs); without the runner's
    // component table, computeMetrics would call every component a virtio-iommu, so the layers come
    // from the events' families instead.
    const metrics = computeMetrics(events);
    delete metrics.components;
    w.finish({ status: 'done', doneUnits: 9, totalUnits: 9, metrics, stepResults: [{ index: 4, op: 'dma-map', line: 20, expectation: false, message: 'expected iova 0xffffb000' }], failedExpectations: 1, error: null });
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

  const detailSeq = async () => (await page.getByTestId('event-detail').locator('.count').innerText()).replace('#', '');

  it('draws the IOVA space with uPlot: lanes by kind, hover shows a range, a click selects its event, log2 and linear', async () => {
    const space = await service.call('getIovaSpace', { runId });
    const dom = space.domains[0];
    const count = (k: string) => dom.ranges.filter((r) => r.kind === k).length;
    // b0 unmapped; b1 and b2 live, b2 refused by the host; nic0's holes from vf0's usable ranges (its PROBE's RESERVED region is not needed).
    expect([count('reserved'), count('host-hole'), count('allocated'), count('failed')]).toEqual([1, 2, 2, 1]);

    await page.goto(server.url);
    await poll(() => page.getByTestId('run-name').innerText(), 30_000).toContain('shared group');
    // A guest DMA run's run view has two tabs, the steps table first and chosen by default; the IOVA
    // space is the second, reached by a click or the keyboard (arrows, Home, End), and remembered.
    const stepsTab = page.getByTestId('run-tab-steps');
    const iovaTab = page.getByTestId('run-tab-iova');
    await poll(() => stepsTab.getAttribute('aria-selected')).toBe('true');
    expect(await iovaTab.getAttribute('aria-selected')).toBe('false');
    expect(await page.getByTestId('pane-iova').count()).toBe(0);
    expect(await page.getByTestId('step-results').count()).toBe(1);
    expect(await page.locator('#run-panel-steps').getAttribute('role')).toBe('tabpanel');
    expect(await page.locator('#run-panel-steps').getAttribute('aria-labelledby')).toBe('run-tab-steps');
    expect(await page.getByTestId('run-tab-failed').count()).toBe(0); // the steps tab's title says it in words
    await iovaTab.click();
    await poll(() => page.getByTestId('pane-iova').count()).toBe(1);
    // The failed expectation stays in sight on the steps tab while the IOVA space is shown.
    expect(await page.getByTestId('run-tab-failed').innerText()).toBe('✕ 1');
    expect(await page.getByTestId('step-results').count()).toBe(0);
    await page.keyboard.press('ArrowLeft');
    await poll(() => stepsTab.getAttribute('aria-selected')).toBe('true');
    expect(await page.evaluate('document.activeElement?.dataset.testid')).toBe('run-tab-steps');
    expect(await page.getByTestId('pane-iova').count()).toBe(0);
    await page.keyboard.press('End');
    await poll(() => iovaTab.getAttribute('aria-selected')).toBe('true');
    expect(await page.evaluate('document.activeElement?.dataset.testid')).toBe('run-tab-iova');
    expect([await stepsTab.getAttribute('tabindex'), await iovaTab.getAttribute('tabindex')]).toEqual(['-1', '0']);
    expect(await page.getByTestId('pane-iova').getAttribute('role')).toBe('tabpanel');
    await page.reload();
    await poll(() => page.getByTestId('run-tab-iova').getAttribute('aria-selected'), 30_000).toBe('true');
    const plot = page.getByTestId('iova-plot');
    await poll(() => plot.getAttribute('data-bars')).toBe(String(dom.ranges.length));
    await poll(() => plot.locator('canvas').count()).toBe(1); // uPlot's canvas (loaded on first use)
    expect(await page.getByTestId('iova-legend-item').evaluateAll((els) => els.map((x) => [x.getAttribute('data-kind'), x.getAttribute('data-count')]))).toEqual([
      ['reserved', '1'],
      ['host-hole', '2'],
      ['allocated', '2'],
      ['failed', '1'],
    ]);
    expect(await page.getByTestId('iova-geometry').innerText()).toBe('aperture [0x0-0xffffffffffffffff] (16E) · granule 4K');
    expect(await page.getByTestId('iova-meta').innerText()).toBe('rp0 (first), nic0 (joined) · host holes from the HostIOMMUDevice usable ranges');

    // Hover along the 'failed' lane (the top one, y = 3 of [-0.6, 3.6]) until the tooltip shows the refused map.
    const over = await plot.locator('.u-over').boundingBox();
    expect(over).not.toBeNull();
    const laneY = (lane: number) => over!.y + over!.height * ((3.6 - lane) / 4.2);
    let found = false;
    for (let x = over!.x + over!.width - 1; x > over!.x && !found; x -= 2) {
      await page.mouse.move(x, laneY(3));
      found = (await page.getByTestId('iova-tooltip').count()) > 0;
    }
    expect(found).toBe(true);
    const tip = page.getByTestId('iova-tooltip');
    expect(await tip.innerText()).toMatch(/^failed \[0xfffffffffffff000-0xffffffffffffffff\] 4KB · host-call · EINVAL · event #\d+$/);
    const failedSeq = await tip.getAttribute('data-seq');
    await page.screenshot({ path: join(SHOTS, 'guest-iova-log2-1280x720.png') });
    await page.mouse.down();
    await page.mouse.up();
    await poll(detailSeq).toBe(failedSeq);
    expect(await page.getByTestId('detail-text').innerText()).toContain('IOMMU_IOAS_MAP');

    // Linear: a new plot; the 'allocated' bars are still found (drawn at least a few pixels wide).
    await page.getByTestId('iova-scale-linear').click();
    await poll(() => plot.getAttribute('data-scale')).toBe('linear');
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('follows a buffer from its dma-map: MAP request, host call, DMA, unmap, stale access, sync, UNMAP, flush; links select their events', async () => {
    // The ranges list under the plot selects the live allocation's dma-map (b1), then b0's is found through the table.
    const b0 = (await service.call('queryEvents', { runId, offset: 0, limit: 100, kinds: ['dma-map'] })).rows.find((r) => (r.fields.data as { handle?: string }).handle === 'b0')!;
    const chain = (await service.call('followBuffer', { runId, seq: b0.seq }))!;
    // The host call comes before its MAP request's event (the shadow maps while the request executes).
    expect(chain.links.map((l) => l.role)).toEqual([
      'dma-map',
      'host-call',
      'map-request',
      'translate',
      'host-dma',
      'dma-unmap',
      'stale-access',
      'guest-sync',
      'host-call',
      'unmap-request',
      'fq-flush',
    ]);
    await page.getByTestId('iova-range').filter({ hasText: 'b1' }).click();
    await poll(() => page.getByTestId('detail-text').innerText()).toContain('DMA MAP nic0');
    // Select b0's dma-map in the events table and follow it.
    const row = page.locator(`[data-testid=event-row][data-seq="${b0.seq}"]`);
    await row.click();
    await poll(detailSeq).toBe(String(b0.seq));
    await page.getByTestId('follow-buffer').click();
    const trail = page.getByTestId('buffer-trail');
    await trail.waitFor();
    const links = trail.getByTestId('buffer-link');
    await poll(() => links.count()).toBe(chain.links.length);
    expect(await links.evaluateAll((els) => els.map((x) => [Number(x.getAttribute('data-seq')), x.getAttribute('data-role'), x.getAttribute('data-layer')]))).toEqual(
      chain.links.map((l) => [l.seq, l.role, l.layer]),
    );
    expect(new Set(chain.links.map((l) => l.layer))).toEqual(new Set(['guest', 'viommu', 'backend', 'iommu']));
    expect(await trail.innerText()).toContain('[0xffffe000-0xffffffff]');
    // A link selects its event; the trail stays.
    const flush = chain.links.find((l) => l.role === 'fq-flush')!;
    await links.filter({ has: page.locator('.role', { hasText: 'fq-flush' }) }).click();
    await poll(detailSeq).toBe(String(flush.seq));
    expect(await page.getByTestId('buffer-trail').count()).toBe(1);
    expect(await page.getByTestId('detail-text').innerText()).toContain('FLUSH QUEUE domain 1 (timeout)');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'guest-buffer-trail-1280x720.png') });
    await page.getByTestId('buffer-trail-close').click();
    await poll(() => page.getByTestId('buffer-trail').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it("a seed scenario run through the lab (seed-3-shared-group.yaml): the refused map above 2^39 in the IOVA view, and its buffer's chain", async () => {
    const text = readFileSync(join(ROOT, 'examples/seed-3-shared-group.yaml'), 'utf8');
    const res = await service.call('startRun', { text, file: 'seed-3-shared-group.yaml' });
    expect(res.diagnostics.filter((x) => x.severity === 'error')).toEqual([]);
    const seedRun = res.runId!;
    expect((await waitForRun(service, seedRun)).error).toBeNull();
    const space = await service.call('getIovaSpace', { runId: seedRun });
    const failed = space.domains.flatMap((x) => x.ranges).filter((r) => r.kind === 'failed');
    expect(failed.map((r) => [r.start, r.end, r.label])).toEqual([['0xfffffffffffff000', '0xffffffffffffffff', 'EINVAL']]);
    await page.reload();
    await poll(() => page.getByTestId('run-name').innerText(), 30_000).toContain('Seed 3a');
    await poll(() => page.locator('[data-testid=iova-range][data-kind=failed]').count()).toBe(1);
    expect(await page.getByTestId('iova-meta').innerText()).toMatch(/rp1 \(first\), nic1 \(joined\)/);
    // The buffer's dma-map from the ranges list, then its chain.
    await page.locator('[data-testid=iova-range][data-kind=allocated]').first().click();
    await poll(() => page.getByTestId('detail-text').innerText()).toContain('DMA MAP nic1');
    await page.getByTestId('follow-buffer').click();
    const links = page.getByTestId('buffer-trail').getByTestId('buffer-link');
    await poll(async () => (await links.evaluateAll((els) => els.map((x) => x.getAttribute('data-role')))).slice(0, 3)).toEqual(['dma-map', 'host-call', 'qemu-error']);
    expect(await links.evaluateAll((els) => els.map((x) => x.getAttribute('data-role')))).toContain('map-request');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'guest-seed-3-shared-group-1280x720.png') });
    expect(pageErrors).toEqual([]);
  }, 120_000);

  /** Event rows entirely inside the table's scroll viewport (as workbench.test.ts counts them). */
  const visibleRows = (): Promise<number> =>
    page.getByTestId('events-scroller').evaluate((sc) => {
      const box = sc.getBoundingClientRect();
      return [...sc.querySelectorAll('[data-testid=event-row]')].filter((r) => {
        const b = r.getBoundingClientRect();
        return b.top >= box.top - 0.5 && b.bottom <= box.bottom + 0.5;
      }).length;
    });
  /** The page's scroll extents (the test's tsconfig has no DOM lib, so the page code is a string). */
  const pageSize = (): Promise<{ scrollWidth: number; clientWidth: number; scrollHeight: number; innerHeight: number }> =>
    page.evaluate(`({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth, scrollHeight: document.documentElement.scrollHeight, innerHeight: window.innerHeight })`);

  it("keeps the events table's space with the IOVA space shown (issue 6): 15 rows at 1280×720, no horizontal page scroll at 1024×768", async () => {
    // The seed run of the test above, its IOVA tab chosen (remembered).
    await page.setViewportSize({ width: 1280, height: 720 });
    await poll(() => page.getByTestId('run-tab-iova').getAttribute('aria-selected')).toBe('true');
    await poll(() => page.locator('[data-testid=iova-plot] canvas').count()).toBe(1);
    await poll(visibleRows).toBeGreaterThanOrEqual(15);
    let size = await pageSize();
    expect(size.scrollWidth).toBeLessThanOrEqual(size.clientWidth);
    expect(size.scrollHeight).toBeLessThanOrEqual(size.innerHeight);
    // The plot is inside the run pane and tall enough for its four lanes and the axis.
    const run = (await page.getByTestId('pane-run').boundingBox())!;
    const plot = (await page.getByTestId('iova-plot').boundingBox())!;
    expect(plot.height).toBeGreaterThanOrEqual(70);
    expect(plot.y + plot.height).toBeLessThanOrEqual(run.y + run.height + 0.5);
    expect(plot.x + plot.width).toBeLessThanOrEqual(run.x + run.width + 0.5);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'guest-iova-tab-1280x720.png') });

    await page.setViewportSize({ width: 1024, height: 768 });
    await poll(async () => (await pageSize()).scrollWidth).toBeLessThanOrEqual(1024);
    size = await pageSize();
    expect(size.scrollWidth).toBeLessThanOrEqual(size.clientWidth);
    expect(size.scrollHeight).toBeLessThanOrEqual(size.innerHeight);
    expect(await visibleRows()).toBeGreaterThanOrEqual(15);
    await page.screenshot({ path: join(SHOTS, 'guest-iova-tab-1024x768.png') });
    await page.setViewportSize({ width: 1920, height: 1080 });
    await poll(visibleRows).toBeGreaterThanOrEqual(15);
    await page.screenshot({ path: join(SHOTS, 'guest-iova-tab-1920x1080.png') });
    await page.setViewportSize({ width: 1280, height: 720 });
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('groups the examples picker, each example with its line on what it shows', async () => {
    const listed = await service.call('listExamples', {});
    const groups = await page.getByTestId('examples-select').locator('optgroup').evaluateAll((gs) => gs.map((g) => [g.getAttribute('label'), g.querySelectorAll('option').length]));
    const expected = new Map<string, number>();
    for (const x of listed) expected.set(x.group, (expected.get(x.group) ?? 0) + 1);
    expect(new Map(groups as [string, number][])).toEqual(expected);
    expect(groups[0][0]).toBe('virtio-iommu');
    const quick = listed.find((x) => x.name === 'quickstart')!;
    expect(quick.line).toBe('Quickstart: the scenario format in one file.');
    expect(await page.locator('[data-testid=examples-select] option[value=quickstart]').innerText()).toBe(`${quick.title} — ${quick.line}`);
    expect(listed.find((x) => x.name === 'host-map-failure')!.group).toBe('host side');
  });
});
