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
 * Home slot of key (khi, klo) in a table of 2^bits slots whose keys are grouped by 2^g: the key's
 * group (key >> g) is hashed (Fibonacci hashing of a mix of both halves) to an aligned run of 2^g
 * slots, and the key's low g bits pick the slot in it. The page table uses g = 2: the 4 pages of
 * an aligned group share one 64-byte line (4 slots of 16 bytes), so a short run's pages, and a
 * DMA stream's next page, are mostly in a line already fetched (measured at 1M live mappings:
 * 2-page runs +20%, ring pattern +25%; g = 4 spreads a group over four lines and did worse on
 * runs). Requires bits - g >= 1.
 */
function slotHash(khi: number, klo: number, bits: number, g: number): number {
  const gh = khi >>> g;
  const gl = g === 0 ? klo : (khi << (32 - g)) | (klo >>> g);
  return ((Math.imul(gl ^ Math.imul(gh, 0x85ebca6b), 0x9e3779b1) >>> (32 - bits + g)) << g) | (klo & ((1 << g) - 1));
}

/**
 * Open-addressing hash table of 64-bit keys with two 32-bit value words per slot, in one Int32Array
 * (slot i = words [4i, 4i + 4)). Key word 0 carries USED in bit 31; `keyMask` selects the bits of
 * word 0 that belong to the key (the others carry a payload that equality ignores).
 */
export class Hash64 {
  t: Int32Array;
  private bits: number;
  private mask: number;
  /** Used slots. */
  n = 0;

  /**
   * @param keyMask bits of key word 0 that belong to the key.
   * @param minBits log2 of the initial (and minimum) slot count; > g.
   * @param g log2 of the key group that shares an aligned run of slots (see slotHash).
   */
  constructor(private readonly keyMask: number, private readonly minBits: number, private readonly g: number) {
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
    let i = slotHash(khi, klo, this.bits, this.g);
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
    let i = slotHash(word0 & this.keyMask, klo, this.bits, this.g);
    while (t[i * SW] !== 0) i = (i + 1) & this.mask;
    const w = i * SW;
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
    if ((this.n + 1) * 2 > this.mask + 1) this.grow();
    const t = this.t;
    const km = this.keyMask;
    const khi = word0 & km;
    let i = slotHash(khi, klo, this.bits, this.g);
    for (;;) {
      const w = i * SW;
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
      i = (i + 1) & this.mask;
    }
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
      const home = slotHash(k0 & this.keyMask, t[jw + 1], this.bits, this.g);
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

  /**
   * Reads the home slot of each key of a batch (keys[2i] = khi, keys[2i + 1] = klo, i < n) and
   * returns a value of no meaning: the loads do not depend on each other, so the CPU keeps many of
   * them in flight, and the probes that follow find their lines in cache (a software prefetch).
   */
  touch(keys: Int32Array, n: number): number {
    const t = this.t;
    const bits = this.bits;
    const g = this.g;
    let acc = 0;
    for (let i = 0; i < 2 * n; i += 2) acc ^= t[slotHash(keys[i], keys[i + 1], bits, g) * SW];
    return acc;
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
