/**
 * The raw field dump of ftrace's `options/fields` (kernel/trace/trace_output.c print_event_fields()
 * and print_fields(), Linux 6.3+): `<event>: name=value name=value …` from the ring-buffer fields
 * (TP_STRUCT__entry) instead of the TP_printk text, so it survives TP_printk changes (reference
 * ../../../shared/reference/trace-formats-and-guest-dma.md A3). Integers print as `0x%x (%d)` or
 * `0x%llx (%lld)` (newer kernels print 8-byte fields with `%pS (%lld)`: the decimal echo is then
 * the value), strings as they are. The field order was reversed before a 2023 fix: it is not relied
 * on. The ftrace importer tries this form only when a line of a known event does not match its
 * TP_printk format, so the common path pays nothing for it.
 *
 * Field names (include/trace/events/iommu.h, dma.h, drivers/iommu/intel/trace.h): map iova, paddr,
 * size; unmap iova, size, unmapped_size; io_page_fault device, driver, iova, flags; attach/detach
 * device; group gid, device; dma_map class phys_addr, dma_addr; dma_unmap class addr; alloc/free
 * virt_addr, dma_addr, flags; all dma: device, size, dir (the enum as a number), attrs; qi_submit
 * qw0…qw3, iommu (the descriptor type is not a field: it is qw0 & 0xf, named here as
 * __print_symbolic would).
 */
import type { TraceEvent } from './types.ts';
import { head, type LineContext, pciRequesterId, qiEvent, stamp, U64_MASK } from './ftrace-events.ts';

/** The events the field dump is decoded for. */
export type FieldsKind = 'map' | 'unmap' | 'fault' | 'attach' | 'group' | 'dma' | 'qi';

/** One field: its value text and the `(decimal)` echo printed after integers. */
interface Field {
  v: string;
  echo: string | undefined;
}

/** ` name=value [(echo)]` pairs → fields; null when the body is not a field dump. */
function fieldsOf(body: string): Map<string, Field> | null {
  const tokens = body.split(' ');
  const out = new Map<string, Field>();
  let last: Field | undefined;
  for (const t of tokens) {
    if (t === '') continue;
    const eq = t.indexOf('=');
    if (t.charCodeAt(0) === 40 /* ( */ && t.charCodeAt(t.length - 1) === 41 && last !== undefined && last.echo === undefined && eq < 0) {
      last.echo = t.slice(1, -1);
      continue;
    }
    if (eq <= 0) {
      if (last === undefined) return null;
      last.v += ' ' + t; // a string field holding spaces
      continue;
    }
    last = { v: t.slice(eq + 1), echo: undefined };
    out.set(t.slice(0, eq), last);
  }
  return out.size === 0 ? null : out;
}

/** An integer field as u64: its `0x…` text, else its decimal echo (two's complement); null otherwise. */
function int(f: Field | undefined): bigint | null {
  if (f === undefined) return null;
  if (/^0x[0-9a-fA-F]{1,16}$/.test(f.v)) return BigInt(f.v);
  if (f.echo !== undefined && /^-?\d{1,20}$/.test(f.echo)) return BigInt.asUintN(64, BigInt(f.echo));
  return null;
}

/** qw0 & 0xf as drivers/iommu/intel/trace.h's __print_symbolic names it (QI_*_TYPE, iommu.h). */
const QI_TYPES = ['0x0', 'cc_inv', 'iotlb_inv', 'dev_tlb_inv', 'iec_inv', 'inv_wait', 'p_iotlb_inv', 'pc_inv', 'p_dev_tlb_inv', 'page_grp_resp'];

/**
 * The event of a field-dump body, or null when `body` is not a field dump of that event (then the
 * TP_printk error stands). `op` is the attach/detach or group add/remove operation.
 */
export function fieldsEvent(kind: FieldsKind, body: string, event: string, ctx: LineContext, op: 0 | 1 = 0): TraceEvent | null {
  const f = fieldsOf(body);
  if (f === null) return null;
  const device = f.get('device')?.v;
  switch (kind) {
    case 'map': {
      const iova = int(f.get('iova'));
      const paddr = int(f.get('paddr'));
      const size = int(f.get('size'));
      if (iova === null || paddr === null || size === null) return null;
      const data = head(event, ctx);
      data.fields = true;
      return stamp({ kind: 'trace-map', iova, size, phys: paddr, data }, ctx);
    }
    case 'unmap': {
      const iova = int(f.get('iova'));
      const size = int(f.get('size'));
      const unmapped = int(f.get('unmapped_size'));
      if (iova === null || size === null || unmapped === null) return null;
      const data = head(event, ctx);
      data.fields = true;
      return stamp({ kind: 'trace-unmap', iova, size, unmapped, data }, ctx);
    }
    case 'fault': {
      const iova = int(f.get('iova'));
      const flags = int(f.get('flags'));
      if (iova === null || flags === null || device === undefined) return null;
      const data = head(event, ctx);
      data.fields = true;
      data.driver = f.get('driver')?.v ?? '';
      data.device = device;
      data.flags = Number(flags & 0xffffffffn);
      const ev: TraceEvent = { kind: 'trace-fault', address: iova, access: (flags & 1n) === 0n ? 1 : 2, data };
      const rid = pciRequesterId(device);
      if (rid >= 0) ev.endpoint = rid;
      return stamp(ev, ctx);
    }
    case 'attach': {
      if (device === undefined) return null;
      const data = head(event, ctx);
      data.fields = true;
      data.device = device;
      const ev: TraceEvent = { kind: 'trace-attach', op, data };
      const rid = pciRequesterId(device);
      if (rid >= 0) ev.endpoint = rid;
      return stamp(ev, ctx);
    }
    case 'group': {
      const gid = int(f.get('gid'));
      if (gid === null || device === undefined) return null;
      const data = head(event, ctx);
      data.fields = true;
      data.device = device;
      const printed = f.get('gid')!.echo;
      if (printed !== undefined && printed.startsWith('-')) data.groupID = printed;
      return stamp({ kind: 'trace-group', op, group: Number(gid & 0xffffffffn), data }, ctx);
    }
    case 'dma': {
      if (device === undefined) return null;
      const data = head(event, ctx);
      data.fields = true;
      data.device = device;
      const ev: TraceEvent = { kind: 'trace-dma', data };
      const dir = int(f.get('dir'));
      if (dir !== null) {
        if (dir <= 3n) ev.dir = Number(dir);
        else data.dir = '0x' + dir.toString(16);
      }
      const addr = int(f.get('dma_addr') ?? f.get('addr'));
      if (addr !== null) ev.addr = addr;
      const size = int(f.get('size'));
      if (size !== null) ev.size = size;
      const phys = int(f.get('phys_addr'));
      if (phys !== null) ev.phys = phys;
      const attrs = int(f.get('attrs'));
      if (attrs !== null && attrs !== 0n) data.attrs = '0x' + attrs.toString(16);
      const gfp = int(f.get('flags'));
      if (gfp !== null) data.flags = '0x' + gfp.toString(16);
      return stamp(ev, ctx);
    }
    case 'qi': {
      const qw = [int(f.get('qw0')), int(f.get('qw1')), int(f.get('qw2')), int(f.get('qw3'))];
      const iommu = f.get('iommu')?.v;
      if (qw.some((q) => q === null) || iommu === undefined) return null;
      const type = Number(qw[0]! & 0xfn);
      const ev = qiEvent(QI_TYPES[type] ?? `0x${type.toString(16)}`, iommu, qw.map((q) => '0x' + (q! & U64_MASK).toString(16)), event, ctx);
      (ev.data as Record<string, unknown>).fields = true;
      return ev;
    }
  }
}
