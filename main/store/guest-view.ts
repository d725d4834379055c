/**
 * Read queries of the run view's guest DMA panels (issue 8 §3), on their own read-only connection
 * (openReadOnlyDatabase), as main/store/host-view.ts does for the host panels:
 *  - the events the IOVA space fold reads (guest-probe, iova-reserve, dma-map, dma-unmap,
 *    device-plug, hiod-realize, failed host calls and QEMU errors with a cause, MAP requests whose
 *    status is not OK) in a seq range, fields decoded, no text;
 *  - the events a followed buffer's chain is searched in: by kind, seq range and optional domain /
 *    endpoint / request type, as EventRows (text, component, virtual time).
 * Kinds and columns come from the event catalog (core/events/catalog.ts), never spelled here; the
 * table has no kind index (schema.ts: a scan of one run's key range), so every query is bounded by
 * a seq range and a LIMIT.
 */
import type { EventRow } from '../../core/contract/index.ts';
import { EVENT_CATALOG, type KindSpec } from '../../core/events/catalog.ts';
import { decodeFields, type RawEventRow } from './codec.ts';
import { LEGACY_COMPONENT, toEventRow } from './reader.ts';
import { EVENT_COLUMNS, KIND_CODE } from './schema.ts';
import { ReadQueries } from './read-queries.ts';

/** A stored event as the IOVA fold reads it: fields decoded (u64 as "0x…"), no text. */
export interface GuestFoldRow {
  seq: number;
  kind: string;
  /** Emitting component id; null for the run's own events. */
  component: string | null;
  fields: Record<string, unknown>;
}

/** Filters of GuestViewReader.events: kinds, the seq range from < seq < to, and optional field equalities. */
export interface GuestEventQuery {
  kinds: readonly string[];
  /** Exclusive lower bound. */
  from: number;
  /** Exclusive upper bound. */
  to: number;
  /** Catalog field name → value (integer fields only: domain, endpoint, reqType, …); a kind lacking the field is left out. */
  equal?: Readonly<Record<string, number>>;
  /** Newest first (the last events before `to`). */
  desc?: boolean;
  limit: number;
}

/** The virtio-iommu request type MAP (virtio spec §5.13.6: VIRTIO_IOMMU_T_MAP). */
const T_MAP = 3;

/** The stored column of a kind's field (undefined when the kind or field is not declared). */
function columnOf(kind: string, field: string): string | undefined {
  const spec = (EVENT_CATALOG as Readonly<Record<string, KindSpec>>)[kind];
  return spec?.fields[field]?.column;
}

/** The numeric code of a kind (undefined when not declared). */
function codeOf(kind: string): number | undefined {
  return (KIND_CODE as Readonly<Record<string, number>>)[kind];
}

/** Read queries for the guest DMA panels. Errors: LabDatabaseError when the database cannot be opened (on first use). */
export class GuestViewReader extends ReadQueries {

  private cols(): string {
    this.db();
    return `seq, step, kind, ${EVENT_COLUMNS.join(', ')}, ${this.envelope ? 'comp, time' : 'NULL AS comp, NULL AS time'}`;
  }

  /** The run's component ids (runs.components: code n is ids[n − 1]); [] before schema version 6. */
  componentIds(runId: number): string[] {
    this.db();
    if (!this.envelope) return [];
    const row = this.stmt('SELECT components FROM runs WHERE id = ?').get(runId) as { components: string | null } | undefined;
    try {
      const v: unknown = row?.components ? JSON.parse(row.components) : [];
      return Array.isArray(v) ? v.map((x) => (typeof x === 'object' && x !== null ? String((x as { id?: unknown }).id) : String(x))) : [];
    } catch {
      return [];
    }
  }

  /** The run's stored event count; null for an unknown run. */
  eventCount(runId: number): number | null {
    const r = this.stmt('SELECT event_count AS events FROM runs WHERE id = ?').get(runId) as { events: number } | undefined;
    return r ? r.events : null;
  }

  /**
   * The events the IOVA space fold reads with from < seq ≤ to, in seq order, at most `limit`:
   * every guest-probe, iova-reserve, dma-map, dma-unmap, device-plug and hiod-realize; host calls
   * with errno ≠ 0 and a cause; QEMU errors with a cause; MAP requests whose status is not OK (or
   * absent: the device wrote nothing).
   */
  foldRows(runId: number, from: number, to: number, limit: number): GuestFoldRow[] {
    if (to <= from) return [];
    const plain = ['guest-probe', 'iova-reserve', 'dma-map', 'dma-unmap', 'device-plug', 'hiod-realize'].map(codeOf).filter((c) => c !== undefined);
    const parts = [`kind IN (${plain.join(', ')})`];
    const hc = codeOf('host-call');
    const hcErr = columnOf('host-call', 'errno');
    const hcCause = columnOf('host-call', 'cause');
    if (hc !== undefined && hcErr && hcCause) parts.push(`(kind = ${hc} AND ${hcErr} <> 0 AND ${hcCause} IS NOT NULL)`);
    const qe = codeOf('qemu-error');
    const qeCause = columnOf('qemu-error', 'cause');
    if (qe !== undefined && qeCause) parts.push(`(kind = ${qe} AND ${qeCause} IS NOT NULL)`);
    const rq = codeOf('request');
    const rqType = columnOf('request', 'reqType');
    const rqStatus = columnOf('request', 'status');
    if (rq !== undefined && rqType && rqStatus) parts.push(`(kind = ${rq} AND ${rqType} = ${T_MAP} AND (${rqStatus} IS NULL OR ${rqStatus} <> 0))`);
    const raw = this.stmt(`SELECT ${this.cols()} FROM events WHERE run_id = ? AND seq > ? AND seq <= ? AND (${parts.join(' OR ')}) ORDER BY seq LIMIT ?`)
      .safeIntegers(true)
      .all(runId, from, to, limit) as RawEventRow[];
    const ids = this.componentIds(runId);
    return raw.map((r) => {
      const { kind, fields } = decodeFields(r);
      return { seq: Number(r.seq), kind, component: componentName(r.comp, ids), fields };
    });
  }

  /** One event as an EventRow (text, component, time); null when none. */
  event(runId: number, seq: number): EventRow | null {
    const r = this.stmt(`SELECT ${this.cols()} FROM events WHERE run_id = ? AND seq = ?`).safeIntegers(true).get(runId, seq) as RawEventRow | undefined;
    return r ? toEventRow(r, this.componentIds(runId)) : null;
  }

  /**
   * Events of `q.kinds` with q.from < seq < q.to whose integer fields equal `q.equal`, in seq order
   * (or newest first with `desc`), at most `q.limit`, as EventRows.
   */
  events(runId: number, q: GuestEventQuery): EventRow[] {
    if (q.to - q.from <= 1 || q.limit <= 0) return [];
    const parts: string[] = [];
    const args: number[] = [];
    for (const kind of q.kinds) {
      const code = codeOf(kind);
      if (code === undefined) continue;
      const conds = [`kind = ${code}`];
      let ok = true;
      for (const [field, value] of Object.entries(q.equal ?? {})) {
        const col = columnOf(kind, field);
        if (!col) {
          ok = false;
          break;
        }
        conds.push(`${col} = ?`);
        args.push(value);
      }
      if (ok) parts.push(`(${conds.join(' AND ')})`);
    }
    if (!parts.length) return [];
    const raw = this.stmt(
      `SELECT ${this.cols()} FROM events WHERE run_id = ? AND seq > ? AND seq < ? AND (${parts.join(' OR ')}) ORDER BY seq ${q.desc ? 'DESC' : 'ASC'} LIMIT ?`,
    )
      .safeIntegers(true)
      .all(runId, q.from, q.to, ...args, q.limit) as RawEventRow[];
    const ids = this.componentIds(runId);
    return raw.map((r) => toEventRow(r, ids));
  }
}

/** A stored component code as its id: LEGACY_COMPONENT before schema version 6, null for the run's own. */
function componentName(comp: bigint | null | undefined, ids: readonly string[]): string | null {
  if (comp === null || comp === undefined) return LEGACY_COMPONENT;
  const c = Number(comp);
  return c === 0 ? null : (ids[c - 1] ?? `#${c}`);
}
