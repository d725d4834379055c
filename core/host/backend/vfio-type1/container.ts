/**
 * One VFIO container with the type1 IOMMU driver: its domains, groups, valid IOVA list, page-size
 * bitmap and dma entries, and the group attach / detach that compute the valid IOVA list
 * (drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_attach_group / detach_group;
 * ../../../../../shared/reference/iommufd-vfio-hostiommu.md §4 "Valid IOVA list").
 *
 * Invariants: every dma entry lies inside one range of `iovaList` when the list is not empty (MAP
 * checks it, attach refuses a group that would exclude a mapping); `pgsizeBitmap` is PAGE_MASK
 * narrowed by every domain's bitmap; a domain exists only while it has groups.
 */
import { ERRNO } from '../../errno.ts';
import type { HostPlatform } from '../../platform/host.ts';
import type { ReservedRegion } from '../../platform/models.ts';
import { clipRanges, subtractRanges, type IovaRange } from '../../platform/ranges.ts';
import { DMA_ENTRY_LIMIT_DEFAULT, HOST_PAGE_SIZE, PAGE_MASK } from './constants.ts';
import { DmaTable } from './dma-table.ts';

/** One type1 domain (`struct vfio_domain`): an IOMMU domain shared by the groups attached to it. */
export interface Type1Domain {
  /** The physical IOMMU (host platform name). */
  iommu: string;
  aperture: IovaRange;
  pgsizeBitmap: bigint;
  /** enforce_cache_coherency (IOMMU_CAP_CACHE_COHERENCY). */
  cacheCoherent: boolean;
  groups: Set<number>;
}

/** The type1 driver's state (`struct vfio_iommu`), present once VFIO_SET_IOMMU succeeded. */
export interface Type1State {
  /** VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU or VFIO_TYPE1_NESTING_IOMMU. */
  type: number;
  /** v2 unmap rules (TYPE1v2 and NESTING). */
  v2: boolean;
  domains: Type1Domain[];
  /** Groups without an IOMMU domain (mdev, VFIO_EMULATED_IOMMU). */
  emulatedGroups: Set<number>;
  /** The valid IOVA list, sorted; empty = no IOMMU-backed group yet (anything is valid). */
  iovaList: IovaRange[];
  pgsizeBitmap: bigint;
  dma: DmaTable;
  /** Free mapping slots, `iommu->dma_avail`. */
  dmaAvail: number;
  /** Entries with an invalidated vaddr (`iommu->vaddr_invalid_count`). */
  vaddrInvalid: number;
}

/** A container: the groups set on it (in order) and, after set-iommu, the driver state. */
export interface Container {
  id: number;
  groups: number[];
  type1: Type1State | null;
}

/** A fresh type1 state for `type` (vfio_iommu_type1_open). */
export function openType1(type: number, v2: boolean, dmaEntryLimit = DMA_ENTRY_LIMIT_DEFAULT): Type1State {
  return { type, v2, domains: [], emulatedGroups: new Set(), iovaList: [], pgsizeBitmap: PAGE_MASK, dma: new DmaTable(), dmaAvail: dmaEntryLimit, vaddrInvalid: 0 };
}

/**
 * vfio_update_pgsize_bitmap: PAGE_MASK narrowed by every domain; sizes below PAGE_SIZE are hidden
 * and PAGE_SIZE is reported instead.
 */
function updatePgsize(t: Type1State): void {
  let m = PAGE_MASK;
  for (const d of t.domains) {
    let b = d.pgsizeBitmap;
    if ((b & ~PAGE_MASK) !== 0n) b = (b & PAGE_MASK) | HOST_PAGE_SIZE;
    m &= b;
  }
  t.pgsizeBitmap = m;
}

/** The group's IOMMU, aperture, page sizes and reserved regions (all members share one IOMMU). */
function groupGeometry(host: HostPlatform, group: number): { iommu: string; aperture: IovaRange; pgsize: bigint; coherent: boolean; resv: ReservedRegion[] } | undefined {
  const g = host.groupById.get(group);
  if (g === undefined || g.iommu === null) return undefined;
  const mmu = host.iommus.get(g.iommu);
  if (mmu === undefined) return undefined;
  // iommu_get_group_resv_regions: the union over the group's devices (here: the platform regions of their IOMMU).
  const resv: ReservedRegion[] = [];
  for (const name of g.members) for (const r of host.deviceByName.get(name)?.reservedRegions ?? []) if (!resv.some((x) => x.start === r.start && x.end === r.end && x.type === r.type)) resv.push(r);
  return { iommu: mmu.name, aperture: mmu.aperture, pgsize: mmu.pgsizeBitmap, coherent: mmu.cacheCoherency, resv };
}

/** vfio_iommu_aper_conflict: the new aperture is disjoint from the list or would exclude a mapping. */
function aperConflict(t: Type1State, ap: IovaRange): boolean {
  const list = t.iovaList;
  if (list.length === 0) return false;
  const first = list[0];
  const last = list[list.length - 1];
  if (ap.start > last.end || ap.end < first.start) return true;
  if (ap.start > first.start && t.dma.findOverlap(first.start, ap.start - 1n) !== undefined) return true;
  if (ap.end < last.end && t.dma.findOverlap(ap.end + 1n, last.end) !== undefined) return true;
  return false;
}

/**
 * vfio_iommu_type1_attach_group for IOMMU group `group` (checks in the kernel's order; every failure
 * leaves the state unchanged):
 *  - already attached (a duplicate), or dma entries with an invalidated vaddr exist → EINVAL;
 *  - an mdev group: joins the emulated groups (no domain, the list is unchanged) → 0;
 *  - the IOMMU's aperture is disjoint from the valid list, or would exclude an existing mapping → EINVAL;
 *  - a reserved region (not direct-relaxable) overlaps an existing mapping → EINVAL;
 *  - the list clipped to the aperture minus the reserved regions is empty → EINVAL;
 *  - a new domain whose replay meets a mapping beyond its aperture → EFAULT (intel_iommu_map's
 *    "iommu width is not sufficient"; only possible for mappings made before the first domain;
 *    recalled, not in the reference).
 * Otherwise the group joins a domain of the same IOMMU and coherency, or a new domain, the list
 * becomes the computed copy and the page-size bitmap narrows.
 */
export function attachGroup(host: HostPlatform, t: Type1State, group: number): number {
  if (t.vaddrInvalid > 0) return ERRNO.EINVAL;
  if (t.emulatedGroups.has(group) || t.domains.some((d) => d.groups.has(group))) return ERRNO.EINVAL;
  const g = host.groupById.get(group);
  if (g?.emulated === true) {
    t.emulatedGroups.add(group);
    return ERRNO.OK;
  }
  const geo = groupGeometry(host, group);
  if (geo === undefined) return ERRNO.ENODEV;
  if (aperConflict(t, geo.aperture)) return ERRNO.EINVAL;
  const excluded = geo.resv.filter((r) => r.type !== 'direct-relaxable');
  for (const r of excluded) if (t.dma.findOverlap(r.start, r.end) !== undefined) return ERRNO.EINVAL;
  // vfio_iommu_aper_resize: an empty list becomes the aperture.
  let list = t.iovaList.length === 0 ? [{ ...geo.aperture }] : clipRanges(t.iovaList, geo.aperture.start, geo.aperture.end);
  list = subtractRanges(list, excluded);
  if (list.length === 0) return ERRNO.EINVAL;
  const dom = t.domains.find((d) => d.iommu === geo.iommu && d.cacheCoherent === geo.coherent);
  if (dom !== undefined) dom.groups.add(group);
  else {
    // vfio_iommu_replay: the new domain maps every existing entry.
    for (const e of t.dma.overlapping(0n, 0xffffffffffffffffn)) if (e.iova < geo.aperture.start || e.iova + e.size - 1n > geo.aperture.end) return ERRNO.EFAULT;
    t.domains.push({ iommu: geo.iommu, aperture: geo.aperture, pgsizeBitmap: geo.pgsize, cacheCoherent: geo.coherent, groups: new Set([group]) });
    updatePgsize(t);
  }
  t.iovaList = list;
  return ERRNO.OK;
}

/**
 * vfio_iommu_type1_detach_group. A domain left without groups goes away; when it was the last
 * IOMMU-backed domain and no mdev group remains, every mapping goes with it
 * (vfio_iommu_unmap_unpin_all). The valid list then widens: vfio_iommu_aper_expand (the
 * intersection of the remaining apertures, [0, U64_MAX] when none) and vfio_iommu_resv_refresh
 * (minus the remaining groups' reserved regions).
 */
export function detachGroup(host: HostPlatform, t: Type1State, group: number): void {
  if (t.emulatedGroups.delete(group)) return;
  const i = t.domains.findIndex((d) => d.groups.has(group));
  if (i < 0) return;
  const d = t.domains[i];
  d.groups.delete(group);
  if (d.groups.size > 0) {
    refreshList(host, t);
    return;
  }
  if (t.domains.length === 1 && t.emulatedGroups.size === 0) {
    t.dmaAvail += t.dma.count();
    t.dma.clear();
    t.vaddrInvalid = 0;
  }
  t.domains.splice(i, 1);
  updatePgsize(t);
  refreshList(host, t);
}

function refreshList(host: HostPlatform, t: Type1State): void {
  if (t.iovaList.length === 0) return;
  let start = 0n;
  let end = 0xffffffffffffffffn;
  for (const d of t.domains) {
    if (d.aperture.start > start) start = d.aperture.start;
    if (d.aperture.end < end) end = d.aperture.end;
  }
  const resv: ReservedRegion[] = [];
  for (const d of t.domains) for (const g of d.groups) resv.push(...(groupGeometry(host, g)?.resv ?? []));
  t.iovaList = subtractRanges([{ start, end }], resv.filter((r) => r.type !== 'direct-relaxable'));
}
