/**
 * IovaDomain rule by rule (drivers/iommu/iova.c; reference part B2): each expected pfn is worked out
 * by hand from the kernel's rules in the comment beside it.
 */
import { describe, it, expect } from 'vitest';
import { IOVA_MAG_SIZE, IovaDomain } from '../../../core/guest/iova.ts';

const L32 = 0xfffff; // DMA_BIT_MASK(32) >> 12: the inclusive 32-bit limit in 4 KiB pages
const L64 = 2 ** 36 - 1; // a 48-bit device's limit in pages

function ranges(d: IovaDomain): string[] {
  const out: string[] = [];
  d.forEachRange((lo, hi, kind) => out.push(`${lo.toString(16)}-${hi.toString(16)} ${kind}`));
  return out;
}

describe('init_iova_domain', () => {
  it('derives shift and dma_32bit_pfn from the granule', () => {
    const d = new IovaDomain(4096, 1, 1);
    expect([d.shift, d.dma32BitPfn, d.startPfn, d.liveCount()]).toEqual([12, 0x100000, 1, 0]);
    const d64 = new IovaDomain(65536, 1, 1);
    expect([d64.shift, d64.dma32BitPfn]).toEqual([16, 0x10000]);
    expect(() => new IovaDomain(6000, 1, 1)).toThrow(RangeError);
    expect(() => new IovaDomain(4096, 1, 0)).toThrow(RangeError);
  });
});

describe('alignment and power-of-two rounding', () => {
  it('alloc_iova_fast rounds below 32 pages and aligns to roundup_pow_of_two(size)', () => {
    const d = new IovaDomain(4096, 1, 1);
    // 3 pages -> 4: (0x100000 - 4) & ~3 = 0xffffc, four pages used
    expect(d.allocIovaFast(3, L32, true, 0)).toBe(0xffffc);
    expect(d.findIova(0xffffc)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xfffff, reserved: false });
    // 40 pages: not rounded (>= 32), aligned to 64: (0xffffc - 40) & ~63 = 0xfffc0, 40 pages used
    expect(d.allocIovaFast(40, L32, true, 0)).toBe(0xfffc0);
    expect(d.findIova(0xfffc0)).toEqual({ pfnLo: 0xfffc0, pfnHi: 0xfffc0 + 39, reserved: false });
    expect(d.findIova(0xfffc0 + 40)).toBeUndefined();
  });

  it('alloc_iova aligns only when size_aligned, and never rounds the size', () => {
    const d = new IovaDomain(4096, 1, 1);
    expect(d.allocIova(3, L32, false)).toBe(0xffffd); // 0x100000 - 3
    expect(d.allocIova(3, L32, true)).toBe(0xffff8); // (0xffffd - 3) & ~3
    expect(d.findIova(0xffff8)?.pfnHi).toBe(0xffffa);
    expect(() => d.allocIova(0, L32, true)).toThrow(RangeError);
  });
});

describe('the top-down walk', () => {
  it('hands out pages downward from the limit', () => {
    const d = new IovaDomain(4096, 1, 1);
    expect([1, 2, 3].map(() => d.allocIova(1, L32, false))).toEqual([0xfffff, 0xffffe, 0xffffd]);
    expect([1, 2].map(() => d.allocIova(1, L64, false))).toEqual([L64, L64 - 1]);
  });

  it('start_pfn: page 0 is never handed out', () => {
    const d = new IovaDomain(4096, 1, 1);
    expect([1, 2, 3, 4].map(() => d.allocIova(1, 3, false))).toEqual([3, 2, 1, -1]);
    expect(d.allocIovaFast(1, 3, true, 0)).toBe(0); // alloc_iova_fast's failure value
  });

  it('continues below the cached node, and retries over the skipped top once', () => {
    const d = new IovaDomain(4096, 0xf0, 1);
    expect(d.allocIova(1, 0xff, false)).toBe(0xff);
    // cached32_node is now 0xff: a request with a higher limit still continues below it
    expect(d.allocIova(1, L32, false)).toBe(0xfe);
    for (let p = 0xfd; p >= 0xf0; p--) expect(d.allocIova(1, L32, false)).toBe(p);
    // below the cached node (0xf0) nothing is left: the retry walks [0xf0 + 1, limit) from the top
    expect(d.allocIova(1, L32, false)).toBe(0xfffff);
    // and the next one continues below the new cached node
    expect(d.allocIova(1, L32, false)).toBe(0xffffe);
  });

  it('steps over a gap long enough but whose aligned slot would overlap the node below', () => {
    for (const indexed of [true, false]) {
      const d = new IovaDomain(4096, 1, 1);
      // with 8 other alignment orders walked first, order 10 walks the gap-filtered fallback (a
      // walk indexes an order when the gap right below its start node is too small: two adjacent
      // reserved nodes per order make it so)
      if (!indexed) {
        for (let j = 1; j <= 8; j++) {
          const b = L64 - j * 1000;
          d.reserveIova(b, b + 9);
          d.reserveIova(b + 10, b + 20);
          expect(d.allocIova(2 ** j, b + 9, true)).toBe(Math.floor((b - 2 ** j) / 2 ** j) * 2 ** j);
        }
      }
      d.reserveIova(4000, 4096);
      d.reserveIova(4700, 9000);
      // 600 pages aligned to 1024: below 4700 the slot is (4700 - 600) & ~1023 = 4096, on the
      // reserved node's last page (the gap of 603 pages is long enough, the slot is not free);
      // the walk goes on: (4000 - 600) & ~1023 = 3072
      expect(d.allocIova(600, 9000, true)).toBe(3072);
    }
  });

  it('a free above the cached node moves the walk back up to the hole', () => {
    const d = new IovaDomain(4096, 1, 1);
    for (let i = 0; i < 8; i++) d.allocIova(1, L32, false); // 0xfffff .. 0xffff8
    d.freeIova(0xffffb); // 0xffffb >= cached32 (0xffff8): cached32_node = rb_next = 0xffffc
    expect(d.allocIova(1, L32, false)).toBe(0xffffb);
    d.freeIova(0xffffd); // above again
    d.freeIova(0xffff9); // below cached32 (0xffffb): the cache stays
    expect(d.allocIova(1, L32, false)).toBe(0xffffd);
    // from 0xffffd down: 0xffffc, 0xffffb, 0xffffa are taken, the hole at 0xffff9 is next
    expect(d.allocIova(1, L32, false)).toBe(0xffff9);
  });
});

describe('max32_alloc_size', () => {
  it('fails 32-bit requests of at least the failed size at once, until a free below 4 GiB', () => {
    const d = new IovaDomain(4096, 0xf0, 1);
    expect(d.reserveIova(0x100, 0xfffff)).toBe(true); // 32-bit space left: 0xf0..0xff
    expect(d.allocIova(8, L32, true)).toBe(0xf8);
    expect(d.allocIova(4, L32, true)).toBe(0xf4);
    // 16 pages cannot fit: the walk and the retry fail, max32_alloc_size = 16
    expect(d.allocIova(16, L32, true)).toBe(-1);
    expect(d.stats.max32Fails).toBe(0);
    expect(d.allocIova(16, L32, true)).toBe(-1);
    expect(d.allocIova(32, L32, true)).toBe(-1);
    expect(d.stats.max32Fails).toBe(2); // both failed at once
    expect(d.allocIova(4, L32, true)).toBe(0xf0); // smaller requests still walk
    // the hint only gates 32-bit limits; a free at or above 4 GiB does not reset it
    const hi = d.allocIova(16, L64, true);
    expect(hi).toBe(L64 + 1 - 16);
    d.freeIova(hi);
    expect(d.allocIova(16, L32, true)).toBe(-1);
    expect(d.stats.max32Fails).toBe(3);
    // a free below 4 GiB resets it: 0xf0..0xff is free again and 16 pages fit at 0xf0
    d.freeIova(0xf8);
    d.freeIova(0xf4);
    d.freeIova(0xf0);
    expect(d.allocIova(16, L32, true)).toBe(0xf0);
    expect(d.stats.max32Fails).toBe(3);
  });

  it('is set by any failure, even one above 4 GiB', () => {
    const d = new IovaDomain(4096, 1, 1);
    expect(d.reserveIova(0x40, 0x1000ff)).toBe(true); // free: 0x1..0x3f
    // aligned to 64, 48 pages would start at 0: below start_pfn, fail; max32_alloc_size = 48
    expect(d.allocIova(0x30, 0x1000ff, true)).toBe(-1);
    // unaligned, 48 pages would fit at 0x10, but the 32-bit request fails at once
    expect(d.allocIova(0x30, L32, false)).toBe(-1);
    expect(d.stats.max32Fails).toBe(1);
    expect(d.allocIova(0x2f, L32, false)).toBe(0x11);
  });
});

describe('reserve_iova', () => {
  it('widens overlapped nodes, inserts the rest, and reserved nodes are never freed', () => {
    const d = new IovaDomain(4096, 1, 1);
    expect(d.reserveIova(0x10, 0x20)).toBe(true);
    expect(d.reserveIova(0x15, 0x30)).toBe(true); // overlaps [0x10, 0x20]: the rest [0x21, 0x30] is new
    expect(ranges(d)).toEqual(['10-20 reserved', '21-30 reserved']);
    expect(d.reserveIova(0x5, 0x12)).toBe(true); // widens [0x10, 0x20] down to 0x5, nothing new
    expect(d.reserveIova(0x0, 0x40)).toBe(true);
    expect(ranges(d)).toEqual(['0-20 reserved', '21-30 reserved', '31-40 reserved']);
    d.freeIova(0x15);
    d.freeIovaFast(0x35, 64, 0); // order 6: free_iova
    expect(d.liveCount()).toBe(3);
    // an allocated node overlapped by a reservation is widened too
    expect(d.allocIova(1, 0x100, false)).toBe(0x100);
    expect(d.reserveIova(0xfc, 0x104)).toBe(true);
    expect(ranges(d).slice(3)).toEqual(['fc-100 reserved', '101-104 reserved']);
    // the walk steps over reserved nodes
    expect(d.allocIova(4, 0x104, true)).toBe(0xf8);
    // pfns above ULLONG_MAX >> shift: NULL
    expect(d.reserveIova(2 ** 52, 2 ** 52)).toBe(false);
  });

  it('a reservation that widens the cached node moves where the next walk starts (64-bit and 32-bit)', () => {
    const d = new IovaDomain(4096, 1, 1);
    // above 4 GiB: cached_node is the node just allocated, [L64, L64]
    expect(d.allocIova(1, L64, false)).toBe(L64);
    expect(d.reserveIova(L64 - 5, L64)).toBe(true); // widens it to [L64 - 5, L64], still cached_node
    // the walk starts at cached_node: high_pfn = its new pfn_lo, so the next page is L64 - 6
    expect(d.allocIova(1, L64, false)).toBe(L64 - 6);
    // below 4 GiB: the same through cached32_node
    expect(d.allocIova(1, L32, false)).toBe(L32);
    expect(d.reserveIova(L32 - 3, L32)).toBe(true);
    expect(d.allocIova(1, L32, false)).toBe(L32 - 4);
    expect(ranges(d)).toEqual([`${(L32 - 4).toString(16)}-${(L32 - 4).toString(16)} allocated`, `${(L32 - 3).toString(16)}-${L32.toString(16)} reserved`, `${(L64 - 6).toString(16)}-${(L64 - 6).toString(16)} allocated`, `${(L64 - 5).toString(16)}-${L64.toString(16)} reserved`]);
  });
});

describe('the rcache', () => {
  it('magazines are LIFO per CPU', () => {
    const d = new IovaDomain(4096, 1, 2);
    const [a, b, c] = [0, 1, 2].map(() => d.allocIovaFast(1, L32, true, 0));
    expect([a, b, c]).toEqual([0xfffff, 0xffffe, 0xffffd]);
    d.freeIovaFast(a, 1, 0);
    d.freeIovaFast(b, 1, 0);
    d.freeIovaFast(c, 1, 1);
    expect(ranges(d)).toEqual(['ffffd-ffffd cached', 'ffffe-ffffe cached', 'fffff-fffff cached']);
    expect(d.allocIovaFast(1, L32, true, 0)).toBe(b);
    expect(d.allocIovaFast(1, L32, true, 0)).toBe(a);
    expect(d.allocIovaFast(1, L32, true, 0)).toBe(0xffffc); // CPU 0 is empty: the tree
    expect(d.allocIovaFast(1, L32, true, 1)).toBe(c);
    expect(d.stats.rcacheHits).toBe(3);
    expect(d.stats.rcacheMisses).toBe(4);
    // a 3-page free goes to order 2 with the 4-page allocations
    const p = d.allocIovaFast(3, L32, true, 0);
    d.freeIovaFast(p, 3, 0);
    expect(d.allocIovaFast(4, L32, true, 0)).toBe(p);
  });

  it('a limit below 4 GiB skips high cached pfns (the newest one that fits, swapped with the top)', () => {
    const d = new IovaDomain(4096, 1, 1);
    const lo1 = d.allocIovaFast(1, L32, true, 0);
    const lo2 = d.allocIovaFast(1, L32, true, 0);
    const hi1 = d.allocIovaFast(1, L64, true, 0);
    const hi2 = d.allocIovaFast(1, L64, true, 0);
    for (const p of [lo1, lo2, hi1, hi2]) d.freeIovaFast(p, 1, 0); // magazine: lo1 lo2 hi1 hi2
    expect(d.allocIovaFast(1, L32, true, 0)).toBe(lo2); // hi2, hi1 do not fit; hi2 fills lo2's slot
    expect(d.cpuCached(0, 0).loaded).toEqual([lo1, hi2, hi1]);
    expect(d.allocIovaFast(1, L64, true, 0)).toBe(hi1); // any fits: the top
    // the limit counts the request's size: a pfn fits when pfn <= limit + 1 - size
    const e = d.allocIovaFast(2, 0x1001, true, 0); // 0x1000
    d.freeIovaFast(e, 2, 0);
    expect(d.allocIovaFast(2, 0x1000, true, 0)).not.toBe(e); // 0x1000 > 0x1000 + 1 - 2
  });

  it('the 128th free swaps loaded and prev; with both full, loaded goes to the depot', () => {
    const d = new IovaDomain(4096, 1, 1);
    const scheduled: number[] = [];
    d.onDepotWorkScheduled = (o) => scheduled.push(o);
    const pfns = Array.from({ length: 2 * IOVA_MAG_SIZE + 1 }, () => d.allocIovaFast(1, L64, true, 0));
    pfns.slice(0, IOVA_MAG_SIZE).forEach((p) => d.freeIovaFast(p, 1, 0));
    expect(d.cpuCached(0, 0)).toEqual({ loaded: pfns.slice(0, IOVA_MAG_SIZE), prev: [] });
    d.freeIovaFast(pfns[IOVA_MAG_SIZE], 1, 0);
    expect(d.cpuCached(0, 0)).toEqual({ loaded: [pfns[IOVA_MAG_SIZE]], prev: pfns.slice(0, IOVA_MAG_SIZE) });
    pfns.slice(IOVA_MAG_SIZE + 1, 2 * IOVA_MAG_SIZE).forEach((p) => d.freeIovaFast(p, 1, 0));
    expect(d.depotSize()).toBe(0);
    d.freeIovaFast(pfns[2 * IOVA_MAG_SIZE], 1, 0);
    expect(d.depotSize()).toBe(1);
    expect(d.depotSize(0)).toBe(1);
    expect(d.cpuCached(0, 0).loaded).toEqual([pfns[2 * IOVA_MAG_SIZE]]);
    expect(scheduled).toEqual([0]);
    expect(d.depotWorkPending()).toBe(1);
    // allocation takes back in reverse: loaded, then prev (swapped in), then the depot
    expect(d.allocIovaFast(1, L64, true, 0)).toBe(pfns[2 * IOVA_MAG_SIZE]);
    expect(d.allocIovaFast(1, L64, true, 0)).toBe(pfns[IOVA_MAG_SIZE - 1]);
    for (let i = 0; i < IOVA_MAG_SIZE - 1; i++) d.allocIovaFast(1, L64, true, 0);
    expect(d.allocIovaFast(1, L64, true, 0)).toBe(pfns[2 * IOVA_MAG_SIZE - 1]);
    expect(d.depotSize()).toBe(0);
  });

  it('the depot work trims one magazine per run, newest first, down to num_online_cpus()', () => {
    const d = new IovaDomain(4096, 1, 1);
    const n = 2 * IOVA_MAG_SIZE + 2 * IOVA_MAG_SIZE + 1;
    const pfns = Array.from({ length: n }, () => d.allocIovaFast(1, L64, true, 0));
    pfns.forEach((p) => d.freeIovaFast(p, 1, 0));
    // depot, newest first: frees #382..#508, #255..#381, #128..#254 (1-based)
    expect(d.depotSize()).toBe(3);
    expect(d.liveCount()).toBe(n);
    d.depotWork();
    expect([d.depotSize(), d.liveCount(), d.depotWorkPending()]).toEqual([2, n - IOVA_MAG_SIZE, 1]);
    expect(d.findIova(pfns[400])).toBeUndefined();
    expect(d.findIova(pfns[300])).toBeDefined();
    d.depotWork();
    expect(d.findIova(pfns[300])).toBeUndefined();
    expect([d.depotSize(), d.depotWorkPending()]).toEqual([1, 1]);
    d.depotWork(); // 1 > 1 is false: nothing freed, not rescheduled
    expect([d.depotSize(), d.depotWorkPending(), d.liveCount()]).toEqual([1, 0, n - 2 * IOVA_MAG_SIZE]);
    d.depotWork();
    expect(d.depotSize()).toBe(1);
  });

  it('on failure with flush_rcache, every CPU and the depot return their pfns and the walk retries once', () => {
    const d = new IovaDomain(4096, 1, 2);
    const pfns = Array.from({ length: 16 }, () => d.allocIovaFast(1, 16, true, 0));
    expect(pfns[15]).toBe(1);
    pfns.forEach((p) => d.freeIovaFast(p, 1, 1)); // cached on CPU 1, still allocated in the tree
    expect(d.allocIovaFast(2, 16, false, 0)).toBe(0);
    expect(d.stats.flushes).toBe(0);
    // the failure set max32_alloc_size = 2, the flush's frees below 4 GiB reset it; the cached node
    // went back to the anchor with the first freed (highest) node: (17 - 2) & ~1 = 14
    expect(d.allocIovaFast(2, 16, true, 0)).toBe(14);
    expect(d.stats.flushes).toBe(1);
    expect(ranges(d)).toEqual(['e-f allocated']);
  });
});

describe('put_iova_domain', () => {
  it('frees everything; the domain cannot be used afterwards', () => {
    const d = new IovaDomain(4096, 1, 1);
    d.reserveIova(0x10, 0x20);
    const p = d.allocIovaFast(1, L32, true, 0);
    d.freeIovaFast(p, 1, 0);
    d.allocIova(100, L64, true);
    d.putIovaDomain();
    expect(d.liveCount()).toBe(0);
    expect(ranges(d)).toEqual([]);
    expect(() => d.allocIova(1, L32, false)).toThrow(/put_iova_domain/);
    expect(() => d.allocIovaFast(1, L32, true, 0)).toThrow(/put_iova_domain/);
  });
});
