/**
 * The mapping store: non-overlapping inclusive intervals [start, end] over unsigned 64-bit IOVAs,
 * each carrying a physical address (u64) and flags (u32). It backs every virtio-iommu domain
 * (QEMU keeps the same data in a GTree keyed by `VirtIOIOMMUInterval {low, high}`,
 * hw/virtio/virtio-iommu.c; see ../../../shared/reference/virtio-iommu.md §2.3).
 *
 * Representation: a B+tree keyed by `start`, with every u64 held as two u32 halves (hi, lo) in
 * typed arrays, so the hot paths (insert, remove, floor lookup) never allocate and never touch
 * bigint. Nodes live in pooled typed arrays indexed by node id; pools double when full.
 *
 * Costs (n = live intervals, k = intervals touched): insert O(log n) (one descent, overlap check
 * included), lookup O(log n) or O(1) on a cache hit (1024-set IOTLB-like cache), remove O(log n), unmapRange and removeStarts
 * O(log n + k) (one descent per leaf touched, leaves hold up to 64 entries; a one-leaf UNMAP is a
 * single descent), forEachOverlap O(log n + k). Nothing is linear in n.
 *
 * Invariants:
 *  - leaf entries are sorted by start; intervals never overlap, so they are sorted by end too;
 *  - every key in the subtree of child i of an internal node lies in [key[i], key[i+1]) (key[0]
 *    is unused). Separators may be stale-low after deletions (a separator is <= the smallest key of
 *    its subtree), so a floor lookup that lands before a leaf's first key continues at the last
 *    entry of the previous leaf;
 *  - every non-root node holds at least MIN entries (rebalanced by borrowing or merging);
 *  - the lookup cache only holds intervals that are live: insertions never change an existing
 *    interval, and every removal invalidates the cache sets the removed interval can occupy.
 */

/** 2^32, the weight of the hi half of a u64 split into (hi, lo) u32 halves. */
export const TWO32 = 4294967296;

/** High 32 bits of a u64 bigint, as a number in [0, 2^32). */
export function hi32(v: bigint): number {
  return Number((v >> 32n) & 0xffffffffn);
}

/** Low 32 bits of a u64 bigint, as a number in [0, 2^32). */
export function lo32(v: bigint): number {
  return Number(v & 0xffffffffn);
}

/** The u64 bigint (hi << 32) | lo from two u32 halves. */
export function u64(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Largest u64 value, 0xffffffffffffffff. */
export const U64_MAX = 0xffffffffffffffffn;

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

const LCAP = 64; // entries per leaf
const LMIN = 16; // minimum entries in a non-root leaf
const ICAP = 64; // children per internal node
const IMIN = 16; // minimum children in a non-root internal node
const LW = 8; // u32 words per leaf entry: startHi, startLo, endHi, endLo, physHi, physLo, flags, pad
const IW = 4; // u32 words per internal slot: keyHi, keyLo, child, pad
const LS = LCAP * LW; // words per leaf
const IS = ICAP * IW; // words per internal node
const MAX_DEPTH = 48; // > log_16(2^64) + 1: the path stack never overflows
const CACHE_BITS = 10;
const CACHE_SETS = 1 << CACHE_BITS; // direct-mapped lookup cache, indexed by a hash of the 4 KiB page number
const GOLDEN = 0x9e3779b1; // Fibonacci hashing: spreads strided page numbers over the sets

/** Cache set of the 4 KiB page whose number's low 32 bits are `page32`. */
function cacheSet(page32: number): number {
  return Math.imul(page32, GOLDEN) >>> (32 - CACHE_BITS);
}

function grow32(a: Uint32Array, len: number): Uint32Array {
  const b = new Uint32Array(len);
  b.set(a);
  return b;
}
function growI32(a: Int32Array, len: number): Int32Array {
  const b = new Int32Array(len);
  b.set(a);
  return b;
}

/**
 * Interval B+tree over u64 IOVAs (see the file comment for invariants and costs).
 *
 * Fast API: every u64 is passed as (hi, lo) u32 halves (callers pass integers in [0, 2^32); values
 * outside are a bug and are not checked). Results of `lookup`, `floor` and a failed `insert` are
 * left in the public `r*` fields, so no object is allocated.
 *
 * Convenience API (bigint): `add`, `find`, `floorOf`, `overlapping`, `delete`, `entries`; it
 * validates its arguments and throws RangeError on a bug (not a u64, start > end).
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

  // Leaf pool: entry j of leaf L occupies words [L * LS + j * LW, +LW) of `lv` (one cache line
  // holds two entries, so a binary search step and the final load share lines).
  private lv!: Uint32Array;
  private lCnt!: Int32Array;
  private lNext!: Int32Array;
  private lPrev!: Int32Array;
  private lTop = 0;
  private lFree: number[] = [];
  // Internal pool: slot i of node N occupies words [N * IS + i * IW, +IW) of `iv`: key[i] (the
  // separator: lower bound of child i's keys; key[0] unused) and child i.
  private iv!: Uint32Array;
  private iCnt!: Int32Array;
  private iTop = 0;
  private iFree: number[] = [];

  private root = 0;
  /** Number of internal levels above the leaves (0: the root is a leaf). */
  private height = 0;
  private n = 0;
  // Total mapped bytes = totHi * 2^32 + totLo, kept exact in doubles (totHi <= 2^32).
  private totHi = 0;
  private totLo = 0;

  private readonly pathNode = new Int32Array(MAX_DEPTH);
  private readonly pathIdx = new Int32Array(MAX_DEPTH);
  private fLeaf = -1;
  private fSlot = -1;

  // Lookup cache: set i holds a copy of one live interval in words [i * LW, +7); word 7 is 1 when
  // the set is valid.
  private readonly cv = new Uint32Array(CACHE_SETS * LW);

  constructor() {
    this.reset(16, 4);
  }

  private reset(leaves: number, internals: number): void {
    this.lv = new Uint32Array(leaves * LS);
    this.lCnt = new Int32Array(leaves);
    this.lNext = new Int32Array(leaves);
    this.lPrev = new Int32Array(leaves);
    this.lTop = 0;
    this.lFree = [];
    this.iv = new Uint32Array(internals * IS);
    this.iCnt = new Int32Array(internals);
    this.iTop = 0;
    this.iFree = [];
    this.root = this.newLeaf();
    this.lNext[this.root] = -1;
    this.lPrev[this.root] = -1;
    this.height = 0;
    this.n = 0;
    this.totHi = 0;
    this.totLo = 0;
    this.cv.fill(0);
  }

  private newLeaf(): number {
    if (this.lFree.length > 0) return this.lFree.pop()!;
    const id = this.lTop++;
    const cap = this.lCnt.length;
    if (id >= cap) {
      this.lv = grow32(this.lv, cap * 2 * LS);
      this.lCnt = growI32(this.lCnt, cap * 2);
      this.lNext = growI32(this.lNext, cap * 2);
      this.lPrev = growI32(this.lPrev, cap * 2);
    }
    this.lCnt[id] = 0;
    return id;
  }

  private newInternal(): number {
    if (this.iFree.length > 0) return this.iFree.pop()!;
    const id = this.iTop++;
    const cap = this.iCnt.length;
    if (id >= cap) {
      this.iv = grow32(this.iv, cap * 2 * IS);
      this.iCnt = growI32(this.iCnt, cap * 2);
    }
    this.iCnt[id] = 0;
    return id;
  }

  /** Number of live intervals. */
  count(): number {
    return this.n;
  }

  /** Sum of (end - start + 1) over all intervals, in bytes; up to 2^64 (one [0, U64_MAX] interval). */
  mappedBytes(): bigint {
    return (BigInt(this.totHi) << 32n) + BigInt(this.totLo);
  }

  /** Removes every interval (O(1) apart from releasing the pools). */
  clear(): void {
    this.reset(16, 4);
  }

  private addBytes(w: number, sign: 1 | -1): void {
    // size = (endHi - startHi) * 2^32 + (endLo - startLo) + 1, added half by half: all exact.
    const v = this.lv;
    let lo = this.totLo + sign * (v[w + 3] - v[w + 1] + 1);
    let hi = this.totHi + sign * (v[w + 2] - v[w]);
    while (lo >= TWO32) { lo -= TWO32; hi++; }
    while (lo < 0) { lo += TWO32; hi--; }
    this.totLo = lo;
    this.totHi = hi;
  }

  /** Index of the last child whose separator is <= x (0 when none): internal-node search. */
  private ifloor(node: number, xh: number, xl: number): number {
    const v = this.iv;
    const base = node * IS;
    let lo = 1;
    let hi = this.iCnt[node];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const w = base + mid * IW;
      const h = v[w];
      if (h < xh || (h === xh && v[w + 1] <= xl)) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Slot of the last entry of `leaf` whose start is <= x, or -1. */
  private lfloor(leaf: number, xh: number, xl: number): number {
    const v = this.lv;
    const base = leaf * LS;
    let lo = 0;
    let hi = this.lCnt[leaf];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const w = base + mid * LW;
      const h = v[w];
      if (h < xh || (h === xh && v[w + 1] <= xl)) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  private child(node: number, i: number): number {
    return this.iv[node * IS + i * IW + 2];
  }

  /** Descends to the leaf whose key range holds x, recording the path; returns the leaf. */
  private descend(xh: number, xl: number): number {
    let node = this.root;
    for (let d = 0; d < this.height; d++) {
      const i = this.ifloor(node, xh, xl);
      this.pathNode[d] = node;
      this.pathIdx[d] = i;
      node = this.child(node, i);
    }
    this.pathNode[this.height] = node;
    return node;
  }

  private leftmostLeaf(): number {
    let node = this.root;
    for (let d = this.height; d > 0; d--) node = this.child(node, 0);
    return node;
  }

  /** Positions fLeaf/fSlot on the entry with the greatest start <= x; false when none. */
  private seekFloor(xh: number, xl: number): boolean {
    let node = this.root;
    for (let d = this.height; d > 0; d--) node = this.child(node, this.ifloor(node, xh, xl));
    let slot = this.lfloor(node, xh, xl);
    if (slot < 0) {
      // Stale-low separator (see invariants): the floor is the last entry of the previous leaf.
      node = this.lPrev[node];
      if (node < 0) return false;
      slot = this.lCnt[node] - 1;
    }
    this.fLeaf = node;
    this.fSlot = slot;
    return true;
  }

  private load(v: Uint32Array, w: number): void {
    this.rStartHi = v[w];
    this.rStartLo = v[w + 1];
    this.rEndHi = v[w + 2];
    this.rEndLo = v[w + 3];
    this.rPhysHi = v[w + 4];
    this.rPhysLo = v[w + 5];
    this.rFlags = v[w + 6];
  }

  /**
   * Floor lookup: the interval with the greatest start <= addr, whether or not it contains addr.
   * Returns false when there is none; otherwise the interval is in the r* fields.
   */
  floor(hi: number, lo: number): boolean {
    if (!this.seekFloor(hi, lo)) return false;
    this.load(this.lv, this.fLeaf * LS + this.fSlot * LW);
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
    const cw = cacheSet((hi << 20) | (lo >>> 12)) * LW;
    if (c[cw + 7] === 1) {
      const sh = c[cw];
      const eh = c[cw + 2];
      if ((sh < hi || (sh === hi && c[cw + 1] <= lo)) && (eh > hi || (eh === hi && c[cw + 3] >= lo))) {
        this.load(c, cw);
        return true;
      }
    }
    if (!this.seekFloor(hi, lo)) return false;
    const v = this.lv;
    const w = this.fLeaf * LS + this.fSlot * LW;
    const eh = v[w + 2];
    if (eh < hi || (eh === hi && v[w + 3] < lo)) return false;
    this.load(v, w);
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
   * Drops cached copies of the interval at leaf word w: a copy can only sit in the set of one of
   * the interval's own pages, so walk those pages' sets, or every set for a large interval.
   */
  private invalidate(w: number): void {
    const v = this.lv;
    const sHi = v[w];
    const sLo = v[w + 1];
    const pages = (v[w + 2] - sHi) * 1048576 + ((v[w + 3] >>> 12) - (sLo >>> 12)) + 1;
    const c = this.cv;
    if (pages >= CACHE_SETS) {
      for (let cw = 0; cw < CACHE_SETS * LW; cw += LW) {
        if (c[cw + 1] === sLo && c[cw] === sHi) c[cw + 7] = 0;
      }
      return;
    }
    const first = (sHi << 20) | (sLo >>> 12);
    for (let i = 0; i < pages; i++) {
      const cw = cacheSet((first + i) | 0) * LW;
      if (c[cw + 1] === sLo && c[cw] === sHi) c[cw + 7] = 0;
    }
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
    const v0 = this.lv;
    let pl = leaf;
    let ps = pos - 1;
    if (ps < 0) {
      pl = this.lPrev[leaf]; // stale-low separator: the floor is in the previous leaf
      ps = pl >= 0 ? this.lCnt[pl] - 1 : -1;
    }
    if (ps >= 0) {
      const w = pl * LS + ps * LW;
      if (v0[w + 2] > sHi || (v0[w + 2] === sHi && v0[w + 3] >= sLo)) {
        this.load(v0, w);
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
      const w = nl * LS + ns * LW;
      if (v0[w] < eHi || (v0[w] === eHi && v0[w + 1] <= eLo)) {
        this.load(v0, w);
        return false;
      }
    }
    const cnt = this.lCnt[leaf];
    let w: number;
    if (cnt < LCAP) {
      w = this.openAt(leaf, pos, cnt);
    } else {
      const right = this.newLeaf();
      const half = LCAP >> 1;
      this.lv.copyWithin(right * LS, leaf * LS + half * LW, leaf * LS + LS);
      this.lCnt[leaf] = half;
      this.lCnt[right] = LCAP - half;
      const nx = this.lNext[leaf];
      this.lNext[right] = nx;
      this.lPrev[right] = leaf;
      this.lNext[leaf] = right;
      if (nx >= 0) this.lPrev[nx] = right;
      w = pos <= half ? this.openAt(leaf, pos, half) : this.openAt(right, pos - half, LCAP - half);
    }
    const v = this.lv;
    v[w] = sHi;
    v[w + 1] = sLo;
    v[w + 2] = eHi;
    v[w + 3] = eLo;
    v[w + 4] = physHi;
    v[w + 5] = physLo;
    v[w + 6] = flags;
    if (cnt === LCAP) {
      const right = this.lNext[leaf];
      this.insertChild(this.height - 1, right, v[right * LS], v[right * LS + 1]);
    }
    this.n++;
    this.addBytes(w, 1);
    return true;
  }

  /** Opens slot `pos` in a leaf holding `cnt` entries; returns the slot's word index. */
  private openAt(leaf: number, pos: number, cnt: number): number {
    const w = leaf * LS + pos * LW;
    if (pos < cnt) this.lv.copyWithin(w + LW, w, leaf * LS + cnt * LW);
    this.lCnt[leaf] = cnt + 1;
    return w;
  }

  /**
   * Inserts child `child` with separator (kh, kl) right after the child taken at depth `d` of the
   * recorded path; splits upwards as needed. d = -1 means the split node was the root.
   */
  private insertChild(d: number, child: number, kh: number, kl: number): void {
    const v = this.iv;
    if (d < 0) {
      const r = this.newInternal();
      const b = r * IS;
      this.iv[b + 2] = this.root;
      this.iv[b + IW] = kh;
      this.iv[b + IW + 1] = kl;
      this.iv[b + IW + 2] = child;
      this.iCnt[r] = 2;
      this.root = r;
      this.height++;
      return;
    }
    const node = this.pathNode[d];
    const pos = this.pathIdx[d] + 1;
    const cnt = this.iCnt[node];
    const b = node * IS;
    if (cnt < ICAP) {
      v.copyWithin(b + (pos + 1) * IW, b + pos * IW, b + cnt * IW);
      this.setSlot(b + pos * IW, kh, kl, child);
      this.iCnt[node] = cnt + 1;
      return;
    }
    // Split a full node: ICAP + 1 children; the left keeps `half`, key[half] moves up.
    const right = this.newInternal();
    const iv = this.iv; // newInternal may have grown the pool
    const rb = right * IS;
    const half = (ICAP + 1) >> 1;
    if (pos < half) {
      iv.copyWithin(rb, b + (half - 1) * IW, b + IS);
      iv.copyWithin(b + (pos + 1) * IW, b + pos * IW, b + (half - 1) * IW);
      this.setSlot(b + pos * IW, kh, kl, child);
    } else {
      const rpos = pos - half;
      iv.copyWithin(rb, b + half * IW, b + pos * IW);
      this.setSlot(rb + rpos * IW, kh, kl, child);
      iv.copyWithin(rb + (rpos + 1) * IW, b + pos * IW, b + IS);
    }
    this.iCnt[node] = half;
    this.iCnt[right] = ICAP + 1 - half;
    // key[0] of the right node is the separator that goes up.
    this.insertChild(d - 1, right, iv[rb], iv[rb + 1]);
  }

  private setSlot(w: number, kh: number, kl: number, child: number): void {
    this.iv[w] = kh;
    this.iv[w + 1] = kl;
    this.iv[w + 2] = child;
  }

  /** Removes the interval that starts exactly at s. Returns false when there is none. */
  remove(sHi: number, sLo: number): boolean {
    const leaf = this.descend(sHi, sLo);
    const slot = this.lfloor(leaf, sHi, sLo);
    if (slot < 0) return false;
    const w = leaf * LS + slot * LW;
    if (this.lv[w] !== sHi || this.lv[w + 1] !== sLo) return false;
    this.dropRun(leaf, slot, slot + 1);
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
      // First live start >= s: the floor's successor unless the floor starts exactly at s.
      let leaf: number;
      let slot: number;
      if (this.seekFloor(sHi, sLo)) {
        leaf = this.fLeaf;
        slot = this.fSlot;
        const w = leaf * LS + slot * LW;
        if (this.lv[w] !== sHi || this.lv[w + 1] !== sLo) {
          slot++;
          if (slot === this.lCnt[leaf]) {
            leaf = this.lNext[leaf];
            slot = 0;
            if (leaf < 0) return removed;
          }
        }
      } else {
        leaf = this.leftmostLeaf();
        slot = 0;
        if (this.lCnt[leaf] === 0) return removed;
      }
      const v = this.lv;
      const fh = v[leaf * LS + slot * LW];
      const fl = v[leaf * LS + slot * LW + 1];
      if (fh > eHi || (fh === eHi && fl > eLo)) return removed;
      // Record the path to the leaf holding that key (it exists, so the descent reaches it).
      const at = this.descend(fh, fl);
      const cnt = this.lCnt[at];
      const from = this.lfloor(at, fh, fl);
      let j = from;
      while (j < cnt) {
        const w = at * LS + j * LW;
        if (v[w] > eHi || (v[w] === eHi && v[w + 1] > eLo)) break;
        j++;
      }
      removed += j - from;
      this.dropRun(at, from, j);
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
      const w = fl * LS + fs * LW;
      // A key equal to s lives in the leaf the descent reached, so then fl === leaf, fs === slot.
      if (v[w] === sHi && v[w + 1] === sLo) first = slot;
      else if (v[w + 2] > sHi || (v[w + 2] === sHi && v[w + 3] >= sLo)) return UNMAP_SPLIT_FIRST;
    }
    const cnt = this.lCnt[leaf];
    let j = first;
    let result = UNMAP_OK;
    while (j < cnt) {
      const w = leaf * LS + j * LW;
      if (v[w] > eHi || (v[w] === eHi && v[w + 1] > eLo)) break;
      if (v[w + 2] > eHi || (v[w + 2] === eHi && v[w + 3] > eLo)) {
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
          const w = leaf * LS + k * LW;
          onRemove(v[w], v[w + 1], v[w + 2], v[w + 3], v[w + 4], v[w + 5], v[w + 6]);
        }
      }
      this.dropRun(leaf, first, j);
    }
    return result;
  }

  /** unmapRange when the run may continue past the first leaf (first-partial already excluded). */
  private unmapSlow(sHi: number, sLo: number, eHi: number, eLo: number, atomic: boolean, onRemove?: OverlapVisitor): number {
    let result = UNMAP_OK;
    let lastHi = eHi;
    let lastLo = eLo;
    if (this.seekFloor(eHi, eLo)) {
      const w = this.fLeaf * LS + this.fSlot * LW;
      const v = this.lv;
      const startsInside = v[w] > sHi || (v[w] === sHi && v[w + 1] >= sLo);
      if (startsInside && (v[w + 2] > eHi || (v[w + 2] === eHi && v[w + 3] > eLo))) {
        if (atomic) return UNMAP_SPLIT_LAST;
        result = UNMAP_SPLIT_LAST;
        if (v[w] === sHi && v[w + 1] === sLo) return result;
        // Remove the intervals starting in [s, last.start - 1].
        lastLo = v[w + 1] === 0 ? 0xffffffff : v[w + 1] - 1;
        lastHi = v[w + 1] === 0 ? v[w] - 1 : v[w];
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

  /** Removes entries [from, to) of `leaf` (the recorded path leads to it) and rebalances. */
  private dropRun(leaf: number, from: number, to: number): void {
    const base = leaf * LS;
    for (let j = from; j < to; j++) {
      this.addBytes(base + j * LW, -1);
      this.invalidate(base + j * LW);
    }
    const cnt = this.lCnt[leaf];
    if (to < cnt) this.lv.copyWithin(base + from * LW, base + to * LW, base + cnt * LW);
    this.lCnt[leaf] = cnt - (to - from);
    this.n -= to - from;
    if (this.height > 0 && this.lCnt[leaf] < LMIN) this.fixLeaf(this.height);
  }

  /** Restores the minimum fill of the underfull leaf at depth d by redistributing or merging. */
  private fixLeaf(d: number): void {
    const parent = this.pathNode[d - 1];
    const idx = this.pathIdx[d - 1];
    const pb = parent * IS;
    // Work on the pair (a, b) = children (idx-1, idx) when a left sibling exists, else (idx, idx+1).
    const li = idx > 0 ? idx - 1 : idx;
    if (li + 1 >= this.iCnt[parent]) throw new Error('mapping-store: internal node with a single child');
    const a = this.iv[pb + li * IW + 2];
    const b = this.iv[pb + (li + 1) * IW + 2];
    const ca = this.lCnt[a];
    const cb = this.lCnt[b];
    const v = this.lv;
    const ab = a * LS;
    const bb = b * LS;
    if (ca + cb <= LCAP) {
      v.copyWithin(ab + ca * LW, bb, bb + cb * LW);
      this.lCnt[a] = ca + cb;
      const nx = this.lNext[b];
      this.lNext[a] = nx;
      if (nx >= 0) this.lPrev[nx] = a;
      this.lFree.push(b);
      this.removeChild(d - 1, li + 1);
      return;
    }
    const total = ca + cb;
    const na = total >> 1;
    if (ca > na) {
      const mv = ca - na;
      v.copyWithin(bb + mv * LW, bb, bb + cb * LW);
      v.copyWithin(bb, ab + na * LW, ab + ca * LW);
    } else {
      const mv = na - ca;
      v.copyWithin(ab + ca * LW, bb, bb + mv * LW);
      v.copyWithin(bb, bb + mv * LW, bb + cb * LW);
    }
    this.lCnt[a] = na;
    this.lCnt[b] = total - na;
    this.iv[pb + (li + 1) * IW] = v[bb];
    this.iv[pb + (li + 1) * IW + 1] = v[bb + 1];
  }

  /** Removes child `ci` (>= 1) of the internal node at depth d and rebalances upwards. */
  private removeChild(d: number, ci: number): void {
    const node = this.pathNode[d];
    const b = node * IS;
    const cnt = this.iCnt[node];
    this.iv.copyWithin(b + ci * IW, b + (ci + 1) * IW, b + cnt * IW);
    this.iCnt[node] = cnt - 1;
    if (d === 0) {
      if (cnt - 1 === 1) {
        // The root kept a single child: that child becomes the root.
        this.root = this.iv[b + 2];
        this.height--;
        this.iFree.push(node);
      }
      return;
    }
    if (cnt - 1 < IMIN) this.fixInternal(d);
  }

  /** Restores the minimum fill of the underfull internal node at depth d. */
  private fixInternal(d: number): void {
    const parent = this.pathNode[d - 1];
    const idx = this.pathIdx[d - 1];
    const pb = parent * IS;
    const li = idx > 0 ? idx - 1 : idx;
    const v = this.iv;
    const sep = pb + (li + 1) * IW;
    const a = v[pb + li * IW + 2];
    const b = v[sep + 2];
    const ab = a * IS;
    const bb = b * IS;
    const ca = this.iCnt[a];
    const cb = this.iCnt[b];
    // The parent separator becomes key[0] of b: then a ++ b is one valid child/key sequence.
    v[bb] = v[sep];
    v[bb + 1] = v[sep + 1];
    if (ca + cb <= ICAP) {
      v.copyWithin(ab + ca * IW, bb, bb + cb * IW);
      this.iCnt[a] = ca + cb;
      this.iFree.push(b);
      this.removeChild(d - 1, li + 1);
      return;
    }
    const total = ca + cb;
    const na = total >> 1;
    if (ca > na) {
      const mv = ca - na;
      v.copyWithin(bb + mv * IW, bb, bb + cb * IW);
      v.copyWithin(bb, ab + na * IW, ab + ca * IW);
    } else {
      const mv = na - ca;
      v.copyWithin(ab + ca * IW, bb, bb + mv * IW);
      v.copyWithin(bb, bb + mv * IW, bb + cb * IW);
    }
    this.iCnt[a] = na;
    this.iCnt[b] = total - na;
    // key[0] of b now holds the lower bound of its first child: it is the new parent separator.
    v[sep] = v[bb];
    v[sep + 1] = v[bb + 1];
  }

  /**
   * Visits the intervals overlapping [s, e] in ascending order (O(log n + k)). The visitor must not
   * modify the store; returning false stops the walk.
   */
  forEachOverlap(sHi: number, sLo: number, eHi: number, eLo: number, visit: OverlapVisitor): void {
    let leaf: number;
    let slot: number;
    const v = this.lv;
    if (this.seekFloor(sHi, sLo)) {
      leaf = this.fLeaf;
      slot = this.fSlot;
      const w = leaf * LS + slot * LW;
      if (v[w + 2] < sHi || (v[w + 2] === sHi && v[w + 3] < sLo)) slot++; // the floor ends before s
    } else {
      leaf = this.leftmostLeaf();
      slot = 0;
    }
    while (leaf >= 0) {
      const cnt = this.lCnt[leaf];
      for (; slot < cnt; slot++) {
        const w = leaf * LS + slot * LW;
        if (v[w] > eHi || (v[w] === eHi && v[w + 1] > eLo)) return;
        if (visit(v[w], v[w + 1], v[w + 2], v[w + 3], v[w + 4], v[w + 5], v[w + 6]) === false) return;
      }
      leaf = this.lNext[leaf];
      slot = 0;
    }
  }

  // ---- bigint convenience API -------------------------------------------------------------

  /**
   * Inserts an interval. Returns `{ ok: true }`, or `{ ok: false, overlaps }` with the live interval
   * it overlaps (the one with the greatest start). Throws RangeError if a bound is not a u64 or
   * start > end (a caller bug).
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
   * Checks the structural invariants (sorted, disjoint, separators, fill, links, counters) and
   * returns the problems found; [] when sound. For tests: O(n).
   */
  checkInvariants(): string[] {
    const errs: string[] = [];
    const v = this.lv;
    let count = 0;
    let leaves = 0;
    let prevEnd: bigint | undefined;
    const walk = (node: number, depth: number, lo: bigint | undefined, hi: bigint | undefined): void => {
      if (depth === this.height) {
        leaves++;
        const c = this.lCnt[node];
        if (node !== this.root && c < LMIN) errs.push(`leaf ${node} underfull (${c})`);
        for (let j = 0; j < c; j++) {
          const w = node * LS + j * LW;
          const s = u64(v[w], v[w + 1]);
          const e = u64(v[w + 2], v[w + 3]);
          if (s > e) errs.push(`start > end at ${s}`);
          if (prevEnd !== undefined && s <= prevEnd) errs.push(`overlap/order at ${s}`);
          if (lo !== undefined && s < lo) errs.push(`key ${s} below separator ${lo}`);
          if (hi !== undefined && s >= hi) errs.push(`key ${s} not below separator ${hi}`);
          prevEnd = e;
          count++;
        }
        return;
      }
      const c = this.iCnt[node];
      if (node !== this.root && c < IMIN) errs.push(`internal ${node} underfull (${c})`);
      if (c < 2) errs.push(`internal ${node} has ${c} children`);
      const b = node * IS;
      for (let i = 0; i < c; i++) {
        const l = i === 0 ? lo : u64(this.iv[b + i * IW], this.iv[b + i * IW + 1]);
        const h = i === c - 1 ? hi : u64(this.iv[b + (i + 1) * IW], this.iv[b + (i + 1) * IW + 1]);
        walk(this.iv[b + i * IW + 2], depth + 1, l, h);
      }
    };
    walk(this.root, 0, undefined, undefined);
    if (count !== this.n) errs.push(`count ${count} != n ${this.n}`);
    let chained = 0;
    let prev = -1;
    for (let leaf = this.leftmostLeaf(); leaf >= 0; leaf = this.lNext[leaf]) {
      if (this.lPrev[leaf] !== prev) errs.push(`leaf ${leaf} prev link`);
      chained++;
      prev = leaf;
    }
    if (chained !== leaves) errs.push(`leaf chain ${chained} != leaves ${leaves}`);
    let bytes = 0n;
    this.forEachOverlap(0, 0, 0xffffffff, 0xffffffff, (sh, sl, eh, el) => {
      bytes += u64(eh, el) - u64(sh, sl) + 1n;
    });
    if (bytes !== this.mappedBytes()) errs.push(`mappedBytes ${this.mappedBytes()} != ${bytes}`);
    return errs;
  }
}

function checkU64(v: bigint, what: string): void {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new RangeError(`mapping-store: ${what} is not a u64: ${String(v)}`);
}
