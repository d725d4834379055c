/**
 * The ordered set of `struct iova` nodes behind IovaDomain (iova.ts), as a B+tree: the kernel's
 * `iovad->rbroot` (drivers/iommu/iova.c) keyed by pfn_lo, with leaves of up to LEAF entries
 * (sorted lo, hi, gap and node id, linked both ways) under inner nodes of up to FAN children. Every
 * inner node keeps, per child, the largest gap below an entry and the largest block each indexed
 * alignment can place in a gap (see capIndex), so the allocator's top-down walk jumps to the entry
 * where the kernel's `rb_prev` walk stops. With 300K live nodes the tree has 4 levels and its
 * inner nodes stay in cache: a lookup misses on one leaf, where a binary tree misses on every level
 * below the cache.
 *
 * Layout: leaves and inner nodes are records in two Float64Array pools (no objects, no per-node
 * typed arrays: each of those is a separate allocation and one more dependent miss). A handle is
 * a record index >= 1. All leaves are at the same depth (`height` inner levels above them).
 *
 * Node ids are small integers (0 is NIL); an id stays valid while its node is in the tree (its
 * entry may move between leaves), so the domain's `cached_node` / `cached32_node` are ids, as the
 * kernel's are `rb_node` pointers. A node is found from its id by a descent on its pfn_lo.
 *
 * Invariants:
 *  - entries never overlap; pfn_lo keys are unique, so in-order by pfn_lo is in-order by pfn_hi;
 *  - gap(x) = pfn_lo(x) - pfn_hi(pred(x)) - 1, with pfn_hi(pred) = -1 for the first entry;
 *  - cap_k(x) = gap(x) - (ALIGN(g0, A_k) - g0) with g0 = pfn_lo(x) - gap(x): an A_k-aligned block
 *    of s pages placed as iova.c places it, x = (pfn_lo - s) & ~(A_k - 1) >= g0, fits exactly
 *    when s <= cap_k(x);
 *  - an inner node's agg[child] is the max of gap and of each cap_k over the child's subtree,
 *    minKey[child] the child's smallest pfn_lo; only the root may be an empty leaf or an inner node
 *    with one child after removals (it is collapsed).
 */

/** The null node id. */
export const NIL = 0;

const LEAF = 64;
const FAN = 32;
/** Alignment orders with an exact index; further orders fall back to the gap index (still exact, slower). */
const MAX_CAPS = 8;
/** Aggregate slots per child: gap, then one per indexed order. */
const AGG = 1 + MAX_CAPS;

// Leaf record: n, prev, next, parent, then the lo, hi, gap and id blocks.
const L_N = 0;
const L_PREV = 1;
const L_NEXT = 2;
const L_PAR = 3;
const L_LO = 4;
const L_HI = L_LO + LEAF;
const L_GAP = L_HI + LEAF;
const L_ID = L_GAP + LEAF;
const LR = L_ID + LEAF;
// Inner record: n, parent, kids, minKey, agg.
const I_N = 0;
const I_PAR = 1;
const I_KID = 2;
const I_MIN = I_KID + FAN;
const I_AGG = I_MIN + FAN;
const IR = I_AGG + FAN * AGG;

/** B+tree of [pfn_lo, pfn_hi] ranges (see the file comment for the layout and invariants). */
export class IovaTree {
  private rec = new Float64Array(1024 * 4); // per id: lo, hi, flags, next free id
  private L = new Float64Array(64 * LR);
  private I = new Float64Array(8 * IR);
  private lCount = 1;
  private iCount = 1;
  private lFree = 0;
  private iFree = 0;
  private root: number;
  /** Inner levels above the leaves (0: the root is a leaf). */
  private height = 0;
  /** Nodes in the tree. */
  size = 0;
  private freeHead = NIL;
  private nextId = 1;
  private alignOf: number[] = [];
  private orderOf: number[] = [];
  private readonly tmp = new Float64Array(AGG);
  // propagate's per-aggregate scratch: the slot's old value and whether it changed.
  private readonly oldv = new Float64Array(AGG);
  private readonly chg = new Uint8Array(AGG);
  // locate() results: leaf record offset (also the finger the next locate tries first; 0 = none,
  // record 0 is never a leaf and has n = 0) and entry index
  private lo_ = 0;
  private li = -1;

  constructor() {
    this.root = this.newLeaf();
  }

  /** pfn_lo of node x. */
  lo(x: number): number { return this.rec[x * 4]; }
  /** pfn_hi of node x (inclusive). */
  hi(x: number): number { return this.rec[x * 4 + 1]; }
  /** Caller-owned flags of node x (IovaDomain: bit 0 = reserved). */
  flags(x: number): number { return this.rec[x * 4 + 2]; }
  /** Sets the caller-owned flags of node x. */
  setFlags(x: number, f: number): void { this.rec[x * 4 + 2] = f; }
  /** Free pages between node x (in the tree) and the node below it. */
  gap(x: number): number {
    this.locate(this.rec[x * 4]);
    return this.L[this.lo_ + L_GAP + this.li];
  }

  /** Allocates a detached node [lo, hi] with `flags`; returns its id. */
  newNode(lo: number, hi: number, flags: number): number {
    let id = this.freeHead;
    if (id !== NIL) this.freeHead = this.rec[id * 4 + 3];
    else {
      id = this.nextId++;
      if ((id + 1) * 4 > this.rec.length) this.rec = grow(this.rec);
    }
    this.rec[id * 4] = lo;
    this.rec[id * 4 + 1] = hi;
    this.rec[id * 4 + 2] = flags;
    return id;
  }

  private newLeaf(): number {
    let h = this.lFree;
    if (h !== 0) this.lFree = this.L[h * LR + L_NEXT];
    else {
      h = this.lCount++;
      if ((h + 1) * LR > this.L.length) this.L = grow(this.L);
    }
    const o = h * LR;
    this.L[o + L_N] = 0;
    this.L[o + L_PREV] = 0;
    this.L[o + L_NEXT] = 0;
    this.L[o + L_PAR] = 0;
    return h;
  }

  private newInner(): number {
    let h = this.iFree;
    if (h !== 0) this.iFree = this.I[h * IR + I_PAR];
    else {
      h = this.iCount++;
      if ((h + 1) * IR > this.I.length) this.I = grow(this.I);
    }
    this.I[h * IR + I_N] = 0;
    this.I[h * IR + I_PAR] = 0;
    return h;
  }

  // Sets lo_/li to the leaf record offset and index of the last entry with lo <= key (li = -1:
  // key is below every entry of that leaf, which is then the first leaf).
  private locate(key: number): void {
    const L = this.L;
    // the finger: the last leaf located, if key falls in its range (no descent, lines in cache)
    const f = this.lo_;
    const fn = L[f + L_N];
    if (fn > 0 && (key >= L[f + L_LO] || L[f + L_PREV] === 0)) {
      const nx = L[f + L_NEXT];
      if (key <= L[f + L_LO + fn - 1] || nx === 0 || key < L[nx * LR + L_LO]) {
        this.search(f, key);
        return;
      }
    }
    let t = this.root;
    const I = this.I;
    for (let d = this.height; d > 0; d--) {
      const o = t * IR;
      let i = I[o + I_N] - 1;
      while (i > 0 && I[o + I_MIN + i] > key) i--;
      t = I[o + I_KID + i];
    }
    this.search(t * LR, key);
  }

  private search(o: number, key: number): void {
    const L = this.L;
    let a = 0;
    let b = L[o + L_N]; // first index with lo > key
    while (a < b) {
      const m = (a + b) >> 1;
      if (L[o + L_LO + m] <= key) a = m + 1; else b = m;
    }
    this.lo_ = o;
    this.li = a - 1;
  }

  /** Highest node with pfn_lo <= key, or NIL. */
  floor(key: number): number {
    this.locate(key);
    return this.li >= 0 ? this.L[this.lo_ + L_ID + this.li] : NIL;
  }

  /** Lowest node with pfn_lo >= key, or NIL. */
  ceil(key: number): number {
    this.locate(key);
    const L = this.L;
    const o = this.lo_;
    const i = this.li;
    if (i >= 0 && L[o + L_LO + i] === key) return L[o + L_ID + i];
    if (i + 1 < L[o + L_N]) return L[o + L_ID + i + 1];
    const q = L[o + L_NEXT];
    return q !== 0 ? L[q * LR + L_ID] : NIL;
  }

  /** rb_prev: the node below `x` (in the tree), or NIL. */
  prev(x: number): number {
    this.locate(this.rec[x * 4]);
    const L = this.L;
    if (this.li > 0) return L[this.lo_ + L_ID + this.li - 1];
    const p = L[this.lo_ + L_PREV];
    return p !== 0 ? L[p * LR + L_ID + L[p * LR + L_N] - 1] : NIL;
  }

  /** rb_next: the node above `x` (in the tree), or NIL. */
  next(x: number): number {
    this.locate(this.rec[x * 4]);
    const L = this.L;
    if (this.li + 1 < L[this.lo_ + L_N]) return L[this.lo_ + L_ID + this.li + 1];
    const q = L[this.lo_ + L_NEXT];
    return q !== 0 ? L[q * LR + L_ID] : NIL;
  }

  private firstLeaf(): number {
    let t = this.root;
    for (let d = this.height; d > 0; d--) t = this.I[t * IR + I_KID];
    return t;
  }

  /** rb_first: the lowest node, or NIL. */
  first(): number {
    const o = this.firstLeaf() * LR;
    return this.L[o + L_N] > 0 ? this.L[o + L_ID] : NIL;
  }

  /** private_find_iova: the node whose [pfn_lo, pfn_hi] holds `pfn`, or NIL. */
  find(pfn: number): number {
    this.locate(pfn);
    const i = this.li;
    return i >= 0 && this.L[this.lo_ + L_HI + i] >= pfn ? this.L[this.lo_ + L_ID + i] : NIL;
  }

  /**
   * The index slot for alignment 2^order (order >= 1), built on first use (one O(n) pass), or -1
   * once MAX_CAPS orders are indexed (the walk then filters with the gap index and tests each
   * candidate).
   */
  capIndex(order: number): number {
    const k = this.orderOf.indexOf(order);
    if (k >= 0 || this.orderOf.length === MAX_CAPS) return k;
    this.orderOf.push(order);
    this.alignOf.push(2 ** order);
    this.rebuild(this.root, this.height);
    return this.alignOf.length - 1;
  }

  // Recomputes every aggregate under t (depth d above the leaves) into this.tmp.
  private rebuild(t: number, d: number): void {
    if (d === 0) { this.leafAgg(t * LR); return; }
    const o = t * IR;
    for (let c = 0; c < this.I[o + I_N]; c++) {
      this.rebuild(this.I[o + I_KID + c], d - 1);
      this.I.set(this.tmp, o + I_AGG + c * AGG);
    }
    this.innerAgg(o);
  }

  // cap_k of an entry: gap minus the padding that aligns its start g0 = lo - gap up to `a`
  // (a power of two: floor(g0 / a) * a is exact in doubles, and far cheaper than fmod).
  private cap(lo: number, g: number, a: number): number {
    const g0 = lo - g;
    const rem = g0 - Math.floor(g0 / a) * a;
    return rem === 0 ? g : g - (a - rem);
  }

  // this.tmp = the aggregates of the leaf at record offset o.
  private leafAgg(o: number): void {
    const L = this.L;
    const m = this.tmp;
    m.fill(-1);
    const n = L[o + L_N];
    let mg = -1;
    for (let i = 0; i < n; i++) if (L[o + L_GAP + i] > mg) mg = L[o + L_GAP + i];
    m[0] = mg;
    for (let k = 0; k < this.alignOf.length; k++) {
      const a = this.alignOf[k];
      let mc = -1;
      for (let i = 0; i < n; i++) {
        const g = L[o + L_GAP + i];
        if (g <= mc) continue; // cap <= gap
        const c = this.cap(L[o + L_LO + i], g, a);
        if (c > mc) mc = c;
      }
      m[1 + k] = mc;
    }
  }

  // this.tmp = the aggregates of the inner node at record offset o (from its children's slots).
  private innerAgg(o: number): void {
    const I = this.I;
    const m = this.tmp;
    m.fill(-1);
    const K = 1 + this.alignOf.length;
    const n = I[o + I_N];
    for (let c = 0; c < n; c++) {
      const a = o + I_AGG + c * AGG;
      for (let j = 0; j < K; j++) if (I[a + j] > m[j]) m[j] = I[a + j];
    }
  }

  private kidIndex(p: number, child: number): number {
    const o = p * IR;
    const n = this.I[o + I_N];
    for (let i = 0; i < n; i++) if (this.I[o + I_KID + i] === child) return i;
    throw new Error('iova-btree: child not in its parent');
  }

  // Writes this.tmp (child's aggregates) and the child's min key into its parent's slot, and up.
  // Incremental: a parent's aggregates are its old ones (kept in the grandparent's slot) with the
  // changed slots applied — a larger value raises the max; a value that was the max and fell is
  // recomputed over the children for that aggregate only. The root's own aggregates are stored
  // nowhere, so the walk stops below it.
  private propagate(child: number, parent: number, minKey: number): void {
    const I = this.I;
    const K = 1 + this.alignOf.length;
    const tmp = this.tmp;
    const oldv = this.oldv;
    const chg = this.chg;
    let keyMoves = true;
    let ci = parent === 0 ? -1 : this.kidIndex(parent, child);
    while (parent !== 0) {
      const po = parent * IR;
      const a = po + I_AGG + ci * AGG;
      let same = true;
      for (let j = 0; j < K; j++) {
        const old = I[a + j];
        const nw = tmp[j];
        if (old !== nw) {
          same = false;
          I[a + j] = nw;
          chg[j] = 1;
          oldv[j] = old;
        } else chg[j] = 0;
      }
      if (keyMoves) {
        if (I[po + I_MIN + ci] !== minKey) {
          I[po + I_MIN + ci] = minKey;
          same = false;
        }
        keyMoves = ci === 0;
      }
      if (same) return;
      const gp = I[po + I_PAR];
      if (gp === 0) return;
      const gci = this.kidIndex(gp, parent);
      const ga = gp * IR + I_AGG + gci * AGG;
      const n = I[po + I_N];
      for (let j = 0; j < K; j++) {
        let m = I[ga + j];
        if (chg[j] === 1) {
          const nw = I[a + j];
          if (nw > m) m = nw;
          else if (nw < m && oldv[j] === m) {
            m = -1;
            for (let c = 0; c < n; c++) {
              const v = I[po + I_AGG + c * AGG + j];
              if (v > m) m = v;
            }
          }
        }
        tmp[j] = m;
      }
      parent = gp;
      ci = gci;
    }
  }

  // After leaf h's entries changed: refresh its aggregates and min key up to the root.
  private refreshLeaf(h: number): void {
    const o = h * LR;
    this.leafAgg(o);
    this.propagate(h, this.L[o + L_PAR], this.L[o + L_N] > 0 ? this.L[o + L_LO] : 0);
  }

  private refreshInner(h: number): void {
    const o = h * IR;
    this.innerAgg(o);
    this.propagate(h, this.I[o + I_PAR], this.I[o + I_MIN]);
  }

  /**
   * The highest node with pfn_lo <= key whose gap holds a block of `size` pages aligned to
   * 2^order placed as iova.c places it (k = capIndex(order) >= 0), or whose gap is >= size
   * (k = -1: order 0, or a candidate for the caller to test when the order has no index), or NIL.
   */
  rightmostFit(key: number, size: number, k: number): number {
    this.locate(key);
    const a = k >= 0 ? this.alignOf[k] : 1;
    const slot = k + 1;
    const L = this.L;
    const I = this.I;
    let o = this.lo_;
    for (let i = this.li; i >= 0; i--) {
      const g = L[o + L_GAP + i];
      if ((k < 0 ? g : this.cap(L[o + L_LO + i], g, a)) >= size) return L[o + L_ID + i];
    }
    // climb: the rightmost left sibling whose aggregate admits the block, then down its right edge
    let child = o / LR;
    let p = L[o + L_PAR];
    let d = 1;
    while (p !== 0) {
      const po = p * IR;
      let c = this.kidIndex(p, child) - 1;
      while (c >= 0 && I[po + I_AGG + c * AGG + slot] < size) c--;
      if (c >= 0) {
        let t = I[po + I_KID + c];
        for (let e = d - 1; e > 0; e--) {
          const to = t * IR;
          let x = I[to + I_N] - 1;
          while (x >= 0 && I[to + I_AGG + x * AGG + slot] < size) x--;
          if (x < 0) throw new Error('iova-btree: aggregate without a matching child');
          t = I[to + I_KID + x];
        }
        o = t * LR;
        for (let i = L[o + L_N] - 1; i >= 0; i--) {
          const g = L[o + L_GAP + i];
          if ((k < 0 ? g : this.cap(L[o + L_LO + i], g, a)) >= size) return L[o + L_ID + i];
        }
        throw new Error('iova-btree: aggregate without a matching entry');
      }
      child = p;
      p = I[po + I_PAR];
      d++;
    }
    return NIL;
  }

  /** iova_insert_rbtree: links detached node `n` (its pfn_lo must not be in the tree). */
  insert(n: number): void {
    const lo = this.rec[n * 4];
    const hi = this.rec[n * 4 + 1];
    this.locate(lo);
    if (this.L[this.lo_ + L_N] === LEAF) {
      this.splitLeaf(this.lo_ / LR);
      this.locate(lo);
    }
    const L = this.L;
    const o = this.lo_;
    const i = this.li + 1;
    const cnt = L[o + L_N];
    L.copyWithin(o + L_LO + i + 1, o + L_LO + i, o + L_LO + cnt);
    L.copyWithin(o + L_HI + i + 1, o + L_HI + i, o + L_HI + cnt);
    L.copyWithin(o + L_GAP + i + 1, o + L_GAP + i, o + L_GAP + cnt);
    L.copyWithin(o + L_ID + i + 1, o + L_ID + i, o + L_ID + cnt);
    L[o + L_N] = cnt + 1;
    L[o + L_LO + i] = lo;
    L[o + L_HI + i] = hi;
    L[o + L_ID + i] = n;
    const pv = L[o + L_PREV];
    const predHi = i > 0 ? L[o + L_HI + i - 1] : pv !== 0 ? L[pv * LR + L_HI + L[pv * LR + L_N] - 1] : -1;
    L[o + L_GAP + i] = lo - predHi - 1;
    if (i + 1 < cnt + 1) L[o + L_GAP + i + 1] = L[o + L_LO + i + 1] - hi - 1;
    else {
      const q = L[o + L_NEXT];
      if (q !== 0) {
        L[q * LR + L_GAP] = L[q * LR + L_LO] - hi - 1;
        this.refreshLeaf(q);
      }
    }
    this.refreshLeaf(o / LR);
    this.size++;
  }

  private splitLeaf(h: number): void {
    this.lo_ = 0; // the finger may now point at the wrong half
    const r = this.newLeaf();
    const L = this.L;
    const o = h * LR;
    const ro = r * LR;
    const cnt = L[o + L_N];
    const half = cnt >> 1;
    const m = cnt - half;
    for (const b of [L_LO, L_HI, L_GAP, L_ID]) L.copyWithin(ro + b, o + b + half, o + b + cnt);
    L[ro + L_N] = m;
    L[o + L_N] = half;
    const nx = L[o + L_NEXT];
    L[ro + L_NEXT] = nx;
    if (nx !== 0) L[nx * LR + L_PREV] = r;
    L[ro + L_PREV] = h;
    L[o + L_NEXT] = r;
    this.addSibling(h, r, 0, L[ro + L_LO]);
    this.refreshLeaf(h);
    this.refreshLeaf(r);
  }

  private parentOf(h: number, d: number): number {
    return d === 0 ? this.L[h * LR + L_PAR] : this.I[h * IR + I_PAR];
  }

  private setParent(h: number, d: number, p: number): void {
    if (d === 0) this.L[h * LR + L_PAR] = p;
    else this.I[h * IR + I_PAR] = p;
  }

  // Inserts `r` (depth d above the leaves, smallest key rKey) right after `left` in left's parent,
  // splitting upward as needed.
  private addSibling(left: number, r: number, d: number, rKey: number): void {
    let p = this.parentOf(left, d);
    if (p === 0) {
      p = this.newInner();
      const po = p * IR;
      this.I[po + I_N] = 1;
      this.I[po + I_KID] = left;
      this.I[po + I_MIN] = d === 0 ? this.L[left * LR + L_LO] : this.I[left * IR + I_MIN];
      this.I.fill(-1, po + I_AGG, po + I_AGG + AGG);
      this.setParent(left, d, p);
      this.root = p;
      this.height++;
    }
    if (this.I[p * IR + I_N] === FAN) {
      this.splitInner(p, d + 1);
      p = this.parentOf(left, d);
    }
    const I = this.I;
    const po = p * IR;
    const cnt = I[po + I_N];
    const ci = this.kidIndex(p, left) + 1;
    I.copyWithin(po + I_KID + ci + 1, po + I_KID + ci, po + I_KID + cnt);
    I.copyWithin(po + I_MIN + ci + 1, po + I_MIN + ci, po + I_MIN + cnt);
    I.copyWithin(po + I_AGG + (ci + 1) * AGG, po + I_AGG + ci * AGG, po + I_AGG + cnt * AGG);
    I[po + I_N] = cnt + 1;
    I[po + I_KID + ci] = r;
    I[po + I_MIN + ci] = rKey;
    I.fill(-1, po + I_AGG + ci * AGG, po + I_AGG + (ci + 1) * AGG);
    this.setParent(r, d, p);
  }

  // Splits inner node h (depth d above the leaves) in two.
  private splitInner(h: number, d: number): void {
    const r = this.newInner();
    const I = this.I;
    const o = h * IR;
    const ro = r * IR;
    const cnt = I[o + I_N];
    const half = cnt >> 1;
    I.copyWithin(ro + I_KID, o + I_KID + half, o + I_KID + cnt);
    I.copyWithin(ro + I_MIN, o + I_MIN + half, o + I_MIN + cnt);
    I.copyWithin(ro + I_AGG, o + I_AGG + half * AGG, o + I_AGG + cnt * AGG);
    I[ro + I_N] = cnt - half;
    I[o + I_N] = half;
    for (let c = 0; c < cnt - half; c++) this.setParent(I[ro + I_KID + c], d - 1, r);
    this.addSibling(h, r, d, I[ro + I_MIN]);
    this.refreshInner(h);
    this.refreshInner(r);
  }

  /** rb_erase: unlinks node `n` (which must be in the tree) and frees its id. */
  remove(n: number): void {
    this.locate(this.rec[n * 4]);
    const L = this.L;
    const o = this.lo_;
    const i = this.li;
    const pv = L[o + L_PREV];
    const predHi = i > 0 ? L[o + L_HI + i - 1] : pv !== 0 ? L[pv * LR + L_HI + L[pv * LR + L_N] - 1] : -1;
    const cnt = L[o + L_N];
    L.copyWithin(o + L_LO + i, o + L_LO + i + 1, o + L_LO + cnt);
    L.copyWithin(o + L_HI + i, o + L_HI + i + 1, o + L_HI + cnt);
    L.copyWithin(o + L_GAP + i, o + L_GAP + i + 1, o + L_GAP + cnt);
    L.copyWithin(o + L_ID + i, o + L_ID + i + 1, o + L_ID + cnt);
    L[o + L_N] = cnt - 1;
    if (i < cnt - 1) L[o + L_GAP + i] = L[o + L_LO + i] - predHi - 1;
    else {
      const q = L[o + L_NEXT];
      if (q !== 0) {
        L[q * LR + L_GAP] = L[q * LR + L_LO] - predHi - 1;
        this.refreshLeaf(q);
      }
    }
    if (cnt - 1 === 0 && this.height > 0) this.dropLeaf(o / LR);
    else this.refreshLeaf(o / LR);
    this.size--;
    this.rec[n * 4 + 3] = this.freeHead;
    this.freeHead = n;
  }

  private dropLeaf(h: number): void {
    this.lo_ = 0; // the finger may point at the dropped leaf
    const L = this.L;
    const o = h * LR;
    const pv = L[o + L_PREV];
    const nx = L[o + L_NEXT];
    if (pv !== 0) L[pv * LR + L_NEXT] = nx;
    if (nx !== 0) L[nx * LR + L_PREV] = pv;
    let child = h;
    let p = L[o + L_PAR];
    L[o + L_NEXT] = this.lFree;
    this.lFree = h;
    while (p !== 0) {
      const I = this.I;
      const po = p * IR;
      const cnt = I[po + I_N];
      const ci = this.kidIndex(p, child);
      I.copyWithin(po + I_KID + ci, po + I_KID + ci + 1, po + I_KID + cnt);
      I.copyWithin(po + I_MIN + ci, po + I_MIN + ci + 1, po + I_MIN + cnt);
      I.copyWithin(po + I_AGG + ci * AGG, po + I_AGG + (ci + 1) * AGG, po + I_AGG + cnt * AGG);
      I[po + I_N] = cnt - 1;
      if (cnt - 1 > 0) {
        this.refreshInner(p);
        break;
      }
      const up = I[po + I_PAR];
      I[po + I_PAR] = this.iFree;
      this.iFree = p;
      child = p;
      p = up;
    }
    // collapse a root with one child (an empty root cannot happen: the last leaf is never dropped)
    while (this.height > 0 && this.I[this.root * IR + I_N] === 1) {
      const old = this.root;
      this.root = this.I[old * IR + I_KID];
      this.height--;
      this.setParent(this.root, this.height, 0);
      this.I[old * IR + I_PAR] = this.iFree;
      this.iFree = old;
    }
  }

  /** Visits every node in ascending pfn_lo order. */
  forEach(visit: (id: number) => void): void {
    for (let h = this.firstLeaf(); h !== 0; h = this.L[h * LR + L_NEXT]) {
      const o = h * LR;
      for (let i = 0; i < this.L[o + L_N]; i++) visit(this.L[o + L_ID + i]);
    }
  }

  /** Empties the tree (every id becomes free; indexed orders stay indexed). */
  clear(): void {
    this.lCount = 1;
    this.iCount = 1;
    this.lFree = 0;
    this.iFree = 0;
    this.height = 0;
    this.lo_ = 0;
    this.root = this.newLeaf();
    this.size = 0;
    this.freeHead = NIL;
    this.nextId = 1;
  }
}

function grow(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}
