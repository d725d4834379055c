/**
 * Kernel eras: where the kernel changed a uAPI outcome, a backend takes a `kernel` option choosing
 * which behaviour it models (issue 7 §3), defaulting to the newest.
 *  - '2025' (newest): the Oct-2025 VFIO type1 overflow series (Alex Mastro, v5) reports IOVA/VA wrap
 *    with EOVERFLOW instead of EINVAL; commit afb47765f923 (Nov 2025, also 6.12-stable) makes
 *    iommufd's VFIO-compat unmap of an empty range succeed with size 0
 *    (../../../shared/reference/iommufd-vfio-hostiommu.md §2.3, §4).
 *  - '2024': before both.
 */
export const KERNEL_ERAS = ['2024', '2025'] as const;
/** One of {@link KERNEL_ERAS}. */
export type KernelEra = (typeof KERNEL_ERAS)[number];
/** The era a backend models when none is given. */
export const NEWEST_KERNEL: KernelEra = '2025';
