/**
 * Node mechanics of the mapping store's B+tree (the interval semantics and the lookup cache are in
 * interval-store.ts, the public API in mapping-store.ts): pooled typed-array nodes, search, descent
 * with a recorded path, leaf insertion with splits, run removal with borrowing/merging. Keys are
 * interval starts, u64 held as (hi, lo) u32 halves.
 *
 * Layout. Node n of a pool is one contiguous block of u32 words:
 *  - leaf (LS words = 2 KiB): entry j at LW·j = startHi, startLo, endHi, endLo, physHi, physLo,
 *    flags, pad (two entries per 64-byte line, so a search probe and the final load share lines);
 *  - internal (IS words = 1 KiB): slot i at IW·i = separator of child i (hi, lo; key[0] unused),
 *    child id, pad.
 * Keys and values stay interleaved on purpose: measured at 1M live mappings, splitting each node
 * into a dense key section and a value section did not speed up random MAP/UNMAP (the cost is the
 * DRAM/TLB latency of one cold leaf per operation) and slowed ring-pattern inserts by ~20% (every
 * shift became two memmoves instead of one).
 *
 * Invariants:
 *  - leaf entries are sorted by start; the leaves form a doubly linked list in key order;
 *  - every key in the subtree of child i of an internal node lies in [key[i], key[i+1]). Separators
 *    may be stale-low after deletions (a separator is <= the smallest key of its subtree), so a
 *    floor search that lands before a leaf's first key continues at the last entry of the previous
 *    leaf;
 *  - every non-root node holds at least LMIN / IMIN entries (rebalanced by borrowing or merging);
 *  - pathNode/pathIdx describe the last descend() until the tree is next modified.
 */
import { IntervalResult } from './interval-result.ts';
import { TWO32, u64 } from './u64.ts';

/** Entries per leaf. */
export const LCAP = 64;
/** Minimum entries in a non-root leaf. */
export const LMIN = 16;
/** Children per internal node. */
export const ICAP = 64;
/** Minimum children in a non-root internal node. */
export const IMIN = 16;
/** u32 words per leaf entry: startHi, startLo, endHi, endLo, physHi, physLo, flags, pad. */
export const LW = 8;
/** u32 words per internal slot: keyHi, keyLo, child, pad. */
export const IW = 4;
/** Words per leaf: 2 KiB. */
export const LS = LCAP * LW;
/** Words per internal node: 1 KiB. */
export const IS = ICAP * IW;
const MAX_DEPTH = 48; // > log_16(2^64) + 1: the path stack never overflows

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
 * The B+tree (see the file comment). Subclassed by IntervalStore, which adds the interval checks
 * and fills the inherited result slots; every method here trusts its arguments (u32 halves,
 * positions inside the node).
 */
export class MappingBTree extends IntervalResult {
  /** Leaf pool: leaf L occupies words [L·LS, (L + 1)·LS). */
  protected lv!: Uint32Array;
  protected lCnt!: Int32Array;
  protected lNext!: Int32Array;
  protected lPrev!: Int32Array;
  private lTop = 0;
  private lFree: number[] = [];
  /** Internal pool: node N occupies words [N·IS, (N + 1)·IS). */
  protected iv!: Uint32Array;
  protected iCnt!: Int32Array;
  private iTop = 0;
  private iFree: number[] = [];

  /** Sink of lfloor's line touches (kept so the loads are not optimized away). */
  protected touched = 0;
  protected root = 0;
  /** Number of internal levels above the leaves (0: the root is a leaf). */
  protected height = 0;
  protected n = 0;
  // Total mapped bytes = totHi * 2^32 + totLo, kept exact in doubles (totHi <= 2^32).
  private totHi = 0;
  private totLo = 0;

  protected readonly pathNode = new Int32Array(MAX_DEPTH);
  protected readonly pathIdx = new Int32Array(MAX_DEPTH);
  /** Result of seekFloor: leaf and slot of the floor entry. */
  protected fLeaf = -1;
  protected fSlot = -1;

  constructor() {
    super();
    this.resetTree();
  }

  /** Empties the tree and shrinks the pools back to their initial size. */
  protected resetTree(): void {
    const leaves = 16;
    const internals = 4;
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

  private addBytes(sHi: number, sLo: number, eHi: number, eLo: number, sign: 1 | -1): void {
    // size = (eHi - sHi) * 2^32 + (eLo - sLo) + 1, added half by half: all exact.
    let lo = this.totLo + sign * (eLo - sLo + 1);
    let hi = this.totHi + sign * (eHi - sHi);
    while (lo >= TWO32) { lo -= TWO32; hi++; }
    while (lo < 0) { lo += TWO32; hi--; }
    this.totLo = lo;
    this.totHi = hi;
  }

  /** Index of the last child whose separator is <= x (0 when none): internal-node search. */
  protected ifloor(node: number, xh: number, xl: number): number {
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
  protected lfloor(leaf: number, xh: number, xl: number): number {
    const v = this.lv;
    const base = leaf * LS;
    let lo = 0;
    let hi = this.lCnt[leaf];
    // Touch every 64-byte line of the used entries first: independent loads that the CPU issues
    // together, so a cold leaf costs about one memory latency instead of one per binary-search
    // probe (measured at 1M live intervals: +18% random MAP/UNMAP through the tree).
    let acc = 0;
    for (let w = base + LW * hi - 16; w >= base; w -= 16) acc |= v[w];
    this.touched = acc;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const w = base + mid * LW;
      const h = v[w];
      if (h < xh || (h === xh && v[w + 1] <= xl)) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Descends to the leaf whose key range holds x, recording the path; returns the leaf. */
  protected descend(xh: number, xl: number): number {
    let node = this.root;
    for (let d = 0; d < this.height; d++) {
      const i = this.ifloor(node, xh, xl);
      this.pathNode[d] = node;
      this.pathIdx[d] = i;
      node = this.iv[node * IS + i * IW + 2];
    }
    this.pathNode[this.height] = node;
    return node;
  }

  protected leftmostLeaf(): number {
    let node = this.root;
    for (let d = this.height; d > 0; d--) node = this.iv[node * IS + 2];
    return node;
  }

  /** Positions fLeaf/fSlot on the entry with the greatest start <= x; false when none. */
  protected seekFloor(xh: number, xl: number): boolean {
    let node = this.root;
    for (let d = this.height; d > 0; d--) node = this.iv[node * IS + this.ifloor(node, xh, xl) * IW + 2];
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

  /** Copies `count` leaf entries (keys and values) from slot `from` of `src` to slot `to` of `dst` (overlap-safe). */
  private moveEntries(src: number, from: number, dst: number, to: number, count: number): void {
    if (count <= 0) return;
    const v = this.lv;
    const sb = src * LS;
    const db = dst * LS;
    v.copyWithin(db + LW * to, sb + LW * from, sb + LW * (from + count));
  }

  /** Copies `count` internal slots (separators and children) from `src`[from] to `dst`[to] (overlap-safe). */
  private moveSlots(src: number, from: number, dst: number, to: number, count: number): void {
    if (count <= 0) return;
    const v = this.iv;
    const sb = src * IS;
    const db = dst * IS;
    v.copyWithin(db + IW * to, sb + IW * from, sb + IW * (from + count));
  }

  /**
   * Inserts entry [s, e] -> phys at slot `pos` of `leaf`, which the last descend() reached (the
   * caller checked order and overlap). Splits the leaf, and upwards, as needed.
   */
  protected insertAt(leaf: number, pos: number, sHi: number, sLo: number, eHi: number, eLo: number, pHi: number, pLo: number, flags: number): void {
    const cnt = this.lCnt[leaf];
    let at = leaf;
    let slot = pos;
    let right = -1;
    if (cnt === LCAP) {
      right = this.newLeaf();
      const half = LCAP >> 1;
      this.moveEntries(leaf, half, right, 0, LCAP - half);
      this.lCnt[leaf] = half;
      this.lCnt[right] = LCAP - half;
      const nx = this.lNext[leaf];
      this.lNext[right] = nx;
      this.lPrev[right] = leaf;
      this.lNext[leaf] = right;
      if (nx >= 0) this.lPrev[nx] = right;
      if (pos > half) {
        at = right;
        slot = pos - half;
      }
    }
    const c = this.lCnt[at];
    const v = this.lv; // newLeaf may have grown the pool
    const b = at * LS;
    if (slot < c) v.copyWithin(b + LW * (slot + 1), b + LW * slot, b + LW * c);
    this.lCnt[at] = c + 1;
    const w = b + LW * slot;
    v[w] = sHi;
    v[w + 1] = sLo;
    v[w + 2] = eHi;
    v[w + 3] = eLo;
    v[w + 4] = pHi;
    v[w + 5] = pLo;
    v[w + 6] = flags;
    if (right >= 0) this.insertChild(this.height - 1, right, v[right * LS], v[right * LS + 1]);
    this.n++;
    this.addBytes(sHi, sLo, eHi, eLo, 1);
  }

  /**
   * Inserts child `child` with separator (kh, kl) right after the child taken at depth `d` of the
   * recorded path; splits upwards as needed. d = -1 means the split node was the root.
   */
  private insertChild(d: number, child: number, kh: number, kl: number): void {
    if (d < 0) {
      const r = this.newInternal();
      const b = r * IS;
      this.iv[b + 2] = this.root;
      this.setSlot(r, 1, kh, kl, child);
      this.iCnt[r] = 2;
      this.root = r;
      this.height++;
      return;
    }
    const node = this.pathNode[d];
    const pos = this.pathIdx[d] + 1;
    const cnt = this.iCnt[node];
    if (cnt < ICAP) {
      this.moveSlots(node, pos, node, pos + 1, cnt - pos);
      this.setSlot(node, pos, kh, kl, child);
      this.iCnt[node] = cnt + 1;
      return;
    }
    // Split a full node: ICAP + 1 children; the left keeps `half`, key[half] moves up.
    const right = this.newInternal();
    const half = (ICAP + 1) >> 1;
    if (pos < half) {
      this.moveSlots(node, half - 1, right, 0, ICAP - half + 1);
      this.moveSlots(node, pos, node, pos + 1, half - 1 - pos);
      this.setSlot(node, pos, kh, kl, child);
    } else {
      const rpos = pos - half;
      this.moveSlots(node, half, right, 0, rpos);
      this.setSlot(right, rpos, kh, kl, child);
      this.moveSlots(node, pos, right, rpos + 1, ICAP - pos);
    }
    this.iCnt[node] = half;
    this.iCnt[right] = ICAP + 1 - half;
    // key[0] of the right node is the separator that goes up.
    const iv = this.iv; // newInternal may have grown the pool
    this.insertChild(d - 1, right, iv[right * IS], iv[right * IS + 1]);
  }

  private setSlot(node: number, i: number, kh: number, kl: number, child: number): void {
    const w = node * IS + IW * i;
    this.iv[w] = kh;
    this.iv[w + 1] = kl;
    this.iv[w + 2] = child;
  }

  /**
   * Removes entries [from, to) of `leaf` (the last descend() reached it) and rebalances. The
   * caller has already dropped any cached copies of them.
   */
  protected dropRun(leaf: number, from: number, to: number): void {
    const v = this.lv;
    const base = leaf * LS;
    for (let j = from; j < to; j++) {
      const w = base + LW * j;
      this.addBytes(v[w], v[w + 1], v[w + 2], v[w + 3], -1);
    }
    const cnt = this.lCnt[leaf];
    if (to < cnt) v.copyWithin(base + LW * from, base + LW * to, base + LW * cnt);
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
    const a = this.iv[pb + IW * li + 2];
    const b = this.iv[pb + IW * (li + 1) + 2];
    const ca = this.lCnt[a];
    const cb = this.lCnt[b];
    if (ca + cb <= LCAP) {
      this.moveEntries(b, 0, a, ca, cb);
      this.lCnt[a] = ca + cb;
      const nx = this.lNext[b];
      this.lNext[a] = nx;
      if (nx >= 0) this.lPrev[nx] = a;
      this.lFree.push(b);
      this.removeChild(d - 1, li + 1);
      return;
    }
    const na = this.redistribute(true, a, b, ca, cb);
    this.lCnt[a] = na;
    this.lCnt[b] = ca + cb - na;
    this.iv[pb + IW * (li + 1)] = this.lv[b * LS];
    this.iv[pb + IW * (li + 1) + 1] = this.lv[b * LS + 1];
  }

  /**
   * Evens out the adjacent siblings a (left) and b, holding ca and cb entries, so that a keeps
   * ⌊(ca + cb) / 2⌋ and b the rest, order preserved: leaf entries when `leaf`, else internal slots.
   * Returns a's new count; the caller stores both counts and fixes the parent separator.
   */
  private redistribute(leaf: boolean, a: number, b: number, ca: number, cb: number): number {
    const na = (ca + cb) >> 1;
    const move = leaf ? this.moveEntries : this.moveSlots;
    if (ca > na) {
      const mv = ca - na;
      move.call(this, b, 0, b, mv, cb);
      move.call(this, a, na, b, 0, mv);
    } else {
      const mv = na - ca;
      move.call(this, b, 0, a, ca, mv);
      move.call(this, b, mv, b, 0, cb - mv);
    }
    return na;
  }

  /** Removes child `ci` (>= 1) of the internal node at depth d and rebalances upwards. */
  private removeChild(d: number, ci: number): void {
    const node = this.pathNode[d];
    const cnt = this.iCnt[node];
    this.moveSlots(node, ci + 1, node, ci, cnt - ci - 1);
    this.iCnt[node] = cnt - 1;
    if (d === 0) {
      if (cnt - 1 === 1) {
        // The root kept a single child: that child becomes the root.
        this.root = this.iv[node * IS + 2];
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
    const sep = pb + IW * (li + 1);
    const a = v[pb + IW * li + 2];
    const b = v[sep + 2];
    const bb = b * IS;
    const ca = this.iCnt[a];
    const cb = this.iCnt[b];
    // The parent separator becomes key[0] of b: then a ++ b is one valid child/key sequence.
    v[bb] = v[sep];
    v[bb + 1] = v[sep + 1];
    if (ca + cb <= ICAP) {
      this.moveSlots(b, 0, a, ca, cb);
      this.iCnt[a] = ca + cb;
      this.iFree.push(b);
      this.removeChild(d - 1, li + 1);
      return;
    }
    const na = this.redistribute(false, a, b, ca, cb);
    this.iCnt[a] = na;
    this.iCnt[b] = ca + cb - na;
    // key[0] of b now holds the lower bound of its first child: it is the new parent separator.
    v[sep] = v[bb];
    v[sep + 1] = v[bb + 1];
  }

  /**
   * Structural checks (order and disjointness, separators, fill, leaf links, count); appends the
   * problems found to `errs`. For tests: O(n).
   */
  protected checkTree(errs: string[]): void {
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
          const w = node * LS + LW * j;
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
        const l = i === 0 ? lo : u64(this.iv[b + IW * i], this.iv[b + IW * i + 1]);
        const h = i === c - 1 ? hi : u64(this.iv[b + IW * (i + 1)], this.iv[b + IW * (i + 1) + 1]);
        walk(this.iv[b + IW * i + 2], depth + 1, l, h);
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
  }
}
