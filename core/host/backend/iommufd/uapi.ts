/**
 * iommufd uAPI constants (include/uapi/linux/iommufd.h; reference iommufd-vfio-hostiommu.md §1.2,
 * §2) and the engine-wide constants of the modelled kernel (x86-64/arm64 with 4 KiB pages).
 */

/** ULONG_MAX / SIZE_MAX / U64_MAX on a 64-bit kernel. */
export const ULONG_MAX = 0xffffffffffffffffn;
/** PAGE_SIZE of the modelled kernel (bytes). */
export const PAGE_SIZE = 0x1000n;
/** HPAGE_SIZE (PMD size, bytes): the auto-IOVA alignment cap with CONFIG_TRANSPARENT_HUGEPAGE. */
export const HPAGE_SIZE = 0x200000n;

/** IOMMU_IOAS_MAP / IOMMU_IOAS_COPY flags. */
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;
export const IOAS_MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

/** IOMMU_OPTION option ids and ops. */
export const IOMMU_OPTION_RLIMIT_MODE = 0;
export const IOMMU_OPTION_HUGE_PAGES = 1;
export const IOMMU_OPTION_OP_SET = 0;
export const IOMMU_OPTION_OP_GET = 1;

/** IOMMU_HWPT_ALLOC flags. */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;

/** enum iommu_hwpt_data_type. */
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2;

/** IOMMU_HWPT_SET_DIRTY_TRACKING / GET_DIRTY_BITMAP flags. */
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1;
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1;

/** enum iommu_hwpt_invalidate_data_type. */
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0;
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1;
/** struct iommu_hwpt_vtd_s1_invalidate flags. */
export const IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0;

/** enum iommu_hw_info_type. */
export const IOMMU_HW_INFO_TYPE_NONE = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3;
/** IOMMU_GET_HW_INFO flags. */
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0;
/** enum iommufd_hw_capabilities (out_capabilities). */
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2;

/** enum iommu_viommu_type. */
export const IOMMU_VIOMMU_TYPE_DEFAULT = 0;
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2;

/**
 * Object kinds (enum iommufd_object_type), as the lab names them. 'access' is IOMMUFD_OBJ_ACCESS:
 * kernel-internal, made for an emulated (mdev) VFIO device (access.ts).
 */
export type IommufdObjKind = 'ioas' | 'hwpt-paging' | 'hwpt-nested' | 'device' | 'viommu' | 'vdevice' | 'access';

/**
 * Kernel eras (core/host/kernel.ts, shared by the backends). For iommufd:
 *  - '2024': before the vIOMMU series (v6.13, Jan 2025): IOMMU_HWPT_INVALIDATE on a paging HWPT
 *    gives ENOENT (§2.8);
 *  - '2025' (newest): invalidate on a paging HWPT gives EINVAL; and commit afb47765f923 (VFIO-compat
 *    empty unmap succeeds) — which does not change the native IOMMU_IOAS_UNMAP: an empty range gives
 *    ENOENT in both eras (§2.3).
 */
export { KERNEL_ERAS, NEWEST_KERNEL, type KernelEra } from '../../kernel.ts';

/** roundup_pow_of_two for 0 < v <= 2^63. */
export function roundupPow2(v: bigint): bigint {
  let p = 1n;
  while (p < v) p <<= 1n;
  return p;
}

/** 1 << __ffs(v): the lowest set bit of v (v != 0). */
export function lowBit(v: bigint): bigint {
  return v & -v;
}
