/**
 * The u32-halves hot path of IOAS_MAP (FIXED_IOVA) / IOAS_UNMAP (Iommufd.ioasMap32 / ioasUnmap32,
 * io-pagetable mapFixed32 / unmap32) checked against a plain model of the kernel's rules over
 * seeded random sequences: areas as a list, EINVAL on a reserved range or misalignment, EEXIST on
 * any overlap, EOVERFLOW on a wrap, ENOENT for an area sticking out (the kernel unmaps one area
 * at a time) or nothing mapped, the bytes unmapped written back. Addresses straddle the 4 GiB line
 * and reach the top of the 64-bit space so both halves are exercised.
 */
import { describe, expect, it } from 'vitest';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import { IoPagetable } from '../../../../core/host/backend/iommufd/io-pagetable.ts';
import { HPAGE_SIZE, IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R, IOMMU_IOAS_MAP_WRITEABLE as W } from '../../../../core/host/backend/iommufd/uapi.ts';
import { hi32, lo32, u64 } from '../../../../core/engine/u64.ts';
import { ERRNO } from '../../../../core/host/errno.ts';
import { mulberry32 } from '../../../support/prng.ts';
import { device, ioasObj, vtd } from './fixtures.ts';

const PAGE = 0x1000n;
const MAX = 0xffffffffffffffffn;

interface Area {
  s: bigint;
  e: bigint;
}

/** The kernel's rules, plainly. */
class Model {
  areas: Area[] = [];
  constructor(readonly resv: Area[]) {}
  map(iova: bigint, len: bigint, align: bigint): number {
    if (len === 0n || len % align !== 0n || iova % align !== 0n) return ERRNO.EINVAL;
    const e = iova + len - 1n;
    if (e > MAX) return ERRNO.EOVERFLOW;
    if (this.resv.some((r) => r.s <= e && r.e >= iova)) return ERRNO.EINVAL;
    if (this.areas.some((a) => a.s <= e && a.e >= iova)) return ERRNO.EEXIST;
    this.areas.push({ s: iova, e });
    return 0;
  }
  unmap(iova: bigint, len: bigint): { errno: number; bytes: bigint } {
    if (len === 0n) return { errno: ERRNO.EINVAL, bytes: 0n };
    const e = iova + len - 1n;
    if (e > MAX) return { errno: ERRNO.EOVERFLOW, bytes: 0n };
    const hit = this.areas.filter((a) => a.s <= e && a.e >= iova).sort((a, b) => (a.s < b.s ? -1 : 1));
    if (hit.length > 0 && hit[0].s < iova) return { errno: ERRNO.ENOENT, bytes: 0n };
    let bytes = 0n;
    for (const a of hit) {
      if (a.e > e) return { errno: ERRNO.ENOENT, bytes };
      this.areas.splice(this.areas.indexOf(a), 1);
      bytes += a.e - a.s + 1n;
    }
    return bytes === 0n ? { errno: ERRNO.ENOENT, bytes } : { errno: 0, bytes };
  }
}

describe('IOAS_MAP(fixed)/IOAS_UNMAP hot path on u32 halves equals the plain model', () => {
  it.each([1, 2, 3, 4])('random sequence (seed %i), with and without an attached domain', (seed) => {
    const rnd = mulberry32(seed);
    const fd = new Iommufd();
    const ioas = fd.ioasAlloc().outIoasId;
    let align = 1n;
    const resv: Area[] = [];
    if (seed % 2 === 0) {
      const dev = fd.deviceBind(device(`d${seed}`, vtd('dmar0', 64, { apertureEnd: MAX, pgsizeBitmap: 0x1000n }), { reservedRegions: [{ start: 0xfee00000n, length: 0x100000n, type: 'msi' }] })).outDevId;
      expect(fd.deviceAttach(dev, ioas).errno).toBe(0);
      align = PAGE;
      resv.push({ s: 0xfee00000n, e: 0xfeefffffn });
    }
    const model = new Model(resv);
    // Bases: low memory, around the MSI window, across 4 GiB, near the top of the space.
    const bases = [0n, 0xfed00000n, 0xfffe0000n, 0x7fffff0000n, MAX - 0x3ffffn];
    const pick = (): bigint => bases[rnd() % bases.length] + BigInt(rnd() % 64) * (rnd() % 8 === 0 ? 0x800n : PAGE);
    for (let step = 0; step < 3000; step++) {
      const iova = pick();
      const len = BigInt(1 + (rnd() % 4)) * (rnd() % 16 === 0 ? 0x800n : PAGE);
      if (rnd() % 2 === 0) {
        const want = model.map(iova, len, align);
        const got = fd.ioasMap32(ioas, FIXED | R | W, hi32(0x7f0000000000n), lo32(0x7f0000000000n), hi32(len), lo32(len), hi32(iova), lo32(iova));
        expect([step, got]).toEqual([step, want]);
      } else {
        const want = model.unmap(iova, len);
        const got = fd.ioasUnmap32(ioas, hi32(iova), lo32(iova), hi32(len), lo32(len));
        expect([step, got]).toEqual([step, want.errno]);
        if (got === 0) expect(u64(fd.out32Hi, fd.out32Lo)).toBe(want.bytes);
      }
    }
    const areas = ioasObj(fd, ioas).iopt.listAreas().map((a) => ({ s: a.iova, e: a.iova + a.length - 1n }));
    expect(areas).toEqual(model.areas.sort((a, b) => (a.s < b.s ? -1 : 1)));
    expect(ioasObj(fd, ioas).iopt.areas.checkInvariants()).toEqual([]);
    // unmap-all: every area, the sum of their sizes.
    const total = model.areas.reduce((t, a) => t + a.e - a.s + 1n, 0n);
    expect(fd.ioasUnmap(ioas, 0n, MAX)).toEqual({ errno: 0, length: total });
  });

  it.each([1, 2, 3])('auto IOVA on halves (ioasMap32 without FIXED_IOVA) picks what allocIova + mapPages pick (seed %i)', (seed) => {
    const rnd = mulberry32(50 + seed);
    const fd = new Iommufd();
    const ioas = fd.ioasAlloc().outIoasId;
    const ref = new IoPagetable(HPAGE_SIZE);
    if (seed === 3) {
      // Near 2^53: the number path hands over to bigint there.
      const low = { start: PAGE, last: (1n << 53n) - 32n * PAGE - 1n };
      expect(ioasObj(fd, ioas).iopt.reserve(low.start, low.last, { low: 1 })).toBe(0);
      expect(ref.reserve(low.start, low.last, { low: 1 })).toBe(0);
    }
    const live: { iova: bigint; len: bigint }[] = [];
    for (let step = 0; step < 2000; step++) {
      if (rnd() % 10 < 6) {
        const len = BigInt(1 + (rnd() % 4)) * PAGE - (rnd() % 8 === 0 ? 0x800n : 0n);
        const va = rnd() % 3 === 0 ? BigInt(rnd() % 64) * 0x800n : 0x7f0000000000n;
        const want = ref.allocIova(va, len);
        const got = fd.ioasMap32(ioas, R | W, hi32(va), lo32(va), hi32(len), lo32(len), 0, 0);
        expect([step, got]).toEqual([step, want]);
        if (got !== 0) continue;
        expect([step, u64(fd.out32Hi, fd.out32Lo)]).toEqual([step, ref.outIova]);
        expect(ref.mapPages([{ userVa: va, length: len, writable: true }], len, ref.outIova, true, 3)).toBe(0);
        live.push({ iova: ref.outIova, len });
      } else if (live.length > 0) {
        const [a] = live.splice(rnd() % live.length, 1);
        expect(fd.ioasUnmap32(ioas, hi32(a.iova), lo32(a.iova), hi32(a.len), lo32(a.len))).toBe(0);
        expect(ref.unmapRange(a.iova, a.iova + a.len - 1n)).toBe(0);
      }
    }
  });

  it('length above ULONG_MAX - PAGE_SIZE → EINVAL (iopt_alloc_pages); exactly that much maps (no domain) and unmap-all returns it', () => {
    const fd = new Iommufd();
    const ioas = fd.ioasAlloc().outIoasId;
    expect(fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0n, length: MAX - PAGE + 1n, iova: 0n }).errno).toBe(ERRNO.EINVAL);
    expect(fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0n, length: MAX - PAGE, iova: 0n }).errno).toBe(0);
    expect(fd.ioasUnmap(ioas, 0n, MAX)).toEqual({ errno: 0, length: MAX - PAGE });
  });
});
