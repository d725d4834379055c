// `iommu-lab sql` (main/cli/sql.ts) through the real binary: the aligned table, CSV (RFC 4180),
// the JSON document, --schema, and SQL problems (syntax with a caret, a write refused, the time
// limit) as exit 2 with SQLite's message; flags that do not go together.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
let db: string;

const cli = (args: string[]): CliResult => runCli(args, db, dir);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-cli-sql-'));
  db = path.join(dir, 'lab.db');
  expect(cli(['run', path.join(ROOT, 'examples', 'faults.yaml')]).code).toBe(0);
}, 60_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const BY_REASON = 'SELECT reason_name, count(*) AS n FROM v_faults GROUP BY 1 ORDER BY 1';

describe('iommu-lab sql', () => {
  it('prints an aligned table with the row count', () => {
    const r = cli(['sql', BY_REASON]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual(['reason_name  n', 'DOMAIN       1', 'MAPPING      2', 'UNKNOWN      1']);
    expect(lines[4]).toMatch(/^\(3 rows, [\d.]+ ms\)$/);
  });

  it('streams CSV per RFC 4180 (header, CRLF, quoting, NULL as an empty field)', () => {
    const r = cli(['sql', `SELECT reason_name, count(*) AS n, NULL AS none, 'a,"b"' AS quoted FROM v_faults GROUP BY 1 ORDER BY 1`, '--csv']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('reason_name,n,none,quoted\r\nDOMAIN,1,,"a,""b"""\r\nMAPPING,2,,"a,""b"""\r\nUNKNOWN,1,,"a,""b"""\r\n');
  });

  it('prints one JSON document with the columns and types, integers exact', () => {
    const r = cli(['sql', `${BY_REASON.replace('AS n', 'AS n, 18446744073709551615 > 0 AS ok, 9007199254740993 AS big')}`, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.columns).toEqual([
      { name: 'reason_name', type: 'TEXT' },
      { name: 'n', type: 'INTEGER' },
      { name: 'ok', type: 'INTEGER' },
      { name: 'big', type: 'INTEGER' },
    ]);
    expect(j.rows).toEqual([
      ['DOMAIN', 1, 1, '9007199254740993'],
      ['MAPPING', 2, 1, '9007199254740993'],
      ['UNKNOWN', 1, 1, '9007199254740993'],
    ]);
    expect(typeof j.elapsedMs).toBe('number');
    expect(JSON.parse(cli(['sql', 'SELECT * FROM v_runs WHERE 0', '--json']).stdout).rows).toEqual([]);
  });

  it('prints the documented schema', () => {
    const r = cli(['sql', '--schema']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^runs \(table\): /);
    expect(r.stdout).toContain('v_faults (view): Every DMA fault');
    expect(r.stdout).toMatch(/\n {2}reason_name\s+TEXT\s+'UNKNOWN' \| 'DOMAIN' \| 'MAPPING'/);
    expect(r.stdout).toContain('v_host_calls (view)');
    const j = JSON.parse(cli(['sql', '--schema', '--json']).stdout) as { name: string; kind: string }[];
    expect(j.find((o) => o.name === 'event_kinds')?.kind).toBe('temp table');
  });

  it('exits 2 with SQLite’s message for bad SQL, a write, or the time limit', () => {
    const bad = cli(['sql', 'SELECT reason_name,\nFROM v_faults']);
    expect([bad.code, bad.stdout]).toEqual([2, '']);
    expect(bad.stderr).toBe('iommu-lab: sql: near "FROM": syntax error (line 2, column 1)\n  FROM v_faults\n  ^\n');
    const missing = cli(['sql', 'SELECT * FROM nope', '--csv']);
    expect([missing.code, missing.stderr]).toEqual([2, 'iommu-lab: sql: no such table: nope\n']);
    const write = cli(['sql', 'DELETE FROM runs']);
    expect(write.code).toBe(2);
    expect(write.stderr).toMatch(/^iommu-lab: sql: read-only: DELETE refused/);
    const slow = cli(['sql', 'WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r', '--timeout', '0.3']);
    expect([slow.code, slow.stderr]).toEqual([2, 'iommu-lab: sql: query stopped: it ran longer than its time limit (0.3 s)\n']);
    expect(cli(['sql', 'SELECT 1', '--timeout', '301']).stderr).toBe('iommu-lab: --timeout must be a number of seconds > 0 and ≤ 300, got "301"\n');
    expect(cli(['sql', 'SELECT 1', '--csv', '--json']).stderr).toBe('iommu-lab: --csv and --json: choose one\n');
    expect(cli(['sql']).code).toBe(2);
    // The database still holds its run: nothing was written.
    expect(cli(['sql', 'SELECT count(*) FROM runs', '--csv']).stdout).toBe('count(*)\r\n1\r\n');
  }, 120_000);
});
