/**
 * Records and aggregates of IovaTree (iova-btree.ts): the layout of leaf and inner records in
 * their Float64Array pools, and the maintenance of the aggregates (the max gap and, per indexed
 * alignment, the max cap_k; see iova-btree.ts for the invariants) in leaves and up the inner
 * nodes. Pure functions on a pool and a record offset, so the tree's hot paths inline them.
 */

/**
 * Entries a leaf can hold: twice what a split leaves in each half (see IovaTree.splitLeaf), so a
 * leaf splits only after its count has drifted up by LEAF / 2 net inserts. Fewer entries per leaf
 * make each pair's work in it (search, shifts, the aggregates' pass) and its cold lines fewer, and
 * splits more frequent: at 300K live in the bench, 28 entries of 56 beat 40 of 80 by ~7 % on the
 * p99.9 of a pair and 24 of 48 by ~6 % (before holes; one split in 3M pairs). With holes, which
 * made a pair's moves few, and ids out of the record, 20 of 40 beat 28 of 56 by ~5 % (median of
 * 16 interleaved rounds; 3 splits, 363 dropped leaves and 991 compactions in 1.2M pairs), 16 of 32
 * and 24 of 48 by ~2-3 %.
 */
export const LEAF = 40;
export const FAN = 32;
/** Alignment orders with an exact index; further orders fall back to the gap index (still exact, slower). */
export const MAX_CAPS = 8;
/** Aggregate slots per child: gap, then one per indexed order. */
export const AGG = 1 + MAX_CAPS;

// Leaf record: n (entries and holes), prev, next, parent, index in the parent (a hint: see
// kidIndex), the leaf's own aggregates (AGG slots), its hole count (holes: see IovaTree) with the
// count of entries that have an id slot (see XR) above it, then the hi and lo blocks. The slot
// just before the hi block (L_PHI) holds pfn_hi of the last entry of the leaves before this one
// (-1 for the first leaf), so an entry's gap is derived, never stored: gap(i) = lo[i] - hi[i - 1]
// - 1 for every i, 0 included (a stored gap block was a quarter of the lines a cold leaf loads and
// a pair shifts). The record is 96 doubles (12 cache lines); a cold leaf costs the lines of its n
// slots, not of its capacity.
export const L_N = 0;
export const L_PREV = 1;
export const L_NEXT = 2;
export const L_PAR = 3;
export const L_PIX = 4;
export const L_AGG = 5;
/** Holes (the low 8 bits: at most LEAF) + SIDE_UNIT * the entries with an id slot (see XR). */
export const L_HOLES = L_AGG + AGG;
/** The side count's unit in L_HOLES: the slot is >= SIDE_UNIT exactly when the leaf keeps id slots. */
export const SIDE_UNIT = 256;

/** The holes of the leaf at record offset o (L_HOLES's low 8 bits). */
export function holesOf(L: Float64Array, o: number): number {
  return (L[o + L_HOLES] | 0) & 255;
}
export const L_PHI = L_HOLES + 1; // 16 header slots, two cache lines
export const L_HI = L_PHI + 1;
export const L_LO = L_HI + LEAF;
export const LR = L_LO + LEAF;
/**
 * Doubles per leaf in the side pool (IovaTree.X, leaf handle h at h * XR): the id block, one slot
 * per entry, id + flags * FLAG_UNIT. Most entries have neither (the allocator's nodes get an id
 * only when a look-up returns one: see IovaTree.insertRangeBeforeHere), so the block lives outside
 * the record and is kept only while the leaf counts an entry with one: a leaf without reads and
 * moves none of it, and a cold leaf loads the lines of two blocks, not three (the id block was a
 * third of a leaf's lines, and the free read one of them for the node's flags).
 */
export const XR = LEAF;
// Inner record: n, parent, index in the parent (a hint: see kidIndex), kids, minKey, then agg as one column of FAN
// children per slot (a slot's scan over the children reads one run of doubles), for the slots the
// tree maintains only (see innerStride).
export const I_N = 0;
export const I_PAR = 1;
export const I_PIX = 2;
export const I_KID = 3;
export const I_MIN = I_KID + FAN;
export const I_AGG = I_MIN + FAN;

/**
 * Doubles per inner record with K aggregate slots (the gap and K - 1 indexed orders): the pool
 * holds the columns in use, not MAX_CAPS + 1 of them (2840 bytes a record), so the inner nodes a
 * look-up descends through take fewer pages and lines (IovaTree re-lays the pool out when an
 * order is indexed).
 */
export function innerStride(K: number): number {
  return I_AGG + FAN * K;
}

// Slots of the tree's argument scratch (IovaTree.arg): doubles handed to functions V8 does not
// inline go through a Float64Array, not as arguments. A pfn is above 2^31, so an argument holding
// one is a boxed HeapNumber: ~12 allocations a pair, a scavenge every ~5000 pairs (0.1-0.2 ms).
/** The key of a leaf look-up (IovaTree.locate). */
export const ARG_KEY = 0;
/** pfn_lo of the entry whose gap changed (leafRaise, leafLower). */
export const ARG_LO = 1;
/** Its gap: the new one (leafRaise) or the old one (leafLower). */
export const ARG_G = 2;
/** The child's smallest pfn_lo (propagateUp). */
export const ARG_MIN = 3;
/** pfn_lo and pfn_hi of a node being inserted (IovaTree.insertBeforeHere and friends). */
export const ARG_NLO = 4;
export const ARG_NHI = 5;
/** Slots in the scratch. */
export const ARGS = 6;

// cap_k of an entry: gap minus the padding that aligns its start g0 = lo - gap up to `a`
// (a power of two with inverse `inv`: floor(g0 * inv) * a is exact in doubles, and far cheaper
// than a division or fmod). The hot paths (setLeafSlotMax, leafRaise, leafLower, IovaTree.fitAt
// and growFirstGap) spell it out: a call V8 leaves out of line (it inlines only sites with feedback, within a
// budget) boxes its three doubles in heap numbers, ~10 allocations a tree-path pair.
export function capOf(lo: number, g: number, a: number, inv: number): number {
  const g0 = lo - g;
  const rem = g0 - Math.floor(g0 * inv) * a;
  return rem === 0 ? g : g - (a - rem);
}

// Aggregate slot j (0: gap, 1 + k: cap_k) of the entry [lo, ...] with gap g.
function valOf(lo: number, g: number, j: number, alignOf: Float64Array, invOf: Float64Array): number {
  return j === 0 ? g : capOf(lo, g, alignOf[j - 1], invOf[j - 1]);
}

// Sets the leaf's aggregate slot j to its max over the entries of the leaf at record offset o (-1
// when it is empty); stored, not returned (a double returned out of line is boxed: see capOf).
function setLeafSlotMax(L: Float64Array, o: number, j: number, alignOf: Float64Array, invOf: Float64Array): void {
  // block offsets hoisted: an imported constant is a context load (with checks) on every use
  const n = (L[o + L_N] | 0);
  const lb = o + L_LO;
  const hb = o + L_HI - 1; // hb + i: pfn_hi of the entry below entry i (L_PHI for i = 0)
  let mc = -1;
  if (j === 0) {
    for (let i = 0; i < n; i++) {
      const g = L[lb + i] - L[hb + i] - 1;
      if (g > mc) mc = g;
    }
    L[o + L_AGG] = mc;
    return;
  }
  const a = alignOf[j - 1];
  const inv = invOf[j - 1];
  for (let i = 0; i < n; i++) {
    const g = L[lb + i] - L[hb + i] - 1;
    if (g <= mc) continue; // cap <= gap
    const g0 = L[lb + i] - g; // capOf, spelt out
    const rem = g0 - Math.floor(g0 * inv) * a;
    const c = rem === 0 ? g : g - (a - rem);
    if (c > mc) mc = c;
  }
  L[o + L_AGG + j] = mc;
}

/**
 * Recomputes aggregates J0..K-1 of the leaf at record offset o into its L_AGG slots and into m
 * (the other slots: -1). J0 is 1 while the gap slot is not maintained (IovaTree.gapIndexed).
 */
export function leafAggAll(L: Float64Array, o: number, J0: number, K: number, alignOf: Float64Array, invOf: Float64Array, m: Float64Array): void {
  for (let j = 0; j < AGG; j++) {
    if (j >= J0 && j < K) setLeafSlotMax(L, o, j, alignOf, invOf);
    else L[o + L_AGG + j] = -1;
    m[j] = L[o + L_AGG + j];
  }
}

// The entry [lo, ...] of the leaf at o now has the larger gap g (lo, g: arg[ARG_LO], arg[ARG_G]):
// raise the leaf's aggregates.
export function leafRaise(L: Float64Array, o: number, arg: Float64Array, J0: number, K: number, alignOf: Float64Array, invOf: Float64Array): void {
  const lo = arg[ARG_LO];
  const g = arg[ARG_G];
  const ab = o + L_AGG;
  if (K <= 3) {
    // the gap and up to two orders (the tree path's case) straight, with no loop over valOf
    if (J0 === 0 && g > L[ab]) L[ab] = g;
    const g0 = lo - g; // capOf, spelt out
    if (K > 1 && g > L[ab + 1]) {
      const a = alignOf[0];
      const rem = g0 - Math.floor(g0 * invOf[0]) * a;
      const c = rem === 0 ? g : g - (a - rem);
      if (c > L[ab + 1]) L[ab + 1] = c;
    }
    if (K > 2 && g > L[ab + 2]) {
      const a = alignOf[1];
      const rem = g0 - Math.floor(g0 * invOf[1]) * a;
      const c = rem === 0 ? g : g - (a - rem);
      if (c > L[ab + 2]) L[ab + 2] = c;
    }
    return;
  }
  for (let j = J0; j < K; j++) {
    const v = valOf(lo, g, j, alignOf, invOf);
    if (v > L[ab + j]) L[ab + j] = v;
  }
}

// An entry of the leaf at o that had gap g (pfn_lo lo; lo, g: arg[ARG_LO], arg[ARG_G]) lost its
// gap or part of it: where its old value was the leaf's max, recompute that slot (splitting a gap
// never raises a cap: every block that fits a part of the gap fits the whole).
export function leafLower(L: Float64Array, o: number, arg: Float64Array, J0: number, K: number, alignOf: Float64Array, invOf: Float64Array): void {
  const lo = arg[ARG_LO];
  const g = arg[ARG_G];
  const ab = o + L_AGG;
  let stale = 0;
  if (K <= 3) {
    // the gap and up to two orders (the tree path's case) straight, with no loop over valOf
    if (J0 === 0 && g >= L[ab]) stale = 1;
    const g0 = lo - g; // capOf, spelt out
    if (K > 1 && g >= L[ab + 1]) {
      const a = alignOf[0];
      const rem = g0 - Math.floor(g0 * invOf[0]) * a;
      if ((rem === 0 ? g : g - (a - rem)) >= L[ab + 1]) stale |= 2;
    }
    if (K > 2 && g >= L[ab + 2]) {
      const a = alignOf[1];
      const rem = g0 - Math.floor(g0 * invOf[1]) * a;
      if ((rem === 0 ? g : g - (a - rem)) >= L[ab + 2]) stale |= 4;
    }
  } else {
    for (let j = J0; j < K; j++) if (g >= L[ab + j] && valOf(lo, g, j, alignOf, invOf) >= L[ab + j]) stale |= 1 << j; // cap <= gap
  }
  if (stale === 0) return;
  if ((stale & (stale - 1)) === 0) {
    for (let j = 0; j < K; j++) if (stale === 1 << j) setLeafSlotMax(L, o, j, alignOf, invOf);
    return;
  }
  // several slots: slots 0..2 in one pass over the leaf with the maxima in locals (each cap_k
  // <= gap, so a gap at or below a slot's running max cannot raise it); further slots one by one
  const n = L[o + L_N] | 0;
  const lo0 = o + L_LO;
  const hb = o + L_HI - 1; // hb + i: pfn_hi of the entry below entry i (L_PHI for i = 0)
  let m0 = (stale & 1) !== 0 ? -1 : L[ab];
  let m1 = K > 1 && (stale & 2) === 0 ? L[ab + 1] : -1;
  let m2 = K > 2 && (stale & 4) === 0 ? L[ab + 2] : -1;
  const a1 = K > 1 ? alignOf[0] : 1;
  const i1 = K > 1 ? invOf[0] : 1;
  const a2 = K > 2 ? alignOf[1] : 1;
  const i2 = K > 2 ? invOf[1] : 1;
  for (let i = 0; i < n; i++) {
    const g = L[lo0 + i] - L[hb + i] - 1;
    if (g > m0) m0 = g;
    if (g > m1 && K > 1) {
      const g0 = L[lo0 + i] - g; // capOf, spelt out
      const rem = g0 - Math.floor(g0 * i1) * a1;
      const c = rem === 0 ? g : g - (a1 - rem);
      if (c > m1) m1 = c;
    }
    if (g > m2 && K > 2) {
      const g0 = L[lo0 + i] - g;
      const rem = g0 - Math.floor(g0 * i2) * a2;
      const c = rem === 0 ? g : g - (a2 - rem);
      if (c > m2) m2 = c;
    }
  }
  L[ab] = m0;
  if (K > 1) L[ab + 1] = m1;
  if (K > 2) L[ab + 2] = m2;
  for (let j = 3; j < K; j++) if ((stale & (1 << j)) !== 0) setLeafSlotMax(L, o, j, alignOf, invOf);
}


/** m = aggregates J0..K-1 of the inner node at record offset o (max over its children's slots; the other slots: -1). */
export function innerAggAll(I: Float64Array, o: number, J0: number, K: number, m: Float64Array): void {
  const n = (I[o + I_N] | 0);
  const ab = o + I_AGG;
  const F = FAN;
  for (let j = 0; j < AGG; j++) {
    const a = ab + j * F;
    let mx = -1;
    if (j >= J0 && j < K) for (let c = 0; c < n; c++) if (I[a + c] > mx) mx = I[a + c];
    m[j] = mx;
  }
}

/**
 * Writes tmp (aggregates J0..K-1 of the child at index ci of `parent`; R: the inner stride) and the child's min key
 * (arg[ARG_MIN]) into the parent's slot, and up; oldv is scratch of AGG slots.
 * Incremental: a parent's aggregates are its old ones (kept in the grandparent's slot) with the
 * changed slots applied — a larger value raises the max; a value that was the max and fell is
 * recomputed over the children for that aggregate only (one column). The root's own aggregates
 * are stored nowhere, so the walk stops below it.
 */
export function propagateUp(I: Float64Array, R: number, J0: number, K: number, tmp: Float64Array, oldv: Float64Array, ci: number, parent: number, arg: Float64Array): void {
  // the record layout in locals: an imported constant is a context load (with checks) on every
  // use; slots 0..2 (the gap and two orders: the tree path's case) in locals too, the rest (more
  // indexed orders) through tmp and oldv
  const F = FAN;
  const AG = I_AGG;
  const minKey = arg[ARG_MIN];
  const s0 = J0 === 0;
  const s1 = K > 1;
  const s2 = K > 2;
  let n0 = tmp[0];
  let n1 = tmp[1];
  let n2 = tmp[2];
  let keyMoves = true;
  while (parent !== 0) {
    const po = parent * R;
    const a = po + AG + ci;
    let same = true;
    let c0 = false;
    let c1 = false;
    let c2 = false;
    let o0 = 0;
    let o1 = 0;
    let o2 = 0;
    if (s0) {
      o0 = I[a];
      if (o0 !== n0) { I[a] = n0; c0 = true; same = false; }
    }
    if (s1) {
      o1 = I[a + F];
      if (o1 !== n1) { I[a + F] = n1; c1 = true; same = false; }
    }
    if (s2) {
      o2 = I[a + 2 * F];
      if (o2 !== n2) { I[a + 2 * F] = n2; c2 = true; same = false; }
    }
    let chg = 0; // slots 3..K-1: bit j when slot j changed (its old value in oldv[j])
    for (let j = 3; j < K; j++) {
      const old = I[a + j * F];
      if (old !== tmp[j]) {
        I[a + j * F] = tmp[j];
        chg |= 1 << j;
        oldv[j] = old;
        same = false;
      }
    }
    if (keyMoves) {
      if (I[po + I_MIN + ci] !== minKey) {
        I[po + I_MIN + ci] = minKey;
        same = false;
      }
      keyMoves = ci === 0;
    }
    if (same) return;
    const gp = (I[po + I_PAR] | 0);
    if (gp === 0) return;
    const gci = kidIndex(I, gp * R, parent, I[po + I_PIX] | 0);
    I[po + I_PIX] = gci;
    const ga = gp * R + AG + gci;
    const n = (I[po + I_N] | 0);
    if (s0) n0 = slotUp(I, I[ga], c0, o0, n0, po + AG, n);
    if (s1) n1 = slotUp(I, I[ga + F], c1, o1, n1, po + AG + F, n);
    if (s2) n2 = slotUp(I, I[ga + 2 * F], c2, o2, n2, po + AG + 2 * F, n);
    for (let j = 3; j < K; j++) tmp[j] = slotUp(I, I[ga + j * F], (chg & (1 << j)) !== 0, oldv[j], tmp[j], po + AG + j * F, n);
    parent = gp;
    ci = gci;
  }
}

// The parent's new value of one aggregate slot: m its old one (from the grandparent's slot); the
// child's value changed (chg) from old to nw; col the slot's column in the parent (n children).
function slotUp(I: Float64Array, m: number, chg: boolean, old: number, nw: number, col: number, n: number): number {
  if (!chg) return m;
  if (nw > m) return nw;
  if (nw < m && old === m) {
    m = -1;
    for (let c = 0; c < n; c++) {
      const v = I[col + c];
      if (v > m) m = v;
    }
  }
  return m;
}

/**
 * The index of child handle h among the kids of the inner node at record offset po. `hint` is the
 * index h's record last saw (L_PIX / I_PIX): a hint, not an invariant, so a split or a dropped
 * sibling does not have to rewrite the index of every later sibling (each a cold record: a split
 * renumbering 16 siblings took ~16 cache misses). A stale hint costs one scan of the parent's kids,
 * after which the caller stores the answer back.
 * @throws Error when h is not a kid of the node (a corrupt tree).
 */
export function kidIndex(I: Float64Array, po: number, h: number, hint: number): number {
  const n = I[po + I_N] | 0;
  const kb = po + I_KID;
  if (hint < n && (I[kb + hint] | 0) === h) return hint;
  for (let c = 0; c < n; c++) if ((I[kb + c] | 0) === h) return c;
  throw new Error('iova-btree: a node is not among its parent\'s kids');
}

/**
 * Whether `key` (arg[ARG_KEY]) falls in the range of the leaf at record offset f (0 = no leaf): at or above its
 * first pfn_lo (or it is the first leaf) and below the next leaf's first pfn_lo. That bound is
 * read from the parent (I), as the next leaf's min key, when the next leaf is this one's next
 * sibling there: the parent's lines are in cache, the next leaf's record is not (for the free's
 * random key, above a finger's range half the time, that read was a cache miss on every pair).
 */
export function leafCovers(L: Float64Array, I: Float64Array, R: number, f: number, arg: Float64Array): boolean {
  const key = arg[ARG_KEY]; // through the scratch: a double argument is boxed (see capOf)
  const fn = L[f + L_N] | 0;
  if (fn === 0 || (key < L[f + L_LO] && (L[f + L_PREV] | 0) !== 0)) return false;
  if (key <= L[f + L_LO + fn - 1]) return true;
  const nx = L[f + L_NEXT] | 0;
  if (nx === 0) return true;
  const x = nextSiblingAt(L, I, R, f);
  return key < (x >= 0 ? I[x + I_MIN] : L[nx * LR + L_LO]);
}

/**
 * Where the parent of the leaf at record offset f keeps the next leaf, when that leaf is f's next
 * sibling there: po + c (po the parent's record offset, R its stride, c the next leaf's index), so
 * its min key is I[x + I_MIN] and its copy of aggregate slot j I[x + I_AGG + j * FAN], lines in
 * cache where the next leaf's own are likely not. -1 when f has no parent, is its last kid, or
 * its index hint (L_PIX) is stale.
 */
export function nextSiblingAt(L: Float64Array, I: Float64Array, R: number, f: number): number {
  const p = L[f + L_PAR] | 0;
  if (p === 0) return -1;
  const po = p * R;
  const c = (L[f + L_PIX] | 0) + 1; // a hint: checked against the kid
  return c < (I[po + I_N] | 0) && (I[po + I_KID + c] | 0) === (L[f + L_NEXT] | 0) ? po + c : -1;
}

/**
 * The first index of the leaf at record offset o whose pfn_lo is above `key` (arg[ARG_KEY]; its entry count if
 * none). A forward scan, 8 entries (one cache line) at a time, then within the line: the lo block
 * is 8 lines that the hardware prefetcher streams in, where a binary search takes ~4 dependent
 * cache misses (~130 ns each once the tree outgrows L2).
 */
export function leafUpper(L: Float64Array, o: number, arg: Float64Array): number {
  const key = arg[ARG_KEY]; // through the scratch: a double argument is boxed (see capOf)
  const n = L[o + L_N] | 0;
  const lo0 = o + L_LO;
  let a = 0;
  while (a + 8 <= n && L[lo0 + a + 7] <= key) a += 8;
  while (a < n && L[lo0 + a] <= key) a++;
  return a;
}

/**
 * Loads one double of every cache line of the leaf at o that holds its entries (n of each of the
 * two blocks, and L_PHI before the hi block), with no dependence between the loads: for a leaf
 * a walk has just reached (its lines likely cold), the misses then overlap, where the search, the
 * shift of a removal or an insert and the aggregates' pass would otherwise wait for them one after
 * another. The sum goes into sink[0], so the loads are kept.
 */
export function touchLeaf(L: Float64Array, o: number, sink: Float64Array): void {
  const n = L[o + L_N] | 0;
  if (n === 0) return;
  const F = LEAF;
  let s = 0;
  for (let b = o + L_HI, e = o + L_LO + F; b < e; b += F) {
    for (let x = 0; x < n; x += 8) s += L[b + x];
    s += L[b + n - 1];
  }
  s += L[o + L_PHI];
  sink[0] = s;
}

/**
 * How many of a full inner node's `cnt` children stay in the left node when a child is about to
 * go in at index `at`: half, or 3/4 on the far side of an insert at either end. A sequential fill
 * (the allocator's top-down one inserts at index 0, node after node) so leaves its inner nodes 3/4
 * full, a B-tree fill factor: fewer inner nodes, and fewer of their lines to keep in cache.
 * (Leaves split in half: see IovaTree.splitLeaf.)
 */
export function splitPoint(cnt: number, at: number): number {
  if (at <= 1) return cnt >> 2;
  if (at >= cnt) return cnt - (cnt >> 2);
  return cnt >> 1;
}

/**
 * Copies n doubles of A from offset src to offset dst (the ranges may overlap). For the rare
 * paths (splits, dropped nodes): TypedArray.prototype.copyWithin is a builtin, as fast in
 * whatever tier V8 runs the caller in, where a JS loop in a function called once every few
 * thousand pairs often runs unoptimized (interpreted: ~20 ns a double).
 */
export function move(A: Float64Array, dst: number, src: number, n: number): void {
  if (n > 0) A.copyWithin(dst, src, src + n);
}

/**
 * A pool twice as large holding a's records. The new half is written once here: a fresh buffer's
 * pages are mapped on first touch, and a page fault (1-3 us in a VM) inside a later split would
 * land in the split's pair, once every other split (a leaf is half a page); here all of them fall
 * into the one call that doubles the pool.
 */
export function grow(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  b.fill(0, a.length);
  return b;
}
