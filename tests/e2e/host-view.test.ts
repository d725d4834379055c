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
import { EVENT_CATALOG, type EventKind, type FieldSpec, type KindSpec } from '../../core/events/catalog.ts';
import type { SeqEvent } from '../../core/events/sink.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { EventWriter } from '../../main/store/index.ts';
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

/** An event of `kind` from `component` in `step`, every required field neutral (0, 0n, {}), then `over`. */
function ev(kind: EventKind, component: string, step: number, over: Record<string, unknown> = {}): Omit<SeqEvent, 'seq'> {
  const out: Record<string, unknown> = { kind, step, component };
  for (const [name, f] of Object.entries((EVENT_CATALOG[kind] as KindSpec).fields) as [string, FieldSpec][]) {
    if (!f.optional) out[name] = f.type === 'u64' ? 0n : f.type === 'json' ? {} : 0;
  }
  return { ...out, ...over } as unknown as Omit<SeqEvent, 'seq'>;
}

const IOCTLS: Record<string, string> = {
  'ioas-alloc': 'IOMMU_IOAS_ALLOC',
  'ioas-map': 'IOMMU_IOAS_MAP',
  'ioas-unmap': 'IOMMU_IOAS_UNMAP',
  'device-bind': 'VFIO_DEVICE_BIND_IOMMUFD',
  'device-attach': 'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
  'ioas-iova-ranges': 'IOMMU_IOAS_IOVA_RANGES',
};

/** One iommufd call by 'iommufd0' (errno 0 = OK), caused by guest event `cause` when given. */
function call(step: number, op: string, args: Record<string, unknown>, out: Record<string, unknown>, errno = 0, cause?: number): Omit<SeqEvent, 'seq'> {
  const extra: Record<string, unknown> = {};
  if (typeof args['ioas-id'] === 'number') extra.id = args['ioas-id'];
  if (typeof args.iova === 'string') extra.iova = BigInt(args.iova);
  if (typeof args.length === 'string') extra.length = BigInt(args.length);
  if (cause !== undefined) extra.cause = BigInt(cause);
  return ev('host-call', 'iommufd0', step, { backend: 1, errno, call: { op, ioctl: IOCTLS[op] ?? op, args, out: errno ? {} : out }, ...extra });
}

const NIC = 0x18; // 00:03.0
const VF = 0x3b00; // 3b:00.0
const MAP = 3;
const UNMAP = 4;

/**
 * The events of a guest MAP shadowed into iommufd, as the machine records them (issue 7 §4): an
 * assigned NIC's plug (bind, IOAS, auto domain, HostIOMMUDevice, set_iommu_device), then guest
 * MAP/UNMAP requests whose host calls name their 'map'/'unmap' event as cause — one above the
 * host's 39-bit aperture fails with QEMU's error — and the device's DMA through the host IOMMU.
 * Written straight into the store (independent of the scenario syntax).
 */
function shadowRun(): Omit<SeqEvent, 'seq'>[] {
  const e: Omit<SeqEvent, 'seq'>[] = [];
  const at = () => e.length;
  e.push(ev('iommu-group', 'dmar0', -1, { group: 7, data: { iommu: 'dmar0', devices: ['vf0'], why: 'ACS isolated' } }));
  e.push(call(-1, 'ioas-alloc', {}, { 'out-ioas-id': 1 }));
  e.push(call(-1, 'device-bind', { device: 'vf0' }, { 'out-dev-id': 2 }));
  e.push(call(-1, 'device-attach', { 'dev-id': 2, 'pt-id': 1 }, { 'pt-id': 3 }));
  e.push(call(-1, 'ioas-iova-ranges', { 'ioas-id': 1 }, { 'num-iovas': 2, ranges: [['0x0', '0xfedfffff'], ['0xfef00000', '0x7fffffffff']] }));
  e.push(ev('hiod-realize', 'hiod-vf0', -1, { status: 0, data: { device: 'vf0', variant: 'iommufd-vfio', awBits: 39, iovaRanges: [['0x0', '0xfedfffff'], ['0xfef00000', '0x7fffffffff']], pageSizeMask: '0x40201000' } }));
  e.push(ev('set-iommu-device', 'viommu0', -1, { endpoint: NIC, status: 0, data: { device: 'vf0', viommu: 'viommu0' } }));
  e.push(ev('device-plug', 'nic0', -1, { endpoint: NIC, action: 0, status: 0, data: { device: 'nic0', host: 'vf0' } }));
  e.push(ev('attach', 'viommu0', 0, { domain: 1, endpoint: NIC }));
  e.push(ev('request', 'viommu0', 0, { reqType: 1, status: 0, domain: 1, endpoint: NIC, used: 4 }));
  const guestMap = (step: number, iova: bigint, size: bigint, errno = 0): void => {
    const m = at();
    e.push(ev('map', 'viommu0', step, { domain: 1, virtStart: iova, virtEnd: iova + size - 1n, physStart: 0x80000000n + iova, flags: 3 }));
    e.push(call(step, 'ioas-map', { 'ioas-id': 1, iova: `0x${iova.toString(16)}`, length: `0x${size.toString(16)}`, flags: ['fixed-iova', 'readable', 'writeable'] }, { iova: `0x${iova.toString(16)}` }, errno, m));
    if (errno) e.push(ev('qemu-error', 'vfio-nic0', step, { data: { message: `vfio_container_dma_map(0x5581a2c3e000, 0x${iova.toString(16)}, 0x${size.toString(16)}, 0x7f3c${(0x80000000n + iova).toString(16)}) = -22 (Invalid argument)`, level: 'error' }, cause: BigInt(m) }));
    e.push(ev('request', 'viommu0', step, { reqType: MAP, status: 0, domain: 1, virtStart: iova, virtEnd: iova + size - 1n, physStart: 0x80000000n + iova, reqFlags: 3, used: 4 }));
  };
  const guestUnmap = (step: number, iova: bigint, size: bigint): void => {
    const m = at();
    e.push(ev('unmap', 'viommu0', step, { domain: 1, virtStart: iova, virtEnd: iova + size - 1n }));
    e.push(call(step, 'ioas-unmap', { 'ioas-id': 1, iova: `0x${iova.toString(16)}`, length: `0x${size.toString(16)}` }, { length: `0x${size.toString(16)}` }, 0, m));
    e.push(ev('request', 'viommu0', step, { reqType: UNMAP, status: 0, domain: 1, virtStart: iova, virtEnd: iova + size - 1n, used: 4 }));
  };
  guestMap(1, 0x10000n, 0x2000n);
  guestMap(2, 0x8000000000n, 0x1000n, 22); // above the host's 39-bit aperture
  e.push(ev('host-dma', 'dmar0', 3, { endpoint: VF, iova: 0x10040n, phys: 0x80010040n, size: 64n, access: 2, outcome: 0, domain: 3, data: { device: 'vf0', iommu: 'dmar0' } }));
  e.push(ev('host-dma', 'dmar0', 4, { endpoint: VF, iova: 0x8000000000n, size: 8n, access: 2, outcome: 1, domain: 3, data: { device: 'vf0', iommu: 'dmar0', reason: 'address beyond the domain aperture' } }));
  e.push(ev('host-fault', 'dmar0', 4, { endpoint: VF, address: 0x8000000000n, access: 2, data: { device: 'vf0', iommu: 'dmar0', reason: 'DMAR fault: address beyond the MGAW' } }));
  for (let i = 0n; i < 12n; i++) {
    guestMap(5, 0x100000n + i * 0x2000n, 0x2000n);
    guestUnmap(5, 0x100000n + i * 0x2000n, 0x2000n);
  }
  return e;
}

const SCRIPTED = `name: "iommufd objects: IOAS, nest-parent HWPT, vIOMMU, vDEVICE; EBUSY; a VFIO-compat container"
host:
  iommus:
    - {name: smmu0, model: arm-smmuv3, aw-bits: 48, nesting: true, dirty-tracking: true}
  devices:
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: smmu0}
    - {name: vf1, bdf: "0000:3c:00.0", type: vfio-pci, iommu: smmu0}
backend: iommufd
steps:
  - iommufd: {op: ioas-alloc, out: ioas1}
  - iommufd: {op: ioas-map, ioas: ioas1, iova: 0x10000, length: 0x2000, flags: [fixed-iova, readable, writeable]}
  - iommufd: {op: device-bind, device: vf0, out: dev0}
  - iommufd: {op: hwpt-alloc, dev: dev0, pt: ioas1, flags: [nest-parent, dirty-tracking], out: hwpt0}
  - iommufd: {op: viommu-alloc, dev: dev0, hwpt: hwpt0, type: arm-smmuv3, out: viommu0}
  - iommufd: {op: vdevice-alloc, viommu: viommu0, dev: dev0, virt-id: 7, out: vdev0}
  - iommufd: {op: device-attach, dev: dev0, pt: hwpt0}
  - iommufd: {op: destroy, id: hwpt0}
    expect: EBUSY
  - vfio: {op: container-open, out: c0}
  - vfio: {op: group-set-container, group: vf1, container: c0}
  - vfio: {op: set-iommu, container: c0, type: type1v2}
  - vfio: {op: map-dma, container: c0, iova: 0x0, size: 0x1000, flags: [read, write]}
`;

const SHADOW = `name: "A guest MAP shadowed into iommufd; one above the host's 39-bit aperture fails on the host"
host:
  iommus:
    - {name: dmar0, model: intel-vtd, aw-bits: 39}
  devices:
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0}
backend: iommufd
viommu: {model: virtio-iommu}
devices:
  - {name: nic0, bdf: "00:03.0", host: vf0}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - map: {domain: 1, virt-start: 0x10000, virt-end: 0x11fff, phys-start: 0x80000000, flags: [read, write]}
    expect: OK
  - map: {domain: 1, virt-start: 0x8000000000, virt-end: 0x8000000fff, phys-start: 0x90000000, flags: [read, write]}
    expect: OK
  - host-dma: {device: vf0, iova: 0x10000, size: 8, access: write}
  - unmap: {domain: 1, virt-start: 0x10000, virt-end: 0x11fff}
  - workload: {domain: 1, endpoint: nic0, count: 8, size: 0x2000, iova-base: 0x100000, phys-base: 0x40000000}
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

  it('links a guest request to the host calls it caused and back, and shows the object table at the selected event', async () => {
    const events = shadowRun();
    const runId = service.store.createRun({ name: 'guest MAP shadowed into iommufd (recorded events)', file: 'shadow.yaml', scenarioText: 'name: shadow', steps: 6, totalUnits: 6 });
    const w = new EventWriter(service.store.path, runId);
    w.write(events.map((e, seq) => ({ ...e, seq }) as SeqEvent));
    w.commit(6, 6);
    w.finish({ status: 'done', doneUnits: 6, totalUnits: 6, metrics: null, stepResults: [], failedExpectations: 0, error: null });
    const seqOf = (pred: (e: Record<string, unknown>) => boolean): number => events.findIndex((e) => pred(e as unknown as Record<string, unknown>));
    const mapOk = seqOf((e) => e.kind === 'request' && e.reqType === MAP);
    const failedCall = seqOf((e) => e.kind === 'host-call' && e.errno === 22);
    const failedMap = failedCall - 1;
    const failedReq = failedCall + 2;

    await page.goto(server.url);
    await page.locator(`[data-testid=run-item]`).first().click();
    await poll(() => page.getByTestId('run-name').innerText()).toContain('shadowed into iommufd');

    // Components by layer, guest side first; each with its count.
    const bar = page.getByTestId('components-bar');
    await poll(async () => (await bar.locator('[data-testid^=layer-]').allTextContents()).join(' ')).toBe('guest vIOMMU hiod backend IOMMU');
    const comps = await service.call('listComponents', { runId });
    for (const c of comps) expect(await page.getByTestId(`component-${c.id || 'run'}`).getAttribute('data-events')).toBe(String(c.events));
    const iommufd = comps.find((c) => c.id === 'iommufd0')!;
    expect(iommufd).toMatchObject({ layer: 'backend', problems: 1 });
    await page.getByTestId('component-iommufd0').click();
    await poll(total).toBe(iommufd.events);
    expect((await rows().locator('.comp').allInnerTexts()).every((t) => t === 'iommufd0')).toBe(true);
    await page.getByTestId('component-iommufd0').click();
    await poll(total).toBe(events.length);

    // The guest's MAP request → its IOMMU_IOAS_MAP, OK.
    await page.locator(`[data-testid=event-row][data-seq="${mapOk}"]`).click();
    const caused = page.getByTestId('caused-link');
    await poll(() => caused.count()).toBe(1);
    expect(await caused.first().getAttribute('data-errno')).toBe('OK');
    expect(await caused.first().innerText()).toContain('IOMMU_IOAS_MAP');

    // The MAP above the aperture: the host call's EINVAL and QEMU's error, both linked.
    await page.locator(`[data-testid=event-row][data-seq="${failedReq}"]`).click();
    await poll(async () => (await caused.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-seq')} ${e.getAttribute('data-errno')}`))).join(', ')).toBe(
      `${failedCall} EINVAL, ${failedCall + 1} error`,
    );
    expect(await page.getByTestId('caused-links').innerText()).toContain('vfio_container_dma_map(');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'shadow-links-1280x720.png') });

    // Keyboard: Tab to the EINVAL link, Enter selects that host call; its detail links back to the guest 'map'.
    await caused.first().focus();
    await page.keyboard.press('Enter');
    await poll(() => page.getByTestId('events-table').getAttribute('data-selected')).toBe(String(failedCall));
    const back = page.getByTestId('cause-link');
    await poll(() => back.getAttribute('data-seq')).toBe(String(failedMap));
    expect(await back.innerText()).toContain('map');
    await back.focus();
    await page.keyboard.press('Enter');
    await poll(() => page.getByTestId('events-table').getAttribute('data-selected')).toBe(String(failedMap));

    // The object view at the failed call: the IOAS with the one area mapped, the device attached to its auto domain.
    await page.locator(`[data-testid=event-row][data-seq="${failedCall}"]`).click();
    if ((await page.getByTestId('host-objects').count()) === 0) await page.getByTestId('toggle-objects').click();
    // The view follows the selection asynchronously, and the map selected before shows the same
    // three objects: wait for the view at the call itself before reading it.
    await poll(() => page.getByTestId('host-objects-at').innerText()).toContain(`after #${failedCall}`);
    const objects = page.getByTestId('host-object');
    await poll(async () => (await objects.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-type')}#${e.getAttribute('data-id')}`))).join(' ')).toBe(
      'ioas#1 device#2 hwpt-paging#3',
    );
    const text = await page.getByTestId('host-objects').innerText();
    expect(text).toMatch(/IOAS[\s\S]*1 area 8\.0 KiB/);
    expect(text).toMatch(/DEVICE[\s\S]*attached→HWPT_PAGING 3[\s\S]*vf0/);
    expect(text).toMatch(/HWPT_PAGING[\s\S]*ioas→IOAS 1[\s\S]*auto domain/);
    expect(await page.getByTestId('host-objects-at').innerText()).toContain(`after #${failedCall}`);
    await poll(visibleRows).toBeGreaterThanOrEqual(15);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'shadow-objects-1280x720.png') });

    // Before the plug, no objects; in the workload, two areas while one of its maps is live; at the
    // end (End key), the first MAP's area only (each workload MAP was unmapped).
    await rows().first().click();
    await poll(() => objects.count()).toBe(0);
    const workloadMap = seqOf((e) => e.kind === 'host-call' && e.step === 5);
    await page.locator(`[data-testid=event-row][data-seq="${workloadMap}"]`).click();
    await poll(() => page.getByTestId('host-objects').innerText()).toMatch(/IOAS[\s\S]*2 areas 16\.0 KiB/);
    await page.getByTestId('events-scroller').press('End');
    await poll(() => page.getByTestId('host-objects-at').textContent()).toContain(`after #${events.length - 1}`);
    expect(await page.getByTestId('host-objects').innerText()).toMatch(/IOAS[\s\S]*1 area 8\.0 KiB/);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('runs a scenario whose guest MAPs are shadowed into iommufd: request → host calls → errno, and the objects QEMU made', async () => {
    const runId = await runScenario(SHADOW, 'shadow-run.yaml');
    await page.goto(server.url);
    await poll(() => page.getByTestId('run-name').innerText(), 30_000).toContain('shadowed into iommufd');
    const comps = await service.call('listComponents', { runId });
    const layers = [...new Set(comps.map((c) => c.layer))];
    expect(layers.slice(0, 3)).toEqual(['guest', 'viommu', 'host-iommu-device'].filter((l) => layers.includes(l)));
    expect(comps.find((c) => c.id === 'iommufd0')).toMatchObject({ layer: 'backend' });
    for (const c of comps) expect(await page.getByTestId(`component-${c.id || 'run'}`).getAttribute('data-events')).toBe(String(c.events));

    // The failed MAP's request: its host calls with their errno, QEMU's errors after them.
    const reqs = await service.call('queryEvents', { runId, offset: 0, limit: 100, kinds: ['request'] });
    const maps = reqs.rows.filter((r) => r.text.startsWith('REQUEST MAP'));
    const failing = maps[1];
    await page.locator(`[data-testid=event-row][data-seq="${failing.seq}"]`).click();
    const caused = page.getByTestId('caused-link');
    await poll(() => caused.count()).toBeGreaterThanOrEqual(2);
    const links = await caused.evaluateAll((els) => els.map((e) => e.getAttribute('data-errno')));
    expect(links[0]).toBe('EINVAL');
    expect(links.slice(1).every((l) => l === 'error')).toBe(true);
    expect(await page.getByTestId('caused-links').innerText()).toMatch(/IOMMU_IOAS_MAP[\s\S]*vfio_container_dma_map\(/);
    // The guest saw OK (QEMU's notifier cannot fail the request).
    expect(await page.getByTestId('detail-text').innerText()).toContain('REQUEST MAP → OK');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'shadow-run-links-1280x720.png') });

    // Follow the EINVAL call with the keyboard; its detail links back to the guest 'map'.
    const einval = Number(await caused.first().getAttribute('data-seq'));
    await caused.first().focus();
    await page.keyboard.press('Enter');
    await poll(() => page.getByTestId('events-table').getAttribute('data-selected')).toBe(String(einval));
    const back = page.getByTestId('cause-link');
    await back.waitFor();
    expect(await back.innerText()).toMatch(/map\s*MAP domain=1 \[0x8000000000/);

    // The objects QEMU's plug made: the device bound and attached to its auto domain in the IOAS, one area mapped.
    if ((await page.getByTestId('host-objects').count()) === 0) await page.getByTestId('toggle-objects').click();
    const objects = page.getByTestId('host-object');
    await poll(async () => (await objects.evaluateAll((els) => els.map((e) => e.getAttribute('data-type')))).sort().join(' ')).toBe('device hwpt-paging ioas');
    const text = await page.getByTestId('host-objects').innerText();
    expect(text).toMatch(/IOAS[\s\S]*1 area 8\.0 KiB/);
    expect(text).toMatch(/DEVICE[\s\S]*attached→HWPT_PAGING \d+[\s\S]*vf0/);
    expect(text).toMatch(/HWPT_PAGING[\s\S]*ioas→IOAS \d+[\s\S]*auto domain/);
    await poll(visibleRows).toBeGreaterThanOrEqual(15);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'shadow-run-objects-1280x720.png') });
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('shows the object table of a scripted iommufd and VFIO run at its EBUSY destroy', async () => {
    const runId = await runScenario(SCRIPTED, 'objects.yaml');
    await page.goto(server.url);
    await poll(() => page.getByTestId('run-name').innerText(), 30_000).toContain('iommufd objects');
    const detail = await service.call('queryEvents', { runId, offset: 0, limit: 100, kinds: ['host-call'] });
    const ebusy = detail.rows.find((r) => r.fields.errno === 16)!;
    expect(ebusy.text).toContain('IOMMU_DESTROY');
    await page.getByTestId('component-iommufd0').click();
    await poll(total).toBe(detail.total);
    await page.locator(`[data-testid=event-row][data-seq="${ebusy.seq}"]`).click();
    if ((await page.getByTestId('host-objects').count()) === 0) await page.getByTestId('toggle-objects').click();
    const objects = page.getByTestId('host-object');
    await poll(async () => (await objects.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-type')}#${e.getAttribute('data-id')}`))).join(' ')).toBe(
      'ioas#1 device#2 hwpt-paging#3 viommu#4 vdevice#5',
    );
    const text = await page.getByTestId('host-objects').innerText();
    expect(text).toMatch(/HWPT_PAGING[\s\S]*ioas→IOAS 1[\s\S]*nest-parent dirty-tracking/);
    expect(text).toMatch(/VIOMMU[\s\S]*hwpt→HWPT_PAGING 3/);
    expect(text).toMatch(/VDEVICE[\s\S]*viommu→VIOMMU 4[\s\S]*dev→DEVICE 2/);
    // users: the HWPT is held by the attached device and the vIOMMU (hence EBUSY).
    expect(await page.locator('[data-testid=host-object][data-type=hwpt-paging] .users').innerText()).toBe('2');
    // An object links to the call that created it.
    const hwptAlloc = detail.rows.find((r) => r.text.startsWith('IOMMU_HWPT_ALLOC'))!;
    await page.locator('[data-testid=host-object][data-type=hwpt-paging]').click();
    await poll(() => page.getByTestId('detail-text').innerText()).toContain('IOMMU_HWPT_ALLOC');
    expect(await page.getByTestId('events-table').getAttribute('data-selected')).not.toBe('');
    expect(hwptAlloc.seq).toBeLessThan(ebusy.seq);
    await page.locator(`[data-testid=event-row][data-seq="${ebusy.seq}"]`).click();
    await poll(() => page.getByTestId('host-objects-at').textContent()).toContain(`after #${ebusy.seq}`);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'scripted-objects-1280x720.png') });
    // At the run's last event: the VFIO-compat container with its group and mapping too.
    await page.getByTestId('component-iommufd0').click();
    await poll(total).toBeGreaterThan(detail.total);
    await page.getByTestId('events-scroller').press('End');
    await poll(() => page.locator('[data-testid=host-object][data-type=vfio-group]').count()).toBe(1);
    expect(await page.getByTestId('host-objects').innerText()).toMatch(/CONTAINER[\s\S]*type1v2[\s\S]*1 area 4\.0 KiB/);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
