/**
 * virtio-iommu as a machine component (layer 'viommu', kind 'virtio-iommu'): QEMU's
 * TYPE_VIRTIO_IOMMU device (hw/virtio/virtio-iommu.c) around the model in device.ts. Realize builds
 * the device from its props and the endpoints behind it; reset is the device reset or, with
 * `system`, QEMU's system reset; the vIOMMU interface (core/machine/layers.ts) is its DMA decision.
 * The virtio transport side (requests, config space, features) is the `device` itself.
 */
import { Component } from '../machine/component.ts';
import type { TranslateOutcome, TranslateSlots } from '../machine/dma.ts';
import type { HostIommuDevice, VIommu } from '../machine/layers.ts';
import type { VirtioIommuProps } from './config.ts';
import { VirtioIommuDevice } from './device.ts';

/** The component's kind: QEMU's device type name. */
export const VIRTIO_IOMMU_KIND = 'virtio-iommu';

/**
 * The message setIommuDevice returns until host devices reach virtio-iommu (issue 7 §4: the host
 * IOVA ranges become RESERVED regions, the page-size mask narrows).
 */
export const SET_IOMMU_DEVICE_UNSUPPORTED = 'virtio-iommu: set_iommu_device is not supported yet';

/** A virtio-iommu in the machine. `endpoints`: PCI requester IDs (bus << 8 | devfn) behind it. */
export class VirtioIommuComponent extends Component implements VIommu {
  declare readonly layer: 'viommu';
  private dev: VirtioIommuDevice | null = null;
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

  /** Not supported yet: always SET_IOMMU_DEVICE_UNSUPPORTED (QEMU's virtio_iommu_set_iommu_device comes with issue 7 §4). */
  setIommuDevice(_endpoint: number, _hiod: HostIommuDevice): string | null {
    return SET_IOMMU_DEVICE_UNSUPPORTED;
  }

  /** Builds the device (QEMU virtio_iommu_device_realize). Throws RangeError for invalid props (validate them first). */
  protected onRealize(): string | null {
    this.dev = new VirtioIommuDevice(this.props, this.endpoints, this.emitter);
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
