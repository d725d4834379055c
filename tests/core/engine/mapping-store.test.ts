import { describe, it, expect } from 'vitest';
import { mulberry32 } from '../../support/prng.ts';
import { MappingStore, U64_MAX, UNMAP_OK, UNMAP_SPLIT_FIRST, UNMAP_SPLIT_LAST, hi32, lo32, u64, type Interval } from '../../../core/engine/mapping-store.ts';
import { MAX_RUN } from '../../../core/engine/page-set.ts';

/** Deterministic PRNG in [0, 1): same seed, same operation sequence. */
function prng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** Naive reference model: a sorted array scanned linearly. */
class NaiveStore {
  items: Interval[] = [];
  add(iv: Interval): Interval | null {
    const hit = this.items.find((x) => x.start <= iv.end && iv.start <= x.end);
    if (hit) return hit;
    this.items.push(iv);
    this.items.sort((a, b) => (a.start < b.start ? -1 : 1));
    return null;
  }
  find(a: bigint): Interval | undefined {
    return this.items.find((x) => x.start <= a && a <= x.end);
  }
  floor(a: bigint): Interval | undefined {
    let out: Interval | undefined;
    for (const x of this.items) if (x.start <= a) out = x;
    return out;
  }
  overlapping(s: bigint, e: bigint): Interval[] {
    return this.items.filter((x) => x.start <= e && s <= x.end);
  }
  delete(s: bigint): boolean {
    const i = this.items.findIndex((x) => x.start === s);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }
  removeStarts(s: bigint, e: bigint): number {
    const before = this.items.length;
    this.items = this.items.filter((x) => !(x.start >= s && x.start <= e));
    return before - this.items.length;
  }
  /** UNMAP semantics (see MappingStore.unmapRange). */
  unmapRange(s: bigint, e: bigint, atomic: boolean): { code: number; removed: Interval[] } {
    const t = this.overlapping(s, e);
    if (t.length === 0) return { code: UNMAP_OK, removed: [] };
    if (t[0].start < s) return { code: UNMAP_SPLIT_FIRST, removed: [] };
    const lastPartial = t[t.length - 1].end > e;
    if (lastPartial && atomic) return { code: UNMAP_SPLIT_LAST, removed: [] };
    const removed = lastPartial ? t.slice(0, -1) : t;
    for (const x of removed) this.delete(x.start);
    return { code: lastPartial ? UNMAP_SPLIT_LAST : UNMAP_OK, removed };
  }
  bytes(): bigint {
    return this.items.reduce((acc, x) => acc + (x.end - x.start + 1n), 0n);
  }
}

describe('MappingStore: 64-bit edges', () => {
  it('holds [0, U64_MAX] and counts 2^64 bytes', () => {
    const s = new MappingStore();
    expect(s.add({ start: 0n, end: U64_MAX, phys: 0n, flags: 3 })).toEqual({ ok: true });
    expect(s.mappedBytes()).toBe(1n << 64n);
    expect(s.find(U64_MAX)).toEqual({ start: 0n, end: U64_MAX, phys: 0n, flags: 3 });
    expect(s.find(0n)?.start).toBe(0n);
    const r = s.add({ start: 0xfffffffffffff000n, end: U64_MAX, phys: 0n, flags: 1 });
    expect(r).toEqual({ ok: false, overlaps: { start: 0n, end: U64_MAX, phys: 0n, flags: 3 } });
    expect(s.delete(0n)).toBe(true);
    expect(s.count()).toBe(0);
    expect(s.mappedBytes()).toBe(0n);
  });

  it('keeps the last page and single-byte intervals exact', () => {
    const s = new MappingStore();
    s.add({ start: 0xfffffffffffff000n, end: U64_MAX, phys: 0xabc000n, flags: 2 });
    s.add({ start: 0n, end: 0n, phys: 0xffffffffffffffffn, flags: 1 });
    s.add({ start: 1n, end: 1n, phys: 5n, flags: 1 });
    s.add({ start: 0xffffffffffffeffFn, end: 0xffffffffffffefffn, phys: 7n, flags: 0 });
    expect(s.find(U64_MAX)?.phys).toBe(0xabc000n);
    expect(s.find(0xfffffffffffff000n)?.start).toBe(0xfffffffffffff000n);
    expect(s.find(0xffffffffffffefffn)?.phys).toBe(7n);
    expect(s.find(0xffffffffffffeffen)).toBeUndefined();
    expect(s.find(0n)?.phys).toBe(U64_MAX);
    expect(s.find(2n)).toBeUndefined();
    expect(s.floorOf(2n)?.start).toBe(1n);
    expect(s.mappedBytes()).toBe(0x1000n + 3n);
    expect(s.overlapping(0n, U64_MAX).map((x) => x.start)).toEqual([0n, 1n, 0xffffffffffffefffn, 0xfffffffffffff000n]);
    expect(s.overlapping(0xffffffffffffefffn, 0xfffffffffffff000n).length).toBe(2);
    // The interval ending at U64_MAX: insertion right before it is free, overlapping it is not.
    expect(s.add({ start: 0xffffffffffffe000n, end: 0xffffffffffffeffen, phys: 0n, flags: 0 }).ok).toBe(true);
    const r = s.add({ start: 0xffffffffffffff00n, end: U64_MAX, phys: 0n, flags: 0 });
    expect(r.ok).toBe(false);
    expect(s.checkInvariants()).toEqual([]);
  });

  it('reports the lowest overlapping interval', () => {
    const s = new MappingStore();
    s.add({ start: 0x1000n, end: 0x1fffn, phys: 0n, flags: 0 });
    s.add({ start: 0x3000n, end: 0x3fffn, phys: 0n, flags: 0 });
    const r = s.add({ start: 0x1800n, end: 0x3800n, phys: 0n, flags: 0 });
    expect(r.ok === false && r.overlaps.start).toBe(0x1000n);
    const r2 = s.add({ start: 0x2000n, end: 0x3000n, phys: 0n, flags: 0 });
    expect(r2.ok === false && r2.overlaps.start).toBe(0x3000n);
    expect(s.add({ start: 0x2000n, end: 0x2fffn, phys: 0n, flags: 0 }).ok).toBe(true);
  });

  it('splits u64 values into exact u32 halves', () => {
    for (const v of [0n, 1n, 0xffffffffn, 0x100000000n, 0xfffffffffffff000n, U64_MAX]) {
      expect(u64(hi32(v), lo32(v))).toBe(v);
    }
  });

  it('rejects non-u64 bounds and start > end as bugs', () => {
    const s = new MappingStore();
    expect(() => s.add({ start: -1n, end: 0n, phys: 0n, flags: 0 })).toThrow(RangeError);
    expect(() => s.add({ start: 0n, end: 1n << 64n, phys: 0n, flags: 0 })).toThrow(RangeError);
    expect(() => s.add({ start: 2n, end: 1n, phys: 0n, flags: 0 })).toThrow(RangeError);
  });
});

describe('MappingStore: one-page mappings', () => {
  const P = 0x7000n;
  const page = { start: P, end: P + 0xfffn, phys: 0xabc000n, flags: 1 };
  for (const atomic of [false, true]) {
    it(`UNMAP inside one mapped page (atomic ${atomic}): partial first, partial last, whole`, () => {
      const s = new MappingStore();
      s.add(page);
      s.add({ start: P + 0x1000n, end: P + 0x1fffn, phys: 0n, flags: 0x800 }); // same shape, tree-held flags
      const un = (a: bigint, b: bigint): number => s.unmapRange(hi32(a), lo32(a), hi32(b), lo32(b), atomic);
      expect(un(P + 1n, P + 0xfffn)).toBe(UNMAP_SPLIT_FIRST);
      expect(un(P + 0x800n, P + 0x900n)).toBe(UNMAP_SPLIT_FIRST);
      expect(un(P, P + 0xffen)).toBe(UNMAP_SPLIT_LAST);
      expect(un(P + 0x1000n, P + 0x1ffen)).toBe(UNMAP_SPLIT_LAST);
      expect(s.count()).toBe(2);
      expect(un(P, P + 0xfffn)).toBe(UNMAP_OK);
      expect(s.entries().map((x) => x.start)).toEqual([P + 0x1000n]);
      expect(un(P, P + 0xfffn)).toBe(UNMAP_OK); // nothing there: OK, nothing removed
      expect(s.checkInvariants()).toEqual([]);
    });
  }

  it('a page interval conflicts with a sub-page interval in the tree, and the reverse', () => {
    const s = new MappingStore();
    expect(s.add({ start: P + 5n, end: P + 9n, phys: 0n, flags: 1 })).toEqual({ ok: true });
    expect(s.add(page)).toEqual({ ok: false, overlaps: { start: P + 5n, end: P + 9n, phys: 0n, flags: 1 } });
    s.delete(P + 5n);
    expect(s.add(page)).toEqual({ ok: true });
    expect(s.add({ start: P - 0x10n, end: P + 0x10n, phys: 0n, flags: 1 })).toEqual({ ok: false, overlaps: page });
    expect(s.add({ start: P + 0x1000n, end: P + 0x1fffn, phys: 0x5000n, flags: 2 })).toEqual({ ok: true });
    expect(s.find(P + 0x1234n)).toEqual({ start: P + 0x1000n, end: P + 0x1fffn, phys: 0x5000n, flags: 2 });
    expect(s.mappedBytes()).toBe(0x2000n);
  });
});

describe('MappingStore: page runs', () => {
  // Three pages across the 4 GiB line: [0xffffe000, 0x100000fff] (the lo half wraps inside the run).
  const run = { start: 0xffffe000n, end: 0x100000fffn, phys: 0x7000_0000n, flags: 3 };
  const un = (s: MappingStore, a: bigint, b: bigint, atomic = true): number => s.unmapRange(hi32(a), lo32(a), hi32(b), lo32(b), atomic);

  it('finds the whole run from any of its pages, and its floor', () => {
    const s = new MappingStore();
    expect(s.add(run)).toEqual({ ok: true });
    for (const a of [0xffffe000n, 0xfffff123n, 0x100000000n, 0x100000fffn]) expect(s.find(a)).toEqual(run);
    expect(s.find(0x101000000n)).toBeUndefined();
    expect(s.floorOf(0x200000000n)).toEqual(run);
    expect(s.floorOf(0xffffdfffn)).toBeUndefined();
    expect(s.mappedBytes()).toBe(0x3000n);
    expect(s.checkInvariants()).toEqual([]);
  });

  it('MAP overlapping any page of a run reports the run; UNMAP splits at either end; the exact range removes it', () => {
    const s = new MappingStore();
    s.add(run);
    expect(s.add({ start: 0x100000000n, end: 0x100000fffn, phys: 0n, flags: 1 })).toEqual({ ok: false, overlaps: run });
    expect(s.add({ start: 0xffff0000n, end: 0xffffefffn + 0x1000n, phys: 0n, flags: 1 })).toEqual({ ok: false, overlaps: run });
    expect(un(s, 0xfffff000n, 0x100000fffn)).toBe(UNMAP_SPLIT_FIRST); // starts at the run's second page
    expect(un(s, 0xffffe000n, 0x100000ffen)).toBe(UNMAP_SPLIT_LAST);
    expect(un(s, 0xffffe000n, 0xffffefffn, false)).toBe(UNMAP_SPLIT_LAST);
    expect(s.count()).toBe(1);
    expect(un(s, 0xffffe000n, 0x100000fffn)).toBe(UNMAP_OK);
    expect(s.count()).toBe(0);
    expect(s.find(0x100000000n)).toBeUndefined();
    expect(s.checkInvariants()).toEqual([]);
  });

  it('delete by start only: an address inside a run is not a start', () => {
    const s = new MappingStore();
    s.add(run);
    expect(s.delete(0xfffff000n)).toBe(false);
    expect(s.delete(0xffffe000n)).toBe(true);
    expect(s.entries()).toEqual([]);
  });

  it('17 pages or flags above 7 go to the tree and behave the same', () => {
    const s = new MappingStore();
    const big = { start: 0x10000n, end: 0x10000n + 17n * 0x1000n - 1n, phys: 0x1000n, flags: 1 };
    const odd = { start: 0x40000n, end: 0x40fffn, phys: 0x2000n, flags: 0x10 };
    s.add(big);
    s.add(odd);
    s.add(run);
    expect(s.find(0x10000n + 16n * 0x1000n)).toEqual(big);
    expect(s.find(0x40800n)).toEqual(odd);
    expect(s.entries()).toEqual([big, odd, run]);
    expect(un(s, 0n, 0xffffffffffffn)).toBe(UNMAP_OK);
    expect(s.count()).toBe(0);
  });
});

describe('MappingStore: lookup cache', () => {
  it('forgets a removed interval even when the lookup was cached', () => {
    const s = new MappingStore();
    s.add({ start: 0x10000n, end: 0x10fffn, phys: 0x5000n, flags: 3 });
    expect(s.find(0x10010n)?.phys).toBe(0x5000n);
    expect(s.find(0x10020n)?.phys).toBe(0x5000n); // cache hit
    s.delete(0x10000n);
    expect(s.find(0x10020n)).toBeUndefined();
    s.add({ start: 0x10000n, end: 0x10fffn, phys: 0x9000n, flags: 1 });
    expect(s.find(0x10020n)?.phys).toBe(0x9000n);
  });

  it('invalidates every set a large interval was cached in', () => {
    const s = new MappingStore();
    s.add({ start: 0n, end: 0xfffffffn, phys: 0n, flags: 3 });
    for (let p = 0n; p < 600n; p++) expect(s.find(p * 0x1000n + 7n)).toBeDefined();
    s.removeStarts(0, 0, 0, 0);
    for (let p = 0n; p < 600n; p++) expect(s.find(p * 0x1000n + 7n)).toBeUndefined();
  });
});

describe('MappingStore: against a naive model (seeded)', () => {
  /**
   * [name, seed, start picker, max length, share of page-run intervals, page shift, most pages of
   * a page-run MAP (default 20; at most MAX_RUN also keeps flags <= 7, so the tree stays empty)]. Page runs
   * (1..16 whole aligned pages, flags <= 7) live in the store's page set, all others in its
   * B+tree: the mixed variants make every query merge both.
   */
  const variants: Array<[string, number, (r: () => number) => bigint, bigint, number, number, number?]> = [
    ['dense small space', 1, (r) => BigInt(Math.floor(r() * 4000)), 40n, 0, 12],
    ['page-aligned 32-bit', 2, (r) => BigInt(Math.floor(r() * 0x100000)) << 12n, 0x4000n, 0, 12],
    ['high 64-bit', 3, (r) => U64_MAX - (BigInt(Math.floor(r() * 0x10000)) << 12n), 0x3000n, 0, 12],
    ['page runs mixed with others', 4, (r) => (BigInt(Math.floor(r() * 0x3000)) << 12n) + (r() < 0.2 ? BigInt(Math.floor(r() * 0x1000)) : 0n), 0x6000n, 0.6, 12],
    ['page runs at the top of the 64-bit space', 5, (r) => (U64_MAX - 0xfffn) - (BigInt(Math.floor(r() * 0x2000)) << 12n), 0x5000n, 0.7, 12],
    ['page runs far apart (sparse bitmap levels)', 6, (r) => BigInt(Math.floor(r() * 16)) << BigInt(12 + 6 * Math.floor(r() * 9)), 0x3000n, 0.8, 12],
    ['64 KiB pages', 7, (r) => BigInt(Math.floor(r() * 0x800)) << 14n, 0x40000n, 0.5, 16],
    // Runs of at most 16 pages only: the tree stays empty, so one-page MAPs take the one-probe path.
    ['page runs only across the 4 GiB line', 8, (r) => 0xfff00000n + (BigInt(Math.floor(r() * 0x200)) << 12n), 0x3000n, 1, 12, 16],
    ['page runs only at the top of the 64-bit space', 9, (r) => (U64_MAX - 0xfffn) - (BigInt(Math.floor(r() * 0x200)) << 12n), 0x3000n, 1, 12, 16],
  ];
  it.each(variants)('%s', (_name, seed, pick, maxLen, onePage, shift, maxPages = 20) => {
    const r = prng(seed);
    const s = new MappingStore(shift);
    const m = new NaiveStore();
    const pageSize = 1n << BigInt(shift);
    for (let step = 0; step < 12000; step++) {
      const op = r();
      if (op < 0.5) {
        let start = pick(r);
        let end: bigint;
        if (r() < onePage) {
          // A page run: half of them one page, the others 2..20 pages (17+ go to the tree).
          start = (start >> BigInt(shift)) << BigInt(shift);
          end = start + pageSize * BigInt(r() < 0.5 ? 1 : 2 + Math.floor(r() * (maxPages - 1))) - 1n;
        } else end = start + BigInt(Math.floor(r() * Number(maxLen)));
        if (end > U64_MAX) end = U64_MAX;
        const iv = { start, end, phys: BigInt(Math.floor(r() * 1e9)), flags: r() < 0.05 && maxPages > MAX_RUN ? 0x800 + (step & 7) : step & 7 };
        const got = s.add(iv);
        const want = m.add(iv);
        if (want === null) expect(got).toEqual({ ok: true });
        else {
          expect(got.ok).toBe(false);
          // The store reports the lowest overlapping interval.
          const lowest = m.overlapping(iv.start, iv.end)[0];
          expect(got.ok === false && got.overlaps).toEqual(lowest);
        }
      } else if (op < 0.7) {
        const victim = m.items.length > 0 && r() < 0.8 ? m.items[Math.floor(r() * m.items.length)].start : pick(r);
        expect(s.delete(victim)).toBe(m.delete(victim));
      } else if (op < 0.72) {
        const roll = r();
        // A third of the ranges stay inside one page, the case with its own fast path.
        // Another sixth are exactly one live interval (dma-iommu's UNMAP of what it mapped).
        const exact = roll >= 0.33 && roll < 0.5 && m.items.length > 0 ? m.items[Math.floor(r() * m.items.length)] : undefined;
        const a = exact !== undefined ? exact.start : roll < 0.33 && m.items.length > 0 ? m.items[Math.floor(r() * m.items.length)].start + BigInt(Math.floor(r() * 3) * 0x7ff) : pick(r);
        const b = exact !== undefined ? exact.end : a + BigInt(Math.floor(r() * (roll < 0.33 ? 0x1000 : Number(maxLen) * (r() < 0.5 ? 2 : 100))));
        const e = b > U64_MAX ? U64_MAX : b;
        const atomic = r() < 0.5;
        const seen: Interval[] = [];
        const code = s.unmapRange(hi32(a), lo32(a), hi32(e), lo32(e), atomic, (sh, sl, eh, el, ph, pl, f) => {
          seen.push({ start: u64(sh, sl), end: u64(eh, el), phys: u64(ph, pl), flags: f });
        });
        expect({ code, removed: seen }).toEqual(m.unmapRange(a, e, atomic));
      } else if (op < 0.75) {
        const a = pick(r);
        const b = a + BigInt(Math.floor(r() * Number(maxLen) * 20));
        const e = b > U64_MAX ? U64_MAX : b;
        expect(s.removeStarts(hi32(a), lo32(a), hi32(e), lo32(e))).toBe(m.removeStarts(a, e));
      } else if (op < 0.9) {
        const a = pick(r) + BigInt(Math.floor(r() * Number(maxLen)));
        const addr = a > U64_MAX ? U64_MAX : a;
        expect(s.find(addr)).toEqual(m.find(addr));
        expect(s.covers(hi32(addr), lo32(addr))).toBe(m.find(addr) !== undefined);
        expect(s.floorOf(addr)).toEqual(m.floor(addr));
      } else {
        const a = pick(r);
        const b = a + BigInt(Math.floor(r() * Number(maxLen) * 10));
        const e = b > U64_MAX ? U64_MAX : b;
        expect(s.overlapping(a, e)).toEqual(m.overlapping(a, e));
      }
      if (step % 1000 === 999) {
        expect(s.checkInvariants()).toEqual([]);
        expect(s.count()).toBe(m.items.length);
        expect(s.mappedBytes()).toBe(m.bytes());
      }
    }
    expect(s.entries()).toEqual(m.items);
  });

  it('holds 150K one-page mappings, drops them one by one and by range (hash growth, deletion, bitmap)', () => {
    const r = prng(8);
    const s = new MappingStore();
    const pages: number[] = [];
    for (let i = 0; i < 150000; i++) pages.push(i * 3);
    for (let i = pages.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [pages[i], pages[j]] = [pages[j], pages[i]];
    }
    // Page p at IOVA p·4 KiB + 2^40 (hi half 256), phys p·4 KiB.
    for (const p of pages) expect(s.insert(256 + Math.floor(p / 0x100000), (p % 0x100000) * 0x1000, 256 + Math.floor(p / 0x100000), (p % 0x100000) * 0x1000 + 0xfff, 0, p * 0x1000, 3)).toBe(true);
    expect(s.count()).toBe(150000);
    expect(s.mappedBytes()).toBe(150000n * 4096n);
    expect(s.checkInvariants()).toEqual([]);
    const at = (p: number): bigint => (1n << 40n) + BigInt(p) * 4096n;
    expect(s.find(at(pages[17]) + 0x123n)).toEqual({ start: at(pages[17]), end: at(pages[17]) + 0xfffn, phys: BigInt(pages[17]) * 4096n, flags: 3 });
    expect(s.find(at(1) + 5n)).toBeUndefined(); // pages are 3 apart
    expect(s.floorOf(at(4))?.start).toBe(at(3));
    for (let i = 0; i < 135000; i++) expect(s.delete(at(pages[i]))).toBe(true);
    expect(s.checkInvariants()).toEqual([]);
    const left = pages.slice(135000).sort((a, b) => a - b);
    const cut = left[Math.floor(left.length / 2)];
    expect(s.removeStarts(256, 0, hi32(at(cut)), lo32(at(cut)))).toBe(left.filter((p) => p <= cut).length);
    expect(s.checkInvariants()).toEqual([]);
    expect(s.entries().map((x) => x.start)).toEqual(left.filter((p) => p > cut).map(at));
    const seen: bigint[] = [];
    expect(s.unmapRange(0, 0, 0xffffffff, 0xffffffff, true, (sh, sl) => {
      seen.push(u64(sh, sl));
    })).toBe(UNMAP_OK);
    expect(seen).toEqual(left.filter((p) => p > cut).map(at));
    expect(s.count()).toBe(0);
    expect(s.checkInvariants()).toEqual([]);
  });

  it('grows to several levels and shrinks back (splits, merges, redistribution)', () => {
    const r = prng(7);
    const s = new MappingStore();
    const keys: number[] = [];
    for (let i = 0; i < 150000; i++) keys.push(i * 2);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [keys[i], keys[j]] = [keys[j], keys[i]];
    }
    for (const k of keys) expect(s.insert(0, k, 0, k, 0, k, 0)).toBe(true);
    expect(s.count()).toBe(150000);
    expect(s.checkInvariants()).toEqual([]);
    // Remove a random 90%, one by one, then a large range in bulk.
    for (let i = 0; i < 135000; i++) expect(s.remove(0, keys[i])).toBe(true);
    expect(s.checkInvariants()).toEqual([]);
    const left = keys.slice(135000).sort((a, b) => a - b);
    const cut = left[Math.floor(left.length / 2)];
    expect(s.removeStarts(0, 0, 0, cut)).toBe(left.filter((k) => k <= cut).length);
    expect(s.checkInvariants()).toEqual([]);
    expect(s.entries().map((x) => Number(x.start))).toEqual(left.filter((k) => k > cut));
    s.clear();
    expect(s.count()).toBe(0);
    expect(s.entries()).toEqual([]);
  });
});
