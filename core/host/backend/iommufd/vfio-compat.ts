/**
 * iommufd's VFIO compatibility (CONFIG_IOMMUFD_VFIO_CONTAINER: /dev/vfio/vfio is an iommufd):
 * the container-level ioctls QEMU's legacy VFIO path issues, served over one "compat IOAS" per
 * iommufd context (drivers/iommu/iommufd/vfio_compat.c, read at torvalds/linux 6867849a; group
 * side drivers/vfio/group.c, device side drivers/vfio/iommufd.c). The same operations as
 * VfioType1 (../vfio-type1/vfio.ts) with the same argument shapes, and every difference the kernel
 * has, modelled:
 *  - group-set-container creates the compat IOAS (iommufd_vfio_compat_ioas_create) and attaches
 *    nothing: a group's devices are bound and attached to the compat IOAS only when their device
 *    fd is opened (VFIO_GROUP_GET_DEVICE_FD → vfio_df_iommufd_bind + vfio_iommufd_compat_attach_ioas:
 *    {@link IommufdVfioCompat.deviceOpen}). DMA ownership is claimed then (EBUSY), not at
 *    set-container as type1 does;
 *  - every IOMMU ioctl without a compat IOAS (no group set yet) → ENODEV (get_compat_ioas); type1
 *    gives EINVAL before set-iommu. set-iommu is not needed before MAP/UNMAP, may be repeated, and
 *    takes only TYPE1 and TYPE1v2 (others, NESTING included → EINVAL; type1: ENODEV);
 *  - set-iommu TYPE1 disables large pages (iopt_disable_large_pages: EINVAL with domains and
 *    areas, EADDRINUSE for misaligned areas), and TYPE1 unmaps then cut areas at iova - 1 and
 *    iova + size - 1 (iopt_cut_iova), so a unmap inside a mapping succeeds (type1 v1 removes whole
 *    entries starting in the range instead);
 *  - CHECK_EXTENSION: TYPE1, TYPE1v2, UNMAP_ALL → 1; DMA_CC_IOMMU → 1 unless a HWPT of the compat
 *    IOAS lacks cache coherency, ENODEV without a compat IOAS; TYPE1_NESTING, UPDATE_VADDR,
 *    NOIOMMU and anything else → 0 (type1: NESTING and UPDATE_VADDR → 1);
 *  - MAP_DMA: flags other than READ|WRITE (VADDR included) → EINVAL; neither READ nor WRITE is
 *    accepted (a mapping no DMA may use; type1: EINVAL); no dma_entry_limit (no ENOSPC); a wrap →
 *    EOVERFLOW in every era; alignment, reserved (EINVAL) and overlap (EEXIST) rules are the IOAS's
 *    (iopt_map_user_pages with a fixed IOVA), so before any device is open (no domain:
 *    iova_alignment 1, no reserved range) any IOVA maps;
 *  - UNMAP_DMA: only the ALL flag (GET_DIRTY_BITMAP and VADDR → EINVAL); whole areas only: an area
 *    sticking out → ENOENT (type1 v2: EINVAL; reference §4 "selftest 42"); no alignment check (a
 *    misaligned IOVA inside a mapping is that ENOENT); an empty range → ENOENT before commit
 *    afb47765f923, success with size 0 from the '2025' era on (reference §2.3); `size` is written
 *    back with the bytes unmapped even when the call fails (type1 writes it only on success);
 *  - GET_INFO: no MIGRATION cap; the chain is DMA_AVAIL (avail = U32_MAX, "S390 qemu userspace
 *    actually pays attention") then IOVA_RANGE (the holes of the IOAS reserved ranges, present
 *    even with no device); caps are 8-byte aligned; `argsz` is always set to the full size, and
 *    cap_offset is 24 only when all of it fit; iova_pgsizes = the domains' bitmaps (PAGE_SIZE
 *    substituted below it) raised to iova_alignment (iommufd_get_pagesizes).
 * Container ids are numbered from 1 in open order; an id not open → EBADF. Every operation
 * returns `errno` (0 = success) and its output fields; none throws for user input.
 */
import { ERRNO } from '../../errno.ts';
import { NEWEST_KERNEL, type KernelEra } from '../../kernel.ts';
import type { DmaOwnership } from '../../platform/dma-owner.ts';
import { VfioGroupFiles, vfioGroupOf } from '../../platform/vfio-group.ts';
import type { HostPlatform, IommuGroup } from '../../platform/host.ts';
import { CAP_DMA_AVAIL_SIZE, DMA_MAP_MINSZ, DMA_UNMAP_MINSZ, HOST_PAGE_SIZE, INFO_MINSZ, INFO_SIZE, IOMMU_TYPE_BY_NAME, PAGE_MASK, VFIO_DMA_MAP_FLAG, VFIO_DMA_UNMAP_FLAG, VFIO_EXT, VFIO_IOMMU_INFO, capIovaRangeSize } from '../vfio-type1/constants.ts';
import type { DmaMapArgs, DmaUnmapArgs, DmaUnmapResult, Type1InfoCaps, Type1InfoResult } from '../vfio-type1/dma.ts';
import { boundDeviceOf } from '../from-platform.ts';
import type { VfioContainerBackend } from '../vfio-api.ts';
import { AREA_READ, AREA_WRITE, type IoPagetable } from './io-pagetable.ts';
import { Iommufd, type DmaAccess, type DmaResult } from './iommufd.ts';
import type { IoasObj } from './objects.ts';
import { PAGE_SIZE, ULONG_MAX } from './uapi.ts';
import { hi32, lo32 } from '../../../engine/u64.ts';
import type { Errno } from '../../errno.ts';

/** `vfio_iommu_type1_info_dma_avail.avail` from iommufd: U32_MAX. */
export const COMPAT_DMA_AVAIL = 0xffffffff;

/** IOMMU_VFIO_IOAS ops (struct iommu_vfio_ioas.op). */
export const IOMMU_VFIO_IOAS_GET = 0;
export const IOMMU_VFIO_IOAS_SET = 1;
export const IOMMU_VFIO_IOAS_CLEAR = 2;

/** One compat container: an iommufd context and the groups set on it. */
export interface CompatContainer {
  id: number;
  /** The iommufd behind the container fd (its object table holds the compat IOAS). */
  fd: Iommufd;
  /** `ictx->vfio_ioas`: the compat IOAS ID, 0 when none. */
  vfioIoas: number;
  /** Groups set on it, in order. */
  groups: number[];
  /** The last type set-iommu accepted (0 before). */
  type: number;
}

/** Options of the compat layer. */
export interface IommufdVfioCompatOptions {
  kernel?: KernelEra;
  /** DMA ownership shared with other backends (claimed at device open); none by default. */
  ownership?: DmaOwnership;
  /** VFIO group files shared with the other engines of the host (group path vs cdev path); by default a private set. */
  groupFiles?: VfioGroupFiles;
  /** Whether the IOMMUs isolate MSIs (default true; see from-platform.ts). */
  msiIsolated?: boolean;
}

/** An opened device: its container and iommufd DEVICE ID (0 for an mdev: an emulated access, not modelled). */
interface OpenDevice {
  container: CompatContainer;
  devId: number;
}

/** The compat layer over a host platform (see the file comment). */
export class IommufdVfioCompat implements VfioContainerBackend {
  private readonly containers = new Map<number, CompatContainer>();
  private readonly containerOfGroup = new Map<number, CompatContainer>();
  private readonly open = new Map<string, OpenDevice>();
  private nextId = 1;
  /** Kernel era modelled. */
  readonly kernel: KernelEra;
  /**
   * The host's VFIO group files (platform/vfio-group.ts). This engine holds /dev/vfio/N open while
   * the group is set on one of its containers or a device fd obtained through it is open (device
   * fds hold a reference on the group file: group.c vfio_group_fops_release).
   */
  readonly groupFiles: VfioGroupFiles;

  constructor(
    readonly host: HostPlatform,
    private readonly opts: IommufdVfioCompatOptions = {},
  ) {
    this.kernel = opts.kernel ?? NEWEST_KERNEL;
    this.groupFiles = opts.groupFiles ?? new VfioGroupFiles();
  }

  /** Closes this engine's /dev/vfio/`group` once the group is set on no container and none of its devices is open. */
  private maybeCloseGroupFile(group: number): void {
    if (this.containerOfGroup.has(group) || !this.groupFiles.isOpenBy(group, this)) return;
    for (const name of this.open.keys()) if (this.host.deviceByName.get(name)?.group === group) return;
    this.groupFiles.closeGroup(group, this);
  }

  /** open("/dev/vfio/vfio") served by iommufd: a new iommufd context, no compat IOAS yet. */
  containerOpen(): { errno: number; container: number } {
    const id = this.nextId++;
    const fd = new Iommufd({ kernel: this.kernel, ownership: this.opts.ownership });
    this.containers.set(id, { id, fd, vfioIoas: 0, groups: [], type: 0 });
    return { errno: ERRNO.OK, container: id };
  }

  /** A container by id (tests, the object view: `fd.objects()` lists the compat IOAS and devices). */
  container(id: number): Readonly<CompatContainer> | undefined {
    return this.containers.get(id);
  }

  /** The group opened as /dev/vfio/N (by number or member name), as VfioType1 opens it. */
  private openGroup(group: number | string): IommuGroup | undefined {
    return vfioGroupOf(this.host, group);
  }

  /** get_compat_ioas: the compat IOAS, or undefined (→ ENODEV) when none is set or it was destroyed. */
  private compatIoas(c: CompatContainer): IoasObj | undefined {
    if (c.vfioIoas === 0) return undefined;
    return c.fd.ctx.table.get(c.vfioIoas, 'ioas') as IoasObj | undefined;
  }

  /**
   * VFIO_GROUP_SET_CONTAINER with an iommufd (group.c vfio_group_ioctl_set_container):
   * ENOENT for a group that cannot be opened (unknown, or no member bound to vfio); EBUSY when
   * the implicit open of /dev/vfio/N fails (vfio_group_fops_open, commit 270bf4c019b9: a member is
   * bound through its cdev, another engine holds the file, or it stays open for a device fd after
   * group-unset-container; platform/vfio-group.ts); EBADF for a
   * container not open; EINVAL when the group is already set on a container; otherwise the compat
   * IOAS is created when the context has none (iommufd_vfio_compat_ioas_create) → 0. Nothing is
   * attached and no ownership is claimed here (see {@link deviceOpen}).
   */
  groupSetContainer(group: number | string, container: number): { errno: number } {
    const g = this.openGroup(group);
    if (g === undefined) return { errno: ERRNO.ENOENT };
    // A group already set reuses the engine's open file (→ EINVAL below); otherwise /dev/vfio/N is
    // opened for this call, and closed again when the call fails.
    const held = this.containerOfGroup.has(g.id);
    if (!held) {
      const opened = this.groupFiles.openGroup(g.id, this);
      if (opened !== ERRNO.OK) return { errno: opened };
    }
    const fail = (errno: number): { errno: number } => {
      if (!held) this.groupFiles.closeGroup(g.id, this);
      return { errno };
    };
    const c = this.containers.get(container);
    if (c === undefined) return fail(ERRNO.EBADF);
    if (held) return fail(ERRNO.EINVAL);
    if (this.compatIoas(c) === undefined) {
      const r = c.fd.ioasAlloc();
      if (r.errno !== ERRNO.OK) return fail(r.errno);
      c.vfioIoas = r.outIoasId;
    }
    c.groups.push(g.id);
    this.containerOfGroup.set(g.id, c);
    return { errno: ERRNO.OK };
  }

  /**
   * VFIO_GROUP_UNSET_CONTAINER: ENOENT for a group that cannot be opened; EINVAL when it is set on
   * no container; else the group drops its iommufd reference. Devices already open stay bound
   * and attached (their fds hold them), unlike type1 which refuses with EBUSY then. The lab's
   * implicit /dev/vfio/N closes, unless a device fd opened through it still holds it (then it
   * closes with the last one, {@link deviceClose}).
   */
  groupUnsetContainer(group: number | string): { errno: number } {
    const g = this.openGroup(group);
    if (g === undefined) return { errno: ERRNO.ENOENT };
    const c = this.containerOfGroup.get(g.id);
    if (c === undefined) return { errno: ERRNO.EINVAL };
    c.groups.splice(c.groups.indexOf(g.id), 1);
    this.containerOfGroup.delete(g.id);
    this.maybeCloseGroupFile(g.id);
    return { errno: ERRNO.OK };
  }

  /**
   * VFIO_SET_IOMMU (iommufd_vfio_set_iommu): EBADF; `type` (number or name) other than TYPE1 or
   * TYPE1v2 → EINVAL; no compat IOAS → ENODEV; TYPE1 disables large pages on the compat IOAS
   * (EINVAL with domains and areas, EADDRINUSE for misaligned areas). May be called again.
   */
  setIommu(container: number, type: number | string): { errno: number } {
    const c = this.containers.get(container);
    if (c === undefined) return { errno: ERRNO.EBADF };
    const t = typeof type === 'number' ? type : (IOMMU_TYPE_BY_NAME[type] ?? -1);
    if (t !== VFIO_EXT.TYPE1_IOMMU && t !== VFIO_EXT.TYPE1v2_IOMMU) return { errno: ERRNO.EINVAL };
    const ioas = this.compatIoas(c);
    if (ioas === undefined) return { errno: ERRNO.ENODEV };
    if (t === VFIO_EXT.TYPE1_IOMMU) {
      const rc = ioas.iopt.setLargePages(false);
      if (rc !== ERRNO.OK) return { errno: rc };
    }
    c.type = t;
    return { errno: ERRNO.OK };
  }

  /** VFIO_CHECK_EXTENSION (iommufd_vfio_check_extension); see the file comment. EBADF for a container not open. */
  checkExtension(container: number, ext: number): { errno: number; value: number } {
    const c = this.containers.get(container);
    if (c === undefined) return { errno: ERRNO.EBADF, value: 0 };
    switch (ext) {
      case VFIO_EXT.TYPE1_IOMMU:
      case VFIO_EXT.TYPE1v2_IOMMU:
      case VFIO_EXT.UNMAP_ALL:
        return { errno: ERRNO.OK, value: 1 };
      case VFIO_EXT.DMA_CC_IOMMU: {
        const ioas = this.compatIoas(c);
        if (ioas === undefined) return { errno: ERRNO.ENODEV, value: 0 };
        return { errno: ERRNO.OK, value: ioas.hwpts.every((h) => h.domain.iommu.cacheCoherency) ? 1 : 0 };
      }
      default:
        return { errno: ERRNO.OK, value: 0 };
    }
  }

  /**
   * VFIO_GROUP_GET_DEVICE_FD for host device `device` through the group path with an iommufd
   * (vfio_df_group_open → vfio_df_iommufd_bind → iommufd_device_bind, then
   * vfio_iommufd_compat_attach_ioas → attach to the compat IOAS, an auto domain). Errnos:
   * ENOENT when its group cannot be opened or the name is unknown; ENODEV when the device is not
   * bound to vfio (an endpoint or port); EINVAL when its group is set on no container; then the
   * bind's (EINVAL no coherency, EBUSY ownership, EPERM MSI) — an mdev binds as an emulated
   * access (not modelled: 0 with devId 0); ENODEV when the compat IOAS is gone; then the attach's
   * (EADDRINUSE when a reserved region or the aperture meets an existing mapping, EINVAL
   * incompatible), after which the device is unbound again. A device already open → 0, same ID.
   * `hwptId` is the auto HWPT it attached to.
   */
  deviceOpen(device: string): { errno: number; devId: number; hwptId: number } {
    const fail = (errno: number) => ({ errno, devId: 0, hwptId: 0 });
    const d = this.host.deviceByName.get(device);
    const g = d === undefined ? undefined : this.openGroup(d.group);
    if (d === undefined || g === undefined) return fail(ERRNO.ENOENT);
    if (d.type !== 'vfio-pci' && d.type !== 'mdev') return fail(ERRNO.ENODEV);
    const c = this.containerOfGroup.get(g.id);
    if (c === undefined) return fail(ERRNO.EINVAL);
    const was = this.open.get(device);
    if (was !== undefined) {
      const hw = was.devId === 0 ? undefined : was.container.fd.ctx.table.get(was.devId, 'device');
      return { errno: ERRNO.OK, devId: was.devId, hwptId: hw?.kind === 'device' ? (hw.igroup.hwpt?.id ?? 0) : 0 };
    }
    if (d.type === 'mdev') {
      this.open.set(device, { container: c, devId: 0 });
      return { errno: ERRNO.OK, devId: 0, hwptId: 0 };
    }
    const bound = boundDeviceOf(this.host, device, { msiIsolated: this.opts.msiIsolated });
    const b = c.fd.deviceBind(bound!);
    if (b.errno !== ERRNO.OK) return fail(b.errno);
    const ioas = this.compatIoas(c);
    const at = ioas === undefined ? { errno: ERRNO.ENODEV, ptId: 0 } : c.fd.deviceAttach(b.outDevId, ioas.id);
    if (at.errno !== ERRNO.OK) {
      c.fd.deviceUnbind(b.outDevId);
      return fail(at.errno);
    }
    this.open.set(device, { container: c, devId: b.outDevId });
    return { errno: ERRNO.OK, devId: b.outDevId, hwptId: at.ptId };
  }

  /** Closes device `device`'s fd (its last user): detach and unbind. EBADF when it is not open. */
  deviceClose(device: string): { errno: number } {
    const o = this.open.get(device);
    if (o === undefined) return { errno: ERRNO.EBADF };
    this.open.delete(device);
    if (o.devId !== 0) o.container.fd.deviceUnbind(o.devId);
    const group = this.host.deviceByName.get(device)?.group;
    if (group !== undefined) this.maybeCloseGroupFile(group);
    return { errno: ERRNO.OK };
  }

  /**
   * VFIO_IOMMU_MAP_DMA (iommufd_vfio_map_dma): EBADF; argsz < 32 or flags other than READ|WRITE →
   * EINVAL; no compat IOAS → ENODEV; then iopt_map_user_pages at the fixed `iova`: vaddr + size
   * wraps → EOVERFLOW; size 0 (or above ULONG_MAX - PAGE_SIZE) → EINVAL; size or iova not aligned
   * to iova_alignment → EINVAL; iova + size - 1 wraps → EOVERFLOW; a reserved range (aperture,
   * MSI window) → EINVAL; an existing area → EEXIST; the vaddr's page offset misaligned → EINVAL.
   * `vaddr` defaults to `iova`.
   */
  mapDma(container: number, a: Omit<DmaMapArgs, 'vaddr'> & { vaddr?: bigint }): { errno: number } {
    const c = this.containers.get(container);
    if (c === undefined) return { errno: ERRNO.EBADF };
    const F = VFIO_DMA_MAP_FLAG;
    if ((a.argsz ?? DMA_MAP_MINSZ) < DMA_MAP_MINSZ || (a.flags & ~(F.READ | F.WRITE)) !== 0) return { errno: ERRNO.EINVAL };
    const ioas = this.compatIoas(c);
    if (ioas === undefined) return { errno: ERRNO.ENODEV };
    const vaddr = a.vaddr ?? a.iova;
    if (vaddr + a.size > ULONG_MAX) return { errno: ERRNO.EOVERFLOW };
    if (a.size === 0n || a.size > ULONG_MAX - HOST_PAGE_SIZE) return { errno: ERRNO.EINVAL };
    const write = (a.flags & F.WRITE) !== 0;
    const prot = ((a.flags & F.READ) !== 0 ? AREA_READ : 0) | (write ? AREA_WRITE : 0);
    return { errno: ioas.iopt.mapPages([{ userVa: vaddr, length: a.size, writable: write }], a.size, a.iova, true, prot) };
  }

  /**
   * VFIO_IOMMU_UNMAP_DMA (iommufd_vfio_unmap_dma): EBADF; argsz < 24 or a flag other than ALL →
   * EINVAL; no compat IOAS → ENODEV; ALL with iova or size non-zero → EINVAL (size not written),
   * else every area is unmapped → 0. Without ALL: after set-iommu TYPE1, areas are first cut at
   * iova - 1 and iova + size - 1 (EINVAL when a cut is misaligned; size not written); then size 0
   * → EINVAL, iova + size - 1 wraps → EOVERFLOW, an area sticking out → ENOENT, nothing in the
   * range → ENOENT ('2024') or 0 ('2025'). `size` is the bytes unmapped, written back also on
   * those failures.
   */
  unmapDma(container: number, a: DmaUnmapArgs): DmaUnmapResult {
    const c = this.containers.get(container);
    if (c === undefined) return { errno: ERRNO.EBADF, size: a.size };
    const F = VFIO_DMA_UNMAP_FLAG;
    if ((a.argsz ?? DMA_UNMAP_MINSZ) < DMA_UNMAP_MINSZ || (a.flags & ~F.ALL) !== 0) return { errno: ERRNO.EINVAL, size: a.size };
    const ioas = this.compatIoas(c);
    if (ioas === undefined) return { errno: ERRNO.ENODEV, size: a.size };
    const iopt = ioas.iopt;
    if ((a.flags & F.ALL) !== 0) {
      if (a.iova !== 0n || a.size !== 0n) return { errno: ERRNO.EINVAL, size: a.size };
      const rc = iopt.unmapRange(0n, ULONG_MAX);
      return { errno: rc, size: iopt.outUnmapped };
    }
    if (iopt.disableLargePages) {
      // unsigned long arithmetic: iova + size - 1 wraps modulo 2^64.
      let rc = cutIova(iopt, (a.iova + a.size - 1n) & ULONG_MAX);
      if (rc === ERRNO.OK && a.iova !== 0n) rc = cutIova(iopt, a.iova - 1n);
      if (rc !== ERRNO.OK) return { errno: rc, size: a.size };
    }
    return unmapIova(iopt, a.iova, a.size, this.kernel);
  }

  /**
   * VFIO_IOMMU_GET_INFO (iommufd_vfio_iommu_get_info): EBADF; argsz < 16 → EINVAL; no compat
   * IOAS → ENODEV; else flags PGSIZES|CAPS, iova_pgsizes (iommufd_get_pagesizes), argsz = the
   * full size (24 + 16 + 16 + 16n), cap_offset 24 and the chain when `argsz` covered it (argsz
   * undefined = large enough). See the file comment for the caps.
   */
  getInfo(container: number, argsz?: number): Type1InfoResult {
    const c = this.containers.get(container);
    const fail = (errno: number): Type1InfoResult => ({ errno, argsz: argsz ?? 0, flags: 0, iovaPgsizes: 0n, capOffset: 0 });
    if (c === undefined) return fail(ERRNO.EBADF);
    if (argsz !== undefined && argsz < INFO_MINSZ) return fail(ERRNO.EINVAL);
    const ioas = this.compatIoas(c);
    if (ioas === undefined) return fail(ERRNO.ENODEV);
    const iopt = ioas.iopt;
    let pg = ULONG_MAX;
    for (const d of iopt.domains) pg &= d.pgsizeBitmap;
    if ((pg & ~PAGE_MASK) !== 0n) pg = (pg & PAGE_MASK) | HOST_PAGE_SIZE;
    if (iopt.iovaAlignment > pg) pg = iopt.iovaAlignment;
    const ranges = iopt.iovaRanges();
    const total = INFO_SIZE + CAP_DMA_AVAIL_SIZE + capIovaRangeSize(ranges.length);
    const given = argsz ?? total;
    const flags = VFIO_IOMMU_INFO.PGSIZES | VFIO_IOMMU_INFO.CAPS;
    if (given < total) return { errno: ERRNO.OK, argsz: total, flags, iovaPgsizes: pg, capOffset: 0 };
    const capabilities: Type1InfoCaps = {
      dmaAvail: { avail: COMPAT_DMA_AVAIL },
      iovaRange: { nrIovas: ranges.length, iovaRanges: ranges.map((r) => ({ start: r.start, end: r.last })) },
    };
    return { errno: ERRNO.OK, argsz: total, flags, iovaPgsizes: pg, capOffset: INFO_SIZE, capabilities };
  }

  /**
   * IOMMU_VFIO_IOAS on the container's iommufd (vfio_compat.c iommufd_vfio_ioas): GET → the compat
   * IOAS ID (ENODEV when none); SET → makes IOAS `ioasId` the compat one (ENOENT when it is not an
   * IOAS); CLEAR → none; another op → EOPNOTSUPP. EBADF for a container not open.
   */
  vfioIoas(container: number, op: number, ioasId = 0): { errno: number; ioasId: number } {
    const c = this.containers.get(container);
    if (c === undefined) return { errno: ERRNO.EBADF, ioasId };
    switch (op) {
      case IOMMU_VFIO_IOAS_GET: {
        const ioas = this.compatIoas(c);
        return ioas === undefined ? { errno: ERRNO.ENODEV, ioasId } : { errno: ERRNO.OK, ioasId: ioas.id };
      }
      case IOMMU_VFIO_IOAS_SET:
        if (c.fd.ctx.table.get(ioasId, 'ioas') === undefined) return { errno: ERRNO.ENOENT, ioasId };
        c.vfioIoas = ioasId;
        return { errno: ERRNO.OK, ioasId };
      case IOMMU_VFIO_IOAS_CLEAR:
        c.vfioIoas = 0;
        return { errno: ERRNO.OK, ioasId };
      default:
        return { errno: ERRNO.EOPNOTSUPP, ioasId };
    }
  }

  /**
   * A DMA by open device `device` through its HWPT (Iommufd.hostDma): the user VA or a fault;
   * 'not-bound' when the device is not open (or is an mdev).
   */
  translate(device: string, iova: bigint, size: bigint, access: DmaAccess): DmaResult {
    const o = this.open.get(device);
    if (o === undefined || o.devId === 0) return { fault: { reason: 'not-bound', iova } };
    return o.container.fd.hostDma(o.devId, iova, size, access);
  }
}

/**
 * iopt_unmap_iova as the compat path sees it: size 0 → EINVAL; wrap → EOVERFLOW; an area sticking
 * out → ENOENT; nothing unmapped → ENOENT before afb47765f923 ('2024'), else 0. `size` = bytes
 * unmapped in every case past the argument checks.
 */
function unmapIova(iopt: IoPagetable, iova: bigint, size: bigint, era: KernelEra): DmaUnmapResult {
  if (size === 0n) return { errno: ERRNO.EINVAL, size: 0n };
  const last = iova + size - 1n;
  if (last > ULONG_MAX) return { errno: ERRNO.EOVERFLOW, size: 0n };
  const rc = iopt.unmapRange(iova, last);
  if (rc !== ERRNO.OK) return { errno: rc, size: iopt.outUnmapped };
  if (iopt.outUnmapped === 0n && era === '2024') return { errno: ERRNO.ENOENT, size: 0n };
  return { errno: ERRNO.OK, size: iopt.outUnmapped };
}

/**
 * iopt_cut_iova for one IOVA (iopt_area_split): when an area contains `iova` and does not end
 * there, it becomes [start, iova] and [iova + 1, last], user VA and flags kept. EINVAL when
 * iova + 1 or its offset in the user pages is not aligned to iova_alignment, or when a domain
 * holds the area while large pages are enabled (a huge IOPTE cannot be split). 0 otherwise,
 * also when no area contains `iova`. Used by iommufd's VFIO compatibility for TYPE1 unmaps.
 */
export function cutIova(iopt: IoPagetable, iova: bigint): Errno {
  const a = iopt.areaAt(iova);
  if (a === undefined) return ERRNO.OK;
  const last = a.iova + a.length - 1n;
  if (iova === last) return ERRNO.OK;
  const next = iova + 1n;
  const am = iopt.iovaAlignment - 1n;
  const va = a.userVa + (next - a.iova);
  if ((next & am) !== 0n || (va % PAGE_SIZE & am) !== 0n) return ERRNO.EINVAL;
  if (iopt.domains.length > 0 && !iopt.disableLargePages) return ERRNO.EINVAL;
  iopt.areas.remove(hi32(a.iova), lo32(a.iova));
  iopt.areas.insert(hi32(a.iova), lo32(a.iova), hi32(iova), lo32(iova), hi32(a.userVa), lo32(a.userVa), a.flags);
  iopt.areas.insert(hi32(next), lo32(next), hi32(last), lo32(last), hi32(va), lo32(va), a.flags);
  return ERRNO.OK;
}
