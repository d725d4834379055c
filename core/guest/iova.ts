/**
 * The guest's IOVA allocator: Linux's drivers/iommu/iova.c and include/linux/iova.h, modelled call
 * for call so that every sequence of calls returns the IOVA the kernel returns. Facts and their
 * sources: ../shared/reference/trace-formats-and-guest-dma.md part B2; the code read is current
 * mainline iova.c (with the 2023 depot rework: a list of full magazines trimmed by delayed work),
 * restated here, not copied.
 *
 * Units: pfns and sizes are in IOVA pages (`granule` bytes each); a pfn is < 2^52 for a 4 KiB
 * granule, exact in a double. Limits given to the public calls are inclusive, as alloc_iova's and
 * alloc_iova_fast's `limit_pfn`; internally, as in the kernel, `__alloc_and_insert_iova_range` works
 * on `limit_pfn + 1`.
 *
 * Parts: the tree of allocated and reserved nodes (iova-btree.ts, a B+tree in place of the
 * kernel's rbtree, with the IOVA_ANCHOR node), the two cached nodes that decide where the top-down walk starts, the
 * max32_alloc_size fast-fail hint, and the rcache (per-order, per-CPU loaded/prev magazines and a
 * depot trimmed by delayed work). Where older kernels differ it is said beside the rule.
 */
import { IovaTree, NIL } from './iova-btree.ts';

// Slots of IovaDomain.dbl: allocAndInsert's `limit` (exclusive; walk's too), walk's `low_pfn` and
// start (pfn_lo of the node it starts at), and the pfn allocAndInsert and walk found.
const D_LIMIT = 0;
const D_LOW = 1;
const D_START = 2;
const D_PFN = 3;

/** IOVA_ANCHOR (iova.c): `~0UL`, the pfn of the anchor node above all usable space (2^64 as a double). */
export const IOVA_ANCHOR = 2 ** 64;
/** IOVA_RANGE_CACHE_MAX_SIZE (iova.c): rcache orders 0..5, i.e. sizes of 1..32 pages. */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** IOVA_MAG_SIZE (iova.c): pfns per magazine; 127 so a magazine is 1 KiB (128 in 5.x kernels). */
export const IOVA_MAG_SIZE = 127;
/** IOVA_DEPOT_DELAY (iova.c, 2023 depot rework): the depot trim work runs 100 ms after being queued. */
export const IOVA_DEPOT_DELAY_MS = 100;

/** Node flag: inserted or extended by reserve_iova. */
const F_RESERVED = 1;
const ORDERS = IOVA_RANGE_CACHE_MAX_SIZE;
const MAG = IOVA_MAG_SIZE;
const TWO32 = 4294967296;
/** 2^i for i = 0..63 (a table: `2 ** i` with a variable exponent is a pow() call). */
const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);

/** fls_long(x) for 0 <= x < 2^53: the 1-based index of the highest set bit, 0 for 0. */
function fls(x: number): number {
  return x < TWO32 ? 32 - Math.clz32(x) : 32 + fls(Math.floor(x / TWO32));
}

/** order_base_2(n): ceil(log2(n)), 0 for n <= 1. */
function orderBase2(n: number): number {
  return n <= 1 ? 0 : fls(n - 1);
}

/** Counters of the allocator's paths (cumulative). */
export interface IovaStats {
  /** alloc_iova_fast served from a magazine. */
  rcacheHits: number;
  /** alloc_iova_fast of a cacheable size (<= 32 pages after rounding) that the rcache could not serve. */
  rcacheMisses: number;
  /** Nodes allocated by the top-down walk (alloc_iova and alloc_iova_fast's fallback). */
  treeAllocs: number;
  /** Nodes removed from the tree (free_iova, magazines returning pfns). */
  treeFrees: number;
  /** alloc_iova_fast retries after flushing every CPU's rcache and the depot. */
  flushes: number;
  /** 32-bit requests failed at once by the max32_alloc_size hint (`goto iova32_full`). */
  max32Fails: number;
  /** WARN_ON(!iova) in iova_magazine_free_pfns: a cached pfn with no node (a bogus free_iova_fast). */
  warnings: number;
}

/**
 * One `struct iova_domain`: init_iova_domain + iova_domain_init_rcaches in the constructor,
 * put_iova_domain in putIovaDomain. Not thread-aware: `cpu` arguments select the per-CPU magazines
 * (raw_cpu_ptr), calls are serialised by the caller as the kernel's locks serialise them.
 */
export class IovaDomain {
  /** IOVA page size in bytes (power of two >= 4096). */
  readonly granule: number;
  /** log2(granule): iova_shift. */
  readonly shift: number;
  /** Lowest pfn the walk may hand out (dma-iommu passes max(1, aperture_start >> shift)). */
  readonly startPfn: number;
  /** dma_32bit_pfn = 1 << (32 - shift): the first pfn at or above 4 GiB. */
  readonly dma32BitPfn: number;
  /** CPUs with rcaches (for_each_possible_cpu = for_each_online_cpu here). */
  readonly cpus: number;
  /** Path counters. */
  readonly stats: IovaStats = { rcacheHits: 0, rcacheMisses: 0, treeAllocs: 0, treeFrees: 0, flushes: 0, max32Fails: 0, warnings: 0 };
  /**
   * Called with the rcache order whenever schedule_delayed_work(&rcache->work, IOVA_DEPOT_DELAY)
   * queues that order's depot work (not when it is already pending): a clock that wants the
   * kernel's exact timing runs depotWork(order) IOVA_DEPOT_DELAY_MS later.
   */
  onDepotWorkScheduled: ((order: number) => void) | undefined = undefined;

  private readonly t = new IovaTree();
  /** walk() found the node whose gap takes the new one, and left the tree there (here*). */
  private fitInHere = false;
  // cached_node and cached32_node, by their ranges: pfn_lo identifies a node (no two share one),
  // so the domain needs no node ids, and the tree makes none on the hot path (a new id's record
  // is a random line of a 10 MB pool: IovaTree.insertRangeBeforeHere). Set wherever the kernel
  // sets a cached node; reserveIova's rekey updates them. A pfn_hi may be NaN, not read yet
  // (see cachedHiOf).
  private cachedLo = IOVA_ANCHOR;
  private cachedHi = IOVA_ANCHOR;
  private cached32Lo = IOVA_ANCHOR;
  private cached32Hi = IOVA_ANCHOR;
  private max32AllocSize: number;
  private dead = false;
  // rcache: magazines in a pool; loaded/prev per (order * cpus + cpu); depot per order (a stack
  // linked through magNext, as mainline's `mag->next` list; 5.x kernels had a fixed array of
  // MAX_GLOBAL_MAGS = 32 and, when it was full, returned the magazine's pfns to the tree at once).
  private magPfns = new Float64Array(64 * MAG);
  private magSize = new Int32Array(64);
  private magNext = new Int32Array(64);
  private magFree = -1;
  private magCount = 0;
  private readonly loaded: Int32Array;
  private readonly prevMag: Int32Array;
  private readonly depot = new Int32Array(ORDERS).fill(-1);
  private readonly depotLen = new Int32Array(ORDERS);
  private workPending = 0;

  /**
   * init_iova_domain(iovad, granule, start_pfn) and iova_domain_init_rcaches: the anchor at
   * IOVA_ANCHOR, both cached nodes on it, max32_alloc_size = dma_32bit_pfn, empty magazines.
   * @throws RangeError for a granule that is not a power of two >= 4096, a negative or fractional
   *   startPfn or cpus < 1 (caller bugs; the kernel BUG_ONs on a bad granule).
   */
  constructor(granule: number, startPfn: number, cpus: number) {
    if (!(granule >= 4096 && granule <= 2 ** 30 && (granule & (granule - 1)) === 0)) throw new RangeError(`iova: granule ${granule} is not a power of two >= 4096`);
    if (!Number.isInteger(startPfn) || startPfn < 0) throw new RangeError(`iova: bad start_pfn ${startPfn}`);
    if (!Number.isInteger(cpus) || cpus < 1) throw new RangeError(`iova: bad cpu count ${cpus}`);
    this.granule = granule;
    this.shift = 31 - Math.clz32(granule);
    this.startPfn = startPfn;
    this.dma32BitPfn = 2 ** (32 - this.shift);
    this.max32AllocSize = this.dma32BitPfn;
    this.cpus = cpus;
    this.t.insert(this.t.newNode(IOVA_ANCHOR, IOVA_ANCHOR, 0)); // both cached nodes on it
    this.loaded = new Int32Array(ORDERS * cpus);
    this.prevMag = new Int32Array(ORDERS * cpus);
    for (let i = 0; i < ORDERS * cpus; i++) {
      this.loaded[i] = this.magAlloc();
      this.prevMag[i] = this.magAlloc();
    }
  }

  // ---- the tree: __alloc_and_insert_iova_range and its helpers ----

  /**
   * Doubles handed between the allocator's own methods (slots D_*), not as arguments or return
   * values: a pfn is above 2^31, and a double passed to or returned from a call V8 does not inline
   * is boxed in a new heap number (see iova-btree-records.ts, ARG_*).
   */
  private readonly dbl = new Float64Array(4);

  /**
   * __alloc_and_insert_iova_range(iovad, size, limit_pfn + 1, new, size_aligned) with `limit`
   * (exclusive here, as in the kernel) in dbl[D_LIMIT]: the top-down walk from the cached node, the
   * single retry over the skipped top, max32_alloc_size. Returns whether a node was made (false:
   * -ENOMEM); its pfn_lo is then in dbl[D_PFN].
   */
  private allocAndInsert(size: number, sizeAligned: boolean): boolean {
    const limit = this.dbl[D_LIMIT];
    const order = sizeAligned ? fls(size - 1) : 0; // align_mask = ~0UL << fls_long(size - 1)
    if (limit <= this.dma32BitPfn && size >= this.max32AllocSize) {
      this.stats.max32Fails++;
      return false; // goto iova32_full
    }
    // __get_cached_rbnode: limit_pfn <= dma_32bit_pfn picks cached32_node.
    const use32 = limit <= this.dma32BitPfn;
    this.dbl[D_START] = use32 ? this.cached32Lo : this.cachedLo;
    this.dbl[D_LOW] = this.startPfn;
    let found = this.walk(size, order);
    const retryPfn = found ? 0 : this.cachedHiOf(use32);
    // The retry: `low_pfn == start_pfn && retry_pfn < limit_pfn` -> walk [retry_pfn + 1, limit)
    // from iova_find_limit(limit_pfn). (The retry came with 4e89dce72521 "Retry from last rb tree
    // node if iova search fails"; until dcdb3ba7e2a8 "Fix alloc iova overflows issue", 6.2 and
    // 5.15.y stable, retry_pfn was pfn_hi + 1, which wraps to 0 at the anchor: the retry then
    // ran with low_pfn 0 and could hand out pfns below start_pfn. Older kernels restarted at the
    // anchor rather than iova_find_limit: the same result, found more slowly.)
    if (!found && retryPfn < limit) {
      this.dbl[D_START] = this.t.ceilLo(limit);
      this.dbl[D_LOW] = retryPfn + 1;
      found = this.walk(size, order);
    }
    if (!found) {
      this.max32AllocSize = size; // set on every failure, whatever the limit (as the kernel does)
      return false;
    }
    const pfn = this.dbl[D_PFN];
    if (this.fitInHere) this.t.insertRangeBeforeHere(pfn, pfn + size - 1);
    else this.t.insertRange(pfn, pfn + size - 1);
    // __cached_rbnode_insert_update
    if (pfn + size - 1 < this.dma32BitPfn) {
      this.cached32Lo = pfn;
      this.cached32Hi = pfn + size - 1;
    } else {
      this.cachedLo = pfn;
      this.cachedHi = pfn + size - 1;
    }
    this.stats.treeAllocs++;
    return true;
  }

  /**
   * pfn_hi of cached32_node (use32) or cached_node: the retry's retry_pfn. A free that moved the
   * cached node to a successor in another leaf may have left it unread (NaN): it is read here.
   */
  private cachedHiOf(use32: boolean): number {
    const lo = use32 ? this.cached32Lo : this.cachedLo;
    let hi = use32 ? this.cached32Hi : this.cachedHi;
    if (Number.isNaN(hi)) {
      if (!this.t.holds(lo)) throw new Error('iova: the cached node is not in the tree');
      hi = this.t.hereHi();
      if (use32) this.cached32Hi = hi;
      else this.cachedHi = hi;
    }
    return hi;
  }

  /**
   * The `do { ... } while (curr && new_pfn <= curr->pfn_hi && new_pfn >= low_pfn)` loop from node
   * `s`: for curr = s, rb_prev(s), ... with high_pfn = min(limit, curr->pfn_lo) and
   * new_pfn = (high_pfn - size) & align_mask, stop at the first curr whose new_pfn lies above the
   * node below it. Same stopping node as the kernel's walk, found faster: nodes at or above the
   * limit all yield the same new_pfn and can never stop the walk, so it starts at the first node
   * at or above the limit; below the limit, the walk stops at the first node whose gap holds the
   * aligned block, which the tree's per-alignment index finds directly (IovaTree.rightmostFit).
   * new_pfn only decreases along the walk, so once it is below `low` the walk has failed.
   * pfn_lo of s, limit and low_pfn are in dbl[D_START], dbl[D_LIMIT] and dbl[D_LOW]. Returns
   * whether it found new_pfn (then in dbl[D_PFN]); false is the failure exit (`high_pfn < size ||
   * new_pfn < low_pfn`).
   */
  private walk(size: number, order: number): boolean {
    let sLo = this.dbl[D_START];
    const limit = this.dbl[D_LIMIT];
    const low = this.dbl[D_LOW];
    const t = this.t;
    this.fitInHere = false;
    const align = POW2[order];
    let high = sLo;
    if (high >= limit) {
      sLo = t.ceilLo(limit); // the lowest node at or above the limit; the anchor bounds the search
      high = limit;
    }
    if (high < size) return false;
    let pfn = high - size;
    pfn = Math.floor(pfn / align) * align; // & align_mask (align a power of two: exact)
    if (pfn < low) return false;
    if (!t.hasPrev(sLo)) {
      this.dbl[D_PFN] = pfn;
      return true;
    }
    if (pfn > t.hereHi()) {
      // the block fits between s and the node below it, p (p's range from its leaf entry): the
      // new node goes in s's gap, right before s, where the look-up already is
      t.stepHere();
      this.fitInHere = true;
      this.dbl[D_PFN] = pfn;
      return true;
    }
    let key = t.hereLo();
    const k = order === 0 ? -1 : t.capIndex(order);
    for (let first = true; ; first = false) {
      // the first search starts at p, where the look-up is (no second look-up of its pfn_lo)
      const c = first ? t.fitsHere(size, k) : t.fits(key, size, k);
      if (!c) return false; // no gap down to the first node (whose gap is its pfn_lo) holds the block
      const cLo = t.hereLo(); // from c's leaf entry: c's record would be a cache miss
      pfn = cLo - size;
      pfn = Math.floor(pfn / align) * align;
      if (pfn < low) return false;
      if (pfn > cLo - 1 - t.hereGap()) {
        this.fitInHere = true; // the new node goes in c's gap: insertRangeBeforeHere
        this.dbl[D_PFN] = pfn; // above the node below c (pfn_hi = lo - 1 - gap)
        return true;
      }
      key = cLo - 1;
    }
  }

  /**
   * __cached_rbnode_delete_update, then rb_erase and free_iova_mem, for the node the tree's last
   * look-up (t.holds) stopped at: its range comes from that leaf position (IovaTree.here*), its
   * successor from removeHere. `free == cached_iova` is `lo === cached32Lo` (no two nodes share a
   * pfn_lo).
   * The node is never the anchor (the last node, with no rb_next: it is never freed).
   */
  private removeNode(): void {
    const t = this.t;
    const lo = t.hereLo();
    const hi = t.hereHi();
    const moved32 = lo === this.cached32Lo || (hi < this.dma32BitPfn && lo >= this.cached32Lo);
    const moved = lo >= this.cachedLo;
    if (lo < this.dma32BitPfn) this.max32AllocSize = this.dma32BitPfn;
    // rb_next(&free->node), which removeHere reports (its pfn_hi may be left unread: NaN, read
    // when the retry needs it, see cachedHiOf)
    t.removeHere();
    if (moved32) {
      this.cached32Lo = t.nextLo;
      this.cached32Hi = t.nextHi;
    }
    if (moved) {
      this.cachedLo = t.nextLo;
      this.cachedHi = t.nextHi;
    }
    this.stats.treeFrees++;
  }

  /**
   * alloc_iova(iovad, size, limit_pfn, size_aligned): a node of `size` pages at or below
   * `limitPfn` (inclusive), top-down; with sizeAligned its pfn_lo is aligned to
   * roundup_pow_of_two(size) (the size itself is not rounded).
   * @returns pfn_lo, or -1 for NULL (no room, or the max32_alloc_size hint).
   * @throws RangeError for size < 1 (fls_long(size - 1) is undefined; a caller bug).
   */
  allocIova(size: number, limitPfn: number, sizeAligned: boolean): number {
    this.live();
    if (!(size >= 1)) throw new RangeError(`iova: bad size ${size}`);
    this.dbl[D_LIMIT] = limitPfn + 1;
    return this.allocAndInsert(size, sizeAligned) ? this.dbl[D_PFN] : -1;
  }

  /**
   * find_iova: the node holding `pfn` (the anchor excluded).
   * @returns its inclusive range and whether reserve_iova made it, or undefined.
   */
  findIova(pfn: number): { pfnLo: number; pfnHi: number; reserved: boolean } | undefined {
    const t = this.t;
    if (!t.holds(pfn) || t.hereLo() === IOVA_ANCHOR) return undefined;
    return { pfnLo: t.hereLo(), pfnHi: t.hereHi(), reserved: (t.hereFlags() & F_RESERVED) !== 0 };
  }

  /**
   * free_iova: find_iova then remove_iova (cached nodes and max32_alloc_size updated); no-op when
   * no node holds `pfn`. A reserved node is left in place: nothing in Linux frees the nodes
   * iova_reserve_iommu_regions makes (free_iova itself would remove it).
   */
  freeIova(pfn: number): void {
    this.live();
    const t = this.t;
    if (!t.holds(pfn) || t.hereLo() === IOVA_ANCHOR || (t.hereFlags() & F_RESERVED) !== 0) return;
    this.removeNode();
  }

  /**
   * reserve_iova(iovad, pfn_lo, pfn_hi): walking up from the first overlapping node, each
   * overlapping node is widened down to the request's start (__adjust_overlap_range) and the
   * request continues above it; what is left is inserted as a new node. Overlapped nodes are not
   * merged with each other, and allocated ones are widened too (then flagged reserved). The cached
   * nodes are not updated (the kernel does not either).
   * @returns false for NULL: a pfn above ULLONG_MAX >> iova_shift (the kernel WARN_ONs).
   */
  reserveIova(pfnLo: number, pfnHi: number): boolean {
    this.live();
    if (Math.max(pfnLo, pfnHi) > 2 ** (64 - this.shift) - 1) return false;
    const t = this.t;
    let lo = pfnLo;
    // rb_first..: nodes below the first one with pfn_hi >= lo cannot overlap.
    let n = t.floor(lo);
    if (n === NIL || t.hi(n) < lo) n = n === NIL ? t.first() : t.next(n);
    while (n !== NIL && lo <= t.hi(n) && pfnHi >= t.lo(n)) {
      const next = t.next(n);
      const oldLo = t.lo(n);
      if (lo < oldLo) {
        t.remove(n); // rekey in place: same node id (a cached node is still this node)
        const id = t.newNode(lo, t.hi(n), F_RESERVED);
        if (id !== n) throw new Error('iova: node id changed on rekey'); // the tree reuses the freed id
        t.insert(n);
        if (oldLo === this.cachedLo) this.cachedLo = lo;
        if (oldLo === this.cached32Lo) this.cached32Lo = lo;
      }
      t.setFlags(n, t.flags(n) | F_RESERVED);
      if (pfnHi <= t.hi(n)) return true; // goto finish
      lo = t.hi(n) + 1;
      n = next;
    }
    const id = t.newNode(lo, pfnHi, F_RESERVED);
    t.insert(id);
    return true;
  }

  /** Nodes in the tree: allocated, cached in magazines and reserved (the anchor excluded). */
  liveCount(): number {
    return this.t.size - 1;
  }

  /**
   * Visits every node in ascending order: 'reserved' (reserve_iova), 'cached' (allocated but
   * sitting in an rcache magazine, i.e. freed by free_iova_fast and not yet handed out again),
   * 'allocated' (the rest). Inclusive pfn ranges.
   */
  forEachRange(visit: (pfnLo: number, pfnHi: number, kind: 'allocated' | 'reserved' | 'cached') => void): void {
    const cached = new Set<number>();
    const addMag = (m: number): void => {
      for (let i = 0; i < this.magSize[m]; i++) cached.add(this.magPfns[m * MAG + i]);
    };
    if (!this.dead) {
      for (let i = 0; i < ORDERS * this.cpus; i++) { addMag(this.loaded[i]); addMag(this.prevMag[i]); }
      for (let o = 0; o < ORDERS; o++) for (let m = this.depot[o]; m >= 0; m = this.magNext[m]) addMag(m);
    }
    this.t.forEachRange((lo, hi, flags) => {
      if (lo === IOVA_ANCHOR) return;
      visit(lo, hi, (flags & F_RESERVED) !== 0 ? 'reserved' : cached.has(lo) ? 'cached' : 'allocated');
    });
  }

  /**
   * put_iova_domain: frees the rcaches (magazines and depot, pending work cancelled) and every node.
   * Afterwards the domain holds nothing; allocation, free and reserve calls throw (use after free).
   */
  putIovaDomain(): void {
    this.live();
    this.dead = true;
    this.workPending = 0;
    this.depot.fill(-1);
    this.depotLen.fill(0);
    this.t.clear();
    const a = this.t.newNode(IOVA_ANCHOR, IOVA_ANCHOR, 0);
    this.t.insert(a);
  }

  private live(): void {
    if (this.dead) throw new Error('iova: domain used after put_iova_domain');
  }

  // ---- the rcache ----

  private magAlloc(): number {
    let m = this.magFree;
    if (m >= 0) this.magFree = this.magNext[m];
    else {
      m = this.magCount++;
      if (m >= this.magSize.length) {
        const c = this.magSize.length * 2;
        const p = new Float64Array(c * MAG); p.set(this.magPfns); this.magPfns = p;
        const s = new Int32Array(c); s.set(this.magSize); this.magSize = s;
        const nx = new Int32Array(c); nx.set(this.magNext); this.magNext = nx;
      }
    }
    this.magSize[m] = 0;
    return m;
  }

  private magRelease(m: number): void {
    this.magNext[m] = this.magFree;
    this.magFree = m;
  }

  /** iova_magazine_free_pfns: removes every pfn of magazine m from the tree; m becomes empty. */
  private magFreePfns(m: number): void {
    const n = this.magSize[m];
    for (let i = 0; i < n; i++) {
      const t = this.t;
      if (!t.holds(this.magPfns[m * MAG + i]) || t.hereLo() === IOVA_ANCHOR) { this.stats.warnings++; continue; } // WARN_ON(!iova)
      this.removeNode();
    }
    this.magSize[m] = 0;
  }

  private scheduleDepotWork(order: number): void {
    const bit = 1 << order;
    if ((this.workPending & bit) !== 0) return; // already queued: schedule_delayed_work is a no-op
    this.workPending |= bit;
    this.onDepotWorkScheduled?.(order);
  }

  /**
   * alloc_iova_fast(iovad, size, limit_pfn, flush_rcache) on CPU `cpu`: sizes below 32 pages are
   * rounded up to a power of two; orders 0..5 first try this CPU's magazines (the highest-indexed
   * pfn <= limit_pfn + 1 - size in `loaded`, swapped with the top as iova_magazine_pop does; an
   * empty `loaded` swaps with `prev`, both empty loads a full magazine from the depot); then the
   * size-aligned tree walk; on failure with flushRcache, every CPU's magazines and the depot return
   * their pfns to the tree (free_cpu_cached_iovas, free_global_cached_iovas) and the walk runs once
   * more. (The oldest rcache, before it was made limit_pfn-aware in 2017, tried only the top pfn;
   * the comment above iova_rcache_get still says so.)
   * @returns the pfn, or 0 on failure (the kernel's value: a pfn 0 cannot be told from failure).
   */
  allocIovaFast(size: number, limitPfn: number, flushRcache: boolean, cpu: number): number {
    if (this.dead) this.live();
    if (!(size >= 1)) throw new RangeError(`iova: bad size ${size}`);
    if (!(cpu >= 0 && cpu < this.cpus)) throw new RangeError(`iova: bad cpu ${cpu}`);
    if (size < 32) size = size === 1 ? 1 : 1 << (32 - Math.clz32(size - 1)); // roundup_pow_of_two
    else if (size > 32) {
      this.dbl[D_LIMIT] = limitPfn + 1;
      return this.allocSlow(size, flushRcache) ? this.dbl[D_PFN] : 0;
    }
    // iova_rcache_get(iovad, size, limit_pfn + 1) -> __iova_rcache_get(rcache, limit_pfn + 1 - size)
    let lim = limitPfn + 1 - size;
    if (lim < 0) lim += IOVA_ANCHOR; // unsigned wrap, as in the kernel
    const order = 31 - Math.clz32(size);
    const idx = order * this.cpus + cpu;
    let m = this.loaded[idx];
    let n = this.magSize[m];
    if (n === 0) {
      const p = this.prevMag[idx];
      if (this.magSize[p] !== 0) {
        this.prevMag[idx] = m;
        this.loaded[idx] = p;
        m = p;
        n = this.magSize[p];
      } else if (this.depot[order] >= 0) {
        // iova_magazine_free(loaded); loaded = iova_depot_pop(rcache)
        const d = this.depot[order];
        this.depot[order] = this.magNext[d];
        this.depotLen[order]--;
        this.magSize[d] = MAG;
        this.magRelease(m);
        this.loaded[idx] = d;
        m = d;
        n = MAG;
      }
    }
    if (n !== 0) {
      // iova_magazine_pop(mag, limit_pfn)
      const base = m * MAG;
      const pfns = this.magPfns;
      let i = n - 1;
      while (pfns[base + i] > lim) {
        if (i === 0) { i = -1; break; }
        i--;
      }
      if (i >= 0) {
        const pfn = pfns[base + i];
        pfns[base + i] = pfns[base + n - 1];
        this.magSize[m] = n - 1;
        this.stats.rcacheHits++;
        return pfn;
      }
    }
    this.stats.rcacheMisses++;
    this.dbl[D_LIMIT] = limitPfn + 1;
    return this.allocSlow(size, flushRcache) ? this.dbl[D_PFN] : 0;
  }

  // alloc_iova_fast's fallback, with limit_pfn + 1 in dbl[D_LIMIT]: alloc_iova, and on failure (with
  // flushRcache) the rcaches flushed and alloc_iova once more. Returns whether it allocated (the
  // pfn is then in dbl[D_PFN]).
  private allocSlow(size: number, flushRcache: boolean): boolean {
    for (;;) {
      if (this.allocAndInsert(size, true)) return true;
      if (!flushRcache) return false;
      flushRcache = false;
      this.stats.flushes++;
      for (let c = 0; c < this.cpus; c++) this.freeCpuCachedIovas(c);
      this.freeGlobalCachedIovas();
    }
  }

  /**
   * free_iova_fast(iovad, pfn, size) on CPU `cpu`: order_base_2(size) < 6 pushes the pfn onto this
   * CPU's `loaded` magazine (full: swap with `prev`; both full: `loaded` goes to the depot, the
   * depot work is scheduled, a new magazine is loaded); larger sizes go to free_iova. `size` is the
   * caller's unrounded size (its order matches the rounded one). Like the kernel, a cacheable pfn
   * is cached without looking it up: freeing a pfn that was never allocated corrupts the cache
   * exactly as it would in Linux (found later as a WARN_ON, stats.warnings).
   */
  freeIovaFast(pfn: number, size: number, cpu: number): void {
    if (this.dead) this.live();
    if (!(cpu >= 0 && cpu < this.cpus)) throw new RangeError(`iova: bad cpu ${cpu}`);
    const order = size <= 1 ? 0 : size <= TWO32 ? 32 - Math.clz32(size - 1) : orderBase2(size);
    if (order >= ORDERS) { this.freeIova(pfn); return; }
    const idx = order * this.cpus + cpu;
    let m = this.loaded[idx];
    if (this.magSize[m] === MAG) {
      const p = this.prevMag[idx];
      if (this.magSize[p] !== MAG) {
        this.prevMag[idx] = m;
        this.loaded[idx] = p;
        m = p;
      } else {
        // iova_depot_push(rcache, loaded); schedule_delayed_work; loaded = new magazine
        this.magNext[m] = this.depot[order];
        this.depot[order] = m;
        this.depotLen[order]++;
        this.scheduleDepotWork(order);
        m = this.magAlloc();
        this.loaded[idx] = m;
      }
    }
    this.magPfns[m * MAG + this.magSize[m]++] = pfn;
  }

  /** free_cpu_cached_iovas(cpu): `loaded` and `prev` of every order return their pfns to the tree. */
  freeCpuCachedIovas(cpu: number): void {
    this.live();
    for (let o = 0; o < ORDERS; o++) {
      this.magFreePfns(this.loaded[o * this.cpus + cpu]);
      this.magFreePfns(this.prevMag[o * this.cpus + cpu]);
    }
  }

  /** free_global_cached_iovas: every depot magazine returns its pfns to the tree and is freed. */
  freeGlobalCachedIovas(): void {
    this.live();
    for (let o = 0; o < ORDERS; o++) {
      while (this.depot[o] >= 0) {
        const m = this.popDepot(o);
        this.magFreePfns(m);
        this.magRelease(m);
      }
    }
  }

  private popDepot(order: number): number {
    const m = this.depot[order];
    this.depot[order] = this.magNext[m];
    this.depotLen[order]--;
    this.magSize[m] = MAG;
    return m;
  }

  /**
   * One run of iova_depot_work_func for `order`, or for every order whose work is pending: if the
   * depot holds more than num_online_cpus() magazines, the newest one returns its pfns to the tree
   * and the work is scheduled again. Orders whose work is not pending are left alone (the work
   * only exists between schedule_delayed_work and its run).
   */
  depotWork(order?: number): void {
    this.live();
    for (let o = 0; o < ORDERS; o++) {
      const bit = 1 << o;
      if ((order !== undefined && o !== order) || (this.workPending & bit) === 0) continue;
      this.workPending &= ~bit;
      if (this.depotLen[o] > this.cpus) {
        const m = this.popDepot(o);
        this.magFreePfns(m);
        this.magRelease(m);
        this.scheduleDepotWork(o);
      }
    }
  }

  /** Bitmask of rcache orders whose depot work is queued (bit o for order o). */
  depotWorkPending(): number {
    return this.workPending;
  }

  /** Full magazines in the depot: of `order`, or of all orders. */
  depotSize(order?: number): number {
    if (order !== undefined) return this.depotLen[order];
    let s = 0;
    for (let o = 0; o < ORDERS; o++) s += this.depotLen[o];
    return s;
  }

  /** pfns cached in `cpu`'s loaded and prev magazines of `order` (loaded first, oldest first). */
  cpuCached(order: number, cpu: number): { loaded: number[]; prev: number[] } {
    const read = (m: number): number[] => Array.from(this.magPfns.subarray(m * MAG, m * MAG + this.magSize[m]));
    return { loaded: read(this.loaded[order * this.cpus + cpu]), prev: read(this.prevMag[order * this.cpus + cpu]) };
  }
}
