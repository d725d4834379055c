/**
 * iommufd access objects: how an emulated (mdev) VFIO device uses an IOAS. Reference
 * iommufd-vfio-hostiommu.md §1.1 (ACCESS: kernel-internal, holds the IOAS), §1.3 (an attached
 * access keeps the IOAS busy), §2.3 (unmap of pinned pages notifies the access), §2.4 (accesses
 * that pin pages force PAGE_SIZE alignment).
 *
 * An mdev has no IOMMU of its own: drivers/vfio/iommufd.c binds it with
 * vfio_iommufd_emulated_bind → iommufd_access_create (drivers/iommu/iommufd/device.c), an
 * IOMMUFD_OBJ_ACCESS in the one ID space whose ID VFIO_DEVICE_BIND_IOMMUFD returns as out_devid.
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT of it is vfio_iommufd_emulated_attach_ioas: iommufd_access_attach
 * the first time, iommufd_access_replace once attached; both look the pt up as an IOAS
 * (iommufd_get_ioas: anything else, a HWPT included, is ENOENT) and run
 * iommufd_access_change_ioas. No HWPT is made and no domain exists: the physical IOMMU never sees
 * the mdev (its DMA is its parent's, through the pages the vendor driver pins), so the pt_id
 * written back stays the IOAS ID. IOMMU_GET_HW_INFO, IOMMU_HWPT_ALLOC, IOMMU_VIOMMU_ALLOC and
 * IOMMU_VDEVICE_ALLOC look their dev_id up as a DEVICE (iommufd_get_device): an access ID gives
 * ENOENT there, with no change needed in those handlers.
 *
 * Pins are not modelled: the lab has no vendor driver calling iommufd_access_pin_pages, so no
 * area has `num_accesses`, IOMMU_IOAS_UNMAP never calls iommufd_access_notify_unmap and never
 * reaches the 100-retry EDEADLOCK (§2.3). The access's driver callback (vfio_emulated_unmap of
 * the whole IOVA space) that a detach or replace runs has nothing to release either.
 */
import { ERRNO, type Errno } from '../../errno.ts';
import type { CdevBoundDevice } from './device.ts';
import { getIoas } from './ioas.ts';
import type { AccessObj, BoundDevice, IoasObj, IommufdCtx } from './objects.ts';
import { PAGE_SIZE } from './uapi.ts';

/** The access `id`, or undefined (a lookup of another kind or an absent ID). */
export function getAccess(ctx: IommufdCtx, id: number): AccessObj | undefined {
  return ctx.table.get(id, 'access') as AccessObj | undefined;
}

/**
 * VFIO_DEVICE_BIND_IOMMUFD of an emulated device: vfio_df_ioctl_bind_iommufd → (cdev)
 * vfio_device_claim_group (EBUSY while the emulated group's /dev/vfio/N is open, released again
 * on any later failure) → the device already bound → EINVAL ("one device cannot be bound twice")
 * → vfio_iommufd_emulated_bind → iommufd_access_create: the object is allocated (ENOSPC when the
 * ID space is full), the calling driver takes a user reference until unbind (so IOMMU_DESTROY of
 * the ID gives EBUSY), and it is finalized. vfio_user_ops sets needs_pin_pages, so
 * `iova_alignment` is PAGE_SIZE. No DMA ownership is claimed and no IOMMU capability is checked
 * (there is no iommufd_device). Returns the ACCESS ID as `outDevId`.
 */
export function accessCreate(ctx: IommufdCtx, dev: BoundDevice): { errno: Errno; outDevId: number } {
  const cdev = (dev as CdevBoundDevice).cdev;
  if (cdev !== undefined && dev.group !== undefined) {
    const claimed = cdev.files.claimCdev(dev.group);
    if (claimed !== ERRNO.OK) return { errno: claimed, outDevId: 0 };
  }
  const fail = (errno: Errno): { errno: Errno; outDevId: number } => {
    if (cdev !== undefined && dev.group !== undefined) cdev.files.releaseCdev(dev.group);
    return { errno, outDevId: 0 };
  };
  if (ctx.bound.has(dev.name)) return fail(ERRNO.EINVAL);
  const obj: AccessObj = { kind: 'access', id: 0, dev, ioas: undefined, iovaAlignment: PAGE_SIZE };
  if (ctx.table.alloc(obj) === 0) return fail(ERRNO.ENOSPC);
  ctx.table.ref(obj); // "The calling driver is a user until iommufd_access_destroy()"
  ctx.table.finalize(obj.id);
  ctx.bound.add(dev.name);
  return { errno: ERRNO.OK, outDevId: obj.id };
}

/**
 * iommufd_access_change_ioas: the same IOAS → 0; the new IOAS first (iopt_add_access: its
 * iova_alignment may grow to the access's, EADDRINUSE with a misaligned area, the access left
 * where it was) and a reference on it; then the old one (the driver's unmap callback for
 * [0, ULONG_MAX], iopt_remove_access, its reference dropped). `next` undefined detaches.
 */
function changeIoas(ctx: IommufdCtx, access: AccessObj, next: IoasObj | undefined): Errno {
  const cur = access.ioas;
  if (cur === next) return ERRNO.OK;
  if (next !== undefined) {
    const rc = next.iopt.addAccess(access, access.iovaAlignment);
    if (rc !== ERRNO.OK) return rc;
    ctx.table.ref(next);
  }
  if (cur !== undefined) {
    cur.iopt.removeAccess(access);
    ctx.table.unref(cur);
  }
  access.ioas = next;
  return ERRNO.OK;
}

/**
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT of an access (vfio_iommufd_emulated_attach_ioas): not attached →
 * iommufd_access_attach, attached → iommufd_access_replace (the kernel's replace only refuses an
 * access without an IOAS, ENOENT, which this path cannot reach). Both go through
 * iommufd_access_change_ioas_id: `ptId` not an IOAS (absent, a HWPT, a device, another access) →
 * ENOENT from iommufd_get_ioas; then {@link changeIoas}. `ptId` is written back unchanged: the
 * IOAS ID (vfio_df_ioctl_attach_pt copies back what attach_ioas left, and the emulated path does
 * not touch it). Bad access ID → ENOENT.
 */
export function accessAttach(ctx: IommufdCtx, accessId: number, ptId: number): { errno: Errno; ptId: number } {
  const access = getAccess(ctx, accessId);
  if (access === undefined) return { errno: ERRNO.ENOENT, ptId };
  const ioas = getIoas(ctx, ptId);
  if (ioas === undefined) return { errno: ERRNO.ENOENT, ptId };
  return { errno: changeIoas(ctx, access, ioas), ptId };
}

/**
 * iommufd_access_replace as called directly (what `device-replace` means for an access): no IOAS
 * attached → ENOENT; else as {@link accessAttach}.
 */
export function accessReplace(ctx: IommufdCtx, accessId: number, ptId: number): { errno: Errno; ptId: number } {
  const access = getAccess(ctx, accessId);
  if (access === undefined) return { errno: ERRNO.ENOENT, ptId };
  if (access.ioas === undefined) return { errno: ERRNO.ENOENT, ptId };
  return accessAttach(ctx, accessId, ptId);
}

/**
 * VFIO_DEVICE_DETACH_IOMMUFD_PT of an access (vfio_iommufd_emulated_detach_ioas): not attached →
 * nothing (0); else iommufd_access_detach → change to no IOAS (the IOAS's reference dropped, its
 * alignment recomputed). Bad access ID → ENOENT.
 */
export function accessDetach(ctx: IommufdCtx, accessId: number): Errno {
  const access = getAccess(ctx, accessId);
  if (access === undefined) return ERRNO.ENOENT;
  if (access.ioas !== undefined) changeIoas(ctx, access, undefined);
  return ERRNO.OK;
}

/**
 * Unbind of an emulated device (closing its VFIO device fd: vfio_iommufd_emulated_unbind →
 * iommufd_access_destroy, whose destroy_object detaches from the IOAS), and the cdev's group claim
 * released (vfio_device_release_group). Bad access ID → ENOENT.
 */
export function accessDestroy(ctx: IommufdCtx, accessId: number): Errno {
  const access = getAccess(ctx, accessId);
  if (access === undefined) return ERRNO.ENOENT;
  if (access.ioas !== undefined) changeIoas(ctx, access, undefined);
  ctx.table.unref(access);
  const rc = ctx.table.destroy(access.id, 'access');
  const cdev = (access.dev as CdevBoundDevice).cdev;
  if (rc === ERRNO.OK && cdev !== undefined && access.dev.group !== undefined) cdev.files.releaseCdev(access.dev.group);
  return rc;
}

/** The destroy hook's part for an access (iommufd_access_destroy_object): leaves its IOAS, frees its name. */
export function destroyAccessObject(ctx: IommufdCtx, access: AccessObj): void {
  if (access.ioas !== undefined) changeIoas(ctx, access, undefined);
  ctx.bound.delete(access.dev.name);
}
