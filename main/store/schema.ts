/**
 * The SQLite schema of the lab database and its ordered migrations.
 *
 * The `events` table's typed columns come from the event catalog (core/events/catalog.ts): every
 * catalog field names the column it is stored in, `COLUMN_SQL_TYPE` gives each column its SQL
 * type, and `ensureCatalogColumns` adds any column the catalog declares that the table lacks, so a
 * new catalog column needs no hand-written migration. Everything else changes only by appending a
 * migration to `MIGRATIONS` (never edit a released one: databases in users' data directories
 * were created by it).
 * Released migrations therefore never read the live catalog's column list (version 1's events
 * columns are frozen in V1_COLUMNS); a column that replaces stored data (version 3: `used`, the
 * request used length, from its old JSON in `data`) gets its own migration that converts rows.
 *
 * Invariants the readers rely on:
 * - `events` is keyed by (run_id, seq), WITHOUT ROWID, and a run's committed events are exactly
 *   seq 0..runs.event_count-1 (the writer commits whole prefixes; see writer.ts).
 * - u64 fields are stored as BigInt.asIntN(64, v) in INTEGER columns (see codec.ts).
 * - `events_problems` is a partial index whose WHERE clause is `PROBLEM_SQL` verbatim, so the
 *   planner uses it for problemsOnly queries; it holds only problem events (faults, device errors,
 *   failed expectations: rare in a normal run), so it costs almost nothing at ingest (a full
 *   (run_id, kind) index costs ~25% of ingest throughput, and a scan of one run's key range is
 *   fast enough for the other filters).
 */
import type Database from 'better-sqlite3';
import { EVENT_CATALOG, type Column, type EventKind, type FieldSpec } from '../../core/events/catalog.ts';
import { PROBLEM_RULES } from '../../core/events/problems.ts';

/** SQL type of each catalog storage column (exhaustive: a new Column fails to compile here). */
export const COLUMN_SQL_TYPE: Readonly<Record<Column, 'INTEGER' | 'TEXT'>> = {
  status: 'INTEGER',
  domain: 'INTEGER',
  endpoint: 'INTEGER',
  a: 'INTEGER',
  b: 'INTEGER',
  c: 'INTEGER',
  flags: 'INTEGER',
  aux: 'INTEGER',
  data: 'TEXT',
  used: 'INTEGER',
};

/** The events table's storage columns as version 1 created them (frozen: migration 1 is released). */
const V1_COLUMNS: readonly [Column, 'INTEGER' | 'TEXT'][] = [
  ['status', 'INTEGER'],
  ['domain', 'INTEGER'],
  ['endpoint', 'INTEGER'],
  ['a', 'INTEGER'],
  ['b', 'INTEGER'],
  ['c', 'INTEGER'],
  ['flags', 'INTEGER'],
  ['aux', 'INTEGER'],
  ['data', 'TEXT'],
];

/** Catalog storage columns in table order. */
export const EVENT_COLUMNS = Object.keys(COLUMN_SQL_TYPE) as Column[];

/** Envelope storage columns beyond run_id, seq, step, kind (version 6): the emitting component's code, the virtual time in ns. */
export type EnvelopeColumn = 'comp' | 'time' | 'line';

/** Envelope columns and their SQL types (version 6; frozen: a later change needs a migration). */
export const ENVELOPE_COLUMNS: readonly [EnvelopeColumn, 'INTEGER'][] = [
  ['comp', 'INTEGER'],
  ['time', 'INTEGER'],
];

/** The envelope column of imported events (version 9): the event's line in the trace file (NULL for emulated events). */
export const LINE_COLUMN: readonly [EnvelopeColumn, 'INTEGER'] = ['line', 'INTEGER'];

/** Kind codes used in SQL (stable: the catalog never renumbers). */
export const KIND_CODE = Object.fromEntries(Object.entries(EVENT_CATALOG).map(([k, s]) => [k, s.code])) as Record<EventKind, number>;

/**
 * SQL predicate selecting "problem" events, derived from the catalog's problem rules
 * (core/events/problems.ts PROBLEM_RULES), one term per kind in code order: `always` → the kind;
 * `equals` → the kind and column = value; `absent-or-not` → the kind and (column IS NULL or
 * column <> value). The partial index `events_problems` is created with this text verbatim (the
 * latest migration that creates it must use the same text; tests/main/problems.test.ts checks).
 */
export const PROBLEM_SQL = `(${PROBLEM_RULES.map(({ code, rule, column }) =>
  rule.when === 'always' ? `kind = ${code}` : rule.when === 'equals' ? `(kind = ${code} AND ${column} = ${rule.value})` : `(kind = ${code} AND (${column} IS NULL OR ${column} <> ${rule.value}))`,
).join(' OR ')})`;

/** PROBLEM_SQL as version 2 created the index (faults and failed expectations). Frozen. */
const V2_PROBLEM_SQL = '(kind = 13 OR (kind = 18 AND flags = 0))';

/**
 * PROBLEM_SQL as version 5 creates the index: device errors joined (requests not OK or unwritten,
 * refused config writes, device-error). Frozen: a catalog whose rules give another PROBLEM_SQL
 * needs a new migration that recreates the index with it.
 */
export const V5_PROBLEM_SQL =
  '((kind = 2 AND (status IS NULL OR status <> 0)) OR kind = 13 OR (kind = 15 AND flags = 0) OR kind = 16 OR (kind = 18 AND flags = 0))';

/**
 * PROBLEM_SQL as version 7 creates the index: the host side's kinds joined (host calls with an
 * errno, host DMA faults, host faults, HostIOMMUDevice realize failures, refused set_iommu_device,
 * failed device plugs, QEMU error reports; core/events/catalog.ts codes 19…26). Frozen.
 */
export const V7_PROBLEM_SQL =
  '((kind = 2 AND (status IS NULL OR status <> 0)) OR kind = 13 OR (kind = 15 AND flags = 0) OR kind = 16 OR (kind = 18 AND flags = 0) OR (kind = 19 AND (status IS NULL OR status <> 0)) OR (kind = 20 AND aux = 1) OR kind = 21 OR (kind = 23 AND (status IS NULL OR status <> 0)) OR (kind = 24 AND (status IS NULL OR status <> 0)) OR (kind = 25 AND (status IS NULL OR status <> 0)) OR kind = 26)';

/**
 * PROBLEM_SQL as version 8 creates the index: the guest DMA layer's kinds joined (failed guest
 * probes, failed dma_map, stale translations, guest kernel warnings; core/events/catalog.ts codes
 * 27…35). Frozen.
 */
export const V8_PROBLEM_SQL =
  '((kind = 2 AND (status IS NULL OR status <> 0)) OR kind = 13 OR (kind = 15 AND flags = 0) OR kind = 16 OR (kind = 18 AND flags = 0) OR (kind = 19 AND (status IS NULL OR status <> 0)) OR (kind = 20 AND aux = 1) OR kind = 21 OR (kind = 23 AND (status IS NULL OR status <> 0)) OR (kind = 24 AND (status IS NULL OR status <> 0)) OR (kind = 25 AND (status IS NULL OR status <> 0)) OR kind = 26 OR (kind = 27 AND aux = 2) OR (kind = 29 AND status = 1) OR kind = 33 OR (kind = 34 AND flags = 1))';

/**
 * PROBLEM_SQL as version 9 creates the index: imported traces' faults joined (core/events/catalog.ts
 * 'trace-fault', code 38). Frozen.
 */
export const V9_PROBLEM_SQL =
  '((kind = 2 AND (status IS NULL OR status <> 0)) OR kind = 13 OR (kind = 15 AND flags = 0) OR kind = 16 OR (kind = 18 AND flags = 0) OR (kind = 19 AND (status IS NULL OR status <> 0)) OR (kind = 20 AND aux = 1) OR kind = 21 OR (kind = 23 AND (status IS NULL OR status <> 0)) OR (kind = 24 AND (status IS NULL OR status <> 0)) OR (kind = 25 AND (status IS NULL OR status <> 0)) OR kind = 26 OR (kind = 27 AND aux = 2) OR (kind = 29 AND status = 1) OR kind = 33 OR (kind = 34 AND flags = 1) OR kind = 38)';

// Check the catalog against the column types once, at load: a field whose type does not fit its
// column, or two fields of one kind sharing a column, is a bug in the catalog.
for (const [kind, spec] of Object.entries(EVENT_CATALOG)) {
  const seen = new Set<Column>();
  for (const [name, field] of Object.entries(spec.fields) as [string, FieldSpec][]) {
    const want = field.type === 'json' ? 'TEXT' : 'INTEGER';
    if (COLUMN_SQL_TYPE[field.column] !== want) throw new Error(`catalog ${kind}.${name}: ${field.type} field in ${COLUMN_SQL_TYPE[field.column]} column ${field.column}`);
    if (seen.has(field.column)) throw new Error(`catalog ${kind}.${name}: column ${field.column} used twice`);
    seen.add(field.column);
  }
}

/** One schema step. `up` runs inside the migration transaction. */
export interface Migration {
  /** Schema version after this migration (1, 2, … without gaps). */
  readonly version: number;
  readonly description: string;
  readonly up: (db: Database.Database) => void;
}

/**
 * Every schema version in order. Version 1 is the first released layout; each later entry
 * changes it by one step.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs and events tables',
    up(db) {
      db.exec(`
        CREATE TABLE runs (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          name TEXT NOT NULL,
          file TEXT NOT NULL,
          scenario_text TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
          started_at TEXT NOT NULL,
          finished_at TEXT,
          steps INTEGER NOT NULL,
          total_units INTEGER NOT NULL,
          done_units INTEGER NOT NULL DEFAULT 0,
          event_count INTEGER NOT NULL DEFAULT 0,
          failed_expectations INTEGER NOT NULL DEFAULT 0,
          error TEXT,
          metrics TEXT,
          step_results TEXT
        );
        CREATE TABLE events (
          run_id INTEGER NOT NULL,
          seq INTEGER NOT NULL,
          step INTEGER NOT NULL,
          kind INTEGER NOT NULL,
          ${V1_COLUMNS.map(([c, t]) => `${c} ${t}`).join(',\n          ')},
          PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 2,
    description: 'runs.owner_pid (detect runs interrupted by a dead process) and the problems partial index',
    up(db) {
      db.exec(`
        ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
        CREATE INDEX runs_status ON runs (status);
        CREATE INDEX events_problems ON events (run_id, seq) WHERE ${V2_PROBLEM_SQL};
      `);
    },
  },
  {
    version: 3,
    description: 'events.used: the request used length as an INTEGER column (was JSON {"used": N} in data)',
    up(db) {
      const have = (db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).some((c) => c.name === 'used');
      if (!have) db.exec('ALTER TABLE events ADD COLUMN used INTEGER');
      // Request rows only (kind code 2: codes never change); their data held only {"used": N}.
      // Text that is not valid JSON (never written by the lab) is left as it was: used stays NULL.
      db.exec(`UPDATE events SET used = json_extract(data, '$.used'), data = NULL WHERE kind = 2 AND data IS NOT NULL AND json_valid(data)`);
    },
  },
  {
    version: 4,
    description: 'runs.config: the run configuration (core/run/config.ts RunConfig) as JSON; NULL for runs stored before',
    up(db) {
      db.exec('ALTER TABLE runs ADD COLUMN config TEXT');
    },
  },
  {
    version: 5,
    description: 'events_problems recreated for the catalog-derived problem definition (device errors: requests not OK or unwritten, refused config writes, device-error)',
    up(db) {
      db.exec(`
        DROP INDEX IF EXISTS events_problems;
        CREATE INDEX events_problems ON events (run_id, seq) WHERE ${V5_PROBLEM_SQL};
      `);
    },
  },
  {
    version: 6,
    description:
      'the event envelope: events.comp (the emitting component, a code into runs.components; 0 = the run itself) and events.time (virtual time, ns); runs.components (JSON array of component ids, code n at index n − 1). NULL in rows stored before: the run\'s vIOMMU, no time',
    up(db) {
      const have = new Set((db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name));
      for (const [c, t] of ENVELOPE_COLUMNS) if (!have.has(c)) db.exec(`ALTER TABLE events ADD COLUMN ${c} ${t}`);
      db.exec('ALTER TABLE runs ADD COLUMN components TEXT');
    },
  },
  {
    version: 7,
    description: 'events_problems recreated for the host side\'s problem kinds (issue 7: host-call errno, host-dma fault, host-fault, hiod-realize, set-iommu-device, device-plug, qemu-error)',
    up(db) {
      db.exec(`
        DROP INDEX IF EXISTS events_problems;
        CREATE INDEX events_problems ON events (run_id, seq) WHERE ${V7_PROBLEM_SQL};
      `);
    },
  },
  {
    version: 8,
    description: "events_problems recreated for the guest DMA layer's problem kinds (issue 8: failed guest probe, failed dma_map, stale translation, guest kernel warning)",
    up(db) {
      db.exec(`
        DROP INDEX IF EXISTS events_problems;
        CREATE INDEX events_problems ON events (run_id, seq) WHERE ${V8_PROBLEM_SQL};
      `);
    },
  },
  {
    version: 9,
    description:
      "imported traces (issue 9): runs.source (JSON: where a trace run came from — file, sha256, format, line counts, unknown lines, errors; NULL for scenario runs), events.line (the event's line in the trace file; NULL for emulated events), events_problems recreated with trace faults",
    up(db) {
      const have = new Set((db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name));
      if (!have.has('line')) db.exec('ALTER TABLE events ADD COLUMN line INTEGER');
      const runCols = new Set((db.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).map((c) => c.name));
      if (!runCols.has('source')) db.exec('ALTER TABLE runs ADD COLUMN source TEXT');
      db.exec(`
        DROP INDEX IF EXISTS events_problems;
        CREATE INDEX events_problems ON events (run_id, seq) WHERE ${V9_PROBLEM_SQL};
      `);
    },
  },
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** Thrown when a database was written by a newer build than this one. */
export class SchemaTooNewError extends Error {
  constructor(readonly found: number) {
    super(`database schema version ${found} is newer than this build supports (${SCHEMA_VERSION}); upgrade IOMMU Lab`);
    this.name = 'SchemaTooNewError';
  }
}

/** Current schema version of `db` (0 for an empty database). */
export function schemaVersion(db: Database.Database): number {
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (!has) return 0;
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  return row?.version ?? 0;
}

/**
 * Brings `db` to version `target` (default: the latest), one migration per transaction, then adds
 * any catalog column the events table lacks. Returns the versions applied.
 * Errors: SchemaTooNewError when the database is newer than this build; SQLite errors from a
 * migration leave the database at the last fully applied version.
 */
export function migrate(db: Database.Database, target = SCHEMA_VERSION): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const current = schemaVersion(db);
  if (current > SCHEMA_VERSION) throw new SchemaTooNewError(current);
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (m.version <= current || m.version > target) continue;
    db.transaction(() => {
      m.up(db);
      db.exec('DELETE FROM schema_version');
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(m.version);
    }).immediate();
    applied.push(m.version);
  }
  // Only at the latest version: an older target is an older layout (tests build those).
  if (target === SCHEMA_VERSION) ensureCatalogColumns(db);
  return applied;
}

/** Adds to `events` every catalog storage column it lacks (a catalog that grew a column). */
export function ensureCatalogColumns(db: Database.Database): void {
  const have = new Set((db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((r) => r.name));
  for (const c of EVENT_COLUMNS) {
    if (!have.has(c)) db.exec(`ALTER TABLE events ADD COLUMN ${c} ${COLUMN_SQL_TYPE[c]}`);
  }
}

/**
 * Connection settings shared by every connection: WAL (readers never block the writer),
 * synchronous=NORMAL (in WAL a commit survives a process crash; only an OS crash can lose the last
 * commits), a busy timeout so concurrent writers queue instead of failing.
 */
export function configureConnection(db: Database.Database, opts: { readonly?: boolean } = {}): void {
  db.pragma('busy_timeout = 10000');
  if (!opts.readonly) {
    // 16 KiB pages for a new database (a no-op on an existing one, whose page size is fixed once
    // it has content): ~25% faster bulk inserts into events than 4 KiB (tests/bench/ingest.ts).
    db.pragma('page_size = 16384');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // After a checkpoint, truncate a WAL left larger than this (bulk runs grow it to ~40 MB).
    db.pragma('journal_size_limit = 67108864');
  }
  db.pragma('foreign_keys = OFF');
}
