/**
 * One open /dev/iommu (drivers/iommu/iommufd/main.c): the object table, IOMMU_DESTROY, close,
 * IOMMU_GET_HW_INFO, and the host DMA path through a device's attached HWPT. The ioctl handlers
 * live beside it by object kind (ioas.ts, device.ts, hw-pagetable.ts, viommu.ts) and this class
 * is their one entry point. Every operation returns 0 or an errno plus its uAPI output fields,
 * and never throws for user input (reference iommufd-vfio-hostiommu.md §1, §2).
 */
import { ERRNO, type Errno } from '../../errno.ts';
import { ObjectTable } from '../../object-table.ts';
import { accessAttach, accessCreate, accessDestroy, accessDetach, accessReplace, destroyAccessObject, getAccess } from './access.ts';
import { deviceAttach, deviceBind, deviceDetach, deviceReplace, deviceUnbind, getDevice } from './device.ts';
import {
  destroyHwptNested,
  destroyHwptPaging,
  getHwptPaging,
  hwptAlloc,
  hwptGetDirtyBitmap,
  hwptInvalidate,
  hwptSetDirtyTracking,
  markDirty,
  type DirtyBitmapArgs,
  type HwptAllocArgs,
  type InvalidateEntry,
} from './hw-pagetable.ts';
import { ioasAllowIovas, ioasAlloc, ioasCopy, ioasIovaRanges, ioasMap, ioasMap32, ioasUnmap, ioasUnmap32, option, type IoasCopyArgs, type IoasMapArgs, type OptionArgs } from './ioas.ts';
import { AREA_READ, AREA_WRITE, type IovaRange } from './io-pagetable.ts';
import type { BoundDevice, IommufdCtx, IommufdObj, IommufdOptions } from './objects.ts';
import { IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_CAP_PCI_PASID_EXEC, IOMMU_HW_CAP_PCI_PASID_PRIV, IOMMU_HW_INFO_FLAG_INPUT_TYPE, IOMMU_HW_INFO_TYPE_NONE, NEWEST_KERNEL, ULONG_MAX } from './uapi.ts';
import { destroyVdevice, destroyViommu, vdeviceAlloc, viommuAlloc } from './viommu.ts';

/** DMA access direction. */
export type DmaAccess = 'read' | 'write';

/**
 * Why a host DMA faulted:
 *  - 'not-bound': no such bound device;
 *  - 'blocked': its group is attached to no HWPT (the blocking domain);
 *  - 'unmapped': some byte of the access has no area (the first such IOVA is `iova`);
 *  - 'permission': the area lacks IOMMU_READ / IOMMU_WRITE for the access;
 *  - 'stage1': the group is attached to a HWPT_NESTED, whose guest-owned stage-1 table this engine
 *    does not walk.
 */
export type DmaFaultReason = 'not-bound' | 'blocked' | 'unmapped' | 'permission' | 'stage1';

/** Result of {@link Iommufd.hostDma}: the user VA the IOVA maps to, or a fault record. */
export type DmaResult = { translated: bigint; hwptId: number } | { fault: { reason: DmaFaultReason; iova: bigint } };

/** Output of IOMMU_GET_HW_INFO (struct iommu_hw_info). */
export interface HwInfo {
  errno: Errno;
  /** The kernel's payload size (bytes). */
  dataLen: number;
  /** The user buffer: min(in data_len, kernel size) bytes copied, the rest zeroed. */
  data: Uint8Array;
  outDataType: number;
  outCapabilities: number;
  outMaxPasidLog2: number;
}

/** The iommufd engine (see the file comment). */
export class Iommufd {
  /** Shared state of the handlers (object table, options, groups). */
  readonly ctx: IommufdCtx;

  /** @param opts kernel era and host options; see {@link IommufdOptions}. */
  constructor(opts: IommufdOptions = {}) {
    const table = new ObjectTable<IommufdObj['kind'], IommufdObj>((o) => this.destroyHook(o));
    this.ctx = {
      table,
      opts: {
        kernel: opts.kernel ?? NEWEST_KERNEL,
        transparentHugepage: opts.transparentHugepage ?? true,
        capSysResource: opts.capSysResource ?? true,
        allowUnsafeInterrupts: opts.allowUnsafeInterrupts ?? false,
        userMemory: opts.userMemory,
        ownership: opts.ownership,
      },
      groups: new Map(),
      bound: new Set(),
      accountMode: 0,
      out32: { hi: 0, lo: 0 },
    };
  }

  private destroyHook(o: IommufdObj): void {
    const ctx = this.ctx;
    switch (o.kind) {
      case 'hwpt-paging':
        destroyHwptPaging(ctx, o);
        break;
      case 'hwpt-nested':
        destroyHwptNested(ctx, o);
        break;
      case 'viommu':
        destroyViommu(ctx, o);
        break;
      case 'vdevice':
        destroyVdevice(ctx, o);
        break;
      case 'device':
        ctx.bound.delete(o.dev.name);
        break;
      case 'access':
        destroyAccessObject(ctx, o);
        break;
      case 'ioas':
        break;
    }
  }

  /** Live objects in ID order (the object view). */
  objects(): readonly IommufdObj[] {
    return this.ctx.table.list();
  }

  /** References held on object `id` (0 when absent). */
  users(id: number): number {
    return this.ctx.table.users(id);
  }

  /** IOMMU_DESTROY: ENOENT for an absent ID, EBUSY while referenced (§1.1, §1.3). */
  destroy(id: number): Errno {
    return this.ctx.table.destroy(id);
  }

  /** Closes the fd: unbinds every device and emulated device (access), then destroys everything leaf-first. */
  close(): void {
    for (const d of this.ctx.table.list('device')) deviceUnbind(this.ctx, d.id);
    for (const a of this.ctx.table.list('access')) accessDestroy(this.ctx, a.id);
    this.ctx.table.close();
    this.ctx.groups.clear();
    this.ctx.bound.clear();
  }

  /** IOMMU_IOAS_ALLOC; see ioas.ts. */
  ioasAlloc(flags = 0): { errno: Errno; outIoasId: number } {
    return ioasAlloc(this.ctx, flags);
  }

  /** IOMMU_IOAS_MAP; see ioas.ts. */
  ioasMap(a: IoasMapArgs): { errno: Errno; iova: bigint } {
    return ioasMap(this.ctx, a);
  }

  /**
   * IOMMU_IOAS_MAP on u32 halves, the hot path (no allocation with FIXED_IOVA): user_va, length
   * and iova each as (hi, lo); returns the errno, and on success the IOVA used in
   * {@link out32Hi} / {@link out32Lo}. Same rules as {@link ioasMap}.
   */
  ioasMap32(ioasId: number, flags: number, vaHi: number, vaLo: number, lenHi: number, lenLo: number, iovaHi: number, iovaLo: number): Errno {
    return ioasMap32(this.ctx, ioasId, flags, vaHi, vaLo, lenHi, lenLo, iovaHi, iovaLo);
  }

  /**
   * IOMMU_IOAS_UNMAP on u32 halves, the hot path: returns the errno, and on success the bytes
   * unmapped in {@link out32Hi} / {@link out32Lo}. Same rules as {@link ioasUnmap}.
   */
  ioasUnmap32(ioasId: number, iovaHi: number, iovaLo: number, lenHi: number, lenLo: number): Errno {
    return ioasUnmap32(this.ctx, ioasId, iovaHi, iovaLo, lenHi, lenLo);
  }

  /** Hi half of the last hot-path output (ioasMap32: IOVA; ioasUnmap32: bytes unmapped). */
  get out32Hi(): number {
    return this.ctx.out32.hi;
  }

  /** Lo half of the last hot-path output. */
  get out32Lo(): number {
    return this.ctx.out32.lo;
  }

  /** IOMMU_IOAS_COPY; see ioas.ts. */
  ioasCopy(a: IoasCopyArgs): { errno: Errno; dstIova: bigint } {
    return ioasCopy(this.ctx, a);
  }

  /** IOMMU_IOAS_UNMAP (iova 0, length U64_MAX: all); see ioas.ts. */
  ioasUnmap(ioasId: number, iova: bigint, length: bigint): { errno: Errno; length: bigint } {
    return ioasUnmap(this.ctx, ioasId, iova, length);
  }

  /** IOMMU_IOAS_IOVA_RANGES; see ioas.ts. */
  ioasIovaRanges(ioasId: number, numIovas: number): { errno: Errno; numIovas: number; ranges: IovaRange[]; outIovaAlignment: bigint } {
    return ioasIovaRanges(this.ctx, ioasId, numIovas);
  }

  /** IOMMU_IOAS_ALLOW_IOVAS; see ioas.ts. */
  ioasAllowIovas(ioasId: number, ranges: readonly IovaRange[]): Errno {
    return ioasAllowIovas(this.ctx, ioasId, ranges);
  }

  /** IOMMU_OPTION; see ioas.ts. */
  option(a: OptionArgs): { errno: Errno; val64: bigint } {
    return option(this.ctx, a);
  }

  /** Bind (VFIO_DEVICE_BIND_IOMMUFD); see device.ts. */
  deviceBind(dev: BoundDevice): { errno: Errno; outDevId: number } {
    return deviceBind(this.ctx, dev);
  }

  /**
   * Bind of an emulated (mdev) device (VFIO_DEVICE_BIND_IOMMUFD → vfio_iommufd_emulated_bind →
   * iommufd_access_create): an ACCESS object whose ID is `outDevId`; see access.ts.
   */
  accessCreate(dev: BoundDevice): { errno: Errno; outDevId: number } {
    return accessCreate(this.ctx, dev);
  }

  /** Unbind (closing the VFIO device); an ACCESS ID unbinds the emulated device (access.ts). See device.ts. */
  deviceUnbind(devId: number): Errno {
    if (getAccess(this.ctx, devId) !== undefined) return accessDestroy(this.ctx, devId);
    return deviceUnbind(this.ctx, devId);
  }

  /**
   * VFIO_DEVICE_ATTACH_IOMMUFD_PT; `ptId` is the HWPT ID written back; see device.ts. An ACCESS ID
   * attaches the emulated device to an IOAS (`ptId` stays the IOAS ID; access.ts).
   */
  deviceAttach(devId: number, ptId: number): { errno: Errno; ptId: number } {
    if (getAccess(this.ctx, devId) !== undefined) return accessAttach(this.ctx, devId, ptId);
    return deviceAttach(this.ctx, devId, ptId);
  }

  /** iommufd_device_replace (iommufd_access_replace for an ACCESS ID); see device.ts, access.ts. */
  deviceReplace(devId: number, ptId: number): { errno: Errno; ptId: number } {
    if (getAccess(this.ctx, devId) !== undefined) return accessReplace(this.ctx, devId, ptId);
    return deviceReplace(this.ctx, devId, ptId);
  }

  /** VFIO_DEVICE_DETACH_IOMMUFD_PT (of a device or an ACCESS); see device.ts, access.ts. */
  deviceDetach(devId: number): Errno {
    if (getAccess(this.ctx, devId) !== undefined) return accessDetach(this.ctx, devId);
    return deviceDetach(this.ctx, devId);
  }

  /** The DEVICE ID of the bound device named `name`, or 0. */
  deviceIdOf(name: string): number {
    for (const d of this.ctx.table.list('device')) if (d.kind === 'device' && d.dev.name === name) return d.id;
    return 0;
  }

  /** IOMMU_HWPT_ALLOC; see hw-pagetable.ts. */
  hwptAlloc(a: HwptAllocArgs): { errno: Errno; outHwptId: number } {
    return hwptAlloc(this.ctx, a);
  }

  /** IOMMU_HWPT_SET_DIRTY_TRACKING; see hw-pagetable.ts. */
  hwptSetDirtyTracking(hwptId: number, flags: number): Errno {
    return hwptSetDirtyTracking(this.ctx, hwptId, flags);
  }

  /** IOMMU_HWPT_GET_DIRTY_BITMAP; see hw-pagetable.ts. */
  hwptGetDirtyBitmap(a: DirtyBitmapArgs): { errno: Errno; bitmap: bigint[] } {
    return hwptGetDirtyBitmap(this.ctx, a);
  }

  /** IOMMU_HWPT_INVALIDATE; see hw-pagetable.ts. */
  hwptInvalidate(a: { hwptId: number; dataType: number; entries: readonly InvalidateEntry[]; dataUptr?: bigint; entryLen?: number }): { errno: Errno; entryNum: number } {
    return hwptInvalidate(this.ctx, a);
  }

  /** IOMMU_VIOMMU_ALLOC; see viommu.ts. */
  viommuAlloc(a: { flags?: number; type: number; devId: number; hwptId: number }): { errno: Errno; outViommuId: number } {
    return viommuAlloc(this.ctx, a);
  }

  /** IOMMU_VDEVICE_ALLOC; see viommu.ts. */
  vdeviceAlloc(a: { viommuId: number; devId: number; virtId: bigint }): { errno: Errno; outVdeviceId: number } {
    return vdeviceAlloc(this.ctx, a);
  }

  /**
   * IOMMU_GET_HW_INFO (§2.7): flags other than INPUT_TYPE or reserved → EOPNOTSUPP; bad dev_id →
   * ENOENT; INPUT_TYPE with a type other than DEFAULT and the IOMMU's own → EOPNOTSUPP (the
   * drivers' hw_info; UNVERIFIED). Copies min(dataLen, kernel size) bytes, zeroes the rest,
   * reports the kernel size in `dataLen`, the IOMMU's type, IOMMU_HW_CAP_DIRTY_TRACKING and the
   * PASID capabilities (only with a non-zero max_pasid_log2).
   */
  getHwInfo(a: { devId: number; dataLen: number; flags?: number; inDataType?: number; reserved?: number }): HwInfo {
    const fail = (errno: Errno): HwInfo => ({ errno, dataLen: a.dataLen, data: new Uint8Array(0), outDataType: 0, outCapabilities: 0, outMaxPasidLog2: 0 });
    const flags = a.flags ?? 0;
    if ((flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) !== 0 || (a.reserved ?? 0) !== 0) return fail(ERRNO.EOPNOTSUPP);
    const inType = (flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE) !== 0 ? (a.inDataType ?? 0) : 0;
    const idev = getDevice(this.ctx, a.devId);
    if (idev === undefined) return fail(ERRNO.ENOENT);
    const iommu = idev.iommu;
    const info = iommu.hwInfo;
    if (inType !== 0 && inType !== info.type) return fail(ERRNO.EOPNOTSUPP);
    const data = new Uint8Array(a.dataLen);
    data.set(info.data.subarray(0, Math.min(a.dataLen, info.data.length)));
    let caps = iommu.dirtyTracking ? IOMMU_HW_CAP_DIRTY_TRACKING : 0;
    const pasid = iommu.maxPasidLog2 ?? 0;
    if (pasid !== 0) caps |= (iommu.pasidExec === true ? IOMMU_HW_CAP_PCI_PASID_EXEC : 0) | (iommu.pasidPriv === true ? IOMMU_HW_CAP_PCI_PASID_PRIV : 0);
    return {
      errno: ERRNO.OK,
      dataLen: info.type === IOMMU_HW_INFO_TYPE_NONE ? 0 : info.data.length,
      data,
      outDataType: info.type,
      outCapabilities: caps,
      outMaxPasidLog2: pasid,
    };
  }

  /**
   * Marks a DMA write of [iova, iova + length) dirty in a HWPT_PAGING (by ID) or in the paging HWPT
   * a device (by ID) is attached to, when dirty tracking is on. ENOENT when the ID is neither a
   * HWPT_PAGING nor a device attached to one.
   */
  recordDma(id: number, iova: bigint, length: bigint, write: boolean): Errno {
    let h = getHwptPaging(this.ctx, id);
    if (h === undefined) {
      const hw = getDevice(this.ctx, id)?.igroup.hwpt;
      if (hw?.kind === 'hwpt-paging') h = hw;
    }
    if (h === undefined) return ERRNO.ENOENT;
    markDirty(h, iova, length, write);
    return ERRNO.OK;
  }

  /**
   * A DMA of `size` bytes at `iova` by device `devId` through its group's HWPT (the physical
   * IOMMU's walk of the IOAS mappings mirrored into the domain): the user VA of `iova`, or a fault
   * (see {@link DmaFaultReason}). Every byte must be mapped, across adjacent areas, with the
   * access's permission. A translated write is recorded for dirty tracking.
   */
  hostDma(devId: number, iova: bigint, size: bigint, access: DmaAccess): DmaResult {
    const idev = getDevice(this.ctx, devId);
    if (idev === undefined) return { fault: { reason: 'not-bound', iova } };
    const hwpt = idev.igroup.hwpt;
    if (hwpt === undefined || !idev.igroup.devices.includes(idev)) return { fault: { reason: 'blocked', iova } };
    if (hwpt.kind === 'hwpt-nested') return { fault: { reason: 'stage1', iova } };
    const iopt = hwpt.ioas.iopt;
    const need = access === 'write' ? AREA_WRITE : AREA_READ;
    const last = size === 0n ? iova : iova + size - 1n;
    if (last > ULONG_MAX) return { fault: { reason: 'unmapped', iova: ULONG_MAX } };
    let cur = iova;
    let translated = -1n;
    for (;;) {
      const a = iopt.areaAt(cur);
      if (a === undefined) return { fault: { reason: 'unmapped', iova: cur } };
      if ((a.flags & need) === 0) return { fault: { reason: 'permission', iova: cur } };
      if (translated < 0n) translated = a.userVa + (cur - a.iova);
      const areaLast = a.iova + a.length - 1n;
      if (areaLast >= last) break;
      cur = areaLast + 1n;
    }
    markDirty(hwpt, iova, size, access === 'write');
    return { translated, hwptId: hwpt.id };
  }
}
