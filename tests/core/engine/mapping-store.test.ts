import { describe, it, expect } from 'vitest';
import { mulberry32 } from '../../support/prng.ts';
import { MappingStore, U64_MAX, UNMAP_OK, UNMAP_SPLIT_FIRST, UNMAP_SPLIT_LAST, hi32, lo32, u64, type Interval } from '../../../core/engine/mapping-store.ts';

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
  const variants: Array<[string, number, (r: () => number) => bigint, bigint]> = [
    ['dense small space', 1, (r) => BigInt(Math.floor(r() * 4000)), 40n],
    ['page-aligned 32-bit', 2, (r) => BigInt(Math.floor(r() * 0x100000)) << 12n, 0x4000n],
    ['high 64-bit', 3, (r) => U64_MAX - (BigInt(Math.floor(r() * 0x10000)) << 12n), 0x3000n],
  ];
  it.each(variants)('%s', (_name, seed, pick, maxLen) => {
    const r = prng(seed);
    const s = new MappingStore();
    const m = new NaiveStore();
    for (let step = 0; step < 12000; step++) {
      const op = r();
      if (op < 0.5) {
        const start = pick(r);
        let end = start + BigInt(Math.floor(r() * Number(maxLen)));
        if (end > U64_MAX) end = U64_MAX;
        const iv = { start, end, phys: BigInt(Math.floor(r() * 1e9)), flags: step & 7 };
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
        const a = pick(r);
        const b = a + BigInt(Math.floor(r() * Number(maxLen) * (r() < 0.5 ? 2 : 100)));
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
