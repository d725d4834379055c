/**
 * Inclusive u64 IOVA ranges [start, end] as bigint, and the set operations the host side computes
 * its usable IOVA ranges with: aperture minus reserved regions (VFIO type1's valid IOVA list,
 * drivers/vfio/vfio_iommu_type1.c vfio_iommu_aper_resize / vfio_iommu_resv_exclude; iommufd's
 * IOVA_RANGES holes, ../../../../shared/reference/iommufd-vfio-hostiommu.md §2.4 and §4).
 * Lists are sorted by start, disjoint, never adjacent-merged unless stated; all functions are pure.
 */

/** Largest u64, 0xffffffffffffffff. */
export const U64_MAX = 0xffffffffffffffffn;

/** One inclusive range of IOVAs in bytes: [start, end], start <= end <= U64_MAX. */
export interface IovaRange {
  start: bigint;
  end: bigint;
}

/** The ranges of `list` clipped to [start, end] (vfio_iommu_aper_resize); sorted input gives sorted output. */
export function clipRanges(list: readonly IovaRange[], start: bigint, end: bigint): IovaRange[] {
  const out: IovaRange[] = [];
  for (const r of list) {
    const s = r.start > start ? r.start : start;
    const e = r.end < end ? r.end : end;
    if (s <= e) out.push({ start: s, end: e });
  }
  return out;
}

/**
 * `list` minus every range of `holes` (vfio_iommu_resv_exclude: a range split by a hole becomes
 * two, a range covered by one disappears). `list` sorted and disjoint; `holes` in any order.
 */
export function subtractRanges(list: readonly IovaRange[], holes: readonly IovaRange[]): IovaRange[] {
  let cur: IovaRange[] = list.map((r) => ({ start: r.start, end: r.end }));
  for (const h of holes) {
    const next: IovaRange[] = [];
    for (const r of cur) {
      if (h.end < r.start || h.start > r.end) {
        next.push(r);
        continue;
      }
      if (h.start > r.start) next.push({ start: r.start, end: h.start - 1n });
      if (h.end < r.end) next.push({ start: h.end + 1n, end: r.end });
    }
    cur = next;
  }
  return cur;
}

/** Whether [start, end] lies inside one range of `list` (vfio_iommu_iova_dma_valid). */
export function insideOne(list: readonly IovaRange[], start: bigint, end: bigint): boolean {
  for (const r of list) if (r.start <= start && end <= r.end) return true;
  return false;
}

/** Whether [a.start, a.end] and [b.start, b.end] share an address. */
export function overlaps(a: IovaRange, b: IovaRange): boolean {
  return a.start <= b.end && b.start <= a.end;
}

/** `list` sorted by start (a copy). */
export function sortRanges<T extends IovaRange>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
}

/** The last address of an `awBits`-bit IOVA space: 2^awBits - 1 (U64_MAX for 64). */
export function awEnd(awBits: number): bigint {
  return awBits >= 64 ? U64_MAX : (1n << BigInt(awBits)) - 1n;
}

/** The smallest page size of a page-size bitmap (1 << __ffs(mask)); 0n for an empty mask. */
export function minPageSize(mask: bigint): bigint {
  return mask === 0n ? 0n : mask & -mask;
}
