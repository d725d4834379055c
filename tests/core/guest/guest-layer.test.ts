/**
 * The guest DMA layer through whole runs (core/guest + core/run): what the guest kernel's
 * dma-iommu and virtio-iommu driver do, asserted on the event stream and the step results —
 * carving on first init only, the 32-bit-first switch, strict syncs, flush-queue limits and
 * timeouts on the virtual clock, stale translations, the listener-mode warning.
 */
import { describe, expect, it } from 'vitest';
import { runScenarioText } from '../../../core/run/index.ts';
import type { SeqEvent } from '../../../core/events/sink.ts';
import type { StepResult } from '../../../core/contract/index.ts';

const HOST = `machine: q35
host:
  iommus:
    - {name: dmar0, model: intel-vtd, aw-bits: 39}
  devices:
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0}
    - {name: vf1, bdf: "0000:3c:00.0", type: vfio-pci, iommu: dmar0}
backend: iommufd
`;

function run(text: string): { events: SeqEvent[]; results: StepResult[] } {
  const { diagnostics, run: r } = runScenarioText(`name: t\n${text}`, 't.yaml');
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const events: SeqEvent[] = [];
  while (r!.advance(10_000)) events.push(...r!.takeEvents());
  events.push(...r!.takeEvents());
  expect(r!.failure).toBeNull();
  return { events, results: r!.stepResults() };
}

const of = <K extends SeqEvent['kind']>(events: SeqEvent[], kind: K) => events.filter((e): e is Extract<SeqEvent, { kind: K }> => e.kind === kind);
const data = (e: SeqEvent) => (e as unknown as { data: Record<string, unknown> }).data;

describe('default domains and carving (iommu_dma_init_domain)', () => {
  it('carves the reserved regions of the device that initialises the group, and nothing for one that joins', () => {
    const { events } = run(`${HOST}viommu: {model: virtio-iommu, aw-bits: 64}
guest: {iommu-dma: strict}
devices:
  - {name: rp1, bdf: "00:1c.0", type: root-port, acs: false}
  - {name: nic1, bdf: "01:00.0", host: vf1, behind: rp1}
steps:
  - device-add: {device: nic1}
`);
    const probes = of(events, 'guest-probe');
    expect(probes.map((p) => [data(p).device, p.group, p.domain, p.init])).toEqual([
      ['rp1', 0, 0, 0],
      ['nic1', 0, 0, 1],
    ]);
    // nic1's PROBE reported the host hole, but only rp1's MSI window was carved.
    expect((data(probes[1]).regions as { type: string }[]).map((r) => r.type)).toEqual(['MSI', 'RESERVED']);
    expect(of(events, 'iova-reserve').map((r) => [r.start, r.end, data(r).source, data(r).device])).toEqual([[0xfee00000n, 0xfeefffffn, 'MSI', 'rp1']]);
    // The hotplugged device was attached to the group's existing domain.
    expect(of(events, 'attach').map((a) => [a.endpoint, a.domain])).toEqual([
      [0xe0, 0],
      [0x100, 0],
    ]);
  });

  it('gives a device behind an ACS root port its own group and domain, carving its host hole', () => {
    const { events } = run(`${HOST}viommu: {model: virtio-iommu, aw-bits: 64}
guest: {iommu-dma: strict}
devices:
  - {name: rp1, bdf: "00:1c.0", type: root-port}
  - {name: nic1, bdf: "01:00.0", host: vf1, behind: rp1}
steps:
  - dma-map: {device: nic1, size: 0x1000, dir: to-device}
`);
    expect(of(events, 'guest-probe').map((p) => [p.group, p.domain, p.init])).toEqual([
      [0, 0, 0],
      [1, 1, 0],
    ]);
    expect(of(events, 'iova-reserve').filter((r) => data(r).device === 'nic1').map((r) => [r.start, r.end])).toEqual([
      [0xfee00000n, 0xfeefffffn],
      [0x8000000000n, 0xffffffffffffffffn],
    ]);
  });
});

describe('IOVA allocation (iommu_dma_alloc_iova)', () => {
  it('tries 32-bit IOVAs first, switches for good on the first failure with one notice, and clamps to the aperture', () => {
    const { events, results } = run(`${HOST}viommu: {model: virtio-iommu, aw-bits: 48}
guest: {iommu-dma: strict}
devices:
  - {name: nic0, bdf: "00:03.0", host: vf0}
steps:
  - dma-map: {device: nic0, size: 0x3000, dir: to-device}
  - dma-map: {device: nic0, size: 0x100000000, dir: to-device}
  - dma-map: {device: nic0, size: 0x1000, dir: to-device}
  - dma-map: {device: nic0, size: 0x100000000, dir: to-device}
`);
    // 3 pages use a 4-page naturally aligned block from the top of the 32-bit space; after the
    // switch allocations come from the 2^48 aperture, minus the host hole the PROBE reported.
    // The second 4 GiB block skips [0x7e00000000, 0x7effffffff]: the 1-page IOVA at 0x7efffff000 sits
    // in it, and the walk from the cached node aligns (pfn_lo - size) down (__alloc_and_insert_iova_range).
    expect(results.map((r) => (r.outcome as { iova?: string }).iova)).toEqual(['0xffffc000', '0x7f00000000', '0x7efffff000', '0x7d00000000']);
    const notices = of(events, 'guest-log').filter((l) => String(data(l).text).startsWith('Using'));
    expect(notices.map((l) => [data(l).device, data(l).text, l.level])).toEqual([['nic0', 'Using 48-bit DMA addresses', 1]]);
  });

  it('fails with DMA_MAPPING_ERROR when nothing fits below the DMA mask', () => {
    const { events, results } = run(`${HOST}guest: {iommu-dma: strict}
devices:
  - {name: nic0, bdf: "00:03.0", host: vf0, dma-mask: 32}
steps:
  - dma-map: {device: nic0, size: 0x100000000, dir: to-device}
    expect: {error: DMA_MAPPING_ERROR}
`);
    expect(results[0].status).toBe('DMA_MAPPING_ERROR');
    expect(results[0].expectation).toBe(true);
    const m = of(events, 'dma-map')[0];
    expect([m.outcome, m.iova, data(m).error]).toEqual([1, undefined, 'no IOVA space below the DMA limit (alloc_iova_fast)']);
  });
});

describe('strict invalidation', () => {
  it('syncs each unmap at once (the UNMAP reaches the device before dma_unmap returns) and frees the IOVA', () => {
    const { events, results } = run(`${HOST}guest: {iommu-dma: strict}
devices:
  - {name: disk0, bdf: "00:04.0"}
steps:
  - dma-map: {device: disk0, size: 0x1000, dir: from-device, out: a}
  - dma-unmap: {handle: a}
  - dma-map: {device: disk0, size: 0x1000, dir: from-device, out: b}
`);
    const tail = events.slice(events.findIndex((e) => e.kind === 'dma-unmap'));
    expect(tail.slice(0, 3).map((e) => e.kind)).toEqual(['dma-unmap', 'guest-sync', 'unmap']);
    expect(of(tail, 'guest-sync')[0].why).toBe(1); // iotlb_sync
    // free_iova_fast put the IOVA in the CPU's magazine: the next map of the same size reuses it.
    expect(results.map((r) => (r.outcome as { iova?: string; path?: string }).iova)).toEqual(['0xfffff000', undefined, '0xfffff000']);
    expect((results[2].outcome as { path: string }).path).toBe('rcache');
    expect(of(events, 'fq-flush')).toEqual([]);
  });
});

describe('dma-unmap of a handle', () => {
  it('refuses a second unmap of the same handle (its IOVA would be freed twice), after one UNMAP of its own IOVA and size', () => {
    const { events, results } = run(`${HOST}guest: {iommu-dma: strict}
devices:
  - {name: disk0, bdf: "00:04.0"}
steps:
  - dma-map: {device: disk0, size: 0x2000, dir: to-device, out: a}
  - dma-unmap: {handle: a}
  - dma-unmap: {handle: a}
  - dma-map: {device: disk0, size: 0x2000, dir: to-device, out: b}
`);
    expect(results.map((r) => [r.status, r.message])).toEqual([
      ['OK', 'disk0: DMA address 0xffffe000 (2 pages, tree; host none)'],
      ['OK', 'a: unmapped (strict; host none)'],
      ['ERROR', 'handle "a" is already unmapped (a second dma_unmap would free its IOVA twice)'],
      ['OK', 'disk0: DMA address 0xffffe000 (2 pages, rcache; host none)'],
    ]);
    expect(of(events, 'dma-unmap').map((u) => [u.iova, u.size, data(u).handle])).toEqual([[0xffffe000n, 0x2000n, 'a']]);
    expect(of(events, 'unmap').map((u) => [u.virtStart, u.virtEnd])).toEqual([[0xffffe000n, 0xffffffffn]]);
  });
});

describe('lazy invalidation (flush queues)', () => {
  const lazy = (guest: string, steps: string) =>
    run(`${HOST}guest: ${guest}
devices:
  - {name: disk0, bdf: "00:04.0"}
steps:
${steps}`);

  it('leaves UNMAPs queued until a sync, and reports DMA through them as stale with the time since the unmap', () => {
    const { events, results } = lazy(
      '{iommu-dma: lazy}',
      `  - dma-map: {device: disk0, size: 0x1000, dir: from-device, out: a}
  - dma-unmap: {handle: a}
  - dma: {endpoint: disk0, addr: 0xfffff010, size: 4, access: write}
  - dma-map: {device: disk0, size: 0x1000, dir: from-device, out: b}
  - dma: {endpoint: disk0, addr: 0xfffff010, size: 4, access: write}
`,
    );
    const stale = of(events, 'stale-access');
    // The window opened when the UNMAP was added (after the dma-unmap's own cost); the DMA came 50 ns later.
    expect(stale.map((s) => [s.address, s.phys, s.sinceNs, s.access, data(s).handle, data(s).path])).toEqual([[0xfffff010n, 0x40000010n, 50n, 2, 'a', 'viommu']]);
    expect((results[2].outcome as { stale: boolean }).stale).toBe(true);
    // The next dma_map's iotlb_sync_map delivered the queued UNMAP with its MAP: the window closed.
    const sync = of(events, 'guest-sync').filter((s) => s.why === 0).pop()!;
    expect([sync.requests, (data(sync).windows as { count: number }).count]).toEqual([2, 1]);
    // The IOVA is still held by the flush queue: the new buffer gets another one, and the old one faults.
    expect((results[3].outcome as { iova: string }).iova).toBe('0xffffe000');
    expect(results[4].outcome).toEqual({ fault: { reason: 'MAPPING', flags: ['address'], address: '0xfffff010' } });
  });

  it('flushes a per-CPU queue when its 255th entry is already in (ring of 256) and frees what the flush covered', () => {
    const maps = Array.from({ length: 300 }, (_, i) => `  - dma-map: {device: disk0, size: 0x1000, dir: to-device, out: h${i}}`).join('\n');
    const unmaps = Array.from({ length: 300 }, (_, i) => `  - dma-unmap: {handle: h${i}}`).join('\n');
    const { events } = lazy('{iommu-dma: lazy}', `${maps}\n${unmaps}\n`);
    const flushes = of(events, 'fq-flush');
    expect(flushes.map((f) => [f.reason, f.freed])).toEqual([[0, 255]]);
    // It happened at the 256th dma_unmap.
    const before = events.slice(0, events.indexOf(flushes[0]));
    expect(of(before, 'dma-unmap').length).toBe(256);
  });

  it('fires the timer at jiffies + msecs_to_jiffies(10) on the timer wheel (HZ=250: 16 ms), on the virtual clock', () => {
    const { events } = lazy(
      '{iommu-dma: lazy, hz: 250}',
      `  - dma-map: {device: disk0, size: 0x1000, dir: from-device, out: a}
  - dma-unmap: {handle: a}
  - wait: {ms: 15}
  - wait: {ms: 2}
`,
    );
    const flush = of(events, 'fq-flush');
    expect(flush.map((f) => [f.reason, f.freed, f.step])).toEqual([[1, 1, 3]]);
    // Armed in jiffy 0 (the unmap came a few µs after boot): expires at jiffy 0 + 3, run at the
    // next tick of the wheel, jiffy 4 = 16 ms; its flush is the first thing after that instant.
    expect(of(events, 'dma-unmap')[0].time!).toBeLessThan(4_000_000);
    expect(flush[0].time!).toBeGreaterThanOrEqual(16_000_000);
    expect(flush[0].time!).toBeLessThan(16_010_000);
    // The two waits end 17 ms after they began: the second is cut at the deadline, and the flush's
    // own work (the sync, the UNMAP) happens inside the remaining time.
    const waits = of(events, 'wait');
    const began = events[events.indexOf(waits[0]) - 1].time!;
    expect(waits.map((w) => w.step)).toEqual([2, 3, 3]);
    expect(waits[waits.length - 1].time! - began).toBe(17_000_000);
  });

  it('uses one 32768-entry queue with a 1000 ms timeout when the driver shadows its tables (single-flush-queue)', () => {
    const { events } = lazy(
      '{iommu-dma: lazy, single-flush-queue: true}',
      `  - dma-map: {device: disk0, size: 0x1000, dir: from-device, out: a}
  - dma-unmap: {handle: a}
  - wait: {ms: 900}
  - dma: {endpoint: disk0, addr: 0xfffff000, access: write}
    expect: {translated: 0x40000000, stale: true}
  - wait: {ms: 200}
  - dma: {endpoint: disk0, addr: 0xfffff000, access: write}
    expect: {fault: {reason: MAPPING}}
`,
    );
    expect(of(events, 'fq-flush').map((f) => [f.reason, f.step])).toEqual([[1, 4]]);
    expect(of(events, 'expectation').every((e) => e.held === 1)).toBe(true);
  });
});

describe('host geometry delivery (virtio-iommu host-geometry)', () => {
  const race = (geometry: string) =>
    run(`${HOST}viommu: {model: virtio-iommu, aw-bits: 64, host-geometry: ${geometry}}
guest: {iommu-dma: strict, forcedac: true}
devices:
  - {name: nic0, bdf: "00:03.0", host: vf0}
  - {name: nic1, bdf: "00:04.0", host: vf1}
steps:
  - device-add: {device: nic1}
  - dma-map: {device: nic1, size: 0x1000, dir: to-device}
`);

  it('listener: the coldplugged device gets its ranges at machine init done, the hotplugged one after its PROBE, with the warning', () => {
    const { events, results } = race('listener');
    const warnings = of(events, 'qemu-error').filter((e) => data(e).level === 'warning');
    expect(warnings.map((w) => [data(w).message, w.step])).toEqual([['virtio-iommu-memory-region-2-32: Notified about new host reserved regions after probe', 0]]);
    const probes = of(events, 'probe');
    expect(probes.map((p) => (p.regions as unknown[]).length)).toEqual([2, 1]);
    expect(results[1].outcome).toMatchObject({ iova: '0xfffffffffffff000', host: 'failed' });
  });

  it('realize: both PROBEs report the host hole, no warning, the map succeeds', () => {
    const { events, results } = race('realize');
    expect(of(events, 'qemu-error')).toEqual([]);
    expect(of(events, 'probe').map((p) => (p.regions as unknown[]).length)).toEqual([2, 2]);
    expect(results[1].outcome).toMatchObject({ iova: '0x7ffffff000', host: 'mapped' });
  });

  it('none: no host ranges ever, coldplugged or not', () => {
    const { events } = race('none');
    expect(of(events, 'probe').map((p) => (p.regions as unknown[]).length)).toEqual([1, 1]);
    expect(of(events, 'qemu-error').filter((e) => data(e).level === 'warning')).toEqual([]);
  });
});

describe('dma-stream', () => {
  it('recycles a ring of buffers: the device access, dma_unmap and a fresh dma_map per iteration', () => {
    const { events, results } = run(`${HOST}guest: {iommu-dma: strict}
devices:
  - {name: nic0, bdf: "00:03.0", host: vf0}
steps:
  - dma-stream: {device: nic0, buffers: 8, size: 1500, dir: from-device, iterations: 40}
    expect: {failed-maps: 0, failed-host-maps: 0, stale: 0, faults: 0}
`);
    expect(results[0].expectation).toBe(true);
    expect(of(events, 'dma-map').length).toBe(48);
    expect(of(events, 'dma-unmap').length).toBe(40);
    expect(of(events, 'host-dma').every((h) => h.outcome === 0 && h.access === 2)).toBe(true);
    expect(of(events, 'host-dma').length).toBe(40);
    // Each buffer keeps its own name through map and unmap (s<step>.<buffer>): slot 0 held s0.0, then s0.8, s0.16 …
    const maps = of(events, 'dma-map').map((m) => data(m).handle);
    expect(maps.slice(0, 9)).toEqual(['s0.0', 's0.1', 's0.2', 's0.3', 's0.4', 's0.5', 's0.6', 's0.7', 's0.8']);
    expect(of(events, 'dma-unmap').map((m) => data(m).handle).slice(0, 3)).toEqual(['s0.0', 's0.1', 's0.2']);
    const first = of(events, 'dma-map')[0];
    const reuse = of(events, 'dma-map')[8];
    expect(of(events, 'dma-unmap')[0].iova).toBe(first.iova);
    expect(reuse.iova).toBe(first.iova); // the freed IOVA came back from the rcache
  });
});
