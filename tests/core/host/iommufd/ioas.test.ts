/**
 * IOAS ioctls: the selftest's iommufd_ioas area cases (tools/testing/selftests/iommu/iommufd.c:
 * area, unmap_fully_contained_areas, area_auto_iova, area_allowed, copy_area, iova_ranges) over
 * the fixture variants, and every errno rule of reference §2.1–§2.4.
 */
import { describe, expect, it } from 'vitest';
import { ERRNO } from '../../../../core/host/errno.ts';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA as FIXED,
  IOMMU_IOAS_MAP_READABLE as R,
  IOMMU_IOAS_MAP_WRITEABLE as W,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
} from '../../../../core/host/backend/iommufd/uapi.ts';
import { IOAS_VARIANTS, MOCK_APERTURE_LAST, MOCK_APERTURE_START, MOCK_PAGE_SIZE, PAGE, device, ioasFixture, ioasObj, mockIommu } from './fixtures.ts';

const MAX = 0xffffffffffffffffn;
const BUFFER = 0x7f0000000000n; // the selftest's mmap'ed buffer (page aligned)
const TEST_OWNER = { name: 'IOMMU_TEST_OP_ADD_RESERVED' };

describe.each(IOAS_VARIANTS)('iommufd_ioas ($name)', ({ domains }) => {
  const setup = () => {
    const f = ioasFixture(domains);
    const mapFixed = (length: bigint, iova: bigint) => f.fd.ioasMap({ ioasId: f.ioasId, flags: FIXED | R | W, userVa: BUFFER, length, iova }).errno;
    const map = (length: bigint, userVa = BUFFER) => f.fd.ioasMap({ ioasId: f.ioasId, flags: R | W, userVa, length });
    const unmap = (iova: bigint, length: bigint) => f.fd.ioasUnmap(f.ioasId, iova, length);
    const addReserved = (start: bigint, length: bigint) => ioasObj(f.fd, f.ioasId).iopt.reserve(start, start + length - 1n, TEST_OWNER);
    return { ...f, mapFixed, map, unmap, addReserved };
  };

  it('area: unmap of nothing, unmap works, split fails, over map fails, unmap all (also on empty)', () => {
    const { baseIova: b, mapFixed, unmap } = setup();
    for (let i = 0n; i < 10n; i++) expect(unmap(i * PAGE, PAGE).errno).toBe(ERRNO.ENOENT);
    for (let i = 0n; i < 10n; i++) expect(mapFixed(PAGE, b + i * PAGE)).toBe(0);
    for (let i = 0n; i < 10n; i++) expect(unmap(b + i * PAGE, PAGE)).toEqual({ errno: 0, length: PAGE });
    expect(mapFixed(PAGE * 2n, b + 16n * PAGE)).toBe(0);
    expect(unmap(b + 16n * PAGE, PAGE).errno).toBe(ERRNO.ENOENT);
    expect(unmap(b + 17n * PAGE, PAGE).errno).toBe(ERRNO.ENOENT);
    for (const [len, at] of [
      [2n, 16n],
      [1n, 16n],
      [1n, 17n],
      [2n, 15n],
      [3n, 15n],
    ]) {
      expect(mapFixed(PAGE * len, b + at * PAGE)).toBe(ERRNO.EEXIST);
    }
    expect(unmap(0n, MAX)).toEqual({ errno: 0, length: 2n * PAGE });
    expect(unmap(0n, MAX)).toEqual({ errno: 0, length: 0n });
  });

  it('unmap_fully_contained_areas: partial areas give ENOENT, a superset with holes unmaps all 32 pages', () => {
    const s = setup();
    const b = s.baseIova + 4n * PAGE;
    for (let i = 0n; i < 4n; i++) expect(s.mapFixed(8n * PAGE, b + i * 16n * PAGE)).toBe(0);
    expect(s.unmap(b - 4n * PAGE, 8n * PAGE).errno).toBe(ERRNO.ENOENT);
    expect(s.unmap(b + 3n * 16n * PAGE + 8n * PAGE - 4n * PAGE, 8n * PAGE).errno).toBe(ERRNO.ENOENT);
    expect(s.unmap(b - 4n * PAGE, 3n * 16n * PAGE + 8n * PAGE + 4n * PAGE)).toEqual({ errno: 0, length: 32n * PAGE });
  });

  it('area_auto_iova: page maps, natural alignment, avoiding a reserved range, allowed ranges', () => {
    const s = setup();
    const iovas: bigint[] = [];
    for (let i = 0; i < 10; i++) {
      const r = s.map(PAGE);
      expect(r.errno).toBe(0);
      iovas.push(r.iova);
    }
    for (const v of iovas) expect(s.unmap(v, PAGE).errno).toBe(0);
    const check = (lo?: bigint, hi?: bigint) => {
      const got: bigint[] = [];
      for (let i = 1n; i <= 10n; i++) {
        const length = PAGE * i;
        const r = s.map(length, domains === 0 ? 1n << 31n : BUFFER);
        expect(r.errno).toBe(0);
        expect(r.iova % (length & -length)).toBe(0n); // 1 << (ffs(length) - 1)
        if (lo !== undefined && hi !== undefined) {
          expect(r.iova >= lo && r.iova + length <= hi + 1n).toBe(true);
        }
        got.push(r.iova);
      }
      for (let i = 0; i < 10; i++) expect(s.unmap(got[i], PAGE * BigInt(i + 1)).errno).toBe(0);
      return got;
    };
    check();
    expect(s.addReserved(PAGE * 4n, PAGE * 100n)).toBe(0);
    for (const v of check()) expect(v > PAGE * 4n && v < PAGE * 104n).toBe(false);
    expect(s.fd.ioasAllowIovas(s.ioasId, [{ start: PAGE, last: PAGE * 600n }])).toBe(ERRNO.EADDRINUSE);
    const range = domains > 0 ? { start: MOCK_APERTURE_START + PAGE, last: MOCK_APERTURE_START + PAGE * 600n - 1n } : { start: PAGE * 200n, last: PAGE * 600n - 1n };
    expect(s.fd.ioasAllowIovas(s.ioasId, [range])).toBe(0);
    check(range.start, range.last);
  });

  it('area_allowed: a reservation inside an allowed range, and an allowed range over a reservation, give EADDRINUSE', () => {
    const s = setup();
    const range = { start: s.baseIova, last: s.baseIova + PAGE * 600n };
    expect(s.fd.ioasAllowIovas(s.ioasId, [range])).toBe(0);
    expect(s.addReserved(range.start + PAGE, PAGE)).toBe(ERRNO.EADDRINUSE);
    expect(s.fd.ioasAllowIovas(s.ioasId, [])).toBe(0);
    expect(s.addReserved(range.start + PAGE, PAGE)).toBe(0);
    expect(s.fd.ioasAllowIovas(s.ioasId, [range])).toBe(ERRNO.EADDRINUSE);
    expect(ioasObj(s.fd, s.ioasId).iopt.listAllowed()).toEqual([]);
  });

  it('copy_area: inside one IOAS and into a new one', () => {
    const s = setup();
    expect(s.mapFixed(PAGE, s.baseIova)).toBe(0);
    const copy = { flags: FIXED | W, dstIoasId: s.ioasId, srcIoasId: s.ioasId, length: PAGE, srcIova: s.baseIova, dstIova: s.baseIova + PAGE };
    expect(s.fd.ioasCopy(copy).errno).toBe(0);
    const other = s.fd.ioasAlloc().outIoasId;
    expect(s.fd.ioasCopy({ ...copy, dstIoasId: other, dstIova: 0n })).toEqual({ errno: 0, dstIova: 0n });
  });

  it('iova_ranges: one range, EMSGSIZE with num_iovas written back, two ranges around a reservation', () => {
    const s = setup();
    const r = s.fd.ioasIovaRanges(s.ioasId, 16);
    expect(r.errno).toBe(0);
    expect(r.numIovas).toBe(1);
    if (domains === 0) {
      expect(r.ranges).toEqual([{ start: 0n, last: MAX }]);
      expect(r.outIovaAlignment).toBe(1n);
    } else {
      expect(r.ranges).toEqual([{ start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST }]);
      expect(r.outIovaAlignment).toBe(MOCK_PAGE_SIZE);
    }
    expect(s.fd.ioasIovaRanges(s.ioasId, 0)).toMatchObject({ errno: ERRNO.EMSGSIZE, numIovas: 1, ranges: [] });
    expect(s.addReserved(domains === 0 ? PAGE : MOCK_APERTURE_START + PAGE, PAGE)).toBe(0);
    const two = s.fd.ioasIovaRanges(s.ioasId, 16);
    expect(two.numIovas).toBe(2);
    if (domains === 0) expect(two.ranges).toEqual([{ start: 0n, last: PAGE - 1n }, { start: 2n * PAGE, last: MAX }]);
    else expect(two.ranges).toEqual([{ start: MOCK_APERTURE_START, last: MOCK_APERTURE_START + PAGE - 1n }, { start: MOCK_APERTURE_START + 2n * PAGE, last: MOCK_APERTURE_LAST }]);
    const one = s.fd.ioasIovaRanges(s.ioasId, 1);
    expect(one).toMatchObject({ errno: ERRNO.EMSGSIZE, numIovas: 2, ranges: [two.ranges[0]] });
  });
});

describe('IOMMU_IOAS_MAP errnos (reference §2.1, in check order)', () => {
  const fd = new Iommufd();
  const id = fd.ioasAlloc().outIoasId;
  const m = (over: Partial<Parameters<Iommufd['ioasMap']>[0]>) => fd.ioasMap({ ioasId: id, flags: FIXED | R, userVa: BUFFER, length: PAGE, iova: 0x10000n, ...over }).errno;
  it.each([
    ['unknown flag bit', { flags: 1 << 3 | R }, ERRNO.EOPNOTSUPP],
    ['__reserved != 0', { reserved: 1 }, ERRNO.EOPNOTSUPP],
    ['iova == ULONG_MAX', { iova: MAX }, ERRNO.EOVERFLOW],
    ['length == ULONG_MAX', { length: MAX }, ERRNO.EOVERFLOW],
    ['neither readable nor writeable', { flags: FIXED }, ERRNO.EINVAL],
    ['bad ioas_id (EOVERFLOW wins over it)', { ioasId: 99, iova: MAX }, ERRNO.EOVERFLOW],
    ['bad ioas_id', { ioasId: 99 }, ERRNO.ENOENT],
    ['ID 0', { ioasId: 0 }, ERRNO.ENOENT],
    ['length 0', { length: 0n }, ERRNO.EINVAL],
    ['user_va + length wraps', { userVa: MAX - PAGE + 2n }, ERRNO.EOVERFLOW],
    ['iova + length - 1 wraps (fixed)', { iova: MAX - PAGE + 1n, length: 2n * PAGE }, ERRNO.EOVERFLOW],
    ['auto: length >= ULONG_MAX / 2', { flags: R, length: 1n << 63n }, ERRNO.EOVERFLOW],
    ['fixed at the top page (last = ULONG_MAX)', { iova: MAX - PAGE + 1n }, ERRNO.OK],
    ['fixed across the 4 GiB line', { iova: 0xfffff000n, length: 2n * PAGE }, ERRNO.OK],
  ] as const)('%s', (_n, over, want) => {
    expect(m(over)).toBe(want);
  });

  it('fixed map into a reserved range is EINVAL, onto an area EEXIST; misaligned iova/length EINVAL once a domain sets iova_alignment', () => {
    const f = ioasFixture(1);
    const mm = (iova: bigint, length: bigint) => f.fd.ioasMap({ ioasId: f.ioasId, flags: FIXED | R, userVa: BUFFER, length, iova }).errno;
    expect(mm(0n, PAGE)).toBe(ERRNO.EINVAL); // below the mock aperture: reserved
    expect(mm(MOCK_APERTURE_START + 0x100n, MOCK_PAGE_SIZE)).toBe(ERRNO.EINVAL);
    expect(mm(MOCK_APERTURE_START, MOCK_PAGE_SIZE + 1n)).toBe(ERRNO.EINVAL);
    expect(mm(MOCK_APERTURE_START, MOCK_PAGE_SIZE)).toBe(0);
    expect(mm(MOCK_APERTURE_START, MOCK_PAGE_SIZE)).toBe(ERRNO.EEXIST);
  });

  it('auto IOVA is never 0 nor in the first/last page, carries the user VA page offset, ENOSPC when full', () => {
    const f = new Iommufd();
    const i2 = f.ioasAlloc().outIoasId;
    const r = f.ioasMap({ ioasId: i2, flags: R, userVa: 0x10123n, length: 0x100n });
    expect(r).toEqual({ errno: 0, iova: PAGE | 0x123n });
    expect(f.ioasAllowIovas(i2, [{ start: 0n, last: 3n * PAGE - 1n }])).toBe(0);
    expect(f.ioasMap({ ioasId: i2, flags: R, userVa: BUFFER, length: PAGE })).toEqual({ errno: 0, iova: 2n * PAGE });
    expect(f.ioasMap({ ioasId: i2, flags: R, userVa: BUFFER, length: PAGE }).errno).toBe(ERRNO.ENOSPC);
  });

  it('pinning: EFAULT for unmapped user memory, EPERM for a writeable map of read-only memory, only once a domain exists', () => {
    const userMemory = (va: bigint, _len: bigint, write: boolean) => (va >= 0xdead0000n ? ERRNO.EFAULT : write && va >= 0xbeef0000n ? ERRNO.EPERM : 0);
    const fd2 = new Iommufd({ userMemory });
    const ioas = fd2.ioasAlloc().outIoasId;
    expect(fd2.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0xdead0000n, length: PAGE, iova: 0x100000n }).errno).toBe(0);
    expect(fd2.ioasUnmap(ioas, 0n, MAX).errno).toBe(0);
    const devId = fd2.deviceBind(device('d', mockIommu())).outDevId;
    expect(fd2.deviceAttach(devId, ioas).errno).toBe(0);
    expect(fd2.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0xdead0000n, length: PAGE, iova: MOCK_APERTURE_START }).errno).toBe(ERRNO.EFAULT);
    expect(fd2.ioasMap({ ioasId: ioas, flags: FIXED | R | W, userVa: 0xbeef0000n, length: PAGE, iova: MOCK_APERTURE_START }).errno).toBe(ERRNO.EPERM);
    expect(fd2.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0xbeef0000n, length: PAGE, iova: MOCK_APERTURE_START }).errno).toBe(0);
  });
});

describe('IOMMU_IOAS_UNMAP errnos (reference §2.3)', () => {
  it.each([
    ['iova == ULONG_MAX', MAX, PAGE, ERRNO.EOVERFLOW],
    ['length == ULONG_MAX with iova != 0', PAGE, MAX, ERRNO.EOVERFLOW],
    ['length 0', PAGE, 0n, ERRNO.EINVAL],
    ['wrap', MAX - PAGE, 2n * PAGE, ERRNO.EOVERFLOW],
    ['empty range', PAGE, PAGE, ERRNO.ENOENT],
  ] as const)('%s', (_n, iova, length, want) => {
    const fd = new Iommufd();
    const id = fd.ioasAlloc().outIoasId;
    expect(fd.ioasUnmap(id, iova, length).errno).toBe(want);
    expect(fd.ioasUnmap(id + 1, iova, length).errno).toBe(ERRNO.ENOENT);
  });

  it('an area sticking out at the end: ENOENT after the areas before it were unmapped (the kernel unmaps one area at a time)', () => {
    const fd = new Iommufd();
    const id = fd.ioasAlloc().outIoasId;
    for (const at of [0x1000n, 0x2000n]) fd.ioasMap({ ioasId: id, flags: FIXED | R, userVa: BUFFER, length: at === 0x1000n ? PAGE : 2n * PAGE, iova: at });
    expect(fd.ioasUnmap(id, 0x1000n, 2n * PAGE).errno).toBe(ERRNO.ENOENT);
    expect(ioasObj(fd, id).iopt.listAreas().map((a) => a.iova)).toEqual([0x2000n]);
  });

  it('returns the sum of area sizes, not the range size; areas reaching ULONG_MAX unmap with unmap-all', () => {
    const fd = new Iommufd();
    const id = fd.ioasAlloc().outIoasId;
    fd.ioasMap({ ioasId: id, flags: FIXED | R, userVa: BUFFER, length: PAGE, iova: MAX - PAGE + 1n });
    fd.ioasMap({ ioasId: id, flags: FIXED | R, userVa: BUFFER, length: PAGE, iova: 0n });
    expect(fd.ioasUnmap(id, 0n, MAX)).toEqual({ errno: 0, length: 2n * PAGE });
  });
});

describe('IOMMU_IOAS_COPY (reference §2.2)', () => {
  const setup = () => {
    const fd = new Iommufd();
    const a = fd.ioasAlloc().outIoasId;
    const b = fd.ioasAlloc().outIoasId;
    fd.ioasMap({ ioasId: a, flags: FIXED | R, userVa: 0x100000n, length: PAGE, iova: 0x10000n });
    fd.ioasMap({ ioasId: a, flags: FIXED | R | W, userVa: 0x200000n, length: PAGE, iova: 0x11000n });
    return { fd, a, b };
  };
  const base = { flags: FIXED | R, length: PAGE, srcIova: 0x10000n, dstIova: 0x40000n };
  it.each([
    ['unknown flag', { flags: 1 << 5 | R }, ERRNO.EOPNOTSUPP],
    ['length == ULONG_MAX', { length: MAX }, ERRNO.EOVERFLOW],
    ['src_iova == ULONG_MAX', { srcIova: MAX }, ERRNO.EOVERFLOW],
    ['dst_iova == ULONG_MAX', { dstIova: MAX }, ERRNO.EOVERFLOW],
    ['no access flag', { flags: FIXED }, ERRNO.EINVAL],
    ['length 0', { length: 0n }, ERRNO.EINVAL],
    ['source not mapped', { srcIova: 0x30000n }, ERRNO.ENOENT],
    ['source with a hole after it', { length: 3n * PAGE }, ERRNO.ENOENT],
    ['writeable over read-only pages', { flags: FIXED | R | W }, ERRNO.EPERM],
    ['a sub-page slice at an offset (copy_sweep)', { srcIova: 0x10800n, length: 0x1000n, dstIova: 0x40800n }, ERRNO.OK],
  ] as const)('%s', (_n, over, want) => {
    const { fd, a, b } = setup();
    expect(fd.ioasCopy({ ...base, srcIoasId: a, dstIoasId: b, ...over }).errno).toBe(want);
  });

  it('bad source or destination IOAS give ENOENT; contiguous source areas become one destination area each; auto placement', () => {
    const { fd, a, b } = setup();
    expect(fd.ioasCopy({ ...base, srcIoasId: 77, dstIoasId: b }).errno).toBe(ERRNO.ENOENT);
    expect(fd.ioasCopy({ ...base, srcIoasId: a, dstIoasId: 77 }).errno).toBe(ERRNO.ENOENT);
    expect(fd.ioasCopy({ ...base, length: 2n * PAGE, srcIoasId: a, dstIoasId: b }).errno).toBe(0);
    expect(ioasObj(fd, b).iopt.listAreas()).toEqual([
      { iova: 0x40000n, length: PAGE, userVa: 0x100000n, flags: 1 },
      { iova: 0x41000n, length: PAGE, userVa: 0x200000n, flags: 1 | 4 },
    ]);
    expect(fd.ioasUnmap(b, 0x41000n, PAGE).errno).toBe(0);
    expect(fd.ioasCopy({ flags: R, length: PAGE, srcIova: 0x11000n, srcIoasId: a, dstIoasId: b })).toEqual({ errno: 0, dstIova: PAGE });
  });
});

describe('IOMMU_IOAS_ALLOW_IOVAS, IOMMU_IOAS_ALLOC, IOMMU_OPTION (reference §2.4, §1.1)', () => {
  it('ioas-alloc flags must be 0; allow-iovas start >= last and overlaps give EINVAL', () => {
    const fd = new Iommufd();
    expect(fd.ioasAlloc(1).errno).toBe(ERRNO.EOPNOTSUPP);
    const id = fd.ioasAlloc().outIoasId;
    expect(id).toBe(1);
    expect(fd.ioasAllowIovas(id, [{ start: PAGE, last: PAGE }])).toBe(ERRNO.EINVAL);
    expect(fd.ioasAllowIovas(id, [{ start: PAGE, last: 3n * PAGE }, { start: 3n * PAGE, last: 4n * PAGE }])).toBe(ERRNO.EINVAL);
    expect(fd.ioasAllowIovas(id + 1, [])).toBe(ERRNO.ENOENT);
  });

  it('a device attach whose aperture would narrow an allowed range fails with EADDRINUSE', () => {
    const f = ioasFixture(0);
    expect(f.fd.ioasAllowIovas(f.ioasId, [{ start: PAGE, last: 0x10000n }])).toBe(0);
    const devId = f.fd.deviceBind(device('d', mockIommu())).outDevId;
    expect(f.fd.deviceAttach(devId, f.ioasId).errno).toBe(ERRNO.EADDRINUSE);
    expect(f.fd.objects().map((o) => o.kind)).toEqual(['ioas', 'device']);
  });

  it('rlimit-mode: get 0, set needs CAP_SYS_RESOURCE, EBUSY once an object exists, EINVAL for 2, object_id EOPNOTSUPP', () => {
    const fd = new Iommufd();
    const o = { optionId: IOMMU_OPTION_RLIMIT_MODE, objectId: 0 };
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_GET })).toEqual({ errno: 0, val64: 0n });
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_SET, val64: 2n }).errno).toBe(ERRNO.EINVAL);
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_SET, val64: 1n }).errno).toBe(0);
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_GET }).val64).toBe(1n);
    expect(fd.option({ ...o, objectId: 1, op: IOMMU_OPTION_OP_GET }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.option({ ...o, op: 7 }).errno).toBe(ERRNO.EOPNOTSUPP);
    fd.ioasAlloc();
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_SET, val64: 0n }).errno).toBe(ERRNO.EBUSY);
    expect(new Iommufd({ capSysResource: false }).option({ ...o, op: IOMMU_OPTION_OP_SET, val64: 0n }).errno).toBe(ERRNO.EPERM);
    expect(fd.option({ ...o, optionId: 9, op: IOMMU_OPTION_OP_GET }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_GET, reserved: 1 }).errno).toBe(ERRNO.EOPNOTSUPP);
  });

  it('huge-pages: default 1; 0 forces PAGE_SIZE alignment; EADDRINUSE for misaligned areas; EINVAL with domains and areas; ENOENT for object 0', () => {
    const fd = new Iommufd();
    const id = fd.ioasAlloc().outIoasId;
    const o = { optionId: IOMMU_OPTION_HUGE_PAGES, objectId: id };
    expect(fd.option({ ...o, objectId: 0, op: IOMMU_OPTION_OP_GET }).errno).toBe(ERRNO.ENOENT);
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_GET }).val64).toBe(1n);
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_SET, val64: 3n }).errno).toBe(ERRNO.EINVAL);
    fd.ioasMap({ ioasId: id, flags: FIXED | R, userVa: BUFFER, length: 0x800n, iova: 0x10000n });
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_SET, val64: 0n }).errno).toBe(ERRNO.EADDRINUSE);
    fd.ioasUnmap(id, 0n, MAX);
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_SET, val64: 0n }).errno).toBe(0);
    expect(fd.ioasIovaRanges(id, 1).outIovaAlignment).toBe(PAGE);
    expect(fd.ioasMap({ ioasId: id, flags: FIXED | R, userVa: BUFFER, length: 0x800n, iova: 0x10000n }).errno).toBe(ERRNO.EINVAL);
    expect(fd.option({ ...o, op: IOMMU_OPTION_OP_SET, val64: 1n }).errno).toBe(0);
    expect(fd.ioasIovaRanges(id, 1).outIovaAlignment).toBe(1n);
    const f = ioasFixture(1);
    f.fd.ioasMap({ ioasId: f.ioasId, flags: FIXED | R, userVa: BUFFER, length: PAGE, iova: MOCK_APERTURE_START });
    expect(f.fd.option({ optionId: IOMMU_OPTION_HUGE_PAGES, objectId: f.ioasId, op: IOMMU_OPTION_OP_SET, val64: 0n }).errno).toBe(ERRNO.EINVAL);
  });
});
