/**
 * virtio-iommu as a machine component (layer 'viommu', kind 'virtio-iommu'): QEMU's
 * TYPE_VIRTIO_IOMMU device (hw/virtio/virtio-iommu.c) around the model in device.ts. Realize builds
 * the device from its props and the endpoints behind it; reset is the device reset or, with
 * `system`, QEMU's system reset; the vIOMMU interface (core/machine/layers.ts) is its DMA decision.
 * The virtio transport side (requests, config space, features) is the `device` itself.
 */
import { Component } from '../../machine/component.ts';
import type { TranslateOutcome, TranslateSlots } from '../../machine/dma.ts';
import type { HostIommuDevice, IommuNotifier, VIommu } from '../../machine/layers.ts';
import type { VirtioIommuProps } from './config.ts';
import { VirtioIommuDevice } from './device.ts';

/** The component's kind: QEMU's device type name. */
export const VIRTIO_IOMMU_KIND = 'virtio-iommu';

import { iommuMrName } from './host-device.ts';

/** A virtio-iommu in the machine. `endpoints`: PCI requester IDs (bus << 8 | devfn) behind it. */
export class VirtioIommuComponent extends Component implements VIommu {
  declare readonly layer: 'viommu';
  private dev: VirtioIommuDevice | null = null;
  private notifier: IommuNotifier | null = null;
  private readonly props: VirtioIommuProps;
  private readonly endpoints: readonly number[];

  constructor(id: string, props: VirtioIommuProps, endpoints: Iterable<number>) {
    super({ id, kind: VIRTIO_IOMMU_KIND, layer: 'viommu' });
    this.props = props;
    this.endpoints = [...endpoints];
  }

  /** The device model (virtio transport: requests, config, features). Throws unless realized. */
  get device(): VirtioIommuDevice {
    if (this.dev === null) throw new Error(`${this.id}: not realized`);
    return this.dev;
  }

  get slots(): TranslateSlots {
    return this.device.slots;
  }

  /** VIommu.translate: VirtioIommuDevice.translateFast. */
  translate(endpoint: number, addrHi: number, addrLo: number, size: number, access: number): number {
    return this.dev!.translateFast(endpoint, addrHi, addrLo, size, access);
  }

  /** VIommu.translateAccess: VirtioIommuDevice.translate. */
  translateAccess(endpoint: number, addr: bigint, size: bigint, access: 1 | 2): TranslateOutcome {
    return this.device.translate(endpoint, addr, size, access);
  }

  /** Drops the fault records queued on the eventq (a driver that does not read them). */
  discardFaultReports(): void {
    this.device.takeFaultRecords();
  }

  /**
   * VIommu.setIommuDevice: QEMU's virtio_iommu_set_iommu_device (host-device.ts) for the device at
   * `endpoint`. Emits 'set-iommu-device' (status 0 accepted / 1 refused; data {device: hiod name,
   * viommu, message?, trace: QEMU's trace lines}). Returns null or QEMU's error.
   */
  setIommuDevice(endpoint: number, hiod: HostIommuDevice): string | null {
    const alias = hiod.aliasedEndpoint >>> 0;
    const index = this.endpoints.indexOf(alias);
    const { error, trace } = this.device.setIommuDevice(endpoint, hiod, iommuMrName(index < 0 ? 0 : index, alias));
    const sink = this.emitter;
    if (sink.enabled) {
      const data: Record<string, unknown> = { device: hiod.name, viommu: this.id };
      if (error !== null) data.message = error;
      if (trace.length > 0) data.trace = trace;
      sink.emit('set-iommu-device', { endpoint: endpoint >>> 0, status: error === null ? 0 : 1, data });
    }
    return error;
  }

  /** PCIIOMMUOps.unset_iommu_device (device_del of an assigned device): VirtioIommuDevice.unsetIommuDevice. */
  unsetIommuDevice(endpoint: number, hiod: HostIommuDevice): void {
    this.device.unsetIommuDevice(endpoint, hiod.aliasedEndpoint);
  }

  /** VIommu.machineInitDone: virtio_iommu_freeze_granule (VirtioIommuDevice.freezeGranule); never fails. */
  machineInitDone(): string | null {
    // QEMU 8.x (host-geometry listener): the transient MR enable delivers coldplugged devices' ranges.
    if (this.props.hostGeometry === 'listener') this.device.applyPendingHostRanges();
    this.device.freezeGranule();
    return null;
  }

  /**
   * Registers VFIO's IOMMU notifiers (core/host/shadow.ts) or none: VirtioIommuDevice.setNotifier
   * (kept across realize: may be called before it).
   */
  setNotifier(n: IommuNotifier | null): void {
    this.notifier = n;
    this.dev?.setNotifier(n);
  }

  /** Builds the device (QEMU virtio_iommu_device_realize). Throws RangeError for invalid props (validate them first). */
  protected onRealize(): string | null {
    this.dev = new VirtioIommuDevice(this.props, this.endpoints, this.emitter);
    this.dev.setNotifier(this.notifier);
    return null;
  }

  /** Device reset, or system reset (config.bypass back to boot-bypass): VirtioIommuDevice.reset. */
  protected onReset(system: boolean): void {
    this.device.reset(system);
  }

  protected onUnrealize(): void {
    this.dev = null;
  }
}
