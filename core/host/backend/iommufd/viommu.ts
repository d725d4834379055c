/**
 * vIOMMU and vDEVICE objects (drivers/iommu/iommufd/viommu.c). Reference
 * iommufd-vfio-hostiommu.md §1.1, §2.9.
 */
import { ERRNO, type Errno } from '../../errno.ts';
import { getDevice } from './device.ts';
import { getHwptPaging } from './hw-pagetable.ts';
import type { IommufdCtx, VdeviceObj, ViommuObj } from './objects.ts';
import { IOMMU_VIOMMU_TYPE_DEFAULT } from './uapi.ts';

/**
 * IOMMU_VIOMMU_ALLOC: flags != 0 or type DEFAULT → EOPNOTSUPP; bad dev_id → ENOENT; a driver
 * without that vIOMMU type → EOPNOTSUPP; bad or zero hwpt_id (or not paging) → ENOENT; HWPT not a
 * nest parent → EINVAL. The vIOMMU holds a reference on the HWPT.
 */
export function viommuAlloc(
  ctx: IommufdCtx,
  a: { flags?: number; type: number; devId: number; hwptId: number },
): { errno: Errno; outViommuId: number } {
  const fail = (errno: Errno): { errno: Errno; outViommuId: number } => ({ errno, outViommuId: 0 });
  if ((a.flags ?? 0) !== 0 || a.type === IOMMU_VIOMMU_TYPE_DEFAULT) return fail(ERRNO.EOPNOTSUPP);
  const idev = getDevice(ctx, a.devId);
  if (idev === undefined) return fail(ERRNO.ENOENT);
  if (idev.iommu.viommuTypes.length === 0) return fail(ERRNO.EOPNOTSUPP);
  const hwpt = getHwptPaging(ctx, a.hwptId);
  if (hwpt === undefined) return fail(ERRNO.ENOENT);
  if (!hwpt.nestParent) return fail(ERRNO.EINVAL);
  if (!idev.iommu.viommuTypes.includes(a.type)) return fail(ERRNO.EOPNOTSUPP);
  const v: ViommuObj = { kind: 'viommu', id: 0, type: a.type, hwpt, iommu: idev.iommu, vdevs: new Map() };
  if (ctx.table.alloc(v) === 0) return fail(ERRNO.ENOSPC);
  ctx.table.ref(hwpt);
  ctx.table.finalize(v.id);
  return { errno: ERRNO.OK, outViommuId: v.id };
}

/** Destroy hook of a vIOMMU: drops its HWPT reference. */
export function destroyViommu(ctx: IommufdCtx, v: ViommuObj): void {
  ctx.table.unref(v.hwpt);
}

/**
 * IOMMU_VDEVICE_ALLOC: bad viommu_id or dev_id → ENOENT; device and vIOMMU behind different
 * physical IOMMUs → EINVAL; the device already has a vDEVICE, or virt_id is taken in this vIOMMU
 * → EEXIST. (`virt_id > ULONG_MAX` → EINVAL cannot happen on a 64-bit kernel.) The vDEVICE holds a
 * reference on the vIOMMU.
 */
export function vdeviceAlloc(ctx: IommufdCtx, a: { viommuId: number; devId: number; virtId: bigint }): { errno: Errno; outVdeviceId: number } {
  const fail = (errno: Errno): { errno: Errno; outVdeviceId: number } => ({ errno, outVdeviceId: 0 });
  const v = ctx.table.get(a.viommuId, 'viommu') as ViommuObj | undefined;
  if (v === undefined) return fail(ERRNO.ENOENT);
  const idev = getDevice(ctx, a.devId);
  if (idev === undefined) return fail(ERRNO.ENOENT);
  if (idev.iommu.iommu !== v.iommu.iommu) return fail(ERRNO.EINVAL);
  if (idev.vdevice !== undefined || v.vdevs.has(a.virtId)) return fail(ERRNO.EEXIST);
  const vd: VdeviceObj = { kind: 'vdevice', id: 0, viommu: v, dev: idev, virtId: a.virtId };
  if (ctx.table.alloc(vd) === 0) return fail(ERRNO.ENOSPC);
  ctx.table.ref(v);
  v.vdevs.set(a.virtId, vd);
  idev.vdevice = vd;
  ctx.table.finalize(vd.id);
  return { errno: ERRNO.OK, outVdeviceId: vd.id };
}

/** Destroy hook of a vDEVICE: leaves its vIOMMU and device. */
export function destroyVdevice(ctx: IommufdCtx, vd: VdeviceObj): void {
  vd.viommu.vdevs.delete(vd.virtId);
  vd.dev.vdevice = undefined;
  ctx.table.unref(vd.viommu);
}
