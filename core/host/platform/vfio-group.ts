/**
 * The VFIO group-path / cdev-path exclusion of one host: a `struct vfio_group`'s `opened_file`
 * and `cdev_device_open_cnt` (drivers/vfio/group.c, commit 270bf4c019b9 "vfio: Add
 * cdev_device_open_cnt to vfio_group", Yi Liu 2023; the bind side is drivers/vfio/device_cdev.c
 * vfio_df_ioctl_bind_iommufd, commit 5fcc26969a16 "vfio: Add VFIO_DEVICE_BIND_IOMMUFD"):
 *  - opening /dev/vfio/N (vfio_group_fops_open) fails with EBUSY while a member device is open
 *    through its cdev (`cdev_device_open_cnt` non-zero), and with EBUSY when the group file is
 *    already open ("Do we need multiple instances of the group open?  Seems not.");
 *  - VFIO_DEVICE_BIND_IOMMUFD on /dev/vfio/devices/vfioX first calls vfio_device_claim_group:
 *    EBUSY while the group file is open, else `cdev_device_open_cnt++`; a failed bind and the
 *    cdev's close (vfio_device_cdev_close) call vfio_device_release_group (`--`).
 * So only one path claims DMA ownership of a group's devices. Shared by every engine of one host
 * (from-platform.ts hostBackends): VfioType1 and IommufdVfioCompat open the group file, the
 * iommufd cdev bind (iommufd/device.ts deviceBind with a {@link CdevBinding}) counts the cdev.
 *
 * Lab simplification: scenarios have no `open` of /dev/vfio/N. An engine opens the group file
 * implicitly at its first `group-set-container` of the group and holds it while the group is set
 * on one of its containers (plus, for iommufd's VFIO compatibility, while a device fd obtained
 * through the group is open: device fds hold a reference on the group file, vfio_group_fops_release);
 * `group-unset-container` closes it. A second set-container through the same engine reuses its fd
 * (the kernel's EINVAL for a group already set); another engine is another opener (EBUSY).
 */
import { ERRNO, type Errno } from '../errno.ts';
import type { HostPlatform, IommuGroup } from './host.ts';

/**
 * The group /dev/vfio/N names: by number, or by the name of a member device. Undefined (the open
 * fails with ENOENT) when unknown or when no member is bound to vfio (vfio-pci or mdev): only
 * vfio-bound groups have a /dev/vfio/N node. Used by every group-path engine (VfioType1,
 * IommufdVfioCompat).
 */
export function vfioGroupOf(host: HostPlatform, group: number | string): IommuGroup | undefined {
  const id = typeof group === 'number' ? group : host.deviceByName.get(group)?.group;
  const g = id === undefined ? undefined : host.groupById.get(id);
  if (g === undefined) return undefined;
  return g.members.some((m) => {
    const t = host.deviceByName.get(m)?.type;
    return t === 'vfio-pci' || t === 'mdev';
  })
    ? g
    : undefined;
}

/** Per group: who holds its file open (an engine; undefined when closed) and the cdev open count. */
interface GroupFileState {
  opener: object | undefined;
  cdevOpenCnt: number;
}

/** The group files and cdev counts of one host's IOMMU groups (by group number). */
export class VfioGroupFiles {
  private readonly groups = new Map<number, GroupFileState>();

  private state(group: number): GroupFileState {
    let s = this.groups.get(group);
    if (s === undefined) {
      s = { opener: undefined, cdevOpenCnt: 0 };
      this.groups.set(group, s);
    }
    return s;
  }

  /**
   * vfio_group_fops_open of /dev/vfio/`group` by `opener`: EBUSY while a member is open through
   * its cdev, or when the file is already open (by anyone: single open); else 0 and the file is
   * open.
   */
  openGroup(group: number, opener: object): Errno {
    const s = this.state(group);
    if (s.cdevOpenCnt !== 0) return ERRNO.EBUSY;
    if (s.opener !== undefined) return ERRNO.EBUSY;
    s.opener = opener;
    return ERRNO.OK;
  }

  /** vfio_group_fops_release: closes the file `opener` holds (a bug when it holds none). */
  closeGroup(group: number, opener: object): void {
    const s = this.groups.get(group);
    if (s === undefined || s.opener !== opener) throw new Error(`vfio-group: group ${group} file is not open by this opener`);
    s.opener = undefined;
  }

  /** Whether `opener` holds /dev/vfio/`group` open. */
  isOpenBy(group: number, opener: object): boolean {
    return this.groups.get(group)?.opener === opener;
  }

  /** Whether /dev/vfio/`group` is open (by anyone). */
  isOpen(group: number): boolean {
    return this.groups.get(group)?.opener !== undefined;
  }

  /** vfio_device_claim_group: EBUSY while the group file is open, else 0 and the cdev count grows. */
  claimCdev(group: number): Errno {
    const s = this.state(group);
    if (s.opener !== undefined) return ERRNO.EBUSY;
    s.cdevOpenCnt++;
    return ERRNO.OK;
  }

  /** vfio_device_release_group: the cdev count drops (a bug below zero). */
  releaseCdev(group: number): void {
    const s = this.groups.get(group);
    if (s === undefined || s.cdevOpenCnt === 0) throw new Error(`vfio-group: group ${group} has no cdev open`);
    s.cdevOpenCnt--;
  }

  /** `cdev_device_open_cnt` of `group`. */
  cdevOpenCount(group: number): number {
    return this.groups.get(group)?.cdevOpenCnt ?? 0;
  }
}
