/**
 * The ordered set of `struct iova` nodes behind IovaDomain (iova.ts), as a B+tree: the kernel's
 * `iovad->rbroot` (drivers/iommu/iova.c) keyed by pfn_lo, with leaves of up to LEAF entries
 * (sorted hi and lo, linked both ways; an entry's gap is derived from the pfn_hi below it; node
 * ids and flags, which few entries have, in a side block: see XR) under inner nodes of up to FAN
 * children. Every inner node keeps, per child, the largest gap below an entry and the largest
 * block each indexed alignment can place in a gap (see capIndex), so the allocator's top-down
 * walk jumps to the entry where the kernel's `rb_prev` walk stops.
 * With 300K live nodes (leaves hold LEAF / 2 entries after a split or a sequential fill, see
 * splitLeaf) the tree has 3 inner levels that mostly stay in cache: a lookup misses on one leaf,
 * where a binary tree misses on every level below the cache. Each leaf keeps its own aggregates,
 * updated incrementally (a free only raises them; an insert recomputes only the slots whose max
 * it split), and two fingers (the last two leaves located) spare the descent when an allocation
 * works where the previous look-ups did.
 *
 * Layout (iova-btree-records.ts): leaves and inner nodes are records in two Float64Array pools
 * (no objects, no per-node typed arrays: each of those is a separate allocation and one more
 * dependent miss). A handle is a record index >= 1, read back with `| 0` (a double-typed index
 * costs V8 about twice an int one). All leaves are at the same depth (`height` inner levels
 * above them).
 *
 * Node ids are small integers (0 is NIL); an id stays valid while its node is in the tree (its
 * entry may move between leaves). A node is found from its id by a descent on its pfn_lo. A node
 * inserted by insertRange or insertRangeBeforeHere gets its id only when a look-up first returns
 * it: the allocator's hot path (IovaDomain, which knows its nodes by pfn_lo, keys being unique)
 * uses the id-less look-ups (holds, hasPrev, hasNext, fits, ceilLo) and never makes one.
 *
 * Invariants:
 *  - entries never overlap; pfn_lo keys are unique, so in-order by pfn_lo is in-order by pfn_hi;
 *  - gap(x) = pfn_lo(x) - pfn_hi(pred(x)) - 1, with pfn_hi(pred) = -1 for the first entry;
 *  - cap_k(x) = gap(x) - (ALIGN(g0, A_k) - g0) with g0 = pfn_lo(x) - gap(x): an A_k-aligned block
 *    of s pages placed as iova.c places it, x = (pfn_lo - s) & ~(A_k - 1) >= g0, fits exactly
 *    when s <= cap_k(x);
 *  - an inner node's agg[child] is the max of gap and of each cap_k over the child's subtree,
 *    minKey[child] the child's smallest pfn_lo; only the root may be an empty leaf or an inner node
 *    with one child after removals (it is collapsed);
 *  - holes: a node removed from inside a leaf leaves its slot as a hole, lo = h + 1 and hi = h
 *    where h is pfn_hi of the live entry below it (lo > hi marks it; its id slot, where the leaf
 *    keeps a side block, is left as it was and never read: an insert that takes the hole clears
 *    it, see place). Searches
 *    need no change (the keys stay sorted, a hole's gap is 0 and fits no block, and the entry
 *    above it reads h as its predecessor's pfn_hi); steps skip holes, and a leaf's first and last
 *    entries are never holes, so a step never leaves the leaf over one and L_PHI stays exact. An
 *    insert next to a hole takes it, so the tree path's common pair (a free, then the allocation
 *    that reuses its gap) moves no entry, where it moved ~14 twice; else the entries up to the
 *    nearest hole move. A leaf with more holes than entries is compacted. A
 *    hole needs h + 1 exact, h below 2^53: IovaDomain's pfns are below 2^52, and its anchor (2^64)
 *    is the last node, with no hole above it; a removal right above a node whose pfn_hi is 2^53 or
 *    more moves the entries instead. At 300K live under the bench's churn, 78 % of the inserts
 *    take a hole, and a pair moves ~4.5 entries where it moved ~29 (with leaves of 56).
 */

import {
  LEAF,
  FAN,
  MAX_CAPS,
  AGG,
  L_N,
  L_PREV,
  L_NEXT,
  L_PAR,
  L_PIX,
  L_AGG,
  L_LO,
  L_HI,
  L_PHI,
  L_HOLES,
  LR,
  XR,
  SIDE_UNIT,
  holesOf,
  I_N,
  I_PAR,
  I_PIX,
  I_KID,
  I_MIN,
  I_AGG,
  innerStride,
  leafAggAll,
  leafLower,
  leafRaise,
  innerAggAll,
  leafCovers,
  leafUpper,
  touchLeaf,
  nextSiblingAt,
  propagateUp,
  splitPoint,
  grow,
  kidIndex,
  move,
  ARG_KEY,
  ARG_LO,
  ARG_G,
  ARG_MIN,
  ARG_NLO,
  ARG_NHI,
  ARGS,
} from './iova-btree-records.ts';

/** The null node id. */
export const NIL = 0;

/**
 * An entry's id slot (in its leaf's side block: see XR) holds id + flags * FLAG_UNIT (ids stay
 * below 2^31, flags below 2^20: exact in a double), so `slot | 0` is the id and the free path
 * reads a node's flags without its record. Slot 0: the node has no id yet and no flags (see
 * insertRangeBeforeHere); a leaf none of whose entries has a slot keeps no side block.
 */
const FLAG_UNIT = 2 ** 32;

/** B+tree of [pfn_lo, pfn_hi] ranges (see the file comment for the layout and invariants). */
export class IovaTree {
  private rec = new Float64Array(1024 * 4); // per id: lo, hi, flags, unused
  private L = new Float64Array(64 * LR);
  /** The leaves' side blocks (XR doubles per leaf handle): read only where L_HOLES counts a slot. */
  private X = new Float64Array(64 * XR);
  /** Doubles per inner record: innerStride(1 + nCaps). */
  private ir = innerStride(1);
  private I = new Float64Array(8 * innerStride(1));
  private lCount = 1;
  private iCount = 1;
  private lFree = 0;
  private iFree = 0;
  private root: number;
  /** Inner levels above the leaves (0: the root is a leaf). */
  private height = 0;
  /** Nodes in the tree. */
  size = 0;
  /** Free ids, a stack (its top stays in cache; a link in each id's record was a cold store). */
  private freeIds = new Int32Array(1024);
  private freeTop = 0;
  private nextId = 1;
  // Typed arrays, not growing JS arrays: an array's elements-kind change (SMI -> DOUBLE) changes
  // this object's hidden class and deoptimizes every method compiled for the other one.
  private readonly alignOf = new Float64Array(MAX_CAPS);
  /** 1 / alignOf[k] (exact: a power of two), so cap() multiplies instead of dividing. */
  private readonly invOf = new Float64Array(MAX_CAPS);
  /** Indexed alignment orders (slots 1..nCaps after the gap). */
  private nCaps = 0;
  /**
   * The first aggregate slot maintained: 1 until a walk asks for the gap index itself (k = -1:
   * order 0, or an order beyond MAX_CAPS), 0 from then on. A domain whose tree walks are all
   * size-aligned to indexed orders (dma-iommu's, above the rcache sizes) never pays for it.
   */
  private j0 = 1;
  private orderOf: number[] = [];
  /** capIndex's answer per order (0..63): the slot, -1 for none, -2 for not yet asked. */
  private readonly slotOfOrder = new Int8Array(64).fill(-2);
  private readonly tmp = new Float64Array(AGG);
  // propagate's per-aggregate scratch: the slot's old value.
  private readonly oldv = new Float64Array(AGG);
  /** Where touchLeaf leaves the values it loads early. */
  private readonly sink = new Float64Array(1);
  /** Doubles for the calls V8 does not inline (slots ARG_*: see iova-btree-records.ts). */
  private readonly arg = new Float64Array(ARGS);
  // locate() results: leaf record offset (also the finger the next locate tries first; 0 = none,
  // record 0 is never a leaf and has n = 0) and entry index
  private lo_ = 0;
  /** The finger before lo_ (0 = none). */
  private lo2_ = 0;
  private li = -1;

  constructor() {
    this.root = this.newLeaf();
  }

  /** pfn_lo of node x. */
  lo(x: number): number { return this.rec[x * 4]; }
  /** pfn_hi of node x (inclusive). */
  hi(x: number): number { return this.rec[x * 4 + 1]; }
  /** Caller-owned flags of node x (IovaDomain: bit 0 = reserved; at most 2^20 - 1). */
  flags(x: number): number { return this.rec[x * 4 + 2]; }
  /** Sets the caller-owned flags of node x (in its record, and in its leaf entry when x is in the tree). */
  setFlags(x: number, f: number): void {
    this.rec[x * 4 + 2] = f;
    if (this.find(this.rec[x * 4]) === x) this.setSlot(this.lo_, this.li, x + f * FLAG_UNIT);
  }

  // The "here" accessors read the entry the last look-up (find, floor, ...) stopped at, from its
  // leaf: the node's own record is a random line of a 10 MB pool, a cache miss on the free path.

  /** pfn_lo of the entry the last look-up stopped at (li >= 0). */
  hereLo(): number { return this.L[this.lo_ + L_LO + this.li]; }
  /** pfn_hi of that entry. */
  hereHi(): number { return this.L[this.lo_ + L_HI + this.li]; }
  /** Moves the look-up's stop to the entry above it (which must exist: rb_next of a node that has one). */
  stepHere(): void {
    const L = this.L;
    const o = this.lo_;
    let i = this.li + 1;
    if (i < (L[o + L_N] | 0)) {
      while (L[o + L_LO + i] > L[o + L_HI + i]) i++; // holes (a leaf's last entry is live)
      this.li = i;
      return;
    }
    const q = (this.L[this.lo_ + L_NEXT] | 0);
    if (q === 0) throw new Error('iova-btree: no entry above the last one');
    this.lo2_ = this.lo_;
    this.lo_ = q * LR;
    this.li = 0;
    // the allocator inserts here next (into a hole, or moving entries): its lines all at once
    touchLeaf(this.L, this.lo_, this.sink);
  }

  /** Free pages between that entry and the one below it. */
  hereGap(): number { return this.gapAt(this.lo_, this.li); }

  // gap of entry i of the leaf at o: its pfn_lo minus pfn_hi of the entry below (L_PHI for i = 0)
  private gapAt(o: number, i: number): number {
    return this.L[o + L_LO + i] - this.L[o + L_HI + i - 1] - 1;
  }
  /** Flags of that entry (kept in its id slot, above the id: see FLAG_UNIT). */
  hereFlags(): number { return Math.floor(this.slotAt(this.lo_, this.li) / FLAG_UNIT); }
  /** rb_next of that entry, or NIL; its pfn_lo and pfn_hi then in nextLo and nextHi. */
  hereNext(): number {
    return this.hasNext() ? this.idAt(this.nextO, this.nextI) : NIL;
  }

  /**
   * hereNext without the node's id (none is assigned): whether the entry the last look-up stopped
   * at has one above it, whose pfn_lo and pfn_hi are then in nextLo and nextHi.
   */
  hasNext(): boolean {
    const L = this.L;
    let o = this.lo_;
    let i = this.li + 1;
    if (i >= (L[o + L_N] | 0)) {
      const q = (L[o + L_NEXT] | 0);
      if (q === 0) return false;
      o = q * LR;
      i = 0;
    } else {
      while (L[o + L_LO + i] > L[o + L_HI + i]) i++; // holes (a leaf's last entry is live)
    }
    this.nextO = o;
    this.nextI = i;
    this.nextLo = L[o + L_LO + i];
    this.nextHi = L[o + L_HI + i];
    return true;
  }

  // Where hasNext found the entry above: leaf record offset and index.
  private nextO = 0;
  private nextI = 0;

  // The id of entry i of the leaf at o, assigned now if it has none (insertRangeBeforeHere): a
  // node's id and record are made only when someone asks for the node by id.
  private idAt(o: number, i: number): number {
    const id = this.slotAt(o, i) | 0; // ToInt32 drops the flags (multiples of 2^32)
    return id !== NIL ? id : this.assignId(o, i);
  }

  private assignId(o: number, i: number): number {
    const L = this.L;
    const flags = Math.floor(this.slotAt(o, i) / FLAG_UNIT);
    const id = this.newNode(L[o + L_LO + i], L[o + L_HI + i], flags);
    this.setSlot(o, i, id + flags * FLAG_UNIT);
    return id;
  }

  // Offset of the side block of the leaf at record offset o in X.
  private xb(o: number): number {
    return ((o / LR) | 0) * XR;
  }

  // The id slot of entry i of the leaf at o (id + flags * FLAG_UNIT; 0 where the leaf keeps none).
  private slotAt(o: number, i: number): number {
    return this.L[o + L_HOLES] >= SIDE_UNIT ? this.X[this.xb(o) + i] : 0;
  }

  // Sets the id slot of entry i (i < n) of the leaf at o to v != 0, counting it when it was 0. The
  // leaf's first slot clears its side block: the block is kept only while the count is > 0.
  private setSlot(o: number, i: number, v: number): void {
    const L = this.L;
    const b = this.xb(o);
    if (L[o + L_HOLES] < SIDE_UNIT) this.X.fill(0, b, b + XR);
    if (this.X[b + i] === 0) L[o + L_HOLES] += SIDE_UNIT;
    this.X[b + i] = v;
  }

  /** pfn_lo of the node hereNext or hasNext found last, or of the successor removeHere reported. */
  nextLo = 0;
  /** pfn_hi of that node (NaN after a removeHere that did not read it: see removeHere). */
  nextHi = 0;

  /**
   * rb_prev of the node whose pfn_lo is `lo` (in the tree), or NIL: prev() without its record.
   * A node found is where the here* accessors read.
   */
  prevOf(lo: number): number {
    return this.hasPrev(lo) ? this.idAt(this.lo_, this.li) : NIL;
  }

  /**
   * prevOf without the node's id (none is assigned): whether the node whose pfn_lo is `lo` has
   * one below it, which is then where the here* accessors read.
   */
  hasPrev(lo: number): boolean {
    this.arg[ARG_KEY] = lo; // small enough to inline: the key reaches hasPrevArg unboxed
    return this.hasPrevArg();
  }

  private hasPrevArg(): boolean {
    if (this.firstOfNext(this.lo_)) return true;
    this.locateArg();
    const L = this.L;
    if (this.li > 0) {
      const o = this.lo_;
      let i = this.li - 1;
      while (L[o + L_LO + i] > L[o + L_HI + i]) i--; // holes (a leaf's first entry is live)
      this.li = i;
      return true;
    }
    const p = (L[this.lo_ + L_PREV] | 0);
    if (p === 0) return false;
    const po = p * LR;
    this.lo2_ = this.lo_;
    this.lo_ = po;
    this.li = (L[po + L_N] | 0) - 1;
    return true;
  }
  /** Free pages between node x (in the tree) and the node below it. */
  gap(x: number): number {
    this.locate(this.rec[x * 4]);
    return this.gapAt(this.lo_, this.li);
  }

  // Whether the look-up's key (arg[ARG_KEY]) is pfn_lo of the first entry of the leaf after the
  // leaf at f (the finger; 0: none), read as that leaf's min key in their parent: then its
  // predecessor, f's last entry, is where the here* accessors read, and no line of the next
  // leaf was loaded. (After a free of a leaf's last entry, the domain's walk starts at that
  // successor; when the block does not fit right below it, the next leaf is never needed.)
  private firstOfNext(f: number): boolean {
    if (f === 0) return false;
    const L = this.L;
    const x = nextSiblingAt(L, this.I, this.ir, f);
    if (x < 0 || this.I[x + I_MIN] !== this.arg[ARG_KEY]) return false;
    this.li = (L[f + L_N] | 0) - 1;
    return true;
  }

  /** Allocates a detached node [lo, hi] with `flags`; returns its id. */
  newNode(lo: number, hi: number, flags: number): number {
    let id: number;
    if (this.freeTop > 0) id = this.freeIds[--this.freeTop];
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
    if (h !== 0) this.lFree = (this.L[h * LR + L_NEXT] | 0);
    else {
      h = this.lCount++;
      if ((h + 1) * LR > this.L.length) this.L = grow(this.L);
      if ((h + 1) * XR > this.X.length) this.X = grow(this.X);
    }
    const o = h * LR;
    this.L[o + L_N] = 0;
    this.L[o + L_PREV] = 0;
    this.L[o + L_NEXT] = 0;
    this.L[o + L_PAR] = 0;
    this.L[o + L_HOLES] = 0;
    this.L[o + L_PHI] = -1; // the first leaf's; a split sets the new right leaf's
    for (let j = 0; j < AGG; j++) this.L[o + L_AGG + j] = -1;
    return h;
  }

  private newInner(): number {
    let h = this.iFree;
    if (h !== 0) this.iFree = (this.I[h * this.ir + I_PAR] | 0);
    else {
      h = this.iCount++;
      if ((h + 1) * this.ir > this.I.length) this.I = grow(this.I);
    }
    this.I[h * this.ir + I_N] = 0;
    this.I[h * this.ir + I_PAR] = 0;
    return h;
  }

  // Sets lo_/li to the leaf record offset and index of the last entry with lo <= key (li = -1:
  // key is below every entry of that leaf, which is then the first leaf). Small enough to inline:
  // the key reaches locateArg through the scratch, unboxed.
  private locate(key: number): void {
    this.arg[ARG_KEY] = key;
    this.locateArg();
  }

  private locateArg(): void {
    const key = this.arg[ARG_KEY];
    // the fingers: the last two leaves located, if key falls in one's range (no descent, lines
    // in cache; a pair's free and its walk from the cached node alternate between two leaves)
    if (this.covers(this.lo_)) {
      this.search(this.lo_);
      return;
    }
    if (this.covers(this.lo2_)) {
      this.search(this.lo2_);
      return;
    }
    let t = this.root;
    const I = this.I;
    const R = this.ir;
    for (let d = this.height; d > 0; d--) {
      const o = t * R;
      const mb = o + I_MIN;
      const n = I[o + I_N] | 0;
      // the kid's index is the count of min keys <= key after the first: a sum of comparisons, with
      // no branch to mispredict where a scan from either end stops
      let i = 0;
      for (let c = 1; c < n; c++) i += +(I[mb + c] <= key);
      t = I[o + I_KID + i] | 0;
    }
    touchLeaf(this.L, t * LR, this.sink);
    this.search(t * LR);
  }

  // whether the key of the look-up (arg[ARG_KEY]) is in the range of the leaf at f (0: none)
  private covers(f: number): boolean {
    return leafCovers(this.L, this.I, this.ir, f, this.arg);
  }

  // sets li in the leaf at o for the key of the look-up (arg[ARG_KEY]), and makes it the finger
  private search(o: number): void {
    const a = leafUpper(this.L, o, this.arg);
    if (o !== this.lo_) {
      this.lo2_ = this.lo_;
      this.lo_ = o;
    }
    this.li = a - 1;
  }

  /** Highest node with pfn_lo <= key, or NIL. */
  floor(key: number): number {
    this.locate(key);
    const L = this.L;
    const o = this.lo_;
    let i = this.li;
    while (i > 0 && L[o + L_LO + i] > L[o + L_HI + i]) i--; // holes (a leaf's first entry is live)
    this.li = i;
    return i >= 0 ? this.idAt(o, i) : NIL;
  }

  /** Lowest node with pfn_lo >= key, or NIL. */
  ceil(key: number): number {
    this.locate(key);
    const L = this.L;
    const o = this.lo_;
    const i = this.nextLive(o, this.li, key);
    if (i >= 0) return this.idAt(o, i);
    const q = (L[o + L_NEXT] | 0);
    return q !== 0 ? this.idAt(q * LR, 0) : NIL;
  }

  /** pfn_lo of the lowest node with pfn_lo >= key (ceil without its id), or -1 for none. */
  ceilLo(key: number): number {
    this.locate(key);
    const L = this.L;
    const o = this.lo_;
    const i = this.nextLive(o, this.li, key);
    if (i >= 0) return L[o + L_LO + i];
    const q = (L[o + L_NEXT] | 0);
    return q !== 0 ? L[q * LR + L_LO] : -1;
  }

  // ceil in the leaf at o where locate(key) stopped at index i: i when its entry is live with
  // pfn_lo = key, else the first live entry above i, or -1 when that is in the next leaf.
  private nextLive(o: number, i: number, key: number): number {
    const L = this.L;
    if (i >= 0 && L[o + L_LO + i] === key && key <= L[o + L_HI + i]) return i; // a hole's hi is below its lo
    const n = L[o + L_N] | 0;
    i++;
    while (i < n && L[o + L_LO + i] > L[o + L_HI + i]) i++;
    return i < n ? i : -1;
  }

  /** rb_prev: the node below `x` (in the tree), or NIL. */
  prev(x: number): number {
    return this.prevOf(this.rec[x * 4]);
  }

  /** rb_next: the node above `x` (in the tree), or NIL. */
  next(x: number): number {
    this.locate(this.rec[x * 4]);
    return this.hereNext();
  }

  private firstLeaf(): number {
    let t = this.root;
    for (let d = this.height; d > 0; d--) t = (this.I[t * this.ir + I_KID] | 0);
    return t;
  }

  /** rb_first: the lowest node, or NIL. */
  first(): number {
    const o = this.firstLeaf() * LR;
    return (this.L[o + L_N] | 0) > 0 ? this.idAt(o, 0) : NIL;
  }

  /** private_find_iova: the node whose [pfn_lo, pfn_hi] holds `pfn`, or NIL. */
  find(pfn: number): number {
    return this.holds(pfn) ? this.idAt(this.lo_, this.li) : NIL;
  }

  /**
   * find without the node's id (none is assigned): whether a node's [pfn_lo, pfn_hi] holds `pfn`;
   * that node is then where the here* accessors read.
   */
  holds(pfn: number): boolean {
    this.arg[ARG_KEY] = pfn; // small enough to inline: the pfn reaches holdsArg unboxed
    return this.holdsArg();
  }

  private holdsArg(): boolean {
    this.locateArg();
    const i = this.li;
    return i >= 0 && this.L[this.lo_ + L_HI + i] >= this.arg[ARG_KEY];
  }

  /**
   * The index slot for alignment 2^order (order >= 1), built on first use (one O(n) pass), or -1
   * once MAX_CAPS orders are indexed (the walk then filters with the gap index and tests each
   * candidate).
   */
  capIndex(order: number): number {
    const known = this.slotOfOrder[order];
    if (known !== -2 && order < 64) return known;
    const k = this.capIndexSlow(order);
    if (order < 64 && (k >= 0 || this.orderOf.length === MAX_CAPS)) this.slotOfOrder[order] = k;
    return k;
  }

  private capIndexSlow(order: number): number {
    const k = this.orderOf.indexOf(order);
    if (k >= 0 || this.orderOf.length === MAX_CAPS) return k;
    this.orderOf.push(order);
    this.alignOf[this.nCaps] = 2 ** order;
    this.invOf[this.nCaps] = 2 ** -order;
    this.nCaps++;
    this.relayInner();
    this.rebuild(this.root, this.height);
    return this.nCaps - 1;
  }

  // Moves every inner record to the stride of 1 + nCaps slots: the same handles, at their new
  // offsets, with their header, kids and min keys (the aggregate columns are rebuild's to fill).
  private relayInner(): void {
    const old = this.ir;
    const ir = innerStride(1 + this.nCaps);
    const recs = Math.max(8, this.iCount);
    const I = new Float64Array(recs * ir);
    for (let h = 1; h < this.iCount; h++) I.set(this.I.subarray(h * old, h * old + I_AGG), h * ir);
    this.I = I;
    this.ir = ir;
  }

  // Recomputes every aggregate under t (depth d above the leaves) into this.tmp.
  private rebuild(t: number, d: number): void {
    if (d === 0) { this.leafAgg(t * LR); return; }
    const o = t * this.ir;
    for (let c = 0; c < (this.I[o + I_N] | 0); c++) {
      this.rebuild((this.I[o + I_KID + c] | 0), d - 1);
      for (let j = 0; j < 1 + this.nCaps; j++) this.I[o + I_AGG + j * FAN + c] = this.tmp[j];
    }
    this.innerAgg(o);
  }

  // Recomputes the aggregates of the leaf at record offset o into its L_AGG slots and this.tmp.
  private leafAgg(o: number): void {
    leafAggAll(this.L, o, this.j0, 1 + this.nCaps, this.alignOf, this.invOf, this.tmp);
  }

  // The entry [lo, ...] of the leaf at o now has the larger gap g (see leafRaise).
  private raise(o: number, lo: number, g: number): void {
    this.arg[ARG_LO] = lo;
    this.arg[ARG_G] = g;
    leafRaise(this.L, o, this.arg, this.j0, 1 + this.nCaps, this.alignOf, this.invOf);
  }

  // An entry of the leaf at o that had gap g lost its gap or part of it (see leafLower).
  private lower(o: number, lo: number, g: number): void {
    this.arg[ARG_LO] = lo;
    this.arg[ARG_G] = g;
    leafLower(this.L, o, this.arg, this.j0, 1 + this.nCaps, this.alignOf, this.invOf);
  }

  // Leaf h's L_AGG slots are current: write them and its min key into its parent, and up.
  private pushLeaf(h: number): void {
    const o = h * LR;
    const L = this.L;
    const K = 1 + this.nCaps;
    for (let j = 0; j < K; j++) this.tmp[j] = L[o + L_AGG + j];
    this.propagate(h, true, (L[o + L_PAR] | 0), (L[o + L_N] | 0) > 0 ? L[o + L_LO] : 0);
  }

  // this.tmp = the aggregates of the inner node at record offset o (from its children's slots).
  private innerAgg(o: number): void {
    innerAggAll(this.I, o, this.j0, 1 + this.nCaps, this.tmp);
  }

  // The index of node h (depth d above the leaves, parent p != 0) in p's kids; refreshes h's hint.
  private pixOf(h: number, d: number, p: number): number {
    if (d === 0) {
      const c = kidIndex(this.I, p * this.ir, h, this.L[h * LR + L_PIX] | 0);
      this.L[h * LR + L_PIX] = c;
      return c;
    }
    const c = kidIndex(this.I, p * this.ir, h, this.I[h * this.ir + I_PIX] | 0);
    this.I[h * this.ir + I_PIX] = c;
    return c;
  }

  // Writes this.tmp (child's aggregates) and the child's min key into its parent's slot, and up
  // (see propagateUp).
  private propagate(child: number, leaf: boolean, parent: number, minKey: number): void {
    if (parent === 0) return;
    this.arg[ARG_MIN] = minKey;
    propagateUp(this.I, this.ir, this.j0, 1 + this.nCaps, this.tmp, this.oldv, this.pixOf(child, leaf ? 0 : 1, parent), parent, this.arg);
  }

  // After leaf h's entries changed: refresh its aggregates and min key up to the root.
  private refreshLeaf(h: number): void {
    const o = h * LR;
    this.leafAgg(o);
    this.propagate(h, true, (this.L[o + L_PAR] | 0), (this.L[o + L_N] | 0) > 0 ? this.L[o + L_LO] : 0);
  }

  private refreshInner(h: number): void {
    const o = h * this.ir;
    this.innerAgg(o);
    this.propagate(h, false, (this.I[o + I_PAR] | 0), this.I[o + I_MIN]);
  }

  /**
   * The highest node with pfn_lo <= key whose gap holds a block of `size` pages aligned to
   * 2^order placed as iova.c places it (k = capIndex(order) >= 0), or whose gap is >= size
   * (k = -1: order 0, or a candidate for the caller to test when the order has no index), or NIL.
   * A node found is where the here* accessors read.
   */
  rightmostFit(key: number, size: number, k: number): number {
    return this.fits(key, size, k) ? this.idAt(this.lo_, this.li) : NIL;
  }

  /**
   * rightmostFit from the entry the last look-up stopped at (here*), as rightmostFit(hereLo(),
   * size, k) without locating that key again.
   */
  rightmostFitHere(size: number, k: number): number {
    return this.fitsHere(size, k) ? this.idAt(this.lo_, this.li) : NIL;
  }

  /** rightmostFit without the node's id (none is assigned): whether there is one (then here*). */
  fits(key: number, size: number, k: number): boolean {
    if (k < 0 && this.j0 !== 0) this.indexGaps();
    this.arg[ARG_KEY] = key; // small enough to inline: the key reaches fitFrom unboxed
    return this.fitFrom(size, k);
  }

  /** rightmostFitHere without the node's id (none is assigned): whether there is one (then here*). */
  fitsHere(size: number, k: number): boolean {
    if (k < 0 && this.j0 !== 0) this.indexGaps();
    return this.fitAt(size, k);
  }

  // Starts maintaining the gap slot: one O(n) pass over the tree, as capIndex's for a new order.
  private indexGaps(): void {
    this.j0 = 0;
    this.rebuild(this.root, this.height);
  }

  private fitFrom(size: number, k: number): boolean {
    this.locateArg();
    return this.fitAt(size, k);
  }

  // rightmostFit from the look-up's stop (lo_, li): whether a node fits (then at lo_, li).
  private fitAt(size: number, k: number): boolean {
    const a = k >= 0 ? this.alignOf[k] : 1;
    const inv = k >= 0 ? this.invOf[k] : 1;
    const slot = k + 1;
    const L = this.L;
    const I = this.I;
    let o = this.lo_;
    // record offsets in locals (an imported constant is a context load, with checks, on every use)
    const LH = L_HI - 1; // + i: pfn_hi of the entry below entry i (L_PHI for i = 0)
    const LL = L_LO;
    const F = FAN;
    const R = this.ir;
    // the leaf's own aggregate bounds every entry's: below the size, no entry here fits
    const first = L[o + L_AGG + slot] >= size ? this.li : -1;
    for (let i = first, hb = o + LH, lb = o + LL; i >= 0; i--) {
      const g = L[lb + i] - L[hb + i] - 1;
      if (g < size) continue;
      if (k >= 0) {
        const g0 = L[lb + i] - g; // capOf(lo, g, a, inv) >= size, spelt out (see capOf)
        const rem = g0 - Math.floor(g0 * inv) * a;
        if ((rem === 0 ? g : g - (a - rem)) < size) continue;
      }
      this.li = i; // the caller reads the entry with here*
      return true;
    }
    // climb: the rightmost left sibling whose aggregate admits the block, then down its right edge
    let child = (o / LR) | 0;
    let p = (L[o + L_PAR] | 0);
    let d = 1;
    while (p !== 0) {
      const po = p * R;
      let c = this.pixOf(child, d - 1, p) - 1;
      const col = po + I_AGG + slot * F;
      const kb = po + I_KID;
      let kid = c >= 0 ? I[kb + c] : 0; // loaded with the aggregates' lines (see locateArg)
      while (c >= 0 && I[col + c] < size) {
        c--;
        kid = I[kb + c];
      }
      if (c >= 0) {
        let t = kid | 0;
        for (let e = d - 1; e > 0; e--) {
          const to = t * R;
          let x = (I[to + I_N] | 0) - 1;
          const tcol = to + I_AGG + slot * F;
          const tkb = to + I_KID;
          let kid = I[tkb + x]; // loaded with the aggregates' lines (see locateArg)
          while (x >= 0 && I[tcol + x] < size) {
            x--;
            kid = I[tkb + x];
          }
          if (x < 0) throw new Error('iova-btree: aggregate without a matching child');
          t = kid | 0;
        }
        o = t * LR;
        touchLeaf(L, o, this.sink); // the insert and the aggregates' pass follow here
        for (let i = (L[o + L_N] | 0) - 1, hb = o + LH, lb = o + LL; i >= 0; i--) {
          const g = L[lb + i] - L[hb + i] - 1;
          if (g < size) continue;
          if (k >= 0) {
            const g0 = L[lb + i] - g; // capOf(lo, g, a, inv) >= size, spelt out (see capOf)
            const rem = g0 - Math.floor(g0 * inv) * a;
            if ((rem === 0 ? g : g - (a - rem)) < size) continue;
          }
          // the caller's next look-ups (gap, insert) are in this leaf: make it the finger
          this.lo2_ = this.lo_;
          this.lo_ = o;
          this.li = i;
          return true;
        }
        throw new Error('iova-btree: aggregate without a matching entry');
      }
      child = p;
      p = (I[po + I_PAR] | 0);
      d++;
    }
    return false;
  }

  /** iova_insert_rbtree: links detached node `n` (its pfn_lo must not be in the tree). */
  insert(n: number): void {
    this.arg[ARG_NLO] = this.rec[n * 4];
    this.arg[ARG_NHI] = this.rec[n * 4 + 1];
    this.insertArg(n + this.rec[n * 4 + 2] * FLAG_UNIT);
  }

  /**
   * insert() of a new node [lo, hi] with no flags and no id (as insertRangeBeforeHere, located by
   * its pfn_lo): the node gets an id only when a look-up that returns ids first returns it. An
   * allocator's top-down fill inserts every node this way (each below the lowest one, where the
   * walk has no gap to insert before): with ids, every leaf would keep a side block, a line of
   * another page on every look-up of its entries. [lo, hi] must not overlap a node in the tree.
   */
  insertRange(lo: number, hi: number): void {
    this.arg[ARG_NLO] = lo;
    this.arg[ARG_NHI] = hi;
    this.insertArg(NIL);
  }

  // insert() of the node [arg[ARG_NLO], arg[ARG_NHI]] whose leaf id slot is `slot` (id + flags *
  // FLAG_UNIT; id NIL: none yet).
  private insertArg(slot: number): void {
    const lo = this.arg[ARG_NLO];
    const hi = this.arg[ARG_NHI];
    this.locate(lo);
    if ((this.L[this.lo_ + L_N] | 0) === LEAF && holesOf(this.L, this.lo_) === 0) {
      this.splitLeaf((this.lo_ / LR) | 0);
      this.locate(lo);
    }
    const L = this.L;
    const o = this.lo_;
    const i = this.li + 1;
    const cnt = (L[o + L_N] | 0);
    const predHi = L[o + L_HI + i - 1]; // L_PHI for i = 0; a hole carries it
    const at = this.place(o, i, cnt, slot);
    // The new node splits its successor's gap in two: aggregates change only where the
    // successor's old value was a max (lower), or in another leaf (raise).
    if (i < cnt) {
      const sLo = L[o + L_LO + at + 1];
      this.lower(o, sLo, sLo - predHi - 1);
    } else {
      this.raise(o, lo, lo - predHi - 1);
      const q = (L[o + L_NEXT] | 0);
      if (q !== 0) {
        const qo = q * LR;
        const sLo = L[qo + L_LO];
        L[qo + L_PHI] = hi;
        this.lower(qo, sLo, sLo - predHi - 1);
        this.pushLeaf(q);
      }
    }
    this.pushLeaf((o / LR) | 0);
    this.size++;
  }

  // Puts the node [arg[ARG_NLO], arg[ARG_NHI]] with id slot `slot` between entries i - 1 and i of
  // the leaf at o (cnt slots; entry i is live, or i = cnt) and returns its index; its successor,
  // when in this leaf, is then at that index + 1. A hole right below i takes it as it is: a free
  // and the allocation that reuses its gap (the tree path's common pair) move no entry. Else the
  // entries between i and the nearest hole move one index toward it; a leaf without holes (not
  // full: the caller splits a full one) moves i..cnt-1 up. L_PHI of the next leaf is the caller's
  // to set. One loop over the two blocks per move (copyWithin is a runtime call: ~40 ns each),
  // block offsets in locals (an imported constant is a context load, with checks, on every use);
  // the side block, where the leaf keeps one, moves with them.
  private place(o: number, i: number, cnt: number, slot: number): number {
    const L = this.L;
    const bl = o + L_LO;
    const bh = o + L_HI;
    const side = L[o + L_HOLES] >= SIDE_UNIT;
    const xb = side ? this.xb(o) : 0;
    let at = i;
    if (i > 0 && L[bl + i - 1] > L[bh + i - 1]) {
      at = i - 1;
      L[o + L_HOLES] -= 1;
    } else {
      // the nearest hole, above i (r) or below i - 1 (l): holes are interior (1..cnt - 2), and
      // i - 1 (above) and i are live; with none, the leaf grows by one (the caller splits a full one)
      let r = cnt;
      let l = 0;
      if (holesOf(L, o) === 0) L[o + L_N] = cnt + 1;
      else {
        for (let d = 1; r === cnt && l === 0; d++) {
          if (i + d < cnt - 1 && L[bl + i + d] > L[bh + i + d]) r = i + d;
          else if (i - 1 - d >= 1 && L[bl + i - 1 - d] > L[bh + i - 1 - d]) l = i - 1 - d;
          else if (i + d >= cnt - 1 && i - 1 - d < 1) throw new Error('iova-btree: a leaf counts a hole it does not have');
        }
        L[o + L_HOLES] -= 1;
      }
      if (l > 0) {
        for (let x = l; x < i - 1; x++) {
          L[bl + x] = L[bl + x + 1];
          L[bh + x] = L[bh + x + 1];
        }
        if (side) this.X.copyWithin(xb + l, xb + l + 1, xb + i);
        at = i - 1;
      } else {
        for (let x = r - 1; x >= i; x--) {
          L[bl + x + 1] = L[bl + x];
          L[bh + x + 1] = L[bh + x];
        }
        if (side) this.X.copyWithin(xb + i + 1, xb + i, xb + r);
      }
    }
    L[bl + at] = this.arg[ARG_NLO];
    L[bh + at] = this.arg[ARG_NHI];
    if (side) this.X[xb + at] = 0; // a new entry: no slot counted yet
    if (slot !== 0) this.setSlot(o, at, slot);
    return at;
  }

  /**
   * iova_insert_rbtree of detached node `n` whose range lies in the gap of the entry the last
   * look-up stopped at (here*: c, found by rightmostFit), i.e. between c and the node below it:
   * it goes in right before c, in c's leaf, which the walk has just loaded. insert() would locate
   * its pfn_lo, and when c is the first entry of its leaf, land at the end of the leaf before it
   * (another cold leaf, a descent, and two leaves to update).
   * @throws Error when n does not lie in c's gap (a caller bug).
   */
  insertBeforeHere(n: number): void {
    this.arg[ARG_NLO] = this.rec[n * 4];
    this.arg[ARG_NHI] = this.rec[n * 4 + 1];
    this.insertArgBeforeHere(n + this.rec[n * 4 + 2] * FLAG_UNIT);
  }

  /**
   * insertBeforeHere of a new node [lo, hi] with no flags and no id: newNode is not called, and
   * the node gets an id (and a record) only when a look-up that returns ids (find, floor, ceil,
   * prev, next, first, rightmostFit, forEach) first returns it. An allocator that tracks its nodes
   * by pfn_lo (IovaDomain) never asks: a new id's record is a random line of a 10 MB pool, and
   * its store, and the free list's link in the freed id's record, stalled every tree-path pair.
   * @throws Error when [lo, hi] does not lie in c's gap (a caller bug).
   */
  insertRangeBeforeHere(lo: number, hi: number): void {
    this.arg[ARG_NLO] = lo;
    this.arg[ARG_NHI] = hi;
    this.insertArgBeforeHere(NIL);
  }

  private insertArgBeforeHere(slot: number): void {
    const L = this.L;
    const o = this.lo_;
    const i = this.li;
    const cnt = (L[o + L_N] | 0);
    if (cnt === LEAF && holesOf(L, o) === 0) {
      this.insertArg(slot); // a split: the general path
      return;
    }
    const lo = this.arg[ARG_NLO];
    const hi = this.arg[ARG_NHI];
    const cLo = L[o + L_LO + i];
    const predHi = L[o + L_HI + i - 1]; // the node below c (L_PHI for i = 0)
    if (!(hi < cLo && lo > predHi)) throw new Error(`iova-btree: [${lo}, ${hi}] is not in the gap below ${cLo}`);
    const oldG = cLo - predHi - 1;
    this.place(o, i, cnt, slot);
    // both pieces of c's gap are at most its old value: only slots where that was the max change
    this.lower(o, cLo, oldG);
    this.pushLeaf((o / LR) | 0); // a new first entry moves the leaf's min key too
    this.size++;
  }

  // Splits full leaf h in half (LEAF / 2 entries each), whatever the insert's index: a sequential
  // fill (the allocator's top-down one inserts at index 0, leaf after leaf) so leaves its leaves
  // with LEAF / 2 entries, and churn must add LEAF / 2 net inserts to a leaf before it splits
  // again. A split runs cold (its code and the new leaf's lines, ~8 us where a plain pair takes
  // ~1.6 us): at 300K live under the bench's random churn, leaves 3/4 full of 64 split in 0.01 to
  // 0.05 % of pairs (up to half of the pairs above the 99.9th percentile); 28 of 56 split once in
  // 3M pairs, and 20 of 40 (with holes) 3 times in 1.2M.
  private splitLeaf(h: number): void {
    this.lo_ = 0; // the fingers may now point at the wrong half
    this.lo2_ = 0;
    const r = this.newLeaf();
    const L = this.L;
    const o = h * LR;
    const ro = r * LR;
    const cnt = (L[o + L_N] | 0);
    const half = cnt >> 1;
    const m = cnt - half;
    move(L, ro + L_LO, o + L_LO + half, m);
    move(L, ro + L_HI, o + L_HI + half, m);
    if (L[o + L_HOLES] >= SIDE_UNIT) {
      // a full leaf has no holes: L_HOLES is the side count alone
      const X = this.X;
      const b = this.xb(o);
      const rb = this.xb(ro);
      move(X, rb, b + half, m);
      const all = L[o + L_HOLES];
      let sl = 0;
      for (let x = 0; x < half; x++) if (X[b + x] !== 0) sl += SIDE_UNIT;
      L[o + L_HOLES] = sl;
      L[ro + L_HOLES] = all - sl;
    }
    L[ro + L_PHI] = L[o + L_HI + half - 1];
    L[ro + L_N] = m;
    L[o + L_N] = half;
    const nx = (L[o + L_NEXT] | 0);
    L[ro + L_NEXT] = nx;
    if (nx !== 0) L[nx * LR + L_PREV] = r;
    L[ro + L_PREV] = h;
    L[o + L_NEXT] = r;
    this.addSibling(h, r, 0, L[ro + L_LO]);
    this.refreshLeaf(h);
    this.refreshLeaf(r);
  }

  private parentOf(h: number, d: number): number {
    return d === 0 ? (this.L[h * LR + L_PAR] | 0) : (this.I[h * this.ir + I_PAR] | 0);
  }

  // Node h (depth d above the leaves) is now kid `ci` of p.
  private setParent(h: number, d: number, p: number, ci: number): void {
    if (d === 0) {
      this.L[h * LR + L_PAR] = p;
      this.L[h * LR + L_PIX] = ci;
    } else {
      this.I[h * this.ir + I_PAR] = p;
      this.I[h * this.ir + I_PIX] = ci;
    }
  }

  // Inserts `r` (depth d above the leaves, smallest key rKey) right after `left` in left's parent,
  // splitting upward as needed.
  private addSibling(left: number, r: number, d: number, rKey: number): void {
    let p = this.parentOf(left, d);
    if (p === 0) {
      p = this.newInner();
      const po = p * this.ir;
      this.I[po + I_N] = 1;
      this.I[po + I_KID] = left;
      this.I[po + I_MIN] = d === 0 ? this.L[left * LR + L_LO] : this.I[left * this.ir + I_MIN];
      this.I.fill(-1, po + I_AGG, po + I_AGG + FAN * (1 + this.nCaps));
      this.setParent(left, d, p, 0);
      this.root = p;
      this.height++;
    }
    if ((this.I[p * this.ir + I_N] | 0) === FAN) {
      this.splitInner(p, d + 1, this.pixOf(left, d, p) + 1);
      p = this.parentOf(left, d);
    }
    const I = this.I;
    const po = p * this.ir;
    const cnt = (I[po + I_N] | 0);
    const ci = this.pixOf(left, d, p) + 1;
    // the later siblings move up one index; their hints go stale (kidIndex)
    move(I, po + I_KID + ci + 1, po + I_KID + ci, cnt - ci);
    move(I, po + I_MIN + ci + 1, po + I_MIN + ci, cnt - ci);
    const K = 1 + this.nCaps;
    for (let j = 0; j < K; j++) {
      const col = po + I_AGG + j * FAN;
      move(I, col + ci + 1, col + ci, cnt - ci);
      I[col + ci] = -1;
    }
    I[po + I_N] = cnt + 1;
    I[po + I_KID + ci] = r;
    I[po + I_MIN + ci] = rKey;
    this.setParent(r, d, p, ci);
  }

  // Splits inner node h (depth d above the leaves) in two, before a child goes in at index `at`.
  private splitInner(h: number, d: number, at: number): void {
    const r = this.newInner();
    const I = this.I;
    const o = h * this.ir;
    const ro = r * this.ir;
    const cnt = (I[o + I_N] | 0);
    const half = splitPoint(cnt, at);
    move(I, ro + I_KID, o + I_KID + half, cnt - half);
    move(I, ro + I_MIN, o + I_MIN + half, cnt - half);
    for (let j = 0; j < 1 + this.nCaps; j++) move(I, ro + I_AGG + j * FAN, o + I_AGG + j * FAN + half, cnt - half);
    I[ro + I_N] = cnt - half;
    I[o + I_N] = half;
    for (let c = 0; c < cnt - half; c++) this.setParent((I[ro + I_KID + c] | 0), d - 1, r, c);
    this.addSibling(h, r, d, I[ro + I_MIN]);
    this.refreshInner(h);
    this.refreshInner(r);
  }

  /** rb_erase: unlinks node `n` (which must be in the tree) and frees its id. */
  remove(n: number): void {
    this.locate(this.rec[n * 4]);
    this.removeHere();
  }

  /**
   * rb_erase of the entry the last look-up stopped at (li >= 0), and frees its id. The removed
   * node's successor (rb_next before the erase; every node but the last has one) is then in
   * nextLo and nextHi; nextHi is NaN when reading it would have cost a cold leaf (see
   * growFirstGap).
   */
  removeHere(): void {
    const L = this.L;
    const o = this.lo_;
    const i = this.li;
    const bl = o + L_LO;
    const bh = o + L_HI;
    const side = L[o + L_HOLES] >= SIDE_UNIT;
    const xb = side ? this.xb(o) : 0;
    const predHi = L[bh + i - 1]; // the live entry below's (a hole carries it), L_PHI for i = 0
    const cnt = (L[o + L_N] | 0);
    const rLo = L[bl + i];
    const rG = rLo - predHi - 1;
    const slot = side ? this.X[xb + i] : 0;
    const n = slot | 0;
    if (slot !== 0) L[o + L_HOLES] -= SIDE_UNIT;
    let left: number; // slots left in the leaf
    if (i === cnt - 1) {
      // the last entry goes with the holes right below it (a leaf's last entry is live)
      let m = i;
      while (m > 0 && L[bl + m - 1] > L[bh + m - 1]) m--;
      L[o + L_HOLES] -= i - m;
      L[o + L_N] = m;
      left = m;
      // The successor is the next leaf's first entry: its gap absorbs the removed node and its
      // gap there; here the removed value is lost.
      const q = (L[o + L_NEXT] | 0);
      if (q !== 0) this.growFirstGap(o, q, predHi);
      this.lower(o, rLo, rG);
    } else {
      let s = i + 1; // the successor: the first live entry above i
      if (i > 0 && predHi + 1 > predHi) {
        // inside the leaf: entry i becomes a hole carrying predHi, and so do the holes right
        // above it (they carried its pfn_hi); nothing moves (see place)
        L[bl + i] = predHi + 1;
        L[bh + i] = predHi;
        while (L[bl + s] > L[bh + s]) {
          L[bl + s] = predHi + 1;
          L[bh + s] = predHi;
          s++;
        }
        L[o + L_HOLES] += 1;
        left = cnt;
      } else {
        // the first entry (a leaf's first entry is live; or a pfn_hi at 2^53 and above, where
        // + 1 is not exact) goes with the holes right above it: the entries above move down
        while (L[bl + s] > L[bh + s]) s++;
        const k = s - i;
        for (let x = i, e = cnt - k; x < e; x++) {
          L[bl + x] = L[bl + x + k];
          L[bh + x] = L[bh + x + k];
        }
        if (side) move(this.X, xb + i, xb + i + k, cnt - k - i);
        L[o + L_HOLES] -= k - 1;
        L[o + L_N] = cnt - k;
        left = cnt - k;
        s = i;
      }
      // The successor's gap absorbs the removed node and its gap: it only grows, and covers the
      // removed gap, so the leaf's aggregates rise.
      const sLo = L[bl + s];
      this.nextLo = sLo;
      this.nextHi = L[bh + s];
      this.raise(o, sLo, sLo - predHi - 1);
      if (holesOf(L, o) * 2 > left) left = this.compact(o);
    }
    if (left === 0 && this.height > 0) this.dropLeaf((o / LR) | 0);
    else this.pushLeaf((o / LR) | 0);
    this.size--;
    if (n !== NIL) this.freeId(n); // its record is left as it is: not one store to its cold line
  }

  // Squeezes the holes out of the leaf at o (more holes than live entries: every step over them
  // costs), keeping the order; its aggregates do not change (a hole's gap is 0 and the live
  // entries' gaps stay). Returns its entry count.
  private compact(o: number): number {
    const L = this.L;
    const bl = o + L_LO;
    const bh = o + L_HI;
    const side = L[o + L_HOLES] >= SIDE_UNIT;
    const X = this.X;
    const xb = side ? this.xb(o) : 0;
    const cnt = (L[o + L_N] | 0);
    let w = 0;
    for (let x = 0; x < cnt; x++) {
      if (L[bl + x] > L[bh + x]) continue;
      L[bl + w] = L[bl + x];
      L[bh + w] = L[bh + x];
      if (side) X[xb + w] = X[xb + x];
      w++;
    }
    L[o + L_N] = w;
    L[o + L_HOLES] -= holesOf(L, o);
    this.li = -1;
    return w;
  }

  // The first entry of leaf q, the leaf after the one at o, lost its predecessor, o's last entry:
  // its gap now reaches down to predHi (L_PHI), and q's aggregates rise. When q is the next
  // sibling of o's leaf in their parent, its pfn_lo and its aggregates are read from the parent
  // (lines in cache) and q's record is only written: the free of a leaf's last entry then loads
  // no line of the next leaf, a cold one (those frees took ~250 ns more, and the pairs holding
  // them were most of the pairs above the 99.9th percentile). Sets nextLo (and nextHi, or NaN
  // when q's lines were not read) to q's first entry.
  private growFirstGap(o: number, q: number, predHi: number): void {
    const L = this.L;
    const I = this.I;
    const qo = q * LR;
    L[qo + L_PHI] = predHi;
    const R = this.ir;
    const x = nextSiblingAt(L, I, R, o);
    if (x >= 0) {
      const p = L[o + L_PAR] | 0;
      const c = x - p * R; // q's index in the parent
      const sLo = I[x + I_MIN];
      const g = sLo - predHi - 1;
      const K = 1 + this.nCaps;
      let up = false;
      for (let j = this.j0; j < K; j++) {
        const old = I[x + I_AGG + j * FAN]; // q's L_AGG slot, as propagate left it
        let v = g;
        if (j > 0) {
          const a = this.alignOf[j - 1]; // capOf(sLo, g, a, inv), spelt out (see capOf)
          const g0 = sLo - g;
          const rem = g0 - Math.floor(g0 * this.invOf[j - 1]) * a;
          v = rem === 0 ? g : g - (a - rem);
        }
        if (v > old) {
          L[qo + L_AGG + j] = v;
          this.tmp[j] = v;
          up = true;
        } else {
          this.tmp[j] = old;
        }
      }
      this.nextLo = sLo;
      this.nextHi = NaN;
      if (up) {
        this.arg[ARG_MIN] = sLo;
        propagateUp(I, R, this.j0, K, this.tmp, this.oldv, c, p, this.arg);
      }
      return;
    }
    touchLeaf(L, qo, this.sink);
    const sLo = L[qo + L_LO];
    this.nextLo = sLo;
    this.nextHi = L[qo + L_HI];
    this.raise(qo, sLo, sLo - predHi - 1);
    this.pushLeaf(q);
  }

  private freeId(n: number): void {
    if (this.freeTop === this.freeIds.length) {
      const b = new Int32Array(this.freeIds.length * 2);
      b.set(this.freeIds);
      this.freeIds = b;
    }
    this.freeIds[this.freeTop++] = n;
  }

  private dropLeaf(h: number): void {
    this.lo_ = 0; // the fingers may point at the dropped leaf
    this.lo2_ = 0;
    const L = this.L;
    const o = h * LR;
    const pv = (L[o + L_PREV] | 0);
    const nx = (L[o + L_NEXT] | 0);
    if (pv !== 0) L[pv * LR + L_NEXT] = nx;
    if (nx !== 0) L[nx * LR + L_PREV] = pv;
    let child = h;
    let cd = 0; // child's depth
    let p = (L[o + L_PAR] | 0);
    L[o + L_NEXT] = this.lFree;
    this.lFree = h;
    while (p !== 0) {
      const I = this.I;
      const po = p * this.ir;
      const cnt = (I[po + I_N] | 0);
      const ci = this.pixOf(child, cd, p);
      // the later siblings move down one index; their hints go stale (kidIndex)
      move(I, po + I_KID + ci, po + I_KID + ci + 1, cnt - 1 - ci);
      move(I, po + I_MIN + ci, po + I_MIN + ci + 1, cnt - 1 - ci);
      for (let j = 0; j < 1 + this.nCaps; j++) {
        const col = po + I_AGG + j * FAN;
        move(I, col + ci, col + ci + 1, cnt - 1 - ci);
      }
      I[po + I_N] = cnt - 1;
      if (cnt - 1 > 0) {
        this.refreshInner(p);
        break;
      }
      const up = (I[po + I_PAR] | 0);
      I[po + I_PAR] = this.iFree;
      this.iFree = p;
      child = p;
      cd++;
      p = up;
    }
    // collapse a root with one child (an empty root cannot happen: the last leaf is never dropped)
    while (this.height > 0 && (this.I[this.root * this.ir + I_N] | 0) === 1) {
      const old = this.root;
      this.root = (this.I[old * this.ir + I_KID] | 0);
      this.height--;
      this.setParent(this.root, this.height, 0, 0);
      this.I[old * this.ir + I_PAR] = this.iFree;
      this.iFree = old;
    }
  }

  /** Visits every node in ascending pfn_lo order. */
  forEach(visit: (id: number) => void): void {
    for (let h = this.firstLeaf(); h !== 0; h = (this.L[h * LR + L_NEXT] | 0)) {
      const o = h * LR;
      for (let i = 0; i < (this.L[o + L_N] | 0); i++) if (this.L[o + L_LO + i] <= this.L[o + L_HI + i]) visit(this.idAt(o, i));
    }
  }

  /**
   * Visits every node in ascending pfn_lo order with its range and flags, from the leaves (no id
   * is assigned: see insertRangeBeforeHere). `visit` must not change the tree.
   */
  forEachRange(visit: (lo: number, hi: number, flags: number) => void): void {
    for (let h = this.firstLeaf(); h !== 0; h = (this.L[h * LR + L_NEXT] | 0)) {
      const o = h * LR;
      for (let i = 0; i < (this.L[o + L_N] | 0); i++) {
        if (this.L[o + L_LO + i] > this.L[o + L_HI + i]) continue; // a hole
        visit(this.L[o + L_LO + i], this.L[o + L_HI + i], Math.floor(this.slotAt(o, i) / FLAG_UNIT));
      }
    }
  }

  /**
   * The tree's shape, for tests and footprint reports: inner levels above the leaves, leaves,
   * leaf slots in use (entries and holes) and holes (see the file comment).
   */
  shape(): { height: number; leaves: number; slots: number; holes: number } {
    let leaves = 0;
    let slots = 0;
    let holes = 0;
    for (let h = this.firstLeaf(); h !== 0; h = (this.L[h * LR + L_NEXT] | 0)) {
      leaves++;
      slots += this.L[h * LR + L_N] | 0;
      holes += holesOf(this.L, h * LR);
    }
    return { height: this.height, leaves, slots, holes };
  }

  /**
   * Entries whose leaves count an id slot (an id that a look-up made, or flags), over the whole
   * tree, from the leaves' side counts (see XR): for tests and footprint reports.
   */
  slotted(): number {
    let n = 0;
    for (let h = this.firstLeaf(); h !== 0; h = (this.L[h * LR + L_NEXT] | 0)) n += Math.floor(this.L[h * LR + L_HOLES] / SIDE_UNIT);
    return n;
  }

  /** Empties the tree (every id becomes free; indexed orders stay indexed). */
  clear(): void {
    this.lCount = 1;
    this.iCount = 1;
    this.lFree = 0;
    this.iFree = 0;
    this.height = 0;
    this.lo_ = 0;
    this.lo2_ = 0;
    this.root = this.newLeaf();
    this.size = 0;
    this.freeTop = 0;
    this.nextId = 1;
  }
}
