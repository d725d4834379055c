// The SQL console (issue 9 §3): main/store/sql-console.ts on a database made by real scenario runs —
// read-only enforced (writes refused with the message, the file unchanged), the documented views'
// rows (v_runs, v_events, v_faults, v_requests, v_mappings, v_host_calls, v_dma, v_problems),
// u64 exact, errors with SQLite's text and offset, an old schema version; then the SQL worker
// process (main/worker/sql-host.ts): the time limit stops a never-ending recursive CTE (the process
// is killed) and the next query works, cancel, a streamed result.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { SqlConsole, SqlConsoleError } from '../../main/store/sql-console.ts';
import { migrate } from '../../main/store/schema.ts';
import { SqlHost } from '../../main/worker/sql-host.ts';
import { QEMU_REPLAY_LOG_LINES } from '../support/traces.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
let db: string;
const runs: Record<string, number> = {};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-sql-'));
  db = path.join(dir, 'lab.db');
  const service = new LabService({ dbPath: db, examplesDir: path.join(ROOT, 'examples'), warmRunWorker: false });
  for (const name of ['faults', 'host-map-failure', 'seed-6-strict']) {
    const file = path.join(ROOT, 'examples', `${name}.yaml`);
    const r = await service.call('startRun', { text: fs.readFileSync(file, 'utf8'), file });
    if (r.runId === null) throw new Error(`${name}: ${JSON.stringify(r.diagnostics)}`);
    expect((await waitForRun(service, r.runId)).status).toBe('done');
    runs[name] = r.runId;
  }
  // A scenario with variants: (one run per variant) and an imported QEMU trace.
  const vfile = path.join(ROOT, 'examples', 'variants-strict-lazy.yaml');
  const v = await service.call('startRun', { text: fs.readFileSync(vfile, 'utf8'), file: vfile });
  if (v.runId === null || !v.variantRunIds) throw new Error(JSON.stringify(v.diagnostics));
  for (const id of v.variantRunIds) await waitForRun(service, id);
  runs.variants = v.runId;
  const t = await service.call('importTrace', { name: 'qemu.log', text: QEMU_REPLAY_LOG_LINES.join('\n') + '\n' });
  if (t.runId === null) throw new Error(String(t.refused));
  runs.trace = t.runId;
  await service.close();
}, 60_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The error `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): SqlConsoleError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SqlConsoleError);
    return e as SqlConsoleError;
  }
  throw new Error('did not throw');
}

describe('SQL console (store)', () => {
  it('refuses every statement that would write, with the message, and changes nothing', () => {
    const c = new SqlConsole(db);
    try {
      const before = c.query('SELECT count(*) FROM runs').rows[0][0];
      for (const [sql, word] of [
        ["INSERT INTO runs (name) VALUES ('x')", 'INSERT'],
        ['DELETE FROM events', 'DELETE'],
        ["UPDATE runs SET name = 'x'", 'UPDATE'],
        ['DROP TABLE events', 'DROP'],
        [`ATTACH '${path.join(dir, 'other.db')}' AS other`, 'ATTACH'],
        ['PRAGMA user_version = 7', 'PRAGMA'],
        ['PRAGMA journal_mode = DELETE', 'PRAGMA'],
        ['CREATE TEMP TABLE t (x)', 'CREATE'],
        ['DELETE FROM event_kinds', 'DELETE'],
        // A reader that writes: refused by sqlite3_stmt_readonly, not only by the connection.
        ["INSERT INTO event_kinds VALUES (99, 'x', 'run', NULL, '{}', '') RETURNING code", 'INSERT'],
        ['  -- a comment first\n  delete from runs', 'DELETE'],
      ]) {
        const e = thrown(() => c.query(sql));
        expect(e.code, sql).toBe('READONLY_REFUSED');
        expect(e.message, sql).toBe(`read-only: ${word} refused (the SQL console runs only statements that read and write nothing: SELECT, WITH … SELECT, VALUES, EXPLAIN, PRAGMA without "=")`);
      }
      expect(c.query('SELECT count(*) FROM runs').rows[0][0]).toBe(before);
      expect(c.query('SELECT count(*) FROM event_kinds WHERE code = 99').rows[0][0]).toBe(0);
      expect(fs.existsSync(path.join(dir, 'other.db'))).toBe(false);
      // Reads are allowed: PRAGMA reads and table-valued pragmas included.
      expect(c.query('PRAGMA user_version').rows).toEqual([[0]]);
      expect(c.query("SELECT name FROM pragma_table_info('events') WHERE name = 'line'").rows).toEqual([['line']]);
    } finally {
      c.close();
    }
  });

  it("gives SQLite's message, and the offset of a syntax error", () => {
    const c = new SqlConsole(db);
    try {
      const e = thrown(() => c.query('SELECT run_id,\n  FROM v_events'));
      expect([e.code, e.message, e.offset]).toEqual(['SQLITE_ERROR', 'near "FROM": syntax error (line 2, column 3)', 17]);
      // The token also occurs earlier, inside a string: the offset is the one SQLite stopped at.
      expect(thrown(() => c.query("SELECT 'x from' from from v_runs")).offset).toBe(21);
      expect(thrown(() => c.query('SELECT * FROM nope')).message).toBe('no such table: nope');
      expect(thrown(() => c.query('SELECT nope FROM v_runs')).message).toBe('no such column: nope');
      expect(thrown(() => c.query('SELECT 1; SELECT 2')).message).toBe('one statement at a time: the query holds more than one');
    } finally {
      c.close();
    }
  });

  it('documents the views and they give the runs’ rows', () => {
    const c = new SqlConsole(db);
    try {
      const names = c.schema().map((o) => o.name);
      expect(names).toEqual(['runs', 'events', 'event_kinds', 'errnos', 'v_runs', 'v_components', 'v_events', 'v_problems', 'v_faults', 'v_requests', 'v_mappings', 'v_host_calls', 'v_dma']);
      // Every documented column of every view is what the view returns, in order.
      for (const o of c.schema().filter((x) => x.kind === 'view')) {
        expect(c.query(`SELECT * FROM ${o.name} LIMIT 0`).columns.map((x) => x.name), o.name).toEqual(o.columns.map((x) => x.name));
      }
      const f = runs.faults;
      expect(c.query(`SELECT kind, model, conformance, aw_bits, granule, events FROM v_runs WHERE id = ${f}`).rows).toEqual([['scenario', 'virtio-iommu', 'spec', 39, '4k', 19]]);
      expect(c.query(`SELECT iommu_dma, backend FROM v_runs WHERE id = ${runs['seed-6-strict']}`).rows).toEqual([['strict', 'iommufd']]);
      expect(c.query(`SELECT kind, variant, iommu_dma FROM v_runs WHERE variant_group IS NOT NULL ORDER BY id`).rows).toEqual([
        ['scenario', 'strict', 'strict'],
        ['scenario', 'lazy', 'lazy'],
      ]);
      expect(c.query(`SELECT kind, trace_format, length(trace_sha256), model FROM v_runs WHERE id = ${runs.trace}`).rows).toEqual([['trace', 'qemu', 64, null]]);
      expect(c.query(`SELECT count(*) > 0, count(line) = count(*) FROM v_events WHERE run_id = ${runs.trace}`).rows).toEqual([[1, 1]]);
      // faults.yaml: MAPPING ×2, DOMAIN, UNKNOWN (its metrics' faultsByReason).
      expect(c.query(`SELECT reason_name, count(*) FROM v_faults WHERE run_id = ${f} GROUP BY 1 ORDER BY 1`).rows).toEqual([['DOMAIN', 1], ['MAPPING', 2], ['UNKNOWN', 1]]);
      expect(c.query(`SELECT endpoint_bdf, address_hex, access FROM v_faults WHERE run_id = ${f} AND access = 'write'`).rows).toEqual([['00:03.0', '0x10010', 'write']]);
      // host-map-failure.yaml: the guest MAP above the host aperture → IOMMU_IOAS_MAP EINVAL.
      const h = runs['host-map-failure'];
      expect(c.query(`SELECT ioctl, errno, errno_name, iova_hex, length, cause IS NOT NULL FROM v_host_calls WHERE run_id = ${h} AND errno <> 0 ORDER BY seq`).rows).toEqual([
        ['IOMMU_IOAS_IOVA_RANGES', 90, 'EMSGSIZE', null, null, 0],
        ['IOMMU_IOAS_MAP', 22, 'EINVAL', '0x8000000000', 4096, 1],
      ]);
      expect(c.query(`SELECT type, status_name, count(*) FROM v_requests WHERE run_id = ${h} GROUP BY 1, 2 ORDER BY 1`).rows).toEqual([['ATTACH', 'OK', 1], ['MAP', 'OK', 2], ['UNMAP', 'OK', 1]]);
      expect(c.query(`SELECT op, count(*), sum(size) FROM v_mappings WHERE run_id = ${h} GROUP BY 1 ORDER BY 1`).rows).toEqual([['map', 2, 12288], ['unmap', 1, 8192]]);
      const s = runs['seed-6-strict'];
      expect(c.query(`SELECT kind, device, iova_hex, dir, outcome FROM v_dma WHERE run_id = ${s} ORDER BY seq LIMIT 1`).rows).toEqual([['dma-map', 'disk0', '0xfffff000', 'from-device', 'mapped']]);
      // v_events agrees with the stored events and the events table's text and problem flag.
      const stored = c.query(`SELECT event_count FROM runs WHERE id = ${s}`).rows[0][0];
      expect(c.query(`SELECT count(*) FROM v_events WHERE run_id = ${s}`).rows[0][0]).toBe(stored);
      expect(c.query(`SELECT kind, component, text FROM v_events WHERE run_id = ${f} AND kind = 'fault' ORDER BY seq LIMIT 1`).rows).toEqual([['fault', 'viommu0', 'FAULT MAPPING ep=00:03.0 addr=0x20000 flags=ADDRESS']]);
      expect(c.query(`SELECT count(*) FROM v_problems WHERE run_id = ${f}`).rows[0][0]).toBe(4);
      expect(c.query(`SELECT family, problem FROM event_kinds WHERE name = 'trace-fault'`).rows).toEqual([['trace', 'faults recorded in an imported trace']]);
    } finally {
      c.close();
    }
  });

  it('docs/sql.md documents every table, view and column, and its example queries run', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'sql.md'), 'utf8');
    const c = new SqlConsole(db);
    try {
      for (const o of c.schema()) {
        const at = doc.indexOf(`### \`${o.name}\``);
        expect(at, o.name).toBeGreaterThan(0);
        const section = doc.slice(at, doc.indexOf('\n### ', at + 1) >>> 0 || undefined);
        for (const col of o.columns) expect(section, `${o.name}.${col.name}`).toContain(`| \`${col.name}\` |`);
      }
      const queries = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]);
      expect(queries.length).toBeGreaterThanOrEqual(7);
      for (const q of queries) expect(() => c.query(q), q).not.toThrow();
    } finally {
      c.close();
    }
  });

  it('keeps u64 and large integers exact', () => {
    // A mapping at the top of the 64-bit space, stored as the lab stores u64 (asIntN(64)).
    const copy = path.join(dir, 'u64.db');
    fs.copyFileSync(db, copy);
    const w = new Database(copy);
    w.prepare('UPDATE events SET a = ?, b = ? WHERE run_id = ? AND kind = 9 AND seq = (SELECT min(seq) FROM events WHERE run_id = ? AND kind = 9)').run(
      BigInt.asIntN(64, 0xfffffffffffff000n),
      BigInt.asIntN(64, 0xffffffffffffffffn),
      runs.faults,
      runs.faults,
    );
    w.close();
    const c = new SqlConsole(copy);
    try {
      expect(c.query(`SELECT iova_hex, iova, size FROM v_mappings WHERE run_id = ${runs.faults}`).rows).toEqual([['0xfffffffffffff000', -4096, 4096]]);
      expect(c.query('SELECT count(*) FROM v_events WHERE a = 0xfffffffffffff000').rows[0][0]).toBe(1);
      expect(c.query('SELECT 9007199254740993, -9007199254740993, 9007199254740991, hex64(-1), 1.5, x\'00ff\'').rows).toEqual([
        ['9007199254740993', '-9007199254740993', 9007199254740991, '0xffffffffffffffff', 1.5, "X'00FF'"],
      ]);
      expect(c.query("SELECT 1 AS i, 'a' AS t, 2.5 AS r, NULL AS n").columns).toEqual([
        { name: 'i', type: 'INTEGER' },
        { name: 't', type: 'TEXT' },
        { name: 'r', type: 'REAL' },
        { name: 'n', type: '' },
      ]);
    } finally {
      c.close();
    }
  });

  it('caps the rows at the limit and says so', () => {
    const c = new SqlConsole(db);
    try {
      const r = c.query('WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 50) SELECT x FROM n', 20);
      expect([r.rows.length, r.rows[19], r.truncated]).toEqual([20, [20], true]);
      expect(c.query('SELECT 1', 1).truncated).toBe(false);
    } finally {
      c.close();
    }
  });

  it('works on a database of an older schema version (the envelope columns read NULL)', () => {
    const old = path.join(dir, 'v5.db');
    const w = new Database(old);
    migrate(w, 5);
    w.exec("INSERT INTO runs (id, name, file, scenario_text, status, started_at, steps, total_units, event_count) VALUES (1, 'old', 'old.yaml', '', 'done', '2024-01-01', 1, 1, 1)");
    w.exec('INSERT INTO events (run_id, seq, step, kind, aux, flags, endpoint, a) VALUES (1, 0, 0, 13, 2, 256, 24, 4096)');
    w.close();
    const c = new SqlConsole(old);
    try {
      expect(c.query('SELECT kind, component, time_ns, line, text FROM v_events').rows).toEqual([['fault', null, null, null, 'FAULT MAPPING ep=00:03.0 addr=0x1000 flags=ADDRESS']]);
      expect(c.query('SELECT kind, model, trace_format FROM v_runs').rows).toEqual([['scenario', null, null]]);
      expect(c.query('SELECT reason_name, address_hex FROM v_faults').rows).toEqual([['MAPPING', '0x1000']]);
    } finally {
      c.close();
    }
  });
});

describe('SQL worker (sql-host)', () => {
  const NEVER_ENDS = 'WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r';

  it('stops a query at its time limit (killing the worker process) and the next query works', async () => {
    const host = new SqlHost(db);
    try {
      expect((await host.query({ sql: "SELECT count(*) FROM v_runs WHERE kind = 'scenario' AND variant IS NULL" })).rows).toEqual([[3]]);
      const pid = host.sqlWorker!.pid!;
      const r = await host.query({ sql: NEVER_ENDS, timeoutMs: 300 });
      expect(r.error).toEqual({ message: 'query stopped: it ran longer than its time limit (0.3 s)', code: 'TIMEOUT', offset: null });
      expect(r.rows).toEqual([]);
      expect(host.sqlWorker).toBeNull();
      // The process is gone (a worker thread would still be spinning inside sqlite3_step).
      await expect.poll(() => alive(pid), { timeout: 5000 }).toBe(false);
      const next = await host.query({ sql: "SELECT name FROM v_runs WHERE kind = 'scenario' ORDER BY id LIMIT 1" });
      expect(next).toMatchObject({ rows: [['DMA faults (MAPPING, DOMAIN, UNKNOWN)']], error: null, truncated: false });
      expect(next.columns).toEqual([{ name: 'name', type: 'TEXT' }]);
    } finally {
      await host.close();
    }
  }, 30_000);

  it('cancels the running query and the waiting ones; SQL errors come back as data', async () => {
    const host = new SqlHost(db);
    try {
      const running = host.query({ sql: NEVER_ENDS });
      const waiting = host.query({ sql: 'SELECT 1' });
      await expect.poll(() => host.sqlWorker !== null).toBe(true);
      expect(host.cancel()).toEqual({ cancelled: true });
      expect((await running).error?.code).toBe('CANCELLED');
      expect((await waiting).error).toEqual({ message: 'query cancelled', code: 'CANCELLED', offset: null });
      expect(host.cancel()).toEqual({ cancelled: false });
      expect((await host.query({ sql: 'DELETE FROM runs' })).error?.code).toBe('READONLY_REFUSED');
      expect((await host.query({ sql: 'SELECT * FORM v_runs' })).error).toEqual({ message: 'near "FORM": syntax error (line 1, column 10)', code: 'SQLITE_ERROR', offset: 9 });
      expect((await host.schema()).find((o) => o.name === 'v_faults')?.columns.map((x) => x.name)).toContain('reason_name');
    } finally {
      await host.close();
    }
  }, 30_000);

  it('the worker process dies with its parent, even inside a query that never ends', () => {
    // A parent that starts a never-ending query, prints the worker's pid and dies by SIGKILL (no
    // chance to kill the worker itself) once the worker is well inside the query (it starts in
    // about a second): the worker's watchdog thread must end it.
    const script = path.join(dir, 'orphan.mts');
    fs.writeFileSync(
      script,
      `import { SqlHost } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'main/worker/sql-host.ts')).href)};
const h = new SqlHost(${JSON.stringify(db)});
void h.query({ sql: ${JSON.stringify(NEVER_ENDS)}, timeoutMs: 300000 });
setTimeout(() => { console.log(h.sqlWorker!.pid); process.kill(process.pid, 'SIGKILL'); }, 4000);
`,
    );
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const r = spawnSync(process.execPath, ['--import', tsx, script], { encoding: 'utf8' });
    expect(r.signal).toBe('SIGKILL');
    const pid = Number(r.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    return expect.poll(() => alive(pid), { timeout: 10_000, interval: 200 }).toBe(false);
  }, 30_000);

  it('streams every row in chunks, waiting for slow writes', async () => {
    const host = new SqlHost(db);
    try {
      let seen = 0;
      let last = 0;
      const r = await host.stream('WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 25000) SELECT x FROM n', {
        columns: (c) => expect(c).toEqual([{ name: 'x', type: '' }]),
        rows: async (rows) => {
          seen += rows.length;
          last = rows[rows.length - 1][0] as number;
          await new Promise((ok) => setTimeout(ok, 1));
        },
      });
      expect([r.error, seen, last]).toEqual([null, 25000, 25000]);
    } finally {
      await host.close();
    }
  }, 30_000);
});

/** Whether a process is still alive (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
