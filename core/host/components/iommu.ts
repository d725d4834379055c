/**
 * A physical IOMMU as a machine component (layer 'iommu', kind = its model: intel-vtd, amd-vi,
 * arm-smmuv3; id = its scenario name lower-cased, e.g. 'dmar0'). At realize it reports the IOMMU
 * groups of its devices as Linux computed them (drivers/iommu/iommu.c pci_device_group; reference
 * ../../../../shared/reference/iommufd-vfio-hostiommu.md §3): one 'iommu-group' event each. It
 * decides an assigned device's DMA through the domain its backend attached the group to (the
 * DMA remapping walk, VT-d §3 / SMMUv3 §3.4): a 'host-dma' event, and a 'host-fault' event (the
 * DMAR fault record / SMMU event queue entry) when it faults.
 */
import { Component } from '../../machine/component.ts';
import type { HostPlatform, IommuGroup, ResolvedIommu } from '../platform/host.ts';
import type { HostDmaOutcome } from './backend.ts';

/** The component id of a physical IOMMU named `name`: lower-cased, other characters than [a-z0-9-] as '-', a leading letter ensured. */
export function iommuComponentId(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return /^[a-z]/.test(s) ? s : `iommu-${s}`;
}

/** Why a group has its members (the Linux rule), for the 'iommu-group' event. */
export function groupWhy(host: HostPlatform, g: IommuGroup): string {
  const devs = g.members.map((m) => host.deviceByName.get(m)!).filter((d) => d !== undefined);
  if (devs.some((d) => d.type === 'mdev')) return 'mdev: an emulated group of its own (vfio_register_emulated_iommu_dev)';
  if (devs.length === 1) return 'isolated: ACS up to the root port (pci_device_group)';
  if (devs.some((d) => d.behindPciBridge)) return 'behind a PCIe-to-PCI bridge: DMA aliased to the bridge (pci_device_group, pci_for_each_dma_alias)';
  return 'a port without ACS above them: no isolation (pci_device_group, pci_acs_path_enabled)';
}

/** What one host DMA decided. */
export type HostDmaDecision = HostDmaOutcome & { endpoint: number };

/** A physical IOMMU in the machine. */
export class PhysicalIommuComponent extends Component {
  declare readonly layer: 'iommu';

  constructor(
    readonly iommu: ResolvedIommu,
    private readonly host: HostPlatform,
    /** Explicit group numbers (`group: N`) by device name, to say so in the group's reason. */
    private readonly explicitGroups: ReadonlySet<string> = new Set(),
  ) {
    super({ id: iommuComponentId(iommu.name), kind: iommu.model, layer: 'iommu' });
  }

  /** Its groups (those whose members sit behind it), in group order. */
  groups(): IommuGroup[] {
    return this.host.groups.filter((g) => g.iommu === this.iommu.name);
  }

  protected onRealize(): string | null {
    const e = this.emitter;
    if (e.enabled) {
      for (const g of this.groups()) {
        const explicit = g.members.find((m) => this.explicitGroups.has(m));
        e.emit('iommu-group', { group: g.id >>> 0, data: { iommu: this.iommu.name, devices: [...g.members], why: explicit !== undefined ? `group: ${g.id}` : groupWhy(this.host, g) } });
      }
    }
    return null;
  }
  protected onReset(): void {}
  protected onUnrealize(): void {}

  /**
   * Records a host DMA by `device` that the backend decided (`outcome`): a 'host-dma' event and, on
   * a fault, a 'host-fault' event. `endpoint`: the device's requester ID on the host.
   */
  recordDma(device: string, endpoint: number, iova: bigint, size: bigint, access: 'read' | 'write', outcome: HostDmaOutcome): void {
    const e = this.emitter;
    if (!e.enabled) return;
    const acc = access === 'write' ? 2 : 1;
    if ('translated' in outcome) {
      const p: { endpoint: number; iova: bigint; phys: bigint; size: bigint; access: number; outcome: number; data: unknown; domain?: number } = {
        endpoint: endpoint >>> 0,
        iova,
        phys: outcome.translated,
        size,
        access: acc,
        outcome: 0,
        data: { device, iommu: this.iommu.name },
      };
      if (outcome.domain !== undefined) p.domain = outcome.domain >>> 0;
      e.emit('host-dma', p);
      return;
    }
    e.emit('host-dma', { endpoint: endpoint >>> 0, iova, size, access: acc, outcome: 1, data: { device, iommu: this.iommu.name, reason: outcome.fault.reason } });
    e.emit('host-fault', { endpoint: endpoint >>> 0, address: outcome.fault.address, access: acc, data: { device, iommu: this.iommu.name, reason: outcome.fault.reason } });
  }
}
