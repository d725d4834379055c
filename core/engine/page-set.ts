/**
 * PageSet: the page-run mappings of a MappingStore (mapping-store.ts), i.e. intervals made of 1 to
 * MAX_RUN whole aligned pages, [P·2^shift, (P + k)·2^shift − 1]. They are what Linux's dma-iommu
 * produces for streaming DMA: drivers/iommu/dma-iommu.c __iommu_dma_map maps
 * iova_align(size + iova_offset(phys)) bytes, i.e. whole granule pages, at a granule-aligned IOVA
 * (the iommu:map trace lines of ../../../shared/reference/trace-formats-and-guest-dma.md show
 * them). So they get a structure whose cost does not grow with the number of live mappings:
 *  - a hash table page → entry, one entry for every page of every run, each telling its run (the
 *    page's index in it, the run's length, phys and flags): translating any address of a run is
 *    one probe, i.e. about one cache miss at a million live mappings (a B+tree pays a cold leaf
 *    search), and MAP / UNMAP of a k-page run are k probes;
 *  - a sparse hierarchical bitmap of the runs' first pages (64-ary levels, each level's non-zero
 *    words in a second hash table, level L word i covering pages [i·64^(L+1), (i+1)·64^(L+1))),
 *    which gives the order: next/prev run start in O(levels) probes (at most 9 levels for 52-bit
 *    page numbers), so range UNMAPs, overlap checks of large MAPs and ordered walks cost O(k) for
 *    k runs found, never O(live mappings). Its updates are held back in a short log and applied in
 *    batches, before any read of the order (see PageSet.note): a MAP or UNMAP of a one-page run
 *    then costs its page-table probe alone, not a second, dependent cache miss on a bitmap word.
 *    A long stream of updates that nobody reads the order of drops the bitmap, and the next read
 *    rebuilds it from the page table (amortized O(1) per update; about 0.1 s once at 1M runs).
 * Both tables use linear probing with backward-shift deletion (no tombstones) and grow by doubling
 * (amortized O(1); a growth rehashes the table once). They never shrink while the domain lives
 * (clear(), i.e. domain destruction or reset, returns them to their initial size): 1M live page
 * entries take a 32 MiB page table.
 *
 * Page numbers are u64 < 2^52 as (hi, lo) u32 halves (hi < 2^20): with a page size of at least
 * 4 KiB, every page of the 64-bit IOVA space fits.
 */
import { Hash64, SW } from './hash64.ts';

/** Highest bitmap level: level 8 has a single word (index 0) for page numbers < 2^52. */
const TOP = 8;
/** Largest flags value a run can carry (bits 28..30 of an entry's key word 0). */
export const RUN_FLAGS_MAX = 7;
/** Most pages in one run (its length - 1 is bits 20..23 of an entry's key word 0). */
export const MAX_RUN = 16;
/**
 * The page table groups pages by 4 (Hash64's groupBits 2) from 2^16 slots on (1 MiB of slots,
 * about this machine's L2 per core): below it the table stays in cache and each page hashes on
 * its own (see Hash64.home).
 */
const PAGE_GROUP_FROM_BITS = 16;
/** Run-start bitmap updates held back (see PageSet.note) before they are applied in one batch. */
const LOG_MAX = 1024;
/** Log entry word 0: bit 31 marks a cleared run start (else set); bits 0..19 the page's hi half. */
const LOG_CLEAR = 0x80000000 | 0;

/** Lowest set bit >= b (0..63) of the 64-bit word (lo, hi), or -1. */
function lowestFrom(lo: number, hi: number, b: number): number {
  if (b < 32) {
    const m = lo & (-1 << b);
    if (m !== 0) return 31 - Math.clz32(m & -m);
    if (hi !== 0) return 63 - Math.clz32(hi & -hi);
    return -1;
  }
  if (b > 63) return -1;
  const m = hi & (-1 << (b - 32));
  return m !== 0 ? 63 - Math.clz32(m & -m) : -1;
}

/** Highest set bit <= b (0..63) of the 64-bit word (lo, hi), or -1. */
function highestUpTo(lo: number, hi: number, b: number): number {
  if (b < 0) return -1;
  if (b >= 32) {
    const m = b === 63 ? hi : hi & ((1 << (b - 31)) - 1);
    if (m !== 0) return 63 - Math.clz32(m);
    return lo !== 0 ? 31 - Math.clz32(lo) : -1;
  }
  const m = b === 31 ? lo : lo & ((1 << (b + 1)) - 1);
  return m !== 0 ? 31 - Math.clz32(m) : -1;
}

/**
 * The set of page runs (see the file comment). Pages are u64 page numbers as (hi, lo) halves,
 * hi < 2^20; a run has k pages (1..MAX_RUN), phys (u64 halves, the address of its first page) and
 * flags (<= RUN_FLAGS_MAX). Results of `find`, `next` and `prev` are left in the public fields, so
 * nothing is allocated.
 */
export class PageSet {
  /**
   * page → entry: key word 0 = USED | flags << 28 | index << 24 | (k - 1) << 20 | pageHi, key
   * word 1 = pageLo, value = the run's physHi, physLo.
   */
  private readonly pages = new Hash64(0xfffff, 8, 2, PAGE_GROUP_FROM_BITS);
  /** bitmap of run starts: key word 0 = USED | level << 24 | indexHi, key word 1 = indexLo, value = bits 0..31, 32..63. */
  private readonly words = new Hash64(0x7fffffff, 4, 0);
  /** Number of runs. */
  private runs = 0;
  /**
   * Bitmap updates not applied yet (see note()): entry i = words [2i, 2i + 2), LOG_CLEAR | pageHi
   * (or pageHi alone for a set) and pageLo; `logN` entries.
   */
  private readonly log = new Int32Array(2 * LOG_MAX);
  private logN = 0;
  /**
   * The bitmap was dropped (see note()): it holds nothing, no update is logged, and the next read
   * of the order rebuilds it from the page table.
   */
  private stale = false;
  /** Updates applied in batches since the order was last read (or rebuilt). */
  private unread = 0;
  /** flush()'s level-0 word keys, and what its prefetch read (kept so the loads are not dropped). */
  private readonly keys = new Int32Array(2 * LOG_MAX);
  private touched = 0;

  /** Result of next/prev: the first page of the run found. */
  pHi = 0;
  pLo = 0;
  /** Result of find: the run's phys halves, flags, length in pages, and the page's index in it. */
  physHi = 0;
  physLo = 0;
  flags = 0;
  length = 0;
  index = 0;

  /** Number of runs in the set. */
  count(): number {
    return this.runs;
  }

  /** Number of pages covered by the runs. */
  pageCount(): number {
    return this.pages.n;
  }

  clear(): void {
    this.pages.clear();
    this.words.clear();
    this.runs = 0;
    this.logN = 0;
    this.stale = false;
    this.unread = 0;
  }

  /**
   * Slot of page (hi, lo), or -1; on a hit its run's phys, flags, length and the page's index are
   * in the result fields.
   */
  find(hi: number, lo: number): number {
    const w = this.pages.find(hi, lo | 0);
    if (w >= 0) this.load(w);
    return w;
  }

  private load(w: number): void {
    const t = this.pages.t;
    const k0 = t[w];
    this.physHi = t[w + 2] >>> 0;
    this.physLo = t[w + 3] >>> 0;
    this.flags = (k0 >>> 28) & RUN_FLAGS_MAX;
    this.index = (k0 >>> 24) & 15;
    this.length = ((k0 >>> 20) & 15) + 1;
  }

  /**
   * Slot of page (hi, lo), or -1, without loading it: the hot path of translation reads the slot
   * itself through the slot* accessors.
   */
  slot(hi: number, lo: number): number {
    return this.pages.find(hi, lo | 0);
  }

  /** The run's phys hi half, from slot w (a slot() result). */
  slotPhysHi(w: number): number {
    return this.pages.t[w + 2] >>> 0;
  }

  /** The run's phys lo half, from slot w. */
  slotPhysLo(w: number): number {
    return this.pages.t[w + 3] >>> 0;
  }

  /** The run's flags, from slot w. */
  slotFlags(w: number): number {
    return (this.pages.t[w] >>> 28) & RUN_FLAGS_MAX;
  }

  /** The page's index in its run, from slot w. */
  slotIndex(w: number): number {
    return (this.pages.t[w] >>> 24) & 15;
  }

  /** The run's length in pages, from slot w. */
  slotLength(w: number): number {
    return ((this.pages.t[w] >>> 20) & 15) + 1;
  }

  /**
   * Adds the run of k pages (1..MAX_RUN) from (hi, lo), none of which may be present, with phys
   * and flags (<= RUN_FLAGS_MAX). The run must not pass page 2^52 - 1.
   */
  add(hi: number, lo: number, k: number, physHi: number, physLo: number, flags: number): void {
    const meta = (flags << 28) | ((k - 1) << 20);
    let ph = hi;
    let pl = lo >>> 0;
    for (let i = 0; i < k; i++) {
      this.pages.add(meta | (i << 24) | ph, pl | 0, physHi | 0, physLo | 0);
      pl = (pl + 1) >>> 0;
      if (pl === 0) ph++;
    }
    this.note(hi, lo | 0);
    this.runs++;
  }

  /**
   * Adds the one-page run at page (hi, lo) with phys and flags (<= RUN_FLAGS_MAX) unless that page
   * belongs to a run: one probe walk for both (MappingStore's MAP of one page). Returns -1 when
   * added; else the slot of the page, whose run is then in the result fields as after find().
   */
  addOne(hi: number, lo: number, physHi: number, physLo: number, flags: number): number {
    const w = this.pages.findOrAdd((flags << 28) | hi, lo | 0, physHi | 0, physLo | 0);
    if (w >= 0) {
      this.load(w);
      return w;
    }
    this.note(hi, lo | 0);
    this.runs++;
    return -1;
  }

  /**
   * Prefetches the page-table slot of page (hi, lo) (see Hash64.touchOne); changes nothing that
   * any method returns.
   */
  touch(hi: number, lo: number): void {
    this.touched = this.pages.touchOne(hi, lo | 0);
  }

  /**
   * Removes the one-page run at page (hi, lo) (the UNMAP of one page, MappingStore.unmapPage):
   * 1 when removed; 0 when no run holds the page; -1, with nothing changed, when the page belongs
   * to a longer run. One probe walk, and no bitmap word lookup (see note()). With `out`, a
   * removed run's phys halves and flags are written to out[0], out[1], out[2] (a typed array, not
   * the result fields: stores into those cost more than the removal, measured).
   */
  removeOne(hi: number, lo: number, out?: Uint32Array): number {
    const pages = this.pages;
    const w = pages.find(hi, lo | 0);
    if (w < 0) return 0;
    const t = pages.t;
    const k0 = t[w];
    // Index (bits 24..27) and length - 1 (bits 20..23) both 0: a run of one page.
    if ((k0 & 0x0ff00000) !== 0) return -1;
    if (out !== undefined) {
      out[0] = t[w + 2];
      out[1] = t[w + 3];
      out[2] = (k0 >>> 28) & RUN_FLAGS_MAX;
    }
    pages.del(w);
    this.note(LOG_CLEAR | hi, lo | 0);
    this.runs--;
    return 1;
  }

  /** Removes the run of k pages that starts at page (hi, lo), whose first page is at slot w (a find() result). */
  removeAt(w: number, hi: number, lo: number, k: number): void {
    this.pages.del(w);
    let ph = hi;
    let pl = lo >>> 0;
    for (let i = 1; i < k; i++) {
      pl = (pl + 1) >>> 0;
      if (pl === 0) ph++;
      const wi = this.pages.find(ph, pl | 0);
      if (wi < 0) throw new Error('page-set: page of a run missing');
      this.pages.del(wi);
    }
    this.note(LOG_CLEAR | hi, lo | 0);
    this.runs--;
  }

  /**
   * The first page of [(hi, lo), (hi, lo) + k - 1] that belongs to a run (k <= MAX_RUN): its
   * offset from (hi, lo), with its run loaded into the result fields; -1 when none does.
   */
  firstIn(hi: number, lo: number, k: number): number {
    let ph = hi;
    let pl = lo >>> 0;
    for (let j = 0; j < k; j++) {
      if (this.find(ph, pl) >= 0) return j;
      pl = (pl + 1) >>> 0;
      if (pl === 0) ph++;
    }
    return -1;
  }

  /**
   * Records a run start set (word0 = pageHi) or cleared (word0 = LOG_CLEAR | pageHi) at page
   * (pageHi, lo) for the bitmap. The bitmap is only read by next/prev and checkInvariants, which
   * apply the log first (flush), so it is exact whenever it is read. Holding the updates back
   * keeps a MAP or UNMAP of a run to its page-table probes: a bitmap word lookup is a second
   * cache miss at a million runs, and a batch of them (flush) is a loop whose lookups do not
   * depend on each other, so the CPU keeps several in flight instead of paying each one in turn
   * between two page-table misses. Updates are applied in order, so a set then a clear of the
   * same start (a MAP then an UNMAP) leaves the bitmap as it was.
   *
   * When the log fills and the updates applied since the order was last read reach a quarter of
   * the page table's slots, the bitmap is dropped instead (`stale`): no further update is logged,
   * and the next read rebuilds it from the page table (rebuild(), O(slots)). That read pays for at
   * least slots/4 updates that skipped the bitmap, so the amortized cost per update stays O(1)
   * (at most about twice the bitmap work the updates skipped), and a stream of MAPs and UNMAPs
   * that never asks for order (the common IOAS and domain workload) pays nothing for it. The
   * price is one slower read after such a stream: at a million runs, a rebuild of tens of ms.
   */
  private note(word0: number, lo: number): void {
    if (this.stale) return;
    const n = this.logN;
    this.log[2 * n] = word0;
    this.log[2 * n + 1] = lo;
    this.logN = n + 1;
    if (n + 1 !== LOG_MAX) return;
    this.unread += LOG_MAX;
    if (this.unread >= this.pages.slots() >> 2) {
      this.words.clear();
      this.logN = 0;
      this.stale = true;
    } else this.flush();
  }

  /** Makes the bitmap exact before a read of the order: rebuilds it, or applies the log. */
  private order(): void {
    this.unread = 0;
    if (this.stale) this.rebuild();
    else if (this.logN !== 0) this.flush();
  }

  /** Builds the bitmap from the page table's run starts (index 0), in prefetched batches. */
  private rebuild(): void {
    this.stale = false;
    this.words.clear();
    const pt = this.pages.t;
    const log = this.log;
    let n = 0;
    for (let w = 0; w < pt.length; w += SW) {
      const k0 = pt[w];
      if (k0 === 0 || (k0 & 0x0f000000) !== 0) continue;
      log[2 * n] = k0 & 0xfffff;
      log[2 * n + 1] = pt[w + 1];
      if (++n === LOG_MAX) {
        this.logN = n;
        this.flush();
        n = 0;
      }
    }
    this.logN = n;
    if (n !== 0) this.flush();
  }

  /** Applies the logged bitmap updates (see note()), in order. */
  private flush(): void {
    const log = this.log;
    const n = this.logN;
    this.logN = 0;
    // Prefetch the level-0 words of the batch (their keys: level 0, index = page >> 6).
    const keys = this.keys;
    const words = this.words;
    for (let i = 0; i < 2 * n; i += 2) {
      const hi = log[i] & 0xfffff;
      keys[i] = hi >>> 6;
      keys[i + 1] = (hi << 26) | (log[i + 1] >>> 6);
    }
    this.touched = words.touch(keys, n);
    for (let i = 0; i < 2 * n; i += 2) {
      const w0 = log[i];
      const lo = log[i + 1];
      // The level-0 word, updated here; the upper levels change only when it appears or empties.
      const w = words.find(keys[i], keys[i + 1]);
      const x = w + 2 + ((lo >>> 5) & 1);
      const bit = 1 << (lo & 31);
      const t = words.t;
      if (w0 >= 0) {
        if (w >= 0) t[x] |= bit;
        else this.setBit(w0, lo);
      } else {
        if (w < 0) throw new Error('page-set: bitmap word missing at level 0');
        t[x] &= ~bit;
        if (t[w + 2] === 0 && t[w + 3] === 0) this.clearBit(w0 & 0xfffff, lo);
      }
    }
  }

  private setBit(hi: number, lo: number): void {
    const words = this.words;
    let ih = hi >>> 6;
    let il = (hi << 26) | (lo >>> 6);
    let b = lo & 63;
    for (let level = 0; level <= TOP; level++) {
      const k0 = (level << 24) | ih;
      let w = words.find(k0, il);
      let wasEmpty = false;
      if (w < 0) {
        w = words.add(k0, il, 0, 0);
        wasEmpty = true;
      }
      const t = words.t;
      t[w + 2 + (b >>> 5)] |= 1 << (b & 31);
      if (!wasEmpty) return;
      b = il & 63;
      il = (ih << 26) | (il >>> 6);
      ih >>>= 6;
    }
  }

  private clearBit(hi: number, lo: number): void {
    const words = this.words;
    let ih = hi >>> 6;
    let il = (hi << 26) | (lo >>> 6);
    let b = lo & 63;
    for (let level = 0; level <= TOP; level++) {
      const w = words.find((level << 24) | ih, il);
      if (w < 0) throw new Error(`page-set: bitmap word missing at level ${level}`);
      const t = words.t;
      t[w + 2 + (b >>> 5)] &= ~(1 << (b & 31));
      if (t[w + 2] !== 0 || t[w + 3] !== 0) return;
      words.del(w);
      b = il & 63;
      il = (ih << 26) | (il >>> 6);
      ih >>>= 6;
    }
  }

  /**
   * The least run start >= page (hi, lo), into pHi/pLo; false when none. O(levels) probes: up
   * the bitmap until a word has a set bit after the current position, then down its lowest bits.
   */
  next(hi: number, lo: number): boolean {
    this.order();
    const words = this.words;
    let ih = hi >>> 6;
    let il = (hi << 26) | (lo >>> 6);
    let from = lo & 63; // first candidate bit at the current level
    for (let level = 0; level <= TOP; level++) {
      const w = words.find((level << 24) | ih, il);
      if (w >= 0) {
        const bit = lowestFrom(words.t[w + 2], words.t[w + 3], from);
        if (bit >= 0) {
          this.descend(level, ih, il, bit, false);
          return true;
        }
      }
      from = (il & 63) + 1; // the child we came from is exhausted
      il = (ih << 26) | (il >>> 6);
      ih >>>= 6;
    }
    return false;
  }

  /** The greatest run start <= page (hi, lo), into pHi/pLo; false when none. O(levels) probes. */
  prev(hi: number, lo: number): boolean {
    this.order();
    const words = this.words;
    let ih = hi >>> 6;
    let il = (hi << 26) | (lo >>> 6);
    let upTo = lo & 63;
    for (let level = 0; level <= TOP; level++) {
      const w = words.find((level << 24) | ih, il);
      if (w >= 0) {
        const bit = highestUpTo(words.t[w + 2], words.t[w + 3], upTo);
        if (bit >= 0) {
          this.descend(level, ih, il, bit, true);
          return true;
        }
      }
      upTo = (il & 63) - 1;
      il = (ih << 26) | (il >>> 6);
      ih >>>= 6;
    }
    return false;
  }

  /** From bit `bit` of word (level, ih, il) down to a page: lowest (or highest) set bits below. */
  private descend(level: number, ih: number, il: number, bit: number, highest: boolean): void {
    const words = this.words;
    let ch = (ih << 6) | (il >>> 26);
    let cl = (il << 6) | bit;
    for (let l = level - 1; l >= 0; l--) {
      const w = words.find((l << 24) | ch, cl);
      if (w < 0) throw new Error(`page-set: bitmap word missing at level ${l}`);
      const lo = words.t[w + 2];
      const hi = words.t[w + 3];
      const b = highest ? highestUpTo(lo, hi, 63) : lowestFrom(lo, hi, 0);
      ch = (ch << 6) | (cl >>> 26);
      cl = (cl << 6) | b;
    }
    this.pHi = ch;
    this.pLo = cl >>> 0;
  }

  /**
   * Consistency checks (every page entry agrees with its run's first entry, every run start has
   * its bitmap bit and every bit a run, every set bit of a level is a non-zero word below it,
   * counts agree); appends problems to `errs`. For tests: O(n).
   */
  checkInvariants(errs: string[]): void {
    this.order();
    const pt = this.pages.t;
    let pages = 0;
    let starts = 0;
    for (let w = 0; w < pt.length; w += SW) {
      if (pt[w] === 0) continue;
      pages++;
      const hi = pt[w] & 0xfffff;
      const lo = pt[w + 1] >>> 0;
      const at = `page ${hi}:${lo}`;
      if (this.pages.find(hi, lo | 0) !== w) errs.push(`${at} not reachable by its probe chain`);
      const i = this.slotIndex(w);
      const k = this.slotLength(w);
      if (i >= k) errs.push(`${at}: index ${i} >= length ${k}`);
      const sl = (lo - i) >>> 0;
      const sh = lo >= i ? hi : hi - 1;
      const sw = this.pages.find(sh, sl | 0);
      if (sw < 0) {
        errs.push(`${at}: first page of its run missing`);
        continue;
      }
      if (this.slotIndex(sw) !== 0 || this.slotLength(sw) !== k || pt[sw + 2] !== pt[w + 2] || pt[sw + 3] !== pt[w + 3] || this.slotFlags(sw) !== this.slotFlags(w)) errs.push(`${at} disagrees with its run's first page`);
      if (i === 0) {
        starts++;
        const ww = this.words.find(hi >>> 6, (hi << 26) | (lo >>> 6));
        const b = lo & 63;
        if (ww < 0 || ((b < 32 ? this.words.t[ww + 2] >>> b : this.words.t[ww + 3] >>> (b - 32)) & 1) === 0) errs.push(`${at} starts a run without its bitmap bit`);
      }
    }
    if (pages !== this.pages.n) errs.push(`page count ${this.pages.n} != ${pages} used slots`);
    if (starts !== this.runs) errs.push(`run count ${this.runs} != ${starts} first pages`);
    const wt = this.words.t;
    let bits0 = 0;
    for (let w = 0; w < wt.length; w += SW) {
      if (wt[w] === 0) continue;
      const level = (wt[w] >>> 24) & 0x7f;
      const ih = wt[w] & 0xffffff;
      const il = wt[w + 1];
      if (wt[w + 2] === 0 && wt[w + 3] === 0) errs.push(`empty bitmap word at level ${level}`);
      if (this.words.find((level << 24) | ih, il) !== w) errs.push(`bitmap word at level ${level} not reachable`);
      for (let b = 0; b < 64; b++) {
        if (((b < 32 ? wt[w + 2] >>> b : wt[w + 3] >>> (b - 32)) & 1) === 0) continue;
        if (level === 0) {
          bits0++;
          const pw = this.pages.find((ih << 6) | (il >>> 26), (il << 6) | b);
          if (pw < 0 || this.slotIndex(pw) !== 0) errs.push('bitmap bit without a run starting there');
        } else if (this.words.find(((level - 1) << 24) | (ih << 6) | (il >>> 26), (il << 6) | b) < 0) {
          errs.push(`bitmap bit at level ${level} without a word below`);
        }
      }
      if (level < TOP) {
        const up = this.words.find(((level + 1) << 24) | (ih >>> 6), (ih << 26) | (il >>> 6));
        const pb = il & 63;
        if (up < 0 || ((pb < 32 ? wt[up + 2] >>> pb : wt[up + 3] >>> (pb - 32)) & 1) === 0) errs.push(`bitmap word at level ${level} not marked above`);
      }
    }
    if (bits0 !== starts) errs.push(`bitmap holds ${bits0} run starts, table ${starts}`);
  }
}
