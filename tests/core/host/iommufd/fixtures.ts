/**
 * Fixtures for the iommufd engine tests: physical IOMMU caps (a VT-d-like one, an SMMUv3-like one,
 * and the selftest's mock IOMMU), devices, and the selftest's fixture variants (no domain, one
 * mock domain, two mock domains) so one test body runs over each.
 */
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import type { BoundDevice, HostIommuCaps, IoasObj } from '../../../../core/host/backend/iommufd/objects.ts';
import type { ResvRegion } from '../../../../core/host/backend/iommufd/io-pagetable.ts';
import {
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
} from '../../../../core/host/backend/iommufd/uapi.ts';

export const PAGE = 0x1000n;
/** The selftest mock domain (iommufd_test.h): aperture [1 << 24, (1 << 31) - 1], 2 KiB pages. */
export const MOCK_APERTURE_START = 1n << 24n;
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n;
export const MOCK_PAGE_SIZE = PAGE / 2n;
/** The x86 MSI window VT-d and AMD-Vi report as IOMMU_RESV_MSI (reference §2.4). */
export const X86_MSI: ResvRegion = { start: 0xfee00000n, length: 0x100000n, type: 'msi' };

export function vtd(name = 'dmar0', awBits = 39, over: Partial<HostIommuCaps> = {}): HostIommuCaps {
  return {
    iommu: name,
    driver: 'intel-vtd',
    cacheCoherency: true,
    dirtyTracking: true,
    nesting: true,
    apertureStart: 0n,
    apertureEnd: (1n << BigInt(awBits)) - 1n,
    pgsizeBitmap: 0x40201000n,
    msiIsolated: true,
    hwptDataType: IOMMU_HWPT_DATA_VTD_S1,
    viommuTypes: [],
    invalidateDataType: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
    hwInfo: { type: IOMMU_HW_INFO_TYPE_INTEL_VTD, data: Uint8Array.from({ length: 24 }, (_, i) => i + 1) },
    ...over,
  };
}

export function smmu(name = 'smmu0', over: Partial<HostIommuCaps> = {}): HostIommuCaps {
  return {
    ...vtd(name, 48),
    driver: 'arm-smmuv3',
    hwptDataType: IOMMU_HWPT_DATA_ARM_SMMUV3,
    viommuTypes: [IOMMU_VIOMMU_TYPE_ARM_SMMUV3],
    invalidateDataType: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
    hwInfo: { type: IOMMU_HW_INFO_TYPE_ARM_SMMUV3, data: new Uint8Array(40).fill(7) },
    ...over,
  };
}

export function mockIommu(over: Partial<HostIommuCaps> = {}): HostIommuCaps {
  return vtd('mock', 39, { driver: 'mock', apertureStart: MOCK_APERTURE_START, apertureEnd: MOCK_APERTURE_LAST, pgsizeBitmap: MOCK_PAGE_SIZE, ...over });
}

let nextGroup = 100;
export function device(name: string, iommu: HostIommuCaps | undefined, over: Partial<BoundDevice> = {}): BoundDevice {
  return { name, group: nextGroup++, iommu, reservedRegions: [], ...over };
}

/** The IOAS object of `id` (tests reach into the engine for the selftest's ADD_RESERVED). */
export function ioasObj(fd: Iommufd, id: number): IoasObj {
  return fd.ctx.table.get(id, 'ioas') as IoasObj;
}

/** The selftest's fixture: one IOAS, `domains` mock devices attached to it, base_iova. */
export interface IoasFixture {
  fd: Iommufd;
  ioasId: number;
  baseIova: bigint;
  devIds: number[];
  hwptIds: number[];
}

/** Variants of the selftest's iommufd_ioas fixture. */
export const IOAS_VARIANTS = [
  { name: 'no_domain', domains: 0 },
  { name: 'mock_domain', domains: 1 },
  { name: 'two_mock_domain', domains: 2 },
] as const;

export function ioasFixture(domains: number): IoasFixture {
  const fd = new Iommufd();
  const ioasId = fd.ioasAlloc().outIoasId;
  const devIds: number[] = [];
  const hwptIds: number[] = [];
  for (let i = 0; i < domains; i++) {
    const devId = fd.deviceBind(device(`mock${i}`, mockIommu({ iommu: `mock${i}` }))).outDevId;
    devIds.push(devId);
    // The first attaches through an auto domain; later ones get their own domain (selftest's
    // two_mock_domain has one domain per mock device).
    const pt = i === 0 ? ioasId : fd.hwptAlloc({ flags: 0, devId, ptId: ioasId }).outHwptId;
    hwptIds.push(fd.deviceAttach(devId, pt).ptId);
  }
  return { fd, ioasId, baseIova: MOCK_APERTURE_START, devIds, hwptIds };
}
