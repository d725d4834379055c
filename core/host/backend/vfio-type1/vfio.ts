/**
 * The VFIO type1 backend: containers (/dev/vfio/vfio), IOMMU groups (/dev/vfio/N) and the container
 * ioctls QEMU's legacy VFIO path uses, errno for errno (drivers/vfio/container.c, group.c,
 * vfio_iommu_type1.c; ../../../../../shared/reference/iommufd-vfio-hostiommu.md §4). Handlers are
 * thin: look up the container and group, check the vfio core's rules, delegate to container.ts
 * (attach/detach, valid IOVA list) and dma.ts (MAP/UNMAP/GET_INFO). Plus a translate path for a
 * device's DMA through its container's mappings (issue 7 `host-dma`).
 */
import { ERRNO } from '../../errno.ts';
import type { VfioContainerBackend } from '../vfio-api.ts';
import { NEWEST_KERNEL, type KernelEra } from '../../kernel.ts';
import { DmaOwnership, claimKernelDrivers } from '../../platform/dma-owner.ts';
import { VfioGroupFiles, vfioGroupOf } from '../../platform/vfio-group.ts';
import type { HostPlatform, IommuGroup } from '../../platform/host.ts';
import { U64_MAX } from '../../platform/ranges.ts';
import { DMA_ENTRY_LIMIT_DEFAULT, EBADF, IOMMU_TYPE_BY_NAME, VFIO_EXT } from './constants.ts';
import { attachGroup, detachGroup, openType1, type Container, type Type1State } from './container.ts';
import { DMA_READ, DMA_WRITE } from './dma-table.ts';
import { getInfo, mapDma, unmapDma, type DmaMapArgs, type DmaUnmapArgs, type DmaUnmapResult, type Type1InfoResult } from './dma.ts';

export { EBADF, IOMMU_TYPE_BY_NAME, MAP_FLAG_NAMES, UNMAP_FLAG_NAMES, VFIO_DMA_MAP_FLAG, VFIO_DMA_UNMAP_FLAG, VFIO_EXT } from './constants.ts';
export type { DmaMapArgs, DmaUnmapArgs, DmaUnmapResult, Type1InfoCaps, Type1InfoResult } from './dma.ts';

/** Backend options. */
export interface VfioType1Options {
  /** Which kernel behaviour to model (kernel.ts); default the newest. */
  kernel?: KernelEra;
  /** The `dma_entry_limit` module parameter (default 65535). */
  dmaEntryLimit?: number;
  /** DMA ownership shared with other backends; by default a private one with kernel-driver groups claimed. */
  ownership?: DmaOwnership;
  /** VFIO group files shared with the other engines of the host (group path vs cdev path); by default a private set. */
  groupFiles?: VfioGroupFiles;
}

/** Why a host DMA faulted. */
export type HostDmaFaultReason =
  /** The device's group is in no container with an IOMMU driver: no user mappings (blocked). */
  | 'no-domain'
  /** No vfio_dma covers the address. */
  | 'unmapped'
  /** A read of a mapping without READ. */
  | 'read-denied'
  /** A write to a mapping without WRITE. */
  | 'write-denied'
  /** size 0, or iova + size - 1 past 2^64 - 1. */
  | 'invalid-access';

/** A host DMA fault: the device, its group, the faulting IOVA and the access. */
export interface HostDmaFault {
  reason: HostDmaFaultReason;
  device: string;
  group: number;
  iova: bigint;
  access: 'read' | 'write';
}

/** A host DMA's outcome: the user VA `iova` maps to, or a fault. */
export type HostDmaResult = { translated: bigint } | { fault: HostDmaFault };

/**
 * One VFIO type1 world over a host platform. Container ids are numbered from 1 in open order
 * (they stand for the container fds). Every operation returns `errno` (0 = success) plus its
 * output fields; errno 9 (EBADF) means the container id is not open.
 */
export class VfioType1 implements VfioContainerBackend {
  private readonly containers = new Map<number, Container>();
  private readonly containerOfGroup = new Map<number, Container>();
  private nextId = 1;
  /** Kernel era modelled. */
  readonly kernel: KernelEra;
  private readonly limit: number;
  readonly ownership: DmaOwnership;
  /** The host's VFIO group files (platform/vfio-group.ts): this engine opens /dev/vfio/N at group-set-container. */
  readonly groupFiles: VfioGroupFiles;

  constructor(
    readonly host: HostPlatform,
    opts: VfioType1Options = {},
  ) {
    this.kernel = opts.kernel ?? NEWEST_KERNEL;
    this.limit = opts.dmaEntryLimit ?? DMA_ENTRY_LIMIT_DEFAULT;
    this.groupFiles = opts.groupFiles ?? new VfioGroupFiles();
    if (opts.ownership !== undefined) this.ownership = opts.ownership;
    else {
      this.ownership = new DmaOwnership();
      claimKernelDrivers(host, this.ownership);
    }
  }

  /** open("/dev/vfio/vfio"): a new container with no groups and no IOMMU driver. */
  containerOpen(): { errno: number; container: number } {
    const id = this.nextId++;
    this.containers.set(id, { id, groups: [], type1: null });
    return { errno: ERRNO.OK, container: id };
  }

  /** A container by id (read-only use: tests, the object view). */
  container(id: number): Readonly<Container> | undefined {
    return this.containers.get(id);
  }

  /**
   * The group opened as /dev/vfio/N: by number, or by the name of a member device. Undefined (the
   * open fails with ENOENT) when unknown or when no member is bound to vfio (vfio-pci or mdev).
   */
  private openGroup(group: number | string): IommuGroup | undefined {
    return vfioGroupOf(this.host, group);
  }

  /**
   * VFIO_GROUP_SET_CONTAINER (group.c vfio_group_ioctl_set_container → container.c
   * vfio_container_attach_group), on /dev/vfio/N opened implicitly (platform/vfio-group.ts):
   *  - ENOENT: no such group (or none of its devices is bound to vfio: /dev/vfio/N does not exist);
   *  - EBUSY: the open of /dev/vfio/N fails (vfio_group_fops_open, commit 270bf4c019b9): a member
   *    is bound through its cdev (iommufd device-bind), or another engine holds the group file;
   *  - EBADF: `container` is not open;
   *  - EINVAL: the group is already in a container;
   *  - EBUSY: iommu_group_claim_dma_owner fails (a member is bound to a host driver, or the group
   *    is owned through another backend);
   *  - when the container already has its IOMMU driver, the type1 attach's errno (container.ts
   *    attachGroup: EINVAL for aperture/reserved conflicts, an emptied list, a duplicate).
   */
  groupSetContainer(group: number | string, container: number): { errno: number } {
    const g = this.openGroup(group);
    if (g === undefined) return { errno: ERRNO.ENOENT };
    // The file stays open while the group is set on one of this engine's containers; a call on a
    // group already set reuses it (→ EINVAL below); otherwise it is opened for this call and
    // closed again when the call fails.
    const held = this.groupFiles.isOpenBy(g.id, this);
    if (!held) {
      const opened = this.groupFiles.openGroup(g.id, this);
      if (opened !== ERRNO.OK) return { errno: opened };
    }
    const fail = (errno: number): { errno: number } => {
      if (!held) this.groupFiles.closeGroup(g.id, this);
      return { errno };
    };
    const c = this.containers.get(container);
    if (c === undefined) return fail(EBADF);
    if (this.containerOfGroup.has(g.id)) return fail(ERRNO.EINVAL);
    const claimed = this.ownership.claim(g.id, c);
    if (claimed !== ERRNO.OK) return fail(claimed);
    if (c.type1 !== null) {
      const e = attachGroup(this.host, c.type1, g.id);
      if (e !== ERRNO.OK) {
        this.ownership.release(g.id, c);
        return fail(e);
      }
    }
    c.groups.push(g.id);
    this.containerOfGroup.set(g.id, c);
    return { errno: ERRNO.OK };
  }

  /**
   * VFIO_GROUP_UNSET_CONTAINER: EINVAL when the group is in no container. Detaches it from the
   * driver (the valid list widens; container.ts detachGroup) and, when it was the container's last
   * group, releases the driver (the container is as freshly opened). The lab's implicit
   * /dev/vfio/N closes with it (vfio_group_fops_release; platform/vfio-group.ts), so the group's
   * devices may be bound through their cdev again.
   */
  groupUnsetContainer(group: number | string): { errno: number } {
    const g = this.openGroup(group);
    if (g === undefined) return { errno: ERRNO.ENOENT };
    const c = this.containerOfGroup.get(g.id);
    if (c === undefined) return { errno: ERRNO.EINVAL };
    if (c.type1 !== null) detachGroup(this.host, c.type1, g.id);
    c.groups.splice(c.groups.indexOf(g.id), 1);
    if (c.groups.length === 0) c.type1 = null;
    this.containerOfGroup.delete(g.id);
    this.ownership.release(g.id, c);
    this.groupFiles.closeGroup(g.id, this);
    return { errno: ERRNO.OK };
  }

  /**
   * VFIO_SET_IOMMU (container.c vfio_ioctl_set_iommu): EBADF for a container not open; EINVAL when
   * it has no group yet or already has a driver; ENODEV when no driver takes `type` (type1 takes
   * TYPE1, TYPE1v2 and TYPE1_NESTING; `type` by number or name: type1, type1v2, type1-nesting);
   * else the driver attaches every group set so far, in order, and the first failure's errno is
   * returned with the container left without a driver.
   */
  setIommu(container: number, type: number | string): { errno: number } {
    const c = this.containers.get(container);
    if (c === undefined) return { errno: EBADF };
    if (c.groups.length === 0 || c.type1 !== null) return { errno: ERRNO.EINVAL };
    const t = typeof type === 'number' ? type : (IOMMU_TYPE_BY_NAME[type] ?? -1);
    if (t !== VFIO_EXT.TYPE1_IOMMU && t !== VFIO_EXT.TYPE1v2_IOMMU && t !== VFIO_EXT.TYPE1_NESTING_IOMMU) return { errno: ERRNO.ENODEV };
    const state = openType1(t, t !== VFIO_EXT.TYPE1_IOMMU, this.limit);
    for (const g of c.groups) {
      const e = attachGroup(this.host, state, g);
      if (e !== ERRNO.OK) return { errno: e };
    }
    c.type1 = state;
    return { errno: ERRNO.OK };
  }

  /**
   * VFIO_CHECK_EXTENSION: `value` 1 for TYPE1, TYPE1v2, UNMAP_ALL and UPDATE_VADDR; TYPE1_NESTING
   * 1 in the '2024' era only (removed by commit 35890f85573c; SET_IOMMU still accepts it as v2);
   * DMA_CC_IOMMU 1 only with a driver whose domains all enforce cache coherency (0 before
   * set-iommu); 0 for anything else. EBADF for a container not open.
   */
  checkExtension(container: number, ext: number): { errno: number; value: number } {
    const c = this.containers.get(container);
    if (c === undefined) return { errno: EBADF, value: 0 };
    switch (ext) {
      case VFIO_EXT.TYPE1_NESTING_IOMMU:
        // Commit 35890f85573c ("vfio: Remove VFIO_TYPE1_NESTING_IOMMU", late 2024): no longer
        // advertised (__VFIO_RESERVED_TYPE1_NESTING_IOMMU); SET_IOMMU still takes it as v2.
        return { errno: ERRNO.OK, value: this.kernel === '2024' ? 1 : 0 };
      case VFIO_EXT.TYPE1_IOMMU:
      case VFIO_EXT.TYPE1v2_IOMMU:
      case VFIO_EXT.UNMAP_ALL:
      case VFIO_EXT.UPDATE_VADDR:
        return { errno: ERRNO.OK, value: 1 };
      case VFIO_EXT.DMA_CC_IOMMU:
        return { errno: ERRNO.OK, value: c.type1 !== null && c.type1.domains.every((d) => d.cacheCoherent) ? 1 : 0 };
      default:
        return { errno: ERRNO.OK, value: 0 };
    }
  }

  /**
   * VFIO_GROUP_GET_DEVICE_FD through the container path (group.c vfio_df_group_open →
   * vfio_group_use_container): ENOENT when the name is unknown or its group cannot be opened;
   * ENODEV for a device not bound to vfio (an endpoint or port); EINVAL when its group is in no
   * container or the container has no IOMMU driver yet ("VFIO_SET_IOMMU hasn't been done yet").
   * The group's domain was attached at set-iommu / group-set-container, so nothing else changes →
   * 0. (iommufd's VFIO compatibility binds and attaches here instead: vfio-compat.ts.)
   */
  deviceOpen(device: string): { errno: number } {
    const d = this.host.deviceByName.get(device);
    const g = d === undefined ? undefined : this.openGroup(d.group);
    if (d === undefined || g === undefined) return { errno: ERRNO.ENOENT };
    if (d.type !== 'vfio-pci' && d.type !== 'mdev') return { errno: ERRNO.ENODEV };
    const c = this.containerOfGroup.get(g.id);
    if (c === undefined || c.type1 === null) return { errno: ERRNO.EINVAL };
    return { errno: ERRNO.OK };
  }

  /** The driver state, or the errno an IOMMU ioctl gets without one (vfio_fops_unl_ioctl: EINVAL). */
  private driver(container: number): Type1State | number {
    const c = this.containers.get(container);
    if (c === undefined) return EBADF;
    return c.type1 ?? ERRNO.EINVAL;
  }

  /** VFIO_IOMMU_MAP_DMA (dma.ts mapDma for the errno rules). `vaddr` defaults to `iova`. EINVAL before set-iommu. */
  mapDma(container: number, a: Omit<DmaMapArgs, 'vaddr'> & { vaddr?: bigint }): { errno: number } {
    const t = this.driver(container);
    if (typeof t === 'number') return { errno: t };
    return { errno: mapDma(t, { ...a, vaddr: a.vaddr ?? a.iova }, this.kernel) };
  }

  /** VFIO_IOMMU_UNMAP_DMA (dma.ts unmapDma); `size` is the bytes unmapped. EINVAL before set-iommu. */
  unmapDma(container: number, a: DmaUnmapArgs): DmaUnmapResult {
    const t = this.driver(container);
    if (typeof t === 'number') return { errno: t, size: a.size };
    return unmapDma(t, a, this.kernel);
  }

  /** VFIO_IOMMU_GET_INFO (dma.ts getInfo); `argsz` undefined = large enough. EINVAL before set-iommu. */
  getInfo(container: number, argsz?: number): Type1InfoResult {
    const t = this.driver(container);
    if (typeof t === 'number') return { errno: t, argsz: argsz ?? 0, flags: 0, iovaPgsizes: 0n, capOffset: 0 };
    return getInfo(t, argsz);
  }

  /**
   * A DMA by host device `device` (a name) to [iova, iova + size - 1] through its group's
   * container (for an mdev: its own emulated group's container, whose pinned pages its parent
   * uses). Translated: the user VA of `iova`. Faults: no-domain (the group is in no container with
   * a driver), unmapped (first byte not covered, reported at that byte), read-denied /
   * write-denied, invalid-access (size 0 or past 2^64). Throws for an unknown device (a bug: the
   * scenario layer resolves names).
   */
  translate(device: string, iova: bigint, size: bigint, access: 'read' | 'write'): HostDmaResult {
    const d = this.host.deviceByName.get(device);
    if (d === undefined) throw new Error(`vfio-type1: unknown device ${device}`);
    const fault = (reason: HostDmaFaultReason, at: bigint): HostDmaResult => ({ fault: { reason, device, group: d.group, iova: at, access } });
    if (size <= 0n || iova + size - 1n > U64_MAX) return fault('invalid-access', iova);
    const t = this.containerOfGroup.get(d.group)?.type1 ?? null;
    if (t === null) return fault('no-domain', iova);
    const need = access === 'write' ? DMA_WRITE : DMA_READ;
    const last = iova + size - 1n;
    let at = iova;
    let translated = -1n;
    for (;;) {
      const e = t.dma.at(at);
      if (e === undefined) return fault('unmapped', at);
      if ((e.flags & need) === 0) return fault(access === 'write' ? 'write-denied' : 'read-denied', at);
      if (translated < 0n) translated = e.vaddr + (iova - e.iova);
      const end = e.iova + e.size - 1n;
      if (end >= last) return { translated };
      at = end + 1n;
    }
  }
}
