/**
 * Kernel eras: where the kernel changed a uAPI outcome, a backend takes a `kernel` option choosing
 * which behaviour it models (issue 7 §3), defaulting to the newest.
 *  - '2025' (newest): the Oct-2025 VFIO type1 overflow series (Alex Mastro, v5) reports IOVA/VA wrap
 *    with EOVERFLOW instead of EINVAL; commit afb47765f923 (Nov 2025, also 6.12-stable) makes
 *    iommufd's VFIO-compat unmap of an empty range succeed with size 0
 *    (../../../shared/reference/iommufd-vfio-hostiommu.md §2.3, §4).
 *    Also in the newest era: VFIO_TYPE1_NESTING_IOMMU is no longer advertised by type1's
 *    CHECK_EXTENSION (commit 35890f85573c, late 2024, renamed __VFIO_RESERVED_TYPE1_NESTING_IOMMU;
 *    SET_IOMMU still takes it as v2).
 *  - '2024': before all of them.
 */
export const KERNEL_ERAS = ['2024', '2025'] as const;
/** One of {@link KERNEL_ERAS}. */
export type KernelEra = (typeof KERNEL_ERAS)[number];
/** The era a backend models when none is given. */
export const NEWEST_KERNEL: KernelEra = '2025';
