/**
 * Text QEMU's VFIO code prints when a shadowed mapping fails (hw/vfio/listener.c
 * vfio_iommu_map_notify, error_report): glibc's strerror texts and a deterministic stand-in for
 * the `%p` pointers.
 */

export { strerror } from './errno.ts';

/**
 * Where the lab pretends QEMU's bcontainer objects live, for `%p`: 0x555555550000 + container × 0x1000
 * (container = the legacy container number or the iommufd IOAS ID). Real pointers differ per run;
 * the lab's are deterministic so runs compare byte for byte.
 */
export const BCONTAINER_PTR_BASE = 0x555555550000n;

/**
 * The host virtual address of guest RAM: QEMU maps guest RAM into its process and hands VFIO the
 * HVA of a guest physical address (memory_region_get_ram_ptr + offset, via vfio_get_xlat_addr).
 * The lab models guest RAM as one block at this fixed HVA base: vaddr = GUEST_RAM_HVA_BASE + GPA
 * (every GPA is taken to be RAM; no guest memory map is modelled).
 */
export const GUEST_RAM_HVA_BASE = 0x7f0000000000n;

/** glibc's `%p`: "0x" + lower-case hex, "(nil)" for 0. */
export function pointerText(p: bigint): string {
  return p === 0n ? '(nil)' : '0x' + p.toString(16);
}
