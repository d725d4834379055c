// The SQL console over `iommu-lab serve`'s WebSocket (serveContract, nothing SQL-specific in the
// transport): sqlQuery rows and columns, a SQL problem as the answer's `error` (not a failed call),
// bad params refused with their path, sqlSchema, and sqlCancel of a query that never ends.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService } from '../../main/service/lab-service.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'main', 'cli', 'iommu-lab.js');

type Frame = { id?: number; result?: unknown; error?: { message: string; path: string }; event?: string };

describe('serve: the SQL console over the WebSocket', () => {
  let dir: string;
  let server: RunningServer;
  let ws: WebSocket;
  let next = 1;
  const waiting = new Map<number, (f: Frame) => void>();
  const call = (method: string, params: unknown): Promise<Frame> => {
    const id = next++;
    return new Promise((ok) => {
      waiting.set(id, ok);
      ws.send(JSON.stringify({ id, method, params }));
    });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-serve-sql-'));
    const db = join(dir, 'lab.db');
    expect(spawnSync(process.execPath, [BIN, 'run', join(ROOT, 'examples', 'faults.yaml'), '--db', db], { encoding: 'utf8' }).status).toBe(0);
    const rendererDir = join(dir, 'renderer');
    mkdirSync(rendererDir);
    writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>IOMMU Lab</title>');
    const service = new LabService({ dbPath: db, examplesDir: join(ROOT, 'examples'), warmRunWorker: false });
    server = await startServer({ service, port: 0, rendererDir });
    const origin = new URL(server.url).origin;
    ws = await new Promise<WebSocket>((ok, fail) => {
      const w = new WebSocket(`${origin.replace('http', 'ws')}/ws?token=${server.token}`, { origin });
      w.once('open', () => ok(w));
      w.once('error', fail);
    });
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      if (typeof f.id === 'number') waiting.get(f.id)?.(f);
    });
  }, 30_000);

  afterAll(async () => {
    ws?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers sqlQuery with columns and rows, and SQL problems as the answer’s error', async () => {
    const ok = await call('sqlQuery', { sql: 'SELECT reason_name, count(*) AS n FROM v_faults GROUP BY 1 ORDER BY 1' });
    expect(ok.error).toBeUndefined();
    expect(ok.result).toMatchObject({
      columns: [
        { name: 'reason_name', type: 'TEXT' },
        { name: 'n', type: 'INTEGER' },
      ],
      rows: [
        ['DOMAIN', 1],
        ['MAPPING', 2],
        ['UNKNOWN', 1],
      ],
      truncated: false,
      error: null,
    });
    const capped = await call('sqlQuery', { sql: 'SELECT seq FROM v_events ORDER BY seq', limit: 5 });
    expect(capped.result).toMatchObject({ rows: [[0], [1], [2], [3], [4]], truncated: true });
    const bad = await call('sqlQuery', { sql: 'SELECT * FORM v_runs' });
    expect(bad.result).toMatchObject({ rows: [], error: { message: 'near "FORM": syntax error (line 1, column 10)', code: 'SQLITE_ERROR', offset: 9 } });
    const write = await call('sqlQuery', { sql: 'DELETE FROM events' });
    expect((write.result as { error: { code: string } }).error.code).toBe('READONLY_REFUSED');
    expect((await call('sqlQuery', { sql: '' })).error?.path).toBe('/sql');
    expect((await call('sqlQuery', { sql: 'SELECT 1', timeoutMs: 600_000 })).error?.path).toBe('/timeoutMs');
    const schema = (await call('sqlSchema', {})).result as { name: string }[];
    expect(schema.map((o) => o.name)).toContain('v_host_calls');
  }, 30_000);

  it('cancels a query that never ends; the next one answers', async () => {
    const running = call('sqlQuery', { sql: 'WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r', timeoutMs: 120_000 });
    await new Promise((ok) => setTimeout(ok, 300));
    expect((await call('sqlCancel', {})).result).toEqual({ cancelled: true });
    expect((await running).result).toMatchObject({ rows: [], error: { message: 'query cancelled', code: 'CANCELLED' } });
    expect((await call('sqlQuery', { sql: 'SELECT count(*) FROM v_runs' })).result).toMatchObject({ rows: [[1]], error: null });
  }, 30_000);
});
