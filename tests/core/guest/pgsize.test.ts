import { describe, it, expect } from 'vitest';
import { mulberry32 } from '../../support/prng.ts';
import {
  forEachMapChunk, forEachUnmapChunk, iommuMapLoop, iommuPgsize, maskGranuleShift, pgsizeShiftsFromMask, type MapLoopResult,
} from '../../../core/guest/pgsize.ts';

/** virtio-iommu's usual page_size_mask ~0xfff with a 4 KiB granule: every size 4 KiB .. 2^63. */
const ALL = pgsizeShiftsFromMask(0xffffffff, 0xfffff000, 12);
/** VT-d second level with 2 MiB and 1 GiB superpages: 4K | 2M | 1G. */
const VTD = pgsizeShiftsFromMask(0, 0x40201000, 12);
/** 4 KiB only. */
const ONLY4K = [0];

type Call = [iova: number, paddr: number, shift: number, count: number];

function mapCalls(shifts: readonly number[], iova: number, paddr: number, size: number): Call[] {
  const calls: Call[] = [];
  const n = forEachMapChunk(shifts, iova, paddr, size, (i, p, s, c) => calls.push([i, p, s, c]));
  expect(n).toBe(calls.length);
  return calls;
}

/**
 * Reference: iommu_pgsize + the map loop on 64-bit byte values (bigint), as iommu.c states them
 * (pgsize_bitmap & GENMASK(__fls(size), 0), & GENMASK(__ffs(iova | paddr), 0), the next-size test).
 * Written independently of the module (bitmaps and byte addresses, not shifts and pfns).
 */
function refMapBytes(bitmap: bigint, iova: bigint, paddr: bigint, size: bigint): Array<[bigint, bigint, bigint, bigint]> {
  const fls = (x: bigint): bigint => BigInt(x.toString(2).length - 1);
  const ffs = (x: bigint): bigint => { let i = 0n; while (((x >> i) & 1n) === 0n) i++; return i; };
  const genmask = (h: bigint): bigint => (1n << (h + 1n)) - 1n;
  const out: Array<[bigint, bigint, bigint, bigint]> = [];
  while (size > 0n) {
    const merge = iova | paddr;
    let pgsizes = bitmap & genmask(fls(size));
    if (merge) pgsizes &= genmask(ffs(merge));
    if (!pgsizes) throw new Error('BUG_ON');
    const idx = fls(pgsizes);
    const pgsize = 1n << idx;
    let sz = size;
    const bigger = bitmap & ~genmask(idx);
    if (bigger) {
      const next = 1n << ffs(bigger);
      if (((iova ^ paddr) & (next - 1n)) === 0n) {
        const offset = next - (merge & (next - 1n));
        const end = offset + next;
        if (end < (1n << 64n) && end <= sz) sz = offset;
      }
    }
    const count = sz >> idx;
    out.push([iova, paddr, pgsize, count]);
    iova += pgsize * count;
    paddr += pgsize * count;
    size -= pgsize * count;
  }
  return out;
}

describe('pgsizeShiftsFromMask / maskGranuleShift', () => {
  it('turns virtio-iommu ~0xfff with a 4 KiB granule into shifts 0..51', () => {
    expect(maskGranuleShift(0xffffffff, 0xfffff000)).toBe(12);
    expect(ALL).toEqual(Array.from({ length: 52 }, (_, i) => i));
  });

  it('keeps the holes of a sparse mask (VT-d 4K|2M|1G → 0, 9, 18; 64 KiB granule)', () => {
    expect(VTD).toEqual([0, 9, 18]);
    expect(maskGranuleShift(0, 0x40201000)).toBe(12);
    // 64K | 512M | 4T (bit 42 in the high half): arm-smmu 64K granule style.
    expect(pgsizeShiftsFromMask(1 << 10, 0x20010000, 16)).toEqual([0, 13, 26]);
    expect(maskGranuleShift(1 << 10, 0x20010000)).toBe(16);
  });

  it('ignores bits below the granule, reports an empty mask as -1, refuses granules below 2 KiB', () => {
    expect(pgsizeShiftsFromMask(0, 0x3000, 13)).toEqual([0]);
    expect(maskGranuleShift(0, 0)).toBe(-1);
    expect(maskGranuleShift(0x80000000, 0)).toBe(63);
    expect(() => pgsizeShiftsFromMask(0, 0xfffffe00, 9)).toThrow(RangeError);
  });
});

describe('iommu_pgsize', () => {
  it('picks the largest size allowed by both the size and the alignment of iova | paddr', () => {
    // 12 KiB at an 8 KiB-aligned pair: 8 KiB first (not 4 KiB: size allows 8K, alignment allows 8K).
    expect(iommuPgsize(ALL, 2, 6, 3)).toEqual({ shift: 1, count: 1 });
    // The alignment of paddr counts too: iova 2 MiB-aligned, paddr only 4 KiB-aligned.
    expect(iommuPgsize(ALL, 512, 1, 512)).toEqual({ shift: 0, count: 512 });
    // iova | paddr = 0: no alignment limit, only the size's highest bit.
    expect(iommuPgsize(ALL, 0, 0, 3)).toEqual({ shift: 1, count: 1 });
    // iova 0 alone does not lift the limit: paddr's alignment still counts (and the other way round).
    expect(iommuPgsize(ALL, 0, 1, 2)).toEqual({ shift: 0, count: 2 });
    expect(iommuPgsize(ALL, 1, 0, 2)).toEqual({ shift: 0, count: 2 });
  });

  it('counts up to the next larger size boundary only when iova and paddr share the offset in it', () => {
    // VT-d: iova pfn 1 and paddr pfn 513 are both 1 page into a 2 MiB page: 511 pages of 4K, then 2M.
    expect(iommuPgsize(VTD, 1, 513, 1024)).toEqual({ shift: 0, count: 511 });
    // Different offsets in the 2 MiB page: no point stopping, all 1024 pages as 4K in one call.
    expect(iommuPgsize(VTD, 1, 2, 1024)).toEqual({ shift: 0, count: 1024 });
    // Same offset but the size does not reach a whole 2 MiB page past the boundary (511 + 512 > 1022).
    expect(iommuPgsize(VTD, 1, 513, 1022)).toEqual({ shift: 0, count: 1022 });
    // Exactly enough (offset + pgsize_next == size): stops at the boundary.
    expect(iommuPgsize(VTD, 1, 513, 1023)).toEqual({ shift: 0, count: 511 });
    // No larger size exists: count is size >> shift.
    expect(iommuPgsize(ONLY4K, 1, 513, 1023)).toEqual({ shift: 0, count: 1023 });
  });

  it('is exact near 2^52 pages (64-bit addresses with a 4 KiB granule)', () => {
    const iova = 2 ** 51;
    const paddr = 2 ** 51 + 2 ** 40;
    expect(iommuPgsize(ALL, iova, paddr, 2 ** 40)).toEqual({ shift: 40, count: 1 });
    expect(iommuPgsize(ALL, 2 ** 51, 2 ** 51, 2 ** 52 - 1)).toEqual({ shift: 51, count: 1 });
    // The top page below 2^64 bytes.
    expect(iommuPgsize(ALL, 2 ** 52 - 1, 2 ** 52 - 1, 1)).toEqual({ shift: 0, count: 1 });
  });

  it("hits Linux's BUG_ON when no size fits (shifts not starting at the granule), and refuses size 0", () => {
    expect(() => iommuPgsize([9], 0, 0, 1)).toThrow(/BUG_ON/);
    expect(() => iommuPgsize(ALL, 0, 0, 0)).toThrow(RangeError);
  });
});

describe('__iommu_map loop (forEachMapChunk)', () => {
  it('maps 12 KiB at an 8 KiB-aligned iova as 8 KiB + 4 KiB', () => {
    expect(mapCalls(ALL, 2, 6, 3)).toEqual([[2, 6, 1, 1], [4, 8, 0, 1]]);
  });

  it('maps 2 MiB at a 2 MiB-aligned pair in one call when 2 MiB is supported, 512 pages of 4K when not', () => {
    expect(mapCalls(ALL, 512, 1024, 512)).toEqual([[512, 1024, 9, 1]]);
    expect(mapCalls(VTD, 512, 1024, 512)).toEqual([[512, 1024, 9, 1]]);
    expect(mapCalls(ONLY4K, 512, 1024, 512)).toEqual([[512, 1024, 0, 512]]);
  });

  it('climbs to the larger size and back down on mixed alignments (VT-d)', () => {
    expect(mapCalls(VTD, 1, 513, 1025)).toEqual([[1, 513, 0, 511], [512, 1024, 9, 1], [1024, 1536, 0, 2]]);
    // 2 MiB + 12 KiB, 2 MiB-aligned: one 2M, then three 4K in one call.
    expect(mapCalls(VTD, 512, 512, 515)).toEqual([[512, 512, 9, 1], [1024, 1024, 0, 3]]);
  });

  it('never uses a larger size when iova and paddr have different offsets in it', () => {
    // Same offsets: 8K, 16K, 8K. Different (paddr 0 vs iova 2 in 16 KiB): 8K × 4 in one call.
    expect(mapCalls(ALL, 2, 2, 8)).toEqual([[2, 2, 1, 1], [4, 4, 2, 1], [8, 8, 1, 1]]);
    expect(mapCalls(ALL, 2, 0, 8)).toEqual([[2, 0, 1, 4]]);
    // VT-d, iova 1 page and paddr 2 pages into their 2 MiB pages: 4 MiB as one run of 4K pages.
    expect(mapCalls(VTD, 1, 2, 1024)).toEqual([[1, 2, 0, 1024]]);
  });

  it('agrees with a byte-level bigint transcription on random ranges (virtio ~0xfff, VT-d, sparse masks)', () => {
    const rnd = mulberry32(8);
    const masks: Array<[number, number]> = [[0xffffffff, 0xfffff000], [0, 0x40201000], [0, 0x1000], [0x00000400, 0x20011000], [0, 0x00015000]];
    for (let t = 0; t < 1500; t++) {
      const [hi, lo] = masks[t % masks.length];
      const g = maskGranuleShift(hi, lo);
      const shifts = pgsizeShiftsFromMask(hi, lo, g);
      const bitmap = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      // Mostly aligned-ish addresses so the larger sizes get used; sizes up to ~2^21 pages.
      const align = 2 ** (rnd() % 22);
      const iova = (rnd() % 4096) * align + (rnd() % 3 === 0 ? rnd() % 1024 : 0);
      const paddr = rnd() % 2 ? iova + (rnd() % 8) * align : (rnd() % 65536) * 512 + (rnd() % 512);
      const size = 1 + (rnd() % (rnd() % 2 ? 2048 : 1 << 21));
      const got = mapCalls(shifts, iova, paddr, size).map(([i, p, s, c]) => [BigInt(i) << BigInt(g), BigInt(p) << BigInt(g), 1n << BigInt(s + g), BigInt(c)]);
      const want = refMapBytes(bitmap, BigInt(iova) << BigInt(g), BigInt(paddr) << BigInt(g), BigInt(size) << BigInt(g));
      expect(got).toEqual(want);
    }
  });
});

describe('iommuMapLoop (map_pages errors)', () => {
  it('stops at the failing call and reports the pages mapped before it (what iommu_map unrolls)', () => {
    const out: MapLoopResult = { ret: 1, mappedPages: -1, calls: -1 };
    const seen: Call[] = [];
    const ret = iommuMapLoop(VTD, 1, 513, 1025, (i, p, s, c) => {
      seen.push([i, p, s, c]);
      return seen.length === 2 ? -22 : 0;
    }, out);
    expect(ret).toBe(-22);
    expect(out).toEqual({ ret: -22, mappedPages: 511, calls: 2 });
    expect(seen).toEqual([[1, 513, 0, 511], [512, 1024, 9, 1]]);
  });

  it('reports 0 mapped pages when the first call fails, and every page on success', () => {
    const out: MapLoopResult = { ret: 0, mappedPages: 0, calls: 0 };
    expect(iommuMapLoop(ALL, 2, 6, 3, () => -12, out)).toBe(-12);
    expect(out).toEqual({ ret: -12, mappedPages: 0, calls: 1 });
    expect(iommuMapLoop(ALL, 2, 6, 3, () => 0, out)).toBe(0);
    expect(out).toEqual({ ret: 0, mappedPages: 3, calls: 2 });
  });
});

describe('__iommu_unmap loop (forEachUnmapChunk)', () => {
  it('splits with paddr = iova and advances by what the driver unmapped', () => {
    const calls: Array<[number, number, number]> = [];
    const n = forEachUnmapChunk(ALL, 2, 8, (i, s, c) => {
      calls.push([i, s, c]);
      return c * 2 ** s;
    });
    expect(n).toBe(8);
    expect(calls).toEqual([[2, 1, 1], [4, 2, 1], [8, 1, 1]]);
  });

  it('advances past more than asked (a whole mapping removed) and stops at 0 (a hole or a refused split)', () => {
    const calls: Array<[number, number, number]> = [];
    // First call unmaps 4 pages although 2 were asked (virtio-iommu removes whole mappings).
    const n = forEachUnmapChunk(ALL, 2, 8, (i, s, c) => {
      calls.push([i, s, c]);
      return calls.length === 1 ? 4 : 0;
    });
    expect(calls).toEqual([[2, 1, 1], [6, 1, 2]]);
    expect(n).toBe(4);
  });

  it('returns the whole size for a 2 MiB mapping in one call, and 0 when the first call unmaps nothing', () => {
    const calls: Array<[number, number, number]> = [];
    expect(forEachUnmapChunk(VTD, 512, 512, (i, s, c) => { calls.push([i, s, c]); return c << s; })).toBe(512);
    expect(calls).toEqual([[512, 9, 1]]);
    expect(forEachUnmapChunk(VTD, 512, 512, () => 0)).toBe(0);
  });
});
