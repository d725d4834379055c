/**
 * getTimeSeries (main/service/time-series.ts over main/store/time-series.ts), through LabService
 * with real run workers: the series of the seed-6 pair (strict: the device's mappings go at the
 * dma_unmap; lazy: they stay until the flush queue's UNMAPs), faults counted once each (the
 * vIOMMU's, the host DMA fault, not its host-fault record), a workload downsampled to `points`
 * keeping its extremes and every fault, a domain freed with its mappings, an imported trace on its
 * own clock; and downsample() itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateParams } from '../../core/contract/index.ts';
import type { TimeSeries } from '../../core/compare/types.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { downsample } from '../../main/service/time-series.ts';
import { unpackCode } from '../../main/store/time-series.ts';

/** An ftrace of a NIC's buffer mapped (iommu:map), unmapped and written 200 µs after its first event (iommu:io_page_fault). */
const FTRACE_LINES: readonly string[] = [
  '# tracer: nop',
  '#',
  '            nvme-77      [000] .....   100.000100: dma_map_phys: 0000:00:03.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 phys_addr=40000000 attrs=',
  '            nvme-77      [000] .....   100.000150: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000040000000 size=4096',
  '            nvme-77      [000] .....   100.000200: dma_unmap_phys: 0000:00:03.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 attrs=',
  '   irq/30-AMD-Vi-250     [000] d.h1.   100.000300: io_page_fault: IOMMU:nvme 0000:00:03.0 iova=0x00000000fffff010 flags=0x0001',
];

const EXAMPLES = path.join(import.meta.dirname, '../../examples');
let dir: string;
let service: LabService;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-time-series-'));
  service = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: EXAMPLES, warmRunWorker: false });
});
afterEach(async () => {
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function run(text: string, file = 'ts.yaml'): Promise<number> {
  const res = await service.call('startRun', { text, file });
  expect(res.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  expect((await waitForRun(service, res.runId!)).status).toBe('done');
  return res.runId!;
}

async function example(name: string): Promise<number> {
  return run(fs.readFileSync(path.join(EXAMPLES, `${name}.yaml`), 'utf8'), `${name}.yaml`);
}

/** The kind of each sample's event (the seq links into the event list). */
async function kindsAt(runId: number, ts: TimeSeries): Promise<string[]> {
  const out: string[] = [];
  for (const seq of ts.seq) out.push((await service.call('getEventDetail', { runId, seq }))!.kind);
  return out;
}

/** Every series has one value per sample. */
function expectAligned(ts: TimeSeries): void {
  for (const k of ['seq', 'liveMappings', 'faults', 'iovaBytes'] as const) expect(ts[k].length).toBe(ts.t.length);
}

describe('getTimeSeries', () => {
  it('follows the vIOMMU mappings of the seed-6 pair: strict unmaps at dma_unmap, lazy when the flush queue delivers', async () => {
    const strictId = await example('seed-6-strict');
    const lazyId = await example('seed-6-lazy');
    const strict = (await service.call('getTimeSeries', { runId: strictId }))!;
    const lazy = (await service.call('getTimeSeries', { runId: lazyId }))!;
    expectAligned(strict);
    expectAligned(lazy);
    // Opening sample at seq 0, nothing mapped; closing sample at the run's last event.
    for (const [id, ts] of [[strictId, strict], [lazyId, lazy]] as const) {
      expect([ts.seq[0], ts.liveMappings[0], ts.iovaBytes[0], ts.faults[0]]).toEqual([0, 0, 0, 0]);
      const run = (await service.call('getRun', { runId: id }))!;
      expect(ts.seq.at(-1)).toBe(run.events - 1);
    }
    // Two one-page maps (disk0, nic0), then the two unmaps.
    expect(Math.max(...strict.liveMappings)).toBe(2);
    expect(Math.max(...strict.iovaBytes)).toBe(8192);
    const kinds = await kindsAt(strictId, strict);
    const mapAt = kinds.map((k, i) => (k === 'map' ? i : -1)).filter((i) => i >= 0);
    const unmapAt = kinds.map((k, i) => (k === 'unmap' ? i : -1)).filter((i) => i >= 0);
    expect(mapAt.map((i) => strict.liveMappings[i])).toEqual([1, 2]);
    expect(unmapAt.map((i) => strict.liveMappings[i])).toEqual([1, 0]);
    expect(unmapAt.map((i) => strict.iovaBytes[i])).toEqual([4096, 0]);
    // Strict: the UNMAPs reach the device within the dma_unmap (tens of µs); lazy: after the
    // flush queue's timeout (~11 ms of virtual time), the mappings live until then.
    expect(strict.t[unmapAt[1]]).toBeLessThan(100_000);
    const lazyKinds = await kindsAt(lazyId, lazy);
    const lazyUnmaps = lazyKinds.map((k, i) => (k === 'unmap' ? i : -1)).filter((i) => i >= 0);
    expect(lazy.t[lazyUnmaps[0]]).toBeGreaterThan(10_000_000);
    const lazyLiveAt50us = lazy.liveMappings[lazy.t.findLastIndex((t) => t <= 50_000)];
    const strictLiveAt50us = strict.liveMappings[strict.t.findLastIndex((t) => t <= 50_000)];
    expect([strictLiveAt50us, lazyLiveAt50us]).toEqual([0, 2]);
    // Faults: the vIOMMU's MAPPING fault and the host DMA fault, once each (the host-fault record is the same fault).
    expect(strict.faults.at(-1)).toBe(2);
    const faultKinds = kinds.filter((_, i) => i > 0 && strict.faults[i] > strict.faults[i - 1]);
    expect(faultKinds).toEqual(['fault', 'host-dma']);
    // Time never goes back.
    for (let i = 1; i < strict.t.length; i++) expect(strict.t[i]).toBeGreaterThanOrEqual(strict.t[i - 1]);
  });

  it('downsamples a workload to `points`, keeping each series extremes, every fault, and the closing values', async () => {
    const id = await run(`name: ts workload
machine: q35
viommu: {model: virtio-iommu, conformance: qemu, granule: 4k}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - workload: {domain: 1, endpoint: nic0, count: 1500, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000, ops: [map]}
  - workload: {domain: 1, endpoint: nic0, count: 20, iova-base: 0x900000000, phys-base: 0, ops: [dma]}
  - workload: {domain: 1, endpoint: nic0, count: 1000, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000, ops: [unmap]}
`);
    const full = (await service.call('getTimeSeries', { runId: id, points: 100000 }))!;
    const small = (await service.call('getTimeSeries', { runId: id, points: 200 }))!;
    expectAligned(full);
    expectAligned(small);
    // Full: the opening sample, 1500 maps, 20 faults, 1000 unmaps, the closing sample.
    expect(Math.max(...full.liveMappings)).toBe(1500);
    expect(full.liveMappings.at(-1)).toBe(500);
    expect(full.iovaBytes.at(-1)).toBe(500 * 4096);
    expect(full.faults.at(-1)).toBe(20);
    expect(full.t.length).toBeGreaterThan(2500);
    // Downsampled: at most 200, a subsequence of the full series, peaks and every fault kept.
    expect(small.t.length).toBeLessThanOrEqual(200);
    expect(small.t.length).toBeGreaterThan(60); // monotone stretches give fewer than 6 per bucket
    const at = new Map(full.seq.map((s, i) => [s, i]));
    for (let i = 0; i < small.seq.length; i++) {
      const j = at.get(small.seq[i]);
      expect(j).toBeDefined();
      expect([small.t[i], small.liveMappings[i], small.iovaBytes[i], small.faults[i]]).toEqual([full.t[j!], full.liveMappings[j!], full.iovaBytes[j!], full.faults[j!]]);
    }
    expect(Math.max(...small.liveMappings)).toBe(1500);
    expect(Math.max(...small.iovaBytes)).toBe(1500 * 4096);
    expect(small.seq.at(-1)).toBe(full.seq.at(-1));
    expect(small.liveMappings.at(-1)).toBe(500);
    const steps = (ts: TimeSeries) => ts.seq.filter((_, i) => i > 0 && ts.faults[i] > ts.faults[i - 1]);
    expect(steps(small)).toEqual(steps(full));
    expect(steps(small)).toHaveLength(20);
  });

  it('releases a freed domain\'s mappings (domain-free), counts and bytes', async () => {
    const id = await run(`name: ts domain free
machine: q35
viommu: {model: virtio-iommu, conformance: qemu, granule: 4k}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - map: {domain: 1, virt-start: 0x10000, virt-end: 0x1ffff, phys-start: 0x80000, flags: [read]}
  - map: {domain: 1, virt-start: 0x40000, virt-end: 0x40fff, phys-start: 0x90000, flags: [read, write]}
  - detach: {domain: 1, endpoint: nic0}
`);
    const ts = (await service.call('getTimeSeries', { runId: id }))!;
    const kinds = await kindsAt(id, ts);
    // The samples: the opening one, the two maps, the domain freed by the DETACH, the closing one (the DETACH's request).
    expect(kinds.slice(1)).toEqual(['map', 'map', 'domain-free', 'request']);
    expect(ts.liveMappings).toEqual([0, 1, 2, 0, 0]);
    expect(ts.iovaBytes).toEqual([0, 0x10000, 0x11000, 0, 0]);
  });

  it("puts an imported trace on its own clock (ns since its first event) and counts its maps and faults", async () => {
    const res = await service.call('importTrace', { name: 'late.txt', text: FTRACE_LINES.join('\n') + '\n' });
    const ts = (await service.call('getTimeSeries', { runId: res.runId! }))!;
    expectAligned(ts);
    expect(ts.t[0]).toBe(0);
    const kinds = await kindsAt(res.runId!, ts);
    const mapAt = kinds.indexOf('trace-map');
    expect([ts.t[mapAt], ts.liveMappings[mapAt], ts.iovaBytes[mapAt]]).toEqual([50_000, 1, 4096]);
    const faultAt = kinds.indexOf('trace-fault');
    expect([ts.t[faultAt], ts.faults[faultAt]]).toEqual([200_000, 1]);
  });

  it('counts an untimed trace (a kernel log without timestamps) by its events\' order', async () => {
    const res = await service.call('importTrace', {
      name: 'dmesg.txt',
      format: 'kmsg',
      text: [
        'pci 0000:3b:00.0: Adding to iommu group 0',
        'DMAR: [DMA Write NO_PASID] Request device [0000:3b:00.0] fault addr 0xfee00000 [fault reason 0x05] PTE Write access is not set',
        'DMAR: [DMA Read NO_PASID] Request device [0000:3b:00.0] fault addr 0xfee01000 [fault reason 0x06] PTE Read access is not set',
        '',
      ].join('\n'),
    });
    expect(res.refused).toBeNull();
    const ts = (await service.call('getTimeSeries', { runId: res.runId! }))!;
    expect(ts.t).toEqual(ts.seq);
    expect(ts.faults.at(-1)).toBe(2);
  });

  it('answers null for an unknown run; points is at least 16', async () => {
    expect(await service.call('getTimeSeries', { runId: 999 })).toBeNull();
    expect(() => validateParams('getTimeSeries', { runId: 1, points: 8 })).toThrow(/getTimeSeries: invalid params at \/points/);
    expect(validateParams('getTimeSeries', { runId: 1 }).params).toEqual({ runId: 1 });
  });
});

describe('the packed row code', () => {
  it('splits kind, domain and flag, domain null when absent, u32 domains exact', () => {
    expect(unpackCode(((0 + 1) * 64 + 29) * 4 + 1)).toEqual({ kind: 29, domain: 0, flag: 1 });
    expect(unpackCode((0 * 64 + 13) * 4)).toEqual({ kind: 13, domain: null, flag: 0 });
    expect(unpackCode(((0xffffffff + 1) * 64 + 9) * 4)).toEqual({ kind: 9, domain: 0xffffffff, flag: 0 });
  });
});

describe('downsample', () => {
  it('keeps everything at or under points', () => {
    expect(downsample(5, 16, [Float64Array.from([1, 2, 3, 4, 5])], [])).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps each bucket first, last, lowest and highest sample, never more than points', () => {
    const n = 10_000;
    const a = new Float64Array(n);
    const b = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = Math.sin(i / 50) * 100;
      b[i] = i % 997 === 0 ? -5 : i;
    }
    a[4321] = 1e6; // a lone spike
    const idx = downsample(n, 60, [a, b], [7, 8, 9]);
    expect(idx.length).toBeLessThanOrEqual(60);
    expect(idx).toContain(0);
    expect(idx).toContain(n - 1);
    expect(idx).toContain(4321);
    expect(idx).toContain(n - 1); // b's maximum
    expect(idx).toEqual(expect.arrayContaining([7, 8, 9]));
    expect([...idx].sort((x, y) => x - y)).toEqual(idx);
    expect(new Set(idx).size).toBe(idx.length);
  });

  it('buckets the faults too when they are more than half the points', () => {
    const n = 1000;
    const a = new Float64Array(n);
    const faults = Array.from({ length: 600 }, (_, i) => i + 100);
    const idx = downsample(n, 100, [a], faults);
    expect(idx.length).toBeLessThanOrEqual(100);
  });
});
