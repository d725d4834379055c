/**
 * Device assignment: QEMU's vfio-pci device (hw/vfio/pci.c vfio_pci_realize, earlier
 * vfio_realize; hw/vfio/device.c vfio_device_attach) as a guest-layer machine component. Its
 * realize is QEMU's plug sequence for a guest device backed by a host device:
 *  1. vfio_device_attach into the container of the device's address space (HostBackend
 *     attachDevice): legacy group/container/SET_IOMMU/GET_INFO, or iommufd BIND/IOAS/ATTACH/IOVA_RANGES;
 *  2. at its end vfio_device_hiod_create_and_realize: an mdev gets no HostIOMMUDevice; otherwise
 *     the variant of the backend (core/host/hiod) is created and realized (a failure detaches);
 *  3. pci_device_set_iommu_device(pdev, hiod) unless mdev — the vIOMMU's set_iommu_device; a
 *     refusal is prepended "Failed to set vIOMMU: " (QEMU ≥ 10.0; 9.1-9.2 said "Failed to set
 *     iommu_device: ") and the device is torn down;
 *  4. VFIO's listener registers the IOMMU notifier on the device's IOMMU MR (core/host/shadow.ts);
 * any failure is prefixed VFIO_MSG_PREFIX "vfio %s: " with vbasedev->name (the host BDF).
 * Each plug emits 'device-plug' (coldplug 0 / hotplug 1 / unplug 2, status, {device, host, error?}).
 * A coldplugged device that fails fails the machine's realize (QEMU fails to start); a hotplugged
 * one fails Machine.plug (device_add's error), leaving nothing behind.
 *
 * Address spaces: one container (legacy) or IOAS (iommufd) per guest address space, as QEMU's
 * vfio_device_attach looks them up: with a vIOMMU each device has its own IOMMU address space
 * ("<viommu id>:<guest BDF>"), without one all share system memory ("memory"), whose RAM
 * mappings (vfio_listener_region_add of RAM sections) the lab does not model.
 */
import { Component } from '../machine/component.ts';
import type { Machine } from '../machine/machine.ts';
import type { HostBackend, VIommu } from '../machine/layers.ts';
import { createHiod, type HostIommuDeviceComponent } from './hiod/hiod.ts';
import type { VfioShadow } from './shadow.ts';

/** The component's kind: QEMU's device type name. */
export const VFIO_PCI_KIND = 'vfio-pci';

/** Address space of devices without a vIOMMU (QEMU's address_space_memory). */
export const SYSTEM_MEMORY_AS = 'memory';

/** A guest device backed by a host device. */
export interface AssignedDeviceSpec {
  /** Component id (a valid component id derived from the guest device's name). */
  id: string;
  /** The guest device's name in the scenario (nic0). */
  guestDevice: string;
  /** Its requester ID behind the vIOMMU (bus << 8 | devfn). */
  endpoint: number;
  /** The host device's name in the scenario (vf0). */
  hostDevice: string;
  /** vbasedev->name: the host BDF ("0000:3b:00.0"), or an mdev's name. */
  hostName: string;
  /** The host device is an mdev (no HostIOMMUDevice, no set_iommu_device). */
  mdev: boolean;
  /** Hotplugged by a `device-add` step (else coldplugged). */
  hotplug: boolean;
}

/** Where the device plugs in: the machine (for its HostIOMMUDevice), the backend, the vIOMMU and the shadow. */
export interface AssignContext {
  machine: Machine;
  backend: HostBackend;
  /** The vIOMMU the device sits behind, or null (no vIOMMU: system memory). */
  viommu: VIommu | null;
  /** VFIO's notifiers the vIOMMU calls (virtio-iommu), or null when the vIOMMU has none. */
  shadow: VfioShadow | null;
}

/** A component id from a scenario name: lower-case, other characters as '-', starting with a letter. */
export function componentIdOf(name: string): string {
  const id = name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return /^[a-z]/.test(id) ? id : `dev-${id}`;
}

/** QEMU's vfio-pci device (see the module comment). */
export class VfioPciComponent extends Component {
  declare readonly layer: 'guest';
  readonly spec: AssignedDeviceSpec;
  private readonly ctx: AssignContext;
  /** Its HostIOMMUDevice once realized (null for an mdev). */
  hiod: HostIommuDeviceComponent | null = null;
  /** The address space (container) it is attached in. */
  readonly addressSpace: string;

  constructor(spec: AssignedDeviceSpec, ctx: AssignContext) {
    super({ id: spec.id, kind: VFIO_PCI_KIND, layer: 'guest', uses: ctx.viommu === null ? [ctx.backend.id] : [ctx.backend.id, ctx.viommu.id] });
    this.spec = spec;
    this.ctx = ctx;
    this.addressSpace = ctx.viommu === null ? SYSTEM_MEMORY_AS : `${ctx.viommu.id}:${bdfText(spec.endpoint)}`;
  }

  /** vfio_pci_realize's assignment part: null, or QEMU's error ("vfio <host>: …"). Emits 'device-plug'. */
  protected onRealize(): string | null {
    const error = this.assign();
    const msg = error === null ? null : `vfio ${this.spec.hostName}: ${error}`;
    this.plugEvent(this.spec.hotplug ? 1 : 0, msg);
    return msg;
  }

  private assign(): string | null {
    const { machine, backend, viommu, shadow } = this.ctx;
    const s = this.spec;
    const att = backend.attachDevice(s.hostDevice, this.addressSpace);
    if (!att.ok) return att.error;
    if (!s.mdev) {
      const hiod = createHiod({
        id: `hiod-${s.id}`, backendId: backend.id, name: s.hostName, hostDevice: s.hostDevice,
        aliasedEndpoint: s.endpoint, behindPciBridge: false, attachment: att.attachment,
      });
      machine.add(hiod);
      const herr = hiod.realize();
      if (herr !== null) {
        machine.unplug(hiod.id);
        backend.detachDevice(s.hostDevice);
        return herr;
      }
      if (viommu !== null) {
        const verr = viommu.setIommuDevice(s.endpoint, hiod);
        if (verr !== null) {
          machine.unplug(hiod.id);
          backend.detachDevice(s.hostDevice);
          return `Failed to set vIOMMU: ${verr}`;
        }
      }
      this.hiod = hiod;
    }
    shadow?.register(s.endpoint, { backend, addressSpace: this.addressSpace, container: att.attachment.container });
    return null;
  }

  protected onReset(): void {}

  /** device_del: vfio_exitfn (unset_iommu_device, notifier gone, detach) + 'device-plug' unplug. */
  protected override onUnplug(): void {
    this.plugEvent(2, null);
  }

  protected onUnrealize(): void {
    const { machine, backend, viommu, shadow } = this.ctx;
    shadow?.unregister(this.spec.endpoint);
    if (this.hiod !== null) {
      viommu?.unsetIommuDevice?.(this.spec.endpoint, this.hiod);
      if (machine.get(this.hiod.id) !== undefined) machine.unplug(this.hiod.id);
      this.hiod = null;
    }
    backend.detachDevice(this.spec.hostDevice);
  }

  private plugEvent(action: number, error: string | null): void {
    const sink = this.emitter;
    if (!sink.enabled) return;
    const data: Record<string, unknown> = { device: this.spec.guestDevice, host: this.spec.hostDevice };
    if (error !== null) data.error = error;
    sink.emit('device-plug', { endpoint: this.spec.endpoint, action, status: error === null ? 0 : 1, data });
  }
}

/** "bb:dd.f" of a requester ID. */
function bdfText(ep: number): string {
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${h((ep >> 8) & 0xff, 2)}:${h((ep >> 3) & 0x1f, 2)}.${ep & 7}`;
}

/**
 * Machine init done, after the coldplugged components realized (QEMU's machine_done notifiers):
 * virtio-iommu freezes its granule (virtio_iommu_freeze_granule); intel-iommu requires caching-mode
 * when a vfio-pci device exists (vtd_machine_done_hook, QEMU then exits): VIommu.machineInitDone.
 * Returns null or QEMU's error (the run fails).
 */
export function machineInitDone(machine: Machine, viommu: VIommu | null): string | null {
  if (viommu === null) return null;
  const assigned = machine.components('guest').some((c) => c.kind === VFIO_PCI_KIND);
  return viommu.machineInitDone?.(assigned) ?? null;
}
