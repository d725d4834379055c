/**
 * main/store — the SQLite lab database (better-sqlite3, WAL): schema and migrations (schema.ts),
 * catalog-driven row codec (codec.ts), columnar event batches (batch.ts), the worker's event
 * writer (writer.ts), background WAL checkpoints during a run (checkpointer.ts), the read-only
 * reader (reader.ts), the main-process store (store.ts) and the default path (paths.ts).
 */
export { LabStore, INTERRUPTED, type NewRun } from './store.ts';
export { deleteRuns, RunDeleteError, type DeleteRunsResult, type PageCounts } from './delete-runs.ts';
export { iterateRunEvents } from './event-stream.ts';
export { StoreReader, toEventRow, type EventFilter } from './reader.ts';
export { EventWriter, ROWS_PER_STATEMENT, type RunOutcome } from './writer.ts';
export { BatchEncoder, batchTransfer, type EventBatch } from './batch.ts';
export { Checkpointer, CHECKPOINT_MS } from './checkpointer.ts';
export { MIGRATIONS, SCHEMA_VERSION, SchemaTooNewError, migrate, schemaVersion, ensureCatalogColumns, configureConnection, PROBLEM_SQL, KIND_CODE, EVENT_COLUMNS, COLUMN_SQL_TYPE, type Migration } from './schema.ts';
export { u64ToSql, sqlToU64, hex64, toJson, bigintReplacer, decodeFields, KIND_PLANS, type RawEventRow } from './codec.ts';
export { defaultDbPath, userDataDir } from './paths.ts';
