/**
 * The ordered set of `struct iova` nodes behind IovaDomain (iova.ts): what Linux keeps in
 * `iovad->rbroot` (drivers/iommu/iova.c), here a treap on pfn_lo keys augmented with the free gap
 * below each node, so the allocator's top-down walk can jump to the node where the kernel's
 * `rb_prev` walk stops instead of stepping through every node it passes.
 *
 * Layout: one Float64Array, a 128-byte record per node (REC doubles): lo, hi, gap, maxGap, left,
 * right, prio, flags, then MAX_CAPS capMax slots. A descent touches one record per level (two
 * adjacent cache lines) instead of one line per field array: with 300K live nodes the tree is far
 * larger than the caches and every level is a miss.
 *
 * Node ids are small integers (0 is NIL); an id stays valid while its node is in the tree, so the
 * domain's `cached_node` / `cached32_node` are ids, as the kernel's are `rb_node` pointers.
 *
 * Invariants:
 *  - nodes never overlap; pfn_lo keys are unique, so in-order by pfn_lo is in-order by pfn_hi too;
 *  - gap(x) = pfn_lo(x) - pfn_hi(pred(x)) - 1, with pfn_hi(pred) = -1 for the first node: the free
 *    pages just below x, the gap iova.c's walk tests at x;
 *  - maxGap(x) = max gap over x's subtree (-1 for NIL);
 *  - capMax_k(x) (per active alignment order, see capIndex) = max over x's subtree of the largest
 *    block aligned to 2^order the gap holds as iova.c places it;
 *  - heap order on prio (xorshift32, fixed seed: the shape, hence nothing observable, is
 *    deterministic).
 *
 * Costs (n nodes): insert, remove, floor, ceil, prev, next O(log n) expected; rightmostFit
 * O(log n) expected. Numbers, not bigints: a pfn is < 2^53, exact in a double.
 */

/** The null node id. */
export const NIL = 0;

/** Doubles per node record. */
const REC = 16;
const LO = 0;
const HI = 1;
const GAP = 2;
const MAXGAP = 3;
const LEFT = 4;
const RIGHT = 5;
const PRIO = 6;
const FLAGS = 7;
const CAP0 = 8;
/** Alignment orders with an exact index; further orders fall back to the gap index (still exact, slower). */
const MAX_CAPS = REC - CAP0;

/** Augmented treap of [pfn_lo, pfn_hi] ranges (see the file comment for the layout and invariants). */
export class IovaTree {
  /** Node records (REC doubles each; record 0 is NIL). */
  private r: Float64Array;
  /** Root node id. */
  root = NIL;
  /** Nodes in the tree. */
  size = 0;
  private freeHead = NIL;
  private nextId = 1;
  private seed = 0x9e3779b9;
  private alignOf: number[] = [];
  private orderOf: number[] = [];
  // split() results (two outputs without allocating).
  private sl = NIL;
  private sr = NIL;

  constructor(capacity = 1024) {
    this.r = new Float64Array(Math.max(16, capacity) * REC);
    this.r[MAXGAP] = -1;
    for (let k = 0; k < MAX_CAPS; k++) this.r[CAP0 + k] = -1;
  }

  /** pfn_lo of node x. */
  lo(x: number): number { return this.r[x * REC + LO]; }
  /** pfn_hi of node x (inclusive). */
  hi(x: number): number { return this.r[x * REC + HI]; }
  /** Free pages between node x and the node below it. */
  gap(x: number): number { return this.r[x * REC + GAP]; }
  /** Caller-owned flags of node x (IovaDomain: bit 0 = reserved). */
  flags(x: number): number { return this.r[x * REC + FLAGS]; }
  /** Sets the caller-owned flags of node x. */
  setFlags(x: number, f: number): void { this.r[x * REC + FLAGS] = f; }
  /** Left child id (for tests of the shape). */
  left(x: number): number { return this.r[x * REC + LEFT]; }
  /** Right child id. */
  right(x: number): number { return this.r[x * REC + RIGHT]; }

  /** Allocates a detached node [lo, hi] with `flags`; returns its id. */
  newNode(lo: number, hi: number, flags: number): number {
    let id = this.freeHead;
    if (id !== NIL) this.freeHead = this.r[id * REC + LEFT];
    else {
      id = this.nextId++;
      if ((id + 1) * REC > this.r.length) {
        const b = new Float64Array(this.r.length * 2);
        b.set(this.r);
        this.r = b;
      }
    }
    const o = id * REC;
    const r = this.r;
    r[o + LO] = lo;
    r[o + HI] = hi;
    r[o + FLAGS] = flags;
    r[o + LEFT] = NIL;
    r[o + RIGHT] = NIL;
    let s = this.seed;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.seed = s >>> 0;
    r[o + PRIO] = this.seed;
    return id;
  }

  private update(t: number): void {
    const r = this.r;
    const o = t * REC;
    const lo = (r[o + LEFT] as number) * REC;
    const ro = (r[o + RIGHT] as number) * REC;
    const g = r[o + GAP];
    const l = r[lo + MAXGAP];
    const rr = r[ro + MAXGAP];
    r[o + MAXGAP] = g > l ? (g > rr ? g : rr) : l > rr ? l : rr;
    const n = this.alignOf.length;
    if (n === 0) return;
    const g0 = r[o + LO] - g;
    for (let k = 0; k < n; k++) {
      const a = this.alignOf[k];
      const rem = g0 % a;
      const cap = rem === 0 ? g : g - (a - rem);
      const cl = r[lo + CAP0 + k];
      const cr = r[ro + CAP0 + k];
      r[o + CAP0 + k] = cap > cl ? (cap > cr ? cap : cr) : cl > cr ? cl : cr;
    }
  }

  /**
   * The index slot for alignment 2^order (order >= 1), built on first use (one O(n) pass), or -1
   * once MAX_CAPS orders are indexed (the walk then filters with the gap index and tests each
   * candidate). A gap [g0, g1) (g0 = pfn_hi below + 1, g1 = pfn_lo) holds s pages aligned to A,
   * placed as iova.c places them, x = (g1 - s) & ~(A - 1) >= g0, exactly when
   * s <= g1 - ALIGN(g0, A): that is the node's cap.
   */
  capIndex(order: number): number {
    const k = this.orderOf.indexOf(order);
    if (k >= 0 || this.orderOf.length === MAX_CAPS) return k;
    this.orderOf.push(order);
    this.alignOf.push(2 ** order);
    this.rebuild(this.root);
    return this.alignOf.length - 1;
  }

  private rebuild(t: number): void {
    if (t === NIL) return;
    this.rebuild(this.r[t * REC + LEFT]);
    this.rebuild(this.r[t * REC + RIGHT]);
    this.update(t);
  }

  /** Highest node with pfn_lo <= key, or NIL. */
  floor(key: number): number {
    const r = this.r;
    let t = this.root;
    let best = NIL;
    while (t !== NIL) {
      const o = t * REC;
      if (r[o + LO] <= key) { best = t; t = r[o + RIGHT]; } else t = r[o + LEFT];
    }
    return best;
  }

  /** Lowest node with pfn_lo >= key, or NIL. */
  ceil(key: number): number {
    const r = this.r;
    let t = this.root;
    let best = NIL;
    while (t !== NIL) {
      const o = t * REC;
      if (r[o + LO] >= key) { best = t; t = r[o + LEFT]; } else t = r[o + RIGHT];
    }
    return best;
  }

  /** rb_prev: the node below `x` (in the tree), or NIL. */
  prev(x: number): number {
    const r = this.r;
    const l = r[x * REC + LEFT];
    if (l !== NIL) return this.maxOf(l);
    // strict: lo - 1 is not exact at the anchor's 2^64
    const key = r[x * REC + LO];
    let t = this.root;
    let best = NIL;
    while (t !== NIL) {
      const o = t * REC;
      if (r[o + LO] < key) { best = t; t = r[o + RIGHT]; } else t = r[o + LEFT];
    }
    return best;
  }

  /** rb_next: the node above `x` (in the tree), or NIL. */
  next(x: number): number {
    const r = this.r;
    const rt = r[x * REC + RIGHT];
    if (rt !== NIL) return this.minOf(rt);
    const key = r[x * REC + LO];
    let t = this.root;
    let best = NIL;
    while (t !== NIL) {
      const o = t * REC;
      if (r[o + LO] > key) { best = t; t = r[o + LEFT]; } else t = r[o + RIGHT];
    }
    return best;
  }

  /** rb_first: the lowest node, or NIL. */
  first(): number {
    return this.root === NIL ? NIL : this.minOf(this.root);
  }

  private minOf(t: number): number {
    for (let l = this.r[t * REC + LEFT]; l !== NIL; l = this.r[t * REC + LEFT]) t = l;
    return t;
  }

  private maxOf(t: number): number {
    for (let x = this.r[t * REC + RIGHT]; x !== NIL; x = this.r[t * REC + RIGHT]) t = x;
    return t;
  }

  /** private_find_iova: the node whose [pfn_lo, pfn_hi] holds `pfn`, or NIL. */
  find(pfn: number): number {
    const f = this.floor(pfn);
    return f !== NIL && this.r[f * REC + HI] >= pfn ? f : NIL;
  }

  /**
   * The highest node with pfn_lo <= key whose gap holds a block of `size` pages aligned to
   * 2^order placed as iova.c places it (k = capIndex(order) >= 0), or whose gap is >= size
   * (k = -1: order 0, or a candidate for the caller to test when the order has no index), or NIL.
   */
  rightmostFit(key: number, size: number, k: number): number {
    return k < 0 ? this.rwg(this.root, key, size) : this.rwc(this.root, key, size, CAP0 + k, this.alignOf[k]);
  }

  private rwg(t: number, key: number, minGap: number): number {
    const r = this.r;
    while (t !== NIL && r[t * REC + MAXGAP] >= minGap) {
      const o = t * REC;
      if (r[o + LO] > key) { t = r[o + LEFT]; continue; }
      const x = this.rwg(r[o + RIGHT], key, minGap);
      if (x !== NIL) return x;
      if (r[o + GAP] >= minGap) return t;
      t = r[o + LEFT];
    }
    return NIL;
  }

  private rwc(t: number, key: number, size: number, slot: number, a: number): number {
    const r = this.r;
    while (t !== NIL && r[t * REC + slot] >= size) {
      const o = t * REC;
      if (r[o + LO] > key) { t = r[o + LEFT]; continue; }
      const x = this.rwc(r[o + RIGHT], key, size, slot, a);
      if (x !== NIL) return x;
      const g = r[o + GAP];
      const rem = (r[o + LO] - g) % a;
      if ((rem === 0 ? g : g - (a - rem)) >= size) return t;
      t = r[o + LEFT];
    }
    return NIL;
  }

  // Split subtree t by key: this.sl = nodes with lo < key, this.sr = the rest.
  private split(t: number, key: number): void {
    if (t === NIL) { this.sl = NIL; this.sr = NIL; return; }
    const o = t * REC;
    if (this.r[o + LO] < key) {
      this.split(this.r[o + RIGHT], key);
      this.r[o + RIGHT] = this.sl;
      this.update(t);
      this.sl = t;
    } else {
      this.split(this.r[o + LEFT], key);
      this.r[o + LEFT] = this.sr;
      this.update(t);
      this.sr = t;
    }
  }

  // Merge subtrees a < b.
  private merge(a: number, b: number): number {
    if (a === NIL) return b;
    if (b === NIL) return a;
    const r = this.r;
    if (r[a * REC + PRIO] > r[b * REC + PRIO]) {
      r[a * REC + RIGHT] = this.merge(r[a * REC + RIGHT], b);
      this.update(a);
      return a;
    }
    r[b * REC + LEFT] = this.merge(a, r[b * REC + LEFT]);
    this.update(b);
    return b;
  }

  // Recomputes the augmentation along the left spine of t (after the gap of its minimum changed).
  private fixLeftSpine(t: number): void {
    if (t === NIL) return;
    this.fixLeftSpine(this.r[t * REC + LEFT]);
    this.update(t);
  }

  // Insertion / removal state shared along one recursion.
  private predHi = -1;
  private succ = NIL;

  /** iova_insert_rbtree: links detached node `n` (its pfn_lo must not be in the tree). */
  insert(n: number): void {
    this.predHi = -1;
    this.succ = NIL;
    this.root = this.ins(this.root, n);
    this.size++;
  }

  private ins(t: number, n: number): number {
    const r = this.r;
    const no = n * REC;
    if (t === NIL || r[no + PRIO] > r[t * REC + PRIO]) {
      this.split(t, r[no + LO]);
      const l = this.sl;
      const rt = this.sr;
      r[no + LEFT] = l;
      r[no + RIGHT] = rt;
      if (l !== NIL) this.predHi = r[this.maxOf(l) * REC + HI];
      r[no + GAP] = r[no + LO] - this.predHi - 1;
      if (rt !== NIL) {
        const s = this.minOf(rt);
        r[s * REC + GAP] = r[s * REC + LO] - r[no + HI] - 1;
        this.fixLeftSpine(rt);
      } else if (this.succ !== NIL) {
        // The successor is an ancestor: its augmentation is recomputed as the recursion unwinds.
        r[this.succ * REC + GAP] = r[this.succ * REC + LO] - r[no + HI] - 1;
      }
      this.update(n);
      return n;
    }
    const o = t * REC;
    if (r[no + LO] < r[o + LO]) {
      this.succ = t;
      r[o + LEFT] = this.ins(r[o + LEFT], n);
    } else {
      this.predHi = r[o + HI];
      r[o + RIGHT] = this.ins(r[o + RIGHT], n);
    }
    this.update(t);
    return t;
  }

  /** rb_erase: unlinks node `n` (which must be in the tree) and frees its id. */
  remove(n: number): void {
    this.predHi = -1;
    this.succ = NIL;
    this.root = this.del(this.root, n);
    this.size--;
    this.r[n * REC + LEFT] = this.freeHead;
    this.freeHead = n;
  }

  private del(t: number, n: number): number {
    const r = this.r;
    const o = t * REC;
    if (t === n) {
      const l = r[o + LEFT];
      const rt = r[o + RIGHT];
      if (l !== NIL) this.predHi = r[this.maxOf(l) * REC + HI];
      if (rt !== NIL) {
        const s = this.minOf(rt);
        r[s * REC + GAP] = r[s * REC + LO] - this.predHi - 1;
        this.fixLeftSpine(rt);
      } else if (this.succ !== NIL) {
        r[this.succ * REC + GAP] = r[this.succ * REC + LO] - this.predHi - 1;
      }
      return this.merge(l, rt);
    }
    if (r[n * REC + LO] < r[o + LO]) {
      this.succ = t;
      r[o + LEFT] = this.del(r[o + LEFT], n);
    } else {
      this.predHi = r[o + HI];
      r[o + RIGHT] = this.del(r[o + RIGHT], n);
    }
    this.update(t);
    return t;
  }

  /** Visits every node in ascending pfn_lo order. */
  forEach(visit: (id: number) => void): void {
    const stack: number[] = [];
    let t = this.root;
    while (t !== NIL || stack.length > 0) {
      while (t !== NIL) { stack.push(t); t = this.r[t * REC + LEFT]; }
      t = stack.pop() as number;
      visit(t);
      t = this.r[t * REC + RIGHT];
    }
  }

  /** Empties the tree (every id becomes free; indexed orders stay indexed). */
  clear(): void {
    this.root = NIL;
    this.size = 0;
    this.freeHead = NIL;
    this.nextId = 1;
  }
}
