/**
 * The iommufd selftest's mock-domain and dirty-tracking fixtures (tools/testing/selftests/iommu/
 * iommufd.c @ torvalds 0795b305) transcribed: iommufd_mock_domain (variants one_domain, two_domains;
 * the hugepage variants need real huge pages): basic, ro_unshare, all_aligns, all_aligns_copy,
 * replace (one_domain: whether the selftest's two mock devices share one auto domain is not
 * modelled the same way), alloc_hwpt; iommufd_dirty_tracking: enforce_dirty, set_dirty_tracking,
 * device_dirty_capability, get_dirty_bitmap and get_dirty_bitmap_no_clear over the 128k, 256k
 * and 640k buffers. check_mock_iova becomes a host DMA through the device's HWPT (the user VA it
 * reaches); munmap'ed user memory is the engine's userMemory check (EFAULT).
 */
import { describe, expect, it } from 'vitest';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DIRTY_TRACKING_ENABLE, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R, IOMMU_IOAS_MAP_WRITEABLE as W } from '../../../../core/host/backend/iommufd/uapi.ts';
import { ERRNO, errnoName } from '../../../../core/host/errno.ts';
import { MOCK_APERTURE_START, MOCK_PAGE_SIZE, PAGE, device, mockIommu } from './fixtures.ts';

const n = errnoName;
const BUF = 0x7f1200000000n; // an mmap'ed buffer (page aligned)
const BUF_SIZE = 8n * PAGE; // mmap_buf_size without huge pages

/** The user memory the test has mapped, as [start, end) ranges: pinning outside them is EFAULT. */
function userMemory(mapped: { start: bigint; end: bigint }[]) {
  return (va: bigint, len: bigint): number => {
    for (let p = va; p < va + len; ) {
      const r = mapped.find((m) => m.start <= p && p < m.end);
      if (r === undefined) return ERRNO.EFAULT;
      p = r.end;
    }
    return ERRNO.OK;
  };
}

let mockSeq = 0;
const mockDev = (over = {}) => device(`mock-${mockSeq++}`, mockIommu({ iommu: `mock-${mockSeq}`, ...over }));

/** FIXTURE_SETUP(iommufd_mock_domain): an IOAS and `domains` mock devices, each with its own domain. */
function mockDomain(domains: number, mapped = [{ start: 0n, end: 1n << 60n }]) {
  const fd = new Iommufd({ userMemory: userMemory(mapped) });
  const ioasId = fd.ioasAlloc().outIoasId;
  const stdevIds: number[] = [];
  const hwptIds: number[] = [];
  for (let i = 0; i < domains; i++) {
    const dev = fd.deviceBind(mockDev()).outDevId;
    const pt = i === 0 ? ioasId : fd.hwptAlloc({ flags: 0, devId: dev, ptId: ioasId }).outHwptId;
    hwptIds.push(fd.deviceAttach(dev, pt).ptId);
    stdevIds.push(dev);
  }
  const checkMockIova = (va: bigint, iova: bigint, length: bigint) => {
    for (const d of stdevIds) {
      expect(fd.hostDma(d, iova, 1n, 'read')).toMatchObject({ translated: va });
      expect(fd.hostDma(d, iova + length - 1n, 1n, 'read')).toMatchObject({ translated: va + length - 1n });
    }
  };
  return { fd, ioasId, stdevIds, hwptIds, mapped, checkMockIova };
}

describe.each([
  { name: 'one_domain', domains: 1 },
  { name: 'two_domains', domains: 2 },
])('iommufd_mock_domain ($name)', ({ domains }) => {
  it('basic: a one-page auto map reaches the buffer; EFAULT half way through a mapping, and on its first page', () => {
    const mapped = [
      { start: 0x7f0000000000n, end: 0x7f0000000000n + 16n * PAGE },
      { start: BUF, end: BUF + BUF_SIZE },
    ];
    const s = mockDomain(domains, mapped);
    const r = s.fd.ioasMap({ ioasId: s.ioasId, flags: R | W, userVa: 0x7f0000000000n, length: PAGE });
    expect(r.errno).toBe(0);
    s.checkMockIova(0x7f0000000000n, r.iova, PAGE);
    mapped[1].end = BUF + BUF_SIZE / 2n; // munmap(buf + buf_size / 2, buf_size / 2)
    expect(n(s.fd.ioasMap({ ioasId: s.ioasId, flags: R | W, userVa: BUF, length: BUF_SIZE }).errno)).toBe('EFAULT');
    mapped.splice(1, 1); // munmap(buf, buf_size / 2)
    expect(n(s.fd.ioasMap({ ioasId: s.ioasId, flags: R | W, userVa: BUF, length: BUF_SIZE }).errno)).toBe('EFAULT');
  });

  it('ro_unshare: a READABLE-only map of a private page', () => {
    const s = mockDomain(domains);
    const r = s.fd.ioasMap({ ioasId: s.ioasId, flags: R, userVa: BUF, length: PAGE });
    expect(r.errno).toBe(0);
    s.checkMockIova(BUF, r.iova, PAGE);
    expect(s.fd.hostDma(s.stdevIds[0], r.iova, 4n, 'write')).toMatchObject({ fault: { reason: 'permission' } });
  });

  it('all_aligns: every start and end at MOCK_PAGE_SIZE steps inside the buffer maps, translates and unmaps', () => {
    const s = mockDomain(domains);
    for (let start = 0n; start < BUF_SIZE; start += MOCK_PAGE_SIZE) {
      for (let end = start + MOCK_PAGE_SIZE; end < BUF_SIZE; end += MOCK_PAGE_SIZE) {
        const length = end - start;
        const r = s.fd.ioasMap({ ioasId: s.ioasId, flags: R | W, userVa: BUF + start, length });
        expect([start, end, r.errno]).toEqual([start, end, 0]);
        s.checkMockIova(BUF + start, r.iova, length);
        expect(s.fd.ioasUnmap(s.ioasId, r.iova, length)).toEqual({ errno: 0, length });
      }
    }
  });

  it('all_aligns_copy: the same with a domain added and destroyed while each area exists', () => {
    const s = mockDomain(domains);
    for (let start = 0n; start < BUF_SIZE; start += MOCK_PAGE_SIZE) {
      for (let end = start + MOCK_PAGE_SIZE; end < BUF_SIZE; end += MOCK_PAGE_SIZE) {
        const length = end - start;
        const r = s.fd.ioasMap({ ioasId: s.ioasId, flags: R | W, userVa: BUF + start, length });
        expect(r.errno).toBe(0);
        const extra = s.fd.deviceBind(mockDev()).outDevId;
        expect(s.fd.deviceAttach(extra, s.ioasId).errno).toBe(0);
        s.checkMockIova(BUF + start, r.iova, length);
        expect(s.fd.hostDma(extra, r.iova, length, 'read')).toMatchObject({ translated: BUF + start });
        expect(s.fd.deviceUnbind(extra)).toBe(0);
        expect(s.fd.ioasUnmap(s.ioasId, r.iova, length).errno).toBe(0);
      }
    }
  });

  it.runIf(domains === 1)('replace: into a new IOAS destroys the prior auto HWPT (its ID → ENOENT); back to the first IOAS; the new IOAS is then destroyed', () => {
    const s = mockDomain(domains);
    const ioas2 = s.fd.ioasAlloc().outIoasId;
    expect(s.fd.deviceReplace(s.stdevIds[0], ioas2).errno).toBe(0);
    expect(n(s.fd.deviceReplace(s.stdevIds[0], s.hwptIds[0]).errno)).toBe('ENOENT');
    expect(s.fd.deviceReplace(s.stdevIds[0], ioas2).errno).toBe(0);
    expect(s.fd.deviceReplace(s.stdevIds[0], s.ioasId).errno).toBe(0);
    expect(s.fd.destroy(ioas2)).toBe(0);
  });

  it('alloc_hwpt: flags other than NEST_PARENT → EOPNOTSUPP; a rotation through two HWPTs, each EBUSY while used; a mock device directly on one', () => {
    const s = mockDomain(domains);
    for (let i = 0; i < domains; i++) {
      const dev = s.stdevIds[i];
      expect(n(s.fd.hwptAlloc({ flags: ~IOMMU_HWPT_ALLOC_NEST_PARENT, devId: dev, ptId: s.ioasId }).errno)).toBe('EOPNOTSUPP');
      const h0 = s.fd.hwptAlloc({ flags: 0, devId: dev, ptId: s.ioasId }).outHwptId;
      const h1 = s.fd.hwptAlloc({ flags: IOMMU_HWPT_ALLOC_NEST_PARENT, devId: dev, ptId: s.ioasId }).outHwptId;
      expect(s.fd.deviceReplace(dev, h0).errno).toBe(0);
      expect(n(s.fd.destroy(h0))).toBe('EBUSY');
      expect(s.fd.deviceReplace(dev, h1).errno).toBe(0);
      expect(n(s.fd.destroy(h1))).toBe('EBUSY');
      expect(s.fd.deviceReplace(dev, s.ioasId).errno).toBe(0);
      expect(s.fd.destroy(h1)).toBe(0);
      const st = s.fd.deviceBind(mockDev()).outDevId;
      expect(s.fd.deviceAttach(st, h0).errno).toBe(0);
      expect(s.fd.deviceUnbind(st)).toBe(0);
      expect(s.fd.destroy(h0)).toBe(0);
    }
  });
});

describe('iommufd_dirty_tracking', () => {
  /** FIXTURE_SETUP: an IOAS with a mock device attached. */
  const setup = () => {
    const fd = new Iommufd();
    const ioasId = fd.ioasAlloc().outIoasId;
    const idev = fd.deviceBind(mockDev()).outDevId;
    expect(fd.deviceAttach(idev, ioasId).errno).toBe(0);
    return { fd, ioasId, idev };
  };

  it('enforce_dirty: a device without dirty tracking cannot attach to a DIRTY_TRACKING HWPT (EINVAL), nor allocate one (EOPNOTSUPP)', () => {
    const s = setup();
    const hwpt = s.fd.hwptAlloc({ flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING, devId: s.idev, ptId: s.ioasId }).outHwptId;
    const ok = s.fd.deviceBind(mockDev()).outDevId;
    expect(s.fd.deviceAttach(ok, hwpt).errno).toBe(0);
    const noDirty = s.fd.deviceBind(mockDev({ dirtyTracking: false })).outDevId;
    expect(n(s.fd.deviceAttach(noDirty, hwpt).errno)).toBe('EINVAL');
    expect(s.fd.deviceUnbind(ok)).toBe(0);
    expect(s.fd.destroy(hwpt)).toBe(0);
    const ioas2 = s.fd.ioasAlloc().outIoasId;
    expect(s.fd.deviceAttach(noDirty, ioas2).errno).toBe(0);
    expect(n(s.fd.hwptAlloc({ flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING, devId: noDirty, ptId: ioas2 }).errno)).toBe('EOPNOTSUPP');
  });

  it('set_dirty_tracking: enable then disable', () => {
    const s = setup();
    const hwpt = s.fd.hwptAlloc({ flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING, devId: s.idev, ptId: s.ioasId }).outHwptId;
    expect(s.fd.deviceAttach(s.fd.deviceBind(mockDev()).outDevId, hwpt).errno).toBe(0);
    expect(s.fd.hwptSetDirtyTracking(hwpt, IOMMU_HWPT_DIRTY_TRACKING_ENABLE)).toBe(0);
    expect(s.fd.hwptSetDirtyTracking(hwpt, 0)).toBe(0);
  });

  it('device_dirty_capability: GET_HW_INFO reports IOMMU_HW_CAP_DIRTY_TRACKING', () => {
    const s = setup();
    expect(s.fd.getHwInfo({ devId: s.idev, dataLen: 0 }).outCapabilities & IOMMU_HW_CAP_DIRTY_TRACKING).toBe(IOMMU_HW_CAP_DIRTY_TRACKING);
  });

  describe.each([
    { name: 'domain_dirty128k', size: 128n << 10n },
    { name: 'domain_dirty256k', size: 256n << 10n },
    { name: 'domain_dirty640k', size: 640n << 10n },
  ])('$name', ({ size }) => {
    it.each([
      ['get_dirty_bitmap', 0],
      ['get_dirty_bitmap_no_clear', IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR],
    ] as const)('%s: every other MOCK_PAGE_SIZE page written reads back as every other bit; a second read is empty unless NO_CLEAR', (_n, flags) => {
      const s = setup();
      const ioas = s.fd.ioasAlloc().outIoasId;
      expect(s.fd.ioasMap({ ioasId: ioas, flags: FIXED | R | W, userVa: 0x7f0000000000n, length: size, iova: MOCK_APERTURE_START }).errno).toBe(0);
      const hwpt = s.fd.hwptAlloc({ flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING, devId: s.idev, ptId: ioas }).outHwptId;
      const dev = s.fd.deviceBind(mockDev()).outDevId;
      expect(s.fd.deviceAttach(dev, hwpt).errno).toBe(0);
      expect(s.fd.hwptSetDirtyTracking(hwpt, IOMMU_HWPT_DIRTY_TRACKING_ENABLE)).toBe(0);
      const npages = Number(size / MOCK_PAGE_SIZE);
      for (let i = 0; i < npages; i += 2) expect(s.fd.hostDma(dev, MOCK_APERTURE_START + BigInt(i) * MOCK_PAGE_SIZE, 8n, 'write')).toHaveProperty('translated');
      const read = () => s.fd.hwptGetDirtyBitmap({ hwptId: hwpt, flags, iova: MOCK_APERTURE_START, length: size, pageSize: MOCK_PAGE_SIZE });
      const bits = (bm: bigint[]) => Array.from({ length: npages }, (_, i) => ((bm[i >> 6] >> BigInt(i & 63)) & 1n) === 1n);
      const first = read();
      expect(first.errno).toBe(0);
      expect(bits(first.bitmap)).toEqual(Array.from({ length: npages }, (_, i) => i % 2 === 0));
      const second = read();
      expect(bits(second.bitmap)).toEqual(Array.from({ length: npages }, (_, i) => flags !== 0 && i % 2 === 0));
    });
  });
});
