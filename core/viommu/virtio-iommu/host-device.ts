/**
 * virtio-iommu's side of assigned devices (hw/virtio/virtio-iommu.c, QEMU 9.1+; reference
 * iommufd-vfio-hostiommu.md §5.4): PCIIOMMUOps.set_iommu_device / unset_iommu_device and the
 * machine-init-done granule freeze.
 *
 * virtio_iommu_set_iommu_device(bus, opaque, devfn, hiod, errp), in QEMU's order:
 *  1. (bus, devfn) already has one → "Host IOMMU device already exists" (the merged text, QEMU 9.1
 *     commit "virtio-iommu: Implement set|unset]_iommu_device() callbacks"; the RFC's
 *     VirtioHostIOMMUDevice variant said "VirtioHostIOMMUDevice already exists");
 *  2. get_iova_ranges: an empty list (an old kernel without IOVA ranges) → accepted at once, and
 *     QEMU returns before the page-size check and without registering the device;
 *     else virtio_iommu_set_host_iova_ranges on the *aliased* BDF (as_by_busptr is indexed by
 *     alias): no IOMMUDevice there → "%s: no IOMMUDevice found!"; host ranges already set (a
 *     second device on the same aliased BDF, since commit 62ac01d1) →
 *     "virtio_iommu_set_host_iova_ranges virtio-iommu does not support aliased BDF" (%s is
 *     __func__); else host_resv_ranges = range_inverse_array(ranges, 0, UINT64_MAX) — the
 *     complement over 64 bits — and rebuild_resv_regions: each host range a RESERVED region
 *     (trace virtio_iommu_host_resv_regions), then the property regions, which win;
 *  3. get_page_size_mask → check_page_size_mask: (cur & new) == 0 → "virtio-iommu reports a page
 *     size mask 0x%"PRIx64" incompatible with currently supported mask 0x%"PRIx64; granule frozen
 *     and its bit missing from new → "virtio-iommu does not support frozen granule 0x%llx"; both
 *     prefixed "%s: " with hiod->name. On success trace virtio_iommu_update_page_size_mask and,
 *     unless frozen, config.page_size_mask &= new;
 *  4. the device is registered under (bus, devfn).
 * A failure in 3 leaves the host reserved ranges of 2 in place, as QEMU does (its error path frees
 * only the list it was handed).
 */
import type { HostIommuDevice } from '../../machine/layers.ts';
import { buildReservedRegions, granuleOf, type ReservedRegion } from './config.ts';
import { RESV_MEM_T_RESERVED } from './constants.ts';
import { resvTable, type DeviceState } from './state.ts';

const U64_MAX = 0xffffffffffffffffn;

/** The outcome of set_iommu_device: QEMU's error (null when accepted) and the trace lines QEMU would print. */
export interface SetIommuDeviceOutcome {
  error: string | null;
  /** QEMU trace texts (hw/virtio/trace-events) of the call: virtio_iommu_host_resv_regions, virtio_iommu_update_page_size_mask. */
  trace: string[];
}

/**
 * The name QEMU gives an endpoint's IOMMU memory region (virtio_iommu_find_add_as:
 * "%s-%d-%d" of TYPE_VIRTIO_IOMMU_MEMORY_REGION, a running index, devfn). The index is QEMU's
 * creation order; the lab uses the endpoint's position in the machine's endpoint list (host bridge
 * first), its own deterministic stand-in.
 */
export function iommuMrName(index: number, endpoint: number): string {
  return `virtio-iommu-memory-region-${index}-${endpoint & 0xff}`;
}

/** range_inverse_array(ranges, low 0, high UINT64_MAX): the gaps of sorted, disjoint `ranges` over [0, 2^64 - 1]. */
export function inverseRanges(ranges: readonly { start: bigint; end: bigint }[]): { start: bigint; end: bigint }[] {
  const out: { start: bigint; end: bigint }[] = [];
  let next = 0n;
  let full = false;
  for (const r of ranges) {
    if (r.start > next) out.push({ start: next, end: r.start - 1n });
    if (r.end === U64_MAX) {
      full = true;
      break;
    }
    if (r.end + 1n > next) next = r.end + 1n;
  }
  if (!full) out.push({ start: next, end: U64_MAX });
  return out;
}

/** rebuild_resv_regions of `endpoint`: host ranges as RESERVED, then the property regions (higher priority). */
function rebuild(st: DeviceState, endpoint: number, host: readonly ReservedRegion[]): void {
  if (host.length === 0) {
    st.epResv?.delete(endpoint);
    if (st.epResv !== null && st.epResv.size === 0) st.epResv = null;
    return;
  }
  const table = resvTable(buildReservedRegions([...host, ...st.props.reservedRegions]));
  (st.epResv ??= new Map()).set(endpoint, table);
}

/** check_page_size_mask: null or QEMU's error (without the hiod name prefix). */
function checkPageSizeMask(st: DeviceState, mask: bigint): string | null {
  const cur = st.pageSizeMask;
  if ((cur & mask) === 0n) return `virtio-iommu reports a page size mask 0x${mask.toString(16)} incompatible with currently supported mask 0x${cur.toString(16)}`;
  if (st.granuleFrozen) {
    const g = granuleOf(cur);
    if ((g & mask) === 0n) return `virtio-iommu does not support frozen granule 0x${g.toString(16)}`;
  }
  return null;
}

/**
 * virtio_iommu_set_iommu_device for the device at `endpoint` (its own (bus, devfn)) with `hiod`
 * (see the module comment). `mrName` names the aliased endpoint's IOMMU MR in the trace text.
 */
export function setIommuDevice(st: DeviceState, endpoint: number, hiod: HostIommuDevice, mrName: string): SetIommuDeviceOutcome {
  const trace: string[] = [];
  if (st.hostDevices.has(endpoint)) return { error: 'Host IOMMU device already exists', trace };
  const ranges = hiod.getIovaRanges();
  if (ranges.length === 0) return { error: null, trace }; // "some old kernels may not support that capability"
  const alias = hiod.aliasedEndpoint;
  if (!st.existing.has(alias)) return { error: 'virtio_iommu_set_host_iova_ranges: no IOMMUDevice found!', trace };
  if (st.props.hostGeometry === 'none') {
    // QEMU 8.1 and before: the host's usable ranges never reach virtio-iommu.
  } else if (st.props.hostGeometry === 'listener') {
    // QEMU before 9.1 had no set_iommu_device: the ranges wait for the IOMMU MR to be enabled
    // (vfio_listener_region_add → memory_region_iommu_set_iova_ranges → virtio_iommu_set_iova_ranges).
    st.pendingHostRanges.set(alias, { ranges, mrName });
    st.onMrEnabled ??= (ep) => applyListenerRanges(st, ep);
  } else {
    const prior = st.hostResvRanges.get(alias);
    if (prior !== undefined && prior.length > 0) return { error: 'virtio_iommu_set_host_iova_ranges virtio-iommu does not support aliased BDF', trace };
    const host = inverseRanges(ranges).map((r) => ({ start: r.start, end: r.end, subtype: RESV_MEM_T_RESERVED }));
    st.hostResvRanges.set(alias, host);
    host.forEach((r, i) => trace.push(`virtio_iommu_host_resv_regions mr=${mrName} host-resv-reg[${i}] = [0x${r.start.toString(16)},0x${r.end.toString(16)}]`));
    rebuild(st, alias, host);
  }
  const mask = hiod.getPageSizeMask();
  const error = checkPageSizeMask(st, mask);
  if (error !== null) return { error: `${hiod.name}: ${error}`, trace };
  trace.push(`virtio_iommu_update_page_size_mask host iommu device=${hiod.name} old_mask=0x${st.pageSizeMask.toString(16)} new_mask=0x${mask.toString(16)}`);
  if (!st.granuleFrozen) setPageSizeMask(st, st.pageSizeMask & mask);
  st.hostDevices.set(endpoint, hiod.name);
  return { error: null, trace };
}

/**
 * host-geometry 'listener' (QEMU 8.1-9.0 virtio_iommu_set_iova_ranges, reached from VFIO's memory
 * listener when `endpoint`'s IOMMU MR is enabled: at machine init done for coldplugged devices —
 * the transient enable that freezes the granule — or at the ATTACH that switches a hotplugged
 * device's address space): ranges already set must include the new reserved ranges, else "IOMMU
 * mr=%s Conflicting host reserved ranges set!"; set after a PROBE of the endpoint, QEMU warns "%s:
 * Notified about new host reserved regions after probe" — the guest has already read its reserved
 * regions and never reads them again. Returns the messages as [level, text] pairs (QEMU's
 * warn_report / error_report); the pending ranges are consumed either way.
 */
export function applyListenerRanges(st: DeviceState, endpoint: number): [level: 'warning' | 'error', message: string][] {
  const p = st.pendingHostRanges.get(endpoint);
  if (p === undefined) return [];
  st.pendingHostRanges.delete(endpoint);
  const out: [level: 'warning' | 'error', message: string][] = [];
  const host = inverseRanges(p.ranges).map((r) => ({ start: r.start, end: r.end, subtype: RESV_MEM_T_RESERVED }));
  const prior = st.hostResvRanges.get(endpoint);
  if (prior !== undefined && prior.length > 0) {
    const included = host.every((n) => prior.some((r) => r.start <= n.start && n.end <= r.end));
    if (!included) out.push(['error', `IOMMU mr=${p.mrName} Conflicting host reserved ranges set!`]);
  } else {
    if (st.probeDone.has(endpoint)) out.push(['warning', `${p.mrName}: Notified about new host reserved regions after probe`]);
    st.hostResvRanges.set(endpoint, host);
    rebuild(st, endpoint, host);
  }
  if (st.sink.enabled) for (const [level, message] of out) st.sink.emit('qemu-error', { data: { message, level } });
  return out;
}

/**
 * virtio_iommu_unset_iommu_device (hot-unplug): the device leaves the table, and
 * virtio_iommu_unset_host_iova_ranges frees the aliased endpoint's host ranges and rebuilds its
 * reserved regions from the properties only. The page-size mask is not widened back (QEMU keeps it).
 */
export function unsetIommuDevice(st: DeviceState, endpoint: number, aliasedEndpoint: number): void {
  if (!st.hostDevices.delete(endpoint)) return;
  st.hostResvRanges.delete(aliasedEndpoint);
  rebuild(st, aliasedEndpoint, []);
}

/**
 * virtio_iommu_freeze_granule (the machine_done notifier): from now on the page-size mask no longer
 * narrows. Returns QEMU's trace text: "granule set to 0x%"PRIx64 (the granule).
 */
export function freezeGranule(st: DeviceState): string {
  st.granuleFrozen = true;
  return `virtio_iommu_freeze_granule granule set to 0x${granuleOf(st.pageSizeMask).toString(16)}`;
}

/** Sets config.page_size_mask and the granule derived from it (before the granule freezes: no domain exists yet). */
function setPageSizeMask(st: DeviceState, mask: bigint): void {
  st.pageSizeMask = mask;
  const g = granuleOf(mask);
  // A granule above 2^31 would not fit the u32 hot-path mask: keep the widest that does (none is realistic).
  st.granuleMask = g > 0x80000000n || g === 0n ? 0x7fffffff : Number(g - 1n);
}
