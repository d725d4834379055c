/**
 * VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA and VFIO_IOMMU_GET_INFO on a container's type1 state,
 * with the checks in the kernel's order (drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_map_dma
 * → vfio_dma_do_map, vfio_iommu_type1_unmap_dma → vfio_dma_do_unmap, vfio_iommu_type1_get_info;
 * ../../../../../shared/reference/iommufd-vfio-hostiommu.md §4). Every function returns an errno
 * (0 on success) with its output fields; none throws for user input.
 */
import { ERRNO } from '../../errno.ts';
import type { KernelEra } from '../../kernel.ts';
import { insideOne, minPageSize, U64_MAX, type IovaRange } from '../../platform/ranges.ts';
import {
  CAP_DMA_AVAIL_SIZE,
  CAP_MIGRATION_SIZE,
  DMA_MAP_MINSZ,
  DMA_UNMAP_MINSZ,
  INFO_MINSZ,
  INFO_SIZE,
  MAX_DIRTY_BITMAP_SIZE,
  VFIO_DMA_MAP_FLAG,
  VFIO_DMA_UNMAP_FLAG,
  VFIO_IOMMU_INFO,
  capIovaRangeSize,
} from './constants.ts';
import type { Type1State } from './container.ts';
import { DMA_READ, DMA_VADDR_INVALID, DMA_WRITE } from './dma-table.ts';

/** `struct vfio_iommu_type1_dma_map` (argsz defaults to its size, 32). */
export interface DmaMapArgs {
  argsz?: number;
  /** VFIO_DMA_MAP_FLAG_* bits. */
  flags: number;
  /** User VA of the memory (bytes); the model has no process memory, so any aligned value maps. */
  vaddr: bigint;
  iova: bigint;
  size: bigint;
}

/** `struct vfio_iommu_type1_dma_unmap` without the dirty bitmap (argsz defaults to 24). */
export interface DmaUnmapArgs {
  argsz?: number;
  /** VFIO_DMA_UNMAP_FLAG_* bits. */
  flags: number;
  iova: bigint;
  size: bigint;
}

/** An errno for a wrapping IOVA or VA: EINVAL, EOVERFLOW from the Oct-2025 series on (reference §4). */
function wrapErrno(era: KernelEra): number {
  return era === '2025' ? ERRNO.EOVERFLOW : ERRNO.EINVAL;
}

/**
 * VFIO_IOMMU_MAP_DMA. Returns, in order:
 *  - EINVAL: argsz < 32; an unknown flag; neither READ nor WRITE without VADDR, or READ/WRITE with
 *    VADDR; size 0; size, iova or vaddr not aligned to the smallest page of the container's bitmap;
 *  - EINVAL (era 2024) / EOVERFLOW (2025): iova + size - 1 or vaddr + size - 1 wraps past 2^64;
 *  - VADDR: ENOENT when no entry overlaps [iova, iova + size); EINVAL unless one entry with exactly
 *    that iova and size has an invalidated vaddr; else the vaddr is updated → 0;
 *  - EEXIST: [iova, iova + size) overlaps an entry (any overlap);
 *  - ENOSPC: no free slot (dma_entry_limit, default 65535);
 *  - EINVAL: [iova, iova + size - 1] not inside one range of the valid IOVA list (an empty list
 *    accepts anything: no IOMMU-backed group yet, the mapping is only recorded).
 */
export function mapDma(t: Type1State, a: DmaMapArgs, era: KernelEra): number {
  const mask = VFIO_DMA_MAP_FLAG.READ | VFIO_DMA_MAP_FLAG.WRITE | VFIO_DMA_MAP_FLAG.VADDR;
  if ((a.argsz ?? DMA_MAP_MINSZ) < DMA_MAP_MINSZ || (a.flags & ~mask) !== 0) return ERRNO.EINVAL;
  let prot = 0;
  if ((a.flags & VFIO_DMA_MAP_FLAG.WRITE) !== 0) prot |= DMA_WRITE;
  if ((a.flags & VFIO_DMA_MAP_FLAG.READ) !== 0) prot |= DMA_READ;
  const setVaddr = (a.flags & VFIO_DMA_MAP_FLAG.VADDR) !== 0;
  if ((prot !== 0 && setVaddr) || (prot === 0 && !setVaddr)) return ERRNO.EINVAL;
  const pgsize = minPageSize(t.pgsizeBitmap);
  if (a.size === 0n || ((a.size | a.iova | a.vaddr) & (pgsize - 1n)) !== 0n) return ERRNO.EINVAL;
  const last = a.iova + a.size - 1n;
  if (last > U64_MAX || a.vaddr + a.size - 1n > U64_MAX) return wrapErrno(era);
  const hit = t.dma.findOverlap(a.iova, last);
  if (setVaddr) {
    if (hit === undefined) return ERRNO.ENOENT;
    if ((hit.flags & DMA_VADDR_INVALID) === 0 || hit.iova !== a.iova || hit.size !== a.size) return ERRNO.EINVAL;
    t.dma.update({ ...hit, vaddr: a.vaddr, flags: hit.flags & ~DMA_VADDR_INVALID });
    t.vaddrInvalid--;
    return ERRNO.OK;
  }
  if (hit !== undefined) return ERRNO.EEXIST;
  if (t.dmaAvail === 0) return ERRNO.ENOSPC;
  if (t.iovaList.length > 0 && !insideOne(t.iovaList, a.iova, last)) return ERRNO.EINVAL;
  t.dma.insert({ iova: a.iova, size: a.size, vaddr: a.vaddr, flags: prot });
  t.dmaAvail--;
  return ERRNO.OK;
}

/**
 * UNMAP_DMA's result: errno and `size`. On success `size` is the bytes unmapped (written back);
 * on failure the kernel copies nothing back, so `size` is the caller's value, unchanged.
 */
export interface DmaUnmapResult {
  errno: number;
  size: bigint;
}

/**
 * VFIO_IOMMU_UNMAP_DMA (vfio_dma_do_unmap). Returns, in order:
 *  - EINVAL: argsz < 24; an unknown flag; GET_DIRTY_BITMAP with ALL or VADDR; GET_DIRTY_BITMAP at
 *    all (no VFIO_IOMMU_DIRTY_PAGES tracking is modelled: the kernel's "not started" EINVAL);
 *  - EINVAL: iova not aligned to the smallest page; ALL with a non-zero iova or size; without ALL,
 *    size 0 or not page aligned;
 *  - EINVAL (2024) / EOVERFLOW (2025): iova + size - 1 wraps;
 *  - v2 (TYPE1v2, NESTING; not with ALL): EINVAL when an entry contains iova but starts before it,
 *    or contains iova + size - 1 but ends after it (no bisecting);
 *  - VADDR: EINVAL when an entry in range already has an invalid vaddr (the ones marked by this call
 *    are restored);
 *  - otherwise 0, removing every entry that starts in the range (all whole in v2) and writing the
 *    bytes removed to `size` (0 when none). v1 (TYPE1) stops at an entry starting before iova: 0
 *    with size 0; an entry starting inside but ending past the range is removed whole.
 *  - VADDR instead marks the entries' vaddr invalid (they stay mapped) and counts their bytes.
 */
export function unmapDma(t: Type1State, a: DmaUnmapArgs, era: KernelEra): DmaUnmapResult {
  const F = VFIO_DMA_UNMAP_FLAG;
  const fail = (errno: number): DmaUnmapResult => ({ errno, size: a.size });
  if ((a.argsz ?? DMA_UNMAP_MINSZ) < DMA_UNMAP_MINSZ || (a.flags & ~(F.GET_DIRTY_BITMAP | F.ALL | F.VADDR)) !== 0) return fail(ERRNO.EINVAL);
  if ((a.flags & F.GET_DIRTY_BITMAP) !== 0) return fail(ERRNO.EINVAL);
  const all = (a.flags & F.ALL) !== 0;
  const vaddr = (a.flags & F.VADDR) !== 0;
  const pgsize = minPageSize(t.pgsizeBitmap);
  if ((a.iova & (pgsize - 1n)) !== 0n) return fail(ERRNO.EINVAL);
  let size = a.size;
  if (all) {
    if (a.iova !== 0n || a.size !== 0n) return fail(ERRNO.EINVAL);
    size = U64_MAX;
  } else {
    if (size === 0n || (size & (pgsize - 1n)) !== 0n) return fail(ERRNO.EINVAL);
    if (a.iova + size - 1n > U64_MAX) return fail(wrapErrno(era));
  }
  const last = a.iova + size - 1n;
  if (t.v2 && !all) {
    const first = t.dma.at(a.iova);
    if (first !== undefined && first.iova !== a.iova) return fail(ERRNO.EINVAL);
    const end = t.dma.at(last);
    if (end !== undefined && end.iova + end.size - 1n !== last) return fail(ERRNO.EINVAL);
  }
  const touched = t.dma.overlapping(a.iova, last);
  let n = touched.length;
  // v1: the walk stops at the first entry starting before iova.
  if (!t.v2 && n > 0 && touched[0].iova < a.iova) n = 0;
  let unmapped = 0n;
  if (vaddr) {
    for (let i = 0; i < n; i++) {
      if ((touched[i].flags & DMA_VADDR_INVALID) !== 0) {
        for (let j = 0; j < i; j++) t.dma.update({ ...touched[j], flags: touched[j].flags & ~DMA_VADDR_INVALID });
        t.vaddrInvalid -= i;
        return fail(ERRNO.EINVAL);
      }
      t.dma.update({ ...touched[i], flags: touched[i].flags | DMA_VADDR_INVALID });
      t.vaddrInvalid++;
      unmapped += touched[i].size;
    }
    return { errno: ERRNO.OK, size: unmapped };
  }
  for (let i = 0; i < n; i++) {
    unmapped += touched[i].size;
    if ((touched[i].flags & DMA_VADDR_INVALID) !== 0) t.vaddrInvalid--;
  }
  if (n > 0) {
    const removed = t.dma.removeStarts(touched[0].iova, touched[n - 1].iova);
    t.dmaAvail += removed;
  }
  return { errno: ERRNO.OK, size: unmapped };
}

/** The capabilities GET_INFO reports (each present only when the kernel adds it). */
export interface Type1InfoCaps {
  /**
   * VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION (v1): flags 0, the smallest page size, the largest dirty
   * bitmap in bytes. Always present from type1; absent from iommufd's VFIO compatibility (its
   * chain is DMA_AVAIL, IOVA_RANGE only: vfio_compat.c iommufd_vfio_iommu_get_info).
   */
  migration?: { flags: number; pgsizeBitmap: bigint; maxDirtyBitmapSize: bigint };
  /** VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL (v1): free mapping slots (iommufd compat: always U32_MAX). */
  dmaAvail: { avail: number };
  /** VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE (v1): the valid IOVA list, `end` inclusive; absent when the list is empty (mdev only). */
  iovaRange?: { nrIovas: number; iovaRanges: IovaRange[] };
}

/** GET_INFO's result: `struct vfio_iommu_type1_info` as written back, and the capability chain when it fit. */
export interface Type1InfoResult {
  errno: number;
  argsz: number;
  flags: number;
  iovaPgsizes: bigint;
  capOffset: number;
  /** Present when argsz covered the chain (then capOffset = 24). */
  capabilities?: Type1InfoCaps;
}

/**
 * VFIO_IOMMU_GET_INFO: EINVAL when argsz < 16 (offsetofend iova_pgsizes). Otherwise flags PGSIZES
 * (+ CAPS), iova_pgsizes = the container's bitmap; caps built in the order MIGRATION, DMA_AVAIL,
 * IOVA_RANGE. When argsz < 24 + the chain's size, argsz is set to that size with cap_offset 0 and
 * no chain; otherwise the chain follows the struct at cap_offset 24. `argsz` undefined = big enough.
 */
export function getInfo(t: Type1State, argsz: number | undefined): Type1InfoResult {
  const caps: Type1InfoCaps = {
    migration: { flags: 0, pgsizeBitmap: minPageSize(t.pgsizeBitmap), maxDirtyBitmapSize: MAX_DIRTY_BITMAP_SIZE },
    dmaAvail: { avail: t.dmaAvail },
  };
  let capsSize = CAP_MIGRATION_SIZE + CAP_DMA_AVAIL_SIZE;
  if (t.iovaList.length > 0) {
    caps.iovaRange = { nrIovas: t.iovaList.length, iovaRanges: t.iovaList.map((r) => ({ ...r })) };
    capsSize += capIovaRangeSize(t.iovaList.length);
  }
  const need = INFO_SIZE + capsSize;
  const given = argsz ?? need;
  if (given < INFO_MINSZ) return { errno: ERRNO.EINVAL, argsz: given, flags: 0, iovaPgsizes: 0n, capOffset: 0 };
  const flags = VFIO_IOMMU_INFO.PGSIZES | VFIO_IOMMU_INFO.CAPS;
  if (given < need) return { errno: ERRNO.OK, argsz: need, flags, iovaPgsizes: t.pgsizeBitmap, capOffset: 0 };
  return { errno: ERRNO.OK, argsz: given, flags, iovaPgsizes: t.pgsizeBitmap, capOffset: INFO_SIZE, capabilities: caps };
}
