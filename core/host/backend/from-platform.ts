/**
 * From the host platform model (core/host/platform: a scenario's resolved `host:` block) to the
 * engines' inputs, so that one description drives every backend (issue 7 §2, §3):
 *  - {@link hostIommuCaps}: a ResolvedIommu → iommufd's {@link HostIommuCaps} (aperture, page
 *    sizes, coherency, dirty tracking, nesting, the driver's nested-HWPT / vIOMMU / invalidate data
 *    types, and the GET_HW_INFO payload as the kernel copies it, models.ts hwInfoBytes);
 *  - {@link boundDeviceOf}: a device name → iommufd's {@link BoundDevice} (group, IOMMU caps and
 *    its reserved regions as iommu_get_resv_regions reports them, reference §2.4);
 *  - {@link hostBackends}: the three engines (type1, iommufd, iommufd's VFIO compatibility) over one platform sharing one DMA ownership
 *    (dma-owner.ts: a group in a type1 container cannot be bound through iommufd, and the reverse;
 *    groups with a host-driver endpoint are owned by the kernel, EBUSY for both) and one set of
 *    VFIO group files (vfio-group.ts: the group path and the cdev path exclude each other, EBUSY).
 * VfioType1 and the iommufd VFIO compatibility layer read the HostPlatform directly (groups,
 * apertures, page-size bitmaps and reserved regions of ResolvedDevice / ResolvedIommu), so they
 * need no conversion beyond the shared ownership.
 */
import { claimKernelDrivers, DmaOwnership } from '../platform/dma-owner.ts';
import { VfioGroupFiles } from '../platform/vfio-group.ts';
import type { CdevBoundDevice } from './iommufd/device.ts';
import type { HostPlatform, ResolvedIommu } from '../platform/host.ts';
import { hwInfoBytes } from '../platform/models.ts';
import { ERRNO } from '../errno.ts';
import { NEWEST_KERNEL, type KernelEra } from '../kernel.ts';
import { Iommufd } from './iommufd/iommufd.ts';
import type { ResvRegion } from './iommufd/io-pagetable.ts';
import type { BoundDevice, HostIommuCaps } from './iommufd/objects.ts';
import {
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
} from './iommufd/uapi.ts';
import { IommufdVfioCompat } from './iommufd/vfio-compat.ts';
import { VfioType1 } from './vfio-type1/vfio.ts';

/** Options of the conversion. */
export interface FromPlatformOptions {
  /**
   * Whether the IOMMUs isolate MSIs (interrupt remapping: VT-d/AMD-Vi IR, SMMUv3 with an ITS).
   * The platform model has no such field; default true (iommufd bind's EPERM rule then never
   * fires unless a test asks for it).
   */
  msiIsolated?: boolean;
}

/**
 * iommufd's view of one physical IOMMU. Per model (the drivers' ops, reference §2.5, §2.8, §2.9):
 *  - intel-vtd: nested data IOMMU_HWPT_DATA_VTD_S1, invalidation IOMMU_HWPT_INVALIDATE_DATA_VTD_S1
 *    on the nested HWPT, no vIOMMU type (the reference's enum has ARM_SMMUV3 and TEGRA241_CMDQV only);
 *  - arm-smmuv3: nested data IOMMU_HWPT_DATA_ARM_SMMUV3, vIOMMU type ARM_SMMUV3 (when it nests),
 *    invalidation IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 on the vIOMMU;
 *  - amd-vi: no nesting data type (NONE), no vIOMMU, no invalidation (-1).
 * `driver` is the model name (a nest parent must come from the same driver); no PASID.
 */
export function hostIommuCaps(m: ResolvedIommu, opts: FromPlatformOptions = {}): HostIommuCaps {
  const vtd = m.model === 'intel-vtd';
  const smmu = m.model === 'arm-smmuv3';
  return {
    iommu: m.name,
    driver: m.model,
    cacheCoherency: m.cacheCoherency,
    dirtyTracking: m.dirtyTracking,
    nesting: m.nesting,
    apertureStart: m.aperture.start,
    apertureEnd: m.aperture.end,
    pgsizeBitmap: m.pgsizeBitmap,
    msiIsolated: opts.msiIsolated ?? true,
    hwptDataType: vtd ? IOMMU_HWPT_DATA_VTD_S1 : smmu ? IOMMU_HWPT_DATA_ARM_SMMUV3 : IOMMU_HWPT_DATA_NONE,
    viommuTypes: smmu && m.nesting ? [IOMMU_VIOMMU_TYPE_ARM_SMMUV3] : [],
    invalidateDataType: vtd ? IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 : smmu ? IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 : -1,
    hwInfo: { type: m.hwInfo.type, data: hwInfoBytes(m.hwInfo) },
  };
}

/**
 * The BoundDevice of host device `name` (what VFIO_DEVICE_BIND_IOMMUFD is called on), or
 * undefined for a name the platform does not have. An mdev (or any device without an IOMMU) gets
 * `iommu: undefined`, so a physical bind of it fails with EINVAL as iommufd_device_bind does for a
 * device without IOMMU_CAP_CACHE_COHERENCY (the kernel binds an mdev as an emulated access
 * instead: iommufd/access.ts, which the iommufd0 component uses for a host device of type mdev). Reserved regions: the platform's inclusive
 * [start, end] become {start, length}.
 */
export function boundDeviceOf(host: HostPlatform, name: string, opts: FromPlatformOptions = {}): BoundDevice | undefined {
  const d = host.deviceByName.get(name);
  if (d === undefined) return undefined;
  const m = d.iommu === null ? undefined : host.iommus.get(d.iommu);
  const reservedRegions: ResvRegion[] = d.reservedRegions.map((r) => ({ start: r.start, length: r.end - r.start + 1n, type: r.type }));
  return { name, group: d.group, iommu: m === undefined ? undefined : hostIommuCaps(m, opts), reservedRegions };
}

/** Options of {@link hostBackends}. */
export interface HostBackendsOptions extends FromPlatformOptions {
  /** Kernel era of every engine (default the newest). */
  kernel?: KernelEra;
  /** VFIO type1 `dma_entry_limit` (default 65535). */
  dmaEntryLimit?: number;
}

/** The engines over one platform; see {@link hostBackends}. */
export interface HostBackends {
  host: HostPlatform;
  /** Shared DMA ownership (kernel-driver groups claimed). */
  ownership: DmaOwnership;
  /** Shared VFIO group files: /dev/vfio/N opened by type1 or the compat layer vs devices bound through their cdev. */
  groupFiles: VfioGroupFiles;
  /** Legacy VFIO containers with the type1 driver. */
  type1: VfioType1;
  /** One open /dev/iommu (the native iommufd uAPI). */
  iommufd: Iommufd;
  /** /dev/vfio/vfio served by iommufd (CONFIG_IOMMUFD_VFIO_CONTAINER): each container is its own iommufd context. */
  compat: IommufdVfioCompat;
  /**
   * Binds host device `name` to {@link iommufd} through its cdev (VFIO_DEVICE_BIND_IOMMUFD on
   * /dev/vfio/devices/vfioX): its DEVICE ID, or an errno (ENODEV for an unknown name; EBUSY while
   * its group's file is open, vfio_device_claim_group).
   */
  bind(name: string): { errno: number; outDevId: number };
}

/**
 * Builds the backends of one platform, sharing DMA ownership: every group with a host-driver
 * endpoint is owned by the kernel first (EBUSY for all of them), then whichever backend claims a
 * group first (type1 at group-set-container, iommufd at device bind, the compat layer at device open) owns it.
 * They also share the VFIO group files (vfio-group.ts, drivers/vfio/group.c commit 270bf4c019b9):
 * type1's and the compat layer's group-set-container open /dev/vfio/N (EBUSY while a member is
 * bound through its cdev), {@link HostBackends.bind} is the cdev path (EBUSY while the file is open).
 */
export function hostBackends(host: HostPlatform, opts: HostBackendsOptions = {}): HostBackends {
  const ownership = new DmaOwnership();
  claimKernelDrivers(host, ownership);
  const groupFiles = new VfioGroupFiles();
  const kernel = opts.kernel ?? NEWEST_KERNEL;
  const iommufd = new Iommufd({ kernel, ownership });
  return {
    host,
    ownership,
    groupFiles,
    type1: new VfioType1(host, { kernel, dmaEntryLimit: opts.dmaEntryLimit, ownership, groupFiles }),
    iommufd,
    compat: new IommufdVfioCompat(host, { kernel, ownership, groupFiles, msiIsolated: opts.msiIsolated }),
    bind(name) {
      const dev = boundDeviceOf(host, name, opts);
      if (dev === undefined) return { errno: ERRNO.ENODEV, outDevId: 0 };
      const cdev: CdevBoundDevice = { ...dev, cdev: { files: groupFiles } };
      return iommufd.deviceBind(cdev);
    },
  };
}
