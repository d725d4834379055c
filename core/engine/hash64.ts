/**
 * Hash64: the open-addressing hash table of 64-bit keys under PageSet (page-set.ts): its page
 * table and its run-start bitmap words. Linear probing with backward-shift deletion (no
 * tombstones), growth by doubling at half load, slots of four 32-bit words in one Int32Array.
 */

/** Words per hash slot: key word 0, key word 1, value word 0, value word 1. */
export const SW = 4;
/** Key word 0: bit 31 marks a used slot (an empty slot is all zero). */
export const USED = 0x80000000 | 0;

/**
 * Open-addressing hash table of 64-bit keys with two 32-bit value words per slot, in one Int32Array
 * (slot i = words [4i, 4i + 4)). Key word 0 carries USED in bit 31; `keyMask` selects the bits of
 * word 0 that belong to the key (the others carry a payload that equality ignores).
 *
 * The probe loops are kept short on purpose: at a million keys every probe starts with a cache
 * miss, and the fewer instructions lie between one operation's miss and the next one's, the more
 * of them the CPU overlaps (the table's derived sizes are fields, not recomputed per probe).
 */
export class Hash64 {
  t: Int32Array;
  private bits = 0;
  private mask = 0;
  /** 32 - bits: the right shift that leaves a group's first slot. */
  private sh = 0;
  /** Used slots at which the next add grows the table (half the slots). */
  private limit = 0;
  /** log2 of the key group in use (groupBits from groupFromBits slots on, else 0; see home()). */
  private g = 0;
  /** (1 << g) - 1. */
  private gm = 0;
  /** Used slots. */
  n = 0;

  /**
   * @param keyMask bits of key word 0 that belong to the key.
   * @param minBits log2 of the initial (and minimum) slot count; > groupBits.
   * @param groupBits log2 of the key group whose keys get consecutive home slots (see home()).
   * @param groupFromBits log2 of the slot count from which keys are grouped (below it, each key
   *   hashes on its own; see home()).
   */
  constructor(private readonly keyMask: number, private readonly minBits: number, private readonly groupBits: number, private readonly groupFromBits = 0) {
    this.size(minBits);
    this.t = new Int32Array(SW << minBits);
  }

  clear(): void {
    this.size(this.minBits);
    this.t = new Int32Array(SW << this.minBits);
    this.n = 0;
  }

  private size(bits: number): void {
    this.bits = bits;
    this.mask = (1 << bits) - 1;
    this.sh = 32 - bits;
    this.limit = 1 << (bits - 1);
    this.g = bits >= this.groupFromBits ? this.groupBits : 0;
    this.gm = (1 << this.g) - 1;
  }

  /**
   * Home slot of key (khi, klo). Keys are grouped by 2^g: the key's group (key >> g) is hashed
   * (Fibonacci hashing of a mix of both halves) to a slot, and the key's low g bits are added to
   * it, so the keys of a group have consecutive home slots. The page table uses g = 2: the 4
   * pages of a group lie in one or two adjacent 64-byte lines (slots of 16 bytes), so a short
   * run's pages, and a DMA stream's next page, are mostly in a line already fetched (measured at
   * 1M live mappings with aligned groups: 2-page runs +20%, ring pattern +25%). The group's slot
   * is any slot, not a multiple of 2^g: with aligned groups, keys that use only some offsets in
   * their group (every other page, e.g. one-page areas 8 KiB apart) crowd those offsets and probe
   * longer chains. Grouping pays only when probes miss the cache: a group's keys fill runs of
   * adjacent slots, so the occupied clusters are longer and a deletion's backward shift (which
   * recomputes the home of every key it passes) walks further. A table below 2^groupFromBits
   * slots, which stays in cache, hashes each key on its own (measured on the guest DMA ring, 256
   * live pages in 512 slots: 5 % fewer instructions per dma_map + dma_unmap pair); the growth
   * that crosses the threshold rehashes every key anyway.
   */
  private home(khi: number, klo: number): number {
    const g = this.g;
    const gl = g === 0 ? klo : (khi << (32 - g)) | (klo >>> g);
    return ((Math.imul(gl ^ Math.imul(khi >>> g, 0x85ebca6b), 0x9e3779b1) >>> this.sh) + (klo & this.gm)) & this.mask;
  }

  /** Number of slots (used or not). */
  slots(): number {
    return this.mask + 1;
  }

  /** Word index of the slot holding key (khi, klo), or -1. */
  find(khi: number, klo: number): number {
    const t = this.t;
    const km = this.keyMask;
    const mask = this.mask;
    let i = this.home(khi, klo);
    for (;;) {
      const w = i << 2;
      const k0 = t[w];
      if (k0 === 0) return -1;
      if ((k0 & km) === khi && t[w + 1] === klo) return w;
      i = (i + 1) & mask;
    }
  }

  /**
   * Adds a key that is not present: word0 = USED | payload | khi (khi = word0 & keyMask), value
   * (v0, v1). Returns its word index.
   */
  add(word0: number, klo: number, v0: number, v1: number): number {
    if (this.n >= this.limit) this.grow();
    const t = this.t;
    const mask = this.mask;
    let i = this.home(word0 & this.keyMask, klo);
    while (t[i << 2] !== 0) i = (i + 1) & mask;
    const w = i << 2;
    t[w] = word0 | USED;
    t[w + 1] = klo;
    t[w + 2] = v0;
    t[w + 3] = v1;
    this.n++;
    return w;
  }

  /**
   * Adds key (khi = word0 & keyMask, klo) with value (v0, v1) unless it is present, in one probe
   * walk (find then add walk the same chain twice). Returns -1 when added, else the word index of
   * the slot already holding the key (nothing changed). May grow the table even when the key is
   * present (capacity only).
   */
  findOrAdd(word0: number, klo: number, v0: number, v1: number): number {
    if (this.n >= this.limit) this.grow();
    const t = this.t;
    const km = this.keyMask;
    const mask = this.mask;
    const khi = word0 & km;
    let i = this.home(khi, klo);
    for (;;) {
      const w = i << 2;
      const k0 = t[w];
      if (k0 === 0) {
        t[w] = word0 | USED;
        t[w + 1] = klo;
        t[w + 2] = v0;
        t[w + 3] = v1;
        this.n++;
        return -1;
      }
      if ((k0 & km) === khi && t[w + 1] === klo) return w;
      i = (i + 1) & mask;
    }
  }

  /** Removes the slot at word index w (backward-shift deletion keeps every probe chain intact). */
  del(w: number): void {
    const t = this.t;
    const mask = this.mask;
    const km = this.keyMask;
    let i = w >> 2;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const jw = j << 2;
      const k0 = t[jw];
      if (k0 === 0) break;
      // The entry at j moves to the hole at i unless its home lies cyclically in (i, j].
      if (((j - this.home(k0 & km, t[jw + 1])) & mask) < ((j - i) & mask)) continue;
      const iw = i << 2;
      t[iw] = k0;
      t[iw + 1] = t[jw + 1];
      t[iw + 2] = t[jw + 2];
      t[iw + 3] = t[jw + 3];
      i = j;
    }
    const iw = i << 2;
    t[iw] = 0;
    t[iw + 1] = 0;
    t[iw + 2] = 0;
    t[iw + 3] = 0;
    this.n--;
  }

  /**
   * Reads the home slot of each key of a batch (keys[2i] = khi, keys[2i + 1] = klo, i < n) and
   * returns a value of no meaning: the loads do not depend on each other, so the CPU keeps many of
   * them in flight, and the probes that follow find their lines in cache (a software prefetch).
   */
  touch(keys: Int32Array, n: number): number {
    const t = this.t;
    let acc = 0;
    for (let i = 0; i < 2 * n; i += 2) acc ^= t[this.home(keys[i], keys[i + 1]) << 2];
    return acc;
  }

  /**
   * Reads the home slot of key (khi, klo) and returns its key word 0 (a value of no meaning to
   * callers): a software prefetch, issued before work that does not need the slot, so the cache
   * miss of the probe that follows overlaps that work.
   */
  touchOne(khi: number, klo: number): number {
    return this.t[this.home(khi, klo) << 2];
  }

  private grow(): void {
    const old = this.t;
    this.size(this.bits + 1);
    this.t = new Int32Array(SW << this.bits);
    this.n = 0;
    for (let w = 0; w < old.length; w += SW) {
      if (old[w] !== 0) this.add(old[w], old[w + 1], old[w + 2], old[w + 3]);
    }
  }
}
