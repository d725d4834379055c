/**
 * Text of the imported-trace event kinds (core/events/catalog.ts codes 36…43, family 'trace'):
 * events parsed from traces recorded on real systems (core/import): Linux ftrace `iommu:*`,
 * `dma:*` and `intel_iommu:qi_submit`, kernel log lines (VT-d DMAR, AMD-Vi, SMMUv3 faults, "Using
 * N-bit DMA addresses", group membership) and QEMU `-trace` events (virtio_iommu_*, vtd_*, vfio_*,
 * iommufd_*). Reference: ../../../shared/reference/trace-formats-and-guest-dma.md part A.
 * Each function takes the kind's fields as stored or live (u64 as bigint or "0x…", JSON payloads as
 * objects) and never throws.
 */
import { hexOf, num, u64Of } from './text.ts';

/** trace-dma `dir` names: enum dma_data_direction as the `dma:*` events print it (BIDIRECTIONAL 0 … NONE 3). */
export const TRACE_DMA_DIRS: readonly string[] = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE'];
/** trace-fault `access` names (0: the line does not say). */
export const TRACE_ACCESS: readonly string[] = ['', 'read', 'write'];
/** trace-attach `op` names. */
export const TRACE_ATTACH_OPS: readonly string[] = ['attach', 'detach'];
/** trace-group `op` names. */
export const TRACE_GROUP_OPS: readonly string[] = ['add', 'remove'];

/** An object's own fields, or {} for anything else. */
function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The source event's name in brackets (`[iommu:map]`), from the payload's `event`. */
function src(data: unknown): string {
  const e = obj(data).event;
  return typeof e === 'string' && e !== '' ? ` [${e}]` : '';
}

/** ` device=…` when the payload names one. */
function dev(data: unknown): string {
  const d = obj(data).device;
  return typeof d === 'string' && d !== '' ? ` ${d}` : '';
}

/** A byte count as decimal and hex (`4096 (0x1000)`), "?" when absent. */
function bytes(v: unknown): string {
  const b = u64Of(v);
  return b === undefined ? '?' : `${b} (0x${b.toString(16)})`;
}

/** `TRACE MAP 0xfffff000 +4096 (0x1000) -> 0x12345000 domain=1 [virtio_iommu_map]`. */
export function formatTraceMap(v: Readonly<Record<string, unknown>>): string {
  const phys = v.phys === undefined || v.phys === null ? '' : ` -> ${hexOf(v.phys)}`;
  const domain = v.domain === undefined || v.domain === null ? '' : ` domain=${num(v.domain)}`;
  return `TRACE MAP${dev(v.data)} ${hexOf(v.iova)} +${bytes(v.size)}${phys}${domain}${src(v.data)}`;
}

/** `TRACE UNMAP 0xfffff000 +4096 (0x1000) unmapped 4096 [iommu:unmap]`. */
export function formatTraceUnmap(v: Readonly<Record<string, unknown>>): string {
  const un = v.unmapped === undefined || v.unmapped === null ? '' : ` unmapped ${u64Of(v.unmapped) ?? '?'}`;
  const domain = v.domain === undefined || v.domain === null ? '' : ` domain=${num(v.domain)}`;
  return `TRACE UNMAP${dev(v.data)} ${hexOf(v.iova)} +${bytes(v.size)}${un}${domain}${src(v.data)}`;
}

/** `TRACE FAULT 0000:3b:00.0 write 0xfee00000 reason 0x05 PTE Write access is not set [DMAR]`. */
export function formatTraceFault(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const access = TRACE_ACCESS[num(v.access) ?? 0] ?? '';
  const addr = v.address === undefined || v.address === null ? '' : ` ${hexOf(v.address)}`;
  const reason = v.reason === undefined || v.reason === null ? '' : ` reason 0x${(num(v.reason) ?? 0).toString(16).padStart(2, '0')}`;
  const text = typeof d.reasonText === 'string' && d.reasonText !== '' ? ` ${d.reasonText}` : '';
  return `TRACE FAULT${dev(v.data)}${access === '' ? '' : ` ${access}`}${addr}${reason}${text}${src(v.data)}`;
}

/** `TRACE ATTACH 0000:3b:00.0 domain=1 [virtio_iommu_attach]`. */
export function formatTraceAttach(v: Readonly<Record<string, unknown>>): string {
  const op = (TRACE_ATTACH_OPS[num(v.op) ?? 0] ?? '?').toUpperCase();
  const domain = v.domain === undefined || v.domain === null ? '' : ` domain=${num(v.domain)}`;
  const endpoint = v.endpoint === undefined || v.endpoint === null ? '' : ` endpoint=${num(v.endpoint)}`;
  return `TRACE ${op}${dev(v.data)}${endpoint}${domain}${src(v.data)}`;
}

/** `TRACE GROUP add 0000:3b:00.0 group 12 [iommu:add_device_to_group]`. */
export function formatTraceGroup(v: Readonly<Record<string, unknown>>): string {
  return `TRACE GROUP ${TRACE_GROUP_OPS[num(v.op) ?? 0] ?? '?'}${dev(v.data)} group ${num(v.group) ?? '?'}${src(v.data)}`;
}

/** `TRACE DMA 0000:3b:00.0 FROM_DEVICE 0xfffff000 +1500 (0x5dc) phys 0x… [dma:dma_map_phys]`. */
export function formatTraceDma(v: Readonly<Record<string, unknown>>): string {
  const dir = v.dir === undefined || v.dir === null ? '' : ` ${TRACE_DMA_DIRS[num(v.dir) ?? 0] ?? '?'}`;
  const addr = v.addr === undefined || v.addr === null ? '' : ` ${hexOf(v.addr)}`;
  const size = v.size === undefined || v.size === null ? '' : ` +${bytes(v.size)}`;
  const phys = v.phys === undefined || v.phys === null ? '' : ` phys ${hexOf(v.phys)}`;
  return `TRACE DMA${dev(v.data)}${dir}${addr}${size}${phys}${src(v.data)}`;
}

/** `TRACE INVALIDATE iotlb_inv dmar0 domain=1 0xfffff000 2^0 pages [intel_iommu:qi_submit]`. */
export function formatTraceInval(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const type = typeof d.type === 'string' ? ` ${d.type}` : '';
  const iommu = typeof d.iommu === 'string' ? ` ${d.iommu}` : '';
  const domain = v.domain === undefined || v.domain === null ? '' : ` domain=${num(v.domain)}`;
  const addr = v.addr === undefined || v.addr === null ? '' : ` ${hexOf(v.addr)}`;
  const mask = v.mask === undefined || v.mask === null ? '' : ` 2^${num(v.mask)} pages`;
  return `TRACE INVALIDATE${type}${iommu}${domain}${addr}${mask}${src(v.data)}`;
}

/** `TRACE 0000:3b:00.0: Using 48-bit DMA addresses [kmsg]`. */
export function formatTraceNote(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const text = typeof d.text === 'string' ? d.text : '';
  return `TRACE${dev(v.data)}${dev(v.data) === '' ? '' : ':'} ${text}${src(v.data)}`;
}
