// The guest DMA panels' contract methods (main/service/guest-view.ts over main/store/guest-view.ts,
// the fold in main/service/iova-space.ts): a domain's IOVA space by kind at any seq (reserved,
// host holes from the HostIOMMUDevice's usable ranges or from PROBE, live allocations, failed maps)
// and one buffer followed through the layers, on a synthetic run written with the store's writer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateParams } from '../../core/contract/index.ts';
import type { SeqEvent } from '../../core/events/sink.ts';
import { neutralEvent } from '../support/events.ts';
import { EventWriter, LabStore } from '../../main/store/index.ts';
import { GuestViewReader } from '../../main/store/guest-view.ts';
import { HostViewReader } from '../../main/store/host-view.ts';
import { CHECKPOINT_ROWS, GuestViewSource } from '../../main/service/guest-view.ts';
import { HostViewSource } from '../../main/service/host-view.ts';
import { rangeInverse } from '../../main/service/iova-space.ts';

let dir: string;
let dbPath: string;
let store: LabStore;
let hostReader: HostViewReader;
let guestReader: GuestViewReader;
let src: GuestViewSource;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-guest-view-'));
  dbPath = path.join(dir, 'lab.db');
  store = new LabStore(dbPath);
  hostReader = new HostViewReader(dbPath);
  guestReader = new GuestViewReader(dbPath);
  src = new GuestViewSource(guestReader, new HostViewSource(hostReader, store.reader));
});
afterEach(() => {
  guestReader.close();
  hostReader.close();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** An event of `kind` with every required field neutral, then `over` (tests/support/events.ts). */
const ev = neutralEvent;

/** Writes a finished run of `events` (seq assigned in order) and returns its id. */
function run(events: Omit<SeqEvent, 'seq'>[]): number {
  const runId = store.createRun({ name: 'g', file: 'g.yaml', scenarioText: 'name: g', steps: 1, totalUnits: 1 });
  const w = new EventWriter(dbPath, runId);
  w.write(events.map((e, seq) => ({ time: 1000 * seq, ...e, seq }) as SeqEvent));
  w.commit(1, 1);
  w.finish({ status: 'done', doneUnits: 1, totalUnits: 1, metrics: null, stepResults: [], failedExpectations: 0, error: null });
  return runId;
}

const NIC0 = 24; // 00:03.0
const NIC1 = 40; // 00:05.0
const hostCall = (op: string, errno: number, cause: number) =>
  ev('host-call', 'iommufd0', { backend: 1, errno, call: { op, ioctl: op.toUpperCase(), args: {}, out: {} }, cause: BigInt(cause) });
const request = (reqType: number, start: bigint, end: bigint, status = 0) =>
  ev('request', 'viommu0', { reqType, status, domain: 1, virtStart: start, virtEnd: end, used: 4 });

/**
 * nic0 (host vf0, 39-bit host) initialises domain 1; nic1 (no HostIOMMUDevice) joins it. b0 maps
 * two pages below 4 GiB, is used, unmapped lazily, touched in the window, flushed; b1 maps into a
 * host hole and the host refuses it; a MAP the vIOMMU refuses; a dma-map that fails.
 */
const EVENTS = [
  /* 0 */ ev('device-plug', 'guest0', { endpoint: NIC0, data: { device: 'nic0', host: 'vf0' } }),
  /* 1 */ ev('hiod-realize', 'hiod0', { data: { device: 'vf0', iovaRanges: [['0x0', '0xfedfffff'], ['0xfef00000', '0x7fffffffff']] } }),
  /* 2 */ ev('guest-probe', 'guest0', {
    endpoint: NIC0,
    domain: 1,
    group: 0,
    init: 0,
    data: { device: 'nic0', aperture: ['0x1000', '0xffffffffff'], granule: 4096, regions: [{ type: 'MSI', start: '0xfee00000', end: '0xfeefffff' }] },
  }),
  /* 3 */ ev('iova-reserve', 'guest0', { domain: 1, start: 0xfee00000n, end: 0xfeefffffn, data: { source: 'MSI', device: 'nic0' } }),
  /* 4 */ ev('guest-probe', 'guest0', {
    endpoint: NIC1,
    domain: 1,
    group: 0,
    init: 1,
    data: { device: 'nic1', granule: 4096, regions: [{ type: 'RESERVED', start: '0x8000000000', end: '0xffffffffffffffff' }] },
  }),
  /* 5 */ ev('dma-map', 'guest0', { endpoint: NIC0, domain: 1, iova: 0xffffe010n, size: 0x1000n, phys: 0x40000010n, dir: 1, outcome: 0, data: { device: 'nic0', handle: 'b0', cpu: 0, pages: 2, path: 'tree' } }),
  /* 6 */ ev('guest-sync', 'guest0', { requests: 1, why: 0 }),
  /* 7 */ ev('map', 'viommu0', { domain: 1, virtStart: 0xffffe000n, virtEnd: 0xffffffffn }),
  /* 8 */ hostCall('ioas-map', 0, 7),
  /* 9 */ request(3, 0xffffe000n, 0xffffffffn),
  /* 10 */ ev('translate', 'viommu0', { endpoint: NIC0, domain: 1, iova: 0xffffe100n, phys: 0x40000100n, size: 64n, access: 1 }),
  /* 11 */ ev('host-dma', 'dmar0', { endpoint: 0x3b00, iova: 0xffffe100n, size: 64n, access: 1, outcome: 0, data: { device: 'vf0', iommu: 'dmar0' } }),
  /* 12 */ ev('translate', 'viommu0', { endpoint: NIC0, domain: 1, iova: 0x10000n, phys: 0n, size: 64n, access: 1 }),
  /* 13 */ ev('dma-map', 'guest0', { endpoint: NIC1, domain: 1, iova: 0x8000001000n, size: 0x1000n, phys: 0x50000000n, dir: 2, outcome: 0, data: { device: 'nic1', handle: 'b1', cpu: 1, pages: 1, path: 'tree' } }),
  /* 14 */ ev('guest-sync', 'guest0', { requests: 1, why: 0 }),
  /* 15 */ ev('map', 'viommu0', { domain: 1, virtStart: 0x8000001000n, virtEnd: 0x8000001fffn }),
  /* 16 */ hostCall('ioas-map', 22, 15),
  /* 17 */ ev('qemu-error', 'hiod0', { data: { message: 'vfio_container_dma_map(…) = -22 (Invalid argument)', level: 'error' }, cause: 15n }),
  /* 18 */ request(3, 0x8000001000n, 0x8000001fffn),
  /* 19 */ ev('dma-unmap', 'guest0', { endpoint: NIC0, domain: 1, iova: 0xffffe010n, size: 0x1000n, dir: 1, mode: 1, data: { device: 'nic0', handle: 'b0', cpu: 0 } }),
  /* 20 */ ev('stale-access', 'guest0', { endpoint: NIC0, address: 0xffffe200n, sinceNs: 100n, access: 2 }),
  /* 21 */ ev('fq-flush', 'guest0', { domain: 1, reason: 0, freed: 0, data: { cpu: 1 } }),
  /* 22 */ ev('guest-sync', 'guest0', { requests: 1, why: 2 }),
  /* 23 */ ev('unmap', 'viommu0', { domain: 1, virtStart: 0xffffe000n, virtEnd: 0xffffffffn }),
  /* 24 */ hostCall('ioas-unmap', 0, 23),
  /* 25 */ request(4, 0xffffe000n, 0xffffffffn),
  /* 26 */ ev('fq-flush', 'guest0', { domain: 1, reason: 1, freed: 1, data: { cpu: 0 } }),
  /* 27 */ request(3, 0x5000n, 0x5fffn, 1),
  /* 28 */ ev('dma-map', 'guest0', { endpoint: NIC0, domain: 1, size: 0x1000n, phys: 0x60000000n, dir: 1, outcome: 1, data: { device: 'nic0', handle: 'b2', cpu: 0 } }),
];

const U64_MAX = '0xffffffffffffffff';

describe('IOVA space view', () => {
  it("draws a domain's ranges by kind at the run's end: reserved, host holes (HostIOMMUDevice or PROBE), live allocations, failed maps", () => {
    const runId = run(EVENTS);
    const space = src.iovaSpace(runId);
    expect(space.seq).toBe(28);
    expect(space.domains.length).toBe(1);
    const d = space.domains[0];
    expect({ ...d, ranges: undefined }).toEqual({
      domain: 1,
      group: 0,
      aperture: ['0x1000', '0xffffffffff'],
      granule: 4096,
      devices: [
        { endpoint: NIC0, device: 'nic0', init: 'first', seq: 2 },
        { endpoint: NIC1, device: 'nic1', init: 'joined', seq: 4 },
      ],
      holesFrom: 'mixed',
      ranges: undefined,
      truncated: false,
    });
    expect(d.ranges).toEqual([
      { kind: 'reserved', start: '0xfee00000', end: '0xfeefffff', seq: 3, source: 'MSI', device: 'nic0' },
      // nic0: the complement of vf0's usable ranges over 64 bits (range_inverse_array), from its probe (seq 2, after hiod-realize).
      { kind: 'host-hole', start: '0xfee00000', end: '0xfeefffff', seq: 2, source: 'host-iova-ranges', device: 'nic0' },
      { kind: 'host-hole', start: '0x8000000000', end: U64_MAX, seq: 2, source: 'host-iova-ranges', device: 'nic0' },
      // nic1 has no HostIOMMUDevice: its PROBE's RESERVED region.
      { kind: 'host-hole', start: '0x8000000000', end: U64_MAX, seq: 4, source: 'probe', device: 'nic1' },
      // b0 was unmapped (seq 19); b1 is live.
      { kind: 'allocated', start: '0x8000001000', end: '0x8000001fff', seq: 13, device: 'nic1', label: 'b1' },
      { kind: 'failed', start: '0x5000', end: '0x5fff', seq: 27, source: 'request', label: 'IOERR' },
      // The host call's errno names the failure (QEMU's report of the same map adds no range).
      { kind: 'failed', start: '0x8000001000', end: '0x8000001fff', seq: 16, source: 'host-call', label: 'EINVAL' },
    ]);
  });

  it('folds forward and back: an earlier seq shows the allocation live and no failure yet; unknown runs and seqs past the end', () => {
    const runId = run(EVENTS);
    expect(src.iovaSpace(runId, 28).domains[0].ranges.filter((r) => r.kind === 'allocated').map((r) => r.label)).toEqual(['b1']);
    const at12 = src.iovaSpace(runId, 12);
    expect(at12.seq).toBe(12);
    // pages × granule from the IOVA aligned down: 0xffffe010 → [0xffffe000, 0xffffffff].
    expect(at12.domains[0].ranges.filter((r) => r.kind === 'allocated' || r.kind === 'failed')).toEqual([
      { kind: 'allocated', start: '0xffffe000', end: '0xffffffff', seq: 5, device: 'nic0', label: 'b0' },
    ]);
    const at17 = src.iovaSpace(runId, 17);
    expect(at17.domains[0].ranges.filter((r) => r.kind !== 'reserved' && r.kind !== 'host-hole').map((r) => [r.kind, r.label])).toEqual([
      ['allocated', 'b0'],
      ['allocated', 'b1'],
      ['failed', 'EINVAL'],
    ]);
    expect(src.iovaSpace(runId, 1).domains).toEqual([]);
    expect(src.iovaSpace(runId, 500).seq).toBe(28);
    expect(src.iovaSpace(999)).toEqual({ seq: -1, domains: [] });
  });

  it('steps back through checkpoints to the same space a fresh fold gives', () => {
    const events = [EVENTS[2]];
    // 3 × CHECKPOINT_ROWS maps, every other one unmapped: live allocations grow by one per pair.
    for (let i = 0; i < (3 * CHECKPOINT_ROWS) / 2; i++) {
      const iova = 0x100000000n - BigInt(i + 1) * 0x1000n;
      events.push(ev('dma-map', 'guest0', { endpoint: NIC0, domain: 1, iova, size: 0x1000n, phys: 0n, dir: 1, outcome: 0, data: { handle: `h${i}`, pages: 1 } }));
      if (i % 2) events.push(ev('dma-unmap', 'guest0', { endpoint: NIC0, domain: 1, iova, size: 0x1000n, dir: 1, mode: 0, data: { handle: `h${i}` } }));
    }
    const runId = run(events);
    const fresh = (seq: number) => new GuestViewSource(guestReader, new HostViewSource(hostReader, store.reader)).iovaSpace(runId, seq);
    const live = (seq: number) => src.iovaSpace(runId, seq).domains[0].ranges.filter((r) => r.kind === 'allocated').length;
    const last = events.length - 1;
    expect(src.iovaSpace(runId).seq).toBe(last);
    for (const seq of [last - 1, 2 * CHECKPOINT_ROWS + 3, CHECKPOINT_ROWS - 1, 7, 3 * CHECKPOINT_ROWS - 10, 1]) expect(src.iovaSpace(runId, seq)).toEqual(fresh(seq));
    // Seq 1 maps h0, 2 maps h1, 3 unmaps h1, 4 maps h2, …
    expect([live(1), live(2), live(3), live(4)]).toEqual([1, 2, 1, 2]);
    expect(live(last)).toBe(Math.ceil((3 * CHECKPOINT_ROWS) / 4));
  });

  it('computes host holes as the complement over [0, 2^64 - 1] (range_inverse_array)', () => {
    const M = (1n << 64n) - 1n;
    expect(rangeInverse([])).toEqual([[0n, M]]);
    expect(rangeInverse([[0n, M]])).toEqual([]);
    expect(rangeInverse([[0x1000n, 0x1fffn], [0x1800n, 0x2fffn], [0x10000n, M]])).toEqual([
      [0n, 0xfffn],
      [0x3000n, 0xffffn],
    ]);
    expect(rangeInverse([[0n, 0xfedfffffn], [0xfef00000n, 0x7fffffffffn]])).toEqual([
      [0xfee00000n, 0xfeefffffn],
      [0x8000000000n, M],
    ]);
  });
});

describe('follow one buffer', () => {
  const chain = [
    [5, 'dma-map', 'guest0', 'guest'],
    [8, 'host-call', 'iommufd0', 'backend'],
    [9, 'map-request', 'viommu0', 'viommu'],
    [10, 'translate', 'viommu0', 'viommu'],
    [11, 'host-dma', 'dmar0', 'iommu'],
    [19, 'dma-unmap', 'guest0', 'guest'],
    [20, 'stale-access', 'guest0', 'guest'],
    [22, 'guest-sync', 'guest0', 'guest'],
    [24, 'host-call', 'iommufd0', 'backend'],
    [25, 'unmap-request', 'viommu0', 'viommu'],
    [26, 'fq-flush', 'guest0', 'guest'],
  ];

  it('links dma-map → MAP request → host call → DMA → dma-unmap → stale access → sync → UNMAP → flush, from either end', () => {
    const runId = run(EVENTS);
    const f = src.followBuffer(runId, 5)!;
    expect({ ...f, links: undefined }).toEqual({ seq: 5, handle: 'b0', domain: 1, iova: ['0xffffe000', '0xffffffff'], links: undefined, truncated: false });
    expect(f.links.map((l) => [l.seq, l.role, l.component, l.layer])).toEqual(chain);
    // Virtual time and text come with each link; the stale access is a problem.
    expect(f.links.map((l) => l.time)).toEqual(chain.map(([seq]) => 1000 * (seq as number)));
    expect(f.links.every((l) => l.text.length > 0)).toBe(true);
    expect(f.links.filter((l) => l.problem).map((l) => l.seq)).toEqual([20]);
    expect(src.followBuffer(runId, 19)!.links.map((l) => [l.seq, l.role, l.component, l.layer])).toEqual(chain);
  });

  it("a map the host refused: its MAP request, the host call's errno and QEMU's error; a failed dma_map stands alone; other kinds give null", () => {
    const runId = run(EVENTS);
    const f = src.followBuffer(runId, 13)!;
    expect(f.iova).toEqual(['0x8000001000', '0x8000001fff']);
    expect(f.links.map((l) => [l.seq, l.role, l.problem])).toEqual([
      [13, 'dma-map', false],
      [16, 'host-call', true],
      [17, 'qemu-error', true],
      [18, 'map-request', false],
    ]);
    const failed = src.followBuffer(runId, 28)!;
    expect([failed.iova, failed.handle, failed.links.map((l) => l.role)]).toEqual([null, 'b2', ['dma-map']]);
    expect(src.followBuffer(runId, 10)).toBeNull();
    expect(src.followBuffer(runId, 99)).toBeNull();
    expect(src.followBuffer(999, 5)).toBeNull();
  });

  it('a strict unmap without handles: found by domain and IOVA, its UNMAP synced, no flush queue; an emulated device has no host DMA', () => {
    const runId = run([
      ev('guest-probe', 'guest0', { endpoint: NIC0, domain: 2, group: 0, init: 0, data: { device: 'nic0', granule: 4096 } }),
      ev('dma-map', 'guest0', { endpoint: NIC0, iova: 0xfffff000n, size: 0x800n, phys: 0x1000n, dir: 3, outcome: 0, data: { device: 'nic0', cpu: 0 } }),
      ev('guest-sync', 'guest0', { requests: 1, why: 0 }),
      ev('request', 'viommu0', { reqType: 3, status: 0, domain: 2, virtStart: 0xfffff000n, virtEnd: 0xffffffffn, used: 4 }),
      // Another device's DMA through the host IOMMU at the same IOVA: not this buffer's (nic0 has no host device).
      ev('host-dma', 'dmar0', { endpoint: 0x3b00, iova: 0xfffff000n, size: 64n, access: 2, outcome: 0, data: { device: 'vf0', iommu: 'dmar0' } }),
      ev('dma-unmap', 'guest0', { endpoint: NIC0, domain: 2, iova: 0xfffff000n, size: 0x800n, dir: 3, mode: 0, data: { device: 'nic0', cpu: 0 } }),
      ev('guest-sync', 'guest0', { requests: 1, why: 1 }),
      ev('request', 'viommu0', { reqType: 4, status: 0, domain: 2, virtStart: 0xfffff000n, virtEnd: 0xffffffffn, used: 4 }),
      ev('fq-flush', 'guest0', { domain: 2, reason: 1, freed: 3, data: { cpu: 0 } }),
      ev('request', 'viommu0', { reqType: 3, status: 0, domain: 2, virtStart: 0xfffff000n, virtEnd: 0xffffffffn, used: 4 }),
    ]);
    const f = src.followBuffer(runId, 1)!;
    // The domain from the device's probe; no fq-flush link for a strict unmap.
    expect([f.domain, f.handle, f.iova]).toEqual([2, null, ['0xfffff000', '0xffffffff']]);
    expect(f.links.map((l) => [l.seq, l.role])).toEqual([
      [1, 'dma-map'],
      [3, 'map-request'],
      [5, 'dma-unmap'],
      [6, 'guest-sync'],
      [7, 'unmap-request'],
    ]);
    expect(src.followBuffer(runId, 5)!.seq).toBe(1);
    expect(src.iovaSpace(runId).domains[0].ranges).toEqual([]);
    expect(src.iovaSpace(runId, 3).domains[0].ranges).toEqual([{ kind: 'allocated', start: '0xfffff000', end: '0xffffffff', seq: 1, device: 'nic0' }]);
  });

  it('refuses bad params with their field path', () => {
    expect(() => validateParams('getIovaSpace', { runId: 0 })).toThrow(/getIovaSpace: invalid params at \/runId/);
    expect(() => validateParams('getIovaSpace', { runId: 1, seq: -1 })).toThrow(/at \/seq/);
    expect(validateParams('getIovaSpace', { runId: 1 }).params).toEqual({ runId: 1 });
    expect(() => validateParams('followBuffer', { runId: 1 })).toThrow(/followBuffer: invalid params at \/seq/);
  });
});
