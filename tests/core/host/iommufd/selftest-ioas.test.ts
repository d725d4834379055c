/**
 * The iommufd selftest (tools/testing/selftests/iommu/iommufd.c, read at torvalds/linux 0795b305)
 * transcribed: the `iommufd` fixture's cmd_fail and global_options, and the `iommufd_ioas`
 * fixture's cases not in ioas.test.ts (ioas_destroy, hwpt_attach, ioas_area_destroy,
 * ioas_area_auto_destroy, get_hw_info, iova_ranges as written, ioas_option_huge_pages,
 * ioas_iova_alloc, ioas_align_change, copy_sweep), over the variants no_domain, mock_domain and
 * two_mock_domain (mock_domain_limit needs memory accounting, not modelled). Each `it` names its
 * TEST_F. The mock domain: aperture [1 << 24, (1 << 31) - 1], MOCK_PAGE_SIZE = PAGE_SIZE / 2.
 */
import { describe, expect, it } from 'vitest';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R, IOMMU_IOAS_MAP_WRITEABLE as W, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET, IOMMU_OPTION_RLIMIT_MODE } from '../../../../core/host/backend/iommufd/uapi.ts';
import { errnoName } from '../../../../core/host/errno.ts';
import { IOAS_VARIANTS, MOCK_APERTURE_LAST, MOCK_APERTURE_START, MOCK_PAGE_SIZE, PAGE, device, ioasFixture, ioasObj, mockIommu } from './fixtures.ts';

const SIZE_MAX = 0xffffffffffffffffn;
/** The selftest's `buffer`: posix_memalign'ed to HUGEPAGE_SIZE, BUFFER_SIZE = 16 pages. */
const BUFFER = 0x7f0000000000n;
const BUFFER_SIZE = 16n * PAGE;
const TEST_OWNER = { name: 'IOMMU_TEST_OP_ADD_RESERVED' };
const n = errnoName;

describe('iommufd fixture', () => {
  it('cmd_fail: IOMMU_DESTROY of object id 0 → ENOENT', () => {
    expect(n(new Iommufd().destroy(0))).toBe('ENOENT');
  });

  it('global_options: RLIMIT_MODE get 0, set 1, set 2 → EINVAL, get 1, set 0; HUGE_PAGES on object 0 → ENOENT (get and set)', () => {
    const fd = new Iommufd();
    const opt = (op: number, val64: bigint, optionId = IOMMU_OPTION_RLIMIT_MODE) => fd.option({ optionId, op, objectId: 0, val64 });
    expect(opt(IOMMU_OPTION_OP_GET, 1n)).toEqual({ errno: 0, val64: 0n });
    expect(opt(IOMMU_OPTION_OP_SET, 1n).errno).toBe(0);
    expect(n(opt(IOMMU_OPTION_OP_SET, 2n).errno)).toBe('EINVAL');
    expect(opt(IOMMU_OPTION_OP_GET, 0n)).toEqual({ errno: 0, val64: 1n });
    expect(opt(IOMMU_OPTION_OP_SET, 0n).errno).toBe(0);
    expect(n(opt(IOMMU_OPTION_OP_GET, 0n, IOMMU_OPTION_HUGE_PAGES).errno)).toBe('ENOENT');
    expect(n(opt(IOMMU_OPTION_OP_SET, 0n, IOMMU_OPTION_HUGE_PAGES).errno)).toBe('ENOENT');
  });
});

describe.each(IOAS_VARIANTS)('iommufd_ioas ($name)', ({ domains }) => {
  const setup = () => {
    const f = ioasFixture(domains);
    const baseIova = domains === 0 ? 0n : MOCK_APERTURE_START;
    const mapFixed = (length: bigint, iova: bigint, userVa = BUFFER) => f.fd.ioasMap({ ioasId: f.ioasId, flags: FIXED | R | W, userVa, length, iova }).errno;
    const map = (length: bigint, userVa = BUFFER) => f.fd.ioasMap({ ioasId: f.ioasId, flags: R | W, userVa, length });
    const unmap = (iova: bigint, length: bigint, ioasId = f.ioasId) => f.fd.ioasUnmap(ioasId, iova, length);
    const hugePages = (op: number, val64: bigint) => f.fd.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op, objectId: f.ioasId, val64 });
    return { ...f, baseIova, mapFixed, map, unmap, hugePages };
  };

  it('ioas_destroy: EBUSY while a device has a HWPT on it, else destroyed', () => {
    const s = setup();
    expect(n(s.fd.destroy(s.ioasId))).toBe(domains > 0 ? 'EBUSY' : 'OK');
  });

  it('hwpt_attach: a new mock device attaches directly to the HWPT; without a domain hwpt_id 0 → ENOENT', () => {
    const s = setup();
    const dev = s.fd.deviceBind(device('stdev-extra', mockIommu({ iommu: 'mock0' }))).outDevId;
    const hwpt = domains > 0 ? s.hwptIds[0] : 0;
    expect(n(s.fd.deviceAttach(dev, hwpt).errno)).toBe(domains > 0 ? 'OK' : 'ENOENT');
  });

  it('ioas_area_destroy: an area does not change the ability to destroy', () => {
    const s = setup();
    expect(s.mapFixed(PAGE, s.baseIova)).toBe(0);
    expect(n(s.fd.destroy(s.ioasId))).toBe(domains > 0 ? 'EBUSY' : 'OK');
  });

  it('ioas_area_auto_destroy: ten areas, then close frees everything', () => {
    const s = setup();
    for (let i = 0n; i < 10n; i++) expect(s.mapFixed(PAGE, s.baseIova + i * PAGE)).toBe(0);
    s.fd.close();
    expect(s.fd.objects()).toEqual([]);
  });

  it('get_hw_info: zero-size, exact, larger (tail zeroed) and smaller buffers; no device → ENOENT', () => {
    const s = setup();
    if (domains === 0) {
      expect(n(s.fd.getHwInfo({ devId: 0, dataLen: 24 }).errno)).toBe('ENOENT');
      return;
    }
    const dev = s.devIds[0];
    const zero = s.fd.getHwInfo({ devId: dev, dataLen: 0 });
    expect(zero).toMatchObject({ errno: 0, dataLen: 24 });
    const exact = s.fd.getHwInfo({ devId: dev, dataLen: 24 });
    expect([...exact.data]).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    const larger = s.fd.getHwInfo({ devId: dev, dataLen: 32 });
    expect([...larger.data.subarray(24)]).toEqual(new Array(8).fill(0));
    expect(larger.dataLen).toBe(24);
    const smaller = s.fd.getHwInfo({ devId: dev, dataLen: 4 });
    expect([...smaller.data]).toEqual([1, 2, 3, 4]);
  });

  it('iova_ranges (as written): one range; num_iovas 0 → EMSGSIZE, 1; ADD_RESERVED [PAGE_SIZE, +PAGE_SIZE) splits it without a domain, is outside the mock aperture with one', () => {
    const s = setup();
    const r = s.fd.ioasIovaRanges(s.ioasId, 64);
    expect(r.numIovas).toBe(1);
    expect(r.ranges[0]).toEqual(domains === 0 ? { start: 0n, last: SIZE_MAX } : { start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST });
    expect(r.outIovaAlignment).toBe(domains === 0 ? 1n : MOCK_PAGE_SIZE);
    expect(s.fd.ioasIovaRanges(s.ioasId, 0)).toMatchObject({ errno: 90, numIovas: 1, ranges: [] });
    expect(ioasObj(s.fd, s.ioasId).iopt.reserve(PAGE, 2n * PAGE - 1n, TEST_OWNER)).toBe(0);
    const two = s.fd.ioasIovaRanges(s.ioasId, 64);
    if (domains === 0) {
      expect(two).toMatchObject({ errno: 0, numIovas: 2, ranges: [{ start: 0n, last: PAGE - 1n }, { start: 2n * PAGE, last: SIZE_MAX }] });
      expect(s.fd.ioasIovaRanges(s.ioasId, 1)).toMatchObject({ errno: 90, numIovas: 2, ranges: [{ start: 0n, last: PAGE - 1n }] });
    } else {
      expect(two).toMatchObject({ errno: 0, numIovas: 1, ranges: [{ start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST }] });
      expect(s.fd.ioasIovaRanges(s.ioasId, 1)).toMatchObject({ errno: 0, numIovas: 1 });
    }
  });

  it('ioas_option_huge_pages: get 1, set 0, get 0, set 2 → EINVAL, set 1', () => {
    const s = setup();
    expect(s.hugePages(IOMMU_OPTION_OP_GET, 3n)).toEqual({ errno: 0, val64: 1n });
    expect(s.hugePages(IOMMU_OPTION_OP_SET, 0n).errno).toBe(0);
    expect(s.hugePages(IOMMU_OPTION_OP_GET, 3n)).toEqual({ errno: 0, val64: 0n });
    expect(n(s.hugePages(IOMMU_OPTION_OP_SET, 2n).errno)).toBe('EINVAL');
    expect(s.hugePages(IOMMU_OPTION_OP_SET, 1n).errno).toBe(0);
  });

  it('ioas_iova_alloc: every length from 1 to 2 pages - 1 maps and unmaps; with a mock domain lengths not a multiple of MOCK_PAGE_SIZE → EINVAL', () => {
    const s = setup();
    const bad: bigint[] = [];
    for (let length = 1n; length !== PAGE * 2n; length++) {
      const r = s.map(length);
      const want = domains > 0 && length % MOCK_PAGE_SIZE !== 0n ? 'EINVAL' : 'OK';
      if (n(r.errno) !== want) bad.push(length);
      if (r.errno === 0 && s.unmap(r.iova, length).errno !== 0) bad.push(-length);
    }
    expect(bad).toEqual([]);
  });

  it('ioas_align_change (no domain only): HUGE_PAGES 0 raises the alignment to PAGE_SIZE; a misaligned page offset is refused at map (EINVAL) and blocks the upgrade (EADDRINUSE)', () => {
    if (domains > 0) return; // "We cannot upgrade the alignment using OPTION_HUGE_PAGES when a domain and map are present."
    const s = setup();
    expect(s.mapFixed(PAGE, MOCK_APERTURE_START)).toBe(0);
    expect(s.hugePages(IOMMU_OPTION_OP_SET, 0n).errno).toBe(0);
    expect(n(s.mapFixed(PAGE, MOCK_APERTURE_START + PAGE, BUFFER + MOCK_PAGE_SIZE))).toBe('EINVAL');
    expect(s.hugePages(IOMMU_OPTION_OP_SET, 0n).errno).toBe(0);
    expect(s.hugePages(IOMMU_OPTION_OP_SET, 1n).errno).toBe(0);
    expect(s.mapFixed(PAGE, MOCK_APERTURE_START + PAGE, BUFFER + MOCK_PAGE_SIZE)).toBe(0);
    expect(n(s.hugePages(IOMMU_OPTION_OP_SET, 0n).errno)).toBe('EADDRINUSE');
    expect(s.unmap(MOCK_APERTURE_START + PAGE, PAGE).errno).toBe(0);
    expect(s.unmap(MOCK_APERTURE_START, PAGE).errno).toBe(0);
  });

  // copy_sweep's flags are FIXED_IOVA | WRITEABLE since the stable fix that made IOAS_COPY without
  // READABLE/WRITEABLE fail with EINVAL (the 0795b305 copy read here still had FIXED_IOVA alone).
  it('copy_sweep: MOCK_PAGE_SIZE copies at every 511-byte source offset: inside the mapping → 0, reaching outside → ENOENT', () => {
    const s = setup();
    const dst = s.fd.ioasAlloc().outIoasId;
    const last = MOCK_APERTURE_START + BUFFER_SIZE - (domains > 0 ? 1n : 2n);
    expect(s.mapFixed(last - MOCK_APERTURE_START + 1n, MOCK_APERTURE_START)).toBe(0);
    const wrong: bigint[] = [];
    for (let iova = MOCK_APERTURE_START - PAGE; iova <= last; iova += 511n) {
      const r = s.fd.ioasCopy({ flags: FIXED | W, dstIoasId: dst, srcIoasId: s.ioasId, length: MOCK_PAGE_SIZE, dstIova: MOCK_APERTURE_START, srcIova: iova });
      const want = iova < MOCK_APERTURE_START || iova + MOCK_PAGE_SIZE - 1n > last ? 'ENOENT' : 'OK';
      if (n(r.errno) !== want) wrong.push(iova);
      if (r.errno === 0 && s.unmap(MOCK_APERTURE_START, MOCK_PAGE_SIZE, dst).errno !== 0) wrong.push(-iova);
    }
    expect(wrong).toEqual([]);
    expect(s.fd.destroy(dst)).toBe(0);
  });
});
