/**
 * Text of the guest DMA layer's event kinds (core/events/catalog.ts codes 27…35): the guest
 * kernel's device probe (iommu_probe_device → default domain → iommu_dma_init_domain), reserve_iova
 * carving, dma_map / dma_unmap (drivers/iommu/dma-iommu.c), the virtio-iommu driver's request
 * syncs (drivers/iommu/virtio-iommu.c viommu_sync_req), flush-queue flushes, stale translations in
 * the lazy window, kernel log lines and virtual waits. Reference:
 * ../../../shared/reference/trace-formats-and-guest-dma.md part B. Each function takes the kind's
 * fields as stored or live (u64 as bigint or "0x…", JSON payloads as objects) and never throws.
 */
import { ep, hexOf, num, u64Of } from './text.ts';

/** DMA directions by the `dir` field's value (enum dma_data_direction as the lab numbers it). */
export const DMA_DIRS: readonly string[] = ['', 'to-device', 'from-device', 'bidirectional'];
/** dma-unmap `mode` names: the IOTLB sync was immediate (strict) or the IOVA went to a flush queue. */
export const UNMAP_MODES: readonly string[] = ['strict', 'queued'];
/** guest-sync `why` names: which IOMMU op synced the virtio-iommu request queue. */
export const SYNC_WHY: readonly string[] = ['iotlb_sync_map', 'iotlb_sync', 'flush_iotlb_all', 'queue full', 'send_req_sync'];
/** fq-flush `reason` names. */
export const FQ_REASONS: readonly string[] = ['queue full', 'timeout'];
/** guest-probe `init` names: the domain's IOVA allocator was initialised by this device (regions carved), it joined an initialised one, or the probe failed. */
export const PROBE_INIT: readonly string[] = ['first', 'joined', 'failed'];
/** guest-log levels (printk). */
export const LOG_LEVELS: readonly string[] = ['info', 'notice', 'warning', 'error'];

/** An object's own fields, or {} for anything else. */
function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A nanosecond count as "12.5 ms" / "340 µs" / "800 ns" ("?" when absent). */
export function nsText(v: unknown): string {
  const n = typeof v === 'bigint' ? Number(v) : num(v) ?? (typeof v === 'string' ? Number(u64Of(v) ?? NaN) : NaN);
  if (!Number.isFinite(n)) return '?';
  if (n >= 1e9) return `${+(n / 1e9).toFixed(3)} s`;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(3)} ms`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(3)} µs`;
  return `${n} ns`;
}

/** `PROBE nic0 01:00.0 group 1 domain 2 (DMA-FQ) first: 3 regions carved` / `… joined group 1: no carving`. */
export function formatGuestProbe(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const init = PROBE_INIT[num(v.init) ?? -1] ?? '?';
  const who = `GUEST PROBE ${String(d.device ?? '?')} ${ep(v.endpoint)}`;
  if (init === 'failed') return `${who} FAILED${d.error ? `: ${String(d.error)}` : ''}`;
  const type = typeof d.domainType === 'string' ? ` (${d.domainType})` : '';
  const where = `group ${num(v.group) ?? '?'} domain ${num(v.domain) ?? '?'}${type}`;
  if (init === 'joined') return `${who} ${where}: joined an initialised IOVA domain, nothing carved`;
  const carved = Array.isArray(d.carved) ? d.carved.length : num(d.carved) ?? 0;
  return `${who} ${where}: IOVA domain initialised, ${carved} range${carved === 1 ? '' : 's'} reserved`;
}

/** `RESERVE IOVA domain 2 [0xfee00000-0xfeefffff] MSI (nic0)`. */
export function formatIovaReserve(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  return `RESERVE IOVA domain ${num(v.domain) ?? '?'} [${hexOf(v.start)}-${hexOf(v.end)}] ${String(d.source ?? '?')}${d.device ? ` (${String(d.device)})` : ''}`;
}

/** `DMA MAP nic0 to-device 0x1000B phys 0x40000000 -> 0xfffff000 (rcache) b0` / `… FAILED: …`. */
export function formatDmaMap(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const dir = DMA_DIRS[num(v.dir) ?? 0] || '?';
  const size = u64Of(v.size);
  const head = `DMA MAP ${String(d.device ?? ep(v.endpoint))} ${dir} ${size === undefined ? '?' : `0x${size.toString(16)}`}B phys ${hexOf(v.phys)}`;
  const handle = typeof d.handle === 'string' ? ` ${d.handle}` : '';
  if (num(v.outcome) === 1) return `${head} FAILED (DMA_MAPPING_ERROR${d.error ? `: ${String(d.error)}` : ''})${handle}`;
  const path = typeof d.path === 'string' ? ` (${d.path})` : '';
  return `${head} -> ${hexOf(v.iova)} domain ${num(v.domain) ?? '?'}${path}${handle}`;
}

/** `DMA UNMAP nic0 0xfffff000 0x1000B queued b0`. */
export function formatDmaUnmap(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const size = u64Of(v.size);
  const mode = UNMAP_MODES[num(v.mode) ?? -1] ?? '?';
  return `DMA UNMAP ${String(d.device ?? ep(v.endpoint))} ${hexOf(v.iova)} ${size === undefined ? '?' : `0x${size.toString(16)}`}B ${mode}${typeof d.handle === 'string' ? ` ${d.handle}` : ''}`;
}

/** `SYNC 3 requests (iotlb_sync_map)`, with the lazy windows the sync closed. */
export function formatGuestSync(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const n = num(v.requests) ?? 0;
  const w = obj(d.windows);
  const windows = num(w.count) ? `; ${num(w.count)} queued UNMAP${num(w.count) === 1 ? '' : 's'} delivered after ${nsText(w.minNs)}${num(w.count)! > 1 ? `…${nsText(w.maxNs)}` : ''}` : '';
  return `VIRTIO-IOMMU SYNC ${n} request${n === 1 ? '' : 's'} (${SYNC_WHY[num(v.why) ?? -1] ?? '?'})${windows}`;
}

/** `FQ FLUSH domain 2 (timeout): 17 IOVAs freed`. */
export function formatFqFlush(v: Readonly<Record<string, unknown>>): string {
  const freed = num(v.freed) ?? 0;
  return `FLUSH QUEUE domain ${num(v.domain) ?? '?'} (${FQ_REASONS[num(v.reason) ?? -1] ?? '?'}): ${freed} IOVA${freed === 1 ? '' : 's'} freed`;
}

/** `STALE nic0 write 0xfffff000: unmapped 1.2 ms ago, not yet invalidated`. */
export function formatStaleAccess(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const access = num(v.access) === 2 ? 'write' : 'read';
  return `STALE TRANSLATION ${String(d.device ?? ep(v.endpoint))} ${access} ${hexOf(v.address)} -> ${hexOf(v.phys)}: unmapped ${nsText(v.sinceNs)} ago, not yet invalidated${typeof d.handle === 'string' ? ` (${d.handle})` : ''}`;
}

/** `GUEST nic0: Using 64-bit DMA addresses`. */
export function formatGuestLog(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const level = LOG_LEVELS[num(v.level) ?? 0] ?? '';
  return `GUEST ${level === 'warning' || level === 'error' ? `${level}: ` : ''}${d.device ? `${String(d.device)}: ` : ''}${String(d.text ?? '')}`;
}

/** `WAIT 20 ms`. */
export function formatWait(v: Readonly<Record<string, unknown>>): string {
  return `WAIT ${nsText(v.ns)}`;
}
