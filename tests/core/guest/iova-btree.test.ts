/**
 * IovaTree (the B+tree under IovaDomain) against a sorted array: growth to several inner levels,
 * removal down to a handful of entries (dropped leaves and inner nodes, root collapse) and regrowth,
 * checking every query the allocator uses: floor, ceil, prev, next, find, gap and rightmostFit for
 * the gap index and for indexed alignments; and the allocator's own pattern (packed, size-aligned
 * top-down fills, bottom-up fills, churn), which splits leaves at their edges.
 */
import { describe, it, expect } from 'vitest';
import { mulberry32 } from '../../support/prng.ts';
import { IovaTree, NIL } from '../../../core/guest/iova-btree.ts';
import { LEAF } from '../../../core/guest/iova-btree-records.ts';

interface E { lo: number; hi: number; id: number }

function check(t: IovaTree, ref: E[], rnd: () => number, orders: number[]): void {
  expect(t.size).toBe(ref.length);
  const ids: number[] = [];
  t.forEach((id) => ids.push(id));
  expect(ids).toEqual(ref.map((e) => e.id));
  const gapOf = (i: number): number => ref[i].lo - (i > 0 ? ref[i - 1].hi : -1) - 1;
  for (let q = 0; q < 60 && ref.length > 0; q++) {
    const i = rnd() % ref.length;
    const e = ref[i];
    expect(t.prev(e.id)).toBe(i > 0 ? ref[i - 1].id : NIL);
    expect(t.next(e.id)).toBe(i + 1 < ref.length ? ref[i + 1].id : NIL);
    expect(t.gap(e.id)).toBe(gapOf(i));
    const key = e.lo + (rnd() % 300) - 150;
    let f = -1;
    for (let j = 0; j < ref.length && ref[j].lo <= key; j++) f = j;
    expect(t.floor(key)).toBe(f >= 0 ? ref[f].id : NIL);
    expect(t.find(key)).toBe(f >= 0 && ref[f].hi >= key ? ref[f].id : NIL);
    const c = ref.findIndex((x) => x.lo >= key);
    expect(t.ceil(key)).toBe(c >= 0 ? ref[c].id : NIL);
    const size = 1 + (rnd() % 120);
    for (const k of [-1, ...orders.map((o) => t.capIndex(o))]) {
      const a = k < 0 ? 1 : 2 ** orders[k];
      let want: number = NIL;
      for (let j = f; j >= 0; j--) {
        const g = gapOf(j);
        const g0 = ref[j].lo - g;
        const cap = g - ((a - (g0 % a)) % a);
        if ((k < 0 ? g : cap) >= size) { want = ref[j].id; break; }
      }
      expect(t.rightmostFit(key, size, k), `key ${key} size ${size} order ${k < 0 ? 0 : orders[k]}`).toBe(want);
    }
  }
  // the hardest sizes, from the top: each index's largest value over the whole set (found at its
  // rightmost holder) and one page more (none): the walk climbs to the root and down, so every
  // inner aggregate on its way must be exact, neither under nor over
  if (ref.length === 0) return;
  const top = ref[ref.length - 1].lo;
  for (const k of [-1, ...orders.map((o) => t.capIndex(o))]) {
    const a = k < 0 ? 1 : 2 ** orders[k];
    let best = -1;
    let at = -1;
    for (let j = 0; j < ref.length; j++) {
      const g = gapOf(j);
      const v = g - ((a - ((ref[j].lo - g) % a)) % a);
      if (v >= best) { best = v; at = j; }
    }
    if (best >= 1) expect(t.rightmostFit(top, best, k), `largest ${best}, order ${k < 0 ? 0 : orders[k]}`).toBe(ref[at].id);
    expect(t.rightmostFit(top, Math.max(1, best + 1), k)).toBe(NIL);
  }
}

describe('IovaTree (B+tree) against a sorted array', () => {
  it('grows to several levels, shrinks to a few entries and grows again', () => {
    const rnd = mulberry32(5);
    const t = new IovaTree();
    const orders = [3, 6];
    orders.forEach((o) => t.capIndex(o));
    const ref: E[] = [];
    const used = new Set<number>();
    const add = (): void => {
      let slot: number;
      do slot = rnd() % 200_000; while (used.has(slot));
      used.add(slot);
      const lo = slot * 100;
      const id = t.newNode(lo, lo + (rnd() % 90), 0);
      t.insert(id);
      let a = 0;
      let b = ref.length;
      while (a < b) {
        const m = (a + b) >> 1;
        if (ref[m].lo < lo) a = m + 1; else b = m;
      }
      ref.splice(a, 0, { lo, hi: t.hi(id), id });
    };
    const del = (): void => {
      const i = rnd() % ref.length;
      t.remove(ref[i].id);
      used.delete(ref[i].lo / 100);
      ref.splice(i, 1);
    };
    for (const [target, step] of [[40_000, 4000], [5, 4000], [20_000, 2000], [0, 5000]] as const) {
      if (target === 5) {
        // three more orders on a full tree: the inner records are re-laid out with more columns,
        // and slots beyond the first three take propagateUp's general path
        for (const o of [2, 5, 4]) {
          orders.push(o);
          t.capIndex(o);
        }
        check(t, ref, rnd, orders);
      }
      while (ref.length !== target) {
        if (ref.length < target) add(); else del();
        if (ref.length % step === 0) check(t, ref, rnd, orders);
      }
      check(t, ref, rnd, orders);
    }
  });

  it('packs top-down and bottom-up fills (edge splits) and keeps the aggregates exact under churn', () => {
    // the allocator's pattern: adjacent, size-aligned blocks filled top-down, then random frees
    // and refills; the indexed orders' caps then differ from the gaps by the alignment padding
    const rnd = mulberry32(9);
    const t = new IovaTree();
    const orders = [6, 7];
    orders.forEach((o) => t.capIndex(o));
    const ref: E[] = [];
    const put = (lo: number, hi: number): void => {
      const id = t.newNode(lo, hi, 0);
      t.insert(id);
      let a = 0;
      let b = ref.length;
      while (a < b) {
        const m = (a + b) >> 1;
        if (ref[m].lo < lo) a = m + 1; else b = m;
      }
      ref.splice(a, 0, { lo, hi, id });
    };
    // top-down: each block below the previous one, aligned to its size's power of two
    let top = 2 ** 30;
    for (let n = 0; n < 12_000; n++) {
      const size = 33 + (rnd() % 96);
      const align = size > 64 ? 128 : 64;
      top = Math.floor((top - size) / align) * align;
      put(top, top + size - 1);
    }
    check(t, ref, rnd, orders);
    // bottom-up above the top-down region
    let low = 2 ** 31;
    for (let n = 0; n < 6_000; n++) {
      const size = 1 + (rnd() % 40);
      put(low, low + size - 1);
      low += size + (rnd() % 3);
    }
    check(t, ref, rnd, orders);
    // churn: free a random block, put a smaller one at the top of its gap (an exact fit or not)
    for (let n = 0; n < 20_000; n++) {
      const i = rnd() % ref.length;
      const e = ref[i];
      t.remove(e.id);
      ref.splice(i, 1);
      const size = 1 + (rnd() % (e.hi - e.lo + 1));
      put(e.hi - size + 1, e.hi);
      if (n % 5000 === 0) check(t, ref, rnd, orders);
    }
    check(t, ref, rnd, orders);
  });

  it('insertBeforeHere puts a node into the gap rightmostFit found, also below the first entry of a leaf', () => {
    // the allocator's far walk: a random free, then the top of the rightmost gap below a random
    // key that fits the block goes in right before the node found (in that node's leaf; with
    // 20K nodes in leaves of at most 64, hundreds of those nodes are the first of their leaf)
    const rnd = mulberry32(21);
    const t = new IovaTree();
    const ref: E[] = [];
    const order = 6;
    const k = t.capIndex(order);
    const a = 2 ** order;
    let top = 2 ** 30;
    for (let n = 0; n < 20_000; n++) {
      const size = 33 + (rnd() % 31);
      top = Math.floor((top - size) / a) * a;
      const id = t.newNode(top, top + size - 1, 0);
      t.insert(id);
      ref.unshift({ lo: top, hi: top + size - 1, id });
    }
    let gapLeftBelow = 0; // inserts that leave part of c's gap below the new node
    for (let n = 0; n < 20_000; n++) {
      const i = rnd() % ref.length;
      t.remove(ref[i].id);
      ref.splice(i, 1);
      const size = 1 + (rnd() % 64);
      const c = t.rightmostFit(ref[rnd() % ref.length].lo, size, k);
      if (c === NIL) continue;
      const ci = ref.findIndex((e) => e.id === c);
      expect(t.hereLo()).toBe(ref[ci].lo);
      const lo = Math.floor((ref[ci].lo - size) / a) * a;
      const id = t.newNode(lo, lo + size - 1, 0);
      if (ci > 0 && ref[ci - 1].hi < lo - 1) gapLeftBelow++;
      t.insertBeforeHere(id);
      ref.splice(ci, 0, { lo, hi: lo + size - 1, id });
      if (n % 4000 === 0) check(t, ref, rnd, [order]);
    }
    check(t, ref, rnd, [order]);
    expect(gapLeftBelow).toBeGreaterThan(100);
    // a node outside the gap is refused
    const c = t.rightmostFit(ref[ref.length - 1].lo, 1, -1);
    const bad = t.newNode(t.lo(c) + 1, t.lo(c) + 1, 0);
    expect(t.rightmostFit(ref[ref.length - 1].lo, 1, -1)).toBe(c);
    expect(() => t.insertBeforeHere(bad)).toThrow(/is not in the gap below/);
  });

  it('insertRangeBeforeHere makes no id until a look-up returns the node; the id-less look-ups and removeHere\'s rb_next agree with the others', () => {
    // the allocator's hot path (IovaDomain): holds + removeHere to free, fits + insertRangeBeforeHere
    // to allocate, all by pfn_lo; ids appear only when an id-returning look-up meets a node
    const rnd = mulberry32(33);
    const t = new IovaTree();
    const order = 6;
    const k = t.capIndex(order);
    const a = 2 ** order;
    const ref: E[] = []; // id NIL: the node has none yet
    const live = new Set<number>();
    const fresh = (lo: number, hi: number): number => {
      const id = t.newNode(lo, hi, 0);
      expect(id).not.toBe(NIL);
      expect(live.has(id)).toBe(false); // never the id of a node in the tree
      live.add(id);
      return id;
    };
    let top = 2 ** 30;
    for (let n = 0; n < 3000; n++) {
      const size = 33 + (rnd() % 31);
      top = Math.floor((top - size) / a) * a;
      const id = fresh(top, top + size - 1);
      t.insert(id);
      ref.unshift({ lo: top, hi: top + size - 1, id });
    }
    let ranged = 0;
    let unreadHi = 0; // frees of a leaf's last entry that left the next leaf unread
    for (let n = 0; n < 20_000; n++) {
      // free a random node by its pfn
      const i = rnd() % ref.length;
      const e = ref[i];
      expect(t.holds(e.lo + (rnd() % (e.hi - e.lo + 1)))).toBe(true);
      expect(t.hereLo()).toBe(e.lo);
      expect(t.hereHi()).toBe(e.hi);
      const hasNext = t.hasNext();
      expect(hasNext).toBe(i + 1 < ref.length);
      if (hasNext) expect([t.nextLo, t.nextHi]).toEqual([ref[i + 1].lo, ref[i + 1].hi]);
      t.removeHere();
      // rb_next, reported for the caller; its pfn_hi is NaN when its leaf was not read
      if (i + 1 < ref.length) {
        expect(t.nextLo).toBe(ref[i + 1].lo);
        if (Number.isNaN(t.nextHi)) unreadHi++;
        else expect(t.nextHi).toBe(ref[i + 1].hi);
      }
      ref.splice(i, 1);
      if (e.id !== NIL) {
        live.delete(e.id);
        // the freed id is the next one handed out (a stack), and only an id-less insert follows
        if (n % 7 === 0) {
          const probe = t.newNode(0, 0, 0);
          expect(probe).toBe(e.id);
          t.insert(probe);
          t.remove(probe);
        }
      }
      // allocate below a random node, as the domain's walk does
      const size = 1 + (rnd() % 64);
      const key = ref[rnd() % ref.length].lo;
      const want = t.rightmostFit(key, size, k); // assigns the id of the node it returns
      const found = t.fits(key, size, k);
      expect(found).toBe(want !== NIL);
      if (!found) continue;
      const ci = ref.findIndex((x) => x.lo === t.hereLo());
      expect(ci).toBeGreaterThanOrEqual(0);
      if (ref[ci].id === NIL) { ref[ci].id = want; expect(live.has(want)).toBe(false); live.add(want); }
      expect(want).toBe(ref[ci].id);
      expect([t.lo(want), t.hi(want)]).toEqual([ref[ci].lo, ref[ci].hi]);
      const lo = Math.floor((ref[ci].lo - size) / a) * a;
      if (!(lo > ref[ci].lo - 1 - t.hereGap())) continue;
      if (rnd() % 4 === 0) {
        t.insertBeforeHere(fresh(lo, lo + size - 1));
        ref.splice(ci, 0, { lo, hi: lo + size - 1, id: t.find(lo) });
      } else {
        t.insertRangeBeforeHere(lo, lo + size - 1);
        ref.splice(ci, 0, { lo, hi: lo + size - 1, id: NIL });
        ranged++;
      }
      if (n % 2500 === 0) {
        const seen: number[][] = [];
        t.forEachRange((l, h, f) => seen.push([l, h, f]));
        expect(seen).toEqual(ref.map((x) => [x.lo, x.hi, 0]));
        for (let q = 0; q < 40; q++) {
          const j = rnd() % ref.length;
          expect(t.hasPrev(ref[j].lo)).toBe(j > 0);
          if (j > 0) expect(t.hereLo()).toBe(ref[j - 1].lo);
          const probe = ref[j].lo - (rnd() % 50);
          const c = ref.findIndex((x) => x.lo >= probe);
          expect(t.ceilLo(probe)).toBe(c >= 0 ? ref[c].lo : -1);
        }
      }
    }
    expect(ranged).toBeGreaterThan(5000);
    expect(unreadHi).toBeGreaterThan(50);
    // a look-up gives an id-less node an id once: unique, with the node's range in its record
    const idless = ref.filter((x) => x.id === NIL);
    expect(idless.length).toBeGreaterThan(500);
    for (const x of idless.slice(0, 400)) {
      const id = t.find(x.lo);
      expect(live.has(id)).toBe(false);
      live.add(id);
      expect([t.lo(id), t.hi(id), t.flags(id)]).toEqual([x.lo, x.hi, 0]);
      expect(t.find(x.hi)).toBe(id);
      x.id = id;
    }
    // forEach names every node: the rest get theirs, and the model check runs on ids
    const ids: number[] = [];
    t.forEach((id) => ids.push(id));
    expect(new Set(ids).size).toBe(ref.length);
    ref.forEach((x, j) => { if (x.id === NIL) x.id = ids[j]; });
    expect(ids).toEqual(ref.map((x) => x.id));
    check(t, ref, rnd, [order]);
  });
  it('keeps ids and flags only where a look-up or setFlags gave a node one, through moves, holes, splits and compaction', () => {
    // insertRange makes no id; find assigns one, setFlags sets flags: those entries' slots live in
    // their leaf's side block, which the leaf keeps only while it counts one
    const rnd = mulberry32(57);
    const t = new IovaTree();
    interface R { hi: number; id: number; flags: number }
    const ref = new Map<number, R>(); // pfn_lo -> node (id NIL: none yet)
    const live: number[] = []; // the pfn_lo of every node, unsorted
    const free: number[] = [];
    for (let k = 0; k < 12_000; k++) free.push(k);
    const add = (): void => {
      const k = free.splice(rnd() % free.length, 1)[0];
      const lo = 1000 * (k + 1);
      const hi = lo + (rnd() % 500);
      t.insertRange(lo, hi);
      ref.set(lo, { hi, id: NIL, flags: 0 });
      live.push(lo);
    };
    const los = (): number[] => [...ref.keys()].sort((a, b) => a - b);
    for (let n = 0; n < 3000; n++) add();
    // no node has an id yet: the first look-up that returns one makes id 1
    const first = los()[0];
    expect(t.find(first)).toBe(1);
    ref.get(first)!.id = 1;
    const verify = (): void => {
      const got: Array<[number, number, number]> = [];
      t.forEachRange((lo, hi, flags) => got.push([lo, hi, flags]));
      expect(got).toEqual(los().map((lo) => [lo, ref.get(lo)!.hi, ref.get(lo)!.flags]));
      for (const [lo, r] of ref) {
        if (r.id === NIL) continue;
        expect(t.find(lo + (rnd() % (r.hi - lo + 1)))).toBe(r.id);
        expect(t.flags(r.id)).toBe(r.flags);
        expect(t.hereFlags()).toBe(r.flags);
      }
      // the leaves count exactly the entries with a slot (those a look-up gave an id)
      expect(t.slotted()).toBe([...ref.values()].filter((r) => r.id !== NIL).length);
    };
    let splits = 0;
    for (let n = 0; n < 30_000; n++) {
      // balanced churn, then mostly frees (leaves with more holes than entries are compacted),
      // then mostly inserts (splits)
      const op = rnd() % 8;
      const frees = n < 10_000 ? 3 : n < 14_000 ? 6 : 1;
      const x = rnd() % live.length;
      const lo = live[x];
      if (op < frees) {
        // free a random node by a pfn inside it (with or without an id)
        const r = ref.get(lo)!;
        expect(t.holds(lo + (rnd() % (r.hi - lo + 1)))).toBe(true);
        expect(t.hereFlags()).toBe(r.flags);
        t.removeHere();
        ref.delete(lo);
        live[x] = live[live.length - 1];
        live.pop();
        free.push(lo / 1000 - 1);
      } else if (op < 6 || (frees === 6 && op === 6)) {
        const leaves = t.shape().leaves;
        add();
        if (t.shape().leaves > leaves) splits++;
      } else {
        // a look-up that returns an id, and sometimes flags
        const r = ref.get(lo)!;
        const id = t.find(lo);
        if (r.id === NIL) {
          expect(id).not.toBe(NIL);
          expect([...ref.values()].some((x) => x.id === id)).toBe(false);
          r.id = id;
        } else expect(id).toBe(r.id);
        if (op === 7) {
          r.flags = 1 + (rnd() % 7);
          t.setFlags(id, r.flags);
        }
      }
      if (n % 5000 === 4999) verify();
    }
    verify();
    expect(splits).toBeGreaterThan(0);
    // most nodes were freed and re-made by now; holes and compactions happened along the way
    expect([...ref.values()].filter((r) => r.id !== NIL).length).toBeGreaterThan(300);
    expect([...ref.values()].filter((r) => r.id === NIL).length).toBeGreaterThan(300);
  });

  it('leaves a hole where a node leaves the inside of a leaf, fills it on insert, and answers every query across holes', () => {
    const rnd = mulberry32(41);
    const t = new IovaTree();
    const orders = [6];
    t.capIndex(6);
    const ref: E[] = [];
    const put = (lo: number, hi: number): E => {
      const e = { lo, hi, id: t.newNode(lo, hi, 0) };
      t.insert(e.id);
      const at = ref.findIndex((x) => x.lo > lo);
      ref.splice(at < 0 ? ref.length : at, 0, e);
      return e;
    };
    const del = (i: number): void => {
      t.remove(ref[i].id);
      ref.splice(i, 1);
    };
    const at = (lo: number): number => ref.findIndex((x) => x.lo === lo);
    // one leaf: node i at 1000 (i + 1), 1..200 pages
    expect(LEAF).toBeGreaterThanOrEqual(38);
    for (let i = 0; i < 36; i++) put(1000 * (i + 1), 1000 * (i + 1) + (rnd() % 200));
    expect(t.shape()).toEqual({ height: 0, leaves: 1, slots: 36, holes: 0 });
    // a run of three holes (nodes 10..12) and two single ones (25, 30)
    for (const i of [30, 25, 12, 11, 10]) del(at(1000 * (i + 1)));
    expect(t.shape()).toEqual({ height: 0, leaves: 1, slots: 36, holes: 5 });
    check(t, ref, rnd, orders);
    // the run's key (pfn_hi of node 9, + 1): in the gap, below node 13
    const p = ref[at(10_000)];
    const s = ref[at(14_000)];
    expect(t.find(p.hi + 1)).toBe(NIL);
    expect(t.floor(p.hi + 1)).toBe(p.id);
    expect(t.ceil(p.hi + 1)).toBe(s.id);
    expect(t.next(p.id)).toBe(s.id);
    expect(t.prev(s.id)).toBe(p.id);
    expect(t.gap(s.id)).toBe(s.lo - p.hi - 1);
    // a node right above node 9 takes the run's top hole; the holes below it now share its pfn_lo
    const x = put(p.hi + 1, p.hi + 5);
    expect(t.shape()).toEqual({ height: 0, leaves: 1, slots: 36, holes: 4 });
    expect(t.find(p.hi + 1)).toBe(x.id);
    expect(t.floor(p.hi + 1)).toBe(x.id);
    expect(t.ceil(p.hi + 1)).toBe(x.id);
    expect(t.prev(x.id)).toBe(p.id);
    expect(t.next(x.id)).toBe(s.id);
    expect(t.gap(x.id)).toBe(0);
    expect(t.gap(s.id)).toBe(s.lo - x.hi - 1);
    check(t, ref, rnd, orders);
    // no hole next to the insert: the entries up to the nearest one move (up: between nodes 1 and
    // 2, nearest the run; down: between nodes 33 and 34, nearest node 30's hole)
    put(ref[at(2000)].hi + 2, ref[at(2000)].hi + 3);
    put(34_500, 34_510);
    expect(t.shape()).toEqual({ height: 0, leaves: 1, slots: 36, holes: 2 });
    check(t, ref, rnd, orders);
    // the first and last entries go with the holes next to them: a leaf's ends are never holes
    del(1);
    expect(t.shape().holes).toBe(3);
    del(0);
    expect(t.shape()).toEqual({ height: 0, leaves: 1, slots: 34, holes: 2 });
    del(ref.length - 2);
    del(ref.length - 1);
    expect(t.shape()).toEqual({ height: 0, leaves: 1, slots: 32, holes: 2 });
    check(t, ref, rnd, orders);
    // more holes than entries: the leaf is compacted (32 slots: at the 17th hole)
    for (let n = 0; n < 14; n++) del(1 + (rnd() % (ref.length - 2)));
    expect(t.shape()).toEqual({ height: 0, leaves: 1, slots: 32, holes: 16 });
    check(t, ref, rnd, orders);
    del(1 + (rnd() % (ref.length - 2)));
    expect(t.shape()).toEqual({ height: 0, leaves: 1, slots: 15, holes: 0 });
    check(t, ref, rnd, orders);
    const ranges: Array<[number, number]> = [];
    t.forEachRange((lo, hi) => ranges.push([lo, hi]));
    expect(ranges).toEqual(ref.map((e) => [e.lo, e.hi]));

    // a full leaf with a hole takes an insert without a split; with none it splits
    const u = new IovaTree();
    for (let i = 0; i < LEAF; i++) u.insert(u.newNode(1000 * (i + 1), 1000 * (i + 1) + 9, 0));
    u.remove(u.find(20_000));
    expect(u.shape()).toEqual({ height: 0, leaves: 1, slots: LEAF, holes: 1 });
    u.insert(u.newNode(5500, 5509, 0));
    expect(u.shape()).toEqual({ height: 0, leaves: 1, slots: LEAF, holes: 0 });
    u.insert(u.newNode(7500, 7509, 0));
    expect(u.shape().leaves).toBe(2);
    expect(u.size).toBe(LEAF + 1);
    const los: number[] = [];
    u.forEachRange((lo) => los.push(lo));
    expect(los).toEqual([...Array.from({ length: LEAF }, (_, i) => 1000 * (i + 1)).filter((v) => v !== 20_000), 5500, 7500].sort((a, b) => a - b));
  });
});
