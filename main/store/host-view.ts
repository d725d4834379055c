/**
 * Read queries of the run view's component and host panels (issue 7 §5), on their own read-only
 * connection (openReadOnlyDatabase: the file, or an image of it on read-only media):
 *  - a run's event counts per emitting component and kind (events.comp, schema version 6);
 *  - the events a guest event caused (host-call / qemu-error whose `cause` = its seq);
 *  - a run's 'host-call' events in a seq range, decoded, for the host object fold
 *    (core/events/objects.ts).
 * Kinds and columns come from the event catalog (core/events/catalog.ts), never spelled here.
 */
import type { EventRow } from '../../core/contract/index.ts';
import { EVENT_CATALOG, type KindSpec } from '../../core/events/catalog.ts';
import { decodeFields, type RawEventRow } from './codec.ts';
import { LEGACY_COMPONENT, toEventRow } from './reader.ts';
import { EVENT_COLUMNS, KIND_CODE } from './schema.ts';
import { ReadQueries } from './read-queries.ts';

/** Events on either side of a guest event searched for the host calls it caused (they are emitted while it executes). */
export const CAUSE_WINDOW = 4096;
/** Most caused events returned. */
export const CAUSED_MAX = 256;

/** A 'host-call' event as the fold reads it. */
export interface HostCallRow {
  seq: number;
  kind: string;
  component: string | null;
  fields: Record<string, unknown>;
}

/** The stored column of a kind's field (undefined when the kind or field is not declared). */
function columnOf(kind: string, field: string): string | undefined {
  const spec = (EVENT_CATALOG as Readonly<Record<string, KindSpec>>)[kind];
  return spec?.fields[field]?.column;
}

/** Read queries for the component and host panels. Errors: LabDatabaseError when the database cannot be opened (on first use). */
export class HostViewReader extends ReadQueries {

  /**
   * The run's components as runs.components lists them (code n is entry n − 1): an id, or an
   * object {id, kind?, layer?}; [] before schema version 6 or when unreadable.
   */
  componentSpecs(runId: number): { id: string; kind?: string; layer?: string }[] {
    this.db();
    if (!this.envelope) return [];
    const row = this.stmt('SELECT components FROM runs WHERE id = ?').get(runId) as { components: string | null } | undefined;
    try {
      const v: unknown = row?.components ? JSON.parse(row.components) : [];
      if (!Array.isArray(v)) return [];
      return v.map((x) => {
        if (typeof x !== 'object' || x === null) return { id: String(x) };
        const o = x as Record<string, unknown>;
        return { id: String(o.id), kind: typeof o.kind === 'string' ? o.kind : undefined, layer: typeof o.layer === 'string' ? o.layer : undefined };
      });
    } catch {
      return [];
    }
  }

  /** The run's component ids (runs.components: code n is ids[n − 1]); [] before schema version 6. */
  componentIds(runId: number): string[] {
    return this.componentSpecs(runId).map((c) => c.id);
  }

  /** The run's status and stored event count; null for an unknown run. */
  run(runId: number): { status: string; events: number } | null {
    const r = this.stmt('SELECT status, event_count AS events FROM runs WHERE id = ?').get(runId) as { status: string; events: number } | undefined;
    return r ?? null;
  }

  /**
   * Events per component id and kind code: `component` '' for the run's own events, the vIOMMU
   * (LEGACY_COMPONENT) for rows stored before schema version 6. One scan of the run's events.
   */
  componentKindCounts(runId: number): { component: string; kind: number; events: number }[] {
    this.db();
    const ids = this.componentIds(runId);
    const sql = this.envelope
      ? 'SELECT comp, kind, count(*) AS n FROM events WHERE run_id = ? GROUP BY comp, kind'
      : 'SELECT NULL AS comp, kind, count(*) AS n FROM events WHERE run_id = ? GROUP BY kind';
    const rows = this.stmt(sql).all(runId) as { comp: number | null; kind: number; n: number }[];
    return rows.map((r) => ({
      component: r.comp === null ? LEGACY_COMPONENT : r.comp === 0 ? '' : (ids[r.comp - 1] ?? `#${r.comp}`),
      kind: r.kind,
      events: r.n,
    }));
  }

  /**
   * The 'host-call' and 'qemu-error' events a guest event caused, in seq order, at most
   * CAUSED_MAX: those whose `cause` is `seq`; for a virtio-iommu 'request' event, whose cause is
   * any event of that request (after the step's previous request, up to it: the shadowed calls
   * name the 'map' / 'unmap' / 'attach' / 'detach' event emitted before the request's own,
   * core/host/shadow.ts). Searched in the same step within CAUSE_WINDOW events (a shadowed call is
   * made while its guest request executes).
   */
  causedBy(runId: number, seq: number): EventRow[] {
    const ev = this.stmt('SELECT step, kind FROM events WHERE run_id = ? AND seq = ?').get(runId, seq) as { step: number; kind: number } | undefined;
    if (!ev) return [];
    const codes = KIND_CODE as Readonly<Record<string, number>>;
    let from = seq;
    if (ev.kind === codes.request) {
      const prev = this.stmt(`SELECT max(seq) AS p FROM events WHERE run_id = ? AND seq BETWEEN ? AND ? AND step = ? AND kind = ${codes.request}`).get(
        runId,
        Math.max(0, seq - CAUSE_WINDOW),
        seq - 1,
        ev.step,
      ) as { p: number | null };
      from = prev.p === null ? Math.max(0, seq - CAUSE_WINDOW) : prev.p + 1;
    }
    const parts: string[] = [];
    for (const kind of ['host-call', 'qemu-error']) {
      const col = columnOf(kind, 'cause');
      const code = codes[kind];
      if (col && code !== undefined) parts.push(`(kind = ${code} AND ${col} BETWEEN ? AND ?)`);
    }
    if (!parts.length) return [];
    const cols = `seq, step, kind, ${EVENT_COLUMNS.join(', ')}, ${this.envelope ? 'comp, time' : 'NULL AS comp, NULL AS time'}`;
    const raw = this.stmt(
      `SELECT ${cols} FROM events WHERE run_id = ? AND seq BETWEEN ? AND ? AND step = ? AND (${parts.join(' OR ')}) ORDER BY seq LIMIT ${CAUSED_MAX}`,
    )
      .safeIntegers(true)
      .all(runId, Math.max(0, from - CAUSE_WINDOW), seq + CAUSE_WINDOW, ev.step, ...parts.flatMap(() => [from, seq])) as RawEventRow[];
    const ids = this.componentIds(runId);
    return raw.map((r) => toEventRow(r, ids));
  }

  /**
   * The run's events the host object fold reads ('host-call', and 'iommu-group' for groups named
   * by a device) with from < seq ≤ to, in seq order, at most `limit`, fields decoded (no text).
   */
  hostCalls(runId: number, from: number, to: number, limit: number): HostCallRow[] {
    const codes = ['host-call', 'iommu-group'].map((k) => (KIND_CODE as Readonly<Record<string, number>>)[k]).filter((c) => c !== undefined);
    if (!codes.length || to <= from) return [];
    const cols = `seq, step, kind, ${EVENT_COLUMNS.join(', ')}, ${this.envelope ? 'comp' : 'NULL AS comp'}`;
    const raw = this.stmt(`SELECT ${cols} FROM events WHERE run_id = ? AND seq > ? AND seq <= ? AND kind IN (${codes.join(', ')}) ORDER BY seq LIMIT ?`)
      .safeIntegers(true)
      .all(runId, from, to, limit) as (RawEventRow & { comp: bigint | null })[];
    const ids = this.componentIds(runId);
    return raw.map((r) => {
      const { kind, fields } = decodeFields(r);
      const c = r.comp === null ? null : Number(r.comp);
      return { seq: Number(r.seq), kind, component: c === null ? LEGACY_COMPONENT : c === 0 ? null : (ids[c - 1] ?? `#${c}`), fields };
    });
  }
}
