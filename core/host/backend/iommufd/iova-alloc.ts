/**
 * The automatic IOVA allocator of one IOAS (io_pagetable.c iopt_alloc_iova; reference
 * iommufd-vfio-hostiommu.md §2.1 step 7): the kernel's first fit over the holes of (reserved
 * ranges ∪ areas) inside the allowed windows, exactly — with bookkeeping so that a search does not
 * re-walk the filled space each time.
 *
 * The used space is not augmented with subtree gap sizes (the areas live in core/engine's
 * MappingStore / IntervalStore, which cannot answer "the lowest hole of at least L bytes" below
 * O(n)). Instead, per size class k (a request of length in (2^(k-1), 2^k]):
 *  - hint[k]: an IOVA below which every free run larger than 2^(k-1) bytes starts at one of the
 *    points of dirty[k];
 *  - dirty[k]: a min-heap of run starts recorded below hint[k]: maps only shrink free runs and
 *    record the start of the piece they leave on their right, unmaps record the start of the run
 *    they free ({@link IovaAllocator.freed}); reserved/allowed/domain changes reset everything.
 * A search pops the dirty points in address order (dropping those that no longer start a large
 * run), then walks from hint[k], advancing it over small runs. Only the classes a search has used
 * are maintained. With an allowed list set, freeing lowers the hints instead of recording points.
 * The result is the kernel's first fit (iova-alloc.test.ts checks it against a plain walk after
 * every step of random sequences). Every IOVA here is a bigint in [0, 2^64).
 */
import { ERRNO, type Errno } from '../../errno.ts';
import { PAGE_SIZE, ULONG_MAX, lowBit } from './uapi.ts';

/** An inclusive IOVA range [start, last] (bytes). */
export interface IovaRange {
  start: bigint;
  last: bigint;
}

/** What the allocator reads of its IOAS. */
export interface FreeSpace {
  /** The lowest used range (area or reserved) overlapping [from, to], merged with what touches it; undefined when free. */
  nextUsed(from: bigint, to: bigint): IovaRange | undefined;
  /** The search windows: the allowed spans (merged) clipped to [PAGE_SIZE, ULONG_MAX - PAGE_SIZE], or that span when no list is set. */
  windows(): readonly IovaRange[];
  /** Whether an allowed list is set. */
  hasAllowed(): boolean;
  /** Whether [from, to] is free of areas and reserved ranges (cheaper than nextUsed). */
  isFree(from: bigint, to: bigint): boolean;
  /** {@link isFree} on u32 halves. */
  isFree32(sHi: number, sLo: number, eHi: number, eLo: number): boolean;
}

/** 2^53: points below it are kept as exact numbers (the fast path), others as bigint. */
const EXACT = 9007199254740992;
const EXACT_N = 0x20000000000000n;
const TWO32 = 4294967296;
const PAGE_SIZE_N = Number(PAGE_SIZE);

/** 2^k as bigint, k = 0..64. */
const POW2: readonly bigint[] = Array.from({ length: 65 }, (_, k) => 1n << BigInt(k));

/** 2^k as a number, k = 0..64 (`2 ** k` with a variable k is a call to pow on the hot path). */
const POW2N: readonly number[] = Array.from({ length: 65 }, (_, k) => 2 ** k);

/**
 * -1n, the "none" of the bigint results: a `-1n` literal is a unary minus that optimized code
 * performs at run time (a builtin call) every time it is evaluated.
 */
const NONE = -1n;

/** BigInt of the page offsets 0..0xfff (no allocation on the hot path). */
const OFFSETS: readonly bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));

/** The u64 (hi << 32) | lo as bigint. */
function u64n(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** ceil(log2(v)) for 0 < v <= 2^64: the k with roundup_pow_of_two(v) = 2^k. */
function log2Up(v: bigint): number {
  if (v <= 1n) return 0;
  if (v <= 0x20000000000000n) {
    const m = Number(v) - 1; // exact below 2^53
    return m < 4294967296 ? 32 - Math.clz32(m) : 64 - Math.clz32(Math.floor(m / 4294967296));
  }
  let k = 53;
  while (POW2[k] < v) k++;
  return k;
}

/** ALIGN(v, a) | off, or -1n when ALIGN overflows u64 (newer kernels check_add_overflow). */
function alignUp(v: bigint, a: bigint, off: bigint): bigint {
  const t = v + a - 1n;
  if (t > ULONG_MAX) return NONE;
  return (t & ~(a - 1n)) | off;
}

/** A binary min-heap of bigint points (duplicates allowed). */
class PointHeap {
  private readonly a: bigint[] = [];
  get size(): number {
    return this.a.length;
  }
  clear(): void {
    this.a.length = 0;
  }
  peek(): bigint {
    return this.a[0];
  }
  push(v: bigint): void {
    const a = this.a;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= v) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = v;
  }
  pop(): void {
    const a = this.a;
    const last = a.pop() as bigint;
    const n = a.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1] < a[c]) c++;
      if (a[c] >= last) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
  }
}

/**
 * A binary min-heap of exact integer numbers (< 2^53; duplicates allowed): PointHeap's twin on
 * numbers, kept apart on purpose — one class for both would make its comparisons polymorphic
 * (bigint and number) on the auto-IOVA hot path.
 */
class NumHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  clear(): void {
    this.a.length = 0;
  }
  peek(): number {
    return this.a[0];
  }
  push(v: number): void {
    const a = this.a;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= v) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = v;
  }
  pop(): void {
    const a = this.a;
    const last = a.pop() as number;
    const n = a.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1] < a[c]) c++;
      if (a[c] >= last) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
  }
}

const NO_HINT = 0n;
const CLASSES = 65;
const HALF_ULONG = ULONG_MAX / 2n;

/** The allocator (see the file comment). */
export class IovaAllocator {
  private outBig = 0n;
  /** The IOVA chosen by the last successful {@link alloc} / {@link allocN} as an exact number when the number path chose it (below 2^53), else -1. */
  outN = -1;

  /** IOVA chosen by the last successful {@link alloc} / {@link allocN}. */
  get out(): bigint {
    return this.outN >= 0 ? BigInt(this.outN) : this.outBig;
  }
  private readonly hints: bigint[] = new Array<bigint>(CLASSES).fill(NO_HINT);
  // Number(hints[k]): compares exactly with a start below 2^53 (a hint at or above 2^53 rounds to
  // a number >= 2^53, still above every such start).
  private readonly hintsN: number[] = new Array<number>(CLASSES).fill(0);
  // dirty[k]: run starts >= 2^53 (bigint); dirtyN[k]: those below (exact numbers, the usual case).
  private readonly dirty: PointHeap[] = Array.from({ length: CLASSES }, () => new PointHeap());
  private readonly dirtyN: NumHeap[] = Array.from({ length: CLASSES }, () => new NumHeap());
  private readonly keptN: number[] = [];
  /** Size classes whose hint is set, in first-use order (empty: nothing to record on map/unmap). */
  readonly active: number[] = [];
  private readonly isActive: boolean[] = new Array<boolean>(CLASSES).fill(false);
  private readonly kept: bigint[] = [];
  // Memo of the dirty path's window start (see alloc).
  private mW: IovaRange | undefined;
  private mAlign = 0n;
  private mOff = 0n;
  private mNeed = 0n;
  private mS = -1n;
  /** The largest hint: maps and unmaps at or above it have nothing to record. */
  maxHint = NO_HINT;

  /**
   * @param space the IOAS's used space and windows
   * @param maxAlignment the alignment cap: HPAGE_SIZE with CONFIG_TRANSPARENT_HUGEPAGE, else PAGE_SIZE
   */
  private readonly maxAlignN: number;

  constructor(
    private readonly space: FreeSpace,
    private readonly maxAlignment: bigint,
  ) {
    this.maxAlignN = Number(maxAlignment);
  }

  /**
   * iopt_alloc_iova for `length` bytes of user memory at `addr`: EOVERFLOW for length 0 or >=
   * ULONG_MAX/2; EINVAL when the alignment target is below `iovaAlignment`; ENOSPC when no hole
   * fits; else 0 with the IOVA in {@link out}. Alignment: roundup_pow_of_two(length), or its min
   * with 1 << __ffs(addr) when addr != 0, capped at maxAlignment; the IOVA also carries
   * addr % PAGE_SIZE. Search: each window, first aligned to that target; in it, the first hole of
   * (reserved ∪ areas) that holds the aligned range.
   */
  alloc(addr: bigint, length: bigint, iovaAlignment: bigint): Errno {
    if (length === 0n || length >= HALF_ULONG) return ERRNO.EOVERFLOW;
    const pageOffset = addr % PAGE_SIZE;
    const k = log2Up(length);
    let align = POW2[k]; // roundup_pow_of_two(length)
    if (addr !== 0n) {
      const a = lowBit(addr);
      if (a < align) align = a;
    }
    if (align >= this.maxAlignment) align = this.maxAlignment;
    if (align < iovaAlignment) return ERRNO.EINVAL;
    const small = k === 0 ? 0n : POW2[k - 1]; // runs of at most `small` bytes cannot fit
    const need = length - 1n;
    const space = this.space;
    const windows = space.windows();
    const dk = this.dirty[k];
    const dn = this.dirtyN[k];
    if (dk.size > 0 || dn.size > 0) {
      // One window here (no allowed list): the candidates below the hint, lowest first (the
      // exact numbers, all below 2^53, then the bigint points).
      const w = windows[0];
      // The window's aligned start, memoized for repeated requests of one shape.
      let s: bigint;
      if (this.mW === w && this.mAlign === align && this.mOff === pageOffset && this.mNeed === need) s = this.mS;
      else {
        s = w.last - w.start < need ? NONE : alignUp(w.start, align, pageOffset);
        if (s >= 0n && (s > w.last || w.last - s < need)) s = NONE;
        this.mW = w;
        this.mAlign = align;
        this.mOff = pageOffset;
        this.mNeed = need;
        this.mS = s;
      }
      if (s >= 0n) {
        const kept = this.kept;
        let found = NONE;
        if (dn.size > 0) {
          const alignN = Number(align);
          const offN = Number(pageOffset);
          // Numbers decide when ALIGN(v) | off = ALIGN(v) + off and the range stays below 2^53.
          const fast = need < EXACT_N && offN < alignN;
          const aN = this.dirtyNumbers(k, w, s < EXACT_N ? Number(s) : Infinity, w.last < EXACT_N ? Number(w.last) : Infinity, s, align, pageOffset, need, fast ? alignN : 0, offN, fast ? Number(need) : -1);
          if (aN >= 0) {
            this.outN = aN;
            return ERRNO.OK;
          }
          if (this.foundBig >= 0n) found = this.foundBig;
        }
        let prev = NONE;
        while (found < 0n && dk.size > 0) {
          const d = dk.peek();
          if (d === prev) {
            dk.pop(); // a duplicate of the point just examined
            continue;
          }
          prev = d;
          if (d > w.last || !space.isFree(d, d)) {
            dk.pop(); // no longer free: drop
            continue;
          }
          // The hole starting at d holds the aligned range iff [d, a + need] is free (and in the window).
          const hs = d > s ? d : s;
          const a = alignUp(hs, align, pageOffset);
          if (a >= 0n && a <= w.last && w.last - a >= need && space.isFree(d, a + need)) {
            found = a;
            break; // d stays: the piece after this map is recorded by the map
          }
          dk.pop();
          const used = space.nextUsed(d, w.last);
          const holeLast = used === undefined ? w.last : used.start - 1n;
          if (holeLast - d + 1n > small) kept.push(d);
        }
        if (kept.length !== 0) {
          for (const d of kept) dk.push(d);
          kept.length = 0;
        }
        if (found >= 0n) {
          this.outBig = found;
          this.outN = -1;
          return ERRNO.OK;
        }
      }
    }
    let hint = this.hints[k];
    let advancing = true;
    for (const w of windows) {
      if (w.last < hint) continue;
      // __alloc_iova_check_used: the span must hold the aligned range; the walk starts there.
      const s = w.last - w.start < need ? NONE : alignUp(w.start, align, pageOffset);
      if (s < 0n || s > w.last || w.last - s < need) {
        // A skipped window's runs are not checked: the hint may not pass a large one.
        if (w.last - (hint > w.start ? hint : w.start) + 1n > small) advancing = false;
        continue;
      }
      // Walk the free runs of [w.start, w.last] from max(w.start, hint); a run is checked from
      // max(run start, s) (the kernel's walk begins at s).
      let cur = hint > w.start ? hint : w.start;
      while (cur <= w.last) {
        const used = space.nextUsed(cur, w.last);
        const holeLast = used === undefined ? w.last : used.start - 1n;
        if (used === undefined || used.start > cur) {
          const hs = cur > s ? cur : s;
          if (holeLast >= hs && holeLast - hs >= need) {
            const a = alignUp(hs, align, pageOffset);
            if (a >= 0n && a <= holeLast && holeLast - a >= need) {
              if (advancing) this.setHint(k, cur);
              this.outBig = a;
              this.outN = -1;
              return ERRNO.OK;
            }
          }
          // The run [cur, holeLast] starts at cur or (when cur = hint) below it, where it is small.
          if (advancing && holeLast - cur + 1n > small) advancing = false;
        }
        if (used === undefined) break;
        if (advancing) hint = used.last + 1n;
        cur = used.last + 1n;
        if (used.last === ULONG_MAX) break;
      }
      if (advancing) hint = w.last + 1n;
    }
    if (advancing) this.setHint(k, hint);
    return ERRNO.ENOSPC;
  }

  // Set by dirtyNumbers when a point decided the bigint way fits.
  private foundBig = -1n;

  /**
   * The dirty path over the exact-number points of class k (ascending; all below 2^53, so before
   * every bigint point): the first point whose hole holds the aligned request. `sN` / `wLastN` are
   * the window's aligned start and last IOVA as numbers (Infinity at or above 2^53); `s`, `align`,
   * `pageOffset`, `need` the same request as bigints. Returns the IOVA as a number when the number
   * arithmetic decided it (alignN > 0: ALIGN(v) | off = ALIGN(v) + off; needN >= 0), else -1 with
   * {@link foundBig} set when a point decided the bigint way fits (-1n when none does). Points no
   * longer free are dropped; free ones that do not fit are kept when their run is larger than the
   * class's small size.
   */
  private dirtyNumbers(k: number, w: IovaRange, sN: number, wLastN: number, s: bigint, align: bigint, pageOffset: bigint, need: bigint, alignN: number, offN: number, needN: number): number {
    const space = this.space;
    const dn = this.dirtyN[k];
    const keptN = this.keptN;
    this.foundBig = NONE;
    let result = -1;
    let prevN = -1;
    while (dn.size > 0) {
      const d = dn.peek();
      if (d === prevN) {
        dn.pop();
        continue;
      }
      prevN = d;
      if (d > wLastN) {
        dn.pop(); // past the window: drop
        continue;
      }
      const dHi = Math.floor(d / TWO32);
      const dLo = d >>> 0;
      const hs = d > sN ? d : sN;
      const aN = alignN > 0 && needN >= 0 && hs !== Infinity ? Math.ceil(hs / alignN) * alignN + offN : Infinity;
      if (aN + needN < EXACT) {
        const end = aN + needN;
        // [d, end] free implies d free: one floor lookup when the point fits (the usual case).
        if (end <= wLastN && space.isFree32(dHi, dLo, Math.floor(end / TWO32), end >>> 0)) {
          result = aN;
          break; // d stays: the piece after this map is recorded by the map
        }
        if (!space.isFree32(dHi, dLo, dHi, dLo)) {
          dn.pop(); // no longer free: drop
          continue;
        }
      } else {
        if (!space.isFree32(dHi, dLo, dHi, dLo)) {
          dn.pop(); // no longer free: drop
          continue;
        }
        // The bigint way for this point.
        const db = BigInt(d);
        const hb = db > s ? db : s;
        const a = alignUp(hb, align, pageOffset);
        if (a >= 0n && a <= w.last && w.last - a >= need && space.isFree(db, a + need)) {
          this.foundBig = a;
          break;
        }
      }
      dn.pop();
      const used = space.nextUsed(BigInt(d), w.last);
      const holeLast = used === undefined ? w.last : used.start - 1n;
      if (holeLast - BigInt(d) + 1n > (k === 0 ? 0n : POW2[k - 1])) keptN.push(d);
    }
    if (keptN.length !== 0) {
      // Setting an array's length is a runtime call: only when there is something to clear.
      for (const d of keptN) dn.push(d);
      keptN.length = 0;
    }
    return result;
  }

  // Memo of allocN's request shape (numbers): window, alignment, page offset, length - 1, and the
  // window's aligned start / last as numbers (nS -1: the window cannot hold it) and as bigints.
  private nW: IovaRange | undefined;
  private nAlign = 0;
  private nOff = -1;
  private nNeed = -1;
  private nS = -1;
  private nWLast = 0;
  private nSBig = -1n;
  private nAlignBig = 1n;
  private nOffBig = 0n;
  private nNeedBig = 0n;

  private memoN(w: IovaRange, alignN: number, offN: number, needN: number): void {
    const align = POW2[31 - Math.clz32(alignN)];
    const pageOffset = OFFSETS[offN] ?? BigInt(offN);
    const need = BigInt(needN);
    let s = w.last - w.start < need ? NONE : alignUp(w.start, align, pageOffset);
    if (s >= 0n && (s > w.last || w.last - s < need)) s = NONE;
    this.nW = w;
    this.nAlign = alignN;
    this.nOff = offN;
    this.nNeed = needN;
    this.nSBig = s;
    this.nS = s < 0n ? -1 : s < EXACT_N ? Number(s) : Infinity;
    this.nWLast = w.last < EXACT_N ? Number(w.last) : Infinity;
    this.nAlignBig = align;
    this.nOffBig = pageOffset;
    this.nNeedBig = need;
  }

  /**
   * {@link alloc} for a request given as numbers (the IOAS hot path): user VA as u32 halves,
   * `lenN` bytes (0 < lenN < 2^32), iova_alignment as a number. Decides with number arithmetic
   * when it can (no allowed list, exact-number dirty points, the aligned start below 2^53) and
   * otherwise defers to {@link alloc}; the same answer either way.
   */
  allocN(vaHi: number, vaLo: number, lenN: number, iovaAlignmentN: number): Errno {
    const k = lenN <= 1 ? 0 : 32 - Math.clz32(lenN - 1);
    const dn = this.dirtyN[k];
    if (dn.size === 0 || this.space.hasAllowed() || lenN >= TWO32) return this.alloc(u64n(vaHi, vaLo), BigInt(lenN), BigInt(iovaAlignmentN));
    let alignN = POW2N[k];
    if (vaLo !== 0) {
      const lb = (vaLo & -vaLo) >>> 0;
      if (lb < alignN) alignN = lb;
    } else if (vaHi !== 0) {
      const lb = ((vaHi & -vaHi) >>> 0) * TWO32;
      if (lb < alignN) alignN = lb;
    }
    if (alignN >= this.maxAlignN) alignN = this.maxAlignN;
    if (alignN < iovaAlignmentN) return ERRNO.EINVAL;
    const offN = vaLo & 0xfff;
    if (offN >= alignN) return this.alloc(u64n(vaHi, vaLo), BigInt(lenN), BigInt(iovaAlignmentN));
    const w = this.space.windows()[0];
    const needN = lenN - 1;
    if (this.nW !== w || this.nAlign !== alignN || this.nOff !== offN || this.nNeed !== needN) this.memoN(w, alignN, offN, needN);
    if (this.nS < 0) return this.alloc(u64n(vaHi, vaLo), BigInt(lenN), BigInt(iovaAlignmentN));
    const aN = this.dirtyNumbers(k, w, this.nS, this.nWLast, this.nSBig, this.nAlignBig, this.nOffBig, this.nNeedBig, alignN, offN, needN);
    if (aN >= 0) {
      this.outN = aN;
      return ERRNO.OK;
    }
    if (this.foundBig >= 0n) {
      this.outN = -1;
      this.outBig = this.foundBig;
      return ERRNO.OK;
    }
    return this.alloc(u64n(vaHi, vaLo), BigInt(lenN), BigInt(iovaAlignmentN));
  }

  /**
   * A map of `lenN` bytes (< 2^32) is now in place at `a` (< 2^53; the IOVA an allocation chose):
   * when `a` is the lowest dirty point of the request's class, that point starts no free run any
   * more and leaves the heap now rather than at the next search (which would drop it after two
   * lookups). Dropping a used point is what a search does, so the answers do not change.
   */
  filled(a: number, lenN: number): void {
    const dn = this.dirtyN[lenN <= 1 ? 0 : 32 - Math.clz32(lenN - 1)];
    if (dn.size > 0 && dn.peek() === a) dn.pop();
  }

  private setHint(k: number, v: bigint): void {
    this.hints[k] = v;
    this.hintsN[k] = Number(v);
    if (!this.isActive[k]) {
      this.isActive[k] = true;
      this.active.push(k);
    }
    if (v > this.maxHint) this.maxHint = v;
  }

  /** {@link freed} for an exact number start (< 2^53). */
  freedN(start: number): void {
    if (this.active.length === 0) return;
    if (this.space.hasAllowed()) {
      this.freed(BigInt(start));
      return;
    }
    // Without an allowed list the one window starts at PAGE_SIZE: a run starting below it is
    // searched from there (a point below it would be kept by every search and never fit).
    if (start < PAGE_SIZE_N) start = PAGE_SIZE_N;
    const h = this.hintsN;
    const active = this.active;
    for (let i = 0; i < active.length; i++) {
      const k = active[i];
      if (h[k] > start) this.dirtyN[k].push(start);
    }
  }

  /** A free run (possibly large) now starts at `start` (an unmap freed it, or a map left it on its right). */
  freed(start: bigint): void {
    if (start >= this.maxHint) return;
    const h = this.hints;
    if (this.space.hasAllowed()) {
      for (const k of this.active) {
        if (h[k] > start) {
          h[k] = start;
          this.hintsN[k] = Number(start);
        }
      }
      return;
    }
    if (start < PAGE_SIZE) start = PAGE_SIZE; // the window's start (see freedN)
    if (start < EXACT_N) {
      const n = Number(start);
      for (const k of this.active) if (h[k] > start) this.dirtyN[k].push(n);
    } else for (const k of this.active) if (h[k] > start) this.dirty[k].push(start);
  }

  /** Forgets everything (the reserved ranges, the allowed list or the domains changed). */
  reset(): void {
    for (const k of this.active) {
      this.hints[k] = NO_HINT;
      this.hintsN[k] = 0;
      this.dirty[k].clear();
      this.dirtyN[k].clear();
      this.isActive[k] = false;
    }
    this.active.length = 0;
    this.maxHint = NO_HINT;
  }
}
