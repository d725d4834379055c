/**
 * `iommu-lab rm <run>... [--vacuum] [--json]`: deletes runs and their events (one transaction, all
 * or nothing: main/store/delete-runs.ts) and says how much space that freed, from SQLite's page
 * counts. Without --vacuum the freed pages stay inside the file (on its freelist, reused by later
 * runs); --vacuum rebuilds the file so it shrinks.
 */
import { RunDeleteError, type DeleteRunsResult } from '../store/delete-runs.ts';
import { EXIT, UsageError, json, openService, print, type CliIO } from './common.ts';

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

/** "19.3 MiB" (binary units), "512 bytes". */
export function formatSize(bytes: number): string {
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} bytes` : `${v.toFixed(1)} ${UNITS[u]}`;
}

const count = (n: number) => n.toLocaleString('en-US');

/** The human summary of a deletion: what went, and the space before and after. */
export function formatRemoval(r: DeleteRunsResult): string[] {
  const ids = r.runIds.join(', ');
  const lines = [`removed run${r.runIds.length === 1 ? '' : 's'} ${ids} (${count(r.events)} events)`];
  const size = (pages: number) => `${formatSize(pages * r.pageSize)} (${count(pages)} pages of ${formatSize(r.pageSize)})`;
  if (r.vacuumed) {
    const freed = Math.max(0, r.before.pages - r.after.pages);
    lines.push(`database file ${size(r.before.pages)} → ${size(r.after.pages)} after VACUUM: ${formatSize(freed * r.pageSize)} freed`);
  } else {
    const freed = Math.max(0, r.after.freePages - r.before.freePages);
    lines.push(
      `freed ${formatSize(freed * r.pageSize)} (${count(freed)} pages) inside the database; its file stays ${formatSize(r.after.pages * r.pageSize)}, ` +
        `of which ${formatSize(r.after.freePages * r.pageSize)} is free for later runs (--vacuum gives it back to the file system)`,
    );
  }
  return lines;
}

export async function cmdRm(runIds: number[], opts: { db?: string; vacuum?: boolean; json?: boolean }, io: CliIO): Promise<number> {
  const service = openService(opts.db);
  try {
    let r: DeleteRunsResult;
    try {
      r = service.store.deleteRuns(runIds, { vacuum: opts.vacuum });
    } catch (e) {
      if (e instanceof RunDeleteError) throw new UsageError(e.message);
      throw e;
    }
    if (opts.json) {
      io.stdout.write(
        json({
          runIds: r.runIds,
          events: r.events,
          pageSize: r.pageSize,
          before: { ...r.before, bytes: r.before.pages * r.pageSize, freeBytes: r.before.freePages * r.pageSize },
          after: { ...r.after, bytes: r.after.pages * r.pageSize, freeBytes: r.after.freePages * r.pageSize },
          vacuumed: r.vacuumed,
        }),
      );
    } else {
      print(io.stdout, formatRemoval(r).join('\n') + '\n');
    }
    return EXIT.OK;
  } finally {
    await service.close();
  }
}
