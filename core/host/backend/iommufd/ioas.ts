/**
 * IOAS ioctl handlers (drivers/iommu/iommufd/ioas.c): argument checks in the kernel's order, then
 * the IOVA engine (io-pagetable.ts). Reference iommufd-vfio-hostiommu.md §2.1–§2.4.
 */
import { TWO32, hi32, lo32, u64 } from '../../../engine/u64.ts';
import { ERRNO, type Errno } from '../../errno.ts';
import { AREA_READ, AREA_WRITE, IoPagetable, type IovaRange, type PagesSlice } from './io-pagetable.ts';
import type { IoasObj, IommufdCtx } from './objects.ts';
import {
  HPAGE_SIZE,
  IOAS_MAP_FLAGS,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  PAGE_SIZE,
  ULONG_MAX,
} from './uapi.ts';

/** conv_iommu_prot: IOAS_MAP flags → AREA_READ/WRITE (IOMMU_CACHE is always added by the kernel). */
function prot(flags: number): number {
  return ((flags & IOMMU_IOAS_MAP_READABLE) !== 0 ? AREA_READ : 0) | ((flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0 ? AREA_WRITE : 0);
}

/** The IOAS `id`, or undefined (→ ENOENT). */
export function getIoas(ctx: IommufdCtx, id: number): IoasObj | undefined {
  return ctx.table.get(id, 'ioas') as IoasObj | undefined;
}

/** IOMMU_IOAS_ALLOC: `flags` must be 0 (else EOPNOTSUPP). Returns the new ID in `outIoasId`. */
export function ioasAlloc(ctx: IommufdCtx, flags = 0): { errno: Errno; outIoasId: number } {
  if (flags !== 0) return { errno: ERRNO.EOPNOTSUPP, outIoasId: 0 };
  const iopt = new IoPagetable(ctx.opts.transparentHugepage ? HPAGE_SIZE : PAGE_SIZE, ctx.opts.userMemory as never);
  const ioas: IoasObj = { kind: 'ioas', id: 0, iopt, hwpts: [] };
  if (ctx.table.alloc(ioas) === 0) return { errno: ERRNO.ENOSPC, outIoasId: 0 };
  ctx.table.finalize(ioas.id);
  return { errno: ERRNO.OK, outIoasId: ioas.id };
}

/** Arguments of IOMMU_IOAS_MAP (struct iommu_ioas_map; bytes). */
export interface IoasMapArgs {
  ioasId: number;
  /** IOMMU_IOAS_MAP_* bits. */
  flags: number;
  userVa: bigint;
  length: bigint;
  /** Used with FIXED_IOVA; otherwise ignored and written back. */
  iova?: bigint;
  /** `__reserved` (must be 0). */
  reserved?: number;
}

/**
 * IOMMU_IOAS_MAP (§2.1): unknown flags or reserved → EOPNOTSUPP; iova or length >= ULONG_MAX →
 * EOVERFLOW; neither READABLE nor WRITEABLE → EINVAL; bad IOAS → ENOENT; user_va + length wraps →
 * EOVERFLOW, length 0 → EINVAL (iopt_alloc_user_pages); then the engine (alignment EINVAL, fixed:
 * EINVAL/EOVERFLOW/EINVAL reserved/EEXIST; auto: EOVERFLOW/EINVAL/ENOSPC; pinning EFAULT/EPERM).
 * `iova` is the IOVA used (the kernel's choice without FIXED_IOVA).
 */
export function ioasMap(ctx: IommufdCtx, a: IoasMapArgs): { errno: Errno; iova: bigint } {
  const iova = a.iova ?? 0n;
  const rc = ioasMap32(ctx, a.ioasId, a.flags, hi32(a.userVa), lo32(a.userVa), hi32(a.length), lo32(a.length), hi32(iova), lo32(iova), a.reserved ?? 0);
  if (rc !== ERRNO.OK) return { errno: rc, iova };
  return { errno: rc, iova: (a.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0 ? iova : u64(ctx.out32.hi, ctx.out32.lo) };
}

const MAX32 = 0xffffffff;

/**
 * IOMMU_IOAS_MAP on u32 halves (the hot path: no bigint for a FIXED_IOVA map, no allocation):
 * the same checks and errnos as {@link ioasMap}; the IOVA used is left in ctx.out32.
 */
export function ioasMap32(ctx: IommufdCtx, ioasId: number, flags: number, vaHi: number, vaLo: number, lenHi: number, lenLo: number, iovaHi: number, iovaLo: number, reserved = 0): Errno {
  // The lookup is done first (it has no effect) so that a FIXED_IOVA map can prefetch its page-table
  // slot: the checks below, in the kernel's order, run while that cache miss is in flight.
  const ioas = ctx.table.get(ioasId, 'ioas') as IoasObj | undefined;
  if (ioas !== undefined && (flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0) ioas.iopt.areas.touch(iovaHi, iovaLo);
  if ((flags & ~IOAS_MAP_FLAGS) !== 0 || reserved !== 0) return ERRNO.EOPNOTSUPP;
  if ((iovaHi === MAX32 && iovaLo === MAX32) || (lenHi === MAX32 && lenLo === MAX32)) return ERRNO.EOVERFLOW;
  if ((flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) === 0) return ERRNO.EINVAL;
  if (ioas === undefined) return ERRNO.ENOENT;
  // user_va + length > ULONG_MAX (iopt_alloc_user_pages check_add_overflow).
  if (vaHi + lenHi + (vaLo + lenLo >= TWO32 ? 1 : 0) >= TWO32) return ERRNO.EOVERFLOW;
  if ((lenHi === 0 && lenLo === 0) || (lenHi === MAX32 && lenLo > 0xffffefff)) return ERRNO.EINVAL;
  const writable = (flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0;
  const out = ctx.out32;
  if ((flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0) {
    out.hi = iovaHi;
    out.lo = iovaLo;
    return ioas.iopt.mapFixed32(vaHi, vaLo, lenHi, lenLo, iovaHi, iovaLo, prot(flags), writable);
  }
  const rc = ioas.iopt.mapAuto32(vaHi, vaLo, lenHi, lenLo, prot(flags), writable);
  if (rc === ERRNO.OK) {
    out.hi = ioas.iopt.outIovaHi;
    out.lo = ioas.iopt.outIovaLo;
  }
  return rc;
}

/** Arguments of IOMMU_IOAS_COPY (struct iommu_ioas_copy; bytes). */
export interface IoasCopyArgs {
  flags: number;
  dstIoasId: number;
  srcIoasId: number;
  length: bigint;
  dstIova?: bigint;
  srcIova: bigint;
}

/**
 * IOMMU_IOAS_COPY (§2.2): unknown flags → EOPNOTSUPP; length/src_iova/dst_iova >= ULONG_MAX →
 * EOVERFLOW; no READABLE/WRITEABLE → EINVAL; bad source IOAS → ENOENT; source not covered by
 * contiguous areas → ENOENT (length 0 → EINVAL, wrap → EOVERFLOW); bad destination → ENOENT;
 * WRITEABLE over pages mapped read-only → EPERM; then placed like MAP. `dstIova` is written back.
 */
export function ioasCopy(ctx: IommufdCtx, a: IoasCopyArgs): { errno: Errno; dstIova: bigint } {
  const dst = a.dstIova ?? 0n;
  const fail = (errno: Errno): { errno: Errno; dstIova: bigint } => ({ errno, dstIova: dst });
  if ((a.flags & ~IOAS_MAP_FLAGS) !== 0) return fail(ERRNO.EOPNOTSUPP);
  if (a.length >= ULONG_MAX || a.srcIova >= ULONG_MAX || dst >= ULONG_MAX) return fail(ERRNO.EOVERFLOW);
  if ((a.flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) === 0) return fail(ERRNO.EINVAL);
  const src = getIoas(ctx, a.srcIoasId);
  if (src === undefined) return fail(ERRNO.ENOENT);
  const slices: PagesSlice[] = [];
  let rc = src.iopt.getPages(a.srcIova, a.length, slices);
  if (rc !== ERRNO.OK) return fail(rc);
  const to = getIoas(ctx, a.dstIoasId);
  if (to === undefined) return fail(ERRNO.ENOENT);
  rc = to.iopt.mapPages(slices, a.length, dst, (a.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0, prot(a.flags));
  return rc === ERRNO.OK ? { errno: rc, dstIova: to.iopt.outIova } : fail(rc);
}

/**
 * IOMMU_IOAS_UNMAP (§2.3): bad IOAS → ENOENT; iova 0 with length U64_MAX unmaps everything
 * (success even when empty); else iova/length >= ULONG_MAX → EOVERFLOW, length 0 → EINVAL, wrap →
 * EOVERFLOW, an area sticking out → ENOENT, nothing mapped in the range → ENOENT. `length` is the
 * bytes unmapped (the sum of the areas removed).
 */
export function ioasUnmap(ctx: IommufdCtx, ioasId: number, iova: bigint, length: bigint): { errno: Errno; length: bigint } {
  const rc = ioasUnmap32(ctx, ioasId, hi32(iova), lo32(iova), hi32(length), lo32(length));
  return { errno: rc, length: rc === ERRNO.OK ? u64(ctx.out32.hi, ctx.out32.lo) : length };
}

/**
 * IOMMU_IOAS_UNMAP on u32 halves (the hot path): the same checks and errnos as {@link ioasUnmap};
 * the bytes unmapped are left in ctx.out32 on success.
 */
export function ioasUnmap32(ctx: IommufdCtx, ioasId: number, iovaHi: number, iovaLo: number, lenHi: number, lenLo: number): Errno {
  const ioas = ctx.table.get(ioasId, 'ioas') as IoasObj | undefined;
  if (ioas === undefined) return ERRNO.ENOENT;
  const iopt = ioas.iopt;
  const out = ctx.out32;
  if (iovaHi === 0 && iovaLo === 0 && lenHi === MAX32 && lenLo === MAX32) {
    const rc = iopt.unmap32(0, 0, MAX32, MAX32);
    out.hi = iopt.outUnmappedHi;
    out.lo = iopt.outUnmappedLo;
    return rc;
  }
  if ((iovaHi === MAX32 && iovaLo === MAX32) || (lenHi === MAX32 && lenLo === MAX32)) return ERRNO.EOVERFLOW;
  if (lenHi === 0 && lenLo === 0) return ERRNO.EINVAL;
  let eLo = iovaLo + lenLo - 1;
  let eHi = iovaHi + lenHi;
  if (eLo >= TWO32) {
    eLo -= TWO32;
    eHi++;
  } else if (eLo < 0) {
    eLo += TWO32;
    eHi--;
  }
  if (eHi >= TWO32) return ERRNO.EOVERFLOW;
  const rc = iopt.unmap32(iovaHi, iovaLo, eHi, eLo);
  if (rc !== ERRNO.OK) return rc;
  if (iopt.outUnmappedHi === 0 && iopt.outUnmappedLo === 0) return ERRNO.ENOENT;
  out.hi = iopt.outUnmappedHi;
  out.lo = iopt.outUnmappedLo;
  return ERRNO.OK;
}

/**
 * IOMMU_IOAS_IOVA_RANGES (§2.4): reserved != 0 → EOPNOTSUPP; bad IOAS → ENOENT. Reports the holes
 * of the reserved ranges; `numIovas` is always the count, `ranges` holds the first `numIovas`
 * (input) of them, `outIovaAlignment` the IOAS alignment; more ranges than the input count →
 * EMSGSIZE (outputs still written).
 */
export function ioasIovaRanges(
  ctx: IommufdCtx,
  ioasId: number,
  numIovas: number,
  reserved = 0,
): { errno: Errno; numIovas: number; ranges: IovaRange[]; outIovaAlignment: bigint } {
  if (reserved !== 0) return { errno: ERRNO.EOPNOTSUPP, numIovas, ranges: [], outIovaAlignment: 0n };
  const ioas = getIoas(ctx, ioasId);
  if (ioas === undefined) return { errno: ERRNO.ENOENT, numIovas, ranges: [], outIovaAlignment: 0n };
  const all = ioas.iopt.iovaRanges();
  return {
    errno: all.length > numIovas ? ERRNO.EMSGSIZE : ERRNO.OK,
    numIovas: all.length,
    ranges: all.slice(0, numIovas),
    outIovaAlignment: ioas.iopt.iovaAlignment,
  };
}

/**
 * IOMMU_IOAS_ALLOW_IOVAS (§2.4): reserved != 0 → EOPNOTSUPP; bad IOAS → ENOENT; an entry with
 * start >= last, or overlapping an earlier entry → EINVAL; an entry intersecting a reserved range
 * → EADDRINUSE (old list kept). An empty list clears it.
 */
export function ioasAllowIovas(ctx: IommufdCtx, ioasId: number, ranges: readonly IovaRange[], reserved = 0): Errno {
  if (reserved !== 0) return ERRNO.EOPNOTSUPP;
  const ioas = getIoas(ctx, ioasId);
  if (ioas === undefined) return ERRNO.ENOENT;
  const seen: IovaRange[] = [];
  for (const r of ranges) {
    if (r.start >= r.last) return ERRNO.EINVAL;
    for (const s of seen) if (s.start <= r.last && s.last >= r.start) return ERRNO.EINVAL;
    seen.push(r);
  }
  return ioas.iopt.setAllowed(seen);
}

/** Arguments of IOMMU_OPTION (struct iommu_option). */
export interface OptionArgs {
  optionId: number;
  /** IOMMU_OPTION_OP_SET (0) or _GET (1). */
  op: number;
  objectId: number;
  val64?: bigint;
  reserved?: number;
}

/**
 * IOMMU_OPTION (§2.4): reserved → EOPNOTSUPP; unknown option → EOPNOTSUPP.
 * RLIMIT_MODE: object_id != 0 → EOPNOTSUPP; GET → 0/1; SET without CAP_SYS_RESOURCE → EPERM,
 * once any object exists → EBUSY, value not 0/1 → EINVAL; unknown op → EOPNOTSUPP.
 * HUGE_PAGES: bad IOAS → ENOENT; GET → 1 unless disabled; SET 0 → EINVAL with domains and areas,
 * EADDRINUSE with misaligned areas; SET 1 enables; other values → EINVAL; unknown op → EOPNOTSUPP.
 */
export function option(ctx: IommufdCtx, a: OptionArgs): { errno: Errno; val64: bigint } {
  const val = a.val64 ?? 0n;
  const r = (errno: Errno, v = val): { errno: Errno; val64: bigint } => ({ errno, val64: v });
  if ((a.reserved ?? 0) !== 0) return r(ERRNO.EOPNOTSUPP);
  if (a.optionId === IOMMU_OPTION_RLIMIT_MODE) {
    if (a.objectId !== 0) return r(ERRNO.EOPNOTSUPP);
    if (a.op === IOMMU_OPTION_OP_GET) return r(ERRNO.OK, BigInt(ctx.accountMode));
    if (a.op !== IOMMU_OPTION_OP_SET) return r(ERRNO.EOPNOTSUPP);
    if (!ctx.opts.capSysResource) return r(ERRNO.EPERM);
    if (ctx.table.size !== 0) return r(ERRNO.EBUSY);
    if (val !== 0n && val !== 1n) return r(ERRNO.EINVAL);
    ctx.accountMode = Number(val);
    return r(ERRNO.OK);
  }
  if (a.optionId !== IOMMU_OPTION_HUGE_PAGES) return r(ERRNO.EOPNOTSUPP);
  const ioas = getIoas(ctx, a.objectId);
  if (ioas === undefined) return r(ERRNO.ENOENT);
  if (a.op === IOMMU_OPTION_OP_GET) return r(ERRNO.OK, ioas.iopt.disableLargePages ? 0n : 1n);
  if (a.op !== IOMMU_OPTION_OP_SET) return r(ERRNO.EOPNOTSUPP);
  if (val === 0n) return r(ioas.iopt.setLargePages(false));
  if (val === 1n) return r(ioas.iopt.setLargePages(true));
  return r(ERRNO.EINVAL);
}
