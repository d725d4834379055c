/**
 * Devices: bind, attach (auto domains), replace, detach, unbind (drivers/iommu/iommufd/device.c,
 * driven through VFIO cdev: VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_[AT|DE]TACH_IOMMUFD_PT).
 * Reference iommufd-vfio-hostiommu.md §1.1, §2.4.
 *
 * Attachment is per iommu group (struct iommufd_group): the first device of a group attaches the
 * group's domain, later ones join it; a device of a group attached elsewhere gets EINVAL.
 * Each attached device holds a reference on its HWPT; an auto HWPT is destroyed when its last
 * device leaves.
 */
import { ERRNO, type Errno } from '../../errno.ts';
import { getIoas } from './ioas.ts';
import { allocHwptPaging, destroyAutoIfUnused } from './hw-pagetable.ts';
import type { BoundDevice, DeviceObj, Domain, HostIommuCaps, HwptObj, IoasObj, IommufdCtx } from './objects.ts';
import type { VfioGroupFiles } from '../../platform/vfio-group.ts';

/**
 * The cdev path of a bind: VFIO_DEVICE_BIND_IOMMUFD on /dev/vfio/devices/vfioX, with the host's
 * group files (core/host/platform/vfio-group.ts). A bind through the group path (iommufd's VFIO
 * compatibility, vfio_df_group_open) carries none.
 */
export interface CdevBinding {
  files: VfioGroupFiles;
}

/** A {@link BoundDevice} offered through its cdev (from-platform.ts hostBackends().bind). */
export interface CdevBoundDevice extends BoundDevice {
  cdev?: CdevBinding;
}

/** The bound device `id`, or undefined (→ ENOENT). */
export function getDevice(ctx: IommufdCtx, id: number): DeviceObj | undefined {
  return ctx.table.get(id, 'device') as DeviceObj | undefined;
}

/**
 * Whether the IOMMU driver accepts `hwpt`'s domain for a device behind `iommu` (the attach_dev
 * EINVAL of the drivers). Modelled rule (the reference gives none): a domain from the same IOMMU
 * instance is compatible; one from another instance is when the driver, aperture and page sizes
 * are the same; a domain with dirty tracking needs a dirty-capable IOMMU (selftest enforce_dirty,
 * §2.6). A nested domain is compatible only with devices of its own instance.
 */
export function domainCompatible(hwpt: HwptObj, iommu: HostIommuCaps): boolean {
  if (hwpt.kind === 'hwpt-nested') return hwpt.iommu.iommu === iommu.iommu;
  const d: Domain = hwpt.domain;
  if (d.dirtyOps && !iommu.dirtyTracking) return false;
  if (d.iommu.iommu === iommu.iommu) return true;
  return d.iommu.driver === iommu.driver && d.apertureStart === iommu.apertureStart && d.apertureEnd === iommu.apertureEnd && d.pgsizeBitmap === iommu.pgsizeBitmap;
}

/**
 * device-bind (iommufd_device_bind): no IOMMU_CAP_CACHE_COHERENCY → EINVAL; no group → ENODEV;
 * the device already bound → EINVAL (vfio_df_ioctl_bind_iommufd: "one device cannot be bound
 * twice": `df->iommufd` already set → EINVAL, read in commit 5fcc26969a16 "vfio: Add
 * VFIO_DEVICE_BIND_IOMMUFD"; not in the reference); with shared DMA ownership, the group owned by a host
 * driver or another backend → EBUSY (iommu_device_claim_dma_owner, called before the MSI check);
 * MSI not isolated and allow_unsafe_interrupts off → EPERM. The new DEVICE holds one user for the driver, so IOMMU_DESTROY of it gives EBUSY.
 *
 * Through the cdev (`dev.cdev`, {@link CdevBoundDevice}), vfio_df_ioctl_bind_iommufd
 * (drivers/vfio/device_cdev.c) first calls vfio_device_claim_group (drivers/vfio/group.c, commit
 * 270bf4c019b9): EBUSY while the group's /dev/vfio/N is open (a `group-set-container`), before
 * every check above; any later failure releases the claim (out_unlock: vfio_device_release_group),
 * and so does unbind ({@link deviceUnbind}, vfio_device_cdev_close).
 */
export function deviceBind(ctx: IommufdCtx, dev: BoundDevice): { errno: Errno; outDevId: number } {
  const cdev = (dev as CdevBoundDevice).cdev;
  if (cdev === undefined || dev.group === undefined) return bindIommufd(ctx, dev);
  const claimed = cdev.files.claimCdev(dev.group);
  if (claimed !== ERRNO.OK) return { errno: claimed, outDevId: 0 };
  const r = bindIommufd(ctx, dev);
  if (r.errno !== ERRNO.OK) cdev.files.releaseCdev(dev.group);
  return r;
}

/** iommufd_device_bind and vfio's "bound twice" check (see {@link deviceBind}). */
function bindIommufd(ctx: IommufdCtx, dev: BoundDevice): { errno: Errno; outDevId: number } {
  const iommu = dev.iommu;
  if (iommu === undefined || !iommu.cacheCoherency) return { errno: ERRNO.EINVAL, outDevId: 0 };
  if (dev.group === undefined) return { errno: ERRNO.ENODEV, outDevId: 0 };
  if (ctx.bound.has(dev.name)) return { errno: ERRNO.EINVAL, outDevId: 0 };
  const own = ctx.opts.ownership;
  if (own !== undefined) {
    const rc = own.claim(dev.group, ctx);
    if (rc !== ERRNO.OK) return { errno: rc, outDevId: 0 };
  }
  if (!iommu.msiIsolated && !ctx.opts.allowUnsafeInterrupts) {
    own?.release(dev.group, ctx);
    return { errno: ERRNO.EPERM, outDevId: 0 };
  }
  let igroup = ctx.groups.get(dev.group);
  if (igroup === undefined) {
    igroup = { group: dev.group, hwpt: undefined, devices: [] };
    ctx.groups.set(dev.group, igroup);
  }
  const obj: DeviceObj = { kind: 'device', id: 0, dev, iommu, igroup, vdevice: undefined };
  if (ctx.table.alloc(obj) === 0) return { errno: ERRNO.ENOSPC, outDevId: 0 };
  ctx.table.finalize(obj.id);
  ctx.table.ref(obj); // the calling driver is a user until unbind
  ctx.bound.add(dev.name);
  return { errno: ERRNO.OK, outDevId: obj.id };
}

/**
 * iommufd_hw_pagetable_attach: group attached to another HWPT → EINVAL; paging: the device's
 * reserved regions into the IOAS (EADDRINUSE/EINVAL, §2.4); first device of the group: the
 * driver's compatibility check (EINVAL). On success the device holds a reference on `hwpt`.
 */
export function hwptAttach(ctx: IommufdCtx, hwpt: HwptObj, idev: DeviceObj): Errno {
  const g = idev.igroup;
  if (g.hwpt !== undefined && g.hwpt !== hwpt) return ERRNO.EINVAL;
  if (hwpt.kind === 'hwpt-paging') {
    const rc = hwpt.ioas.iopt.enforceDevResvRegions(idev.dev.reservedRegions, idev);
    if (rc !== ERRNO.OK) return rc;
  }
  if (g.devices.length === 0) {
    if (!domainCompatible(hwpt, idev.iommu)) {
      if (hwpt.kind === 'hwpt-paging') hwpt.ioas.iopt.unreserve(idev);
      return ERRNO.EINVAL;
    }
    g.hwpt = hwpt;
  }
  ctx.table.ref(hwpt);
  g.devices.push(idev);
  return ERRNO.OK;
}

/** iommufd_hw_pagetable_detach + put: the device leaves its group's HWPT (must be attached). */
function hwptDetach(ctx: IommufdCtx, idev: DeviceObj): void {
  const g = idev.igroup;
  const hwpt = g.hwpt as HwptObj;
  g.devices.splice(g.devices.indexOf(idev), 1);
  if (g.devices.length === 0) g.hwpt = undefined;
  if (hwpt.kind === 'hwpt-paging') hwpt.ioas.iopt.unreserve(idev);
  ctx.table.unref(hwpt);
  destroyAutoIfUnused(ctx, hwpt);
}

/**
 * iommufd_device_do_replace for the whole group: no HWPT yet → EINVAL; the same HWPT → 0; the
 * reserved regions of every device of the group into the new IOAS (when it changes), then the
 * driver's check (EINVAL); the old IOAS drops them; references move; an unused old auto HWPT is
 * destroyed.
 */
function doReplace(ctx: IommufdCtx, hwpt: HwptObj, idev: DeviceObj): Errno {
  const g = idev.igroup;
  const old = g.hwpt;
  if (old === undefined || !g.devices.includes(idev)) return ERRNO.EINVAL;
  if (old === hwpt) return ERRNO.OK;
  const oldIoas = old.kind === 'hwpt-paging' ? old.ioas : undefined;
  const newIoas = hwpt.kind === 'hwpt-paging' ? hwpt.ioas : undefined;
  if (newIoas !== undefined && newIoas !== oldIoas) {
    for (const d of g.devices) {
      const rc = newIoas.iopt.enforceDevResvRegions(d.dev.reservedRegions, d);
      if (rc !== ERRNO.OK) {
        for (const u of g.devices) newIoas.iopt.unreserve(u);
        return rc;
      }
    }
  }
  if (!domainCompatible(hwpt, idev.iommu)) {
    if (newIoas !== undefined && newIoas !== oldIoas) for (const u of g.devices) newIoas.iopt.unreserve(u);
    return ERRNO.EINVAL;
  }
  if (oldIoas !== undefined && oldIoas !== newIoas) for (const u of g.devices) oldIoas.iopt.unreserve(u);
  g.hwpt = hwpt;
  for (let i = 0; i < g.devices.length; i++) {
    ctx.table.ref(hwpt);
    ctx.table.unref(old);
  }
  destroyAutoIfUnused(ctx, old);
  return ERRNO.OK;
}

type AttachFn = (ctx: IommufdCtx, hwpt: HwptObj, idev: DeviceObj) => Errno;

/**
 * iommufd_device_auto_get_domain: the IOAS's auto HWPTs are tried in order (EINVAL = incompatible,
 * try the next; another errno is returned); else a new auto HWPT_PAGING is allocated (joins the
 * IOAS: alignment and aperture rules), attached, and finalized; on failure it is rolled back.
 */
function autoGetDomain(ctx: IommufdCtx, ioas: IoasObj, idev: DeviceObj, attach: AttachFn): { errno: Errno; ptId: number } {
  for (const h of [...ioas.hwpts]) {
    if (!h.autoDomain) continue;
    const rc = attach(ctx, h, idev);
    if (rc === ERRNO.EINVAL) continue;
    return { errno: rc, ptId: rc === ERRNO.OK ? h.id : 0 };
  }
  const made = allocHwptPaging(ctx, ioas, idev, 0, true);
  if (made.errno !== ERRNO.OK || made.hwpt === undefined) return { errno: made.errno, ptId: 0 };
  const rc = attach(ctx, made.hwpt, idev);
  if (rc !== ERRNO.OK) {
    made.abort();
    return { errno: rc, ptId: 0 };
  }
  ctx.table.finalize(made.hwpt.id);
  return { errno: ERRNO.OK, ptId: made.hwpt.id };
}

function changePt(ctx: IommufdCtx, idev: DeviceObj, ptId: number, attach: AttachFn): { errno: Errno; ptId: number } {
  const pt = ctx.table.get(ptId);
  if (pt === undefined) return { errno: ERRNO.ENOENT, ptId };
  if (pt.kind === 'hwpt-paging' || pt.kind === 'hwpt-nested') {
    const rc = attach(ctx, pt, idev);
    return { errno: rc, ptId };
  }
  if (pt.kind === 'ioas') return autoGetDomain(ctx, pt, idev, attach);
  return { errno: ERRNO.EINVAL, ptId };
}

/**
 * device-attach (VFIO_DEVICE_ATTACH_IOMMUFD_PT → iommufd_device_attach): bad device or pt_id →
 * ENOENT; pt_id not an IOAS/HWPT → EINVAL; an IOAS gets an auto domain (`ptId` is the HWPT ID
 * written back). A device already attached is replaced instead (vfio_iommufd_physical_attach_ioas
 * calls iommufd_device_replace then).
 */
export function deviceAttach(ctx: IommufdCtx, devId: number, ptId: number): { errno: Errno; ptId: number } {
  const idev = getDevice(ctx, devId);
  if (idev === undefined) return { errno: ERRNO.ENOENT, ptId };
  const attached = idev.igroup.devices.includes(idev);
  return changePt(ctx, idev, ptId, attached ? doReplace : hwptAttach);
}

/**
 * device-replace (iommufd_device_replace): as attach, but the group must be attached already
 * (else EINVAL); moves every device of the group.
 */
export function deviceReplace(ctx: IommufdCtx, devId: number, ptId: number): { errno: Errno; ptId: number } {
  const idev = getDevice(ctx, devId);
  if (idev === undefined) return { errno: ERRNO.ENOENT, ptId };
  return changePt(ctx, idev, ptId, doReplace);
}

/**
 * device-detach (VFIO_DEVICE_DETACH_IOMMUFD_PT): bad device → ENOENT; a device not attached is a
 * no-op returning 0 (vfio_iommufd_physical_detach_ioas returns early; UNVERIFIED). Its reserved
 * regions leave the IOAS; an auto HWPT whose last device left is destroyed.
 */
export function deviceDetach(ctx: IommufdCtx, devId: number): Errno {
  const idev = getDevice(ctx, devId);
  if (idev === undefined) return ERRNO.ENOENT;
  if (idev.igroup.devices.includes(idev)) hwptDetach(ctx, idev);
  return ERRNO.OK;
}

/**
 * Unbind (closing the VFIO device fd): detaches, force-destroys its vDEVICE (whose ID stays taken
 * until close, uapi comment, §1.3), and destroys the DEVICE; a device bound through its cdev
 * releases its group claim (vfio_device_release_group). Bad device → ENOENT.
 */
export function deviceUnbind(ctx: IommufdCtx, devId: number): Errno {
  const idev = getDevice(ctx, devId);
  if (idev === undefined) return ERRNO.ENOENT;
  if (idev.igroup.devices.includes(idev)) hwptDetach(ctx, idev);
  if (idev.vdevice !== undefined) ctx.table.forceDestroy(idev.vdevice.id, true);
  ctx.table.unref(idev);
  if (ctx.opts.ownership !== undefined && idev.dev.group !== undefined) ctx.opts.ownership.release(idev.dev.group, ctx);
  const rc = ctx.table.destroy(idev.id, 'device');
  // vfio_device_cdev_close → vfio_device_release_group: the cdev no longer blocks the group path.
  const cdev = (idev.dev as CdevBoundDevice).cdev;
  if (rc === ERRNO.OK && cdev !== undefined && idev.dev.group !== undefined) cdev.files.releaseCdev(idev.dev.group);
  return rc;
}

/** Reads the IOAS of a paging-capable pt (for callers that need the IOAS behind an ID). */
export function ioasOfPt(ctx: IommufdCtx, ptId: number): IoasObj | undefined {
  const pt = ctx.table.get(ptId);
  if (pt?.kind === 'ioas') return getIoas(ctx, ptId);
  if (pt?.kind === 'hwpt-paging') return pt.ioas;
  return undefined;
}
