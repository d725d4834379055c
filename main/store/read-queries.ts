/**
 * The base of the store's read-only query objects (the host and guest panels): one lazily opened
 * read-only connection (openReadOnlyDatabase: the file, or an image of it on read-only media), a
 * cache of prepared statements by SQL text, and whether the events table has the envelope columns
 * (comp, time; schema version 6+).
 * Errors: LabDatabaseError when the database cannot be opened (on first use).
 */
import type Database from 'better-sqlite3';
import { openReadOnlyDatabase } from './store.ts';

export abstract class ReadQueries {
  private conn: Database.Database | null = null;
  private readonly cache = new Map<string, Database.Statement>();
  /** The events table has `comp` and `time` (known once the connection is open). */
  protected envelope = false;

  constructor(protected readonly dbPath: string) {}

  /** The connection, opened on first use. */
  protected db(): Database.Database {
    if (!this.conn) {
      this.conn = openReadOnlyDatabase(this.dbPath);
      const cols = new Set((this.conn.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name));
      this.envelope = cols.has('comp');
    }
    return this.conn;
  }

  /** A prepared statement for `sql`, prepared once. */
  protected stmt(sql: string): Database.Statement {
    const db = this.db();
    let s = this.cache.get(sql);
    if (!s) this.cache.set(sql, (s = db.prepare(sql)));
    return s;
  }

  /** Closes the connection (the next query opens it again). */
  close(): void {
    this.conn?.close();
    this.conn = null;
    this.cache.clear();
  }
}
