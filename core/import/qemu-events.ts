/**
 * The QEMU trace events the `-trace` log importer (qemu.ts) knows: each event's name, its format
 * string as written in QEMU's trace-events files (quoted from the reference; `PRIx64` and friends
 * as in the source), the names of its arguments and how the line becomes an event. A format is
 * compiled once, at load, into one anchored regex over the line's body (the text after
 * `<name> `), so a line is checked against exactly the string QEMU printed it with.
 *
 * Sources (reference ../../../shared/reference/):
 * - hw/virtio/trace-events (virtio-iommu.md §5 and trace-formats-and-guest-dma.md A2);
 * - hw/i386/trace-events, VT-d (iommufd-vfio-hostiommu.md §6, trace-formats-and-guest-dma.md A2);
 * - hw/vfio/trace-events and backends/trace-events (iommufd-vfio-hostiommu.md §6);
 * - iommufd_cdev_* (hw/vfio/trace-events, hw/vfio/iommufd.c): UNVERIFIED in the reference; the
 *   strings below are the ones in QEMU's trace-events as quoted in the qemu-devel patches that
 *   touched them (2023-2025), accepted as such.
 * Older names and formats the reference lists (QEMU 5.0 vfio_listener_region_add_skip, the
 * nameless region_add_iommu, virtio_iommu_set_page_size_mask, virtio_iommu_device_reset, the
 * pre-9.0 `%d` domain range of get_config) are alternatives of the same table.
 */

/** How a known event's line is turned into events (qemu.ts builds them). */
export const Q = {
  /** trace-note with the body's arguments in data. */
  Note: 0,
  /** Known, deliberately not imported (per-access IOTLB hits, page-walk internals). */
  Ignored: 1,
  /** virtio_iommu_map: domain, virt_start, virt_end (inclusive), phys_start, flags. */
  VirtioMap: 2,
  /** virtio_iommu_unmap: domain, virt_start, virt_end (inclusive). */
  VirtioUnmap: 3,
  /** virtio_iommu_notify_map: mr, virt_start, virt_end (inclusive), phys_start, flags (IOMMUAccessFlags). */
  NotifyMap: 4,
  /** virtio_iommu_notify_unmap: mr, virt_start, virt_end (inclusive). */
  NotifyUnmap: 5,
  /** virtio_iommu_attach / detach: domain, endpoint. */
  VirtioAttach: 6,
  VirtioDetach: 7,
  /** virtio_iommu_report_fault: reason, flags, endpoint, address. */
  VirtioFault: 8,
  /** vtd_inv_desc*: the invalidation's fields by argument name. */
  VtdInval: 9,
  /** vtd_dmar_fault: sid, fault, addr, write. */
  VtdFault: 10,
  /** vtd_page_walk_one: domain, iova, gpa, mask, perm (0: unmap). */
  VtdWalkOne: 11,
  /** vfio_iommu_map_notify: op (MAP/UNMAP), iova_start, iova_end (inclusive). */
  VfioMapNotify: 12,
  /** iommufd_backend_map_dma / map_file_dma. */
  IommufdMap: 13,
  /** iommufd_backend_unmap_dma / unmap_dma_non_exist. */
  IommufdUnmap: 14,
  /** iommufd_cdev_attach_ioas_hwpt / detach_ioas_hwpt. */
  CdevAttach: 15,
  CdevDetach: 16,
} as const;
/** A handling code (Q). */
export type Handling = (typeof Q)[keyof typeof Q];

/** Kinds of a compiled format's capture groups. */
export const C = { Int: 0, Hex0x: 1, HexRaw: 2, Str: 3, Ptr: 4 } as const;
type Capture = (typeof C)[keyof typeof C];

/** One format of an event, compiled. */
export interface Shape {
  /** Sticky regex over the line from the body's first character (leading spaces and trailing blanks allowed), anchored at the end. */
  readonly re: RegExp;
  /** Capture kinds, in group order. */
  readonly kinds: readonly Capture[];
  /**
   * Argument names, in group order. A trailing `#` marks a u32 ID QEMU prints with `%d` (stored
   * as the u32 value, the printed negative number kept as `<name>Printed`); '' drops the argument.
   */
  readonly args: readonly string[];
}

/** A known event. */
export interface KnownEvent {
  readonly name: string;
  readonly h: Handling;
  /** Its formats, tried in order (newest first). Empty for Q.Ignored. */
  readonly shapes: readonly Shape[];
  /** The formats as a reader expects them (`domain=N virt_start=0x…`), for error messages. */
  readonly expect: string;
  /** The trace-inval `data.type` of a vtd_inv_desc_* event. */
  readonly type?: string;
}

const RE_SPECIAL = /[.*+?^${}()|[\]\\]/g;

/**
 * Compiles a QEMU trace-events format string into a Shape. Handles the conversions the IOMMU
 * trace events use: `%d`/`%i` (may be negative: QEMU prints u32 IDs with %d), `%u`, `%x` (with
 * width, `PRIx8…64`), `%s` (lazy up to the next literal), `%p` (glibc prints `0x…` or `(nil)`).
 */
export function compileFormat(fmt: string, args: readonly string[]): Shape {
  const s = fmt
    .replace(/%(\d*)"\s*PRI([xud])(?:8|16|32|64|PTR)\s*"?/g, '%$1$2')
    .replace(/\\"/g, '"')
    .replace(/^ +/, '');
  let src = ' *';
  const kinds: Capture[] = [];
  let lit = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '%') {
      lit += c;
      src += c.replace(RE_SPECIAL, '\\$&');
      continue;
    }
    let j = i + 1;
    while (j < s.length && /[0-9#lzh-]/.test(s[j]!)) j++;
    const conv = s[j];
    i = j;
    if (conv === '%') {
      src += '%';
      lit += '%';
      continue;
    }
    if (conv === 'd' || conv === 'i') {
      src += '(-?\\d+)';
      kinds.push(C.Int);
    } else if (conv === 'u') {
      src += '(\\d+)';
      kinds.push(C.Int);
    } else if (conv === 'x') {
      src += '([0-9a-fA-F]+)';
      kinds.push(lit.endsWith('0x') ? C.Hex0x : C.HexRaw);
    } else if (conv === 's') {
      src += '(.*?)';
      kinds.push(C.Str);
    } else if (conv === 'p') {
      src += '(0x[0-9a-fA-F]+|\\(nil\\))';
      kinds.push(C.Ptr);
    } else {
      throw new Error(`qemu-events: conversion %${conv ?? ''} not supported in "${fmt}"`);
    }
    lit = '';
  }
  if (kinds.length !== args.length) throw new Error(`qemu-events: ${kinds.length} conversions but ${args.length} arguments in "${fmt}"`);
  return { re: new RegExp(`${src}\\s*$`, 'y'), kinds, args };
}

/** A format as a reader expects it: `0x%"PRIx64"` → `0x…`, `%d` → `N`, `%s` → `…`. */
function expectText(fmt: string): string {
  return fmt
    .replace(/%(\d*)"\s*PRI([xud])(?:8|16|32|64|PTR)\s*"?/g, '%$1$2')
    .replace(/\\"/g, '"')
    .replace(/^ +/, '')
    .replace(/%[0-9#lzh-]*([diuxsp])/g, (_m, c: string) => (c === 'd' || c === 'i' || c === 'u' ? 'N' : c === 'p' ? '0x…' : '…'));
}

/** Event name → its handling and formats. */
export const QEMU_EVENTS = new Map<string, KnownEvent>();

/**
 * The hash the importer looks names up by (computed while it scans the name's characters, so no
 * string is made for a lookup): 31-multiplicative over the UTF-16 codes, kept to 30 bits (a
 * small integer in V8, so the Map lookup neither hashes nor allocates a heap number).
 */
export function nameHash(s: string, from: number, to: number): number {
  let h = 0;
  for (let i = from; i < to; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) & 0x3fffffff;
  return h;
}

/** Declares an event with one or more [format, argument names] (argument names space-separated). */
function ev(name: string, h: Handling, ...formats: (readonly [string, string])[]): void {
  ev2(name, h, undefined, formats);
}

function ev2(name: string, h: Handling, type: string | undefined, formats: readonly (readonly [string, string])[]): void {
  const shapes = formats.map(([fmt, args]) => compileFormat(fmt, args === '' ? [] : args.split(' ').map((a) => (a === '-' ? '' : a))));
  const expect = formats.map(([fmt]) => expectText(fmt)).join("' or '");
  QEMU_EVENTS.set(name, type === undefined ? { name, h, shapes, expect } : { name, h, shapes, expect, type });
}

/** Declares known events that are not imported. */
function ignored(...names: string[]): void {
  for (const name of names) QEMU_EVENTS.set(name, { name, h: Q.Ignored, shapes: [], expect: '' });
}

/** Declares a vtd_inv_desc_* event (trace-inval of `type`). */
function inval(name: string, type: string, fmt: string, args: string): void {
  ev2(name, Q.VtdInval, type, [[fmt, args]]);
}

// ---- hw/virtio/trace-events, # hw/virtio/virtio-iommu.c (virtio-iommu.md §5) -----------------
ev('virtio_iommu_device_reset_exit', Q.Note, ['reset!', '']);
ev('virtio_iommu_device_reset', Q.Note, ['reset!', '']); // before QEMU 10.0 (3-phase reset)
ev('virtio_iommu_system_reset', Q.Note, ['system reset!', '']);
ev('virtio_iommu_get_features', Q.Note, ['device supports features=0x%"PRIx64', 'features']);
ev('virtio_iommu_device_status', Q.Note, ['driver status = %d', 'status']);
// %u since QEMU 9.0, %d before (UINT32_MAX printed as -1): the %d form accepts both.
ev('virtio_iommu_get_config', Q.Note, [
  'page_size_mask=0x%"PRIx64" input range start=0x%"PRIx64" input range end=0x%"PRIx64" domain range start=%d domain range end=%d probe_size=0x%x bypass=0x%x',
  'pageSizeMask inputStart inputEnd domainStart# domainEnd# probeSize bypass',
]);
ev('virtio_iommu_set_config', Q.Note, ['bypass=0x%x', 'bypass']);
ev('virtio_iommu_attach', Q.VirtioAttach, ['domain=%d endpoint=%d', 'domain# endpoint#']);
ev('virtio_iommu_detach', Q.VirtioDetach, ['domain=%d endpoint=%d', 'domain# endpoint#']);
// Fires for explicit DETACH (beside virtio_iommu_detach) and implicit ones (re-ATTACH, reset):
// a note, so a detach is not counted twice.
ev('virtio_iommu_detach_endpoint_from_domain', Q.Note, ['domain=%d endpoint=%d', 'domain# endpoint#']);
ev('virtio_iommu_map', Q.VirtioMap, ['domain=%d virt_start=0x%"PRIx64" virt_end=0x%"PRIx64 " phys_start=0x%"PRIx64" flags=%d', 'domain# start end phys flags']);
ev('virtio_iommu_unmap', Q.VirtioUnmap, ['domain=%d virt_start=0x%"PRIx64" virt_end=0x%"PRIx64', 'domain# start end']);
// One per mapping the UNMAP removed, after virtio_iommu_unmap (the request): a note.
ev('virtio_iommu_unmap_done', Q.Note, ['domain=%d virt_start=0x%"PRIx64" virt_end=0x%"PRIx64', 'domain# virtStart virtEnd']);
// Per DMA access (flag: IOMMUAccessFlags): a note with the address, usable as an access by replay.
ev('virtio_iommu_translate', Q.Note, ['mr=%s rid=%d addr=0x%"PRIx64" flag=%d', 'mr rid# addr flag']);
ev('virtio_iommu_translate_out', Q.Note, ['0x%"PRIx64" -> 0x%"PRIx64 " for sid=%d', 'virtAddr physAddr sid#']);
ev('virtio_iommu_init_iommu_mr', Q.Note, ['init %s', 'mr']);
ev('virtio_iommu_get_endpoint', Q.Note, ['Alloc endpoint=%d', 'endpoint#']);
ev('virtio_iommu_put_endpoint', Q.Note, ['Free endpoint=%d', 'endpoint#']);
ev('virtio_iommu_get_domain', Q.Note, ['Alloc domain=%d', 'domain#']);
ev('virtio_iommu_put_domain', Q.Note, ['Free domain=%d', 'domain#']);
ev('virtio_iommu_report_fault', Q.VirtioFault, ['FAULT reason=%d flags=%d endpoint=%d address =0x%"PRIx64', 'reason flags endpoint# address']);
ev('virtio_iommu_fill_resv_property', Q.Note, ['dev= %d, type=%d start=0x%"PRIx64" end=0x%"PRIx64', 'endpoint# type start end']);
ev('virtio_iommu_notify_map', Q.NotifyMap, ['mr=%s virt_start=0x%"PRIx64" virt_end=0x%"PRIx64" phys_start=0x%"PRIx64" flags=%d', 'mr start end phys flags']);
ev('virtio_iommu_notify_unmap', Q.NotifyUnmap, ['mr=%s virt_start=0x%"PRIx64" virt_end=0x%"PRIx64', 'mr start end']);
ev('virtio_iommu_remap', Q.Note, ['mr=%s virt_start=0x%"PRIx64" virt_end=0x%"PRIx64" phys_start=0x%"PRIx64', 'mr virtStart virtEnd physStart']);
// Up to the mid-2024 HostIOMMUDevice rework; update_page_size_mask after it.
ev('virtio_iommu_set_page_size_mask', Q.Note, ['mr=%s old_mask=0x%"PRIx64" new_mask=0x%"PRIx64', 'mr oldMask newMask']);
ev('virtio_iommu_update_page_size_mask', Q.Note, ['host iommu device=%s old_mask=0x%"PRIx64" new_mask=0x%"PRIx64', 'device oldMask newMask']);
ev('virtio_iommu_notify_flag_add', Q.Note, ['add notifier to mr %s', 'mr']);
ev('virtio_iommu_notify_flag_del', Q.Note, ['del notifier from mr %s', 'mr']);
ev('virtio_iommu_switch_address_space', Q.Note, ['Device %02x:%02x.%x switching address space (iommu enabled=%d)', 'bus slot fn enabled']);
ev('virtio_iommu_freeze_granule', Q.Note, ['granule set to 0x%"PRIx64', 'pageSizeMask']);
ev('virtio_iommu_host_resv_regions', Q.Note, ['mr=%s host-resv-reg[%d] = [0x%"PRIx64",0x%"PRIx64"]', 'mr index lob upb']);

// ---- hw/i386/trace-events, # hw/i386/intel_iommu.c (iommufd-vfio-hostiommu.md §6) ------------
// vtd_inv_desc fires for every queued descriptor, before the specific vtd_inv_desc_* event of the
// same descriptor (intel_iommu.c vtd_process_inv_desc): replay should count one of the two.
inval('vtd_inv_desc', '', 'invalidate desc type %s high 0x%"PRIx64" low 0x%"PRIx64', 'type high low');
inval('vtd_inv_desc_cc_domain', 'context-domain', 'context invalidate domain 0x%"PRIx16', 'domain');
inval('vtd_inv_desc_cc_global', 'context-global', 'context invalidate globally', '');
inval('vtd_inv_desc_iotlb_global', 'iotlb-global', 'iotlb invalidate global', '');
inval('vtd_inv_desc_iotlb_domain', 'iotlb-domain', 'iotlb invalidate whole domain 0x%"PRIx16', 'domain');
inval('vtd_inv_desc_iotlb_pages', 'iotlb-pages', 'iotlb invalidate domain 0x%"PRIx16" addr 0x%"PRIx64" mask 0x%"PRIx8', 'domain addr mask');
inval('vtd_inv_desc_iotlb_pasid_pages', 'iotlb-pasid-pages', 'iotlb invalidate domain 0x%"PRIx16" addr 0x%"PRIx64" mask 0x%"PRIx8" pasid 0x%"PRIx32', 'domain addr mask pasid');
inval('vtd_inv_desc_iotlb_pasid', 'iotlb-pasid', 'iotlb invalidate domain 0x%"PRIx16" pasid 0x%"PRIx32', 'domain pasid');
ev('vtd_re_not_present', Q.Note, ['Root entry bus %"PRIu8" not present', 'bus']);
ev('vtd_ce_not_present', Q.Note, ['Context entry bus %"PRIu8" devfn %"PRIu8" not present', 'bus devfn']);
ev('vtd_iotlb_reset', Q.Note, ['IOTLB reset (reason: %s)', 'reason']);
ev('vtd_fault_disabled', Q.Note, ['Fault processing disabled for context entry', '']);
ev('vtd_replay_ce_valid', Q.Note, ['%s: replay valid context device %02"PRIx8":%02"PRIx8".%02"PRIx8" domain 0x%"PRIx16" hi 0x%"PRIx64" lo 0x%"PRIx64', 'mode bus slot fn domain hi lo']);
ev('vtd_replay_ce_invalid', Q.Note, ['replay invalid context device %02"PRIx8":%02"PRIx8".%02"PRIx8', 'bus slot fn']);
ev('vtd_page_walk_one', Q.VtdWalkOne, ['domain 0x%"PRIx16" iova 0x%"PRIx64" -> gpa 0x%"PRIx64" mask 0x%"PRIx64" perm %d', 'domain iova gpa mask perm']);
ev('vtd_page_walk_skip_read', Q.Note, ['Page walk skip iova 0x%"PRIx64" - 0x%"PRIx64" due to unable to read', 'iova next']);
ev('vtd_page_walk_skip_reserve', Q.Note, ['Page walk skip iova 0x%"PRIx64" - 0x%"PRIx64" due to rsrv set', 'iova next']);
ev('vtd_switch_address_space', Q.Note, ['Device %02x:%02x.%x switching address space (iommu enabled=%d)', 'bus slot fn enabled']);
// The whole-space unmap a switch or reset sends to notifiers; vfio_iommu_map_notify (UNMAP) shows it too.
ev('vtd_as_unmap_whole', Q.Note, ['Device %02x:%02x.%x start 0x%"PRIx64" size 0x%"PRIx64', 'bus slot fn start size']);
ev('vtd_dmar_translate', Q.Note, ['dev %02x:%02x.%02x iova 0x%"PRIx64" -> gpa 0x%"PRIx64" mask 0x%"PRIx64', 'bus slot fn iova gpa mask']);
ev('vtd_dmar_enable', Q.Note, ['enable %d', 'enabled']);
ev('vtd_dmar_fault', Q.VtdFault, ['sid 0x%"PRIx16" fault %d addr 0x%"PRIx64" write %d', 'sid fault addr write']);
ev('vtd_frr_new', Q.Note, ['index %d high 0x%"PRIx64" low 0x%"PRIx64', 'index high low']);
// x-flts nesting (2025 patch mails).
ev('vtd_device_attach_hwpt', Q.Note, ['dev_id %d pasid %d hwpt_id %d, ret: %d', 'devId pasid hwptId ret']);
ev('vtd_device_detach_hwpt', Q.Note, ['dev_id %d pasid %d ret: %d', 'devId pasid ret']);
ev('vtd_device_reattach_def_hwpt', Q.Note, ['dev_id %d pasid %d hwpt_id %d, ret: %d', 'devId pasid hwptId ret']);
// Per access (IOTLB cache) and page-walk internals: known, not imported.
ignored('vtd_iotlb_page_hit', 'vtd_iotlb_page_update', 'vtd_page_walk_level', 'vtd_page_walk_one_skip_map', 'vtd_page_walk_one_skip_unmap');

// ---- hw/vfio/trace-events (iommufd-vfio-hostiommu.md §6) -------------------------------------
// No event exists for the legacy VFIO_IOMMU_MAP_DMA / UNMAP_DMA ioctls themselves. The op word is
// "MAP" / "UNMAP" (vfio_iommu_map_notify in hw/vfio/common.c, later listener.c:
// `iotlb->perm == IOMMU_NONE ? "UNMAP" : "MAP"`; the reference's lowercase "map"/"unmap" is wrong).
ev('vfio_iommu_map_notify', Q.VfioMapNotify, ['iommu %s @ 0x%"PRIx64" - 0x%"PRIx64', 'op start end']);
ev('vfio_iommu_map_dirty_notify', Q.Note, ['iommu dirty @ 0x%"PRIx64" - 0x%"PRIx64', 'start end']);
ev('vfio_listener_region_skip', Q.Note, ['SKIPPING %s 0x%"PRIx64" - 0x%"PRIx64', 'op start end']);
// QEMU ~5.0 names: region_add_skip(uint64_t start, uint64_t end) "SKIPPING region_add 0x%"PRIx64" - 0x%"PRIx64
// as quoted in qemu-devel patches (the reference gives only its start); del_skip by analogy (UNVERIFIED).
ev('vfio_listener_region_add_skip', Q.Note, ['SKIPPING region_add 0x%"PRIx64" - 0x%"PRIx64', 'start end']);
ev('vfio_listener_region_del_skip', Q.Note, ['SKIPPING region_del 0x%"PRIx64" - 0x%"PRIx64', 'start end']);
// With the region's name; QEMU ~5.0 printed none (its spacing UNVERIFIED: both accepted).
ev('vfio_listener_region_add_iommu', Q.Note,
  ['region_add [iommu] %s 0x%"PRIx64" - 0x%"PRIx64', 'name start end'],
  ['region_add [iommu] 0x%"PRIx64" - 0x%"PRIx64', 'start end'],
  ['region_add [iommu] 0x%"PRIx64"-0x%"PRIx64', 'start end']);
ev('vfio_listener_region_del_iommu', Q.Note, ['region_del [iommu] %s', 'name']);
ev('vfio_listener_region_add_ram', Q.Note, ['region_add [ram] 0x%"PRIx64" - 0x%"PRIx64" [%p]', 'start end vaddr']);
ev('vfio_known_safe_misalignment', Q.Note, ['Region \\"%s\\" iova=0x%"PRIx64" offset_within_region=0x%"PRIx64" qemu_real_host_page_size=0x%"PRIxPTR', 'name iova offset pageSize']);
ev('vfio_listener_region_add_no_dma_map', Q.Note, ['Region \\"%s\\" 0x%"PRIx64" size=0x%"PRIx64" is not aligned to 0x%"PRIx64" and cannot be mapped for DMA', 'name iova size pageSize']);
ev('vfio_listener_region_del', Q.Note, ['region_del 0x%"PRIx64" - 0x%"PRIx64', 'start end']);
ev('vfio_device_dirty_tracking_update', Q.Note, ['section 0x%"PRIx64" - 0x%"PRIx64" -> update [0x%"PRIx64" - 0x%"PRIx64"]', 'start end min max']);
ev('vfio_legacy_dma_unmap_overflow_workaround', Q.Note, ['', '']);
ev('vfio_dma_unmap_overflow_workaround', Q.Note, ['', '']); // QEMU ~5.0 name
ev('vfio_container_query_dirty_bitmap', Q.Note, ['iova=0x%"PRIx64" size= 0x%"PRIx64" bitmap_size=0x%"PRIx64" start=0x%"PRIx64" dirty_pages=%"PRIu64', 'iova size bitmapSize start dirtyPages']);
// iommufd cdev (hw/vfio/iommufd.c; UNVERIFIED in the reference, see the file comment).
ev('iommufd_cdev_connect_and_bind', Q.Note, [' [iommufd=%d] Successfully bound device %s (fd=%d): output devid=%d', 'iommufd device devfd devId']);
ev('iommufd_cdev_getfd', Q.Note, [' %s (fd=%d)', 'device devfd']);
ev('iommufd_cdev_attach_ioas_hwpt', Q.CdevAttach, [' [iommufd=%d] Successfully attached device %s (%d) to id=%d', 'iommufd device devfd id#']);
ev('iommufd_cdev_detach_ioas_hwpt', Q.CdevDetach, [' [iommufd=%d] Successfully detached %s', 'iommufd device']);
ev('iommufd_cdev_fail_attach_existing_container', Q.Note, [' %s', 'message']);
ev('iommufd_cdev_alloc_ioas', Q.Note, [' [iommufd=%d] new IOMMUFD container with ioasid=%d', 'iommufd ioas#']);
ev('iommufd_cdev_device_info', Q.Note, [' %s (%d) num_irqs=%d num_regions=%d flags=%d', 'device devfd numIrqs numRegions flags']);

// ---- backends/trace-events (iommufd-vfio-hostiommu.md §6) ------------------------------------
// The data-path strings start with a space (QEMU prints `name  iommufd=…`); ret is the ioctl's return.
ev('iommufd_backend_connect', Q.Note, ['fd=%d owned=%d users=%d', 'fd owned users']);
ev('iommufd_backend_disconnect', Q.Note, ['fd=%d users=%d', 'fd users']);
ev('iommu_backend_set_fd', Q.Note, ['pre-opened /dev/iommu fd=%d', 'fd']);
ev('iommufd_backend_map_dma', Q.IommufdMap, [' iommufd=%d ioas=%d iova=0x%"PRIx64" size=0x%"PRIx64" addr=%p readonly=%d (%d)', 'iommufd ioas# iova size addr readonly ret']);
// Newer QEMU (format UNVERIFIED in the reference: accepted as quoted there).
ev('iommufd_backend_map_file_dma', Q.IommufdMap, [' iommufd=%d ioas=%d iova=0x%"PRIx64" size=0x%"PRIx64" fd=%d start=%d readonly=%d (%d)', 'iommufd ioas# iova size fd start readonly ret']);
ev('iommufd_backend_unmap_dma_non_exist', Q.IommufdUnmap, [' Unmap nonexistent mapping: iommufd=%d ioas=%d iova=0x%"PRIx64" size=0x%"PRIx64" (%d)', 'iommufd ioas# iova size ret']);
ev('iommufd_backend_unmap_dma', Q.IommufdUnmap, [' iommufd=%d ioas=%d iova=0x%"PRIx64" size=0x%"PRIx64" (%d)', 'iommufd ioas# iova size ret']);
ev('iommufd_backend_alloc_ioas', Q.Note, [' iommufd=%d ioas=%d', 'iommufd ioas#']);
ev('iommufd_backend_alloc_hwpt', Q.Note, [' iommufd=%d dev_id=%u pt_id=%u flags=0x%x hwpt_type=%u len=%u data_ptr=0x%"PRIx64" out_hwpt=%u (%d)', 'iommufd devId ptId flags hwptType len dataPtr outHwpt ret']);
ev('iommufd_backend_free_id', Q.Note, [' iommufd=%d id=%d (%d)', 'iommufd id# ret']);
ev('iommufd_backend_set_dirty', Q.Note, [' iommufd=%d hwpt=%u enable=%d (%d)', 'iommufd hwpt enable ret']);
// A 2025 patch adds flags=: both accepted.
ev('iommufd_backend_get_dirty_bitmap', Q.Note,
  [' iommufd=%d hwpt=%u iova=0x%"PRIx64" size=0x%"PRIx64" page_size=0x%"PRIx64" (%d)', 'iommufd hwpt iova size pageSize ret'],
  [' iommufd=%d hwpt=%u iova=0x%"PRIx64" size=0x%"PRIx64" flags=0x%"PRIx64" page_size=0x%"PRIx64" (%d)', 'iommufd hwpt iova size flags pageSize ret']);
// An older revision printed hwpt_id= instead of id=: both accepted.
ev('iommufd_backend_invalidate_cache', Q.Note,
  [' iommufd=%d id=%u data_type=%u entry_len=%u entry_num=%u done_num=%u data_ptr=0x%"PRIx64" (%d)', 'iommufd id dataType entryLen entryNum doneNum dataPtr ret'],
  [' iommufd=%d hwpt_id=%u data_type=%u entry_len=%u entry_num=%u done_num=%u data_ptr=0x%"PRIx64" (%d)', 'iommufd id dataType entryLen entryNum doneNum dataPtr ret']);
ev('iommufd_backend_alloc_viommu', Q.Note, [' iommufd=%d type=%u dev_id=%u hwpt_id=%u viommu_id=%u (%d)', 'iommufd type devId hwptId viommuId ret']);
ev('iommufd_backend_alloc_vdev', Q.Note, [' iommufd=%d dev_id=%u viommu_id=%u virt_id=0x%"PRIx64" vdev_id=%u (%d)', 'iommufd devId viommuId virtId vdevId ret']);
ev('iommufd_viommu_alloc_eventq', Q.Note, [' iommufd=%d viommu_id=%u type=%u veventq_id=%u veventq_fd=%u (%d)', 'iommufd viommuId type veventqId veventqFd ret']);
ev('iommufd_backend_alloc_hw_queue', Q.Note, [' iommufd=%d viommu_id=%u vqueue_type=%u index=%u addr=0x%"PRIx64" size=0x%"PRIx64" vqueue_id=%u (%d)', 'iommufd viommuId vqueueType index addr size vqueueId ret']);

/** Name prefixes of the QEMU trace events this importer covers: another event of these families is an unknown line. */
export const QEMU_FAMILIES: readonly string[] = ['virtio_iommu_', 'vtd_', 'vfio_', 'iommufd_', 'iommu_backend_'];
