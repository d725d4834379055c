/**
 * HWPTs (drivers/iommu/iommufd/hw_pagetable.c): IOMMU_HWPT_ALLOC, dirty tracking, dirty bitmap,
 * IOMMU_HWPT_INVALIDATE. Reference iommufd-vfio-hostiommu.md §2.5, §2.6, §2.8.
 */
import { ERRNO, type Errno } from '../../errno.ts';
import type { DeviceObj, Domain, HwptNestedObj, HwptObj, HwptPagingObj, IoasObj, IommufdCtx, ViommuObj } from './objects.ts';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  PAGE_SIZE,
  ULONG_MAX,
} from './uapi.ts';

/** The HWPT_PAGING `id`, or undefined (→ ENOENT; a nested HWPT is not one). */
export function getHwptPaging(ctx: IommufdCtx, id: number): HwptPagingObj | undefined {
  return ctx.table.get(id, 'hwpt-paging') as HwptPagingObj | undefined;
}

/**
 * iommufd_hwpt_paging_alloc: flags outside NEST_PARENT|DIRTY_TRACKING|FAULT_ID_VALID|PASID →
 * EOPNOTSUPP; DIRTY_TRACKING without the IOMMU's capability → EOPNOTSUPP; NEST_PARENT without
 * nesting → EOPNOTSUPP (the driver's domain_alloc); then the domain joins the IOAS
 * (iopt_table_add_domain: EINVAL/EADDRINUSE/pinning errno). The HWPT is allocated, not finalized:
 * the caller finalizes it or calls `abort` (which undoes the IOAS side too).
 */
export function allocHwptPaging(
  ctx: IommufdCtx,
  ioas: IoasObj,
  idev: DeviceObj,
  flags: number,
  auto: boolean,
): { errno: Errno; hwpt?: HwptPagingObj; abort: () => void } {
  const noop = (): void => {};
  const valid = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
  if ((flags & ~valid) !== 0) return { errno: ERRNO.EOPNOTSUPP, abort: noop };
  const iommu = idev.iommu;
  if ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0 && !iommu.dirtyTracking) return { errno: ERRNO.EOPNOTSUPP, abort: noop };
  if ((flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0 && !iommu.nesting) return { errno: ERRNO.EOPNOTSUPP, abort: noop };
  const domain: Domain = {
    iommu,
    pgsizeBitmap: iommu.pgsizeBitmap,
    apertureStart: iommu.apertureStart,
    apertureEnd: iommu.apertureEnd,
    dirtyOps: (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0,
  };
  const hwpt: HwptPagingObj = {
    kind: 'hwpt-paging',
    id: 0,
    ioas,
    domain,
    autoDomain: auto,
    nestParent: (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0,
    dirtyEnabled: false,
    dirty: new Set(),
  };
  if (ctx.table.alloc(hwpt) === 0) return { errno: ERRNO.ENOSPC, abort: noop };
  const rc = ioas.iopt.addDomain(domain);
  if (rc !== ERRNO.OK) {
    ctx.table.abort(hwpt.id);
    return { errno: rc, abort: noop };
  }
  ioas.hwpts.push(hwpt);
  ctx.table.ref(ioas);
  return {
    errno: ERRNO.OK,
    hwpt,
    abort: () => {
      destroyHwptPaging(ctx, hwpt);
      ctx.table.abort(hwpt.id);
    },
  };
}

/** Destroy hook of a HWPT_PAGING: its domain leaves the IOAS, the IOAS reference is dropped. */
export function destroyHwptPaging(ctx: IommufdCtx, h: HwptPagingObj): void {
  h.ioas.iopt.removeDomain(h.domain);
  h.ioas.hwpts.splice(h.ioas.hwpts.indexOf(h), 1);
  ctx.table.unref(h.ioas);
}

/** Destroy hook of a HWPT_NESTED: drops its parent (or vIOMMU) reference. */
export function destroyHwptNested(ctx: IommufdCtx, h: HwptNestedObj): void {
  if (h.viommu !== undefined) ctx.table.unref(h.viommu);
  else ctx.table.unref(h.parent);
}

/** iommufd_hw_pagetable_put for an auto HWPT: destroyed once no device uses it. */
export function destroyAutoIfUnused(ctx: IommufdCtx, h: HwptObj): void {
  if (h.kind === 'hwpt-paging' && h.autoDomain && ctx.table.users(h.id) === 0) ctx.table.destroy(h.id);
}

/** Arguments of IOMMU_HWPT_ALLOC (struct iommu_hwpt_alloc). */
export interface HwptAllocArgs {
  flags: number;
  devId: number;
  ptId: number;
  /** IOMMU_HWPT_DATA_*. */
  dataType?: number;
  /** Bytes of driver data (0 with DATA_NONE). */
  dataLen?: number;
  /** Used with IOMMU_HWPT_FAULT_ID_VALID. */
  faultId?: number;
  reserved?: number;
}

/**
 * IOMMU_HWPT_ALLOC (§2.5): reserved → EOPNOTSUPP; data_type/data_len mismatch → EINVAL; bad
 * dev_id → ENOENT; bad pt_id → EINVAL. pt_id an IOAS → HWPT_PAGING (see allocHwptPaging; driver
 * data → EOPNOTSUPP). pt_id a HWPT_PAGING → HWPT_NESTED: flags other than FAULT_ID_VALID, no data,
 * no nesting or another data type → EOPNOTSUPP; auto, not nest_parent or other-driver parent →
 * EINVAL. pt_id a vIOMMU → HWPT_NESTED: same flag/data rules; device behind another IOMMU →
 * EINVAL. Other kinds → EINVAL. FAULT_ID_VALID: this model has no FAULT objects, so → ENOENT.
 */
export function hwptAlloc(ctx: IommufdCtx, a: HwptAllocArgs): { errno: Errno; outHwptId: number } {
  const fail = (errno: Errno): { errno: Errno; outHwptId: number } => ({ errno, outHwptId: 0 });
  const dataType = a.dataType ?? IOMMU_HWPT_DATA_NONE;
  const dataLen = a.dataLen ?? 0;
  if ((a.reserved ?? 0) !== 0) return fail(ERRNO.EOPNOTSUPP);
  if ((dataType === IOMMU_HWPT_DATA_NONE) !== (dataLen === 0)) return fail(ERRNO.EINVAL);
  const idev = ctx.table.get(a.devId, 'device') as DeviceObj | undefined;
  if (idev === undefined) return fail(ERRNO.ENOENT);
  const pt = ctx.table.get(a.ptId);
  if (pt === undefined) return fail(ERRNO.EINVAL);
  let hwpt: HwptObj;
  let abort: () => void;
  if (pt.kind === 'ioas') {
    if (dataLen !== 0) return fail(ERRNO.EOPNOTSUPP);
    const made = allocHwptPaging(ctx, pt, idev, a.flags, false);
    if (made.errno !== ERRNO.OK || made.hwpt === undefined) return fail(made.errno);
    hwpt = made.hwpt;
    abort = made.abort;
  } else if (pt.kind === 'hwpt-paging' || pt.kind === 'viommu') {
    if ((a.flags & ~IOMMU_HWPT_FAULT_ID_VALID) !== 0 || dataLen === 0) return fail(ERRNO.EOPNOTSUPP);
    const iommu = idev.iommu;
    if (!iommu.nesting) return fail(ERRNO.EOPNOTSUPP);
    let parent: HwptPagingObj;
    let viommu: ViommuObj | undefined;
    if (pt.kind === 'hwpt-paging') {
      if (pt.autoDomain || !pt.nestParent || pt.domain.iommu.driver !== iommu.driver) return fail(ERRNO.EINVAL);
      parent = pt;
    } else {
      if (pt.iommu.iommu !== iommu.iommu) return fail(ERRNO.EINVAL);
      parent = pt.hwpt;
      viommu = pt;
    }
    if (dataType !== iommu.hwptDataType) return fail(ERRNO.EOPNOTSUPP);
    const nested: HwptNestedObj = { kind: 'hwpt-nested', id: 0, parent, viommu, iommu, dataType };
    if (ctx.table.alloc(nested) === 0) return fail(ERRNO.ENOSPC);
    ctx.table.ref(viommu ?? parent);
    hwpt = nested;
    abort = () => {
      destroyHwptNested(ctx, nested);
      ctx.table.abort(nested.id);
    };
  } else {
    return fail(ERRNO.EINVAL);
  }
  if ((a.flags & IOMMU_HWPT_FAULT_ID_VALID) !== 0) {
    abort();
    return fail(ERRNO.ENOENT);
  }
  ctx.table.finalize(hwpt.id);
  return { errno: ERRNO.OK, outHwptId: hwpt.id };
}

/**
 * IOMMU_HWPT_SET_DIRTY_TRACKING (§2.6): flags other than ENABLE or reserved → EOPNOTSUPP; not a
 * HWPT_PAGING → ENOENT; a domain without dirty ops → EOPNOTSUPP. Enabling clears all dirty bits.
 */
export function hwptSetDirtyTracking(ctx: IommufdCtx, hwptId: number, flags: number, reserved = 0): Errno {
  if ((flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0 || reserved !== 0) return ERRNO.EOPNOTSUPP;
  const h = getHwptPaging(ctx, hwptId);
  if (h === undefined) return ERRNO.ENOENT;
  if (!h.domain.dirtyOps) return ERRNO.EOPNOTSUPP;
  const enable = (flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0;
  if (enable) h.dirty.clear();
  h.dirtyEnabled = enable;
  return ERRNO.OK;
}

/** Arguments of IOMMU_HWPT_GET_DIRTY_BITMAP (struct iommu_hwpt_get_dirty_bitmap; bytes). */
export interface DirtyBitmapArgs {
  hwptId: number;
  flags: number;
  iova: bigint;
  length: bigint;
  /** Bytes per bit. */
  pageSize: bigint;
  reserved?: number;
}

/**
 * IOMMU_HWPT_GET_DIRTY_BITMAP (§2.6): unknown flags or reserved → EOPNOTSUPP; not a HWPT_PAGING →
 * ENOENT; no dirty ops → EOPNOTSUPP; iova + length - 1 wraps → EOVERFLOW; iova or end not aligned
 * to iova_alignment → EINVAL; page_size 0 → EINVAL; iova or end not aligned to page_size → EINVAL;
 * range not covered by contiguous areas → EINVAL. `bitmap` holds u64 words; bit n (word n / 64,
 * bit n % 64) covers [iova + n * page_size, +page_size) — counted from `iova` as the kernel's
 * iova_bitmap does. Without NO_CLEAR the dirty bits read are cleared.
 */
export function hwptGetDirtyBitmap(ctx: IommufdCtx, a: DirtyBitmapArgs): { errno: Errno; bitmap: bigint[] } {
  const fail = (errno: Errno): { errno: Errno; bitmap: bigint[] } => ({ errno, bitmap: [] });
  if ((a.flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0 || (a.reserved ?? 0) !== 0) return fail(ERRNO.EOPNOTSUPP);
  const h = getHwptPaging(ctx, a.hwptId);
  if (h === undefined) return fail(ERRNO.ENOENT);
  if (!h.domain.dirtyOps) return fail(ERRNO.EOPNOTSUPP);
  const last = (a.iova + ((a.length - 1n) & ULONG_MAX)) & ((1n << 65n) - 1n);
  if (last > ULONG_MAX) return fail(ERRNO.EOVERFLOW);
  const end = (last + 1n) & ULONG_MAX;
  const am = h.ioas.iopt.iovaAlignment - 1n;
  if ((a.iova & am) !== 0n || (end & am) !== 0n) return fail(ERRNO.EINVAL);
  if (a.pageSize === 0n) return fail(ERRNO.EINVAL);
  const pm = a.pageSize - 1n;
  if ((a.iova & pm) !== 0n || (end & pm) !== 0n) return fail(ERRNO.EINVAL);
  if (!h.ioas.iopt.walkContig(a.iova, last)) return fail(ERRNO.EINVAL);
  const bits = (last - a.iova + 1n) / a.pageSize;
  const bitmap: bigint[] = new Array<bigint>(Number((bits + 63n) / 64n)).fill(0n);
  const clear = (a.flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) === 0;
  const shift = dirtyShift(h);
  const dpage = 1n << shift;
  for (const p of [...h.dirty]) {
    // A dirty IOPTE of the domain's page size marks every page_size bit it overlaps (iova_bitmap_set).
    const at = p << shift;
    const atLast = at + dpage - 1n;
    if (atLast < a.iova || at > last) continue;
    const from = at < a.iova ? a.iova : at;
    const to = atLast > last ? last : atLast;
    for (let n = (from - a.iova) / a.pageSize; n <= (to - a.iova) / a.pageSize; n++) bitmap[Number(n / 64n)] |= 1n << (n % 64n);
    if (clear) h.dirty.delete(p);
  }
  return { errno: ERRNO.OK, bitmap };
}

/**
 * Marks [iova, iova + length) dirty in `h` when tracking is on and the access writes (what the
 * IOMMU's dirty bit does on a DMA write).
 */
export function markDirty(h: HwptPagingObj, iova: bigint, length: bigint, write: boolean): void {
  if (!write || !h.dirtyEnabled || length === 0n) return;
  const last = iova + length - 1n;
  const shift = dirtyShift(h);
  for (let p = iova >> shift; p <= last >> shift; p++) h.dirty.add(p);
}

/**
 * log2 of the granule dirty bits are kept at: the domain's smallest page size (the IOPTE that
 * carries the dirty bit; 4 KiB for VT-d/AMD-Vi/SMMUv3, 2 KiB for the selftest's mock domain).
 */
function dirtyShift(h: HwptPagingObj): bigint {
  const m = h.domain.pgsizeBitmap;
  const low = m === 0n ? PAGE_SIZE : m & -m;
  let s = 0n;
  while (1n << s < low) s++;
  return s;
}

/** One IOMMU_HWPT_INVALIDATE entry as the model checks it. */
export interface InvalidateEntry {
  /** VTD_S1: start address (4 KiB aligned) and pages; flags IOMMU_VTD_INV_FLAGS_LEAF. */
  addr?: bigint;
  npages?: bigint;
  flags?: number;
  /** ARM_SMMUV3: the command opcode (CMDQ_OP_*) of the 128-bit command. */
  opcode?: number;
}

/** SMMUv3 CMDQ opcodes the kernel passes through (§2.8): TLBI_NSNH_ALL, TLBI_NH_VA, TLBI_NH_VAA, TLBI_NH_ALL, TLBI_NH_ASID, ATC_INV, CFGI_CD, CFGI_CD_ALL. */
export const SMMUV3_INVALIDATE_OPCODES: ReadonlySet<number> = new Set([0x30, 0x12, 0x13, 0x10, 0x11, 0x40, 0x05, 0x06]);

/**
 * IOMMU_HWPT_INVALIDATE (§2.8): reserved → EOPNOTSUPP; entries with data_uptr 0 or entry_len 0 →
 * EINVAL; bad ID → ENOENT; a HWPT_NESTED or vIOMMU is invalidated; any other kind → EINVAL (era
 * '2024': a paging HWPT → ENOENT). A data type the driver does not take → EINVAL (UNVERIFIED).
 * Per entry: VTD_S1 unknown flags → EOPNOTSUPP, addr not 4 KiB aligned or npages U64_MAX with
 * addr != 0 → EINVAL; SMMUv3 opcode outside the list → EIO. `entryNum` is always the count handled.
 */
export function hwptInvalidate(
  ctx: IommufdCtx,
  a: { hwptId: number; dataType: number; entries: readonly InvalidateEntry[]; dataUptr?: bigint; entryLen?: number; reserved?: number },
): { errno: Errno; entryNum: number } {
  const n = a.entries.length;
  if ((a.reserved ?? 0) !== 0) return { errno: ERRNO.EOPNOTSUPP, entryNum: n };
  if (n > 0 && ((a.dataUptr ?? 1n) === 0n || (a.entryLen ?? 1) === 0)) return { errno: ERRNO.EINVAL, entryNum: 0 };
  const pt = ctx.table.get(a.hwptId);
  if (pt === undefined) return { errno: ERRNO.ENOENT, entryNum: 0 };
  if (pt.kind !== 'hwpt-nested' && pt.kind !== 'viommu') {
    const old = pt.kind === 'hwpt-paging' && ctx.opts.kernel === '2024';
    return { errno: old ? ERRNO.ENOENT : ERRNO.EINVAL, entryNum: 0 };
  }
  if (a.dataType !== pt.iommu.invalidateDataType) return { errno: ERRNO.EINVAL, entryNum: 0 };
  let done = 0;
  for (const e of a.entries) {
    if (a.dataType === IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) {
      if (((e.flags ?? 0) & ~1) !== 0) return { errno: ERRNO.EOPNOTSUPP, entryNum: done };
      const addr = e.addr ?? 0n;
      if ((addr & 0xfffn) !== 0n || (e.npages === ULONG_MAX && addr !== 0n)) return { errno: ERRNO.EINVAL, entryNum: done };
    } else if (a.dataType === IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3) {
      if (!SMMUV3_INVALIDATE_OPCODES.has(e.opcode ?? -1)) return { errno: ERRNO.EIO, entryNum: done };
    }
    done++;
  }
  return { errno: ERRNO.OK, entryNum: done };
}
