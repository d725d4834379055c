/**
 * VFIO type1 uAPI constants (include/uapi/linux/vfio.h) and the sizes the GET_INFO argsz logic uses.
 * Source: ../../../../../shared/reference/iommufd-vfio-hostiommu.md §4. Values the reference marks
 * "recalled, UNVERIFIED" are marked so here too.
 */
import { ERRNO } from '../../errno.ts';

/** VFIO_SET_IOMMU / VFIO_CHECK_EXTENSION arguments (UNVERIFIED numbering, reference §4 and §7). */
export const VFIO_EXT = {
  TYPE1_IOMMU: 1,
  SPAPR_TCE_IOMMU: 2,
  TYPE1v2_IOMMU: 3,
  /** VFIO_DMA_CC_IOMMU: 1 only when every domain enforces cache coherency (IOMMU_CACHE). */
  DMA_CC_IOMMU: 4,
  EEH: 5,
  TYPE1_NESTING_IOMMU: 6,
  SPAPR_TCE_v2_IOMMU: 7,
  NOIOMMU_IOMMU: 8,
  UNMAP_ALL: 9,
  UPDATE_VADDR: 10,
} as const;

/** The IOMMU types set-iommu takes, by scenario name. */
export const IOMMU_TYPE_BY_NAME: Readonly<Record<string, number>> = { type1: VFIO_EXT.TYPE1_IOMMU, type1v2: VFIO_EXT.TYPE1v2_IOMMU, 'type1-nesting': VFIO_EXT.TYPE1_NESTING_IOMMU };

/** `vfio_iommu_type1_dma_map.flags`. */
export const VFIO_DMA_MAP_FLAG = { READ: 1 << 0, WRITE: 1 << 1, VADDR: 1 << 2 } as const;
/** `vfio_iommu_type1_dma_unmap.flags`. */
export const VFIO_DMA_UNMAP_FLAG = { GET_DIRTY_BITMAP: 1 << 0, ALL: 1 << 1, VADDR: 1 << 2 } as const;
/** Scenario flag names → bits, for map-dma (read, write, vaddr) and unmap-dma (get-dirty-bitmap, all, vaddr). */
export const MAP_FLAG_NAMES: Readonly<Record<string, number>> = { read: VFIO_DMA_MAP_FLAG.READ, write: VFIO_DMA_MAP_FLAG.WRITE, vaddr: VFIO_DMA_MAP_FLAG.VADDR };
export const UNMAP_FLAG_NAMES: Readonly<Record<string, number>> = { 'get-dirty-bitmap': VFIO_DMA_UNMAP_FLAG.GET_DIRTY_BITMAP, all: VFIO_DMA_UNMAP_FLAG.ALL, vaddr: VFIO_DMA_UNMAP_FLAG.VADDR };

/** `vfio_iommu_type1_info.flags`. */
export const VFIO_IOMMU_INFO = { PGSIZES: 1 << 0, CAPS: 1 << 1 } as const;
/** Capability IDs of the GET_INFO chain (each version 1). */
export const VFIO_IOMMU_TYPE1_INFO_CAP = { IOVA_RANGE: 1, MIGRATION: 2, DMA_AVAIL: 3 } as const;

/** `argsz` minimum of MAP_DMA and UNMAP_DMA: offsetofend(..., size) = 32 bytes. */
export const DMA_MAP_MINSZ = 32;
export const DMA_UNMAP_MINSZ = 24;
/** sizeof(struct vfio_iommu_type1_info) = 24: {argsz, flags, iova_pgsizes, cap_offset, pad}. */
export const INFO_SIZE = 24;
/** GET_INFO minimum argsz: offsetofend(iova_pgsizes) = 16. */
export const INFO_MINSZ = 16;
/**
 * Bytes each capability takes in the chain: vfio_info_cap_add aligns every capability to 8 bytes
 * (recalled, UNVERIFIED). MIGRATION {header 8; u32 flags; pad; u64 pgsize_bitmap; u64
 * max_dirty_bitmap_size} = 32; DMA_AVAIL {header; u32 avail} = 12 → 16; IOVA_RANGE {header; u32
 * nr_iovas; u32 reserved; {u64 start, end}[n]} = 16 + 16n.
 */
export const CAP_MIGRATION_SIZE = 32;
export const CAP_DMA_AVAIL_SIZE = 16;
export function capIovaRangeSize(n: number): number {
  return 16 + 16 * n;
}
/**
 * MIGRATION cap `max_dirty_bitmap_size`: DIRTY_BITMAP_SIZE_MAX = DIRTY_BITMAP_BYTES(INT_MAX pages)
 * = 256 MiB (recalled from vfio_iommu_type1.c, UNVERIFIED).
 */
export const MAX_DIRTY_BITMAP_SIZE = 0x10000000n;

/** Module parameter `dma_entry_limit` default: U16_MAX, "Maximum number of user DMA mappings per container (65535)" (reference §4). */
export const DMA_ENTRY_LIMIT_DEFAULT = 65535;
/** Host PAGE_SIZE the model runs on (x86-64 / arm64 with 4 KiB pages), and PAGE_MASK. */
export const HOST_PAGE_SIZE = 0x1000n;
export const PAGE_MASK = 0xfffffffffffff000n;
/** EBADF (9): an ioctl on a descriptor that is not an open container (now in core/host/errno.ts; re-exported for existing importers). */
export const EBADF = ERRNO.EBADF;
