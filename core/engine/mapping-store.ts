/**
 * The mapping store: non-overlapping inclusive intervals [start, end] over unsigned 64-bit IOVAs,
 * each carrying a physical address (u64) and flags (u32). It backs every virtio-iommu domain
 * (QEMU keeps the same data in a GTree keyed by `VirtIOIOMMUInterval {low, high}`,
 * hw/virtio/virtio-iommu.c; see ../../../shared/reference/virtio-iommu.md §2.3).
 *
 * Representation: two disjoint parts that together hold the domain's intervals.
 *  - `pages` (PageSet, page-set.ts): every interval made of 1 to MAX_RUN (16) whole aligned pages
 *    of the store's page size (the domain's granule) with flags <= RUN_FLAGS_MAX, i.e. the
 *    mappings Linux's dma-iommu makes for streaming DMA. A hash table of pages (translating any
 *    address of such a mapping is one probe; MAP and UNMAP are one probe per page) plus a
 *    hierarchical bitmap of their first pages for order.
 *  - `tree` (IntervalStore, interval-store.ts): every other interval (larger, unaligned, or with
 *    other flags), in a B+tree with a lookup cache.
 * Which part holds an interval is a function of the interval alone, so an interval never moves,
 * and every query answers exactly as one ordered set would: ordered walks merge the two parts.
 *
 * Costs (n = live intervals, k = intervals touched, L <= 9 bitmap levels): inserting, removing or
 * looking up a page-run mapping O(pages) = O(1) expected (plus an O(log n) tree probe only when
 * the tree holds intervals); other inserts and lookups O(log n); unmapRange, removeStarts and
 * forEachOverlap O(log n + k·L). Nothing is linear in n. Growing a hash table rehashes it
 * (amortized O(1)).
 *
 * Every u64 of the fast API is passed as (hi, lo) u32 halves; results of `lookup`, `floor` and a
 * failed `insert` are left in the public `r*` fields, so no object is allocated.
 */
import { IntervalResult } from './interval-result.ts';
import { IntervalStore, UNMAP_OK, UNMAP_SPLIT_FIRST, UNMAP_SPLIT_LAST, type Interval, type OverlapVisitor } from './interval-store.ts';
import { MAX_RUN, PageSet, RUN_FLAGS_MAX } from './page-set.ts';
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
export class MappingStore extends IntervalResult {
  private readonly tree = new IntervalStore();
  private readonly pages = new PageSet();
  /** log2 of the page size in bytes (12..16). */
  private readonly shift: number;
  /** Page size - 1. */
  private readonly pmask: number;
  /** Page size in bytes. */
  private readonly psize: number;
  /** Pages per 2^32 bytes (the weight of an address's hi half in pages). */
  private readonly hiPages: number;

  /**
   * @param pageShift log2 of the page size (bytes) whose page-run intervals take the hash path:
   *   the domain's granule (12 for 4 KiB … 16 for 64 KiB). Any value in [12, 16] is correct; it
   *   only decides which intervals are fast. Throws RangeError outside that range.
   */
  constructor(pageShift = 12) {
    super();
    if (!Number.isInteger(pageShift) || pageShift < 12 || pageShift > 16) throw new RangeError(`mapping-store: page shift ${pageShift} outside [12, 16]`);
    this.shift = pageShift;
    this.psize = 2 ** pageShift;
    this.pmask = this.psize - 1;
    this.hiPages = 2 ** (32 - pageShift);
  }

  /** Number of live intervals. */
  count(): number {
    return this.tree.count() + this.pages.count();
  }

  /**
   * Number of live intervals kept in the B+tree (those that are not whole-page runs of the page
   * size): 0 means every interval covers whole pages, so a range inside one page is free iff
   * {@link lookup} of any address in it misses.
   */
  treeCount(): number {
    return this.tree.count();
  }

  /** Sum of (end - start + 1) over all intervals, in bytes; up to 2^64. */
  mappedBytes(): bigint {
    return this.tree.mappedBytes() + (BigInt(this.pages.pageCount()) << BigInt(this.shift));
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

  /**
   * Loads the run of `k` pages starting at page (pHi, pLo), with phys and flags, into r*. The end
   * is start + k·page - 1 (k·page <= 2^20, so at most one carry into the hi half).
   */
  private loadRun(pHi: number, pLo: number, k: number, physHi: number, physLo: number, flags: number): void {
    const s = this.shift;
    const sh = ((pHi << s) | (pLo >>> (32 - s))) >>> 0;
    const sl = (pLo << s) >>> 0;
    let el = sl + k * this.psize - 1;
    let eh = sh;
    if (el > 0xffffffff) {
      el -= 4294967296;
      eh++;
    }
    this.rStartHi = sh;
    this.rStartLo = sl;
    this.rEndHi = eh;
    this.rEndLo = el;
    this.rPhysHi = physHi;
    this.rPhysLo = physLo;
    this.rFlags = flags;
  }

  /** Loads the run that page (pHi, pLo) belongs to, after a successful pages.find of that page. */
  private loadRunOf(pHi: number, pLo: number): void {
    const p = this.pages;
    const i = p.index;
    const lo = pLo - i;
    this.loadRun(lo < 0 ? pHi - 1 : pHi, lo < 0 ? lo + 4294967296 : lo, p.length, p.physHi, p.physLo, p.flags);
  }

  private loadTree(): void {
    this.copyResult(this.tree);
  }

  /**
   * Pages of [s, e] when it is a page run (starts and ends on page boundaries, 1..MAX_RUN pages,
   * flags <= RUN_FLAGS_MAX), else 0. Requires s <= e.
   */
  private runPages(sHi: number, sLo: number, eHi: number, eLo: number, flags: number): number {
    const pm = this.pmask;
    if ((sLo & pm) !== 0 || (eLo & pm) !== pm || flags >>> 0 > RUN_FLAGS_MAX || eHi - sHi > 1) return 0;
    const s = this.shift;
    const k = (eHi - sHi) * this.hiPages + (eLo >>> s) - (sLo >>> s) + 1;
    return k <= MAX_RUN ? k : 0;
  }

  /**
   * The lowest run overlapping the pages from the one holding s to the one holding e (i.e. the
   * lowest run overlapping [s, e]), loaded into r*; false when none.
   */
  private firstRunFrom(sHi: number, sLo: number, eHi: number, eLo: number): boolean {
    const pages = this.pages;
    const pHi = this.pageHi(sHi);
    const pLo = this.pageLo(sHi, sLo);
    if (pages.find(pHi, pLo) >= 0) {
      this.loadRunOf(pHi, pLo);
      return true;
    }
    if (!pages.next(pHi, pLo) || lt(this.pageHi(eHi), this.pageLo(eHi, eLo), pages.pHi, pages.pLo)) return false;
    const qHi = pages.pHi;
    const qLo = pages.pLo;
    pages.find(qHi, qLo);
    this.loadRunOf(qHi, qLo);
    return true;
  }

  // ---- fast API ---------------------------------------------------------------------------

  /**
   * The interval containing addr (hi, lo). Returns false when addr is not mapped; otherwise the
   * interval is in the r* fields. A page-run interval is one hash probe; others go through the
   * tree's lookup cache and B+tree.
   */
  lookup(hi: number, lo: number): boolean {
    const pages = this.pages;
    if (pages.count() > 0) {
      const pHi = hi >>> this.shift;
      const pLo = ((hi << (32 - this.shift)) | (lo >>> this.shift)) >>> 0;
      const w = pages.slot(pHi, pLo);
      if (w >= 0) {
        const i = pages.slotIndex(w);
        const sLo = pLo - i;
        this.loadRun(sLo < 0 ? pHi - 1 : pHi, sLo < 0 ? sLo + 4294967296 : sLo, pages.slotLength(w), pages.slotPhysHi(w), pages.slotPhysLo(w), pages.slotFlags(w));
        return true;
      }
    }
    if (this.tree.count() === 0 || !this.tree.lookup(hi, lo)) return false;
    this.loadTree();
    return true;
  }

  /**
   * Whether an interval contains addr (hi, lo): {@link lookup} without loading the interval into
   * the r* fields (a free-space check needs the answer alone; the loads cost more than the probe).
   */
  covers(hi: number, lo: number): boolean {
    const pages = this.pages;
    if (pages.count() > 0 && pages.slot(this.pageHi(hi), this.pageLo(hi, lo)) >= 0) return true;
    return this.tree.count() !== 0 && this.tree.lookup(hi, lo);
  }

  /**
   * Floor lookup: the interval with the greatest start <= addr, whether or not it contains addr.
   * Returns false when there is none; otherwise the interval is in the r* fields.
   */
  floor(hi: number, lo: number): boolean {
    const inTree = this.tree.count() > 0 && this.tree.floor(hi, lo);
    const pages = this.pages;
    if (pages.count() > 0 && pages.prev(this.pageHi(hi), this.pageLo(hi, lo))) {
      // The run's start <= addr; the tree's floor wins only when it starts later.
      const pHi = pages.pHi;
      const pLo = pages.pLo;
      pages.find(pHi, pLo);
      const t = this.tree;
      const th = t.rStartHi;
      const tl = t.rStartLo;
      this.loadRunOf(pHi, pLo);
      if (!inTree || lt(th, tl, this.rStartHi, this.rStartLo)) return true;
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
    // One page with no tree intervals: the overlap check and the add are one probe walk. This
    // test is the whole hot path, kept small so that callers can inline it.
    if (eHi === sHi && eLo - sLo === this.pmask && (sLo & this.pmask) === 0 && flags >>> 0 <= RUN_FLAGS_MAX && this.tree.count() === 0) {
      const pHi = sHi >>> this.shift;
      const pLo = ((sHi << (32 - this.shift)) | (sLo >>> this.shift)) >>> 0;
      if (this.pages.addOne(pHi, pLo, physHi, physLo, flags) < 0) return true;
      this.loadRunOf(pHi, pLo);
      return false;
    }
    return this.insertAny(sHi, sLo, eHi, eLo, physHi, physLo, flags);
  }

  /** {@link insert} of any interval but a one-page run inserted while the tree is empty. */
  private insertAny(sHi: number, sLo: number, eHi: number, eLo: number, physHi: number, physLo: number, flags: number): boolean {
    const pages = this.pages;
    const tree = this.tree;
    const k = this.runPages(sHi, sLo, eHi, eLo, flags);
    const runHit = pages.count() > 0 && (k > 0 ? this.firstRunIn(sHi, sLo, k) : this.firstRunFrom(sHi, sLo, eHi, eLo));
    if (runHit) {
      // The lowest overlap is the tree's when that one starts earlier.
      const rh = this.rStartHi;
      const rl = this.rStartLo;
      if (tree.count() > 0 && tree.firstOverlap(sHi, sLo, eHi, eLo) && lt(tree.rStartHi, tree.rStartLo, rh, rl)) this.loadTree();
      return false;
    }
    if (k === 0) {
      if (tree.insert(sHi, sLo, eHi, eLo, physHi, physLo, flags)) return true;
      this.loadTree();
      return false;
    }
    if (tree.count() > 0 && tree.firstOverlap(sHi, sLo, eHi, eLo)) {
      this.loadTree();
      return false;
    }
    pages.add(this.pageHi(sHi), this.pageLo(sHi, sLo), k, physHi, physLo, flags);
    return true;
  }

  /** The run holding the first mapped page of the k pages from s (a page run's own pages), into r*; false when none. */
  private firstRunIn(sHi: number, sLo: number, k: number): boolean {
    const pHi = this.pageHi(sHi);
    const pLo = this.pageLo(sHi, sLo);
    const j = this.pages.firstIn(pHi, pLo, k);
    if (j < 0) return false;
    const ql = pLo + j;
    this.loadRunOf(ql > 0xffffffff ? pHi + 1 : pHi, ql > 0xffffffff ? ql - 4294967296 : ql);
    return true;
  }

  /** Removes the interval that starts exactly at s. Returns false when there is none. */
  remove(sHi: number, sLo: number): boolean {
    const pages = this.pages;
    if ((sLo & this.pmask) === 0 && pages.count() > 0) {
      const pHi = this.pageHi(sHi);
      const pLo = this.pageLo(sHi, sLo);
      const w = pages.find(pHi, pLo);
      if (w >= 0) {
        // A run holds s's page: an interval starts at s only if the run does.
        if (pages.index !== 0) return false;
        pages.removeAt(w, pHi, pLo, pages.length);
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
    // Runs whose first page starts in [s, e]: from s's page (only when s is its start) to e's.
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
      const w = pages.find(pHi, pLo);
      pages.removeAt(w, pHi, pLo, pages.length);
      removed++;
      fHi = pHi;
      fLo = (pLo + 1) >>> 0;
      if (fLo === 0) fHi++;
    }
    return removed;
  }

  /**
   * Prefetches the page-table slot of the page holding addr (hi, lo), so that a MAP or lookup of
   * it issued a little later finds the line on its way (argument checks run meanwhile). Changes
   * nothing that any method returns.
   */
  touch(hi: number, lo: number): void {
    this.pages.touch(hi >>> this.shift, ((hi << (32 - this.shift)) | (lo >>> this.shift)) >>> 0);
  }

  /**
   * UNMAP of [s, e] when it is exactly one page of the store's page size (s page-aligned, e = s +
   * page - 1; the hot path of IOMMU_IOAS_UNMAP of one page): 1 when a one-page interval was there
   * and is removed; 0 when nothing overlaps the page; -1, with nothing changed, in every other case
   * (another range, a longer run or a tree interval: use {@link unmapRange}). 1 and 0 are what
   * unmapRange does (UNMAP_OK), without its visitor. With `out` (a Uint32Array of 3), a removed
   * interval's phys halves and flags go to out[0], out[1], out[2]: with s and e, what unmapRange's
   * visitor would have seen (a device that emits an unmap event per removed mapping).
   */
  unmapPage(sHi: number, sLo: number, eHi: number, eLo: number, out?: Uint32Array): number {
    if (this.tree.count() !== 0 || (sLo & this.pmask) !== 0 || eHi !== sHi || eLo - sLo !== this.pmask) return -1;
    return this.pages.removeOne(sHi >>> this.shift, ((sHi << (32 - this.shift)) | (sLo >>> this.shift)) >>> 0, out);
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
    const w = pages.slot(spHi, spLo);
    if (w >= 0) {
      // A run R holds s's page.
      if (pages.slotIndex(w) !== 0 || (sLo & this.pmask) !== 0) return UNMAP_SPLIT_FIRST; // R starts before s
      // R = [s, s + k pages - 1], read from its slot (k pages <= 2^20 bytes: at most one carry).
      const k = pages.slotLength(w);
      let rEndLo = sLo + k * this.psize - 1;
      let rEndHi = sHi;
      if (rEndLo > 0xffffffff) {
        rEndLo -= 4294967296;
        rEndHi++;
      }
      if (lt(eHi, eLo, rEndHi, rEndLo)) return UNMAP_SPLIT_LAST; // R covers [s, e] and more: nothing before it
      if (rEndHi === eHi && rEndLo === eLo) {
        // Exactly R (the usual dma-iommu unmap): nothing else lies in [s, e].
        if (onRemove !== undefined) onRemove(sHi, sLo, eHi, eLo, pages.slotPhysHi(w), pages.slotPhysLo(w), pages.slotFlags(w));
        pages.removeAt(w, spHi, spLo, k);
        return UNMAP_OK;
      }
    } else if (spHi === this.pageHi(eHi) && spLo === this.pageLo(eHi, eLo)) {
      // [s, e] inside one page that no run holds: only the tree can be touched.
      return this.tree.count() > 0 ? this.tree.unmapRange(sHi, sLo, eHi, eLo, atomic, onRemove) : UNMAP_OK;
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
   * runs. The visitor must not modify the store; returning false stops the walk.
   */
  forEachOverlap(sHi: number, sLo: number, eHi: number, eLo: number, visit: OverlapVisitor): void {
    const pages = this.pages;
    const lastHi = this.pageHi(eHi);
    const lastLo = this.pageLo(eHi, eLo);
    // Cursor over the runs: the one holding s's page (it overlaps even when it starts before s),
    // else the first starting after it; then run starts up to e's page.
    let have = false;
    let cHi = 0;
    let cLo = 0;
    if (pages.count() > 0) {
      const pHi = this.pageHi(sHi);
      const pLo = this.pageLo(sHi, sLo);
      if (pages.find(pHi, pLo) >= 0) {
        const l = pLo - pages.index;
        cHi = l < 0 ? pHi - 1 : pHi;
        cLo = l < 0 ? l + 4294967296 : l;
        have = true;
      } else if (pages.next(pHi, pLo) && !lt(lastHi, lastLo, pages.pHi, pages.pLo)) {
        cHi = pages.pHi;
        cLo = pages.pLo;
        have = true;
      }
    }
    let stopped = false;
    /** Visits the runs that start before (bHi, bLo) (all remaining runs when bHi < 0). */
    const drain = (bHi: number, bLo: number): boolean => {
      while (have) {
        pages.find(cHi, cLo);
        this.loadRun(cHi, cLo, pages.length, pages.physHi, pages.physLo, pages.flags);
        if (bHi >= 0 && !lt(this.rStartHi, this.rStartLo, bHi, bLo)) return true;
        if (visit(this.rStartHi, this.rStartLo, this.rEndHi, this.rEndLo, this.rPhysHi, this.rPhysLo, this.rFlags) === false) return false;
        const nLo = (cLo + 1) >>> 0;
        have = pages.next(nLo === 0 ? cHi + 1 : cHi, nLo) && !lt(lastHi, lastLo, pages.pHi, pages.pLo);
        cHi = pages.pHi;
        cLo = pages.pLo;
      }
      return true;
    };
    if (this.tree.count() > 0) {
      this.tree.forEachOverlap(sHi, sLo, eHi, eLo, (a, b, c, d, e, f, g) => {
        if (!drain(a, b) || visit(a, b, c, d, e, f, g) === false) {
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
   * and bitmap consistency), and that the merged walk is sorted and disjoint (so no run overlaps a
   * tree interval) and agrees with count() and mappedBytes(). Returns the problems found; [] when sound. For tests: O(n).
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
