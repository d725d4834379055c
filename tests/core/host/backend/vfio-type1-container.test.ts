import { describe, expect, it } from 'vitest';
import { EBADF, VFIO_EXT, VfioType1 } from '../../../../core/host/backend/vfio-type1/vfio.ts';
import { ERRNO } from '../../../../core/host/errno.ts';
import { DmaOwnership } from '../../../../core/host/platform/dma-owner.ts';
import type { HostDesc } from '../../../../core/host/platform/host.ts';
import { RW, platform, setup } from './type1-fixture.ts';

/** Two VT-d units (39- and 48-bit), an ACS-less root port group, an endpoint bound to a host driver, an mdev. */
const HOST: HostDesc = {
  iommus: [
    { name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 },
    { name: 'dmar1', model: 'intel-vtd', 'aw-bits': 48, 'page-sizes': [0x1000, 0x200000] },
    { name: 'dmar2', model: 'intel-vtd', 'aw-bits': 48, 'reserved-regions': [], 'cache-coherency': false },
    { name: 'dmar3', model: 'intel-vtd', 'aw-bits': 39, 'reserved-regions': [{ start: 0, end: 0x7fffffffffn, type: 'reserved' }] },
    { name: 'dmar4', model: 'intel-vtd', 'aw-bits': 39, 'reserved-regions': [{ start: 0x100000, length: 0x100000, type: 'direct-relaxable' }] },
  ],
  devices: [
    { name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', iommu: 'dmar0' }, // group 0
    { name: 'vf1', bdf: '0000:5e:00.0', type: 'vfio-pci', iommu: 'dmar1' }, // group 1
    { name: 'rp0', bdf: '0000:80:1c.0', type: 'root-port', iommu: 'dmar0', acs: false }, // group 2 with nic (host driver) and vf5
    { name: 'nic', bdf: '0000:81:00.0', type: 'endpoint', behind: 'rp0' },
    { name: 'vf5', bdf: '0000:81:00.1', type: 'vfio-pci', behind: 'rp0' },
    { name: 'vf2', bdf: '0000:90:00.0', type: 'vfio-pci', iommu: 'dmar2' }, // group 3
    { name: 'vf3', bdf: '0000:a0:00.0', type: 'vfio-pci', iommu: 'dmar3' }, // group 4
    { name: 'vf4', bdf: '0000:b0:00.0', type: 'vfio-pci', iommu: 'dmar4' }, // group 5
    { name: 'rp1', bdf: '0000:c0:1c.0', type: 'root-port', iommu: 'dmar0' }, // group 6: no vfio member
    { name: 'mdev0', type: 'mdev', parent: 'vf0' }, // group 7
  ],
};

const MSI_SPLIT_39 = [
  { start: 0n, end: 0xfedfffffn },
  { start: 0xfef00000n, end: 0x7fffffffffn },
];

function world(opts = {}) {
  const v = new VfioType1(platform(HOST), opts);
  return { v, c: v.containerOpen().container };
}

describe('containers and groups (vfio core: container.c, group.c)', () => {
  it('the fixture groups are what the comments say', () => {
    expect(platform(HOST).groups.map((g) => [g.id, g.members])).toEqual([
      [0, ['vf0']],
      [1, ['vf1']],
      [2, ['rp0', 'nic', 'vf5']],
      [3, ['vf2']],
      [4, ['vf3']],
      [5, ['vf4']],
      [6, ['rp1']],
      [7, ['mdev0']],
    ]);
  });

  it('container ids count from 1; an unknown container is EBADF on every ioctl', () => {
    const { v, c } = world();
    expect(c).toBe(1);
    expect(v.containerOpen().container).toBe(2);
    expect(v.groupSetContainer(0, 9).errno).toBe(EBADF);
    expect(v.setIommu(9, 'type1v2').errno).toBe(EBADF);
    expect(v.checkExtension(9, VFIO_EXT.TYPE1_IOMMU).errno).toBe(EBADF);
    expect(v.mapDma(9, { flags: RW, iova: 0n, size: 0x1000n }).errno).toBe(EBADF);
    expect(v.unmapDma(9, { flags: 0, iova: 0n, size: 0x1000n }).errno).toBe(EBADF);
    expect(v.getInfo(9).errno).toBe(EBADF);
  });

  it('a group by number or by member name; unknown, or with no vfio-bound member → ENOENT', () => {
    const { v, c } = world();
    expect(v.groupSetContainer(42, c).errno).toBe(ERRNO.ENOENT);
    expect(v.groupSetContainer('ghost', c).errno).toBe(ERRNO.ENOENT);
    expect(v.groupSetContainer(6, c).errno).toBe(ERRNO.ENOENT);
    expect(v.groupSetContainer(0, c).errno).toBe(ERRNO.OK);
    expect(v.groupSetContainer('vf1', c).errno).toBe(ERRNO.OK);
    expect(v.container(c)!.groups).toEqual([0, 1]);
  });

  it('a group already in a container (this one or another) → EINVAL', () => {
    const { v, c } = world();
    const c2 = v.containerOpen().container;
    expect(v.groupSetContainer('vf0', c).errno).toBe(ERRNO.OK);
    expect(v.groupSetContainer('vf0', c).errno).toBe(ERRNO.EINVAL);
    expect(v.groupSetContainer('vf0', c2).errno).toBe(ERRNO.EINVAL);
  });

  it('a group with a device bound to a host driver, or owned through another backend → EBUSY (iommu_group_claim_dma_owner)', () => {
    const own = new DmaOwnership();
    const { v, c } = world({ ownership: own });
    expect(v.groupSetContainer(2, c).errno).toBe(ERRNO.OK); // a shared ownership without kernel claims: the machine decides
    const { v: v2, c: c2 } = world();
    expect(v2.groupSetContainer(2, c2).errno).toBe(ERRNO.EBUSY);
    const iommufdCtx = {};
    expect(own.claim(1, iommufdCtx)).toBe(ERRNO.OK);
    expect(v.groupSetContainer(1, c).errno).toBe(ERRNO.EBUSY);
    own.release(1, iommufdCtx);
    expect(v.groupSetContainer(1, c).errno).toBe(ERRNO.OK);
    expect(own.claim(1, iommufdCtx)).toBe(ERRNO.EBUSY);
  });

  it('SET_IOMMU: no group yet → EINVAL; an unknown type → ENODEV; twice → EINVAL', () => {
    const { v, c } = world();
    expect(v.setIommu(c, 'type1v2').errno).toBe(ERRNO.EINVAL);
    v.groupSetContainer(0, c);
    expect(v.setIommu(c, VFIO_EXT.SPAPR_TCE_IOMMU).errno).toBe(ERRNO.ENODEV);
    expect(v.setIommu(c, 'bogus').errno).toBe(ERRNO.ENODEV);
    expect(v.setIommu(c, VFIO_EXT.TYPE1v2_IOMMU).errno).toBe(ERRNO.OK);
    expect(v.setIommu(c, VFIO_EXT.TYPE1v2_IOMMU).errno).toBe(ERRNO.EINVAL);
  });

  it('IOMMU ioctls before SET_IOMMU → EINVAL (no driver: vfio_fops_unl_ioctl)', () => {
    const { v, c } = world();
    v.groupSetContainer(0, c);
    expect(v.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.unmapDma(c, { flags: 0, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.getInfo(c).errno).toBe(ERRNO.EINVAL);
  });

  it('SET_IOMMU attaches the groups set so far; the first failure is returned and the container stays without a driver', () => {
    const { v, c } = world();
    v.groupSetContainer('vf0', c);
    v.groupSetContainer('vf3', c); // its reserved region covers the whole aperture: the list would be empty
    expect(v.setIommu(c, 'type1v2').errno).toBe(ERRNO.EINVAL);
    expect(v.container(c)!.type1).toBeNull();
    expect(v.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
  });

  it('CHECK_EXTENSION: the type1 extensions are 1 with or without a driver; DMA_CC_IOMMU needs coherent domains; others 0', () => {
    const { v, c } = world();
    for (const e of [VFIO_EXT.TYPE1_IOMMU, VFIO_EXT.TYPE1v2_IOMMU, VFIO_EXT.UNMAP_ALL, VFIO_EXT.UPDATE_VADDR]) expect(v.checkExtension(c, e)).toEqual({ errno: 0, value: 1 });
    // TYPE1_NESTING: no longer advertised since commit 35890f85573c (era '2025'), still in '2024'.
    expect(v.checkExtension(c, VFIO_EXT.TYPE1_NESTING_IOMMU)).toEqual({ errno: 0, value: 0 });
    const old = new VfioType1(platform(HOST), { kernel: '2024' });
    expect(old.checkExtension(old.containerOpen().container, VFIO_EXT.TYPE1_NESTING_IOMMU)).toEqual({ errno: 0, value: 1 });
    for (const e of [VFIO_EXT.SPAPR_TCE_IOMMU, VFIO_EXT.EEH, VFIO_EXT.NOIOMMU_IOMMU, 99]) expect(v.checkExtension(c, e)).toEqual({ errno: 0, value: 0 });
    expect(v.checkExtension(c, VFIO_EXT.DMA_CC_IOMMU).value).toBe(0);
    v.groupSetContainer('vf0', c);
    v.setIommu(c, 'type1v2');
    expect(v.checkExtension(c, VFIO_EXT.DMA_CC_IOMMU).value).toBe(1);
    expect(v.groupSetContainer('vf2', c).errno).toBe(ERRNO.OK); // dmar2 is not coherent
    expect(v.checkExtension(c, VFIO_EXT.DMA_CC_IOMMU).value).toBe(0);
  });
});

describe('the valid IOVA list (vfio_iommu_type1_attach_group, reference §4)', () => {
  it('one 39-bit VT-d group: the aperture minus the MSI window; reported by GET_INFO IOVA_RANGE', () => {
    const { v, c } = setup(HOST, ['vf0']);
    expect(v.getInfo(c).capabilities!.iovaRange).toEqual({ nrIovas: 2, iovaRanges: MSI_SPLIT_39 });
  });

  it('a 48-bit group joining: the intersection (39 bits); page sizes intersect too', () => {
    const { v, c } = setup(HOST, ['vf1']);
    expect(v.getInfo(c).capabilities!.iovaRange!.iovaRanges.at(-1)).toEqual({ start: 0xfef00000n, end: 0xffffffffffffn });
    expect(v.getInfo(c).iovaPgsizes).toBe(0x201000n);
    expect(v.groupSetContainer('vf0', c).errno).toBe(ERRNO.OK);
    expect(v.getInfo(c).capabilities!.iovaRange!.iovaRanges).toEqual(MSI_SPLIT_39);
    expect(v.getInfo(c).iovaPgsizes).toBe(0x201000n);
    expect(v.container(c)!.type1!.domains.map((d) => d.iommu)).toEqual(['dmar1', 'dmar0']);
  });

  it('a group whose aperture would exclude an existing mapping → EINVAL, list unchanged', () => {
    const { v, c } = setup(HOST, ['vf1']);
    expect(v.mapDma(c, { flags: RW, iova: 0x10000000000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.groupSetContainer('vf0', c).errno).toBe(ERRNO.EINVAL);
    expect(v.getInfo(c).capabilities!.iovaRange!.iovaRanges.at(-1)!.end).toBe(0xffffffffffffn);
    expect(v.container(c)!.groups).toEqual([1]);
    // The group was not claimed: another container may take it.
    const c2 = v.containerOpen().container;
    expect(v.groupSetContainer('vf0', c2).errno).toBe(ERRNO.OK);
  });

  it('a group whose reserved region overlaps an existing mapping → EINVAL', () => {
    const { v, c } = setup(HOST, ['vf2']); // no reserved regions
    expect(v.mapDma(c, { flags: RW, iova: 0xfee00000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.groupSetContainer('vf1', c).errno).toBe(ERRNO.EINVAL); // dmar1 reserves the MSI window
    expect(v.unmapDma(c, { flags: 0, iova: 0xfee00000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.groupSetContainer('vf1', c).errno).toBe(ERRNO.OK);
  });

  it('reserved regions that empty the list → EINVAL; direct-relaxable regions stay in the list', () => {
    const { v, c } = setup(HOST, ['vf0']);
    expect(v.groupSetContainer('vf3', c).errno).toBe(ERRNO.EINVAL);
    const s = setup(HOST, ['vf4']);
    expect(s.v.getInfo(s.c).capabilities!.iovaRange!.iovaRanges).toEqual([{ start: 0n, end: 0x7fffffffffn }]);
    expect(s.v.mapDma(s.c, { flags: RW, iova: 0x100000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
  });

  it('an mdev-only container: no IOVA_RANGE capability and any IOVA maps; a later group is replayed, and a mapping beyond its aperture fails the attach (EFAULT)', () => {
    const { v, c } = setup(HOST, ['mdev0']);
    const info = v.getInfo(c);
    expect(info.capabilities!.iovaRange).toBeUndefined();
    expect(info.argsz).toBe(24 + 32 + 16);
    expect(v.mapDma(c, { flags: RW, iova: 0xfee00000n, size: 0x1000n }).errno).toBe(ERRNO.OK); // nothing reserved yet
    expect(v.groupSetContainer('vf1', c).errno).toBe(ERRNO.EINVAL); // …but the MSI window now conflicts
    expect(v.unmapDma(c, { flags: 0, iova: 0xfee00000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.mapDma(c, { flags: RW, iova: 0x8000000000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.groupSetContainer('vf0', c).errno).toBe(ERRNO.EFAULT);
    expect(v.groupSetContainer('vf1', c).errno).toBe(ERRNO.OK); // 48 bits reach it
    expect(v.translate('mdev0', 0x8000000000n, 4n, 'read')).toEqual({ translated: 0x8000000000n });
  });

  it('a duplicate attach is refused by the type1 driver too (EINVAL)', () => {
    const { v, c } = setup(HOST, ['vf0']);
    const t = v.container(c)!.type1!;
    expect(t.domains[0].groups.has(0)).toBe(true);
    expect(v.groupSetContainer(0, c).errno).toBe(ERRNO.EINVAL);
  });

  it('detach widens the list; the last IOMMU group leaving drops the mappings; the last group releases the driver', () => {
    const { v, c } = setup(HOST, ['vf1', 'vf0']);
    expect(v.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.groupUnsetContainer('vf0').errno).toBe(ERRNO.OK);
    expect(v.getInfo(c).capabilities!.iovaRange!.iovaRanges.at(-1)!.end).toBe(0xffffffffffffn);
    expect(v.getInfo(c).capabilities!.dmaAvail.avail).toBe(65534);
    expect(v.groupUnsetContainer('vf0').errno).toBe(ERRNO.EINVAL);
    expect(v.groupUnsetContainer('vf1').errno).toBe(ERRNO.OK);
    expect(v.container(c)!.type1).toBeNull();
    expect(v.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.translate('vf1', 0x10000n, 4n, 'read')).toMatchObject({ fault: { reason: 'no-domain' } });
  });

  it('the last IOMMU group leaving while an mdev group stays keeps the mappings', () => {
    const { v, c } = setup(HOST, ['vf0', 'mdev0']);
    v.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n });
    expect(v.groupUnsetContainer('vf0').errno).toBe(ERRNO.OK);
    expect(v.translate('mdev0', 0x10000n, 4n, 'read')).toEqual({ translated: 0x10000n });
    expect(v.getInfo(c).capabilities!.iovaRange!.iovaRanges).toEqual([{ start: 0n, end: 0xffffffffffffffffn }]);
  });

  it('a 64 KiB-granule SMMUv3: the container page size is 64 KiB, so 4 KiB-aligned maps are EINVAL; the SW MSI window is excluded', () => {
    const { v, c } = setup({ iommus: [{ name: 'smmu0', model: 'arm-smmuv3', 'page-sizes': [0x10000, 0x20000000] }], devices: [{ name: 'vf0', bdf: '0000:01:00.0', type: 'vfio-pci', iommu: 'smmu0' }] }, ['vf0']);
    expect(v.getInfo(c).iovaPgsizes).toBe(0x20010000n);
    expect(v.mapDma(c, { flags: RW, iova: 0x1000n, size: 0x10000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.mapDma(c, { flags: RW, iova: 0x8000000n, size: 0x10000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.mapDma(c, { flags: RW, iova: 0x8100000n, size: 0x10000n }).errno).toBe(ERRNO.OK);
    expect(v.getInfo(c).capabilities!.migration!.pgsizeBitmap).toBe(0x10000n);
  });
});

describe('GET_INFO (vfio_iommu_type1_get_info)', () => {
  it('argsz below 16 → EINVAL; a short argsz gets the size needed with cap_offset 0 and no chain; a full one the chain at 24', () => {
    const { v, c } = setup(HOST, ['vf0']);
    expect(v.getInfo(c, 15).errno).toBe(ERRNO.EINVAL);
    const need = 24 + 32 + 16 + (16 + 2 * 16);
    expect(v.getInfo(c, 16)).toEqual({ errno: 0, argsz: need, flags: 3, iovaPgsizes: 0x40201000n, capOffset: 0 });
    expect(v.getInfo(c, need - 1).capabilities).toBeUndefined();
    const full = v.getInfo(c, need);
    expect(full).toMatchObject({ errno: 0, argsz: need, flags: 3, iovaPgsizes: 0x40201000n, capOffset: 24 });
    expect(full.capabilities).toEqual({
      migration: { flags: 0, pgsizeBitmap: 0x1000n, maxDirtyBitmapSize: 0x10000000n },
      dmaAvail: { avail: 65535 },
      iovaRange: { nrIovas: 2, iovaRanges: MSI_SPLIT_39 },
    });
    v.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n });
    expect(v.getInfo(c).capabilities!.dmaAvail.avail).toBe(65534);
  });
});

describe('host DMA through the container (issue 7 host-dma)', () => {
  it('translated = the vaddr of the IOVA; faults for no domain, unmapped, and permissions', () => {
    const v = new VfioType1(platform(HOST));
    expect(v.translate('vf0', 0x10000n, 8n, 'write')).toEqual({ fault: { reason: 'no-domain', device: 'vf0', group: 0, iova: 0x10000n, access: 'write' } });
    const c = v.containerOpen().container;
    v.groupSetContainer('vf0', c);
    v.setIommu(c, 'type1v2');
    expect(v.translate('vf0', 0x10000n, 8n, 'write')).toMatchObject({ fault: { reason: 'unmapped', iova: 0x10000n } });
    v.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n, vaddr: 0x7f1200000000n });
    v.mapDma(c, { flags: 1, iova: 0x11000n, size: 0x1000n, vaddr: 0x7f1300000000n }); // read-only
    v.mapDma(c, { flags: 2, iova: 0x12000n, size: 0x1000n, vaddr: 0x7f1400000000n }); // write-only
    expect(v.translate('vf0', 0x10ff8n, 8n, 'write')).toEqual({ translated: 0x7f1200000ff8n });
    expect(v.translate('vf0', 0x10ff8n, 16n, 'read')).toEqual({ translated: 0x7f1200000ff8n }); // spans two mappings
    expect(v.translate('vf0', 0x10ff8n, 16n, 'write')).toMatchObject({ fault: { reason: 'write-denied', iova: 0x11000n } });
    expect(v.translate('vf0', 0x12000n, 4n, 'read')).toMatchObject({ fault: { reason: 'read-denied' } });
    expect(v.translate('vf0', 0x12ffcn, 8n, 'write')).toMatchObject({ fault: { reason: 'unmapped', iova: 0x13000n } });
    expect(v.translate('vf0', 0x10000n, 0n, 'read')).toMatchObject({ fault: { reason: 'invalid-access' } });
    expect(v.translate('vf0', 0xfffffffffffffff8n, 16n, 'read')).toMatchObject({ fault: { reason: 'invalid-access' } });
    expect(() => v.translate('nobody', 0n, 1n, 'read')).toThrow();
  });
});
