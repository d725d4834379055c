/**
 * QEMU's HostIOMMUDevice (backends/host_iommu_device.c, include/system/host_iommu_device.h) as
 * machine components (layer 'host-iommu-device'): what a vIOMMU learns of an assigned device's host
 * side. Two variants, as QEMU's subclasses (reference iommufd-vfio-hostiommu.md §5.1, §5.2):
 *  - 'legacy-vfio' (TYPE_HOST_IOMMU_DEVICE_LEGACY_VFIO, hw/vfio/container.c /
 *    container-legacy.c hiod_legacy_vfio_*): realize sets only the name and the agent (no VFIO
 *    uAPI reports the host IOMMU type); get_cap knows AW_BITS only — IOMMU_TYPE included, anything
 *    else is "%s: unsupported capability %x";
 *  - 'iommufd-vfio' (TYPE_HOST_IOMMU_DEVICE_IOMMUFD_VFIO, hw/vfio/iommufd.c
 *    hiod_iommufd_vfio_realize; get_cap in backends/iommufd.c hiod_iommufd_get_cap): realize reads
 *    IOMMU_GET_HW_INFO (caps.type, caps.hw_caps = out_capabilities, caps.vendor_caps = the VT-d /
 *    SMMUv3 data) and keeps devid/hwpt_id; get_cap knows IOMMU_TYPE and AW_BITS.
 * Both: get_iova_ranges / get_page_size_mask return the container's iova_ranges and pgsizes, and
 * AW_BITS is vfio_device_get_aw_bits: the LAST usable range's highest bit + 1
 * (range_get_last_bit(last) + 1), or HOST_IOMMU_DEVICE_CAP_AW_BITS_MAX (64) when the kernel
 * reported no range. An mdev gets no HostIOMMUDevice (vfio_device_hiod_create_and_realize skips
 * it): see core/host/assign.ts.
 */
import { Component } from '../../machine/component.ts';
import type { BackendAttachment, HostIommuDevice, IovaRange } from '../../machine/layers.ts';

/** HOST_IOMMU_DEVICE_CAP_IOMMU_TYPE (include/system/host_iommu_device.h). */
export const HOST_IOMMU_DEVICE_CAP_IOMMU_TYPE = 0;
/** HOST_IOMMU_DEVICE_CAP_AW_BITS. */
export const HOST_IOMMU_DEVICE_CAP_AW_BITS = 1;
/** HOST_IOMMU_DEVICE_CAP_AW_BITS_MAX: the address width when the kernel reports no IOVA range. */
export const HOST_IOMMU_DEVICE_CAP_AW_BITS_MAX = 64;
/** IOMMU_HW_INFO_TYPE_INTEL_VTD (include/uapi/linux/iommufd.h): what vtd_check_hiod_accel requires. */
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;

/** The variants: QEMU's type names without the "host-iommu-device-" prefix. */
export type HiodVariant = 'legacy-vfio' | 'iommufd-vfio';

/** QEMU's type name of a variant (TYPE_HOST_IOMMU_DEVICE_LEGACY_VFIO / _IOMMUFD_VFIO). */
export const HIOD_TYPE_NAMES: Readonly<Record<HiodVariant, string>> = {
  'legacy-vfio': 'host-iommu-device-legacy-vfio',
  'iommufd-vfio': 'host-iommu-device-iommufd-vfio',
};

/**
 * vfio_device_get_aw_bits (hw/vfio/device.c, earlier hw/vfio/helpers.c): range_get_last_bit of the
 * last range of the sorted container `iova_ranges`, plus 1 — 63 - clz64(upb) + 1 — or 64 when
 * there is none. E.g. a last range ending at 0x7fffffffff gives 39. `ranges` sorted ascending.
 */
export function awBitsOf(ranges: readonly IovaRange[]): number {
  if (ranges.length === 0) return HOST_IOMMU_DEVICE_CAP_AW_BITS_MAX;
  const last = ranges[ranges.length - 1].end;
  // range_get_last_bit: 63 - clz64(upb); an upb of 0 has clz64 = 64 → -1, so aw_bits 0.
  return last === 0n ? 0 : last.toString(2).length;
}

/** What a HostIOMMUDevice is built from: the host device, its requester ID and the backend's attachment. */
export interface HiodSpec {
  /** Component id ('hiod-nic0'). */
  id: string;
  /** The backend component id it uses (teardown order). */
  backendId: string;
  /** hiod->name = vbasedev->name: the host device's BDF ("0000:3b:00.0"). */
  name: string;
  /** The host device's name in the scenario (vf0), for events. */
  hostDevice: string;
  /** The guest device's endpoint (its aliased BDF: hiod->aliased_bus/aliased_devfn, bus << 8 | devfn). */
  aliasedEndpoint: number;
  /** True when the guest device sits downstream of a PCI bridge (vtd_check_hiod_accel's check). */
  behindPciBridge: boolean;
  /** What attachDevice returned. */
  attachment: BackendAttachment;
}

/** The VT-d / SMMUv3 vendor data of GET_HW_INFO (caps.vendor_caps), as the backend reported it. */
export type VendorCaps = Readonly<Record<string, bigint | number | readonly (bigint | number)[]>>;

/**
 * A HostIOMMUDevice (abstract TYPE_HOST_IOMMU_DEVICE): get_iova_ranges / get_page_size_mask from
 * the container, get_cap per variant. Realize emits 'hiod-realize'.
 */
export abstract class HostIommuDeviceComponent extends Component implements HostIommuDevice {
  declare readonly layer: 'host-iommu-device';
  abstract readonly variant: HiodVariant;
  /** hiod->name: the host device's BDF. */
  readonly name: string;
  readonly hostDevice: string;
  readonly aliasedEndpoint: number;
  readonly behindPciBridge: boolean;
  protected readonly attachment: BackendAttachment;
  /** HostIommuDevice.iommufdCaps: undefined except for the iommufd variant. */
  get iommufdCaps(): { readonly type: number; readonly hwCaps: bigint; readonly vendorCaps: VendorCaps } | undefined {
    return undefined;
  }

  constructor(spec: HiodSpec, kind: string) {
    super({ id: spec.id, kind, layer: 'host-iommu-device', uses: [spec.backendId] });
    this.name = spec.name;
    this.hostDevice = spec.hostDevice;
    this.aliasedEndpoint = spec.aliasedEndpoint;
    this.behindPciBridge = spec.behindPciBridge;
    this.attachment = spec.attachment;
  }

  /** HostIOMMUDeviceClass.get_iova_ranges: the container's usable ranges, ascending (a copy). */
  getIovaRanges(): readonly IovaRange[] {
    return this.attachment.iovaRanges.map((r) => ({ start: r.start, end: r.end }));
  }

  /** HostIOMMUDeviceClass.get_page_size_mask: the container's pgsizes (bit n = 2^n bytes). */
  getPageSizeMask(): bigint {
    return this.attachment.pgsizes;
  }

  /** AW_BITS (vfio_device_get_aw_bits, see awBitsOf). */
  get awBits(): number {
    return awBitsOf(this.attachment.iovaRanges);
  }

  /** The error get_cap gives for a capability the variant does not know (QEMU's text, cap in hex). */
  protected unsupported(cap: number): string {
    return `${this.name}: unsupported capability ${(cap >>> 0).toString(16)}`;
  }

  abstract getCap(cap: number): number | string;

  /** Realize: the variant's checks, then the 'hiod-realize' event (status 0, or 1 with the error). */
  protected onRealize(): string | null {
    const error = this.realizeVariant();
    const sink = this.emitter;
    if (sink.enabled) {
      const data: Record<string, unknown> = {
        device: this.hostDevice,
        variant: this.variant,
        awBits: this.awBits,
        iovaRanges: this.attachment.iovaRanges.map((r) => ['0x' + r.start.toString(16), '0x' + r.end.toString(16)]),
        pageSizeMask: '0x' + this.attachment.pgsizes.toString(16),
        ...this.realizeData(),
      };
      if (error !== null) data.error = error;
      sink.emit('hiod-realize', { status: error === null ? 0 : 1, data });
    }
    return error;
  }

  /** The variant's realize: null or QEMU's error. */
  protected abstract realizeVariant(): string | null;
  /** Extra 'hiod-realize' data of the variant. */
  protected abstract realizeData(): Record<string, unknown>;

  protected onReset(): void {}
  protected onUnrealize(): void {}
}

/** TYPE_HOST_IOMMU_DEVICE_LEGACY_VFIO: a device in a VFIO type1 container. */
export class LegacyVfioHiod extends HostIommuDeviceComponent {
  readonly variant = 'legacy-vfio' as const;

  constructor(spec: HiodSpec) {
    super(spec, HIOD_TYPE_NAMES['legacy-vfio']);
  }

  /** hiod_legacy_vfio_get_cap: AW_BITS only; IOMMU_TYPE and anything else → "unsupported capability". */
  getCap(cap: number): number | string {
    return cap === HOST_IOMMU_DEVICE_CAP_AW_BITS ? this.awBits : this.unsupported(cap);
  }

  /** hiod_legacy_vfio_realize: sets name and agent only; cannot fail. */
  protected realizeVariant(): string | null {
    return null;
  }

  protected realizeData(): Record<string, unknown> {
    return {};
  }
}

/** TYPE_HOST_IOMMU_DEVICE_IOMMUFD_VFIO: a device bound to iommufd (HostIOMMUDeviceIOMMUFD: iommufd, devid, hwpt_id). */
export class IommufdVfioHiod extends HostIommuDeviceComponent {
  readonly variant = 'iommufd-vfio' as const;
  /** caps.type: IOMMU_GET_HW_INFO out_data_type (IOMMU_HW_INFO_TYPE_*). */
  type = 0;
  /** caps.hw_caps: out_capabilities (IOMMU_HW_CAP_*). */
  hwCaps = 0n;
  /** caps.vendor_caps: the VT-d (cap_reg, ecap_reg) / SMMUv3 (idr…) data. */
  vendorCaps: VendorCaps = {};
  /** HostIommuDevice.iommufdCaps: what HOST_IOMMU_DEVICE_IOMMUFD's caps hold once realized. */
  override get iommufdCaps(): { type: number; hwCaps: bigint; vendorCaps: VendorCaps } {
    return { type: this.type, hwCaps: this.hwCaps, vendorCaps: this.vendorCaps };
  }
  /** HostIOMMUDeviceIOMMUFD.devid / hwpt_id. */
  readonly devId: number;
  readonly hwptId: number;

  constructor(spec: HiodSpec) {
    super(spec, HIOD_TYPE_NAMES['iommufd-vfio']);
    this.devId = spec.attachment.devId ?? 0;
    this.hwptId = spec.attachment.hwptId ?? 0;
  }

  /** hiod_iommufd_get_cap: IOMMU_TYPE → caps.type; AW_BITS → vfio_device_get_aw_bits; else "unsupported capability". */
  getCap(cap: number): number | string {
    if (cap === HOST_IOMMU_DEVICE_CAP_IOMMU_TYPE) return this.type;
    if (cap === HOST_IOMMU_DEVICE_CAP_AW_BITS) return this.awBits;
    return this.unsupported(cap);
  }

  /**
   * hiod_iommufd_vfio_realize: iommufd_backend_get_device_info (IOMMU_GET_HW_INFO) → caps.type,
   * hw_caps, vendor_caps. No hardware info (the backend could not read it) → QEMU's
   * "Failed to get hardware info" (error_setg_errno; the lab has no errno for it here).
   */
  protected realizeVariant(): string | null {
    const hw = this.attachment.hwInfo;
    if (hw === undefined) return 'Failed to get hardware info';
    this.type = hw.type;
    this.hwCaps = hw.capabilities;
    this.vendorCaps = hw.data;
    return null;
  }

  protected realizeData(): Record<string, unknown> {
    return { type: this.type, hwCaps: '0x' + this.hwCaps.toString(16) };
  }
}

/** The HostIOMMUDevice of the attachment's backend (legacy for vfio-type1, iommufd-vfio for iommufd). */
export function createHiod(spec: HiodSpec): HostIommuDeviceComponent {
  return spec.attachment.backend === 'iommufd' ? new IommufdVfioHiod(spec) : new LegacyVfioHiod(spec);
}
