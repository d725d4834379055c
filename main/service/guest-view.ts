/**
 * The run view's guest DMA panels behind the contract (issue 8 §3): getIovaSpace and followBuffer,
 * answered from main/store/guest-view.ts.
 *
 * getIovaSpace folds a run's guest DMA events (main/service/iova-space.ts) forward from where the
 * last call stopped (one cursor per run), and keeps checkpoints (clones of the fold) every
 * CHECKPOINT_ROWS fold rows, as getHostObjects does: stepping back costs a clone of the nearest
 * checkpoint plus at most CHECKPOINT_ROWS rows, never a refold from the run's start.
 *
 * followBuffer walks one buffer through the layers (reference trace-formats-and-guest-dma.md B1
 * "Map/unmap path", B3; the guest model's emission order, core/guest/viommu-driver.ts):
 *  1. its 'dma-map' (from a 'dma-unmap': the latest dma-map before it with the same handle, else
 *     the same domain and a range holding its IOVA);
 *  2. the MAP 'request's of its domain whose [virtStart, virtEnd] overlaps the buffer's IOVA range,
 *     after the guest's previous dma-map / dma-unmap and before its own dma-unmap (iommu_map's
 *     map_pages calls are MAP requests the driver adds, delivered at the iotlb_sync_map inside the
 *     same dma_map call, so they sit next to the dma-map event);
 *  3. the host calls and QEMU errors each request caused (getCausedEvents);
 *  4. the device's DMA at its addresses while the IOVA is held: 'translate' in its domain, 'fault'
 *     and 'stale-access' of its endpoint, 'host-dma' of its host device (device-plug's data.host)
 *     at its IOVAs (the shadowed host mapping has the guest's IOVA), up to the flush that frees it
 *     (at most FOLLOW_MAX_ACCESSES);
 *  5. its 'dma-unmap' (same handle, else the first one of its domain at its IOVA);
 *  6. the UNMAP requests covering the range after the previous guest call (a queued unmap's
 *     request is delivered by a later sync), until they cover it or the range is mapped again;
 *  7. the 'guest-sync' that delivered them: the last one before the first UNMAP request (the kick
 *     comes first, viommu_sync_req), after the previous guest call;
 *  8. for a queued unmap, the 'fq-flush' that freed the IOVA: the first one of its domain after the
 *     unmap that freed IOVAs and ran on its CPU's ring or on the timer (fq_ring_free frees the
 *     queuing CPU's ring, fq_flush_timeout every ring; dma-iommu.c).
 */
import type { BufferLink, EventRow, Results } from '../../core/contract/index.ts';
import { EVENT_CATALOG, type KindSpec } from '../../core/events/catalog.ts';
import { num, u64Of } from '../../core/events/text.ts';
import type { GuestViewReader } from '../store/guest-view.ts';
import { FAMILY_LAYER, type HostViewSource } from './host-view.ts';
import { IovaSpaceFold } from './iova-space.ts';

/** Fold rows read per query. */
const PAGE = 5_000;
/** Fold rows between two checkpoints of a run's IOVA fold (at least; more when the fold holds more ranges, so clones cost O(1) per row). */
export const CHECKPOINT_ROWS = 5_000;
/** Runs whose IOVA folds are kept. */
const RUNS_KEPT = 4;
/** Events searched after a dma-map for its chain when it has no dma-unmap. */
export const FOLLOW_WINDOW = 1_000_000;
/** DMA accesses (translate, fault, host-dma, stale-access) returned at most. */
export const FOLLOW_MAX_ACCESSES = 64;
/** Requests examined per search at most (MAP or UNMAP of the buffer's domain). */
const FOLLOW_MAX_REQUESTS = 4096;
/** virtio-iommu request types (virtio spec §5.13.6). */
const T_MAP = 3;
const T_UNMAP = 4;
/** The granule when the domain's probe gave none. */
const DEFAULT_GRANULE = 4096n;

/** An object's own fields, or {} for anything else. */
function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A row's [start, end] u64 range from two fields, or null. */
function spanOf(f: Record<string, unknown>, a: string, b: string): [bigint, bigint] | null {
  const s = u64Of(f[a]);
  const e = u64Of(f[b]);
  return s === undefined || e === undefined ? null : [s, e];
}

const overlaps = (x: [bigint, bigint], y: [bigint, bigint]): boolean => x[0] <= y[1] && y[0] <= x[1];

/** Answers the guest DMA panel methods. */
export class GuestViewSource {
  private readonly folds = new Map<number, { checkpoints: IovaSpaceFold[]; cursor: IovaSpaceFold; rows: number }>();

  constructor(
    private readonly reader: GuestViewReader,
    private readonly hostView: HostViewSource,
  ) {}

  /** The IOVA spaces after event `seq` (default and clamp: the run's last stored event). */
  iovaSpace(runId: number, seq?: number): Results['getIovaSpace'] {
    const count = this.reader.eventCount(runId);
    if (count === null) return { seq: -1, domains: [] };
    const target = Math.min(seq ?? count - 1, count - 1);
    let st = this.folds.get(runId);
    if (!st) {
      const empty = new IovaSpaceFold();
      st = { checkpoints: [empty], cursor: empty.clone(), rows: 0 };
    }
    if (st.cursor.seq > target) {
      // Back to the last checkpoint at or before the target.
      let i = st.checkpoints.length - 1;
      while (i > 0 && st.checkpoints[i].seq > target) i--;
      st.cursor = st.checkpoints[i].clone();
      st.rows = 0;
    }
    const fold = st.cursor;
    const causeOf = (s: number) => this.reader.event(runId, s);
    for (;;) {
      const rows = this.reader.foldRows(runId, fold.seq, target, PAGE);
      for (const r of rows) {
        fold.apply(r, causeOf);
        // Only when folding past the last checkpoint (a refold from an earlier one does not add).
        if (++st.rows >= CHECKPOINT_ROWS && st.rows >= fold.weight && fold.seq > st.checkpoints[st.checkpoints.length - 1].seq) {
          st.checkpoints.push(fold.clone());
          st.rows = 0;
        }
      }
      if (rows.length < PAGE) break;
    }
    fold.seq = Math.max(fold.seq, target);
    this.folds.delete(runId);
    this.folds.set(runId, st);
    while (this.folds.size > RUNS_KEPT) this.folds.delete(this.folds.keys().next().value!);
    return { seq: target, domains: fold.result() };
  }

  /** The chain of the buffer a dma-map / dma-unmap event belongs to (see the file comment). */
  followBuffer(runId: number, seq: number): Results['followBuffer'] {
    const r = this.reader;
    const ev = r.event(runId, seq);
    if (!ev || (ev.kind !== 'dma-map' && ev.kind !== 'dma-unmap')) return null;
    let map: EventRow | null = ev.kind === 'dma-map' ? ev : null;
    let unmap: EventRow | null = ev.kind === 'dma-unmap' ? ev : null;
    if (!map && unmap) map = this.mapOf(runId, unmap);
    if (!map) return null;
    const data = obj(map.fields.data);
    const handle = typeof data.handle === 'string' ? data.handle : null;
    const endpoint = num(map.fields.endpoint);
    const domain = num(map.fields.domain) ?? (endpoint === undefined ? undefined : this.probeOf(runId, endpoint, map.seq)?.domain);
    const granule = domain === undefined ? DEFAULT_GRANULE : (this.granuleOf(runId, domain, map.seq) ?? DEFAULT_GRANULE);
    const iova = u64Of(map.fields.iova);
    let range: [bigint, bigint] | null = null;
    if (num(map.fields.outcome) !== 1 && iova !== undefined) {
      const start = iova - (iova % granule);
      const pages = u64Of(data.pages) ?? (iova % granule + (u64Of(map.fields.size) ?? 0n) + granule - 1n) / granule;
      range = [start, start + (pages > 0n ? pages : 1n) * granule - 1n];
    }
    if (!unmap && range && domain !== undefined) unmap = this.unmapOf(runId, map, handle, domain, range, granule);
    const links: EventRow[] = [map];
    const roles = new Map<number, string>([[map.seq, 'dma-map']]);
    const add = (row: EventRow, role: string) => {
      if (roles.has(row.seq)) return;
      roles.set(row.seq, role);
      links.push(row);
    };
    let truncated = false;
    if (range && domain !== undefined) {
      const windowEnd = unmap ? unmap.seq : map.seq + FOLLOW_WINDOW;
      const prev = this.prevGuestCall(runId, map.seq);
      for (const req of this.requests(runId, domain, T_MAP, prev, windowEnd, range, false)) {
        add(req, 'map-request');
        for (const c of this.hostView.causedEvents(runId, req.seq)) add(c, c.kind);
      }
      let end = windowEnd;
      if (unmap) {
        add(unmap, 'dma-unmap');
        const prevU = this.prevGuestCall(runId, unmap.seq);
        const reqs = this.requests(runId, domain, T_UNMAP, prevU, unmap.seq + FOLLOW_WINDOW, range, true);
        for (const req of reqs) {
          add(req, 'unmap-request');
          for (const c of this.hostView.causedEvents(runId, req.seq)) add(c, c.kind);
        }
        end = reqs.length ? reqs[reqs.length - 1].seq : unmap.seq;
        if (reqs.length) {
          const sync = r.events(runId, { kinds: ['guest-sync'], from: prevU, to: reqs[0].seq, desc: true, limit: 1 })[0];
          if (sync) add(sync, 'guest-sync');
        }
        if (num(unmap.fields.mode) === 1) {
          const flush = this.flushOf(runId, unmap, domain);
          if (flush) {
            add(flush, 'fq-flush');
            end = Math.max(end, flush.seq);
          }
        }
      }
      truncated = this.accesses(runId, map, domain, endpoint, range, end, (row) => add(row, row.kind));
    } else if (unmap) {
      add(unmap, 'dma-unmap');
    }
    const layers = this.layers(runId);
    const out: BufferLink[] = links
      .sort((a, b) => a.seq - b.seq)
      .map((row) => ({
        seq: row.seq,
        kind: row.kind,
        role: roles.get(row.seq) ?? row.kind,
        component: row.component ?? null,
        layer: layers.get(row.component ?? '') ?? familyLayer(row.kind),
        time: row.time ?? null,
        text: row.text,
        problem: row.problem,
      }));
    return {
      seq: map.seq,
      handle,
      domain: domain ?? null,
      iova: range ? [`0x${range[0].toString(16)}`, `0x${range[1].toString(16)}`] : null,
      links: out,
      truncated,
    };
  }

  /** The dma-map a dma-unmap undoes: same handle, else same domain with its IOVA inside the map's range. */
  private mapOf(runId: number, unmap: EventRow): EventRow | null {
    const d = obj(unmap.fields.data);
    const handle = typeof d.handle === 'string' ? d.handle : null;
    const iova = u64Of(unmap.fields.iova);
    const endpoint = num(unmap.fields.endpoint);
    let to = unmap.seq;
    const floor = Math.max(-1, unmap.seq - FOLLOW_WINDOW);
    while (to > floor + 1) {
      const rows = this.reader.events(runId, { kinds: ['dma-map'], from: floor, to, equal: endpoint === undefined ? undefined : { endpoint }, desc: true, limit: 256 });
      for (const m of rows) {
        if (num(m.fields.outcome) === 1) continue;
        const md = obj(m.fields.data);
        if (handle !== null) {
          if (md.handle === handle) return m;
          continue;
        }
        const mi = u64Of(m.fields.iova);
        const size = u64Of(m.fields.size) ?? 0n;
        const md2 = num(m.fields.domain);
        const ud = num(unmap.fields.domain);
        // Same endpoint (the query); a domain both name must agree.
        if (md2 !== undefined && ud !== undefined && md2 !== ud) continue;
        if (mi !== undefined && iova !== undefined && iova >= mi && iova < mi + (size > 0n ? size : 1n)) return m;
      }
      if (rows.length < 256) break;
      to = rows[rows.length - 1].seq;
    }
    return null;
  }

  /** The first dma-unmap after `map` with its handle, else in its domain at its IOVA. */
  private unmapOf(runId: number, map: EventRow, handle: string | null, domain: number, range: [bigint, bigint], granule: bigint): EventRow | null {
    let from = map.seq;
    const to = map.seq + FOLLOW_WINDOW;
    const endpoint = num(map.fields.endpoint);
    while (from < to - 1) {
      const rows = this.reader.events(runId, { kinds: ['dma-unmap'], from, to, equal: endpoint === undefined ? undefined : { endpoint }, limit: 256 });
      for (const u of rows) {
        const ud = obj(u.fields.data);
        if (handle !== null) {
          if (ud.handle === handle) return u;
          continue;
        }
        const ui = u64Of(u.fields.iova);
        const ud2 = num(u.fields.domain) ?? domain;
        if (ui !== undefined && ud2 === domain && ui - (ui % granule) === range[0]) return u;
      }
      if (rows.length < 256) break;
      from = rows[rows.length - 1].seq;
    }
    return null;
  }

  /** The seq of the last dma-map / dma-unmap before `seq` (-1 when none within FOLLOW_WINDOW). */
  private prevGuestCall(runId: number, seq: number): number {
    const from = Math.max(-1, seq - FOLLOW_WINDOW);
    return this.reader.events(runId, { kinds: ['dma-map', 'dma-unmap'], from, to: seq, desc: true, limit: 1 })[0]?.seq ?? from;
  }

  /**
   * Requests of `type` in `domain` overlapping `range` with from < seq < to. UNMAPs (`cover`):
   * until their union covers the range, or a MAP of the domain overlapping it comes first (the
   * range was mapped again).
   */
  private requests(runId: number, domain: number, type: number, from: number, to: number, range: [bigint, bigint], cover: boolean): EventRow[] {
    const out: EventRow[] = [];
    let seen = 0;
    let cursor = from;
    let covered = range[0];
    while (cursor < to - 1 && seen < FOLLOW_MAX_REQUESTS) {
      const rows = this.reader.events(runId, { kinds: ['request'], from: cursor, to, equal: { domain }, limit: 512 });
      for (const q of rows) {
        seen++;
        const t = num(q.fields.reqType);
        const span = spanOf(q.fields, 'virtStart', 'virtEnd');
        if (!span || !overlaps(span, range)) continue;
        // The buffer's own MAPs may sit in the window (a map then its unmap); a MAP after an UNMAP
        // found is the range mapped again.
        if (cover && t === T_MAP) {
          if (out.length) return out;
          continue;
        }
        if (t !== type) continue;
        out.push(q);
        if (cover) {
          if (span[0] <= covered && span[1] >= covered) covered = span[1] + 1n;
          if (covered > range[1]) return out;
        }
      }
      if (rows.length < 512) break;
      cursor = rows[rows.length - 1].seq;
    }
    return out;
  }

  /** The fq-flush that freed a queued unmap's IOVA (see the file comment, 8). */
  private flushOf(runId: number, unmap: EventRow, domain: number): EventRow | null {
    const cpu = num(obj(unmap.fields.data).cpu);
    let from = unmap.seq;
    const to = unmap.seq + FOLLOW_WINDOW;
    while (from < to - 1) {
      const rows = this.reader.events(runId, { kinds: ['fq-flush'], from, to, equal: { domain }, limit: 64 });
      for (const f of rows) {
        if ((num(f.fields.freed) ?? 0) === 0) continue;
        if (num(f.fields.reason) === 1 || cpu === undefined || num(obj(f.fields.data).cpu) === cpu) return f;
      }
      if (rows.length < 64) break;
      from = rows[rows.length - 1].seq;
    }
    return null;
  }

  /** DMA at the buffer's addresses with map.seq < seq < end; true when some were left out. */
  private accesses(runId: number, map: EventRow, domain: number, endpoint: number | undefined, range: [bigint, bigint], end: number, add: (row: EventRow) => void): boolean {
    const queries: { kinds: string[]; equal?: Record<string, number>; a: string; size?: string; host?: string }[] = [
      { kinds: ['translate'], equal: { domain }, a: 'iova', size: 'size' },
    ];
    // The host IOMMU sees the assigned device's host side only (an emulated device has none): its
    // host device from the endpoint's device-plug, matched against host-dma's data.device.
    const host = endpoint === undefined ? undefined : this.hostDeviceOf(runId, endpoint, map.seq);
    if (host !== undefined) queries.push({ kinds: ['host-dma'], a: 'iova', size: 'size', host });
    if (endpoint !== undefined) queries.push({ kinds: ['fault', 'stale-access'], equal: { endpoint }, a: 'address' });
    const found: EventRow[] = [];
    let truncated = false;
    for (const q of queries) {
      let cursor = map.seq;
      let scanned = 0;
      while (cursor < end && scanned < FOLLOW_MAX_REQUESTS * 4) {
        const rows = this.reader.events(runId, { kinds: q.kinds, from: cursor, to: end + 1, equal: q.equal, limit: 512 });
        for (const row of rows) {
          scanned++;
          const a = u64Of(row.fields[q.a]);
          if (a === undefined) continue;
          if (q.host !== undefined && obj(row.fields.data).device !== q.host) continue;
          const size = q.size ? (u64Of(row.fields[q.size]) ?? 1n) : 1n;
          if (!overlaps([a, a + (size > 0n ? size : 1n) - 1n], range)) continue;
          found.push(row);
        }
        if (rows.length < 512) break;
        cursor = rows[rows.length - 1].seq;
      }
      if (scanned >= FOLLOW_MAX_REQUESTS * 4) truncated = true;
    }
    found.sort((x, y) => x.seq - y.seq);
    if (found.length > FOLLOW_MAX_ACCESSES) truncated = true;
    for (const row of found.slice(0, FOLLOW_MAX_ACCESSES)) add(row);
    return truncated;
  }

  /** The host device behind a guest endpoint (its latest device-plug before `seq`, data.host); undefined for an emulated device. */
  private hostDeviceOf(runId: number, endpoint: number, seq: number): string | undefined {
    const p = this.reader.events(runId, { kinds: ['device-plug'], from: -1, to: seq, equal: { endpoint }, desc: true, limit: 1 })[0];
    const h = p ? obj(p.fields.data).host : undefined;
    return typeof h === 'string' ? h : undefined;
  }

  /** The latest successful guest-probe of `endpoint` before `seq`. */
  private probeOf(runId: number, endpoint: number, seq: number): { domain: number } | null {
    const p = this.reader.events(runId, { kinds: ['guest-probe'], from: -1, to: seq, equal: { endpoint }, desc: true, limit: 8 }).find((x) => num(x.fields.init) !== 2);
    const d = p ? num(p.fields.domain) : undefined;
    return d === undefined ? null : { domain: d };
  }

  /** The domain's granule from its latest guest-probe before `seq` (bytes), null when none. */
  private granuleOf(runId: number, domain: number, seq: number): bigint | null {
    const p = this.reader.events(runId, { kinds: ['guest-probe'], from: -1, to: seq, equal: { domain }, desc: true, limit: 1 })[0];
    const g = p ? u64Of(obj(p.fields.data).granule) : undefined;
    return g !== undefined && g > 0n ? g : null;
  }

  private layers(runId: number): Map<string, string> {
    return new Map(this.hostView.listComponents(runId).map((c) => [c.id, c.layer]));
  }
}

/** The layer of a kind's family. */
function familyLayer(kind: string): string {
  const spec = (EVENT_CATALOG as Readonly<Record<string, KindSpec>>)[kind];
  return spec ? FAMILY_LAYER[spec.family] : 'run';
}
