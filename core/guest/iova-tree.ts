/**
 * The ordered set of `struct iova` nodes behind IovaDomain (iova.ts): what Linux keeps in
 * `iovad->rbroot` (drivers/iommu/iova.c), here a treap on pfn_lo keys held in typed arrays and
 * augmented with the free gap below each node, so the allocator's top-down walk can skip every run
 * of nodes whose gaps are too small instead of stepping `rb_prev` through them one by one.
 *
 * Node ids are small integers (0 is NIL); an id stays valid while its node is in the tree, so the
 * domain's `cached_node` / `cached32_node` are ids, as the kernel's are `rb_node` pointers.
 *
 * Invariants:
 *  - nodes never overlap; pfn_lo keys are unique, so in-order by pfn_lo is in-order by pfn_hi too;
 *  - gap[x] = pfn_lo(x) - pfn_hi(pred(x)) - 1, with pfn_hi(pred) = -1 for the first node: the free
 *    pages between x and the node below it (iova.c's walk tests exactly this gap);
 *  - maxGap[x] = max gap over x's subtree (maxGap[NIL] = -1);
 *  - heap order on prio (xorshift32, fixed seed: the shape, hence nothing observable, is
 *    deterministic).
 *
 * Costs (n nodes): insert, remove, floor, ceil, prev, next O(log n) expected; rightmostWithGap
 * O(log n) expected per call. Numbers, not bigints: a pfn is < 2^53, exact in a double.
 */

/** The null node id. */
export const NIL = 0;

/** Augmented treap of [pfn_lo, pfn_hi] ranges (see the file comment for the invariants). */
export class IovaTree {
  /** pfn_lo per node id. */
  lo: Float64Array;
  /** pfn_hi per node id (inclusive). */
  hi: Float64Array;
  /** Free pages between the node and its predecessor. */
  gap: Float64Array;
  /** Largest gap in the node's subtree. */
  maxGap: Float64Array;
  left: Int32Array;
  right: Int32Array;
  prio: Uint32Array;
  /** Caller-owned per-node flags (IovaDomain: bit 0 = reserved). */
  flags: Uint8Array;
  /** Root node id. */
  root = NIL;
  /** Nodes in the tree. */
  size = 0;
  private freeHead = NIL;
  private nextId = 1;
  private seed = 0x9e3779b9;
  // split() results (two outputs without allocating).
  private sl = NIL;
  private sr = NIL;

  constructor(capacity = 1024) {
    const c = Math.max(16, capacity);
    this.lo = new Float64Array(c);
    this.hi = new Float64Array(c);
    this.gap = new Float64Array(c);
    this.maxGap = new Float64Array(c);
    this.left = new Int32Array(c);
    this.right = new Int32Array(c);
    this.prio = new Uint32Array(c);
    this.flags = new Uint8Array(c);
    this.maxGap[NIL] = -1;
  }

  /** Allocates a detached node [lo, hi] with `flags`; returns its id. */
  newNode(lo: number, hi: number, flags: number): number {
    let id = this.freeHead;
    if (id !== NIL) this.freeHead = this.left[id];
    else {
      id = this.nextId++;
      if (id >= this.lo.length) this.grow();
    }
    this.lo[id] = lo;
    this.hi[id] = hi;
    this.flags[id] = flags;
    this.left[id] = NIL;
    this.right[id] = NIL;
    let s = this.seed;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.seed = s >>> 0;
    this.prio[id] = this.seed;
    return id;
  }

  private grow(): void {
    const c = this.lo.length * 2;
    const f = (a: Float64Array): Float64Array => { const b = new Float64Array(c); b.set(a); return b; };
    const i = (a: Int32Array): Int32Array => { const b = new Int32Array(c); b.set(a); return b; };
    this.lo = f(this.lo);
    this.hi = f(this.hi);
    this.gap = f(this.gap);
    this.maxGap = f(this.maxGap);
    this.left = i(this.left);
    this.right = i(this.right);
    const p = new Uint32Array(c); p.set(this.prio); this.prio = p;
    const fl = new Uint8Array(c); fl.set(this.flags); this.flags = fl;
  }

  private update(t: number): void {
    const l = this.maxGap[this.left[t]];
    const r = this.maxGap[this.right[t]];
    const g = this.gap[t];
    this.maxGap[t] = g > l ? (g > r ? g : r) : l > r ? l : r;
  }

  /** Highest node with pfn_lo <= key, or NIL. */
  floor(key: number): number {
    let t = this.root;
    let best = NIL;
    const lo = this.lo;
    while (t !== NIL) {
      if (lo[t] <= key) { best = t; t = this.right[t]; } else t = this.left[t];
    }
    return best;
  }

  /** Lowest node with pfn_lo >= key, or NIL. */
  ceil(key: number): number {
    let t = this.root;
    let best = NIL;
    const lo = this.lo;
    while (t !== NIL) {
      if (lo[t] >= key) { best = t; t = this.left[t]; } else t = this.right[t];
    }
    return best;
  }

  /** rb_prev: the node below `x` (in the tree), or NIL. */
  prev(x: number): number {
    const l = this.left[x];
    if (l !== NIL) return this.maxOf(l);
    // the highest ancestor-side node with lo < lo[x] (strict: lo - 1 is not exact at the anchor's 2^64)
    const key = this.lo[x];
    let t = this.root;
    let best = NIL;
    while (t !== NIL) {
      if (this.lo[t] < key) { best = t; t = this.right[t]; } else t = this.left[t];
    }
    return best;
  }

  /** rb_next: the node above `x` (in the tree), or NIL. */
  next(x: number): number {
    const r = this.right[x];
    if (r !== NIL) return this.minOf(r);
    const key = this.lo[x];
    let t = this.root;
    let best = NIL;
    while (t !== NIL) {
      if (this.lo[t] > key) { best = t; t = this.left[t]; } else t = this.right[t];
    }
    return best;
  }

  /** rb_first: the lowest node, or NIL. */
  first(): number {
    return this.root === NIL ? NIL : this.minOf(this.root);
  }

  private minOf(t: number): number {
    while (this.left[t] !== NIL) t = this.left[t];
    return t;
  }

  private maxOf(t: number): number {
    while (this.right[t] !== NIL) t = this.right[t];
    return t;
  }

  /** private_find_iova: the node whose [pfn_lo, pfn_hi] holds `pfn`, or NIL. */
  find(pfn: number): number {
    const f = this.floor(pfn);
    return f !== NIL && this.hi[f] >= pfn ? f : NIL;
  }

  /**
   * The highest node with pfn_lo <= key whose gap (free pages just below it) is >= minGap, or NIL.
   * The allocator's walk can only stop at such a node; every node it skips has a smaller gap.
   */
  rightmostWithGap(key: number, minGap: number): number {
    return this.rwg(this.root, key, minGap);
  }

  private rwg(t: number, key: number, minGap: number): number {
    while (t !== NIL && this.maxGap[t] >= minGap) {
      if (this.lo[t] > key) { t = this.left[t]; continue; }
      const r = this.rwg(this.right[t], key, minGap);
      if (r !== NIL) return r;
      if (this.gap[t] >= minGap) return t;
      t = this.left[t];
    }
    return NIL;
  }

  // Split subtree t by key: this.sl = nodes with lo < key, this.sr = the rest.
  private split(t: number, key: number): void {
    if (t === NIL) { this.sl = NIL; this.sr = NIL; return; }
    if (this.lo[t] < key) {
      this.split(this.right[t], key);
      this.right[t] = this.sl;
      this.update(t);
      this.sl = t;
    } else {
      this.split(this.left[t], key);
      this.left[t] = this.sr;
      this.update(t);
      this.sr = t;
    }
  }

  // Merge subtrees a < b.
  private merge(a: number, b: number): number {
    if (a === NIL) return b;
    if (b === NIL) return a;
    if (this.prio[a] > this.prio[b]) {
      this.right[a] = this.merge(this.right[a], b);
      this.update(a);
      return a;
    }
    this.left[b] = this.merge(a, this.left[b]);
    this.update(b);
    return b;
  }

  // Recomputes maxGap along the left spine of t (after the gap of its minimum changed).
  private fixLeftSpine(t: number): void {
    if (t === NIL) return;
    if (this.left[t] !== NIL) this.fixLeftSpine(this.left[t]);
    this.update(t);
  }

  // Insertion state shared by ins() (one insertion at a time).
  private insPredHi = -1;
  private insSucc = NIL;

  /** iova_insert_rbtree: links detached node `n` (its pfn_lo must not be in the tree). */
  insert(n: number): void {
    this.insPredHi = -1;
    this.insSucc = NIL;
    this.root = this.ins(this.root, n);
    this.size++;
  }

  private ins(t: number, n: number): number {
    if (t === NIL || this.prio[n] > this.prio[t]) {
      this.split(t, this.lo[n]);
      const l = this.sl;
      const r = this.sr;
      this.left[n] = l;
      this.right[n] = r;
      if (l !== NIL) this.insPredHi = this.hi[this.maxOf(l)];
      this.gap[n] = this.lo[n] - this.insPredHi - 1;
      if (r !== NIL) {
        const s = this.minOf(r);
        this.gap[s] = this.lo[s] - this.hi[n] - 1;
        this.fixLeftSpine(r);
      } else if (this.insSucc !== NIL) {
        // The successor is an ancestor: its maxGap is recomputed as the recursion unwinds.
        this.gap[this.insSucc] = this.lo[this.insSucc] - this.hi[n] - 1;
      }
      this.update(n);
      return n;
    }
    if (this.lo[n] < this.lo[t]) {
      this.insSucc = t;
      this.left[t] = this.ins(this.left[t], n);
    } else {
      this.insPredHi = this.hi[t];
      this.right[t] = this.ins(this.right[t], n);
    }
    this.update(t);
    return t;
  }

  private delPredHi = -1;
  private delSucc = NIL;

  /** rb_erase: unlinks node `n` (which must be in the tree) and frees its id. */
  remove(n: number): void {
    this.delPredHi = -1;
    this.delSucc = NIL;
    this.root = this.del(this.root, n);
    this.size--;
    this.left[n] = this.freeHead;
    this.freeHead = n;
  }

  private del(t: number, n: number): number {
    if (t === n) {
      const l = this.left[n];
      const r = this.right[n];
      if (l !== NIL) this.delPredHi = this.hi[this.maxOf(l)];
      if (r !== NIL) {
        const s = this.minOf(r);
        this.gap[s] = this.lo[s] - this.delPredHi - 1;
        this.fixLeftSpine(r);
      } else if (this.delSucc !== NIL) {
        this.gap[this.delSucc] = this.lo[this.delSucc] - this.delPredHi - 1;
      }
      return this.merge(l, r);
    }
    if (this.lo[n] < this.lo[t]) {
      this.delSucc = t;
      this.left[t] = this.del(this.left[t], n);
    } else {
      this.delPredHi = this.hi[t];
      this.right[t] = this.del(this.right[t], n);
    }
    this.update(t);
    return t;
  }

  /** Visits every node in ascending pfn_lo order. */
  forEach(visit: (id: number) => void): void {
    const stack: number[] = [];
    let t = this.root;
    while (t !== NIL || stack.length > 0) {
      while (t !== NIL) { stack.push(t); t = this.left[t]; }
      t = stack.pop() as number;
      visit(t);
      t = this.right[t];
    }
  }

  /** Empties the tree (every id becomes free). */
  clear(): void {
    this.root = NIL;
    this.size = 0;
    this.freeHead = NIL;
    this.nextId = 1;
  }
}
