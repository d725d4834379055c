/**
 * The automatic IOVA allocator (iopt_alloc_iova, reference §2.1 step 7): its alignment rule, and
 * its first fit checked against a plain re-walk of the holes after every step of seeded random
 * map/unmap/reserve sequences (the engine's size-class hints must never change the answer).
 */
import { describe, expect, it } from 'vitest';
import { ERRNO } from '../../../../core/host/errno.ts';
import { IoPagetable, type IovaRange } from '../../../../core/host/backend/iommufd/io-pagetable.ts';
import { HPAGE_SIZE, IOMMU_IOAS_MAP_READABLE as R, IOMMU_IOAS_MAP_WRITEABLE as W, PAGE_SIZE, ULONG_MAX } from '../../../../core/host/backend/iommufd/uapi.ts';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import { hi32, lo32, u64 } from '../../../../core/engine/u64.ts';
import { ioasObj } from './fixtures.ts';
import { mulberry32 } from '../../../support/prng.ts';

const PAGE = PAGE_SIZE;

/** The kernel's walk, written plainly: windows, aligned start, holes of (reserved ∪ areas). */
function reference(iopt: IoPagetable, maxAlign: bigint, addr: bigint, length: bigint): bigint | number {
  if (length === 0n || length >= ULONG_MAX / 2n) return ERRNO.EOVERFLOW;
  let align = 1n;
  while (align < length) align <<= 1n;
  if (addr !== 0n && (addr & -addr) < align) align = addr & -addr;
  if (align >= maxAlign) align = maxAlign;
  if (align < iopt.iovaAlignment) return ERRNO.EINVAL;
  const off = addr % PAGE;
  const up = (v: bigint) => (v + align - 1n > ULONG_MAX ? -1n : ((v + align - 1n) & ~(align - 1n)) | off);
  const allowed = iopt.listAllowed();
  const windows: IovaRange[] = [];
  for (const r of allowed.length === 0 ? [{ start: PAGE, last: ULONG_MAX - PAGE }] : allowed) {
    const s = r.start > PAGE ? r.start : PAGE;
    const l = r.last < ULONG_MAX - PAGE ? r.last : ULONG_MAX - PAGE;
    if (s > l) continue;
    const p = windows[windows.length - 1];
    if (p !== undefined && p.last + 1n >= s) p.last = l > p.last ? l : p.last;
    else windows.push({ start: s, last: l });
  }
  const used = [...iopt.listAreas().map((a) => ({ start: a.iova, last: a.iova + a.length - 1n })), ...iopt.listReserved()].sort((a, b) => (a.start < b.start ? -1 : 1));
  const fits = (hs: bigint, hl: bigint) => {
    if (hl < hs || hl - hs < length - 1n) return -1n;
    const a = up(hs);
    return a >= 0n && a <= hl && hl - a >= length - 1n ? a : -1n;
  };
  for (const w of windows) {
    if (w.last - w.start < length - 1n) continue;
    const s = up(w.start);
    if (s < 0n || s > w.last || w.last - s < length - 1n) continue;
    let cur = s;
    for (const u of used) {
      if (u.last < cur || u.start > w.last) continue;
      if (u.start > cur) {
        const a = fits(cur, u.start - 1n);
        if (a >= 0n) return a;
      }
      if (u.last + 1n > cur) cur = u.last + 1n;
      if (u.last === ULONG_MAX) break;
    }
    if (cur <= w.last) {
      const a = fits(cur, w.last);
      if (a >= 0n) return a;
    }
  }
  return ERRNO.ENOSPC;
}

describe('iopt_alloc_iova', () => {
  it('alignment: roundup_pow_of_two(length), limited by the user VA, capped at HPAGE_SIZE (THP) or PAGE_SIZE; EINVAL below iova_alignment', () => {
    const iopt = new IoPagetable(HPAGE_SIZE);
    expect(iopt.allocIova(0n, 3n * PAGE)).toBe(0);
    expect(iopt.outIova).toBe(4n * PAGE);
    expect(iopt.allocIova(0x1000n, 3n * PAGE)).toBe(0);
    expect(iopt.outIova).toBe(PAGE);
    expect(iopt.allocIova(0n, 16n << 20n)).toBe(0);
    expect(iopt.outIova).toBe(HPAGE_SIZE);
    const small = new IoPagetable(PAGE);
    expect(small.allocIova(0n, 16n << 20n)).toBe(0);
    expect(small.outIova).toBe(PAGE);
    expect(iopt.allocIova(0x10n, PAGE)).toBe(0); // alignment 16 >= iova_alignment 1
    iopt.iovaAlignment = PAGE;
    expect(iopt.allocIova(0x10n, PAGE)).toBe(ERRNO.EINVAL);
    expect(iopt.allocIova(0n, 0n)).toBe(ERRNO.EOVERFLOW);
    expect(iopt.allocIova(0n, ULONG_MAX / 2n)).toBe(ERRNO.EOVERFLOW);
    expect(iopt.allocIova(0n, ULONG_MAX / 2n - 1n)).toBe(0);
    expect(iopt.outIova).toBe(HPAGE_SIZE);
  });

  it('the last usable page below ULONG_MAX - PAGE_SIZE, and ENOSPC past it', () => {
    const iopt = new IoPagetable(PAGE);
    expect(iopt.setAllowed([{ start: ULONG_MAX - 3n * PAGE + 1n, last: ULONG_MAX }])).toBe(0);
    expect(iopt.allocIova(0n, PAGE)).toBe(0);
    expect(iopt.outIova).toBe(ULONG_MAX - 3n * PAGE + 1n);
    iopt.mapPages([{ userVa: 0n, length: PAGE, writable: true }], PAGE, iopt.outIova, true, 1);
    expect(iopt.allocIova(0n, PAGE)).toBe(0);
    expect(iopt.outIova).toBe(ULONG_MAX - 2n * PAGE + 1n); // = ULONG_MAX - PAGE_SIZE - 0xfff: the window's last page
    iopt.mapPages([{ userVa: 0n, length: PAGE, writable: true }], PAGE, iopt.outIova, true, 1);
    expect(iopt.allocIova(0n, PAGE)).toBe(ERRNO.ENOSPC);
  });

  it.each([1, 2, 3, 4, 5, 6])('matches the plain walk over a random map/unmap/reserve/allow sequence (seed %i)', (seed) => {
    const rnd = mulberry32(seed);
    const maxAlign = seed % 2 === 0 ? HPAGE_SIZE : PAGE;
    const iopt = new IoPagetable(maxAlign);
    const live: { iova: bigint; length: bigint }[] = [];
    const space = 1024n * PAGE;
    if (seed > 2) iopt.setAllowed([{ start: 0n, last: space / 2n - 1n }, { start: space / 2n, last: space - 1n }]);
    for (let step = 0; step < 1500; step++) {
      const op = rnd() % 10;
      if (op < 5) {
        const pages = BigInt(1 + (rnd() % (rnd() % 4 === 0 ? 40 : 4)));
        const length = rnd() % 8 === 0 ? pages * PAGE - 0x800n : pages * PAGE;
        const userVa = rnd() % 3 === 0 ? BigInt(rnd() % 64) * 0x800n : 0x7f0000000000n;
        const want = reference(iopt, maxAlign, userVa, length);
        const rc = iopt.allocIova(userVa, length);
        if (typeof want === 'number') {
          expect(rc).toBe(want);
          continue;
        }
        expect(rc).toBe(0);
        expect(iopt.outIova).toBe(want);
        if (iopt.outIova + length > space && seed > 2) throw new Error('allocated outside the allowed ranges');
        expect(iopt.mapPages([{ userVa, length, writable: true }], length, want, true, 3)).toBe(0);
        live.push({ iova: want, length });
      } else if (op < 9 && live.length > 0) {
        const [a] = live.splice(rnd() % live.length, 1);
        expect(iopt.unmapRange(a.iova, a.iova + a.length - 1n)).toBe(0);
        expect(iopt.outUnmapped).toBe(a.length);
      } else if (seed <= 2) {
        const owner = { step };
        const start = BigInt(rnd() % 1024) * PAGE;
        if (iopt.reserve(start, start + PAGE - 1n, owner) === 0 && rnd() % 2 === 0) iopt.unreserve(owner);
      }
    }
    expect(iopt.areas.checkInvariants()).toEqual([]);
  });

  it.each([1, 2, 3])('matches the plain walk where the free space straddles 2^53 (exact numbers below, bigint above; seed %i)', (seed) => {
    const rnd = mulberry32(100 + seed);
    const maxAlign = seed === 2 ? HPAGE_SIZE : PAGE;
    const iopt = new IoPagetable(maxAlign);
    const edge = 1n << 53n;
    // Everything from PAGE_SIZE to 2^53 - 64 pages is reserved: allocations land on both sides of 2^53.
    expect(iopt.reserve(PAGE, edge - 64n * PAGE - 1n, { low: true })).toBe(0);
    const live: { iova: bigint; length: bigint }[] = [];
    for (let step = 0; step < 1200; step++) {
      if (rnd() % 10 < 6) {
        const pages = BigInt(1 + (rnd() % 4));
        const length = rnd() % 8 === 0 ? pages * PAGE - 0x800n : pages * PAGE;
        const userVa = rnd() % 3 === 0 ? BigInt(rnd() % 64) * 0x800n : 0x7f0000000000n;
        const want = reference(iopt, maxAlign, userVa, length);
        const rc = iopt.allocIova(userVa, length);
        if (typeof want === 'number') {
          expect(rc).toBe(want);
          continue;
        }
        expect([step, rc, iopt.outIova]).toEqual([step, 0, want]);
        expect(iopt.mapPages([{ userVa, length, writable: true }], length, want, true, 3)).toBe(0);
        live.push({ iova: want, length });
      } else if (live.length > 0) {
        const [a] = live.splice(rnd() % live.length, 1);
        expect(iopt.unmapRange(a.iova, a.iova + a.length - 1n)).toBe(0);
      }
    }
    expect(live.some((a) => a.iova >= edge) && live.some((a) => a.iova < edge)).toBe(true);
  });

  it.each([
    ['page runs and sub-page areas in the tree', true],
    // Only page runs: a range inside one page is decided by one hash probe.
    ['page runs only', false],
  ])('isFree of one address and of a range agree with the areas and reserved ranges (%s, the 4 GiB line)', (_name, subPage) => {
    const rnd = mulberry32(subPage ? 77 : 78);
    const iopt = new IoPagetable(HPAGE_SIZE);
    const base = (1n << 32n) - 64n * PAGE;
    const used: { start: bigint; last: bigint }[] = [];
    for (let i = 0; i < 120; i++) {
      const start = base + BigInt(rnd() % 128) * PAGE + (subPage && rnd() % 4 === 0 ? 0x800n : 0n);
      const length = subPage && rnd() % 3 === 0 ? 0x800n : BigInt(1 + (rnd() % 3)) * PAGE;
      if (rnd() % 8 === 0) {
        if (iopt.reserve(start, start + length - 1n, { i }) === 0) used.push({ start, last: start + length - 1n });
      } else if (iopt.checkIova(start, length) === 0) {
        expect(iopt.mapPages([{ userVa: 0x7f0000000000n, length, writable: true }], length, start, true, 3)).toBe(0);
        used.push({ start, last: start + length - 1n });
      }
    }
    for (let i = 0; i < 2000; i++) {
      const a = base - PAGE + BigInt(rnd() % (130 * 4)) * 0x400n + BigInt(rnd() % 2) * 0x3ffn;
      const e = i % 2 === 0 ? a : a + BigInt(rnd() % 0x1800);
      expect([a, e, iopt.isFree(a, e)]).toEqual([a, e, !used.some((u) => u.start <= e && u.last >= a)]);
    }
    expect(iopt.areas.treeCount() > 0).toBe(subPage);
  });

  // The u32 hot path (ioasMap32 without FIXED_IOVA: IovaAllocator.allocN, and the map dropping the
  // dirty point it filled; ioasUnmap32 recording what it frees), churned as a guest's streaming
  // DMA does: fill, punch holes, then map/unmap one page at a time so most maps fill a hole exactly.
  it.each([
    ['from the bottom', 0n],
    ['across the 4 GiB line', (1n << 32n) - 40n * PAGE],
    ['below 2^53', (1n << 53n) - 40n * PAGE],
  ])('ioasMap32 auto IOVA matches the plain walk under one-page churn (%s)', (_name, base) => {
    const rnd = mulberry32(Number(base % 1000n) + 7);
    const fd = new Iommufd();
    const id = fd.ioasAlloc().outIoasId;
    const iopt = ioasObj(fd, id).iopt;
    if (base > PAGE) expect(iopt.reserve(PAGE, base - 1n, { low: true })).toBe(0);
    const live: { iova: bigint; length: bigint }[] = [];
    const map = (length: bigint, userVa: bigint, step: number) => {
      const want = reference(iopt, HPAGE_SIZE, userVa, length);
      const rc = fd.ioasMap32(id, R | W, hi32(userVa), lo32(userVa), hi32(length), lo32(length), 0, 0);
      if (typeof want === 'number') {
        expect([step, rc]).toEqual([step, want]);
        return;
      }
      expect([step, rc, u64(fd.out32Hi, fd.out32Lo)]).toEqual([step, 0, want]);
      live.push({ iova: want, length });
    };
    const unmap = () => {
      const [a] = live.splice(rnd() % live.length, 1);
      expect(fd.ioasUnmap32(id, hi32(a.iova), lo32(a.iova), hi32(a.length), lo32(a.length))).toBe(0);
    };
    for (let i = 0; i < 80; i++) map(PAGE, 0x7f0000000000n, -1);
    for (let i = 0; i < 20; i++) unmap();
    for (let step = 0; step < 1500; step++) {
      const roll = rnd() % 16;
      // Mostly one page; sometimes 2-3 pages or a sub-page length, or a user VA that lowers the alignment.
      const length = roll < 12 ? PAGE : roll < 14 ? BigInt(2 + (rnd() % 2)) * PAGE : 0x800n;
      const userVa = rnd() % 8 === 0 ? BigInt(1 + (rnd() % 64)) * 0x800n : 0x7f0000000000n;
      map(length, userVa, step);
      if (live.length > 70) unmap();
      if (rnd() % 4 === 0 && live.length > 50) unmap();
    }
    expect(iopt.areas.checkInvariants()).toEqual([]);
    // The live areas straddle base + 40 pages (the 4 GiB line, 2^53 in the edge cases).
    expect(live.some((a) => a.iova >= base + 40n * PAGE) && live.some((a) => a.iova < base + 40n * PAGE)).toBe(true);
  });
});
