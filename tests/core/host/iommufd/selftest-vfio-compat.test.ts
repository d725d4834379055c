/**
 * The iommufd selftest's VFIO compatibility cases (tools/testing/selftests/iommu/iommufd.c, read at
 * torvalds/linux 0795b305, "VFIO compatibility IOCTLs"): the `iommufd` fixture's simple_ioctls,
 * unmap_cmd, map_cmd, info_cmd, set_iommu_cmd, vfio_ioas, and the `vfio_compat_mock_domain`
 * fixture (variants Ver1v2 = TYPE1v2, Ver1v0 = TYPE1) with simple_close, option_huge_pages,
 * get_info, map, huge_map. As in the selftest, the fixture makes "what VFIO would consider a
 * group" by attaching a mock device to an IOAS and selecting it with IOMMU_VFIO_IOAS SET, no
 * VFIO group involved; the container is IommufdVfioCompat's iommufd.
 */
import { describe, expect, it } from 'vitest';
import { IommufdVfioCompat, IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET } from '../../../../core/host/backend/iommufd/vfio-compat.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET } from '../../../../core/host/backend/iommufd/uapi.ts';
import { VFIO_DMA_MAP_FLAG as M, VFIO_DMA_UNMAP_FLAG as U, VFIO_EXT } from '../../../../core/host/backend/vfio-type1/vfio.ts';
import { errnoName } from '../../../../core/host/errno.ts';
import { platform } from '../backend/type1-fixture.ts';
import { COMPAT_HOST } from '../backend/dma-compat-cases.ts';
import { MOCK_APERTURE_LAST, MOCK_APERTURE_START, PAGE, device, mockIommu } from './fixtures.ts';

const BUFFER = 0x7f0000000000n;
const BUFFER_SIZE = 16n * PAGE;
const HUGEPAGE_SIZE = 0x200000n;
const RW = M.READ | M.WRITE;
const n = (x: { errno: number } | number) => errnoName(typeof x === 'number' ? x : x.errno);

/** A fresh /dev/iommu used through the VFIO compat ioctls (the `iommufd` fixture). */
function bare() {
  const be = new IommufdVfioCompat(platform(COMPAT_HOST));
  return { be, c: be.containerOpen().container };
}

describe('iommufd fixture: VFIO compatibility IOCTLs', () => {
  it('simple_ioctls: CHECK_EXTENSION(TYPE1v2) = 1', () => {
    const { be, c } = bare();
    expect(be.checkExtension(c, VFIO_EXT.TYPE1v2_IOMMU)).toEqual({ errno: 0, value: 1 });
  });

  it('unmap_cmd: argsz 1 → EINVAL, flags 1 << 31 → EINVAL, no compat IOAS → ENODEV', () => {
    const { be, c } = bare();
    const cmd = { iova: MOCK_APERTURE_START, size: PAGE };
    expect(n(be.unmapDma(c, { ...cmd, argsz: 1, flags: 0 }))).toBe('EINVAL');
    expect(n(be.unmapDma(c, { ...cmd, flags: 1 << 31 }))).toBe('EINVAL');
    expect(n(be.unmapDma(c, { ...cmd, flags: 0 }))).toBe('ENODEV');
  });

  it('map_cmd: argsz 1 → EINVAL, flags 1 << 31 → EINVAL, READ|WRITE without a compat IOAS → ENODEV', () => {
    const { be, c } = bare();
    const cmd = { iova: MOCK_APERTURE_START, size: PAGE, vaddr: BUFFER };
    expect(n(be.mapDma(c, { ...cmd, argsz: 1, flags: RW }))).toBe('EINVAL');
    expect(n(be.mapDma(c, { ...cmd, flags: 1 << 31 }))).toBe('EINVAL');
    expect(n(be.mapDma(c, { ...cmd, flags: RW }))).toBe('ENODEV');
  });

  it('info_cmd: argsz 1 → EINVAL; then ENODEV', () => {
    const { be, c } = bare();
    expect(n(be.getInfo(c, 1))).toBe('EINVAL');
    expect(n(be.getInfo(c, 24))).toBe('ENODEV');
  });

  it('set_iommu_cmd: TYPE1v2 and TYPE1 → ENODEV without a compat IOAS', () => {
    const { be, c } = bare();
    expect(n(be.setIommu(c, VFIO_EXT.TYPE1v2_IOMMU))).toBe('ENODEV');
    expect(n(be.setIommu(c, VFIO_EXT.TYPE1_IOMMU))).toBe('ENODEV');
  });

  it('vfio_ioas: GET → ENODEV; SET of an invalid id → ENOENT; SET of an IOAS; GET returns it; CLEAR; GET → ENODEV', () => {
    const { be, c } = bare();
    expect(n(be.vfioIoas(c, IOMMU_VFIO_IOAS_GET))).toBe('ENODEV');
    expect(n(be.vfioIoas(c, IOMMU_VFIO_IOAS_SET, 0))).toBe('ENOENT');
    const ioas = be.container(c)!.fd.ioasAlloc().outIoasId;
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_SET, ioas).errno).toBe(0);
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_GET)).toEqual({ errno: 0, ioasId: ioas });
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_CLEAR).errno).toBe(0);
    expect(n(be.vfioIoas(c, IOMMU_VFIO_IOAS_GET))).toBe('ENODEV');
  });
});

const VARIANTS = [
  { name: 'Ver1v2', version: VFIO_EXT.TYPE1v2_IOMMU },
  { name: 'Ver1v0', version: VFIO_EXT.TYPE1_IOMMU },
] as const;

describe.each(VARIANTS)('vfio_compat_mock_domain ($name)', ({ version }) => {
  const setup = () => {
    const { be, c } = bare();
    const fd = be.container(c)!.fd;
    const ioasId = fd.ioasAlloc().outIoasId;
    const dev = fd.deviceBind(device('mock', mockIommu())).outDevId;
    expect(fd.deviceAttach(dev, ioasId).errno).toBe(0);
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_SET, ioasId).errno).toBe(0);
    expect(be.setIommu(c, version).errno).toBe(0);
    return { be, c, fd, ioasId };
  };

  it('simple_close', () => {
    const { fd } = setup();
    fd.close();
    expect(fd.objects()).toEqual([]);
  });

  it('option_huge_pages: TYPE1 disabled them (0), TYPE1v2 did not (1)', () => {
    const { fd, ioasId } = setup();
    expect(fd.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, objectId: ioasId, val64: 3n }).val64).toBe(version === VFIO_EXT.TYPE1_IOMMU ? 0n : 1n);
  });

  it('get_info: the pre-cap ABI (argsz 16), the chain size (argsz 24: cap_offset 0, argsz grows), and every argsz up to it: flags PGSIZES|CAPS, a chain only once it all fits', () => {
    const { be, c } = setup();
    const pre = be.getInfo(c, 16);
    expect(pre.flags).toBe(3);
    expect(pre.iovaPgsizes).not.toBe(0n);
    const size = be.getInfo(c, 24);
    expect(size).toMatchObject({ errno: 0, flags: 3, capOffset: 0 });
    expect(size.argsz).toBeGreaterThan(24);
    for (let i = 24; i < size.argsz + 8; i++) {
      const r = be.getInfo(c, i);
      expect(r.flags).toBe(3);
      expect(r.argsz).toBe(size.argsz);
      if (r.capOffset === 0) {
        expect(i).toBeLessThan(size.argsz);
        continue;
      }
      expect(r.capabilities).toEqual({ dmaAvail: { avail: 0xffffffff }, iovaRange: { nrIovas: 1, iovaRanges: [{ start: MOCK_APERTURE_START, end: MOCK_APERTURE_LAST }] } });
    }
  });

  it('map: a simple map/unmap returns BUFFER_SIZE; UNMAP_FLAG_ALL needs iova and size 0; page maps unmapped one by one in shuffled order', () => {
    const { be, c } = setup();
    const map = { flags: RW, vaddr: BUFFER, size: BUFFER_SIZE, iova: MOCK_APERTURE_START };
    expect(be.mapDma(c, map).errno).toBe(0);
    expect(be.unmapDma(c, { flags: 0, iova: MOCK_APERTURE_START, size: BUFFER_SIZE })).toEqual({ errno: 0, size: BUFFER_SIZE });
    expect(be.mapDma(c, map).errno).toBe(0);
    expect(n(be.unmapDma(c, { flags: U.ALL, iova: MOCK_APERTURE_START, size: BUFFER_SIZE }))).toBe('EINVAL');
    expect(be.unmapDma(c, { flags: U.ALL, iova: 0n, size: 0n })).toEqual({ errno: 0, size: BUFFER_SIZE });
    const pages: bigint[] = [];
    for (let i = 0n; i < BUFFER_SIZE / PAGE; i++) {
      pages.push(MOCK_APERTURE_START + i * PAGE);
      expect(be.mapDma(c, { flags: RW, iova: MOCK_APERTURE_START + i * PAGE, vaddr: BUFFER + i * PAGE, size: PAGE }).errno).toBe(0);
    }
    const order = [7, 2, 12, 0, 15, 5, 9, 1, 14, 3, 11, 6, 13, 4, 10, 8];
    for (const i of order) expect(be.unmapDma(c, { flags: 0, iova: pages[i], size: PAGE })).toEqual({ errno: 0, size: PAGE });
  });

  it('huge_map: a 2-huge-page map cut into 16 pieces: TYPE1 unmaps each (areas cut), TYPE1v2 fails each with ENOENT', () => {
    const { be, c } = setup();
    const size = HUGEPAGE_SIZE * 2n;
    expect(be.mapDma(c, { flags: RW, vaddr: BUFFER, size, iova: MOCK_APERTURE_START }).errno).toBe(0);
    const piece = size / 16n;
    const order = [3, 14, 0, 9, 6, 11, 1, 15, 4, 8, 13, 2, 10, 7, 12, 5];
    for (const i of order) {
      const r = be.unmapDma(c, { flags: 0, iova: MOCK_APERTURE_START + BigInt(i) * piece, size: piece });
      if (version === VFIO_EXT.TYPE1_IOMMU) expect(r).toEqual({ errno: 0, size: piece });
      else expect(n(r)).toBe('ENOENT');
    }
  });
});
