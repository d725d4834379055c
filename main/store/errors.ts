/**
 * The one error the store throws for a database it cannot use (not a database, damaged, read-only,
 * full, not a regular file, under a file, written by another build): a one-line message naming the
 * file, what is wrong and what to do. The CLI prints it and exits 2; serve and Electron print it at
 * start-up. Anything else the store throws is a bug and keeps its stack.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_VERSION } from './schema.ts';

/** What is wrong with the database (for callers that branch; the message says it for people). */
export type LabDatabaseProblem =
  | 'not-a-database'
  | 'damaged'
  | 'read-only'
  | 'full'
  | 'io'
  | 'not-a-file'
  | 'cannot-open'
  | 'schema-too-new'
  | 'schema-too-old'
  | 'missing';

/** An unusable lab database; `message` is one line: `the lab database FILE …: what to do`. */
export class LabDatabaseError extends Error {
  constructor(
    /** Absolute path of the database file. */
    readonly path: string,
    readonly problem: LabDatabaseProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LabDatabaseError';
  }
}

const ELSEWHERE = 'or choose another file with --db (or IOMMU_LAB_DB)';

/** First line of an error's message, without SQLite's trailing detail on later lines. */
function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/**
 * Turns an error met while opening or writing `dbPath` into a LabDatabaseError when it is about the
 * database (a better-sqlite3 SqliteError code, or an fs errno of its path); returns null for
 * anything else (a bug, to be rethrown as it is). `writing` says whether the failed operation had
 * to write (it picks the advice for a read-only file).
 */
export function toLabDatabaseError(dbPath: string, e: unknown, writing = true): LabDatabaseError | null {
  if (e instanceof LabDatabaseError) return e;
  const code = String((e as { code?: unknown })?.code ?? '');
  const what = firstLine(e);
  const err = (problem: LabDatabaseProblem, text: string) => new LabDatabaseError(dbPath, problem, `the lab database ${dbPath} ${text}`, { cause: e });
  if (code === 'SQLITE_NOTADB') return err('not-a-database', `is not an SQLite database (${what}): move it away to start a new one, ${ELSEWHERE}`);
  if (code.startsWith('SQLITE_CORRUPT')) return err('damaged', `is damaged (${what}): restore it from a backup or move it away to start a new one, ${ELSEWHERE}`);
  // A database on a read-only file system or in a read-only folder fails to open for writing with
  // SQLITE_CANTOPEN (SQLite can open neither it read-write nor its -wal/-shm): that is read-only too.
  const readOnlyPlace = writing && code.startsWith('SQLITE_CANTOPEN') && notWritable(dbPath);
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || (code === 'EACCES' && writing) || readOnlyPlace) {
    return err('read-only', `is read-only (${what}): make it and its folder writable to run scenarios; commands that only read (runs, events, show, export) work on it as it is`);
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return err('full', `cannot be written: the disk is full (${what}): free some space; commands that only read (runs, events, show, export) still work`);
  if (code === 'ENOTDIR' || code === 'EEXIST') return err('cannot-open', `cannot be created: a part of its folder path is a file, not a folder (${what}); ${ELSEWHERE.replace(/^or /, '')}`);
  if (code.startsWith('SQLITE_CANTOPEN') || code === 'EACCES' || code === 'EISDIR' || code === 'ENOENT') {
    return err('cannot-open', `cannot be opened (${what}): check that it is a file in a folder you can read and write, ${ELSEWHERE}`);
  }
  // A full disk often shows as an I/O error (the -shm or -wal file cannot grow): say which it is.
  if (code.startsWith('SQLITE_IOERR') && diskFull(dbPath)) return err('full', `cannot be written: the disk is full (${what}, ${code}): free some space; commands that only read (runs, events, show, export) still work`);
  if (code.startsWith('SQLITE_IOERR')) return err('io', `cannot be read or written (${what}, ${code}): check the disk, ${ELSEWHERE}`);
  return null;
}

/** True when `dbPath` exists and it or its folder refuses writing (EROFS, or EACCES for this user). */
function notWritable(dbPath: string): boolean {
  if (!fs.existsSync(dbPath)) return false;
  for (const p of [dbPath, path.dirname(dbPath)]) {
    try {
      fs.accessSync(p, fs.constants.W_OK);
    } catch (e) {
      const c = (e as NodeJS.ErrnoException).code;
      if (c === 'EROFS' || c === 'EACCES') return true;
    }
  }
  return false;
}

/** True when the file system holding `dbPath` has no block left for this user. */
function diskFull(dbPath: string): boolean {
  try {
    return fs.statfsSync(path.dirname(dbPath)).bavail === 0;
  } catch {
    return false;
  }
}

/** The error for a database whose schema is newer than this build's (SCHEMA_VERSION). */
export function schemaTooNew(dbPath: string, found: number): LabDatabaseError {
  return new LabDatabaseError(
    dbPath,
    'schema-too-new',
    `the lab database ${dbPath} was written by a newer IOMMU Lab (schema version ${found}; this build knows ${SCHEMA_VERSION}): upgrade IOMMU Lab, ${ELSEWHERE}`,
  );
}
