/**
 * The small interfaces layers talk through (DESIGN.md §2), never each other's internals.
 */
import type { Component } from './component.ts';
import type { TranslateOutcome, TranslateSlots } from './dma.ts';

/** One usable IOVA range of a host device, inclusive (QEMU's Range in HostIOMMUDevice.get_iova_ranges). */
export interface IovaRange {
  start: bigint;
  end: bigint;
}

/**
 * QEMU's HostIOMMUDevice class callbacks (include/system/host_iommu_device.h): what a vIOMMU learns
 * of the host side of an assigned device. Implemented by the host-iommu-device layer (issue 7 §4).
 */
export interface HostIommuDevice {
  /** Id of its component. */
  readonly id: string;
  /** Its variant: 'legacy-vfio' or 'iommufd-vfio'. */
  readonly variant: string;
  /** hiod->name: the host device's name as QEMU prints it in errors (vbasedev->name, its BDF "0000:3b:00.0"). */
  readonly name: string;
  /** hiod->aliased_bus/aliased_devfn: the guest device's aliased requester ID (bus << 8 | devfn). */
  readonly aliasedEndpoint: number;
  /** The guest device sits downstream of a PCI bridge (intel-iommu's x-flts check). */
  readonly behindPciBridge: boolean;
  /** iommufd variant only (HOST_IOMMU_DEVICE_IOMMUFD): caps.type, caps.hw_caps, caps.vendor_caps; undefined for legacy. */
  readonly iommufdCaps?: { readonly type: number; readonly hwCaps: bigint; readonly vendorCaps: Readonly<Record<string, bigint | number | readonly (bigint | number)[]>> };
  /** HostIOMMUDeviceClass.get_cap: the value, or QEMU's "unsupported capability" error message. */
  getCap(cap: number): number | string;
  /** HostIOMMUDeviceClass.get_iova_ranges: usable IOVA ranges, ascending. */
  getIovaRanges(): readonly IovaRange[];
  /** HostIOMMUDeviceClass.get_page_size_mask: supported page sizes (bit n = 2^n bytes). */
  getPageSizeMask(): bigint;
}

/**
 * A vIOMMU model as the machine's other layers see it.
 * - `translate`: the DMA decision of one access in the fast form (core/machine/dma.ts): endpoint
 *   (PCI requester ID), address as u32 halves, size in bytes (< 2^53), access 1 read / 2 write;
 *   returns a TR_* code and fills `slots`. An access crossing granule pages is decided page by page.
 * - `translateAccess`: the same decision in the outcome form (bigint address and size, any u64).
 *   Throws RangeError when addr/size are not u64 (a caller bug).
 * - `discardFaultReports`: drops the fault reports queued for the guest (a driver that does not
 *   read them), so memory stays bounded.
 * - `setIommuDevice`: QEMU's PCIIOMMUOps.set_iommu_device(bus, opaque, devfn, hiod, errp): a host
 *   device is assigned behind `endpoint`; where aw-bits checks and host IOVA ranges arrive.
 *   Returns null, or QEMU's error message.
 */
export interface VIommu extends Component {
  readonly layer: 'viommu';
  readonly slots: TranslateSlots;
  translate(endpoint: number, addrHi: number, addrLo: number, size: number, access: number): number;
  translateAccess(endpoint: number, addr: bigint, size: bigint, access: 1 | 2): TranslateOutcome;
  discardFaultReports(): void;
  setIommuDevice(endpoint: number, hiod: HostIommuDevice): string | null;
  /** PCIIOMMUOps.unset_iommu_device (device_del of an assigned device at `endpoint`). */
  unsetIommuDevice?(endpoint: number, hiod: HostIommuDevice): void;
  /**
   * QEMU's machine_done notifier, after every coldplugged device realized: virtio-iommu freezes its
   * granule; intel-iommu requires caching-mode when a vfio-pci device exists (`assigned`).
   * Returns null or QEMU's error (QEMU exits: the run fails).
   */
  machineInitDone?(assigned: boolean): string | null;
}

/**
 * QEMU's IOMMU notifiers (include/exec/memory.h IOMMUNotifier, IOMMU_NOTIFIER_MAP | UNMAP) as a
 * vIOMMU calls them for its endpoints' IOMMU memory regions: memory_region_notify_iommu with an
 * IOMMUTLBEvent. VFIO registers one per assigned device (hw/vfio/listener.c
 * vfio_listener_region_add → vfio_iommu_map_notify); core/host/shadow.ts implements it.
 * Values are u64 as u32 halves (the per-request hot path has no bigint).
 * - `has`: a MAP/UNMAP notifier is registered on `endpoint`'s IOMMU MR (an assigned device).
 * - `notifyMap`: one IOMMUTLBEntry: iova, addr_mask (the block's size - 1: a power of two minus
 *   one, iova aligned to it, as the vIOMMU splits with dma_aligned_pow2_mask; all ones for the
 *   whole 64-bit space), translated_addr, perm IOMMU_RO 1 / IOMMU_WO 2 / IOMMU_RW 3.
 * - `notifyUnmap`: the same with perm IOMMU_NONE.
 */
export interface IommuNotifier {
  has(endpoint: number): boolean;
  notifyMap(endpoint: number, iovaHi: number, iovaLo: number, maskHi: number, maskLo: number, trHi: number, trLo: number, perm: number): void;
  notifyUnmap(endpoint: number, iovaHi: number, iovaLo: number, maskHi: number, maskLo: number): void;
}

/** True when `c` is a vIOMMU (its layer is 'viommu'). */
export function isVIommu(c: Component): c is VIommu {
  return c.layer === 'viommu';
}

/**
 * What the backend learned when QEMU attached an assigned device (hw/vfio/container.c legacy
 * container setup; hw/vfio/iommufd.c + backends/iommufd.c; reference iommufd-vfio-hostiommu.md
 * §5.2): what a HostIOMMUDevice realize and its get_iova_ranges / get_page_size_mask read.
 */
export interface BackendAttachment {
  /** The backend: 'vfio-type1' (legacy container) or 'iommufd'. */
  readonly backend: 'vfio-type1' | 'iommufd';
  /** The container's `iova_ranges`, sorted, inclusive (IOVA_RANGE cap, or IOMMU_IOAS_IOVA_RANGES); [] when the kernel reports none. */
  readonly iovaRanges: readonly IovaRange[];
  /** The container's `pgsizes` (bit n = 2^n bytes): legacy iova_pgsizes; iommufd out_iova_alignment. */
  readonly pgsizes: bigint;
  /** iommufd: the bound device's ID (VFIO_DEVICE_BIND_IOMMUFD out_devid). */
  readonly devId?: number;
  /** iommufd: the HWPT (auto domain) the device is attached to. */
  readonly hwptId?: number;
  /** iommufd: IOMMU_GET_HW_INFO's out_data_type, out_capabilities and vendor data (VT-d cap_reg/ecap_reg, SMMUv3 idr[6]…, u64 as bigint). */
  readonly hwInfo?: { readonly type: number; readonly capabilities: bigint; readonly data: Readonly<Record<string, bigint | number | readonly (bigint | number)[]>> };
  /** legacy: the container number (VFIO_GET_API_VERSION fd stand-in); iommufd: the IOAS ID of the address space. */
  readonly container: number;
}

/**
 * The host backend as QEMU's VFIO code uses it (hw/vfio/container.c, hw/vfio/iommufd.c,
 * backends/iommufd.c): attaching an assigned device into a container of an address space, and the
 * DMA map/unmap its IOMMU notifiers call when the guest maps (shadowing). Implemented by the
 * backend layer's components ('iommufd0', 'vfio0'); every uAPI call they make is a `host-call`
 * event, and `cause` (the seq of the guest event that led to it) is stamped on those events.
 */
export interface HostBackend extends Component {
  readonly layer: 'backend';
  /** 'iommufd' or 'vfio-type1'. */
  readonly backend: 'vfio-type1' | 'iommufd';
  /**
   * QEMU's vfio_device_attach for host device `hostDevice` (a name in the scenario's host.devices)
   * into the container of address space `addressSpace` (one container/IOAS per guest address
   * space, e.g. the vIOMMU domain's or 'memory'): legacy: group open → container (reused per
   * address space) → VFIO_SET_IOMMU type1v2 → GET_INFO; iommufd: DEVICE_BIND → IOAS (reused) →
   * DEVICE_ATTACH (auto domain) → IOAS_IOVA_RANGES. Returns the attachment, or QEMU's error text.
   */
  attachDevice(hostDevice: string, addressSpace: string): { ok: true; attachment: BackendAttachment } | { ok: false; error: string };
  /** QEMU's vfio_device_detach: undoes attachDevice (the container/IOAS goes when its last device leaves). */
  detachDevice(hostDevice: string): void;
  /**
   * vfio_container_dma_map: maps [iova, iova+size) of `addressSpace`'s container to `vaddr` (QEMU's
   * host virtual address of the guest RAM page), read-only or not. Returns 0 or the errno; the
   * backend's own helper behaviour applies (legacy: EBUSY → unmap and retry once). `cause` = seq
   * of the guest event that caused the call.
   */
  dmaMap(addressSpace: string, iova: bigint, size: bigint, vaddr: bigint, readonly: boolean, cause?: number): number;
  /** vfio_container_dma_unmap: 0 or the errno (iommufd: ENOENT counts as success, reference §5.2). */
  dmaUnmap(addressSpace: string, iova: bigint, size: bigint, cause?: number): number;
  /**
   * Optional hot path of dmaMap on u32 halves (no bigint: the shadow's per-request path): the same
   * call and outcome as dmaMap(addressSpace, iova, size, vaddr, readonly, cause). `cause` -1 = none.
   */
  dmaMap32?(addressSpace: string, iovaHi: number, iovaLo: number, sizeHi: number, sizeLo: number, vaHi: number, vaLo: number, readonly: boolean, cause: number): number;
  /** Optional hot path of dmaUnmap on u32 halves; `cause` -1 = none. */
  dmaUnmap32?(addressSpace: string, iovaHi: number, iovaLo: number, sizeHi: number, sizeLo: number, cause: number): number;
}
