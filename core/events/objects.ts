/**
 * The host object table at any point of a run, folded from its 'host-call' events: what
 * iommufd's per-fd xarray of objects holds (drivers/iommu/iommufd/main.c; IOAS, HWPT_PAGING /
 * HWPT_NESTED, DEVICE, vIOMMU, vDEVICE, FAULT) and what VFIO type1 holds (containers and the
 * groups set to them: drivers/vfio/container.c, vfio_iommu_type1.c), each with its references.
 * The run view's object panel shows it (issue 7 §5).
 *
 * Only what the events say is used: a call's `op`, `args`, `out` and `errno` (core/events/catalog.ts
 * 'host-call'), and the 'iommu-group' events (a group named by a member device). A failed call (errno ≠ 0) changes nothing, as in the kernel (reference
 * ../../../shared/reference/iommufd-vfio-hostiommu.md §1.2). Object rules (§1.1, §1.3):
 *  - one ID space per iommufd (per emitting backend component); a destroyed object is gone;
 *  - `users` is the kernel's obj.users minus the table's own reference: how many objects (or
 *    attached devices) hold a reference on it — a destroy succeeds only at 0 (EBUSY otherwise);
 *  - a HWPT_PAGING holds its IOAS; a HWPT_NESTED its parent HWPT or its vIOMMU; a vIOMMU its
 *    NEST_PARENT HWPT; a vDEVICE its vIOMMU (and its device); an attached device its HWPT;
 *  - an auto domain (device attach to an IOAS) is created by the attach and destroyed when its last
 *    device leaves it (detach, or replace to another page table);
 *  - IOAS areas: IOAS_MAP / IOAS_COPY add one area (the IOVA the kernel returned for a
 *    kernel-chosen one); IOAS_UNMAP removes the whole areas inside its range (§2.3), all of them
 *    for unmap-all (iova 0, length U64_MAX);
 *  - VFIO: a container (container-open), its IOMMU type (set-iommu), groups set to it, and its
 *    DMA mappings (map-dma / unmap-dma, the ALL flag clears them).
 *
 * Argument names read (kebab uAPI field names, any of the aliases): object IDs from `out`
 * (out-ioas-id, out-hwpt-id, out-dev-id / out-devid, out-viommu-id, out-vdevice-id, out-fault-id,
 * or `id`) or the event's `id` field; inputs ioas-id, dev-id, pt-id, hwpt-id, viommu-id,
 * dst-ioas-id, id, container, group; `iova` / `length` / `size` from args, out or the event's
 * columns. Unknown ops change nothing.
 *
 * Cost: `apply` is O(1) per event except an unmap of a range that is not exactly one area (a scan
 * of that IOAS's areas). For 1 M events, fold forward incrementally and keep clones
 * ({@link HostObjectFold.clone}) as checkpoints (main/service/host-objects.ts does).
 */
import type { HostObjectRow, HostObjectType } from '../contract/index.ts';

/** What the fold reads of an event: its seq, kind, emitting component and fields (EventRow is one). */
export interface FoldEvent {
  seq: number;
  kind: string;
  component?: string | null;
  fields: Readonly<Record<string, unknown>>;
}

export type { HostObjectType };

const U64_MAX = (1n << 64n) - 1n;

interface Obj {
  /** Namespace + ID: `${component} ${space} ${id}` (iommufd: one space; VFIO: containers and groups apart). */
  key: string;
  /** The ID space: 'obj' (iommufd), 'container' or 'group' (VFIO). */
  space: string;
  component: string;
  backend: string;
  id: number;
  type: HostObjectType;
  /** Created by seq. */
  seq: number;
  /** Objects this one holds a reference on, by role. */
  refs: { role: string; key: string; held: boolean }[];
  users: number;
  auto: boolean;
  flags: string[];
  label?: string;
  /** IOAS / container: areas by start IOVA → length. */
  areas?: Map<bigint, bigint>;
  bytes: bigint;
  /** VFIO container: IOMMU type set (type1, type1v2). */
  iommuType?: string;
  dirty?: boolean;
}

const BACKENDS = ['', 'iommufd', 'vfio-type1', 'iommufd-vfio-compat'];

/** The first of `keys` present in `o` (undefined when none). */
function pick(o: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

function rec(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A u64 from a field value (bigint, non-negative integer, "0x…" or decimal text); undefined otherwise. The hot path of the fold. */
function u64(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v >= 0n ? v : undefined;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v !== 'string' || v === '' || v.trim() !== v) return undefined;
  try {
    const b = BigInt(v);
    return b >= 0n && b <= U64_MAX ? b : undefined;
  } catch {
    return undefined;
  }
}

/** An object ID (u32) from a field value (number, bigint, "0x…" or decimal text); undefined otherwise. */
function idOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
  const b = u64(v);
  return b === undefined || b > 0xffffffffn ? undefined : Number(b);
}

/** Flag names of a `flags` argument: an array of names, or a number decoded with `bits` (bit n named bits[n]); else []. */
function flagNames(v: unknown, bits: readonly string[] = []): string[] {
  if (Array.isArray(v)) return v.map(String);
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n <= 0) return [];
  const out: string[] = [];
  for (let b = 0; b < 31; b++) if (n & (1 << b)) out.push(bits[b] ?? `bit${b}`);
  return out;
}

/** IOMMU_HWPT_ALLOC flags (include/uapi/linux/iommufd.h: NEST_PARENT 1, DIRTY_TRACKING 2, FAULT_ID_VALID 4, PASID 8). */
const HWPT_ALLOC_FLAGS = ['nest-parent', 'dirty-tracking', 'fault-id-valid', 'pasid'];
/** VFIO_IOMMU_MAP_DMA flags (include/uapi/linux/vfio.h: READ 1, WRITE 2, VADDR 4). */
const MAP_DMA_FLAGS = ['read', 'write', 'vaddr'];
/** VFIO_IOMMU_UNMAP_DMA flags (GET_DIRTY_BITMAP 1, ALL 2, VADDR 4). */
const UNMAP_DMA_FLAGS = ['get-dirty-bitmap', 'all', 'vaddr'];
/** VFIO_SET_IOMMU types by number (include/uapi/linux/vfio.h: VFIO_TYPE1_IOMMU 1, VFIO_TYPE1v2_IOMMU 3, VFIO_TYPE1_NESTING_IOMMU 6). */
const VFIO_IOMMU_TYPES: Readonly<Record<number, string>> = { 1: 'type1', 3: 'type1v2', 6: 'type1-nesting' };

/**
 * The fold. `apply` events in seq order (any kinds: only 'host-call' changes the table); `rows()`
 * gives the table. Errors: none — malformed events change nothing.
 */
export class HostObjectFold {
  private readonly objs = new Map<string, Obj>();
  /** The same objects by ID space (`${component} ${space}`) then ID: lookups without building a key. */
  private readonly index = new Map<string, Map<number, Obj>>();
  private lastComp: string | null = null;
  private lastSpace = '';
  private lastTable: Map<number, Obj> | null = null;
  /** IOMMU group number of each host device ('iommu-group' events). */
  private readonly groups = new Map<string, number>();
  /**
   * Host devices in an emulated group (an 'iommu-group' with no IOMMU: mdevs): they bind as an
   * iommufd ACCESS, not a DEVICE (drivers/vfio/iommufd.c vfio_iommufd_emulated_bind).
   */
  private readonly emulated = new Set<string>();
  /** Seq of the last event applied (−1 before any). */
  seq = -1;

  /** The objects of one ID space (the last one asked for is kept: calls of one backend come in runs). */
  private table(comp: string, space: string): Map<number, Obj> {
    if (comp === this.lastComp && space === this.lastSpace && this.lastTable) return this.lastTable;
    const k = `${comp} ${space}`;
    let t = this.index.get(k);
    if (!t) this.index.set(k, (t = new Map()));
    this.lastComp = comp;
    this.lastSpace = space;
    this.lastTable = t;
    return t;
  }

  /** Applies one event (events must come in seq order). */
  apply(e: FoldEvent): void {
    this.seq = e.seq;
    if (e.kind === 'iommu-group') {
      // Linux's IOMMU groups (computed at start): a group named by a member device resolves here.
      const g = idOf(e.fields.group);
      const devices = rec(e.fields.data).devices;
      if (g !== undefined && Array.isArray(devices)) for (const d of devices) this.groups.set(String(d), g);
      if (rec(e.fields.data).iommu === null && Array.isArray(devices)) for (const d of devices) this.emulated.add(String(d));
      return;
    }
    if (e.kind !== 'host-call') return;
    const f = e.fields;
    if (Number(f.errno ?? 0) !== 0) return;
    const call = rec(f.call);
    const op = typeof call.op === 'string' ? call.op : '';
    const args = rec(call.args);
    const out = rec(call.out);
    const comp = e.component ?? '';
    const backend = BACKENDS[Number(f.backend ?? 0)] || 'iommufd';
    if (backend === 'iommufd') this.iommufd(e.seq, comp, op, args, out, f);
    else this.vfio(e.seq, comp, backend, op, args, out, f);
  }

  private key(comp: string, space: string, id: number): string {
    return `${comp} ${space} ${id}`;
  }

  private create(seq: number, comp: string, backend: string, space: string, id: number, type: HostObjectType, extra: Partial<Obj> = {}): Obj {
    const o: Obj = { key: this.key(comp, space, id), space, component: comp, backend, id, type, seq, refs: [], users: 0, auto: false, flags: [], bytes: 0n, ...extra };
    this.objs.set(o.key, o);
    this.table(comp, space).set(id, o);
    return o;
  }

  private ref(o: Obj, role: string, target: Obj | undefined): void {
    if (!target) return;
    o.refs.push({ role, key: target.key, held: true });
    target.users++;
  }

  private unref(o: Obj, role?: string): void {
    o.refs = o.refs.filter((r) => {
      if (role !== undefined && r.role !== role) return true;
      const t = this.objs.get(r.key);
      if (t && r.held) t.users--;
      return false;
    });
  }

  /** Removes `o`, dropping the references it holds. */
  private remove(o: Obj): void {
    this.unref(o);
    this.objs.delete(o.key);
    this.table(o.component, o.space).delete(o.id);
  }

  private iommufd(seq: number, comp: string, op: string, args: Record<string, unknown>, out: Record<string, unknown>, f: Readonly<Record<string, unknown>>): void {
    const get = (id: unknown): Obj | undefined => {
      const n = idOf(id);
      return n === undefined ? undefined : this.table(comp, 'obj').get(n);
    };
    const outId = (...keys: string[]): number | undefined => idOf(pick(out, ...keys, 'id')) ?? idOf(f.id);
    const make = (id: number | undefined, type: HostObjectType, extra?: Partial<Obj>): Obj | undefined =>
      id === undefined ? undefined : this.create(seq, comp, 'iommufd', 'obj', id, type, extra);
    switch (op) {
      case 'ioas-alloc':
        make(outId('out-ioas-id', 'ioas-id'), 'ioas', { areas: new Map() });
        return;
      case 'ioas-map':
      case 'ioas-copy': {
        const ioas = get(pick(args, op === 'ioas-copy' ? 'dst-ioas-id' : 'ioas-id', 'ioas', 'ioas-id') ?? f.id);
        const iova = u64(pick(out, op === 'ioas-copy' ? 'dst-iova' : 'iova', 'iova') ?? pick(args, 'dst-iova', 'iova') ?? f.iova);
        const length = u64(pick(args, 'length') ?? f.length);
        if (ioas?.areas && iova !== undefined && length !== undefined) {
          ioas.areas.set(iova, length);
          ioas.bytes += length;
        }
        return;
      }
      case 'ioas-unmap': {
        const ioas = get(pick(args, 'ioas-id', 'ioas') ?? f.id);
        const iova = u64(pick(args, 'iova') ?? f.iova);
        const length = u64(pick(args, 'length') ?? f.length);
        if (ioas && iova !== undefined && length !== undefined) this.unmapRange(ioas, iova, length, iova === 0n && length === U64_MAX);
        return;
      }
      case 'device-bind': {
        const d = make(outId('out-dev-id', 'out-devid', 'dev-id', 'devid'), typeof args.device === 'string' && this.emulated.has(args.device) ? 'access' : 'device');
        if (d) d.label = typeof args.device === 'string' ? args.device : undefined;
        return;
      }
      case 'device-attach':
      case 'device-replace': {
        const dev = get(pick(args, 'dev-id', 'dev', 'devid') ?? f.id);
        if (!dev) return;
        const pt = get(pick(args, 'pt-id', 'pt'));
        // The page table the device ends up on: the HWPT out pt-id names (an auto domain when the
        // input was an IOAS), else the input when it is a HWPT.
        let hwpt = get(pick(out, 'pt-id', 'out-hwpt-id', 'hwpt-id', 'out-pt-id'));
        if (!hwpt && pt?.type === 'ioas') {
          hwpt = make(idOf(pick(out, 'pt-id', 'out-hwpt-id', 'hwpt-id', 'out-pt-id')), 'hwpt-paging', { auto: true });
          if (hwpt) this.ref(hwpt, 'ioas', pt);
        } else if (!hwpt && pt && pt.type !== 'ioas') hwpt = pt;
        if (!hwpt) return;
        this.detach(dev);
        this.ref(dev, 'attached', hwpt);
        return;
      }
      case 'device-detach': {
        const dev = get(pick(args, 'dev-id', 'dev', 'devid') ?? f.id);
        if (dev) this.detach(dev);
        return;
      }
      case 'device-unbind': {
        const dev = get(pick(args, 'dev-id', 'dev', 'devid') ?? f.id);
        if (dev) {
          this.detach(dev);
          this.remove(dev);
        }
        return;
      }
      case 'hwpt-alloc': {
        const pt = get(pick(args, 'pt-id', 'pt'));
        const flags = flagNames(args.flags, HWPT_ALLOC_FLAGS);
        const nested = pt !== undefined && pt.type !== 'ioas';
        const h = make(outId('out-hwpt-id', 'hwpt-id'), nested ? 'hwpt-nested' : 'hwpt-paging', { flags });
        if (h) {
          this.ref(h, nested ? (pt.type === 'viommu' ? 'viommu' : 'parent') : 'ioas', pt);
          const fault = get(args['fault-id']);
          if (fault) this.ref(h, 'fault', fault);
        }
        return;
      }
      case 'hwpt-set-dirty-tracking': {
        const h = get(pick(args, 'hwpt-id', 'hwpt') ?? f.id);
        if (h) h.dirty = flagNames(args.flags).includes('enable') || args.enable === true || args.flags === 1;
        return;
      }
      case 'viommu-alloc': {
        const v = make(outId('out-viommu-id', 'viommu-id'), 'viommu');
        if (v) {
          this.ref(v, 'hwpt', get(pick(args, 'hwpt-id', 'hwpt')));
          const dev = get(pick(args, 'dev-id', 'dev'));
          if (dev) v.refs.push({ role: 'dev', key: dev.key, held: false }); // a vIOMMU names its device but does not hold it (viommu.c)
        }
        return;
      }
      case 'vdevice-alloc': {
        const v = make(outId('out-vdevice-id', 'vdevice-id'), 'vdevice');
        if (v) {
          this.ref(v, 'viommu', get(pick(args, 'viommu-id', 'viommu')));
          this.ref(v, 'dev', get(pick(args, 'dev-id', 'dev')));
          const virt = pick(args, 'virt-id');
          if (virt !== undefined) v.label = `virt-id ${String(virt)}`;
        }
        return;
      }
      case 'fault-queue-alloc':
        make(outId('out-fault-id', 'fault-id'), 'fault');
        return;
      case 'destroy': {
        const o = get(pick(args, 'id') ?? f.id);
        if (o) this.remove(o);
        return;
      }
    }
  }

  /** Drops a device's attachment; an auto domain left without users goes with it (iommufd_hw_pagetable_put). */
  private detach(dev: Obj): void {
    const att = dev.refs.find((r) => r.role === 'attached');
    if (!att) return;
    this.unref(dev, 'attached');
    const h = this.objs.get(att.key);
    if (h?.auto && h.users === 0) this.remove(h);
  }

  /** Removes the whole areas inside [iova, iova + length) (all when `all`). */
  private unmapRange(o: Obj, iova: bigint, length: bigint, all: boolean): void {
    const areas = o.areas;
    if (!areas) return;
    if (all) {
      areas.clear();
      o.bytes = 0n;
      return;
    }
    const exact = areas.get(iova);
    if (exact === length) {
      areas.delete(iova);
      o.bytes -= length;
      return;
    }
    const last = iova + length - 1n;
    for (const [start, len] of areas) {
      if (start >= iova && start + len - 1n <= last) {
        areas.delete(start);
        o.bytes -= len;
      }
    }
  }

  private vfio(seq: number, comp: string, backend: string, op: string, args: Record<string, unknown>, out: Record<string, unknown>, f: Readonly<Record<string, unknown>>): void {
    /** A group by number, or by a member device's name (its 'iommu-group'). */
    const groupOf = (v: unknown): number | undefined => idOf(v) ?? (typeof v === 'string' ? this.groups.get(v) : undefined);
    const container = (v: unknown): Obj | undefined => {
      const n = idOf(v);
      return n === undefined ? undefined : this.table(comp, 'container').get(n);
    };
    switch (op) {
      case 'container-open': {
        const id = idOf(pick(out, 'container', 'id')) ?? idOf(f.id);
        if (id !== undefined) this.create(seq, comp, backend, 'container', id, 'vfio-container', { areas: new Map() });
        return;
      }
      case 'group-set-container': {
        const c = container(pick(args, 'container', 'container-fd', 'fd'));
        const g = groupOf(pick(out, 'group') ?? pick(args, 'group', 'group-id'));
        if (!c || g === undefined) return;
        const grp = this.table(comp, 'group').get(g) ?? this.create(seq, comp, backend, 'group', g, 'vfio-group');
        const member = pick(args, 'device', 'group');
        if (typeof member === 'string') grp.label = member;
        this.unref(grp, 'container');
        this.ref(grp, 'container', c);
        return;
      }
      case 'group-unset-container': {
        const g = groupOf(pick(out, 'group') ?? pick(args, 'group', 'group-id'));
        const grp = g === undefined ? undefined : this.table(comp, 'group').get(g);
        if (grp) this.remove(grp);
        return;
      }
      case 'set-iommu': {
        const c = container(pick(args, 'container') ?? f.id);
        if (c) c.iommuType = typeof args.type === 'string' ? args.type : (VFIO_IOMMU_TYPES[Number(args.type)] ?? String(args.type ?? ''));
        return;
      }
      case 'map-dma': {
        const c = container(pick(args, 'container') ?? f.id);
        const iova = u64(pick(args, 'iova') ?? f.iova);
        const size = u64(pick(args, 'size') ?? f.length);
        if (c?.areas && iova !== undefined && size !== undefined && !flagNames(args.flags, MAP_DMA_FLAGS).includes('vaddr')) {
          c.areas.set(iova, size);
          c.bytes += size;
        }
        return;
      }
      case 'unmap-dma': {
        const c = container(pick(args, 'container') ?? f.id);
        const iova = u64(pick(args, 'iova') ?? f.iova) ?? 0n;
        const size = u64(pick(args, 'size') ?? f.length) ?? 0n;
        const flags = flagNames(args.flags, UNMAP_DMA_FLAGS);
        if (c && !flags.includes('vaddr') && (flags.includes('all') || size > 0n)) this.unmapRange(c, iova, size, flags.includes('all'));
        return;
      }
      case 'container-close': {
        const c = container(pick(args, 'container') ?? f.id);
        if (c && c.users === 0) this.remove(c);
        return;
      }
    }
  }

  /** Number of live objects. */
  get size(): number {
    return this.objs.size;
  }

  /** What a clone copies: live objects plus every IOAS / container area (a checkpoint's cost). */
  get weight(): number {
    let n = this.objs.size;
    for (const o of this.objs.values()) n += o.areas?.size ?? 0;
    return n;
  }

  /** An independent copy (a checkpoint): later `apply`s on either do not affect the other. */
  clone(): HostObjectFold {
    const c = new HostObjectFold();
    c.seq = this.seq;
    for (const [d, g] of this.groups) c.groups.set(d, g);
    for (const d of this.emulated) c.emulated.add(d);
    for (const [k, o] of this.objs) {
      const copy: Obj = { ...o, refs: o.refs.slice(), flags: o.flags.slice(), areas: o.areas ? new Map(o.areas) : undefined };
      c.objs.set(k, copy);
      c.table(copy.component, copy.space).set(copy.id, copy);
    }
    return c;
  }

  /**
   * The table as rows: by component, then VFIO containers and groups after iommufd objects, then
   * by ID. References name their target's type and ID; u64 byte counts are decimal strings.
   */
  rows(): HostObjectRow[] {
    const out: HostObjectRow[] = [];
    for (const o of this.objs.values()) {
      const row: HostObjectRow = {
        component: o.component,
        backend: o.backend,
        id: o.id,
        type: o.type,
        seq: o.seq,
        users: o.users,
        refs: o.refs.flatMap((r) => {
          const t = this.objs.get(r.key);
          return t ? [{ role: r.role, type: t.type, id: t.id }] : [];
        }),
      };
      if (o.auto) row.auto = true;
      if (o.flags.length) row.flags = o.flags.slice();
      if (o.label !== undefined) row.label = o.label;
      if (o.areas) {
        row.areas = o.areas.size;
        row.bytes = o.bytes.toString();
      }
      if (o.iommuType) row.iommuType = o.iommuType;
      if (o.dirty !== undefined) row.dirtyTracking = o.dirty;
      out.push(row);
    }
    const space = (t: HostObjectType): number => (t === 'vfio-container' ? 1 : t === 'vfio-group' ? 2 : 0);
    return out.sort((a, b) => (a.component < b.component ? -1 : a.component > b.component ? 1 : space(a.type) - space(b.type) || a.id - b.id));
  }
}

/** The table after folding `events` (in seq order) — a convenience for small runs and tests. */
export function hostObjectsOf(events: Iterable<FoldEvent>): HostObjectRow[] {
  const fold = new HostObjectFold();
  for (const e of events) fold.apply(e);
  return fold.rows();
}
