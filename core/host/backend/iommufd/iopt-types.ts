/**
 * The IOVA engine's plain types and area flags (io-pagetable.ts; drivers/iommu/iommufd/
 * io_pagetable.h, include/linux/iommu.h).
 */
import type { Errno } from '../../errno.ts';

/** Area flag: IOMMU_READ (the mapping may be read by DMA). */
export const AREA_READ = 1;
/** Area flag: IOMMU_WRITE (the mapping may be written by DMA). */
export const AREA_WRITE = 2;
/** Area flag: its pages were pinned writable (MAP with WRITEABLE); COPY with WRITEABLE needs it. */
export const AREA_PAGES_WRITABLE = 4;

/** One area as the convenience API returns it. */
export interface Area {
  /** First IOVA (bytes). */
  iova: bigint;
  /** Length (bytes). */
  length: bigint;
  /** User VA mapped at `iova`. */
  userVa: bigint;
  /** AREA_* flags. */
  flags: number;
}

/** A domain as the IOAS sees it (struct iommu_domain's geometry and page sizes). */
export interface IoptDomain {
  /** Supported page sizes, a bitmap of byte sizes (bit n = 2^n bytes). */
  pgsizeBitmap: bigint;
  /** First usable IOVA (`geometry.aperture_start`). */
  apertureStart: bigint;
  /** Last usable IOVA (`geometry.aperture_end`). */
  apertureEnd: bigint;
}

/** Kinds of device reserved regions (enum iommu_resv_type). */
export type ResvType = 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi';

/** A device reserved region (struct iommu_resv_region): [start, start + length). */
export interface ResvRegion {
  start: bigint;
  length: bigint;
  type: ResvType;
}

/** One slice of source pages for {@link IoPagetable.mapPages} (struct iopt_pages_list). */
export interface PagesSlice {
  userVa: bigint;
  length: bigint;
  /** The pages were pinned writable. */
  writable: boolean;
}

/** Checks that user memory can be pinned: 0, EFAULT (unmapped VA) or EPERM (write to read-only). */
export type UserMemoryCheck = (userVa: bigint, length: bigint, write: boolean) => Errno;

