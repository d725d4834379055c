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
}

/** True when `c` is a vIOMMU (its layer is 'viommu'). */
export function isVIommu(c: Component): c is VIommu {
  return c.layer === 'viommu';
}
