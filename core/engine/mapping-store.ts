/**
 * The mapping store: non-overlapping inclusive intervals [start, end] over unsigned 64-bit IOVAs,
 * each carrying a physical address (u64) and flags (u32). It backs every virtio-iommu domain
 * (QEMU keeps the same data in a GTree keyed by `VirtIOIOMMUInterval {low, high}`,
 * hw/virtio/virtio-iommu.c; see ../../../shared/reference/virtio-iommu.md §2.3).
 *
 * Representation: two disjoint parts that together hold the domain's intervals.
 *  - `pages` (PageSet, page-set.ts): every interval that is exactly one aligned page of the store's
 *    page size (the domain's granule) with flags <= PAGE_FLAGS_MAX, i.e. the mappings Linux's
 *    dma-iommu makes for streaming DMA. A hash table (one probe for MAP, UNMAP and translation)
 *    plus a hierarchical bitmap for order.
 *  - `tree` (IntervalStore, interval-store.ts): every other interval (larger, unaligned, or with
 *    other flags), in a B+tree with a lookup cache.
 * Which part holds an interval is a function of the interval alone, so an interval never moves,
 * and every query answers exactly as one ordered set would: ordered walks merge the two parts.
 *
 * Costs (n = live intervals, k = intervals touched, L <= 9 bitmap levels): one-page insert,
 * remove and lookup O(1) expected (plus an O(log n) tree probe only when the tree holds
 * intervals); other inserts and lookups O(log n); unmapRange, removeStarts and forEachOverlap
 * O(log n + k·L). Nothing is linear in n. Growing a hash table rehashes it (amortized O(1)).
 *
 * Every u64 of the fast API is passed as (hi, lo) u32 halves; results of `lookup`, `floor` and a
 * failed `insert` are left in the public `r*` fields, so no object is allocated.
 */
import { IntervalStore, UNMAP_OK, UNMAP_SPLIT_FIRST, UNMAP_SPLIT_LAST, type Interval, type OverlapVisitor } from './interval-store.ts';
import { PAGE_FLAGS_MAX, PageSet } from './page-set.ts';
import { U64_MAX, checkU64, hi32, lo32, u64 } from './u64.ts';

/** u64 helpers, re-exported for the store's users (defined in u64.ts). */
export { TWO32, U64_MAX, hi32, lo32, u64 } from './u64.ts';
export { UNMAP_OK, UNMAP_SPLIT_FIRST, UNMAP_SPLIT_LAST, type Interval, type OverlapVisitor } from './interval-store.ts';

/** (aHi, aLo) < (bHi, bLo) as u64. */
function lt(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi < bHi || (aHi === bHi && aLo < bLo);
}

/**
 * The interval store of one domain (see the file comment).
 *
 * Fast API: u32 halves, results in the r* fields. Convenience API (bigint): `add`, `find`,
 * `floorOf`, `overlapping`, `delete`, `entries`; it validates its arguments and throws RangeError
 * on a bug (not a u64, start > end).
 */
export class MappingStore {
  /** Result slots: start/end/phys halves and flags of the interval found by the last query. */
  rStartHi = 0;
  rStartLo = 0;
  rEndHi = 0;
  rEndLo = 0;
  rPhysHi = 0;
  rPhysLo = 0;
  rFlags = 0;

  private readonly tree = new IntervalStore();
  private readonly pages = new PageSet();
  /** log2 of the page size in bytes (12..31). */
  private readonly shift: number;
  /** Page size - 1. */
  private readonly pmask: number;

  /**
   * @param pageShift log2 of the page size (bytes) whose one-page intervals take the hash path:
   *   the domain's granule (12 for 4 KiB, 16 for 64 KiB). Any value in [12, 31] is correct; it
   *   only decides which intervals are fast.
   */
  constructor(pageShift = 12) {
    if (!Number.isInteger(pageShift) || pageShift < 12 || pageShift > 31) throw new RangeError(`mapping-store: page shift ${pageShift} outside [12, 31]`);
    this.shift = pageShift;
    this.pmask = 2 ** pageShift - 1;
  }

  /** Number of live intervals. */
  count(): number {
    return this.tree.count() + this.pages.count();
  }

  /** Sum of (end - start + 1) over all intervals, in bytes; up to 2^64. */
  mappedBytes(): bigint {
    return this.tree.mappedBytes() + (BigInt(this.pages.count()) << BigInt(this.shift));
  }

  /** Removes every interval. */
  clear(): void {
    this.tree.clear();
    this.pages.clear();
  }

  // ---- page helpers: page number halves of an address, and back ----------------------------

  private pageHi(hi: number): number {
    return hi >>> this.shift;
  }

  private pageLo(hi: number, lo: number): number {
    return ((hi << (32 - this.shift)) | (lo >>> this.shift)) >>> 0;
  }

  /** Loads page (pHi, pLo) of the PageSet (phys/flags already in pages.*) into r*. */
  private loadPage(pHi: number, pLo: number): void {
    const s = this.shift;
    this.rStartHi = ((pHi << s) | (pLo >>> (32 - s))) >>> 0;
    this.rStartLo = (pLo << s) >>> 0;
    this.rEndHi = this.rStartHi;
    this.rEndLo = this.rStartLo + this.pmask;
    this.rPhysHi = this.pages.physHi;
    this.rPhysLo = this.pages.physLo;
    this.rFlags = this.pages.flags;
  }

  private loadTree(): void {
    const t = this.tree;
    this.rStartHi = t.rStartHi;
    this.rStartLo = t.rStartLo;
    this.rEndHi = t.rEndHi;
    this.rEndLo = t.rEndLo;
    this.rPhysHi = t.rPhysHi;
    this.rPhysLo = t.rPhysLo;
    this.rFlags = t.rFlags;
  }

  /** True when [s, e] with flags is one of the PageSet's intervals: exactly one aligned page. */
  private isPage(sHi: number, sLo: number, eHi: number, eLo: number, flags: number): boolean {
    return (sLo & this.pmask) === 0 && eHi === sHi && eLo === sLo + this.pmask && flags >>> 0 <= PAGE_FLAGS_MAX;
  }

  /**
   * Next page of the set >= the page holding (hi, lo), loaded into pages.pHi/pLo and r*; false
   * when none. (A page holding a later address than (hi, lo) is included when (hi, lo) is inside it.)
   */
  private nextPageFrom(pHi: number, pLo: number): boolean {
    if (!this.pages.next(pHi, pLo)) return false;
    this.pages.find(this.pages.pHi, this.pages.pLo);
    return true;
  }

  // ---- fast API ---------------------------------------------------------------------------

  /**
   * The interval containing addr (hi, lo). Returns false when addr is not mapped; otherwise the
   * interval is in the r* fields. A one-page interval is one hash probe; others go through the
   * tree's lookup cache and B+tree.
   */
  lookup(hi: number, lo: number): boolean {
    if (this.pages.count() > 0) {
      const pHi = hi >>> this.shift;
      const pLo = ((hi << (32 - this.shift)) | (lo >>> this.shift)) >>> 0;
      const pages = this.pages;
      const w = pages.slot(pHi, pLo);
      if (w >= 0) {
        const s = this.shift;
        const sh = ((pHi << s) | (pLo >>> (32 - s))) >>> 0;
        const sl = (pLo << s) >>> 0;
        this.rStartHi = sh;
        this.rStartLo = sl;
        this.rEndHi = sh;
        this.rEndLo = sl + this.pmask;
        this.rPhysHi = pages.slotPhysHi(w);
        this.rPhysLo = pages.slotPhysLo(w);
        this.rFlags = pages.slotFlags(w);
        return true;
      }
    }
    if (this.tree.count() === 0 || !this.tree.lookup(hi, lo)) return false;
    this.loadTree();
    return true;
  }

  /**
   * Floor lookup: the interval with the greatest start <= addr, whether or not it contains addr.
   * Returns false when there is none; otherwise the interval is in the r* fields.
   */
  floor(hi: number, lo: number): boolean {
    const inTree = this.tree.count() > 0 && this.tree.floor(hi, lo);
    if (this.pages.count() > 0 && this.pages.prev(this.pageHi(hi), this.pageLo(hi, lo))) {
      const pHi = this.pages.pHi;
      const pLo = this.pages.pLo;
      const t = this.tree;
      // The page's start <= addr; the tree's floor wins only when it starts later.
      const s = this.shift;
      const startHi = ((pHi << s) | (pLo >>> (32 - s))) >>> 0;
      const startLo = (pLo << s) >>> 0;
      if (!inTree || lt(t.rStartHi, t.rStartLo, startHi, startLo)) {
        this.pages.find(pHi, pLo);
        this.loadPage(pHi, pLo);
        return true;
      }
    }
    if (!inTree) return false;
    this.loadTree();
    return true;
  }

  /**
   * Inserts [s, e] -> phys with flags. Requires s <= e (not checked on this path). Returns true
   * when inserted; false when [s, e] overlaps a live interval, and then the lowest overlapping
   * interval is left in the r* fields.
   */
  insert(sHi: number, sLo: number, eHi: number, eLo: number, physHi: number, physLo: number, flags: number): boolean {
    const pages = this.pages;
    if (this.isPage(sHi, sLo, eHi, eLo, flags)) {
      const pHi = sHi >>> this.shift;
      const pLo = ((sHi << (32 - this.shift)) | (sLo >>> this.shift)) >>> 0;
      if (pages.count() > 0 && pages.find(pHi, pLo) >= 0) {
        this.loadPage(pHi, pLo);
        return false;
      }
      // No page interval overlaps another page's range, so only the tree can conflict.
      if (this.tree.count() > 0 && this.tree.firstOverlap(sHi, sLo, eHi, eLo)) {
        this.loadTree();
        return false;
      }
      pages.add(pHi, pLo, physHi, physLo, flags);
      return true;
    }
    // Page intervals overlapping [s, e]: exactly the pages from s's page to e's page.
    if (pages.count() > 0 && this.nextPageFrom(this.pageHi(sHi), this.pageLo(sHi, sLo))) {
      const pHi = pages.pHi;
      const pLo = pages.pLo;
      const eph = this.pageHi(eHi);
      const epl = this.pageLo(eHi, eLo);
      if (!lt(eph, epl, pHi, pLo)) {
        // A page conflicts; the lowest overlap is the tree's when that one starts earlier.
        this.loadPage(pHi, pLo);
        const t = this.tree;
        if (t.count() > 0 && t.firstOverlap(sHi, sLo, eHi, eLo) && lt(t.rStartHi, t.rStartLo, this.rStartHi, this.rStartLo)) this.loadTree();
        return false;
      }
    }
    if (this.tree.insert(sHi, sLo, eHi, eLo, physHi, physLo, flags)) return true;
    this.loadTree();
    return false;
  }

  /** Removes the interval that starts exactly at s. Returns false when there is none. */
  remove(sHi: number, sLo: number): boolean {
    if ((sLo & this.pmask) === 0 && this.pages.count() > 0) {
      const pHi = this.pageHi(sHi);
      const pLo = this.pageLo(sHi, sLo);
      const w = this.pages.find(pHi, pLo);
      if (w >= 0) {
        this.pages.removeAt(w, pHi, pLo);
        return true;
      }
    }
    return this.tree.count() > 0 && this.tree.remove(sHi, sLo);
  }

  /**
   * Removes every interval whose start lies in [s, e] (callers check first that these intervals
   * are the ones to drop, e.g. wholly inside an UNMAP range). Returns how many were removed.
   */
  removeStarts(sHi: number, sLo: number, eHi: number, eLo: number): number {
    let removed = this.tree.count() > 0 ? this.tree.removeStarts(sHi, sLo, eHi, eLo) : 0;
    const pages = this.pages;
    if (pages.count() === 0) return removed;
    // Pages whose start is in [s, e]: from s's page (s's own page only when s is its start).
    let fHi = this.pageHi(sHi);
    let fLo = this.pageLo(sHi, sLo);
    if ((sLo & this.pmask) !== 0) {
      fLo = (fLo + 1) >>> 0;
      if (fLo === 0) fHi++;
    }
    const lHi = this.pageHi(eHi);
    const lLo = this.pageLo(eHi, eLo);
    while (pages.next(fHi, fLo)) {
      const pHi = pages.pHi;
      const pLo = pages.pLo;
      if (lt(lHi, lLo, pHi, pLo)) break;
      pages.removeAt(pages.find(pHi, pLo), pHi, pLo);
      removed++;
      fHi = pHi;
      fLo = (pLo + 1) >>> 0;
      if (fLo === 0) fHi++;
    }
    return removed;
  }

  /**
   * UNMAP semantics over [s, e] (virtio spec §5.13.6.5): removes the intervals wholly inside the
   * range, in ascending order, and says whether a touched interval would be split. Only the first
   * and the last touched intervals can be partial. Returns:
   *  - UNMAP_OK: every touched interval was inside [s, e] and is removed (none touched is OK too);
   *  - UNMAP_SPLIT_FIRST: the first touched interval starts before s: nothing is removed;
   *  - UNMAP_SPLIT_LAST: the last touched interval ends after e: nothing is removed when `atomic`,
   *    otherwise the intervals before it are removed (QEMU's loop stops at the partial one).
   * `onRemove` sees each removed interval, in ascending order, before the removals take effect.
   * Requires s <= e.
   */
  unmapRange(sHi: number, sLo: number, eHi: number, eLo: number, atomic: boolean, onRemove?: OverlapVisitor): number {
    const pages = this.pages;
    if (pages.count() === 0) return this.tree.unmapRange(sHi, sLo, eHi, eLo, atomic, onRemove);
    const spHi = this.pageHi(sHi);
    const spLo = this.pageLo(sHi, sLo);
    const epHi = this.pageHi(eHi);
    const epLo = this.pageLo(eHi, eLo);
    if (spHi === epHi && spLo === epLo) {
      // [s, e] inside one page: when that page is an interval, nothing else can be touched.
      const w = pages.find(spHi, spLo);
      if (w < 0) return this.tree.count() > 0 ? this.tree.unmapRange(sHi, sLo, eHi, eLo, atomic, onRemove) : UNMAP_OK;
      if ((sLo & this.pmask) !== 0) return UNMAP_SPLIT_FIRST;
      if ((eLo & this.pmask) !== this.pmask) return UNMAP_SPLIT_LAST; // nothing starts before it in [s, e]
      if (onRemove !== undefined) {
        this.loadPage(spHi, spLo);
        onRemove(this.rStartHi, this.rStartLo, this.rEndHi, this.rEndLo, this.rPhysHi, this.rPhysLo, this.rFlags);
      }
      pages.removeAt(w, spHi, spLo);
      return UNMAP_OK;
    }
    // First touched interval: the floor of s, when it reaches s, is the only one that can start
    // before s.
    if (this.floor(sHi, sLo) && lt(this.rStartHi, this.rStartLo, sHi, sLo) && !lt(this.rEndHi, this.rEndLo, sHi, sLo)) return UNMAP_SPLIT_FIRST;
    // Last touched interval: the floor of e, when it starts inside the range and ends after e.
    let lastHi = eHi;
    let lastLo = eLo;
    let result = UNMAP_OK;
    if (this.floor(eHi, eLo) && !lt(this.rStartHi, this.rStartLo, sHi, sLo) && lt(eHi, eLo, this.rEndHi, this.rEndLo)) {
      if (atomic) return UNMAP_SPLIT_LAST;
      result = UNMAP_SPLIT_LAST;
      if (this.rStartHi === sHi && this.rStartLo === sLo) return result;
      // Remove the intervals starting in [s, last.start - 1].
      lastLo = this.rStartLo === 0 ? 0xffffffff : this.rStartLo - 1;
      lastHi = this.rStartLo === 0 ? this.rStartHi - 1 : this.rStartHi;
    }
    if (onRemove !== undefined) this.forEachOverlap(sHi, sLo, lastHi, lastLo, onRemove);
    this.removeStarts(sHi, sLo, lastHi, lastLo);
    return result;
  }

  /**
   * Visits the intervals overlapping [s, e] in ascending order, merging the tree's with the
   * pages. The visitor must not modify the store; returning false stops the walk.
   */
  forEachOverlap(sHi: number, sLo: number, eHi: number, eLo: number, visit: OverlapVisitor): void {
    const pages = this.pages;
    const s = this.shift;
    const pm = this.pmask;
    const lastHi = this.pageHi(eHi);
    const lastLo = this.pageLo(eHi, eLo);
    // Cursor over the pages from s's page to e's page (the page holding s overlaps even when it
    // starts before s).
    let have = pages.count() > 0 && pages.next(this.pageHi(sHi), this.pageLo(sHi, sLo)) && !lt(lastHi, lastLo, pages.pHi, pages.pLo);
    let stopped = false;
    /** Visits pages that start before (bHi, bLo) (all remaining pages when bHi < 0). */
    const drain = (bHi: number, bLo: number): boolean => {
      while (have) {
        const pHi = pages.pHi;
        const pLo = pages.pLo;
        const stHi = ((pHi << s) | (pLo >>> (32 - s))) >>> 0;
        const stLo = (pLo << s) >>> 0;
        if (bHi >= 0 && !lt(stHi, stLo, bHi, bLo)) return true;
        pages.find(pHi, pLo);
        if (visit(stHi, stLo, stHi, stLo + pm, pages.physHi, pages.physLo, pages.flags) === false) return false;
        const nLo = (pLo + 1) >>> 0;
        const nHi = nLo === 0 ? pHi + 1 : pHi;
        have = pages.next(nHi, nLo) && !lt(lastHi, lastLo, pages.pHi, pages.pLo);
      }
      return true;
    };
    if (this.tree.count() > 0) {
      this.tree.forEachOverlap(sHi, sLo, eHi, eLo, (a, b, c, d, e, f, g) => {
        if (!drain(a, b)) {
          stopped = true;
          return false;
        }
        if (visit(a, b, c, d, e, f, g) === false) {
          stopped = true;
          return false;
        }
        return true;
      });
    }
    if (!stopped) drain(-1, 0);
  }

  // ---- bigint convenience API -------------------------------------------------------------

  /**
   * Inserts an interval. Returns `{ ok: true }`, or `{ ok: false, overlaps }` with the lowest live
   * interval it overlaps. Throws RangeError if a bound is not a u64 or start > end (a caller bug).
   */
  add(iv: Interval): { ok: true } | { ok: false; overlaps: Interval } {
    checkU64(iv.start, 'start');
    checkU64(iv.end, 'end');
    checkU64(iv.phys, 'phys');
    if (iv.start > iv.end) throw new RangeError('mapping-store: start > end');
    if (this.insert(hi32(iv.start), lo32(iv.start), hi32(iv.end), lo32(iv.end), hi32(iv.phys), lo32(iv.phys), iv.flags >>> 0)) return { ok: true };
    return { ok: false, overlaps: this.result() };
  }

  /** The interval containing addr, or undefined. */
  find(addr: bigint): Interval | undefined {
    checkU64(addr, 'addr');
    return this.lookup(hi32(addr), lo32(addr)) ? this.result() : undefined;
  }

  /** The interval with the greatest start <= addr, or undefined. */
  floorOf(addr: bigint): Interval | undefined {
    checkU64(addr, 'addr');
    return this.floor(hi32(addr), lo32(addr)) ? this.result() : undefined;
  }

  /** Intervals overlapping [start, end], ascending. */
  overlapping(start: bigint, end: bigint): Interval[] {
    checkU64(start, 'start');
    checkU64(end, 'end');
    const out: Interval[] = [];
    this.forEachOverlap(hi32(start), lo32(start), hi32(end), lo32(end), (sh, sl, eh, el, ph, pl, f) => {
      out.push({ start: u64(sh, sl), end: u64(eh, el), phys: u64(ph, pl), flags: f });
    });
    return out;
  }

  /** Removes the interval starting exactly at `start`; false if there is none. */
  delete(start: bigint): boolean {
    checkU64(start, 'start');
    return this.remove(hi32(start), lo32(start));
  }

  /** All intervals, ascending. */
  entries(): Interval[] {
    return this.overlapping(0n, U64_MAX);
  }

  /** The r* result slots as an Interval. */
  result(): Interval {
    return { start: u64(this.rStartHi, this.rStartLo), end: u64(this.rEndHi, this.rEndLo), phys: u64(this.rPhysHi, this.rPhysLo), flags: this.rFlags };
  }

  /**
   * Checks the structural invariants of both parts (tree order, fill, links, counters; page table
   * and bitmap consistency), that every page interval is disjoint from the tree's, and that the
   * merged walk is sorted and disjoint. Returns the problems found; [] when sound. For tests: O(n).
   */
  checkInvariants(): string[] {
    const errs: string[] = [];
    this.tree.checkInvariants(errs);
    this.pages.checkInvariants(errs);
    let prev: Interval | undefined;
    let n = 0;
    let bytes = 0n;
    for (const iv of this.entries()) {
      n++;
      bytes += iv.end - iv.start + 1n;
      if (prev !== undefined && iv.start <= prev.end) errs.push(`overlap/order at ${iv.start}`);
      prev = iv;
    }
    if (n !== this.count()) errs.push(`walk ${n} != count ${this.count()}`);
    if (bytes !== this.mappedBytes()) errs.push(`mappedBytes ${this.mappedBytes()} != ${bytes}`);
    return errs;
  }
}
