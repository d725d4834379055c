/**
 * intel-iommu (QEMU hw/i386/intel_iommu.c, TYPE_INTEL_IOMMU_DEVICE) as a machine component
 * (layer 'viommu', kind 'intel-iommu'), at realize level: its properties, QEMU's realize rules
 * (vtd_decide_config), the caching-mode rule for assigned devices and set_iommu_device
 * (vtd_dev_set_iommu_device / vtd_check_hiod / vtd_check_hiod_accel). Reference
 * iommufd-vfio-hostiommu.md §5.3; messages verbatim from QEMU ≈10.0 (019fbfa4) and the newest
 * intel_iommu_accel.c.
 *
 * DMA remapping is not modelled yet (a later issue): the guest cannot program root/context tables
 * or set GCMD.TE, so translation stays disabled, exactly as QEMU's intel-iommu is until the guest
 * enables it — vtd_switch_address_space puts every device on the "nodmar" alias of system memory.
 * `translate` therefore answers identity (TR_BYPASS) for every endpoint and emits no event.
 */
import { Component } from '../../machine/component.ts';
import { TR_BYPASS, TranslateSlots, type TranslateOutcome } from '../../machine/dma.ts';
import type { HostIommuDevice, VIommu } from '../../machine/layers.ts';

/** The component's kind: QEMU's device type name. */
export const INTEL_IOMMU_KIND = 'intel-iommu';
/** VTD_HOST_AW_39BIT / VTD_HOST_AW_48BIT (hw/i386/intel_iommu_internal.h). */
export const VTD_HOST_AW_39BIT = 39;
export const VTD_HOST_AW_48BIT = 48;
/** VTD_HOST_ADDRESS_WIDTH: the aw-bits default, 48 since QEMU 9.2 (39 before, kept by the pc-9.1 compat). */
export const VTD_HOST_ADDRESS_WIDTH = VTD_HOST_AW_48BIT;
/** HOST_IOMMU_DEVICE_CAP_AW_BITS (include/system/host_iommu_device.h). */
const CAP_AW_BITS = 1;
/** IOMMU_HW_INFO_TYPE_INTEL_VTD (include/uapi/linux/iommufd.h). */
const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
/** VTD_CAP_FS1GP: first-stage 1 GiB pages, CAP_REG bit 56 (VT-d spec §11.4.2; hw/i386/intel_iommu_internal.h). */
export const VTD_CAP_FS1GP = 1n << 56n;

/**
 * QEMU's caching-mode error (vtd_panic_require_caching_mode, the machine-done hook when a vfio-pci
 * device exists): error_report, then exit(1).
 */
export const CACHING_MODE_REQUIRED = 'We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.';

/** intel-iommu properties (QEMU names: aw-bits, caching-mode, x-scalable-mode, x-flts, fs1gp). */
export interface IntelIommuProps {
  /** `aw-bits`: guest address width (default VTD_HOST_ADDRESS_WIDTH = 48). */
  awBits: number;
  /** `caching-mode` (CM in CAP_REG): required for assigned devices. Default false. */
  cachingMode: boolean;
  /** `x-scalable-mode`. Default false. */
  scalableMode: boolean;
  /** `x-flts`: first-stage (stage-1) translation for the guest, nested on the host (iommufd only). Default false. */
  xFlts: boolean;
  /** `fs1gp`: advertise first-stage 1 GiB pages. Default true. */
  fs1gp: boolean;
}

/** QEMU's defaults (newest). */
export function defaultIntelIommuProps(): IntelIommuProps {
  return { awBits: VTD_HOST_ADDRESS_WIDTH, cachingMode: false, scalableMode: false, xFlts: false, fs1gp: true };
}

/**
 * vtd_decide_config's aw-bits / x-flts rules: null, or QEMU's error.
 * - !scalable_mode && flts → "x-flts is only available in scalable mode";
 * - !flts and aw-bits not 39/48 → "%s: supported values for aw-bits are: %d, %d" with
 *   "Scalable mode(flts=off)" or "Legacy mode";
 * - flts and aw-bits ≠ 48 → "Scalable mode(flts=on): supported value for aw-bits is: %d".
 * (dma_drain, pasid, eim and intremap rules concern properties the lab does not model.)
 */
export function decideConfig(p: IntelIommuProps): string | null {
  if (!p.scalableMode && p.xFlts) return 'x-flts is only available in scalable mode';
  if (!p.xFlts && p.awBits !== VTD_HOST_AW_39BIT && p.awBits !== VTD_HOST_AW_48BIT) {
    return `${p.scalableMode ? 'Scalable mode(flts=off)' : 'Legacy mode'}: supported values for aw-bits are: ${VTD_HOST_AW_39BIT}, ${VTD_HOST_AW_48BIT}`;
  }
  if (p.xFlts && p.awBits !== VTD_HOST_AW_48BIT) return `Scalable mode(flts=on): supported value for aw-bits is: ${VTD_HOST_AW_48BIT}`;
  return null;
}

/**
 * vtd_check_hiod (+ vtd_check_hiod_accel with x-flts, CONFIG_VTD_ACCEL): null or QEMU's error.
 * AW_BITS first (a get_cap error fails as is; "aw-bits %d > host aw-bits %d"); stage-2 (x-flts
 * off) needs nothing more; x-flts on: "Need IOMMUFD backend when x-flts=on", "Incompatible host
 * platform IOMMU type %d", "First stage 1GB large page is unsupported by host IOMMU",
 * "Host device downstream to a PCI bridge is unsupported when x-flts=on", in that order.
 */
export function checkHiod(p: IntelIommuProps, hiod: HostIommuDevice): string | null {
  const aw = hiod.getCap(CAP_AW_BITS);
  if (typeof aw === 'string') return aw;
  if (p.awBits > aw) return `aw-bits ${p.awBits} > host aw-bits ${aw}`;
  if (!p.xFlts) return null;
  const caps = hiod.iommufdCaps;
  if (caps === undefined) return 'Need IOMMUFD backend when x-flts=on';
  if (caps.type !== IOMMU_HW_INFO_TYPE_INTEL_VTD) return `Incompatible host platform IOMMU type ${caps.type}`;
  const cap = caps.vendorCaps.capReg;
  if (p.fs1gp && !(typeof cap === 'bigint' && (cap & VTD_CAP_FS1GP) !== 0n)) return 'First stage 1GB large page is unsupported by host IOMMU';
  if (hiod.behindPciBridge) return 'Host device downstream to a PCI bridge is unsupported when x-flts=on';
  return null;
}

/** An intel-iommu in the machine (see the module comment). */
export class IntelIommuComponent extends Component implements VIommu {
  declare readonly layer: 'viommu';
  readonly slots = new TranslateSlots();
  readonly props: IntelIommuProps;
  /** Host IOMMU devices by endpoint (s->vtd_host_iommu_dev, key (bus, devfn)). */
  private readonly hiods = new Map<number, HostIommuDevice>();

  constructor(id: string, props: IntelIommuProps) {
    super({ id, kind: INTEL_IOMMU_KIND, layer: 'viommu' });
    this.props = { ...props };
  }

  /** vtd_realize → vtd_decide_config: null or QEMU's error (QEMU fails to start). */
  protected onRealize(): string | null {
    return decideConfig(this.props);
  }

  protected onReset(): void {}

  protected onUnrealize(): void {
    this.hiods.clear();
  }

  /**
   * The machine-done hook (vtd_machine_done_hook): with an assigned device (vfio-pci) present and
   * caching-mode off, QEMU reports CACHING_MODE_REQUIRED and exits. `assigned`: whether one is
   * coldplugged. Returns null or the message (the run fails). A hotplugged vfio-pci is not checked
   * here: QEMU refuses it only when VFIO registers its MAP notifier, i.e. once the guest enables DMA
   * remapping ("device %02x.%02x.%x requires caching mode", vtd_iommu_notify_flag_changed), which
   * the lab does not model yet.
   */
  machineInitDone(assigned: boolean): string | null {
    return assigned && !this.props.cachingMode ? CACHING_MODE_REQUIRED : null;
  }

  /**
   * VIommu.setIommuDevice: vtd_dev_set_iommu_device — "Host IOMMU device already exist" for a
   * second one at the same (bus, devfn), else checkHiod. Emits 'set-iommu-device'.
   */
  setIommuDevice(endpoint: number, hiod: HostIommuDevice): string | null {
    const ep = endpoint >>> 0;
    const error = this.hiods.has(ep) ? 'Host IOMMU device already exist' : checkHiod(this.props, hiod);
    if (error === null) this.hiods.set(ep, hiod);
    const sink = this.emitter;
    if (sink.enabled) {
      const data: Record<string, unknown> = { device: hiod.name, viommu: this.id };
      if (error !== null) data.message = error;
      sink.emit('set-iommu-device', { endpoint: ep, status: error === null ? 0 : 1, data });
    }
    return error;
  }

  /** vtd_dev_unset_iommu_device: forgets the device at `endpoint`. */
  unsetIommuDevice(endpoint: number): void {
    this.hiods.delete(endpoint >>> 0);
  }

  /** DMA remapping disabled (not modelled yet): identity for every access (TR_BYPASS, output = input). */
  translate(_endpoint: number, addrHi: number, addrLo: number, _size: number, _access: number): number {
    this.slots.physHi = addrHi;
    this.slots.physLo = addrLo;
    this.slots.domain = -1;
    return TR_BYPASS;
  }

  /** translate's outcome form: always { kind: 'bypass' }. Throws RangeError for non-u64 addr/size. */
  translateAccess(_endpoint: number, addr: bigint, size: bigint, _access: 1 | 2): TranslateOutcome {
    if (addr < 0n || addr > 0xffffffffffffffffn || size < 0n || size > 0xffffffffffffffffn) throw new RangeError('intel-iommu: translate addr/size must be u64');
    return { kind: 'bypass' };
  }

  /** No fault is ever reported (translation disabled). */
  discardFaultReports(): void {}
}
