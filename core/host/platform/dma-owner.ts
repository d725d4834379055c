/**
 * DMA ownership of IOMMU groups (drivers/iommu/iommu.c iommu_group_claim_dma_owner /
 * iommu_device_claim_dma_owner): a group used by a user-space driver has one owner at a time. A
 * VFIO container claims it at VFIO_GROUP_SET_CONTAINER, iommufd at device bind; a claim by a
 * different owner fails with EBUSY. Shared by the host backends so that a group in a type1
 * container cannot also be bound through iommufd, and the reverse.
 */
import { ERRNO, type Errno } from '../errno.ts';

/** Who owns which group; an owner is any object (a container, an iommufd context). */
export class DmaOwnership {
  private readonly owners = new Map<number, { owner: object; claims: number }>();

  /** Claims `group` for `owner`: 0, or EBUSY when another owner holds it. Claims by the same owner nest. */
  claim(group: number, owner: object): Errno {
    const cur = this.owners.get(group);
    if (cur === undefined) this.owners.set(group, { owner, claims: 1 });
    else if (cur.owner !== owner) return ERRNO.EBUSY;
    else cur.claims++;
    return ERRNO.OK;
  }

  /** Releases one claim of `owner` on `group` (a bug to release what is not held). */
  release(group: number, owner: object): void {
    const cur = this.owners.get(group);
    if (cur === undefined || cur.owner !== owner) throw new Error(`dma-owner: group ${group} is not held by this owner`);
    if (--cur.claims === 0) this.owners.delete(group);
  }

  /** The current owner of `group`, if any. */
  ownerOf(group: number): object | undefined {
    return this.owners.get(group)?.owner;
  }
}

/** The owner standing for host kernel drivers (DMA API users), iommu_device_use_default_domain. */
export const KERNEL_DRIVER: object = Object.freeze({ owner: 'kernel' });

/**
 * Claims for {@link KERNEL_DRIVER} every group with an `endpoint` member (a device bound to a host
 * kernel driver, not to vfio): such a group cannot be claimed by user space (EBUSY). Ports and
 * bridges do not count (pcieport sets driver_managed_dma).
 */
export function claimKernelDrivers(host: { groups: readonly { id: number; members: readonly string[] }[]; deviceByName: ReadonlyMap<string, { type: string }> }, own: DmaOwnership): void {
  for (const g of host.groups) if (g.members.some((m) => host.deviceByName.get(m)?.type === 'endpoint')) own.claim(g.id, KERNEL_DRIVER);
}
