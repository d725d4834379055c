/**
 * The read query behind getTimeSeries (issue 9 §3, the compare view's plots): a run's events that
 * change its live mappings, IOVA bytes mapped or faults, in seq order, on the store's own read-only
 * connection (ReadQueries), fields already reduced to what the fold needs. Kind codes and columns
 * come from the event catalog (core/events/catalog.ts), never spelled here.
 *
 * One scan of the run's key range (the events table has no kind index: schema.ts), the kinds
 * filtered in SQL, rows returned raw (arrays, no objects) and delivered in chunks through a
 * callback, so a run of a million events answers in a few hundred milliseconds without holding
 * them all as objects.
 */
import { EVENT_CATALOG, type KindSpec } from '../../core/events/catalog.ts';
import { ReadQueries } from './read-queries.ts';
import { KIND_CODE } from './schema.ts';

/** The kinds the time series reads, by what they change. */
export const TIME_SERIES_KINDS = {
  /** The vIOMMU's mappings (QEMU virtio_iommu_map / virtio_iommu_unmap_done / virtio_iommu_put_domain). */
  device: ['map', 'unmap', 'domain-free'],
  /** The guest's dma-iommu mappings (dma_map_* / dma_unmap_*). */
  guest: ['dma-map', 'dma-unmap'],
  /** An imported trace's mappings (iommu:map / iommu:unmap, virtio_iommu_map / _unmap, iommufd/VFIO map notifies). */
  trace: ['trace-map', 'trace-unmap'],
  /** Faults: reported by the vIOMMU, by the physical IOMMU on an assigned device's DMA, in a trace. */
  fault: ['fault', 'host-dma', 'trace-fault'],
} as const;

/**
 * One row as the fold reads it, a tuple (raw row, four values: each value a row carries costs
 * marshalling time, and a run can have a million of them): [seq, code, time (ns; null when the
 * event has none), amount].
 *  - code packs the kind, the domain and a flag: ((domain + 1) · 64 + kind code) · 4 + flag, with
 *    domain −1 when absent (unpackCode splits it);
 *  - flag: dma-map's outcome (0 mapped, 1 DMA_MAPPING_ERROR), host-dma's outcome (1 fault), else 0;
 *  - amount: map / unmap: the range's bytes, virtEnd − virtStart + 1 (0 for the whole u64 space:
 *    the reader adds 2^64); dma-map, dma-unmap, trace-map: size; trace-unmap: the bytes unmapped
 *    when the line gives them, else size; null for the other kinds.
 * u64 bytes are SQLite integers (two's complement of the u64): differences wrap as u64 do, and
 * arrive as doubles (exact below 2^53; a plot needs no more).
 */
export type TimeSeriesRow = [seq: number, code: number, time: number | null, amount: number | null];

/** The kind code, domain (null when absent) and flag packed in a TimeSeriesRow's code. */
export function unpackCode(code: number): { kind: number; domain: number | null; flag: number } {
  const flag = code % 4;
  const q = (code - flag) / 4;
  const kind = q % 64;
  const d = (q - kind) / 64 - 1;
  return { kind, domain: d < 0 ? null : d, flag };
}

/** The stored column of a kind's field (throws for a kind or field the catalog lacks: a bug here). */
function col(kind: string, field: string): string {
  const c = (EVENT_CATALOG as Readonly<Record<string, KindSpec>>)[kind]?.fields[field]?.column;
  if (!c) throw new Error(`time-series: catalog has no ${kind}.${field}`);
  return c;
}

/** The numeric code of a kind. */
export function kindCode(kind: string): number {
  const c = (KIND_CODE as Readonly<Record<string, number>>)[kind];
  if (c === undefined) throw new Error(`time-series: catalog has no kind ${kind}`);
  return c;
}

/** Rows delivered per callback. */
const CHUNK = 8192;

/** The time-series query. Errors: LabDatabaseError when the database cannot be opened (on first use). */
export class TimeSeriesReader extends ReadQueries {
  private sql: string | null = null;
  /** runs has the `source` column (known on first use). */
  private hasSource: boolean | null = null;

  /** The query text, built once from the catalog. */
  private query(): string {
    if (this.sql) return this.sql;
    const k = kindCode;
    const span = (kind: string) => `(${col(kind, 'virtEnd')} - ${col(kind, 'virtStart')} + 1)`;
    const amount = `CASE kind
      WHEN ${k('map')} THEN ${span('map')}
      WHEN ${k('unmap')} THEN ${span('unmap')}
      WHEN ${k('dma-map')} THEN ${col('dma-map', 'size')}
      WHEN ${k('dma-unmap')} THEN ${col('dma-unmap', 'size')}
      WHEN ${k('trace-map')} THEN ${col('trace-map', 'size')}
      WHEN ${k('trace-unmap')} THEN coalesce(${col('trace-unmap', 'unmapped')}, ${col('trace-unmap', 'size')})
      END`;
    const flag = `CASE kind
      WHEN ${k('dma-map')} THEN min(${col('dma-map', 'outcome')}, 3)
      WHEN ${k('host-dma')} THEN min(${col('host-dma', 'outcome')}, 3)
      ELSE 0 END`;
    const kinds = Object.values(TIME_SERIES_KINDS).flat().map(k);
    if (kinds.some((c) => c >= 64)) throw new Error('time-series: a kind code does not fit the packed code (< 64)');
    // Every domain-carrying kind keeps it in the `domain` column (catalog: map, unmap, domain-free, dma-*, trace-*).
    for (const kind of ['map', 'unmap', 'domain-free', 'dma-map', 'dma-unmap', 'trace-map', 'trace-unmap']) {
      if (col(kind, 'domain') !== 'domain') throw new Error(`time-series: ${kind}.domain is not in the domain column`);
    }
    this.sql = `SELECT seq, ((coalesce(domain, -1) + 1) * 64 + kind) * 4 + ${flag}, ${this.envelope ? 'time' : 'NULL'}, ${amount}
      FROM events WHERE run_id = ? AND kind IN (${kinds.join(', ')}) ORDER BY seq`;
    return this.sql;
  }

  /**
   * Calls `onRows` with the run's rows (TimeSeriesRow) in seq order, CHUNK at a time (the array is
   * reused: copy what you keep).
   */
  scan(runId: number, onRows: (rows: TimeSeriesRow[], n: number) => void): void {
    this.db();
    const stmt = this.stmt(this.query()).raw(true);
    const buf: TimeSeriesRow[] = [];
    let n = 0;
    for (const row of stmt.iterate(runId) as IterableIterator<TimeSeriesRow>) {
      buf[n++] = row;
      if (n === CHUNK) {
        onRows(buf, n);
        n = 0;
      }
    }
    if (n) onRows(buf, n);
  }

  /** The run's last stored event: its seq and time (ns; null without one); null when the run has no events. */
  lastEvent(runId: number): { seq: number; time: number | null } | null {
    this.db();
    const row = this.stmt(`SELECT seq, ${this.envelope ? 'time' : 'NULL'} AS time FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1`).get(runId) as
      | { seq: number; time: number | null }
      | undefined;
    return row ?? null;
  }

  /**
   * Whether the run exists, and whether it is an imported trace (runs.source kind 'trace', whose
   * times are on the trace's clock); null for an unknown run.
   */
  run(runId: number): { trace: boolean } | null {
    const db = this.db();
    if (this.hasSource === null) this.hasSource = (db.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).some((c) => c.name === 'source');
    const row = this.stmt(`SELECT ${this.hasSource ? "json_extract(source, '$.kind')" : 'NULL'} AS kind FROM runs WHERE id = ?`).get(runId) as { kind: string | null } | undefined;
    return row ? { trace: row.kind === 'trace' } : null;
  }

  /** The run's first event time (ns), null when no event carries one (imported traces count from it). */
  firstTime(runId: number): number | null {
    this.db();
    if (!this.envelope) return null;
    const row = this.stmt('SELECT time FROM events WHERE run_id = ? AND time IS NOT NULL ORDER BY seq LIMIT 1').get(runId) as { time: number } | undefined;
    return row?.time ?? null;
  }
}
