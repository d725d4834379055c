/**
 * iommufd's objects and per-fd context (drivers/iommu/iommufd/iommufd_private.h), plus the plain
 * input types a device is bound with. The physical IOMMU is described by {@link HostIommuCaps}:
 * the host-platform code (core/host/platform/) builds it from a scenario's `host.iommus` entry;
 * this engine only reads it.
 */
import type { DmaOwnership } from '../../platform/dma-owner.ts';
import { ObjectTable } from '../../object-table.ts';
import type { IoPagetable, IoptDomain, ResvRegion } from './io-pagetable.ts';
import type { IommufdObjKind, KernelEra } from './uapi.ts';

/**
 * What the engine needs to know about one physical IOMMU instance (dmar0, smmu1, …). All plain
 * data; addresses in bytes as bigint.
 */
export interface HostIommuCaps {
  /** Instance name; devices behind the same instance share it (vIOMMU/vDEVICE checks, §2.9). */
  iommu: string;
  /** Driver ("intel-vtd", "amd-vi", "arm-smmuv3"): a nest parent must come from the same driver (§2.5). */
  driver: string;
  /** IOMMU_CAP_CACHE_COHERENCY: without it bind gives EINVAL (§1.1). */
  cacheCoherency: boolean;
  /** IOMMU_CAP_DIRTY_TRACKING: DIRTY_TRACKING HWPTs and GET_HW_INFO's IOMMU_HW_CAP_DIRTY_TRACKING. */
  dirtyTracking: boolean;
  /** Nested translation: NEST_PARENT paging domains and HWPT_NESTED (else EOPNOTSUPP). */
  nesting: boolean;
  /** `geometry.aperture_start` of its paging domains (usually 0). */
  apertureStart: bigint;
  /** `geometry.aperture_end`: 2^aw-bits - 1 for a VT-d domain. */
  apertureEnd: bigint;
  /** Page sizes of its paging domains (bit n = 2^n bytes), e.g. 0x40201000n for 4K|2M|1G. */
  pgsizeBitmap: bigint;
  /** The group has isolated MSI (interrupt remapping): without it bind gives EPERM unless allowed. */
  msiIsolated: boolean;
  /** IOMMU_HWPT_DATA_* the driver takes for a nested (stage-1) HWPT; NONE when none. */
  hwptDataType: number;
  /** IOMMU_VIOMMU_TYPE_* the driver can allocate (empty: no vIOMMU support). */
  viommuTypes: readonly number[];
  /** IOMMU_HWPT_INVALIDATE data type its nested HWPTs / vIOMMUs take (VTD_S1, ARM_SMMUV3), or -1. */
  invalidateDataType: number;
  /** IOMMU_GET_HW_INFO payload: type (IOMMU_HW_INFO_TYPE_*) and the vendor struct's bytes. */
  hwInfo: { type: number; data: Uint8Array };
  /** log2 of the device's PASID count (0: no PASID). */
  maxPasidLog2?: number;
  /** PCI PASID control: execute / privileged permission enabled. */
  pasidExec?: boolean;
  pasidPriv?: boolean;
}

/** A host device offered to `device-bind` (what VFIO_DEVICE_BIND_IOMMUFD is called on). */
export interface BoundDevice {
  /** Device name in the scenario ("vf0"). */
  name: string;
  /** Its IOMMU group number, or undefined when it has none (bind: ENODEV). */
  group: number | undefined;
  /** Its physical IOMMU, or undefined when none translates it (bind: EINVAL, no coherency cap). */
  iommu: HostIommuCaps | undefined;
  /** Its reserved regions (iommu_get_resv_regions: platform MSI window, RMRRs, …). */
  reservedRegions: readonly ResvRegion[];
}

/** Options of one iommufd context. */
export interface IommufdOptions {
  /** Kernel era (default the newest, '2025'); see {@link KernelEra}. */
  kernel?: KernelEra;
  /** CONFIG_TRANSPARENT_HUGEPAGE (default true): auto-IOVA alignment capped at 2 MiB, else 4 KiB. */
  transparentHugepage?: boolean;
  /** The caller has CAP_SYS_RESOURCE (default true): needed to set RLIMIT_MODE. */
  capSysResource?: boolean;
  /** vfio/iommufd `allow_unsafe_interrupts` (default false). */
  allowUnsafeInterrupts?: boolean;
  /** User memory pinning check (default: every VA pinnable, writable). */
  userMemory?: (userVa: bigint, length: bigint, write: boolean) => number;
  /**
   * DMA ownership of IOMMU groups shared with the other backends (core/host/platform/dma-owner.ts):
   * when given, device-bind claims the device's group for this iommufd (iommufd_device_bind →
   * iommu_device_claim_dma_owner: EBUSY when a host driver or another backend owns it) and unbind
   * releases it. Without it no ownership is checked.
   */
  ownership?: DmaOwnership;
}

/** A paging domain: the IOAS-facing geometry plus the IOMMU that made it. */
export interface Domain extends IoptDomain {
  iommu: HostIommuCaps;
  /** The domain has dirty ops (allocated with DIRTY_TRACKING). */
  dirtyOps: boolean;
}

export interface IoasObj {
  readonly kind: 'ioas';
  id: number;
  iopt: IoPagetable;
  /** HWPT_PAGINGs built on it (ioas->hwpt_list), in creation order. */
  hwpts: HwptPagingObj[];
}

export interface HwptPagingObj {
  readonly kind: 'hwpt-paging';
  id: number;
  ioas: IoasObj;
  domain: Domain;
  autoDomain: boolean;
  nestParent: boolean;
  /** Dirty tracking switched on (IOMMU_HWPT_SET_DIRTY_TRACKING). */
  dirtyEnabled: boolean;
  /** Dirty IOVA pages (IOVA >> log2 of the domain's smallest page size) written by DMA while tracking was on. */
  dirty: Set<bigint>;
}

export interface HwptNestedObj {
  readonly kind: 'hwpt-nested';
  id: number;
  parent: HwptPagingObj;
  /** Set when allocated on a vIOMMU (it holds the reference then). */
  viommu: ViommuObj | undefined;
  iommu: HostIommuCaps;
  dataType: number;
}

export type HwptObj = HwptPagingObj | HwptNestedObj;

/** An iommu group as iommufd tracks it (struct iommufd_group). */
export interface IGroup {
  group: number;
  hwpt: HwptObj | undefined;
  /** Attached devices (igroup->device_list). */
  devices: DeviceObj[];
}

export interface DeviceObj {
  readonly kind: 'device';
  id: number;
  dev: BoundDevice;
  iommu: HostIommuCaps;
  igroup: IGroup;
  vdevice: VdeviceObj | undefined;
}

export interface ViommuObj {
  readonly kind: 'viommu';
  id: number;
  type: number;
  hwpt: HwptPagingObj;
  iommu: HostIommuCaps;
  /** vDEVICEs by virt_id. */
  vdevs: Map<bigint, VdeviceObj>;
}

export interface VdeviceObj {
  readonly kind: 'vdevice';
  id: number;
  viommu: ViommuObj;
  dev: DeviceObj;
  virtId: bigint;
}

/**
 * IOMMUFD_OBJ_ACCESS (struct iommufd_access, drivers/iommu/iommufd/iommufd_private.h): what
 * VFIO_DEVICE_BIND_IOMMUFD makes for an emulated (mdev) device (vfio_iommufd_emulated_bind →
 * iommufd_access_create). It has no domain: it reads the IOAS through pinned pages (the vendor
 * driver's vfio_pin_pages), so attach only ties it to an IOAS (access.ts; reference
 * iommufd-vfio-hostiommu.md §1.1 ACCESS, §1.3).
 */
export interface AccessObj {
  readonly kind: 'access';
  id: number;
  /** The emulated device (its group is the mdev's emulated group; no IOMMU). */
  dev: BoundDevice;
  /** `access->ioas`: the IOAS it is attached to (holding a reference on it), or undefined. */
  ioas: IoasObj | undefined;
  /** `access->iova_alignment`: PAGE_SIZE for vfio_user_ops (needs_pin_pages), else 1. */
  iovaAlignment: bigint;
}

export type IommufdObj = IoasObj | HwptPagingObj | HwptNestedObj | DeviceObj | ViommuObj | VdeviceObj | AccessObj;

/** The per-fd state (struct iommufd_ctx) the handler modules share. */
export interface IommufdCtx {
  table: ObjectTable<IommufdObjKind, IommufdObj>;
  opts: Required<Omit<IommufdOptions, 'userMemory' | 'ownership'>> & Pick<IommufdOptions, 'userMemory' | 'ownership'>;
  /** iommu groups seen by bind, by number. */
  groups: Map<number, IGroup>;
  /** Names of bound devices (a device binds once). */
  bound: Set<string>;
  /** RLIMIT_MODE: 0 user accounting (default), 1 mm. */
  accountMode: number;
  /** Output of the u32-halves hot path (ioasMap32: the IOVA used; ioasUnmap32: the bytes unmapped). */
  out32: { hi: number; lo: number };
}
