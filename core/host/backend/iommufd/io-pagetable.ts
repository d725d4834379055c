/**
 * The IOVA engine of one IOAS (drivers/iommu/iommufd/io_pagetable.c; reference
 * iommufd-vfio-hostiommu.md §2.1–§2.4): areas (IOVA → user VA mappings), reserved ranges with an
 * owner (a domain's aperture, a device's reserved regions), the allowed list, the IOAS
 * `iova_alignment`, and the kernel's automatic IOVA allocation.
 *
 * Storage: areas live in core/engine's MappingStore (u32 halves, no allocation on its paths: areas
 * of 1 to 16 aligned 4 KiB pages in a hash of pages, the rest in an interval B+tree): `phys` holds
 * the area's user VA, `flags` its IOMMU_READ/WRITE and whether its pages are writable. Reserved
 * ranges (with owners) live in reserved.ts, the allowed list in a short sorted array. Hot path:
 * {@link IoPagetable.mapFixed32}, {@link IoPagetable.mapAuto32} and {@link IoPagetable.unmap32}
 * take u32 halves; the bigint methods give the same answers.
 *
 * Automatic IOVA allocation (iopt_alloc_iova) lives in iova-alloc.ts; this class gives it the
 * used space (areas and reserved ranges) and the windows, and tells it what maps and unmaps free.
 *
 * Every IOVA and length here is a bigint in [0, 2^64) (ULONG_MAX = 2^64-1 on the modelled 64-bit
 * kernel). Methods return 0 or an errno and leave outputs in `out*` fields.
 */
import { MappingStore, UNMAP_OK, type OverlapVisitor } from '../../../engine/mapping-store.ts';
import { TWO32, hi32, lo32, u64 } from '../../../engine/u64.ts';
import { ERRNO, type Errno } from '../../errno.ts';
import { IovaAllocator, type FreeSpace, type IovaRange } from './iova-alloc.ts';
import { AREA_PAGES_WRITABLE, AREA_WRITE, type Area, type IoptDomain, type PagesSlice, type ResvRegion, type UserMemoryCheck } from './iopt-types.ts';
import { Reservations } from './reserved.ts';
import { PAGE_SIZE, ULONG_MAX, lowBit } from './uapi.ts';

export type { IovaRange } from './iova-alloc.ts';

export { AREA_PAGES_WRITABLE, AREA_READ, AREA_WRITE, type Area, type IoptDomain, type PagesSlice, type ResvRegion, type ResvType, type UserMemoryCheck } from './iopt-types.ts';

/** The IOVA engine of one IOAS (see the file comment). */
/** PAGE_SIZE - 1 as a number (the areas' page size, MappingStore(12)). */
const PAGE_MASK = 0xfff;

export class IoPagetable implements FreeSpace {
  /** Areas, keyed by start IOVA (4 KiB page runs hashed). */
  readonly areas = new MappingStore(12);
  private align = 1n;
  // iova_alignment - 1 as a number (<= 0xfff), for the hot path.
  private alignMask = 0;

  /** `iopt->iova_alignment`: 1 to PAGE_SIZE (bytes). */
  get iovaAlignment(): bigint {
    return this.align;
  }

  set iovaAlignment(v: bigint) {
    this.align = v;
    this.alignMask = Number(v - 1n);
  }
  /** IOMMU_OPTION_HUGE_PAGES = 0 was set. */
  disableLargePages = false;
  /** Domains joined with {@link addDomain}. */
  readonly domains: IoptDomain[] = [];
  /** IOVA chosen by the last successful {@link allocIova} / {@link mapPages}. */
  outIova = 0n;
  /** Bytes unmapped by the last unmap call (also on failure: what was removed before it). */
  outUnmapped = 0n;
  private readonly reserved = new Reservations();
  private allowed: IovaRange[] = [];
  /** Bytes removed by the last {@link unmap32} / {@link unmapRange}, as u32 halves. */
  outUnmappedHi = 0;
  outUnmappedLo = 0;
  // The first area an unmap removed (halves; fHi < 0: none), and the first overlap found by areaIn.
  private fHi = -1;
  private fLo = 0;
  private oSHi = 0;
  private oSLo = 0;
  private oEHi = 0;
  private oELo = 0;
  private oHit = false;
  private readonly sumVisitor: OverlapVisitor = (sh, sl, eh, el) => {
    if (this.fHi < 0) {
      this.fHi = sh;
      this.fLo = sl;
    }
    // + (e - s + 1), carried in halves.
    let lo = this.outUnmappedLo + (el - sl) + 1;
    let hi = this.outUnmappedHi + (eh - sh);
    if (lo >= TWO32) {
      lo -= TWO32;
      hi++;
    } else if (lo < 0) {
      lo += TWO32;
      hi--;
    }
    this.outUnmappedLo = lo;
    this.outUnmappedHi = hi;
  };
  private readonly firstVisitor: OverlapVisitor = (sh, sl, eh, el) => {
    this.oHit = true;
    this.oSHi = sh;
    this.oSLo = sl;
    this.oEHi = eh;
    this.oELo = el;
    return false;
  };
  private merged: IovaRange[] | undefined;
  private readonly allocator: IovaAllocator;

  /**
   * @param maxAlignment the auto-IOVA alignment cap: HPAGE_SIZE with CONFIG_TRANSPARENT_HUGEPAGE,
   *   else PAGE_SIZE (§2.1 step 7)
   * @param userMemory pinning check for user VAs (default: all memory pinnable)
   */
  constructor(
    maxAlignment: bigint,
    private readonly userMemory?: UserMemoryCheck,
  ) {
    this.allocator = new IovaAllocator(this, maxAlignment);
  }

  /** Areas in IOVA order (for views and tests; O(n)). */
  listAreas(): Area[] {
    const out: Area[] = [];
    this.areas.forEachOverlap(0, 0, 0xffffffff, 0xffffffff, (sh, sl, eh, el, ph, pl, f) => {
      const s = u64(sh, sl);
      out.push({ iova: s, length: u64(eh, el) - s + 1n, userVa: u64(ph, pl), flags: f });
    });
    return out;
  }

  /** Reserved ranges (owner included) in start order (for views and tests). */
  listReserved(): { start: bigint; last: bigint; owner: object }[] {
    return this.reserved.entries();
  }

  /** The allowed list (IOMMU_IOAS_ALLOW_IOVAS), sorted. */
  listAllowed(): IovaRange[] {
    return this.allowed.map((r) => ({ ...r }));
  }

  /** True when some area overlaps [start, last]. */
  areaOverlaps(start: bigint, last: bigint): boolean {
    return this.areaIn(hi32(start), lo32(start), hi32(last), lo32(last));
  }

  /** Whether an area overlaps [s, e] (halves); the lowest one is left in the o* fields. */
  private areaIn(sHi: number, sLo: number, eHi: number, eLo: number): boolean {
    this.oHit = false;
    if (this.areas.count() > 0) this.areas.forEachOverlap(sHi, sLo, eHi, eLo, this.firstVisitor);
    return this.oHit;
  }

  /**
   * IOMMU_IOAS_MAP with FIXED_IOVA of one slice, on u32 halves (the hot path; no allocation):
   * the same errnos in the same order as {@link mapPages} with one slice. `writable`: the pages
   * were pinned writable. Falls back to {@link mapPages} for the rare orders it does not decide
   * itself (an insert-time error that must lose to EEXIST, pinning checks).
   */
  mapFixed32(vaHi: number, vaLo: number, lenHi: number, lenLo: number, iovaHi: number, iovaLo: number, prot: number, writable: boolean): Errno {
    const am = this.alignMask;
    if ((lenHi === 0 && lenLo === 0) || (lenLo & am) !== 0 || (iovaLo & am) !== 0) return ERRNO.EINVAL;
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
    if (this.reserved.size > 0 && this.reserved.overlaps32(iovaHi, iovaLo, eHi, eLo)) return ERRNO.EINVAL;
    if (((prot & AREA_WRITE) !== 0 && !writable) || (vaLo & 0xfff & am) !== 0 || (this.domains.length > 0 && this.userMemory !== undefined)) {
      return this.mapFixedPages(vaHi, vaLo, lenHi, lenLo, iovaHi, iovaLo, prot, writable);
    }
    if (!this.areas.insert(iovaHi, iovaLo, eHi, eLo, vaHi, vaLo, prot | (writable ? AREA_PAGES_WRITABLE : 0))) return ERRNO.EEXIST;
    if (this.allocator.active.length > 0 && this.allowed.length === 0) this.fixedMapped(eHi, eLo);
    return ERRNO.OK;
  }

  /** {@link mapFixed32}'s rare orders: {@link mapPages} of the one slice (kept out of the hot path). */
  private mapFixedPages(vaHi: number, vaLo: number, lenHi: number, lenLo: number, iovaHi: number, iovaLo: number, prot: number, writable: boolean): Errno {
    return this.mapPages([{ userVa: u64(vaHi, vaLo), length: u64(lenHi, lenLo), writable }], u64(lenHi, lenLo), u64(iovaHi, iovaLo), true, prot);
  }

  /** Tells the allocator that a fixed map ending at e (halves) may start a free run after it. */
  private fixedMapped(eHi: number, eLo: number): void {
    const at = u64(eHi, eLo) + 1n;
    if (at < this.allocator.maxHint) this.allocator.freed(at);
  }

  /**
   * IOMMU_IOAS_MAP without FIXED_IOVA of one slice, on u32 halves (the hot path): the same errnos
   * in the same order as {@link mapPages} with one slice and `fixed` false; the IOVA chosen is left
   * in outIovaHi / outIovaLo (outIova is not updated).
   */
  mapAuto32(vaHi: number, vaLo: number, lenHi: number, lenLo: number, prot: number, writable: boolean): Errno {
    const am = this.alignMask;
    if ((lenHi === 0 && lenLo === 0) || (lenLo & am) !== 0) return ERRNO.EINVAL;
    const al = this.allocator;
    const rc = lenHi === 0 ? al.allocN(vaHi, vaLo, lenLo, this.alignMask + 1) : al.alloc(u64(vaHi, vaLo), u64(lenHi, lenLo), this.align);
    if (rc !== ERRNO.OK) return rc;
    if ((prot & AREA_WRITE) !== 0 && !writable) return ERRNO.EPERM;
    if ((vaLo & 0xfff & am) !== 0) return ERRNO.EINVAL;
    if (this.domains.length > 0 && this.userMemory !== undefined) {
      const e = this.userMemory(u64(vaHi, vaLo), u64(lenHi, lenLo), (prot & AREA_WRITE) !== 0);
      if (e !== ERRNO.OK) return e;
    }
    let iHi: number;
    let iLo: number;
    let eHi: number;
    let eLo: number;
    const lenN = lenHi * TWO32 + lenLo;
    const exact = al.outN >= 0 && al.outN + lenN <= 9007199254740992;
    if (exact) {
      const a = al.outN;
      const e = a + lenN - 1;
      iHi = Math.floor(a / TWO32);
      iLo = a >>> 0;
      eHi = Math.floor(e / TWO32);
      eLo = e >>> 0;
    } else {
      const a = al.out;
      const e = a + u64(lenHi, lenLo) - 1n;
      iHi = hi32(a);
      iLo = lo32(a);
      eHi = hi32(e);
      eLo = lo32(e);
    }
    if (!this.areas.insert(iHi, iLo, eHi, eLo, vaHi, vaLo, prot | (writable ? AREA_PAGES_WRITABLE : 0))) throw new Error('io-pagetable: area overlap after the IOVA allocation');
    if (exact && lenHi === 0) al.filled(al.outN, lenLo);
    this.outIovaHi = iHi;
    this.outIovaLo = iLo;
    // The run this map landed in may go on after it: its right piece is a new run start.
    if (al.active.length > 0 && this.allowed.length === 0) {
      if (eHi < 0x1fffff) {
        // Only a free piece is a run start worth recording (most maps fill their hole).
        const at = eHi * TWO32 + eLo + 1;
        const aHi = Math.floor(at / TWO32);
        const aLo = at >>> 0;
        if (this.isFree32(aHi, aLo, aHi, aLo)) al.freedN(at);
      } else {
        const at = u64(eHi, eLo) + 1n;
        if (at < al.maxHint) al.freed(at);
      }
    }
    return ERRNO.OK;
  }

  /** IOVA chosen by the last {@link mapAuto32}, as u32 halves. */
  outIovaHi = 0;
  outIovaLo = 0;

  /**
   * iopt_unmap_iova_range over [s, e] on u32 halves (the hot path): as {@link unmapRange}; the
   * bytes removed are in outUnmappedHi/Lo (and outUnmapped is not updated).
   */
  unmap32(sHi: number, sLo: number, eHi: number, eLo: number): Errno {
    this.outUnmappedHi = 0;
    if (eHi === sHi && eLo - sLo === PAGE_MASK) {
      // One 4 KiB page: removing a one-page area (or finding the page free) needs no walk and
      // no visitor (the area removed, if any, is the page itself).
      const r = this.areas.unmapPage(sHi, sLo, eHi, eLo);
      if (r >= 0) {
        this.outUnmappedLo = r === 1 ? PAGE_MASK + 1 : 0;
        if (r === 1 && this.allocator.active.length > 0) this.unmappedFrom(sHi, sLo);
        return ERRNO.OK;
      }
    }
    this.outUnmappedLo = 0;
    this.fHi = -1;
    const rc = this.areas.unmapRange(sHi, sLo, eHi, eLo, false, this.sumVisitor);
    if (this.fHi >= 0 && this.allocator.active.length > 0) this.unmappedFrom(this.fHi, this.fLo);
    return rc === UNMAP_OK ? ERRNO.OK : ERRNO.ENOENT;
  }

  /** Tells the allocator, with a window in use, that an unmap removed areas from (halves) on: their free run starts a run. */
  private unmappedFrom(fHi: number, fLo: number): void {
    if (fHi < 0x200000) this.allocator.freedN(this.runStartBeforeN(fHi * TWO32 + fLo));
    else this.allocator.freed(this.runStartBefore(u64(fHi, fLo)));
  }

  private allowedOverlaps(start: bigint, last: bigint): boolean {
    for (const r of this.allowed) if (r.start <= last && r.last >= start) return true;
    return false;
  }

  /**
   * iopt_check_iova for a FIXED_IOVA map of [iova, iova + length): EINVAL when iova is not aligned
   * to iova_alignment, EOVERFLOW when iova + length - 1 wraps, EINVAL on a reserved range, EEXIST
   * on any existing area (partial overlap included). Requires length > 0.
   */
  checkIova(iova: bigint, length: bigint): Errno {
    if ((iova & (this.iovaAlignment - 1n)) !== 0n) return ERRNO.EINVAL;
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return ERRNO.EOVERFLOW;
    if (this.reserved.overlaps(iova, last)) return ERRNO.EINVAL;
    if (this.areaOverlaps(iova, last)) return ERRNO.EEXIST;
    return ERRNO.OK;
  }

  /**
   * iopt_alloc_iova (iova-alloc.ts): the kernel's automatic IOVA for `length` bytes of user memory
   * at `addr`. EOVERFLOW for length 0 or >= ULONG_MAX/2; EINVAL when the alignment target is below
   * iova_alignment; ENOSPC when no hole fits. On success `outIova` holds the IOVA.
   */
  allocIova(addr: bigint, length: bigint): Errno {
    const rc = this.allocator.alloc(addr, length, this.iovaAlignment);
    if (rc === ERRNO.OK) this.outIova = this.allocator.out;
    return rc;
  }

  /** FreeSpace: the lowest used range (reserved or area) overlapping [from, to]. */
  nextUsed(from: bigint, to: bigint): IovaRange | undefined {
    let best: IovaRange | undefined;
    if (this.areaIn(hi32(from), lo32(from), hi32(to), lo32(to))) best = { start: u64(this.oSHi, this.oSLo), last: u64(this.oEHi, this.oELo) };
    const r = this.reserved.lowestIn(from, to);
    if (r !== undefined && (best === undefined || r.start < best.start)) best = r;
    return best;
  }

  /** FreeSpace: the search windows (the merged allowed spans, or [PAGE_SIZE, ULONG_MAX - PAGE_SIZE]). */
  windows(): readonly IovaRange[] {
    if (this.merged !== undefined) return this.merged;
    const lo = PAGE_SIZE;
    const hi = ULONG_MAX - PAGE_SIZE;
    const out: IovaRange[] = [];
    if (this.allowed.length === 0) out.push({ start: lo, last: hi });
    for (const r of this.allowed) {
      const s = r.start > lo ? r.start : lo;
      const l = r.last < hi ? r.last : hi;
      if (s > l) continue;
      const prev = out[out.length - 1];
      if (prev !== undefined && prev.last + 1n >= s) prev.last = l > prev.last ? l : prev.last;
      else out.push({ start: s, last: l });
    }
    this.merged = out;
    return out;
  }

  /** FreeSpace: whether [from, to] is free of areas and reserved ranges (a floor lookup, no allocation). */
  isFree(from: bigint, to: bigint): boolean {
    return this.isFree32(hi32(from), lo32(from), hi32(to), lo32(to));
  }

  /** FreeSpace: {@link isFree} on u32 halves. */
  isFree32(sHi: number, sLo: number, eHi: number, eLo: number): boolean {
    if (this.reserved.size > 0 && this.reserved.overlaps32(sHi, sLo, eHi, eLo)) return false;
    const a = this.areas;
    // One address: free iff no area holds it (a hash probe for page-run areas; a floor lookup walks the bitmap).
    if (sHi === eHi && sLo === eLo) return a.count() === 0 || !a.covers(sHi, sLo);
    // Inside one 4 KiB page with only page-run areas (the store's page size is PAGE_SIZE): a hash
    // probe too, as such an area covers the whole page or none of it.
    if (sHi === eHi && sLo >>> 12 === eLo >>> 12 && a.treeCount() === 0) return a.count() === 0 || !a.covers(sHi, sLo);
    // The area with the greatest start <= to overlaps [from, to] iff it ends at or after from.
    if (a.count() === 0 || !a.floor(eHi, eLo)) return true;
    return a.rEndHi < sHi || (a.rEndHi === sHi && a.rEndLo < sLo);
  }

  /** FreeSpace: whether an allowed list is set. */
  hasAllowed(): boolean {
    return this.allowed.length !== 0;
  }

  private resetHints(): void {
    this.allocator.reset();
  }

  /**
   * iopt_map_pages / iopt_alloc_area_pages: maps `slices` (consecutive, `length` bytes in total)
   * at `iova` (`fixed`) or at an automatic IOVA, one area per slice, with AREA_READ/WRITE `prot`.
   * In iopt_alloc_area_pages' order: EINVAL when length is 0 or not a multiple of iova_alignment;
   * then {@link checkIova} or {@link allocIova}; then per slice (iopt_insert_area) EPERM when
   * WRITE is asked of unwritable pages, EINVAL when the user VA's page offset is not aligned to
   * iova_alignment; then pinning into existing
   * domains (the {@link UserMemoryCheck}: EFAULT/EPERM), which only happens when a domain exists.
   * On success `outIova` holds the IOVA.
   */
  mapPages(slices: readonly PagesSlice[], length: bigint, iova: bigint, fixed: boolean, prot: number): Errno {
    if (length === 0n || (length & (this.iovaAlignment - 1n)) !== 0n) return ERRNO.EINVAL;
    let rc: Errno;
    if (fixed) rc = this.checkIova(iova, length);
    else {
      rc = this.allocIova(slices[0].userVa, length);
      iova = this.outIova;
    }
    if (rc !== ERRNO.OK) return rc;
    // iopt_insert_area, per slice after the IOVA checks: WRITE of unwritable pages → EPERM; the
    // page offset of the user VA must respect iova_alignment → EINVAL.
    const am = this.iovaAlignment - 1n;
    for (const s of slices) {
      if ((prot & AREA_WRITE) !== 0 && !s.writable) return ERRNO.EPERM;
      if ((s.userVa % PAGE_SIZE & am) !== 0n) return ERRNO.EINVAL;
    }
    if (this.domains.length > 0 && this.userMemory !== undefined) {
      for (const s of slices) {
        const e = this.userMemory(s.userVa, s.length, (prot & AREA_WRITE) !== 0);
        if (e !== ERRNO.OK) return e;
      }
    }
    let at = iova;
    for (const s of slices) {
      const last = at + s.length - 1n;
      const f = prot | (s.writable ? AREA_PAGES_WRITABLE : 0);
      if (!this.areas.insert(hi32(at), lo32(at), hi32(last), lo32(last), hi32(s.userVa), lo32(s.userVa), f)) {
        throw new Error('io-pagetable: area overlap after the IOVA check');
      }
      at = last + 1n;
    }
    // The run this map landed in may go on after it: its right piece is a new run start.
    if (at < this.allocator.maxHint && this.allowed.length === 0) this.allocator.freed(at);
    this.outIova = iova;
    return ERRNO.OK;
  }

  /**
   * iopt_get_pages for IOMMU_IOAS_COPY: the source slices of [iova, iova + length). EINVAL for
   * length 0, EOVERFLOW when the range wraps, ENOENT unless contiguous areas cover it exactly
   * (any covered slice is fine, §2.2). `out` receives one slice per area touched.
   */
  getPages(iova: bigint, length: bigint, out: PagesSlice[]): Errno {
    if (length === 0n) return ERRNO.EINVAL;
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return ERRNO.EOVERFLOW;
    return this.walkContig(iova, last, (s, l, va, f) => {
      out.push({ userVa: va, length: l - s + 1n, writable: (f & AREA_PAGES_WRITABLE) !== 0 });
    })
      ? ERRNO.OK
      : ERRNO.ENOENT;
  }

  /**
   * Visits the parts of the areas covering [start, last] in order (iopt_for_each_contig_area);
   * returns false (after visiting some) when they are not contiguous or do not reach `last`.
   * The visitor gets the covered sub-range, the user VA at its start and the area flags.
   */
  walkContig(start: bigint, last: bigint, visit?: (s: bigint, l: bigint, userVa: bigint, flags: number) => void): boolean {
    let cur = start;
    let ok = false;
    this.areas.forEachOverlap(hi32(start), lo32(start), hi32(last), lo32(last), (sh, sl, eh, el, ph, pl, f) => {
      const as = u64(sh, sl);
      if (as > cur) return false;
      const ae = u64(eh, el);
      const l = ae < last ? ae : last;
      visit?.(cur, l, u64(ph, pl) + (cur - as), f);
      if (ae >= last) {
        ok = true;
        return false;
      }
      cur = ae + 1n;
      return true;
    });
    return ok;
  }

  /**
   * iopt_unmap_iova_range over [start, last]: areas are removed in IOVA order; an area sticking
   * out of the range gives ENOENT (no splitting). The first area sticking out at the start stops
   * before anything is removed; one sticking out at the end stops after the areas before it were
   * removed (the kernel's loop unmaps one area at a time). `outUnmapped` is the bytes removed.
   * Returns 0 also when nothing was mapped (callers decide about empty ranges).
   */
  unmapRange(start: bigint, last: bigint): Errno {
    const rc = this.unmap32(hi32(start), lo32(start), hi32(last), lo32(last));
    this.outUnmapped = u64(this.outUnmappedHi, this.outUnmappedLo);
    return rc;
  }

  /** {@link runStartBefore} for an exact number `iova` below 2^53. */
  private runStartBeforeN(iova: number): number {
    if (iova === 0) return 0;
    let s = 0;
    const p = iova - 1;
    const a = this.areas;
    const pHi = Math.floor(p / TWO32);
    // The area holding iova - 1 (a hash probe: the usual case, an unmap between live areas) ends
    // there; only when none does is the floor lookup needed.
    if (a.count() > 0 && (a.lookup(pHi, p >>> 0) || a.floor(pHi, p >>> 0))) {
      const e = a.rEndHi * TWO32 + a.rEndLo + 1;
      if (e > s) s = e;
    }
    if (this.reserved.size > 0) {
      const r = Number(this.reserved.endBelow(BigInt(iova)));
      if (r > s) s = r;
    }
    return s;
  }

  /** Start of the free run that now contains `iova` (a lower bound is enough for the hints). */
  private runStartBefore(iova: bigint): bigint {
    if (iova === 0n) return 0n;
    let s = 0n;
    const p = iova - 1n;
    if (this.areas.floor(hi32(p), lo32(p))) {
      const e = u64(this.areas.rEndHi, this.areas.rEndLo) + 1n;
      if (e > s) s = e;
    }
    const r = this.reserved.endBelow(iova);
    return r > s ? r : s;
  }

  /**
   * iopt_reserve_iova: reserves [start, last] for `owner`. EADDRINUSE when an area or an allowed
   * range intersects it (§2.4).
   */
  reserve(start: bigint, last: bigint, owner: object): Errno {
    if (this.areaOverlaps(start, last)) return ERRNO.EADDRINUSE;
    if (this.allowedOverlaps(start, last)) return ERRNO.EADDRINUSE;
    this.reserved.add(start, last, owner);
    return ERRNO.OK;
  }

  /** iopt_remove_reserved_iova: drops every reservation of `owner` (ranges widen). */
  unreserve(owner: object): void {
    if (this.reserved.removeOwner(owner)) this.resetHints();
  }

  /**
   * iopt_table_enforce_dev_resv_regions: reserves the device's regions (DIRECT_RELAXABLE skipped)
   * with the device as owner. EADDRINUSE on a conflict (see {@link reserve}); EINVAL when both SW_MSI
   * and HW MSI are reported, or more than one SW_MSI. On failure this call's reservations are
   * rolled back. Returns the SW_MSI start (or -1n) in `outIova` on success.
   */
  enforceDevResvRegions(regions: readonly ResvRegion[], owner: object): Errno {
    let sw = 0;
    let hw = 0;
    let swStart = -1n;
    for (const r of regions) {
      if (r.type === 'direct-relaxable') continue;
      if (r.type === 'msi') hw++;
      if (r.type === 'sw-msi') {
        sw++;
        swStart = r.start;
      }
      const rc = this.reserve(r.start, r.start + r.length - 1n, owner);
      if (rc !== ERRNO.OK) {
        this.unreserve(owner);
        return rc;
      }
    }
    if ((sw > 0 && hw > 0) || sw > 1) {
      this.unreserve(owner);
      return ERRNO.EINVAL;
    }
    this.outIova = swStart;
    return ERRNO.OK;
  }

  /** EADDRINUSE when an area's IOVA, length or page offset is not aligned to `align`. */
  private checkAlignment(align: bigint): Errno {
    const m = align - 1n;
    let rc: Errno = ERRNO.OK;
    this.areas.forEachOverlap(0, 0, 0xffffffff, 0xffffffff, (sh, sl, eh, el, ph, pl) => {
      const s = u64(sh, sl);
      const len = u64(eh, el) - s + 1n;
      if ((s & m) !== 0n || (len & m) !== 0n || (u64(ph, pl) % PAGE_SIZE & m) !== 0n) {
        rc = ERRNO.EADDRINUSE;
        return false;
      }
      return true;
    });
    return rc;
  }

  /**
   * iopt_table_add_domain: the domain's smallest page size raises iova_alignment (above PAGE_SIZE
   * → EINVAL; misaligned areas → EADDRINUSE), its aperture is reserved (EADDRINUSE on conflicts,
   * rolled back), and existing areas are pinned into it (the UserMemoryCheck's errno).
   */
  addDomain(d: IoptDomain): Errno {
    let align = lowBit(d.pgsizeBitmap);
    if (align < this.iovaAlignment) align = this.iovaAlignment;
    if (align > PAGE_SIZE) return ERRNO.EINVAL;
    if (align !== this.iovaAlignment) {
      const rc = this.checkAlignment(align);
      if (rc !== ERRNO.OK) return rc;
    }
    let rc: Errno = ERRNO.OK;
    if (d.apertureStart !== 0n) rc = this.reserve(0n, d.apertureStart - 1n, d);
    if (rc === ERRNO.OK && d.apertureEnd !== ULONG_MAX) rc = this.reserve(d.apertureEnd + 1n, ULONG_MAX, d);
    if (rc === ERRNO.OK && this.userMemory !== undefined) {
      for (const a of this.listAreas()) {
        rc = this.userMemory(a.userVa, a.length, (a.flags & AREA_WRITE) !== 0);
        if (rc !== ERRNO.OK) break;
      }
    }
    if (rc !== ERRNO.OK) {
      this.unreserve(d);
      return rc;
    }
    this.domains.push(d);
    this.iovaAlignment = align;
    return ERRNO.OK;
  }

  /** iopt_table_remove_domain: drops the domain, its aperture reservations; recomputes alignment. */
  removeDomain(d: IoptDomain): void {
    const i = this.domains.indexOf(d);
    if (i < 0) throw new Error('io-pagetable: removeDomain of a domain not added');
    this.domains.splice(i, 1);
    this.unreserve(d);
    this.resetHints();
    const rc = this.calculateIovaAlignment();
    if (rc !== ERRNO.OK) throw new Error('io-pagetable: alignment cannot grow on domain removal');
  }

  /**
   * iopt_calculate_iova_alignment: PAGE_SIZE when large pages are disabled, else 1, raised to every
   * domain's smallest page size and every attached access's alignment; growing it with misaligned areas gives EADDRINUSE (unchanged).
   */
  calculateIovaAlignment(): Errno {
    let align = this.disableLargePages ? PAGE_SIZE : 1n;
    for (const d of this.domains) {
      const a = lowBit(d.pgsizeBitmap);
      if (a > align) align = a;
    }
    for (const a of this.accessAlign.values()) if (a > align) align = a;
    if (align > this.iovaAlignment) {
      const rc = this.checkAlignment(align);
      if (rc !== ERRNO.OK) return rc;
    }
    this.iovaAlignment = align;
    return ERRNO.OK;
  }

  /** `iopt->access_list`: each attached access's iova_alignment, by access. */
  private readonly accessAlign = new Map<object, bigint>();

  /** Accesses attached (the length of `iopt->access_list`). */
  get accessCount(): number {
    return this.accessAlign.size;
  }

  /**
   * iopt_add_access (io_pagetable.c): the access joins the list and iova_alignment is recomputed
   * with its alignment; EADDRINUSE (and not added) when an area is misaligned for it.
   */
  addAccess(access: object, iovaAlignment: bigint): Errno {
    this.accessAlign.set(access, iovaAlignment);
    const rc = this.calculateIovaAlignment();
    if (rc !== ERRNO.OK) this.accessAlign.delete(access);
    return rc;
  }

  /** iopt_remove_access: the access leaves the list; iova_alignment is recomputed (it cannot grow). */
  removeAccess(access: object): void {
    if (!this.accessAlign.delete(access)) throw new Error('io-pagetable: removeAccess of an access not added');
    const rc = this.calculateIovaAlignment();
    if (rc !== ERRNO.OK) throw new Error('io-pagetable: alignment cannot grow on access removal');
  }

  /**
   * IOMMU_OPTION_HUGE_PAGES: `enable` false is iopt_disable_large_pages (EINVAL when domains
   * exist and areas are mapped; EADDRINUSE when an area is not PAGE_SIZE aligned); true is
   * iopt_enable_large_pages (never fails).
   */
  setLargePages(enable: boolean): Errno {
    if (enable) {
      this.disableLargePages = false;
      return this.calculateIovaAlignment();
    }
    if (this.disableLargePages) return ERRNO.OK;
    if (this.domains.length > 0 && this.areas.count() > 0) return ERRNO.EINVAL;
    this.disableLargePages = true;
    const rc = this.calculateIovaAlignment();
    if (rc !== ERRNO.OK) this.disableLargePages = false;
    return rc;
  }

  /**
   * The holes of the reserved ranges over [0, ULONG_MAX] (IOMMU_IOAS_IOVA_RANGES; the allowed
   * list is not intersected in, §2.4).
   */
  iovaRanges(): IovaRange[] {
    return this.reserved.holes();
  }

  /**
   * iopt_set_allow_iova: replaces the allowed list with `ranges` (already checked by the caller:
   * start < last, no overlap). EADDRINUSE when a range intersects a reserved range; the old list
   * stays.
   */
  setAllowed(ranges: readonly IovaRange[]): Errno {
    for (const r of ranges) if (this.reserved.overlaps(r.start, r.last)) return ERRNO.EADDRINUSE;
    this.allowed = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.merged = undefined;
    this.resetHints();
    return ERRNO.OK;
  }

  /** The area holding `iova`, or undefined. */
  areaAt(iova: bigint): Area | undefined {
    const a = this.areas;
    if (!a.lookup(hi32(iova), lo32(iova))) return undefined;
    const s = u64(a.rStartHi, a.rStartLo);
    return { iova: s, length: u64(a.rEndHi, a.rEndLo) - s + 1n, userVa: u64(a.rPhysHi, a.rPhysLo), flags: a.rFlags };
  }
}
