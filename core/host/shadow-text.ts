/**
 * Text QEMU's VFIO code prints when a shadowed mapping fails (hw/vfio/listener.c
 * vfio_iommu_map_notify, error_report): glibc's strerror texts and a deterministic stand-in for
 * the `%p` pointers.
 */
import { ERRNO } from './errno.ts';

/** glibc strerror(3) texts of the errnos the backends return (string/_strerror.c, sysdeps errlist). */
const STRERROR: Readonly<Record<number, string>> = {
  [ERRNO.EPERM]: 'Operation not permitted',
  [ERRNO.ENOENT]: 'No such file or directory',
  [ERRNO.EIO]: 'Input/output error',
  [ERRNO.ENXIO]: 'No such device or address',
  [ERRNO.E2BIG]: 'Argument list too long',
  [ERRNO.EBADF]: 'Bad file descriptor',
  [ERRNO.EAGAIN]: 'Resource temporarily unavailable',
  [ERRNO.ENOMEM]: 'Cannot allocate memory',
  [ERRNO.EACCES]: 'Permission denied',
  [ERRNO.EFAULT]: 'Bad address',
  [ERRNO.EBUSY]: 'Device or resource busy',
  [ERRNO.EEXIST]: 'File exists',
  [ERRNO.ENODEV]: 'No such device',
  [ERRNO.EINVAL]: 'Invalid argument',
  [ERRNO.ENOTTY]: 'Inappropriate ioctl for device',
  [ERRNO.ENOSPC]: 'No space left on device',
  [ERRNO.ERANGE]: 'Numerical result out of range',
  [ERRNO.EDEADLK]: 'Resource deadlock avoided',
  [ERRNO.EOVERFLOW]: 'Value too large for defined data type',
  [ERRNO.EMSGSIZE]: 'Message too long',
  [ERRNO.EOPNOTSUPP]: 'Operation not supported',
  [ERRNO.EADDRINUSE]: 'Address already in use',
};

/** strerror(errno) as glibc prints it; "Unknown error N" otherwise (glibc's text for unknown values). */
export function strerror(errno: number): string {
  return STRERROR[errno] ?? `Unknown error ${errno}`;
}

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
