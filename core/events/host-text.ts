/**
 * Text of the host-side event kinds (core/events/catalog.ts codes 19…26): backend uAPI calls,
 * host DMA and faults, IOMMU groups, HostIOMMUDevice realize, set_iommu_device, device plug and
 * QEMU's error reports. Each function takes the kind's fields as stored or live (u64 as bigint or
 * "0x…", JSON payloads as objects) and never throws.
 */
import { errnoName } from '../host/errno.ts';
import { ep, hexOf, num } from './text.ts';

/** Backend code of a 'host-call' event (its `backend` field). */
export const HOST_BACKENDS: readonly string[] = ['', 'iommufd', 'vfio-type1', 'iommufd-vfio-compat'];

/** The name of an errno field value ("OK" for 0, "ENOENT", "E<n>" unknown; "?" when absent). */
export function errnoText(v: unknown): string {
  const n = num(v);
  return n === undefined ? '?' : errnoName(n);
}

/** An object's own fields, or {} for anything else. */
function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The ioctl name of a 'host-call' event's `call` payload ("IOMMU_IOAS_MAP"; "?" when malformed): the hostCalls metric's key. */
export function hostIoctl(call: unknown): string {
  const c = obj(call);
  return typeof c.ioctl === 'string' ? c.ioctl : '?';
}

/** One `name=value` pair of a uAPI argument or output: bigint → "0x…", arrays/objects as JSON. */
function pair(k: string, v: unknown): string {
  if (typeof v === 'bigint') return `${k}=0x${v.toString(16)}`;
  if (Array.isArray(v)) return `${k}=[${v.map((x) => (Array.isArray(x) ? `${x.map(String).join('-')}` : typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x))).join(',')}]`;
  if (v !== null && typeof v === 'object') return `${k}=${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x))}`;
  return `${k}=${String(v)}`;
}

/** `IOMMU_IOAS_MAP ioas-id=2 iova=0x10000 length=0x2000 → OK iova=0x10000` or `… → ENOENT`. */
export function formatHostCall(v: Readonly<Record<string, unknown>>): string {
  const call = obj(v.call);
  const ioctl = typeof call.ioctl === 'string' ? call.ioctl : typeof call.op === 'string' ? call.op : '?';
  const args = Object.entries(obj(call.args)).map(([k, x]) => pair(k, x));
  const errno = num(v.errno);
  const out = errno === 0 ? Object.entries(obj(call.out)).map(([k, x]) => pair(k, x)) : [];
  const backend = num(v.backend) === 3 ? ' (compat)' : '';
  return [`${ioctl}${backend}`, ...args, '→', errnoText(v.errno), ...out].join(' ');
}

/** `HOST DMA vf0 3b:00.0 write 0x10000 -> 0x80010000 8B dmar0` / `… FAULT (reason)`. */
export function formatHostDma(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const access = num(v.access) === 2 ? 'write' : 'read';
  const size = num(v.size);
  const where = `${String(d.device ?? '?')} ${ep(v.endpoint)} ${access} ${hexOf(v.iova)} ${size ?? '?'}B`;
  const domain = v.domain !== undefined && v.domain !== null ? ` domain=${num(v.domain)}` : '';
  if (num(v.outcome) === 1) return `HOST DMA ${where} FAULT${d.reason ? ` (${String(d.reason)})` : ''} ${String(d.iommu ?? '')}`.trimEnd();
  return `HOST DMA ${where} -> ${hexOf(v.phys)}${domain} ${String(d.iommu ?? '')}`.trimEnd();
}

/** `HOST FAULT dmar0 vf0 3b:00.0 addr=0x10000 write: reason`. */
export function formatHostFault(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  return `HOST FAULT ${String(d.iommu ?? '?')} ${String(d.device ?? '?')} ${ep(v.endpoint)} addr=${hexOf(v.address)} ${num(v.access) === 2 ? 'write' : 'read'}: ${String(d.reason ?? '?')}`;
}

/** `IOMMU GROUP 3 dmar0 [rp0, vf0] (why)`. */
export function formatIommuGroup(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const devices = Array.isArray(d.devices) ? d.devices.map(String).join(', ') : '?';
  return `IOMMU GROUP ${num(v.group) ?? '?'} ${d.iommu === null ? '(emulated)' : String(d.iommu ?? '?')} [${devices}]${d.why ? ` (${String(d.why)})` : ''}`;
}

/** `HIOD REALIZE vf0 iommufd-vfio aw-bits=39 ranges=[0x0-0xfedfffff,…] pgsizes=0x…` / `… FAILED: error`. */
export function formatHiodRealize(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const head = `HIOD REALIZE ${String(d.device ?? '?')} ${String(d.variant ?? '?')}`;
  if (num(v.status) !== 0) return `${head} FAILED: ${String(d.error ?? '?')}`;
  const ranges = Array.isArray(d.iovaRanges) ? d.iovaRanges.map((r) => (Array.isArray(r) ? `${hexOf(r[0])}-${hexOf(r[1])}` : '?')).join(',') : '?';
  return `${head} aw-bits=${num(d.awBits) ?? '?'} ranges=[${ranges}] pgsizes=${hexOf(d.pageSizeMask)}`;
}

/** `SET IOMMU DEVICE viommu0 ep=00:03.0 vf0 accepted` / `… refused: message`. */
export function formatSetIommuDevice(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const head = `SET IOMMU DEVICE ${String(d.viommu ?? '?')} ep=${ep(v.endpoint)} ${String(d.device ?? '?')}`;
  return num(v.status) === 0 ? `${head} accepted` : `${head} refused: ${String(d.message ?? '?')}`;
}

const PLUG_ACTIONS = ['COLDPLUG', 'HOTPLUG', 'UNPLUG'];

/** `HOTPLUG nic0 ep=00:03.0 (host vf0) OK` / `… FAILED: error`. */
export function formatDevicePlug(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  const action = PLUG_ACTIONS[num(v.action) ?? -1] ?? `PLUG(${String(v.action)})`;
  const head = `${action} ${String(d.device ?? '?')} ep=${ep(v.endpoint)}${d.host ? ` (host ${String(d.host)})` : ''}`;
  return num(v.status) === 0 ? `${head} OK` : `${head} FAILED: ${String(d.error ?? '?')}`;
}

/** `QEMU error: message` / `QEMU warning: message`. */
export function formatQemuError(v: Readonly<Record<string, unknown>>): string {
  const d = obj(v.data);
  return `QEMU ${d.level === 'warning' ? 'warning' : 'error'}: ${String(d.message ?? '?')}`;
}
