import { describe, it, expect } from 'vitest';
import { mulberry32 } from '../../support/prng.ts';
import { PageSet } from '../../../core/engine/page-set.ts';
import { MappingStore, UNMAP_OK } from '../../../core/engine/mapping-store.ts';

/** Sorted run starts (page numbers < 2^32 here), the naive model of the bitmap's order. */
function nextOf(starts: number[], p: number): number | undefined {
  return starts.find((s) => s >= p);
}

function prevOf(starts: number[], p: number): number | undefined {
  let out: number | undefined;
  for (const s of starts) if (s <= p) out = s;
  return out;
}

describe('PageSet: run-start order with bitmap updates held back', () => {
  it('next/prev answer exactly after thousands of one-page adds and removes between queries (batches applied, then the bitmap dropped and rebuilt)', () => {
    const rnd = mulberry32(42);
    const ps = new PageSet();
    const live = new Set<number>();
    // Pages spread over 2^20 pages, crossing many level-0 words.
    for (let step = 0; step < 6000; step++) {
      const p = rnd() % (1 << 20);
      if (live.has(p)) {
        const w = ps.find(0, p);
        expect(w).toBeGreaterThanOrEqual(0);
        ps.removeAt(w, 0, p, 1);
        live.delete(p);
      } else {
        expect(ps.addOne(0, p, 0, p, 1)).toBe(-1);
        live.add(p);
      }
      // A query every 2500 steps: the held-back updates (more than one batch) must all be applied;
      // with ~3000 live pages (8192 slots), 2048 unread updates drop the bitmap, so each query
      // after the first batch rebuilds it from the page table.
      if (step % 2500 === 2499) {
        const starts = [...live].sort((a, b) => a - b);
        for (let q = 0; q < 200; q++) {
          const at = rnd() % (1 << 20);
          const n = nextOf(starts, at);
          expect(ps.next(0, at)).toBe(n !== undefined);
          if (n !== undefined) expect([ps.pHi, ps.pLo]).toEqual([0, n]);
          const v = prevOf(starts, at);
          expect(ps.prev(0, at)).toBe(v !== undefined);
          if (v !== undefined) expect([ps.pHi, ps.pLo]).toEqual([0, v]);
        }
      }
    }
    expect(ps.count()).toBe(live.size);
    const errs: string[] = [];
    ps.checkInvariants(errs);
    expect(errs).toEqual([]);
  });

  it('a start set then cleared before any query leaves no trace; clear() drops held-back updates', () => {
    const ps = new PageSet();
    ps.addOne(0, 100, 0, 0, 0);
    ps.addOne(0, 200, 0, 0, 0);
    ps.removeAt(ps.find(0, 100), 0, 100, 1);
    expect(ps.next(0, 0)).toBe(true);
    expect(ps.pLo).toBe(200);
    ps.addOne(0, 50, 0, 0, 0);
    ps.clear();
    expect(ps.next(0, 0)).toBe(false);
    ps.addOne(0, 7, 0, 0, 0);
    expect(ps.prev(0, 1000)).toBe(true);
    expect(ps.pLo).toBe(7);
    const errs: string[] = [];
    ps.checkInvariants(errs);
    expect(errs).toEqual([]);
  });

  it('removeOne: 1 removes a one-page run, 0 for a free page, -1 (nothing changed) for a page of a longer run', () => {
    const ps = new PageSet();
    ps.addOne(0, 10, 0, 0x1000, 3);
    ps.add(0, 20, 2, 0, 0x2000, 3);
    expect(ps.removeOne(0, 11)).toBe(0);
    expect(ps.removeOne(0, 20)).toBe(-1);
    expect(ps.removeOne(0, 21)).toBe(-1);
    expect(ps.count()).toBe(2);
    expect(ps.removeOne(0, 10)).toBe(1);
    expect(ps.find(0, 10)).toBe(-1);
    expect(ps.count()).toBe(1);
    expect(ps.next(0, 0)).toBe(true);
    expect(ps.pLo).toBe(20);
    const errs: string[] = [];
    ps.checkInvariants(errs);
    expect(errs).toEqual([]);
  });
});

describe('MappingStore.unmapPage (the one-page UNMAP path)', () => {
  it('agrees with unmapRange where it answers, and declines (-1, nothing changed) everywhere else', () => {
    const s = new MappingStore(12);
    expect(s.insert(1, 0x5000, 1, 0x5fff, 7, 0xa000, 2)).toBe(true); // one page, hi halves 1 and 7
    expect(s.insert(0, 0x8000, 0, 0x9fff, 0, 0xb000, 3)).toBe(true); // two pages
    // A one-page area: removed (1), its phys and flags handed back in `out` (what unmapRange's
    // visitor would see); then the page is free (0), as unmapRange says UNMAP_OK.
    const out = new Uint32Array(3);
    expect(s.unmapPage(1, 0x5000, 1, 0x5fff, out)).toBe(1);
    expect([...out]).toEqual([7, 0xa000, 2]);
    expect(s.lookup(1, 0x5000)).toBe(false);
    expect(s.unmapPage(1, 0x5000, 1, 0x5fff)).toBe(0);
    expect(s.unmapRange(1, 0x5000, 1, 0x5fff, false)).toBe(UNMAP_OK);
    // Either page of the two-page run: declined, the run stays.
    expect(s.unmapPage(0, 0x8000, 0, 0x8fff)).toBe(-1);
    expect(s.unmapPage(0, 0x9000, 0, 0x9fff)).toBe(-1);
    expect(s.lookup(0, 0x9000)).toBe(true);
    // Not exactly one aligned page: declined.
    expect(s.unmapPage(0, 0x1001, 0, 0x2000)).toBe(-1);
    expect(s.unmapPage(0, 0x1000, 0, 0x2fff)).toBe(-1);
    expect(s.unmapPage(0, 0xfffff000, 1, 0xfff)).toBe(-1);
    // With any interval in the tree, every call is declined (the page could hold a tree interval).
    expect(s.insert(0, 0x20000, 0, 0x20007, 0, 0, 3)).toBe(true);
    expect(s.insert(0, 0x30000, 0, 0x30fff, 0, 0, 3)).toBe(true);
    expect(s.unmapPage(0, 0x30000, 0, 0x30fff)).toBe(-1);
    expect(s.lookup(0, 0x30000)).toBe(true);
    expect(s.count()).toBe(3);
    expect(s.checkInvariants()).toEqual([]);
  });
});
