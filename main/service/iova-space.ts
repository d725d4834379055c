/**
 * The IOVA space fold behind getIovaSpace (issue 8 §3): a run's guest DMA events folded, in seq
 * order, into each guest DMA domain's ranges by kind (core/contract IovaRange):
 *  - reserved: 'iova-reserve' (reserve_iova at iommu_dma_init_domain, only for the device that
 *    initialised the domain: reference trace-formats-and-guest-dma.md B1, drivers/iommu/dma-iommu.c
 *    iova_reserve_iommu_regions);
 *  - host-hole: per device probed into the domain, the complement over [0, 2^64 − 1] of its host
 *    device's usable IOVA ranges ('hiod-realize' data.iovaRanges, found through the device's
 *    'device-plug' data.host), as QEMU computes host reserved ranges (hw/virtio/virtio-iommu.c
 *    virtio_iommu_set_host_iova_ranges → range_inverse_array; reference iommufd-vfio-hostiommu.md
 *    §5.4); for a device without a HostIOMMUDevice, the RESERVED regions its PROBE reported
 *    ('guest-probe' data.regions);
 *  - allocated: a 'dma-map' that returned an IOVA, iova_align'd: the IOVA aligned down to the
 *    granule, `pages` granules long (dma-iommu.c __iommu_dma_map: iova_align(size + offset)), until
 *    its 'dma-unmap' (same handle, else same domain and granule-aligned IOVA);
 *  - failed: a failed host call or a QEMU error whose `cause` is a vIOMMU 'map' event or MAP
 *    'request' (core/host/shadow.ts names the map event emitted before the request), a MAP request
 *    whose status is not OK, a dma-map outcome 1 with an IOVA.
 * The fold is cloned for the service's cursor; addresses are bigint (u64, exact).
 */
import type { EventRow, IovaDomain, IovaRange } from '../../core/contract/index.ts';
import { errnoText } from '../../core/events/host-text.ts';
import { PROBE_INIT } from '../../core/events/guest-text.ts';
import { num, statusName, u64Of } from '../../core/events/text.ts';
import type { GuestFoldRow } from '../store/guest-view.ts';

/** Ranges returned per kind and domain at most (IovaDomain.truncated past it). */
export const IOVA_SPACE_MAX_RANGES = 5000;
/** The last u64. */
const U64_MAX = (1n << 64n) - 1n;
/** The granule allocated ranges use when the domain's probe gave none (PAGE_SIZE on x86). */
const DEFAULT_GRANULE = 4096;
/** Kinds in the order ranges are returned. */
const KIND_ORDER: readonly IovaRange['kind'][] = ['reserved', 'host-hole', 'allocated', 'failed'];
/** virtio-iommu request types (virtio spec §5.13.6). */
const T_MAP = 3;
/** PROBE RESV_MEM subtype RESERVED (virtio spec §5.13.6.8.1: VIRTIO_IOMMU_RESV_MEM_T_RESERVED). */
const RESV_MEM_T_RESERVED = 0;

/** A range while folding: bigint bounds. */
interface Span {
  start: bigint;
  end: bigint;
  seq: number;
  source?: string;
  device?: string;
  label?: string;
}

interface DomainState {
  domain: number;
  group: number | null;
  aperture: [string, string] | null;
  granule: number | null;
  devices: { endpoint: number; device: string; init: string; seq: number }[];
  reserved: Span[];
  /** Live allocations by handle (or "@domain:start" without one). */
  allocated: Map<string, Span>;
  /** Failed maps by the seq of the event that caused the failure (one range per vIOMMU map). */
  failed: Map<number, Span>;
  /** PROBE RESERVED regions by endpoint. */
  probeHoles: Map<number, Span[]>;
}

/** An object's own fields, or {} for anything else. */
function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A granule given as a number or "0x…"/decimal text; null when absent or not a positive integer. */
function granuleOf(v: unknown): number | null {
  const b = u64Of(v);
  return b !== undefined && b > 0n && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : null;
}

/** Whether a PROBE region's type (number or name) is RESERVED. */
function isReservedRegion(t: unknown): boolean {
  return t === RESV_MEM_T_RESERVED || (typeof t === 'string' && t.toUpperCase() === 'RESERVED');
}

/**
 * The complement of `ranges` (inclusive [start, end] pairs) over [0, 2^64 − 1], sorted and merged:
 * QEMU's range_inverse_array(iova_ranges, &host_resv_ranges, 0, UINT64_MAX) (util/range.c).
 */
export function rangeInverse(ranges: readonly (readonly [bigint, bigint])[]): [bigint, bigint][] {
  const sorted = [...ranges].filter(([s, e]) => e >= s).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  let cur = 0n;
  for (const [s, e] of sorted) {
    if (s > cur) out.push([cur, s - 1n]);
    if (e + 1n > cur) cur = e + 1n;
  }
  if (cur <= U64_MAX) out.push([cur, U64_MAX]);
  return out;
}

/** Looks up the event a failure names as its cause (a vIOMMU 'map' or 'request'). */
export type CauseLookup = (seq: number) => EventRow | null;

/** The IOVA space fold (see the file comment). */
export class IovaSpaceFold {
  /** Last seq applied (-1: none). */
  seq = -1;
  private domains = new Map<number, DomainState>();
  /** Endpoint → its default domain (guest-probe). */
  private endpointDomain = new Map<number, number>();
  /** Endpoint → the host device behind it (device-plug data.host). */
  private plugHost = new Map<number, string>();
  /** Host device → its HostIOMMUDevice's usable IOVA ranges (hiod-realize, status 0). */
  private hiod = new Map<string, { seq: number; ranges: [bigint, bigint][] }>();

  /** Ranges and endpoints held (what a clone copies). */
  get weight(): number {
    let n = this.endpointDomain.size + this.plugHost.size + this.hiod.size;
    for (const d of this.domains.values()) n += d.devices.length + d.reserved.length + d.allocated.size + d.failed.size + d.probeHoles.size;
    return n;
  }

  /** A copy that folds on independently. */
  clone(): IovaSpaceFold {
    const c = new IovaSpaceFold();
    c.seq = this.seq;
    for (const [k, d] of this.domains) {
      c.domains.set(k, {
        ...d,
        devices: [...d.devices],
        reserved: [...d.reserved],
        allocated: new Map(d.allocated),
        failed: new Map(d.failed),
        probeHoles: new Map(d.probeHoles),
      });
    }
    c.endpointDomain = new Map(this.endpointDomain);
    c.plugHost = new Map(this.plugHost);
    c.hiod = new Map(this.hiod);
    return c;
  }

  private domain(id: number): DomainState {
    let d = this.domains.get(id);
    if (!d) {
      d = { domain: id, group: null, aperture: null, granule: null, devices: [], reserved: [], allocated: new Map(), failed: new Map(), probeHoles: new Map() };
      this.domains.set(id, d);
    }
    return d;
  }

  /** The domain of an event: its own `domain` field, else its endpoint's default domain. */
  private domainOf(f: Record<string, unknown>): number | undefined {
    return num(f.domain) ?? this.endpointDomain.get(num(f.endpoint) ?? -1);
  }

  /** Applies one row of GuestViewReader.foldRows (rows must come in seq order). */
  apply(row: GuestFoldRow, causeOf: CauseLookup): void {
    this.seq = row.seq;
    const f = row.fields;
    const data = obj(f.data);
    switch (row.kind) {
      case 'guest-probe': {
        const init = PROBE_INIT[num(f.init) ?? -1] ?? '?';
        const id = num(f.domain);
        const endpoint = num(f.endpoint) ?? -1;
        if (init === 'failed' || id === undefined) return;
        const d = this.domain(id);
        this.endpointDomain.set(endpoint, id);
        d.group = num(f.group) ?? d.group;
        const ap = Array.isArray(data.aperture) ? data.aperture.map(u64Of) : [];
        if (ap.length === 2 && ap[0] !== undefined && ap[1] !== undefined) d.aperture = [`0x${ap[0].toString(16)}`, `0x${ap[1].toString(16)}`];
        d.granule = granuleOf(data.granule) ?? d.granule;
        d.devices = d.devices.filter((x) => x.endpoint !== endpoint);
        d.devices.push({ endpoint, device: String(data.device ?? endpoint), init, seq: row.seq });
        const holes: Span[] = [];
        for (const r of Array.isArray(data.regions) ? data.regions : []) {
          const o = obj(r);
          const s = u64Of(o.start);
          const e = u64Of(o.end);
          if (isReservedRegion(o.type ?? o.subtype) && s !== undefined && e !== undefined && e >= s) {
            holes.push({ start: s, end: e, seq: row.seq, source: 'probe', device: String(data.device ?? endpoint) });
          }
        }
        d.probeHoles.set(endpoint, holes);
        return;
      }
      case 'iova-reserve': {
        const s = u64Of(f.start);
        const e = u64Of(f.end);
        const id = num(f.domain);
        if (s === undefined || e === undefined || id === undefined) return;
        this.domain(id).reserved.push({ start: s, end: e, seq: row.seq, source: String(data.source ?? '?'), device: data.device ? String(data.device) : undefined });
        return;
      }
      case 'dma-map': {
        const id = this.domainOf(f);
        const iova = u64Of(f.iova);
        const size = u64Of(f.size) ?? 0n;
        if (id === undefined || iova === undefined) return;
        const d = this.domain(id);
        const g = BigInt(d.granule ?? DEFAULT_GRANULE);
        const start = iova - (iova % g);
        const pages = u64Of(data.pages) ?? (iova % g + size + g - 1n) / g;
        const span: Span = { start, end: start + (pages > 0n ? pages : 1n) * g - 1n, seq: row.seq, device: data.device ? String(data.device) : undefined };
        if (num(f.outcome) === 1) {
          d.failed.set(row.seq, { ...span, source: 'dma-map', label: data.error ? String(data.error) : 'DMA_MAPPING_ERROR' });
          return;
        }
        const handle = typeof data.handle === 'string' ? data.handle : undefined;
        d.allocated.set(handle ?? `@${start}`, { ...span, label: handle });
        return;
      }
      case 'dma-unmap': {
        const id = this.domainOf(f);
        const iova = u64Of(f.iova);
        if (id === undefined) return;
        const d = this.domain(id);
        const handle = typeof data.handle === 'string' ? data.handle : undefined;
        if (handle !== undefined && d.allocated.delete(handle)) return;
        if (iova === undefined) return;
        const g = BigInt(d.granule ?? DEFAULT_GRANULE);
        const start = iova - (iova % g);
        if (d.allocated.delete(`@${start}`)) return;
        for (const [k, s] of d.allocated) {
          if (s.start === start) {
            d.allocated.delete(k);
            return;
          }
        }
        return;
      }
      case 'device-plug': {
        const ep = num(f.endpoint);
        if (ep !== undefined && typeof data.host === 'string') this.plugHost.set(ep, data.host);
        return;
      }
      case 'hiod-realize': {
        if (num(f.status) !== 0 || typeof data.device !== 'string' || !Array.isArray(data.iovaRanges)) return;
        const ranges: [bigint, bigint][] = [];
        for (const r of data.iovaRanges) {
          const s = Array.isArray(r) ? u64Of(r[0]) : undefined;
          const e = Array.isArray(r) ? u64Of(r[1]) : undefined;
          if (s !== undefined && e !== undefined) ranges.push([s, e]);
        }
        this.hiod.set(data.device, { seq: row.seq, ranges });
        return;
      }
      case 'request': {
        // A MAP the vIOMMU refused (the reader passes only MAPs whose status is not OK).
        const id = num(f.domain);
        const s = u64Of(f.virtStart);
        const e = u64Of(f.virtEnd);
        if (num(f.reqType) !== T_MAP || id === undefined || s === undefined || e === undefined) return;
        this.domain(id).failed.set(row.seq, { start: s, end: e, seq: row.seq, source: 'request', label: statusName(num(f.status)) });
        return;
      }
      case 'host-call':
      case 'qemu-error': {
        const cause = num(u64Of(f.cause));
        if (cause === undefined) return;
        const c = causeOf(cause);
        if (!c) return;
        const isMap = c.kind === 'map' || (c.kind === 'request' && num(c.fields.reqType) === T_MAP);
        const id = num(c.fields.domain);
        const s = u64Of(c.fields.virtStart);
        const e = u64Of(c.fields.virtEnd);
        if (!isMap || id === undefined || s === undefined || e === undefined) return;
        const d = this.domain(id);
        const label = row.kind === 'host-call' ? errnoText(f.errno) : String(obj(f.data).message ?? 'QEMU error');
        const prev = d.failed.get(cause);
        // One range per failing map: the first report names it (the host call's errno before QEMU's message).
        if (!prev) d.failed.set(cause, { start: s, end: e, seq: row.seq, source: row.kind, label });
        return;
      }
    }
  }

  /** The domains' IOVA spaces, by domain ID (see IovaDomain). */
  result(): IovaDomain[] {
    const out: IovaDomain[] = [];
    for (const d of [...this.domains.values()].sort((a, b) => a.domain - b.domain)) {
      const holes = new Map<string, Span>();
      const from = new Set<string>();
      for (const dev of d.devices) {
        const host = this.plugHost.get(dev.endpoint);
        const h = host === undefined ? undefined : this.hiod.get(host);
        let spans: Span[];
        if (h) {
          // The hole enters this domain with the later of the device's probe and its host ranges
          // (selecting the range then shows a domain that has it).
          const seq = Math.max(h.seq, dev.seq);
          spans = rangeInverse(h.ranges).map(([start, end]) => ({ start, end, seq, source: 'host-iova-ranges', device: dev.device }));
          from.add('host-iova-ranges');
        } else {
          spans = d.probeHoles.get(dev.endpoint) ?? [];
          if (spans.length) from.add('probe');
        }
        for (const s of spans) {
          const key = `${s.source}:${s.start}:${s.end}`;
          const prev = holes.get(key);
          if (prev) prev.device = `${prev.device}, ${s.device}`;
          else holes.set(key, { ...s });
        }
      }
      const byKind: Record<IovaRange['kind'], Span[]> = {
        reserved: d.reserved,
        'host-hole': [...holes.values()],
        allocated: [...d.allocated.values()],
        failed: [...d.failed.values()],
      };
      let truncated = false;
      const ranges: IovaRange[] = [];
      for (const kind of KIND_ORDER) {
        const list = [...byKind[kind]].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.seq - b.seq));
        if (list.length > IOVA_SPACE_MAX_RANGES) truncated = true;
        for (const s of list.slice(0, IOVA_SPACE_MAX_RANGES)) {
          const r: IovaRange = { kind, start: `0x${s.start.toString(16)}`, end: `0x${s.end.toString(16)}`, seq: s.seq };
          if (s.source !== undefined) r.source = s.source;
          if (s.device !== undefined) r.device = s.device;
          if (s.label !== undefined) r.label = s.label;
          ranges.push(r);
        }
      }
      out.push({
        domain: d.domain,
        group: d.group,
        aperture: d.aperture,
        granule: d.granule,
        devices: d.devices,
        holesFrom: from.size === 0 ? 'none' : from.size === 2 ? 'mixed' : (from.values().next().value as 'host-iova-ranges' | 'probe'),
        ranges,
        truncated,
      });
    }
    return out;
  }
}
