/**
 * The IOMMU core's splitting of one `iommu_map` / `iommu_unmap` into the driver's `map_pages` /
 * `unmap_pages` calls, by the domain's `pgsize_bitmap` (Linux drivers/iommu/iommu.c:
 * `iommu_pgsize`, `__iommu_map_domain_pgtbl` (formerly `__iommu_map`), `__iommu_unmap_domain_pgtbl`
 * (formerly the body of `__iommu_unmap`), reached from `iommu_map` and `iommu_unmap_fast`).
 *
 * Why it matters here: virtio-iommu's `viommu_map_pages` sends one VIRTIO_IOMMU_T_MAP request per
 * call (`pgsize * pgcount` bytes) and `viommu_unmap_pages` one UNMAP per call, so the split decides
 * how many requests a guest `dma_map` costs and which ranges the host sees.
 *
 * Units: everything is in granules (the smallest supported page size, `__ffs(pgsize_bitmap)`, which
 * is also dma-iommu's IOVA granule): IOVAs and physical addresses as page frame numbers, sizes in
 * pages, page sizes as `shift` = log2(page size / granule). With a granule of at least 2 KiB every
 * 64-bit address is a pfn below 2^53, so all arithmetic here is exact on plain numbers (no bigint,
 * no allocation on the loops; JavaScript's 32-bit bitwise operators are never applied to pfns).
 *
 * The `min_pagesz` alignment check (`pr_err("unaligned: iova 0x%lx pa %pa size 0x%zx min_pagesz
 * 0x%x\n")`, -EINVAL) cannot fail in granule units; a caller holding byte values checks it first.
 *
 * Not modelled: domains on the generic page table (`iommupt_from_domain()`), whose
 * `pt->ops->map_range` / `unmap_range` do their own splitting in one driver call; virtio-iommu is
 * not one of them.
 */

/** 2^i for i in 0..63, exact doubles. */
const POW2 = new Float64Array(64);
for (let i = 0; i < 64; i++) POW2[i] = 2 ** i;

const TWO32 = 4294967296;

/** __ffs: index of the lowest set bit of an integer 0 < n < 2^53. */
function ctz53(n: number): number {
  const lo = n % TWO32;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = (n - lo) / TWO32;
  return 63 - Math.clz32(hi & -hi);
}

/** __fls: index of the highest set bit of an integer 0 < n < 2^53. */
function fls53(n: number): number {
  if (n < TWO32) return 31 - Math.clz32(n);
  return 63 - Math.clz32(Math.floor(n / TWO32));
}

// iommu_pgsize's two results, written by pgsizeInto (no object per call on the loops).
let outShift = 0;
let outCount = 0;

/**
 * iommu_pgsize (drivers/iommu/iommu.c), in granule units:
 * 1. candidates: supported sizes no larger than the highest set bit of `size`
 *    (`pgsize_bitmap & GENMASK(__fls(size), 0)`) and, unless iova | paddr is 0, no larger than
 *    their common alignment (`GENMASK(__ffs(iova | paddr), 0)`); pick the largest (BUG_ON if none);
 * 2. count: `size >> pgsize_idx`, except that when a next larger supported size exists, iova and
 *    paddr have the same offset in it (`!((iova ^ paddr) & (pgsize_next - 1))`), and `size` reaches
 *    at least one whole larger page past the next boundary (`offset + pgsize_next <= size`,
 *    check_add_overflow included: exact arithmetic cannot overflow), the count stops at that
 *    boundary so that the next call can use the larger size.
 */
function pgsizeInto(shifts: readonly number[], iova: number, paddr: number, size: number): void {
  if (!(size > 0)) throw new RangeError(`iommu_pgsize: size ${size} pages (the core never asks for 0)`);
  let limit = fls53(size);
  if (iova !== 0 || paddr !== 0) {
    // __ffs(iova | paddr) = the smaller of the two trailing-zero counts (0 has none).
    const a = iova === 0 ? 64 : ctz53(iova);
    const b = paddr === 0 ? 64 : ctz53(paddr);
    const align = a < b ? a : b;
    if (align < limit) limit = align;
  }
  const n = shifts.length;
  let i = 0;
  while (i < n && shifts[i] <= limit) i++;
  if (i === 0) {
    throw new Error(`iommu_pgsize: no supported page size fits (BUG_ON(!pgsizes)): shifts [${shifts.join(',')}], iova pfn ${iova}, paddr pfn ${paddr}, ${size} pages`);
  }
  const shift = shifts[i - 1];
  outShift = shift;
  if (i < n) {
    const next = POW2[shifts[i]];
    const iovaOff = iova % next;
    if (iovaOff === paddr % next) {
      // addr_merge & (pgsize_next - 1) equals iova's offset here: paddr has the same low bits.
      const offset = next - iovaOff;
      if (offset + next <= size) size = offset;
    }
  }
  outCount = Math.floor(size / POW2[shift]);
}

/**
 * One `map_pages` / `unmap_pages` call as Linux's iommu_pgsize chooses it.
 * @param pgsizeShifts the supported page sizes as log2(size / granule), ascending, starting at 0
 *   (e.g. virtio-iommu with page_size_mask ~0xfff and a 4 KiB granule: 0..51; VT-d with 2 MiB and
 *   1 GiB superpages: [0, 9, 18]); see {@link pgsizeShiftsFromMask}.
 * @param iovaPfn IOVA / granule. @param paddrPfn physical address / granule (= iovaPfn for unmap).
 * @param sizePages pages (granules) still to map, > 0.
 * @returns `shift` of the page size chosen and `count` pages of that size (count >= 1).
 * @throws Error when no supported size fits (Linux's BUG_ON: shifts not starting at 0).
 */
export function iommuPgsize(pgsizeShifts: readonly number[], iovaPfn: number, paddrPfn: number, sizePages: number): { shift: number; count: number } {
  pgsizeInto(pgsizeShifts, iovaPfn, paddrPfn, sizePages);
  return { shift: outShift, count: outCount };
}

/**
 * __iommu_map_domain_pgtbl's loop (iommu.c; called `__iommu_map` before the generic page table
 * work) when every `map_pages` call succeeds: `visit(iovaPfn, paddrPfn, shift, count)` once per
 * call, in order, each covering `count << shift` pages from `iovaPfn` / `paddrPfn`.
 * Examples (4 KiB granule, every size supported): 12 KiB at an 8 KiB-aligned IOVA and paddr →
 * 8 KiB ×1 then 4 KiB ×1; 2 MiB at a 2 MiB-aligned pair → one 2 MiB call.
 * @returns the number of map_pages calls.
 */
export function forEachMapChunk(
  pgsizeShifts: readonly number[], iovaPfn: number, paddrPfn: number, sizePages: number,
  visit: (iovaPfn: number, paddrPfn: number, shift: number, count: number) => void,
): number {
  let calls = 0;
  while (sizePages > 0) {
    pgsizeInto(pgsizeShifts, iovaPfn, paddrPfn, sizePages);
    const shift = outShift;
    const count = outCount;
    const pages = count * POW2[shift];
    visit(iovaPfn, paddrPfn, shift, count);
    calls++;
    iovaPfn += pages;
    paddrPfn += pages;
    sizePages -= pages;
  }
  return calls;
}

/** What {@link iommuMapLoop} did. */
export interface MapLoopResult {
  /** 0, or the negative errno of the map_pages call that failed (the loop stops there). */
  ret: number;
  /**
   * Pages mapped before the failure (`orig_size - size`): on failure Linux unrolls them with
   * `iommu_unmap(domain, orig_iova, orig_size - size)` — called even when this is 0.
   */
  mappedPages: number;
  /** map_pages calls made, the failing one included. */
  calls: number;
}

/**
 * __iommu_map_domain_pgtbl's loop with driver errors. `mapPages(iovaPfn, paddrPfn, shift, count)`
 * returns 0 when all `count << shift` pages were mapped (`*mapped = size`) or a negative errno when
 * none were: virtio-iommu's viommu_map_pages is all-or-nothing (it drops its own interval-tree
 * entry when queuing the MAP request fails; flags outside the domain's map_flags give -EINVAL).
 * A driver that maps part of a call before failing is not modelled.
 * The unroll (`iommu_unmap` of `mappedPages` from the original IOVA) and iommu_map's
 * `iommu_sync_map` (`ops->iotlb_sync_map`; on failure `iommu_unmap` of the whole range) are the
 * caller's: see {@link forEachUnmapChunk}.
 * @returns `out.ret`.
 */
export function iommuMapLoop(
  pgsizeShifts: readonly number[], iovaPfn: number, paddrPfn: number, sizePages: number,
  mapPages: (iovaPfn: number, paddrPfn: number, shift: number, count: number) => number,
  out: MapLoopResult,
): number {
  const orig = sizePages;
  let calls = 0;
  let ret = 0;
  while (sizePages > 0) {
    pgsizeInto(pgsizeShifts, iovaPfn, paddrPfn, sizePages);
    const shift = outShift;
    const pages = outCount * POW2[shift];
    calls++;
    ret = mapPages(iovaPfn, paddrPfn, shift, outCount);
    if (ret !== 0) break;
    iovaPfn += pages;
    paddrPfn += pages;
    sizePages -= pages;
  }
  out.ret = ret;
  out.mappedPages = orig - sizePages;
  out.calls = calls;
  return ret;
}

/**
 * __iommu_unmap_domain_pgtbl's loop (iommu.c; reached from `iommu_unmap` and `iommu_unmap_fast`
 * through `__iommu_unmap`): the same iommu_pgsize with paddr = iova (so the "same offset in the
 * larger page" test always holds), asking for the pages not yet unmapped. `unmapPages(iovaPfn,
 * shift, count)` returns the pages the driver actually unmapped (`unmapped_page`, >= 0): the loop
 * advances by that (it may exceed `count << shift`) and stops at 0 (an unmapped hole, or
 * virtio-iommu refusing to split a mapping: `viommu_unmap_pages` returns 0 when
 * `viommu_del_mappings` removed less than asked). Whether an IOTLB sync follows is the caller's:
 * `iommu_unmap` syncs (`iommu_iotlb_sync`), `iommu_unmap_fast` leaves it to dma-iommu (strict:
 * sync now; lazy: the flush queue). The `iommu:unmap` trace point reports (iova, size, unmapped).
 * @returns total pages unmapped (`unmapped`; less than `sizePages` when the loop stopped early).
 */
export function forEachUnmapChunk(
  pgsizeShifts: readonly number[], iovaPfn: number, sizePages: number,
  unmapPages: (iovaPfn: number, shift: number, count: number) => number,
): number {
  let unmapped = 0;
  while (unmapped < sizePages) {
    pgsizeInto(pgsizeShifts, iovaPfn, iovaPfn, sizePages - unmapped);
    const got = unmapPages(iovaPfn, outShift, outCount);
    if (!(got > 0)) break;
    iovaPfn += got;
    unmapped += got;
  }
  return unmapped;
}

/**
 * __ffs of a 64-bit page-size mask given as u32 halves: log2 of the smallest page size (Linux's
 * IOVA granule `order = __ffs(domain->pgsize_bitmap)`, virtio-iommu's `viommu_page_size`), or -1
 * for an empty mask.
 */
export function maskGranuleShift(maskHi: number, maskLo: number): number {
  const lo = maskLo >>> 0;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = maskHi >>> 0;
  if (hi !== 0) return 63 - Math.clz32(hi & -hi);
  return -1;
}

/**
 * A `pgsize_bitmap` (virtio-iommu's page_size_mask, a host's IOMMU_HWPT page sizes, …) given as
 * u32 halves → the ascending page-size shifts relative to the granule that {@link iommuPgsize} and
 * the loops take: bit b (b >= granuleShift) set → shift b - granuleShift. Bits below the granule
 * are ignored; pass `maskGranuleShift(hi, lo)` as Linux does (dma-iommu's granule is the smallest
 * set bit), and the result starts at 0.
 * Example: (0xffffffff, 0xfffff000), 12 → [0, 1, …, 51]; VT-d 4K|2M|1G (0, 0x40201000), 12 → [0, 9, 18].
 * @throws RangeError when granuleShift is outside 11..63 (below 2 KiB, pfns of 64-bit addresses
 *   would not all be exact below 2^53).
 */
export function pgsizeShiftsFromMask(maskHi: number, maskLo: number, granuleShift: number): number[] {
  if (!Number.isInteger(granuleShift) || granuleShift < 11 || granuleShift > 63) {
    throw new RangeError(`pgsizeShiftsFromMask: granule shift ${granuleShift} outside 11..63`);
  }
  const lo = maskLo >>> 0;
  const hi = maskHi >>> 0;
  const shifts: number[] = [];
  for (let b = granuleShift; b < 64; b++) {
    const set = b < 32 ? (lo >>> b) & 1 : (hi >>> (b - 32)) & 1;
    if (set) shifts.push(b - granuleShift);
  }
  return shifts;
}
