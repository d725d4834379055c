/**
 * The guest's PCI topology behind the vIOMMU and its IOMMU groups, as the guest kernel computes
 * them (drivers/iommu/iommu.c pci_device_group, reached through viommu_device_group for PCI
 * devices; reference trace-formats-and-guest-dma.md B1 and iommufd-vfio-hostiommu.md §2 for the
 * same rule on the host):
 *  - walking up from the device's bus, the first upstream bridge with an ACS path to the root
 *    (pci_acs_path_enabled with REQ_ACS_FLAGS) isolates it: the device gets a group of its own;
 *  - otherwise the device joins the group of the nearest upstream bridge (a root port without ACS:
 *    QEMU's pcie-root-port with disable-acs=on), which was probed before it.
 * Group numbers come from one IDA in creation (probe) order, as iommu_group_alloc's ida_alloc.
 * Not modelled: DMA aliases, multifunction devices without ACS, PCIe-to-PCI bridges in the guest.
 */

/** One guest PCI device behind the vIOMMU (from the scenario's `devices`). */
export interface GuestPciDevice {
  readonly name: string;
  /** PCI requester ID (bus << 8 | devfn): the virtio-iommu endpoint ID. */
  readonly endpoint: number;
  readonly type: 'endpoint' | 'root-port';
  /** The root port it sits behind (a device name), if any. */
  readonly behind?: string;
  /** A root port's ACS (QEMU's default true; false = disable-acs=on). */
  readonly acs: boolean;
  /** The driver's DMA mask in bits (dma_set_mask_and_coherent(DMA_BIT_MASK(n))). */
  readonly dmaMask: number;
  /** The host device assigned to it (vfio-pci), if any. */
  readonly host?: string;
}

/** A guest IOMMU group: its number, members in probe order and why the last member joined. */
export interface GuestGroup {
  readonly id: number;
  readonly members: string[];
}

/**
 * The guest topology: devices by name and the groups assigned as devices are probed.
 * `probeGroup` is called once per device, in probe order (coldplug: ascending requester ID, a
 * bridge before what sits behind it; hotplug: at device_add).
 */
export class GuestTopology {
  private readonly byName = new Map<string, GuestPciDevice>();
  private readonly groupOf = new Map<string, GuestGroup>();
  private nextGroup = 0;

  constructor(devices: readonly GuestPciDevice[]) {
    for (const d of devices) this.byName.set(d.name, d);
  }

  /** The device named `name` (undefined when unknown). */
  device(name: string): GuestPciDevice | undefined {
    return this.byName.get(name);
  }

  /** The device at requester ID `endpoint` (undefined when none). */
  deviceAt(endpoint: number): GuestPciDevice | undefined {
    for (const d of this.byName.values()) if (d.endpoint === endpoint) return d;
    return undefined;
  }

  /** The group of a probed device (undefined before its probe). */
  group(name: string): GuestGroup | undefined {
    return this.groupOf.get(name);
  }

  /**
   * pci_device_group for `name`: its group and the rule that chose it (for the probe event).
   * Joins the nearest upstream root port's group when the path to the root has no ACS, else
   * allocates the next group number.
   */
  probeGroup(name: string): { group: GuestGroup; why: string } {
    const d = this.byName.get(name);
    if (d === undefined) throw new Error(`guest topology: unknown device "${name}"`);
    const known = this.groupOf.get(name);
    if (known !== undefined) return { group: known, why: 'already probed' };
    const up = d.behind === undefined ? undefined : this.byName.get(d.behind);
    if (up !== undefined && !this.acsPath(up)) {
      const g = this.groupOf.get(up.name);
      if (g !== undefined) {
        g.members.push(name);
        this.groupOf.set(name, g);
        return { group: g, why: `upstream ${up.name} has no ACS path to the root: joins its group (pci_device_group)` };
      }
    }
    const g: GuestGroup = { id: this.nextGroup++, members: [name] };
    this.groupOf.set(name, g);
    return { group: g, why: up === undefined ? 'on the root bus: a group of its own' : `upstream ${up.name} has ACS: a group of its own` };
  }

  /** Forgets a removed device (device_del: iommu_release_device). */
  remove(name: string): void {
    const g = this.groupOf.get(name);
    if (g === undefined) return;
    g.members.splice(g.members.indexOf(name), 1);
    this.groupOf.delete(name);
  }

  /** pci_acs_path_enabled(bridge, NULL): the bridge and every bridge above it have ACS. */
  private acsPath(bridge: GuestPciDevice): boolean {
    for (let b: GuestPciDevice | undefined = bridge; b !== undefined; b = b.behind === undefined ? undefined : this.byName.get(b.behind)) {
      if (!b.acs) return false;
    }
    return true;
  }
}
