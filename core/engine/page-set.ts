/**
 * PageSet: the one-page mappings of a MappingStore (mapping-store.ts), i.e. intervals that are
 * exactly one aligned page [P·2^shift, P·2^shift + 2^shift − 1]. They are what Linux's dma-iommu
 * produces for most streaming DMA (one IOVA page per buffer, see
 * ../../../shared/reference/guest-dma.md), so they get a structure whose cost does not grow with
 * the number of live mappings:
 *  - a hash table page → (phys, flags): MAP, UNMAP and translation of a one-page mapping are one
 *    probe, i.e. about one cache miss at a million live mappings (a B+tree pays a cold leaf search);
 *  - a sparse hierarchical bitmap of the pages (64-ary levels, each level's non-zero words in a
 *    second hash table, level L word i covering pages [i·64^(L+1), (i+1)·64^(L+1))), which gives
 *    the order: next/prev set page in O(levels) probes (at most 9 levels for 52-bit page numbers),
 *    so range UNMAPs, overlap checks of large MAPs and ordered walks cost O(k) for k pages found,
 *    never O(live mappings).
 * Both tables use linear probing with backward-shift deletion (no tombstones) and grow by doubling
 * (amortized O(1); a growth rehashes the table once).
 *
 * Page numbers are u64 < 2^52 as (hi, lo) u32 halves (hi < 2^20): with a page size of at least
 * 4 KiB, every page of the 64-bit IOVA space fits.
 */

/** Words per hash slot: key word 0, key word 1, value word 0, value word 1. */
const SW = 4;
/** Key word 0: bit 31 marks a used slot (an empty slot is all zero). */
const USED = 0x80000000 | 0;
/** Highest bitmap level: level 8 has a single word (index 0) for page numbers < 2^52. */
const TOP = 8;
/** Largest flags value a page entry can carry (bits 20..30 of its key word 0). */
export const PAGE_FLAGS_MAX = 0x7ff;

function slotHash(khi: number, klo: number, bits: number): number {
  return Math.imul(klo ^ Math.imul(khi, 0x85ebca6b), 0x9e3779b1) >>> (32 - bits);
}

/**
 * Open-addressing hash table of 64-bit keys with two 32-bit value words per slot, in one Int32Array
 * (slot i = words [4i, 4i + 4)). Key word 0 carries USED in bit 31; `keyMask` selects the bits of
 * word 0 that belong to the key (the others carry a payload that equality ignores).
 */
class Hash64 {
  t: Int32Array;
  private bits: number;
  private mask: number;
  /** Used slots. */
  n = 0;

  constructor(private readonly keyMask: number, private readonly minBits: number) {
    this.bits = minBits;
    this.mask = (1 << minBits) - 1;
    this.t = new Int32Array(SW << minBits);
  }

  clear(): void {
    this.bits = this.minBits;
    this.mask = (1 << this.minBits) - 1;
    this.t = new Int32Array(SW << this.minBits);
    this.n = 0;
  }

  /** Word index of the slot holding key (khi, klo), or -1. */
  find(khi: number, klo: number): number {
    const t = this.t;
    const km = this.keyMask;
    let i = slotHash(khi, klo, this.bits);
    for (;;) {
      const w = i * SW;
      const k0 = t[w];
      if (k0 === 0) return -1;
      if ((k0 & km) === khi && t[w + 1] === klo) return w;
      i = (i + 1) & this.mask;
    }
  }

  /**
   * Adds a key that is not present: word0 = USED | payload | khi (khi = word0 & keyMask), value
   * (v0, v1). Returns its word index.
   */
  add(word0: number, klo: number, v0: number, v1: number): number {
    if ((this.n + 1) * 2 > this.mask + 1) this.grow();
    const t = this.t;
    let i = slotHash(word0 & this.keyMask, klo, this.bits);
    while (t[i * SW] !== 0) i = (i + 1) & this.mask;
    const w = i * SW;
    t[w] = word0 | USED;
    t[w + 1] = klo;
    t[w + 2] = v0;
    t[w + 3] = v1;
    this.n++;
    return w;
  }

  /** Removes the slot at word index w (backward-shift deletion keeps every probe chain intact). */
  del(w: number): void {
    const t = this.t;
    const mask = this.mask;
    let i = w / SW;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const jw = j * SW;
      const k0 = t[jw];
      if (k0 === 0) break;
      const home = slotHash(k0 & this.keyMask, t[jw + 1], this.bits);
      // The entry at j may move to the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      const iw = i * SW;
      t[iw] = k0;
      t[iw + 1] = t[jw + 1];
      t[iw + 2] = t[jw + 2];
      t[iw + 3] = t[jw + 3];
      i = j;
    }
    const iw = i * SW;
    t[iw] = 0;
    t[iw + 1] = 0;
    t[iw + 2] = 0;
    t[iw + 3] = 0;
    this.n--;
  }

  private grow(): void {
    const old = this.t;
    this.bits++;
    this.mask = (1 << this.bits) - 1;
    this.t = new Int32Array(SW << this.bits);
    this.n = 0;
    for (let w = 0; w < old.length; w += SW) {
      if (old[w] !== 0) this.add(old[w], old[w + 1], old[w + 2], old[w + 3]);
    }
  }
}

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
 * The set of one-page mappings (see the file comment). Pages are u64 page numbers as (hi, lo)
 * halves, hi < 2^20; each carries phys (u64 halves) and flags (<= PAGE_FLAGS_MAX). Results of
 * `find`/`next`/`prev` are left in the public fields, so nothing is allocated.
 */
export class PageSet {
  /** page → phys: key word 0 = USED | flags << 20 | pageHi, key word 1 = pageLo, value = physHi, physLo. */
  private readonly pages = new Hash64(0xfffff, 4);
  /** bitmap words: key word 0 = USED | level << 24 | indexHi, key word 1 = indexLo, value = bits 0..31, 32..63. */
  private readonly words = new Hash64(0x7fffffff, 4);

  /** Result of next/prev: the page found. */
  pHi = 0;
  pLo = 0;
  /** Result of find/at: phys halves and flags of the page. */
  physHi = 0;
  physLo = 0;
  flags = 0;

  /** Number of pages in the set. */
  count(): number {
    return this.pages.n;
  }

  clear(): void {
    this.pages.clear();
    this.words.clear();
  }

  /** Slot of page (hi, lo), or -1; on a hit its phys and flags are in physHi/physLo/flags. */
  find(hi: number, lo: number): number {
    const w = this.pages.find(hi, lo | 0);
    if (w >= 0) this.load(w);
    return w;
  }

  /**
   * Slot of page (hi, lo), or -1, without loading it: the hot path of translation reads the slot
   * itself through slotPhysHi/slotPhysLo/slotFlags.
   */
  slot(hi: number, lo: number): number {
    return this.pages.find(hi, lo | 0);
  }

  /** phys hi half of slot w (a slot() result). */
  slotPhysHi(w: number): number {
    return this.pages.t[w + 2] >>> 0;
  }

  /** phys lo half of slot w. */
  slotPhysLo(w: number): number {
    return this.pages.t[w + 3] >>> 0;
  }

  /** flags of slot w. */
  slotFlags(w: number): number {
    return (this.pages.t[w] >>> 20) & PAGE_FLAGS_MAX;
  }

  private load(w: number): void {
    const t = this.pages.t;
    this.physHi = t[w + 2] >>> 0;
    this.physLo = t[w + 3] >>> 0;
    this.flags = (t[w] >>> 20) & PAGE_FLAGS_MAX;
  }

  /** Adds page (hi, lo), which must be absent, with phys and flags (<= PAGE_FLAGS_MAX). */
  add(hi: number, lo: number, physHi: number, physLo: number, flags: number): void {
    this.pages.add((flags << 20) | hi, lo | 0, physHi | 0, physLo | 0);
    this.setBit(hi, lo | 0);
  }

  /** Removes the page at slot w (a find() result), whose number is (hi, lo). */
  removeAt(w: number, hi: number, lo: number): void {
    this.pages.del(w);
    this.clearBit(hi, lo | 0);
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
      if (b < 32) t[w + 2] |= 1 << b;
      else t[w + 3] |= 1 << (b - 32);
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
      if (b < 32) t[w + 2] &= ~(1 << b);
      else t[w + 3] &= ~(1 << (b - 32));
      if (t[w + 2] !== 0 || t[w + 3] !== 0) return;
      words.del(w);
      b = il & 63;
      il = (ih << 26) | (il >>> 6);
      ih >>>= 6;
    }
  }

  /**
   * The least page >= (hi, lo) in the set, into pHi/pLo; false when none. O(levels) probes: up
   * the bitmap until a word has a set bit after the current position, then down its lowest bits.
   */
  next(hi: number, lo: number): boolean {
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

  /** The greatest page <= (hi, lo) in the set, into pHi/pLo; false when none. O(levels) probes. */
  prev(hi: number, lo: number): boolean {
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
   * Consistency checks (every page has its bitmap bit, every set bit of a level is a non-zero
   * word below it, counts agree); appends problems to `errs`. For tests: O(n).
   */
  checkInvariants(errs: string[]): void {
    const pt = this.pages.t;
    let pages = 0;
    for (let w = 0; w < pt.length; w += SW) {
      if (pt[w] === 0) continue;
      pages++;
      const hi = pt[w] & 0xfffff;
      const lo = pt[w + 1];
      const ww = this.words.find(hi >>> 6, (hi << 26) | (lo >>> 6));
      const b = lo & 63;
      if (ww < 0 || ((b < 32 ? this.words.t[ww + 2] >>> b : this.words.t[ww + 3] >>> (b - 32)) & 1) === 0) errs.push(`page ${hi}:${lo >>> 0} without its bitmap bit`);
      if (this.pages.find(hi, lo) !== w) errs.push(`page ${hi}:${lo >>> 0} not reachable by its probe chain`);
    }
    if (pages !== this.pages.n) errs.push(`page count ${this.pages.n} != ${pages} used slots`);
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
          if (this.pages.find((ih << 6) | (il >>> 26), (il << 6) | b) < 0) errs.push('bitmap bit without a page');
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
    if (bits0 !== pages) errs.push(`bitmap holds ${bits0} pages, table ${pages}`);
  }
}
