/**
 * The seven UNMAP examples of the virtio spec §5.13.6.5 ("UNMAP request"), each starting from a
 * blank address space. The spec's units are abstract; here one unit is one 4 KiB page so the
 * spec-mode alignment checks pass: map(a, b) covers [a * 0x1000, (b + 1) * 0x1000 - 1].
 */
import { describe, it, expect } from 'vitest';
import { S_OK, S_RANGE } from '../../../../core/viommu/virtio-iommu/constants.ts';
import { EP1, MODES, rig, type Mode } from './helpers.ts';

const P = 0x1000n;
const lo = (a: number): bigint => BigInt(a) * P;
const hi = (b: number): bigint => (BigInt(b) + 1n) * P - 1n;

interface Example {
  n: number;
  maps: Array<[number, number]>;
  unmap: [number, number];
  status: number;
  /** Starts (in units) of the mappings left afterwards. */
  left: number[];
}

const EXAMPLES: Example[] = [
  { n: 1, maps: [], unmap: [0, 4], status: S_OK, left: [] }, // succeeds, doesn't unmap anything
  { n: 2, maps: [[0, 9]], unmap: [0, 9], status: S_OK, left: [] }, // unmaps a
  { n: 3, maps: [[0, 4], [5, 9]], unmap: [0, 9], status: S_OK, left: [] }, // unmaps a and b
  { n: 4, maps: [[0, 9]], unmap: [0, 4], status: S_RANGE, left: [0] }, // fails, doesn't unmap anything
  { n: 5, maps: [[0, 4], [5, 9]], unmap: [0, 4], status: S_OK, left: [5] }, // unmaps a
  { n: 6, maps: [[0, 4]], unmap: [0, 9], status: S_OK, left: [] }, // unmaps a
  { n: 7, maps: [[0, 4], [10, 14]], unmap: [0, 14], status: S_OK, left: [] }, // unmaps a and b
];

const cases = MODES.flatMap((mode) => EXAMPLES.map((ex) => [mode, ex.n, ex] as [Mode, number, Example]));

describe('virtio spec §5.13.6.5 UNMAP examples', () => {
  it.each(cases)('%s: example (%i)', (mode, _n, ex) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    for (const [a, b] of ex.maps) expect(r.map(1, lo(a), hi(b), 0x100000n + lo(a))).toBe(S_OK);
    r.events();
    expect(r.unmap(1, lo(ex.unmap[0]), hi(ex.unmap[1]))).toBe(ex.status);
    const left = r.dev.domainMappings(1)!.map((m) => Number(m.start / P));
    expect(left).toEqual(ex.left);
    // One 'unmap' event per removed mapping, ascending, with the removed mapping's fields.
    const removed = ex.maps.filter(([a]) => !ex.left.includes(a));
    expect(r.events().filter((e) => e.kind === 'unmap')).toEqual(removed.map(([a, b]) => ({ kind: 'unmap', domain: 1, virtStart: lo(a), virtEnd: hi(b), physStart: 0x100000n + lo(a), flags: 3 })));
  });
});

describe('UNMAP partial ranges: QEMU loop vs atomic spec', () => {
  const setup = (mode: Mode) => {
    const r = rig(mode);
    r.attach(1, EP1);
    for (const [a, b] of [[0, 4], [5, 9], [10, 14], [15, 19]] as const) r.map(1, lo(a), hi(b), lo(a));
    r.events();
    return r;
  };

  it.each(MODES)('partial last mapping (%s)', (mode) => {
    const r = setup(mode);
    expect(r.unmap(1, lo(5), hi(12))).toBe(S_RANGE);
    const left = r.dev.domainMappings(1)!.map((m) => Number(m.start / P));
    // QEMU removes [5,9] before it meets the partial [10,14]; the spec removes nothing.
    expect(left).toEqual(mode === 'qemu' ? [0, 10, 15] : [0, 5, 10, 15]);
  });

  it.each(MODES)('partial first mapping removes nothing in both modes (%s)', (mode) => {
    const r = setup(mode);
    expect(r.unmap(1, lo(2), hi(19))).toBe(S_RANGE);
    expect(r.dev.mappingCount()).toBe(4);
    expect(r.kinds()).toEqual(['request']);
  });

  it.each(MODES)('a range inside one mapping (%s)', (mode) => {
    const r = setup(mode);
    expect(r.unmap(1, lo(11), hi(12))).toBe(S_RANGE);
    expect(r.dev.mappingCount()).toBe(4);
  });

  it.each(MODES)('many mappings across leaves, then the last one partial (%s)', (mode) => {
    const r = rig(mode);
    r.attach(1, EP1);
    for (let i = 0; i < 300; i++) expect(r.map(1, lo(2 * i), hi(2 * i), 0n)).toBe(S_OK);
    r.events();
    // [0, 598*P + 0x7ff]: the mapping at unit 598 is cut.
    expect(r.unmap(1, 0n, lo(598) + 0x7ffn)).toBe(S_RANGE);
    expect(r.dev.mappingCount()).toBe(mode === 'qemu' ? 1 : 300);
    expect(r.kinds().filter((k) => k === 'unmap').length).toBe(mode === 'qemu' ? 299 : 0);
    expect(r.unmap(1, 0n, hi(600))).toBe(S_OK);
    expect(r.dev.mappingCount()).toBe(0);
  });
});

describe('UNMAP of exactly one page (the one-probe path a Linux guest takes)', () => {
  it.each(MODES)('%s: removes a one-page mapping with its unmap event (phys above 4 GiB, its flags); then nothing is there', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0xfffff000n, 0xffffffffn, 0x1_2345_6000n, 1)).toBe(S_OK);
    expect(r.map(1, 0x1_0000_0000n, 0x1_0000_0fffn, 0x7000n, 2)).toBe(S_OK);
    r.events();
    expect(r.unmap(1, 0xfffff000n, 0xffffffffn)).toBe(S_OK);
    expect(r.events().filter((e) => e.kind === 'unmap')).toEqual([{ kind: 'unmap', domain: 1, virtStart: 0xfffff000n, virtEnd: 0xffffffffn, physStart: 0x1_2345_6000n, flags: 1 }]);
    expect(r.dev.domainMappings(1)!.map((m) => m.start)).toEqual([0x1_0000_0000n]);
    // The page is free now: OK, and no unmap event.
    expect(r.unmap(1, 0xfffff000n, 0xffffffffn)).toBe(S_OK);
    expect(r.events().filter((e) => e.kind === 'unmap')).toEqual([]);
    // The page above 4 GiB (hi half 1).
    expect(r.unmap(1, 0x1_0000_0000n, 0x1_0000_0fffn)).toBe(S_OK);
    expect(r.events().filter((e) => e.kind === 'unmap')).toEqual([{ kind: 'unmap', domain: 1, virtStart: 0x1_0000_0000n, virtEnd: 0x1_0000_0fffn, physStart: 0x7000n, flags: 2 }]);
    expect(r.dev.domainMappings(1)).toEqual([]);
  });
});
