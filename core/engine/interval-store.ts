/**
 * The interval store: non-overlapping inclusive intervals [start, end] over unsigned 64-bit IOVAs,
 * each carrying a physical address (u64) and flags (u32), in a B+tree keyed by `start` (node
 * mechanics and memory layout in mapping-btree.ts). Every u64 is held as two u32 halves (hi, lo) in
 * typed arrays, so the hot paths (insert, remove, floor lookup) never allocate and never touch
 * bigint. This file adds the interval semantics (overlap checks, UNMAP rules) and a lookup cache.
 * MappingStore (mapping-store.ts) holds every interval that is not exactly one page here and the
 * one-page ones in a PageSet (page-set.ts).
 *
 * Costs (n = live intervals, k = intervals touched): insert O(log n) (one descent, overlap check
 * included), lookup O(log n) or O(1) on a cache hit (1024-set IOTLB-like cache), remove O(log n),
 * unmapRange and removeStarts O(log n + k) (one descent per leaf touched, leaves hold up to 64
 * entries; a one-leaf UNMAP is a single descent), forEachOverlap O(log n + k). Nothing is linear
 * in n.
 *
 * Invariants (besides the tree's, see mapping-btree.ts):
 *  - intervals never overlap, so leaf entries sorted by start are sorted by end too;
 *  - the lookup cache only holds intervals that are live: insertions never change an existing
 *    interval, and every removal invalidates the cache sets the removed interval can occupy.
 */
import { LS, LW, MappingBTree } from './mapping-btree.ts';
import { u64 } from './u64.ts';

/** unmapRange result: every touched interval was inside the range and is removed. */
export const UNMAP_OK = 0;
/** unmapRange result: the first touched interval starts before the range; nothing removed. */
export const UNMAP_SPLIT_FIRST = 1;
/** unmapRange result: the last touched interval ends after the range (see unmapRange). */
export const UNMAP_SPLIT_LAST = 2;

/** One interval as seen through the bigint convenience API. */
export interface Interval {
  /** First IOVA (bytes). */
  start: bigint;
  /** Last IOVA, inclusive (bytes). */
  end: bigint;
  /** Physical address of `start`. */
  phys: bigint;
  /** Caller-defined u32 (virtio MAP flags in the device). */
  flags: number;
}

/**
 * Callback of {@link MappingStore.forEachOverlap}: receives one interval as u32 halves; returning
 * `false` stops the walk. It must not modify the store.
 */
export type OverlapVisitor = (sHi: number, sLo: number, eHi: number, eLo: number, pHi: number, pLo: number, flags: number) => boolean | void;

const CACHE_BITS = 10;
const CACHE_SETS = 1 << CACHE_BITS; // direct-mapped lookup cache, indexed by a hash of the 4 KiB page number
const CW = 8; // u32 words per cache set: startHi, startLo, endHi, endLo, physHi, physLo, flags, valid
const GOLDEN = 0x9e3779b1; // Fibonacci hashing: spreads strided page numbers over the sets

/** Cache set of the 4 KiB page whose number's low 32 bits are `page32`. */
function cacheSet(page32: number): number {
  return Math.imul(page32, GOLDEN) >>> (32 - CACHE_BITS);
}

/**
 * Interval B+tree over u64 IOVAs (see the file comment for invariants and costs).
 *
 * Every u64 is passed as (hi, lo) u32 halves (callers pass integers in [0, 2^32); values outside
 * are a bug and are not checked). Results of `lookup`, `floor`, `firstOverlap` and a failed
 * `insert` are left in the public `r*` fields, so no object is allocated.
 */
export class IntervalStore extends MappingBTree {
  // Lookup cache: set i holds a copy of one live interval in words [i * CW, +7); word 7 is 1 when
  // the set is valid.
  private readonly cv = new Uint32Array(CACHE_SETS * CW);

  /** Removes every interval (O(1) apart from releasing the pools). */
  clear(): void {
    this.resetTree();
    this.cv.fill(0);
  }

  /** Loads entry `slot` of `leaf` into the r* fields. */
  private load(leaf: number, slot: number): void {
    const v = this.lv;
    const kw = leaf * LS + LW * slot;
    const vw = leaf * LS + LW * slot + 2;
    this.rStartHi = v[kw];
    this.rStartLo = v[kw + 1];
    this.rEndHi = v[vw];
    this.rEndLo = v[vw + 1];
    this.rPhysHi = v[vw + 2];
    this.rPhysLo = v[vw + 3];
    this.rFlags = v[vw + 4];
  }

  /**
   * Floor lookup: the interval with the greatest start <= addr, whether or not it contains addr.
   * Returns false when there is none; otherwise the interval is in the r* fields.
   */
  floor(hi: number, lo: number): boolean {
    if (!this.seekFloor(hi, lo)) return false;
    this.load(this.fLeaf, this.fSlot);
    return true;
  }

  /**
   * Positions fLeaf/fSlot on the first entry at or after s: the first whose end >= s when
   * `byEnd` (the first interval an overlap walk from s meets), else the first whose start >= s.
   * Returns false when there is none. O(log n).
   */
  private seekFirst(sHi: number, sLo: number, byEnd: boolean): boolean {
    let leaf: number;
    let slot: number;
    if (this.seekFloor(sHi, sLo)) {
      leaf = this.fLeaf;
      slot = this.fSlot;
      const v = this.lv;
      const w = leaf * LS + LW * slot;
      // The floor starts <= s: it qualifies when it ends at or after s (byEnd) or starts at s.
      const keep = byEnd ? v[w + 2] > sHi || (v[w + 2] === sHi && v[w + 3] >= sLo) : v[w] === sHi && v[w + 1] === sLo;
      if (!keep) {
        slot++;
        if (slot === this.lCnt[leaf]) {
          leaf = this.lNext[leaf];
          slot = 0;
          if (leaf < 0) return false;
        }
      }
    } else {
      leaf = this.leftmostLeaf();
      slot = 0;
      if (this.lCnt[leaf] === 0) return false;
    }
    this.fLeaf = leaf;
    this.fSlot = slot;
    return true;
  }

  /**
   * The lowest interval overlapping [s, e] (requires s <= e). Returns false when none; otherwise
   * the interval is in the r* fields. O(log n): the floor of s when it reaches s, else its
   * successor when that starts at or before e.
   */
  firstOverlap(sHi: number, sLo: number, eHi: number, eLo: number): boolean {
    if (!this.seekFirst(sHi, sLo, true)) return false;
    const kw = this.fLeaf * LS + LW * this.fSlot;
    const v = this.lv;
    if (v[kw] > eHi || (v[kw] === eHi && v[kw + 1] > eLo)) return false;
    this.load(this.fLeaf, this.fSlot);
    return true;
  }

  /**
   * The interval containing addr (hi, lo). Returns false when addr is not mapped; otherwise the
   * interval is in the r* fields. Hits are served from a 1024-set direct-mapped cache indexed by a
   * hash of the 4 KiB page number of addr (an IOTLB-like fast path); misses walk the tree and fill
   * the set.
   */
  lookup(hi: number, lo: number): boolean {
    const c = this.cv;
    const cw = cacheSet((hi << 20) | (lo >>> 12)) * CW;
    if (c[cw + 7] === 1) {
      const sh = c[cw];
      const eh = c[cw + 2];
      if ((sh < hi || (sh === hi && c[cw + 1] <= lo)) && (eh > hi || (eh === hi && c[cw + 3] >= lo))) {
        this.rStartHi = sh;
        this.rStartLo = c[cw + 1];
        this.rEndHi = eh;
        this.rEndLo = c[cw + 3];
        this.rPhysHi = c[cw + 4];
        this.rPhysLo = c[cw + 5];
        this.rFlags = c[cw + 6];
        return true;
      }
    }
    if (!this.seekFloor(hi, lo)) return false;
    const v = this.lv;
    const vw = this.fLeaf * LS + LW * this.fSlot + 2;
    const eh = v[vw];
    if (eh < hi || (eh === hi && v[vw + 1] < lo)) return false;
    this.load(this.fLeaf, this.fSlot);
    c[cw] = this.rStartHi;
    c[cw + 1] = this.rStartLo;
    c[cw + 2] = this.rEndHi;
    c[cw + 3] = this.rEndLo;
    c[cw + 4] = this.rPhysHi;
    c[cw + 5] = this.rPhysLo;
    c[cw + 6] = this.rFlags;
    c[cw + 7] = 1;
    return true;
  }

  /**
   * Drops cached copies of entry `slot` of `leaf`: a copy can only sit in the set of one of the
   * interval's own pages, so walk those pages' sets, or every set for a large interval.
   */
  private invalidate(leaf: number, slot: number): void {
    const v = this.lv;
    const kw = leaf * LS + LW * slot;
    const vw = leaf * LS + LW * slot + 2;
    const sHi = v[kw];
    const sLo = v[kw + 1];
    const pages = (v[vw] - sHi) * 1048576 + ((v[vw + 1] >>> 12) - (sLo >>> 12)) + 1;
    const c = this.cv;
    if (pages >= CACHE_SETS) {
      for (let cw = 0; cw < CACHE_SETS * CW; cw += CW) {
        if (c[cw + 1] === sLo && c[cw] === sHi) c[cw + 7] = 0;
      }
      return;
    }
    const first = (sHi << 20) | (sLo >>> 12);
    for (let i = 0; i < pages; i++) {
      const cw = cacheSet((first + i) | 0) * CW;
      if (c[cw + 1] === sLo && c[cw] === sHi) c[cw + 7] = 0;
    }
  }

  /** Invalidates the cached copies of entries [from, to) of `leaf`, then removes them. */
  private removeRun(leaf: number, from: number, to: number): void {
    for (let j = from; j < to; j++) this.invalidate(leaf, j);
    this.dropRun(leaf, from, to);
  }

  /**
   * Inserts [s, e] -> phys with flags. Requires s <= e (not checked on this path). Returns true
   * when inserted; false when [s, e] overlaps a live interval, and then the lowest overlapping
   * interval is left in the r* fields. One descent: since intervals are disjoint and sorted, [s, e]
   * is free iff the floor of s ends before s and its successor starts after e.
   */
  insert(sHi: number, sLo: number, eHi: number, eLo: number, physHi: number, physLo: number, flags: number): boolean {
    const leaf = this.descend(sHi, sLo);
    const pos = this.lfloor(leaf, sHi, sLo) + 1;
    const v = this.lv;
    let pl = leaf;
    let ps = pos - 1;
    if (ps < 0) {
      pl = this.lPrev[leaf]; // stale-low separator: the floor is in the previous leaf
      ps = pl >= 0 ? this.lCnt[pl] - 1 : -1;
    }
    if (ps >= 0) {
      const vw = pl * LS + LW * ps + 2;
      if (v[vw] > sHi || (v[vw] === sHi && v[vw + 1] >= sLo)) {
        this.load(pl, ps);
        return false;
      }
    }
    let nl = leaf;
    let ns = pos;
    if (ns >= this.lCnt[leaf]) {
      nl = this.lNext[leaf];
      ns = 0;
    }
    if (nl >= 0 && this.lCnt[nl] > 0) {
      const kw = nl * LS + LW * ns;
      if (v[kw] < eHi || (v[kw] === eHi && v[kw + 1] <= eLo)) {
        this.load(nl, ns);
        return false;
      }
    }
    this.insertAt(leaf, pos, sHi, sLo, eHi, eLo, physHi, physLo, flags);
    return true;
  }

  /** Removes the interval that starts exactly at s. Returns false when there is none. */
  remove(sHi: number, sLo: number): boolean {
    const leaf = this.descend(sHi, sLo);
    const slot = this.lfloor(leaf, sHi, sLo);
    if (slot < 0) return false;
    const kw = leaf * LS + LW * slot;
    if (this.lv[kw] !== sHi || this.lv[kw + 1] !== sLo) return false;
    this.removeRun(leaf, slot, slot + 1);
    return true;
  }

  /**
   * Removes every interval whose start lies in [s, e] (callers check first that these intervals
   * are the ones to drop, e.g. wholly inside an UNMAP range). Returns how many were removed.
   * O(log n + k): one descent per leaf touched, each removing a run of up to 64 entries.
   */
  removeStarts(sHi: number, sLo: number, eHi: number, eLo: number): number {
    let removed = 0;
    for (;;) {
      // First live start >= s.
      if (!this.seekFirst(sHi, sLo, false)) return removed;
      const leaf = this.fLeaf;
      const slot = this.fSlot;
      const v = this.lv;
      const fh = v[leaf * LS + LW * slot];
      const fl = v[leaf * LS + LW * slot + 1];
      if (fh > eHi || (fh === eHi && fl > eLo)) return removed;
      // Record the path to the leaf holding that key (it exists, so the descent reaches it).
      const at = this.descend(fh, fl);
      const cnt = this.lCnt[at];
      const from = this.lfloor(at, fh, fl);
      let j = from;
      while (j < cnt) {
        const kw = at * LS + LW * j;
        if (v[kw] > eHi || (v[kw] === eHi && v[kw + 1] > eLo)) break;
        j++;
      }
      removed += j - from;
      this.removeRun(at, from, j);
      if (j < cnt) return removed;
    }
  }

  /**
   * UNMAP semantics over [s, e] (virtio spec §5.13.6.5): removes the intervals wholly inside the
   * range, in ascending order, and says whether a touched interval would be split. Only the first
   * and the last touched intervals can be partial. Returns:
   *  - UNMAP_OK: every touched interval was inside [s, e] and is removed (none touched is OK too);
   *  - UNMAP_SPLIT_FIRST: the first touched interval starts before s: nothing is removed;
   *  - UNMAP_SPLIT_LAST: the last touched interval ends after e: nothing is removed when `atomic`,
   *    otherwise the intervals before it are removed (QEMU's loop stops at the partial one).
   * `onRemove` sees each interval just before it is removed. The common case (the run of removed
   * intervals ends inside one leaf) costs one descent. Requires s <= e.
   */
  unmapRange(sHi: number, sLo: number, eHi: number, eLo: number, atomic: boolean, onRemove?: OverlapVisitor): number {
    const leaf = this.descend(sHi, sLo);
    const slot = this.lfloor(leaf, sHi, sLo);
    const v = this.lv;
    let fl = leaf;
    let fs = slot;
    if (fs < 0) {
      fl = this.lPrev[leaf];
      fs = fl >= 0 ? this.lCnt[fl] - 1 : -1;
    }
    let first = slot + 1;
    if (fs >= 0) {
      const kw = fl * LS + LW * fs;
      const vw = fl * LS + LW * fs + 2;
      // A key equal to s lives in the leaf the descent reached, so then fl === leaf, fs === slot.
      if (v[kw] === sHi && v[kw + 1] === sLo) first = slot;
      else if (v[vw] > sHi || (v[vw] === sHi && v[vw + 1] >= sLo)) return UNMAP_SPLIT_FIRST;
    }
    const cnt = this.lCnt[leaf];
    const kb = leaf * LS;
    const vb = kb + 2;
    let j = first;
    let result = UNMAP_OK;
    while (j < cnt) {
      const kw = kb + LW * j;
      if (v[kw] > eHi || (v[kw] === eHi && v[kw + 1] > eLo)) break;
      const vw = vb + LW * j;
      if (v[vw] > eHi || (v[vw] === eHi && v[vw + 1] > eLo)) {
        result = UNMAP_SPLIT_LAST;
        break;
      }
      j++;
    }
    if (j === cnt && result === UNMAP_OK) return this.unmapSlow(sHi, sLo, eHi, eLo, atomic, onRemove);
    if (result === UNMAP_SPLIT_LAST && atomic) return result;
    if (j > first) {
      if (onRemove !== undefined) {
        for (let k = first; k < j; k++) {
          const kw = kb + LW * k;
          const vw = vb + LW * k;
          onRemove(v[kw], v[kw + 1], v[vw], v[vw + 1], v[vw + 2], v[vw + 3], v[vw + 4]);
        }
      }
      this.removeRun(leaf, first, j);
    }
    return result;
  }

  /** unmapRange when the run may continue past the first leaf (first-partial already excluded). */
  private unmapSlow(sHi: number, sLo: number, eHi: number, eLo: number, atomic: boolean, onRemove?: OverlapVisitor): number {
    let result = UNMAP_OK;
    let lastHi = eHi;
    let lastLo = eLo;
    if (this.seekFloor(eHi, eLo)) {
      const v = this.lv;
      const kw = this.fLeaf * LS + LW * this.fSlot;
      const vw = this.fLeaf * LS + LW * this.fSlot + 2;
      const startsInside = v[kw] > sHi || (v[kw] === sHi && v[kw + 1] >= sLo);
      if (startsInside && (v[vw] > eHi || (v[vw] === eHi && v[vw + 1] > eLo))) {
        if (atomic) return UNMAP_SPLIT_LAST;
        result = UNMAP_SPLIT_LAST;
        if (v[kw] === sHi && v[kw + 1] === sLo) return result;
        // Remove the intervals starting in [s, last.start - 1].
        lastLo = v[kw + 1] === 0 ? 0xffffffff : v[kw + 1] - 1;
        lastHi = v[kw + 1] === 0 ? v[kw] - 1 : v[kw];
      }
    }
    if (onRemove !== undefined) {
      this.forEachOverlap(sHi, sLo, lastHi, lastLo, (a, b, c, d, e, f, g) => {
        if (a > sHi || (a === sHi && b >= sLo)) onRemove(a, b, c, d, e, f, g);
      });
    }
    this.removeStarts(sHi, sLo, lastHi, lastLo);
    return result;
  }

  /**
   * Visits the intervals overlapping [s, e] in ascending order (O(log n + k)). The visitor must not
   * modify the store; returning false stops the walk.
   */
  forEachOverlap(sHi: number, sLo: number, eHi: number, eLo: number, visit: OverlapVisitor): void {
    if (!this.seekFirst(sHi, sLo, true)) return;
    let leaf = this.fLeaf;
    let slot = this.fSlot;
    const v = this.lv;
    while (leaf >= 0) {
      const cnt = this.lCnt[leaf];
      for (; slot < cnt; slot++) {
        const kw = leaf * LS + LW * slot;
        if (v[kw] > eHi || (v[kw] === eHi && v[kw + 1] > eLo)) return;
        const vw = leaf * LS + LW * slot + 2;
        if (visit(v[kw], v[kw + 1], v[vw], v[vw + 1], v[vw + 2], v[vw + 3], v[vw + 4]) === false) return;
      }
      leaf = this.lNext[leaf];
      slot = 0;
    }
  }

  /**
   * Checks the structural invariants (sorted, disjoint, separators, fill, links, counters) and
   * appends the problems found to `errs`. For tests: O(n).
   */
  checkInvariants(errs: string[]): void {
    this.checkTree(errs);
    let bytes = 0n;
    this.forEachOverlap(0, 0, 0xffffffff, 0xffffffff, (sh, sl, eh, el) => {
      bytes += u64(eh, el) - u64(sh, sl) + 1n;
    });
    if (bytes !== this.mappedBytes()) errs.push(`mappedBytes ${this.mappedBytes()} != ${bytes}`);
  }
}
