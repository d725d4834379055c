/**
 * The rules every iommufd ioctl applies before its handler runs (drivers/iommu/iommufd/main.c
 * iommufd_fops_ioctl; reference iommufd-vfio-hostiommu.md §1.2): the command number is looked up
 * (an unknown one falls through to the VFIO compatibility handler, which does not know it either:
 * ENOTTY), then the user struct's leading `size` is checked against the command's minimum size
 * (smaller → EINVAL) and copied with copy_struct_from_user (bytes past the kernel's struct that are
 * not zero → E2BIG; a shorter struct is zero-extended). Sizes are those of the structs of
 * include/uapi/linux/iommufd.h as the reference lists their fields (natural alignment, u64 fields
 * __aligned_u64); minimum sizes are the IOCTL_OP "last" members the selftest's cmd_length names
 * (tools/testing/selftests/iommu/iommufd.c), UNVERIFIED for the commands it does not list
 * (HWPT_SET_DIRTY_TRACKING, HWPT_GET_DIRTY_BITMAP, HWPT_INVALIDATE, VIOMMU_ALLOC, VDEVICE_ALLOC:
 * the whole struct as first merged).
 */
import { ERRNO, type Errno } from '../../errno.ts';

/** One iommufd command: its number (_IO(';', nr)), struct size and minimum size in bytes. */
export interface IommufdCmd {
  nr: number;
  size: number;
  minSize: number;
}

/** The commands the engine implements, by scenario op name. */
export const IOMMUFD_CMDS: Readonly<Record<string, IommufdCmd>> = {
  /** struct iommu_destroy {size, id}: min offsetofend(id). */
  destroy: { nr: 0x80, size: 8, minSize: 8 },
  /** struct iommu_ioas_alloc {size, flags, out_ioas_id}. */
  'ioas-alloc': { nr: 0x81, size: 12, minSize: 12 },
  /** struct iommu_ioas_allow_iovas {size, ioas_id, num_iovas, __reserved, allowed_iovas}. */
  'ioas-allow-iovas': { nr: 0x82, size: 24, minSize: 24 },
  /** struct iommu_ioas_copy {size, flags, dst_ioas_id, src_ioas_id, length, dst_iova, src_iova}. */
  'ioas-copy': { nr: 0x83, size: 40, minSize: 40 },
  /** struct iommu_ioas_iova_ranges {size, ioas_id, num_iovas, __reserved, allowed_iovas, out_iova_alignment}. */
  'ioas-iova-ranges': { nr: 0x84, size: 32, minSize: 32 },
  /** struct iommu_ioas_map {size, flags, ioas_id, __reserved, user_va, length, iova}. */
  'ioas-map': { nr: 0x85, size: 40, minSize: 40 },
  /** struct iommu_ioas_unmap {size, ioas_id, iova, length}. */
  'ioas-unmap': { nr: 0x86, size: 24, minSize: 24 },
  /** struct iommu_option {size, option_id, u16 op, u16 __reserved, object_id, val64}. */
  option: { nr: 0x87, size: 24, minSize: 24 },
  /** struct iommu_vfio_ioas {size, ioas_id, u16 op, u16 __reserved}. */
  'vfio-ioas': { nr: 0x88, size: 12, minSize: 12 },
  /** struct iommu_hwpt_alloc {size, flags, dev_id, pt_id, out_hwpt_id, __reserved, data_type, data_len, data_uptr, fault_id, __reserved2}: min offsetofend(__reserved). */
  'hwpt-alloc': { nr: 0x89, size: 48, minSize: 24 },
  /** struct iommu_hw_info {size, flags, dev_id, data_len, data_uptr, out_data_type, u8 out_max_pasid_log2, u8 __reserved[3], out_capabilities}: min offsetofend(__reserved). */
  'get-hw-info': { nr: 0x8a, size: 32, minSize: 28 },
  /** struct iommu_hwpt_set_dirty_tracking {size, flags, hwpt_id, __reserved}. */
  'hwpt-set-dirty-tracking': { nr: 0x8b, size: 16, minSize: 16 },
  /** struct iommu_hwpt_get_dirty_bitmap {size, hwpt_id, flags, __reserved, iova, length, page_size, data}. */
  'hwpt-get-dirty-bitmap': { nr: 0x8c, size: 48, minSize: 48 },
  /** struct iommu_hwpt_invalidate {size, hwpt_id, data_uptr, data_type, entry_len, entry_num, __reserved}. */
  'hwpt-invalidate': { nr: 0x8d, size: 32, minSize: 32 },
  /** struct iommu_viommu_alloc {size, flags, type, dev_id, hwpt_id, out_viommu_id} (later kernels append data_len, __reserved, data_uptr). */
  'viommu-alloc': { nr: 0x90, size: 24, minSize: 24 },
  /** struct iommu_vdevice_alloc {size, viommu_id, dev_id, out_vdevice_id, virt_id}. */
  'vdevice-alloc': { nr: 0x91, size: 24, minSize: 24 },
};

/** IOMMUFD_CMD_BASE: the first iommufd command number (IOMMU_DESTROY). */
export const IOMMUFD_CMD_BASE = 0x80;

/** The command with number `nr`, or undefined. */
export function cmdByNr(nr: number): IommufdCmd | undefined {
  for (const c of Object.values(IOMMUFD_CMDS)) if (c.nr === nr) return c;
  return undefined;
}

/**
 * The errno iommufd_fops_ioctl returns before the handler for command `cmd` given a user struct of
 * `userSize` bytes whose bytes past the kernel's struct are non-zero when `trailingNonZero`
 * (ignored when userSize <= cmd.size): EINVAL when userSize < cmd.minSize; E2BIG when
 * userSize > cmd.size with non-zero trailing bytes; else 0 (the handler runs; fields past
 * `userSize` read as zero).
 */
export function ucmdSizeCheck(cmd: IommufdCmd, userSize: number, trailingNonZero = false): Errno {
  if (userSize < cmd.minSize) return ERRNO.EINVAL;
  if (userSize > cmd.size && trailingNonZero) return ERRNO.E2BIG;
  return ERRNO.OK;
}

/**
 * The errno of an ioctl number on /dev/iommu before any size check: 0 for a command this engine
 * implements; ENOTTY for anything else (numbers below IOMMUFD_CMD_BASE and unknown ones go to the
 * VFIO compatibility handler, which answers ENOIOCTLCMD — ENOTTY in user space — for what it does
 * not know; the VFIO numbers it does know are IommufdVfioCompat's operations).
 */
export function ioctlNrCheck(nr: number): Errno {
  return cmdByNr(nr) === undefined ? ERRNO.ENOTTY : ERRNO.OK;
}
