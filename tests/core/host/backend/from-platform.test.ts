import { describe, expect, it } from 'vitest';
import { boundDeviceOf, hostBackends, hostIommuCaps } from '../../../../core/host/backend/from-platform.ts';
import { VFIO_DMA_MAP_FLAG as M } from '../../../../core/host/backend/vfio-type1/vfio.ts';
import { IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_DATA_VTD_S1, IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_VIOMMU_TYPE_ARM_SMMUV3 } from '../../../../core/host/backend/iommufd/uapi.ts';
import { ERRNO, errnoName } from '../../../../core/host/errno.ts';
import { hwInfoBytes } from '../../../../core/host/platform/models.ts';
import type { HostDesc } from '../../../../core/host/platform/host.ts';
import { platform } from './type1-fixture.ts';

/** A scenario `host:` block: a 39-bit VT-d with a root port without ACS (two functions share its group), an SMMUv3, an AMD-Vi, an mdev. */
const HOST: HostDesc = {
  iommus: [
    { name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 },
    { name: 'smmu0', model: 'arm-smmuv3' },
    { name: 'ivhd0', model: 'amd-vi' },
  ],
  devices: [
    { name: 'rp0', bdf: '0000:00:1c.0', type: 'root-port', iommu: 'dmar0', acs: false },
    { name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', behind: 'rp0' },
    { name: 'nic0', bdf: '0000:3b:00.1', type: 'endpoint', behind: 'rp0' },
    { name: 'vf1', bdf: '0000:5e:00.0', type: 'vfio-pci', iommu: 'dmar0' },
    { name: 'vf2', bdf: '0001:00:01.0', type: 'vfio-pci', iommu: 'smmu0' },
    { name: 'vf3', bdf: '0000:81:00.0', type: 'vfio-pci', iommu: 'ivhd0' },
    { name: 'mdev0', type: 'mdev', parent: 'vf1' },
  ],
};
const host = platform(HOST);
const RW = M.READ | M.WRITE;

describe('hostIommuCaps: the platform model as iommufd sees it', () => {
  it('intel-vtd aw-bits 39: aperture, page sizes, capabilities, VTD_S1 nesting data, no vIOMMU type, GET_HW_INFO bytes', () => {
    const m = host.iommus.get('dmar0')!;
    const c = hostIommuCaps(m);
    expect(c).toMatchObject({ iommu: 'dmar0', driver: 'intel-vtd', apertureStart: 0n, apertureEnd: (1n << 39n) - 1n, pgsizeBitmap: 0x40201000n, cacheCoherency: true, dirtyTracking: true, nesting: true, msiIsolated: true, hwptDataType: IOMMU_HWPT_DATA_VTD_S1, viommuTypes: [] });
    expect(c.hwInfo.type).toBe(IOMMU_HW_INFO_TYPE_INTEL_VTD);
    expect([...c.hwInfo.data]).toEqual([...hwInfoBytes(m.hwInfo)]);
    expect(c.hwInfo.data.length).toBe(24);
  });
  it('arm-smmuv3 nests through a vIOMMU; amd-vi has no nesting types; msiIsolated can be turned off', () => {
    const s = hostIommuCaps(host.iommus.get('smmu0')!);
    expect(s).toMatchObject({ hwptDataType: IOMMU_HWPT_DATA_ARM_SMMUV3, viommuTypes: [IOMMU_VIOMMU_TYPE_ARM_SMMUV3], invalidateDataType: 1, dirtyTracking: false });
    expect(s.hwInfo.data.length).toBe(40);
    const a = hostIommuCaps(host.iommus.get('ivhd0')!, { msiIsolated: false });
    expect(a).toMatchObject({ hwptDataType: IOMMU_HWPT_DATA_NONE, viommuTypes: [], invalidateDataType: -1, nesting: false, msiIsolated: false });
  });
});

describe('boundDeviceOf', () => {
  it('carries the group, the IOMMU caps and the reserved regions as {start, length}', () => {
    const d = boundDeviceOf(host, 'vf0')!;
    expect(d.group).toBe(host.deviceByName.get('nic0')!.group);
    expect(d.iommu?.iommu).toBe('dmar0');
    expect(d.reservedRegions).toEqual([{ start: 0xfee00000n, length: 0x100000n, type: 'msi' }]);
    expect(boundDeviceOf(host, 'vf2')!.reservedRegions).toEqual([{ start: 0x8000000n, length: 0x100000n, type: 'sw-msi' }]);
  });
  it('an mdev has no IOMMU (a physical bind gives EINVAL); an unknown name is undefined', () => {
    expect(boundDeviceOf(host, 'mdev0')!.iommu).toBeUndefined();
    expect(boundDeviceOf(host, 'nope')).toBeUndefined();
    expect(errnoName(hostBackends(host).bind('mdev0').errno)).toBe('EINVAL');
    expect(errnoName(hostBackends(host).bind('nope').errno)).toBe('ENODEV');
  });
});

describe('one host block drives both engines', () => {
  it('iommufd IOVA_RANGES after attach equals the type1 valid IOVA list (aperture minus the MSI window)', () => {
    const b = hostBackends(host);
    const dev = b.bind('vf1');
    expect(dev.errno).toBe(ERRNO.OK);
    const ioas = b.iommufd.ioasAlloc().outIoasId;
    expect(b.iommufd.deviceAttach(dev.outDevId, ioas).errno).toBe(ERRNO.OK);
    const r = b.iommufd.ioasIovaRanges(ioas, 8);
    expect(r.ranges).toEqual([
      { start: 0n, last: 0xfedfffffn },
      { start: 0xfef00000n, last: 0x7fffffffffn },
    ]);
    const b2 = hostBackends(host);
    const c = b2.type1.containerOpen().container;
    expect(b2.type1.groupSetContainer('vf1', c).errno).toBe(ERRNO.OK);
    expect(b2.type1.setIommu(c, 'type1v2').errno).toBe(ERRNO.OK);
    expect(b2.type1.getInfo(c).capabilities?.iovaRange?.iovaRanges.map((x) => ({ start: x.start, last: x.end }))).toEqual(r.ranges);
    // The same map outcome on both: above the aperture is refused (EINVAL for type1; iommufd IOAS_MAP: reserved → EINVAL).
    expect(b2.type1.mapDma(c, { flags: RW, iova: 0x8000000000n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(b.iommufd.ioasMap({ ioasId: ioas, flags: 7, userVa: 0x8000000000n, length: 0x1000n, iova: 0x8000000000n }).errno).toBe(ERRNO.EINVAL);
  });

  it('DMA ownership is shared: a group in a type1 container cannot be bound through iommufd and the reverse (EBUSY); unbind releases it', () => {
    const b = hostBackends(host);
    const c = b.type1.containerOpen().container;
    expect(b.type1.groupSetContainer('vf1', c).errno).toBe(ERRNO.OK);
    expect(errnoName(b.bind('vf1').errno)).toBe('EBUSY');
    expect(b.type1.groupUnsetContainer('vf1').errno).toBe(ERRNO.OK);
    const dev = b.bind('vf1');
    expect(dev.errno).toBe(ERRNO.OK);
    expect(errnoName(b.type1.groupSetContainer('vf1', c).errno)).toBe('EBUSY');
    expect(b.iommufd.deviceUnbind(dev.outDevId)).toBe(ERRNO.OK);
    expect(b.type1.groupSetContainer('vf1', c).errno).toBe(ERRNO.OK);
  });

  it('a group with a host-driver endpoint (vf0 shares rp0 group with nic0) is owned by the kernel: bind → EBUSY', () => {
    expect(errnoName(hostBackends(host).bind('vf0').errno)).toBe('EBUSY');
  });
});
