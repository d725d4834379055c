/**
 * Storing an imported trace (main/store/import.ts) with a toy importer: a trace is a run with its
 * source (file, bytes, SHA-256, format, line accounting) and events carrying their line and the
 * trace's time; nothing is stored when lines of known events are malformed (unless a partial
 * import is accepted), when the import is cancelled, or when the format cannot be told.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Importer, LineResult } from '../../core/import/types.ts';
import { ImportError } from '../../core/import/driver.ts';
import { ImportFileError, importTraceFile } from '../../main/store/import.ts';
import { LabStore } from '../../main/store/index.ts';

let dir: string;
let dbPath: string;
let store: LabStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-import-'));
  dbPath = path.join(dir, 'lab.db');
  store = new LabStore(dbPath);
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** "<sec>.<usec> map 0x<iova> <size>" → trace-map at that time; "<sec>.<usec> fault 0x<addr>" → trace-fault; "#…" header. */
const toy: Importer = {
  format: 'ftrace',
  component: 'ftrace',
  detect: (lines) => lines.filter((l) => /^\d+\.\d{6} /.test(l) || l.startsWith('#')).length / lines.length,
  isLineStart: (l) => /^\d+\.\d{6} /.test(l),
  parse: (l): LineResult => {
    if (l.startsWith('#') || l === '') return { t: 'header' };
    const m = /^(\d+)\.(\d{6}) (\w+) (.*)$/.exec(l);
    if (!m) return { t: 'unknown' };
    const time = Number(m[1]) * 1e9 + Number(m[2]) * 1e3;
    if (m[3] === 'map') {
      const b = /^0x([0-9a-f]+) (\d+)$/.exec(m[4]);
      return b ? { t: 'event', events: [{ kind: 'trace-map', time, iova: BigInt('0x' + b[1]), size: BigInt(b[2]), data: { event: 'toy:map' } }] } : { t: 'error', message: `map: bad body "${m[4]}"` };
    }
    if (m[3] === 'fault') return { t: 'event', events: [{ kind: 'trace-fault', time, address: BigInt(m[4]), access: 2, data: { event: 'toy:fault' } }] };
    return { t: 'unknown' };
  },
  reset: () => {},
};

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

const GOOD = '# tracer: nop\n1.000001 map 0x1000 4096\n1.000500 who knows\n2.250000 fault 0xfee00000\n';

describe('importTraceFile', () => {
  it('stores a trace as a run: its source, its events with line numbers and the trace times, problems and metrics', async () => {
    const f = write('host.trace', GOOD);
    const out = await importTraceFile(store, dbPath, f, [toy]);
    expect(out.refused).toBeNull();
    const runId = out.runId!;
    expect(out.source).toMatchObject({ kind: 'trace', file: 'host.trace', bytes: GOOD.length, sha256: crypto.createHash('sha256').update(GOOD).digest('hex'), format: 'ftrace', partial: false });
    expect(out.source.stats).toMatchObject({ lines: 4, events: 2, headers: 1, byKind: { 'trace-map': 1, 'trace-fault': 1 }, unknown: { count: 1, lines: [3] }, errors: { count: 0, list: [] } });
    const summary = store.reader.listRuns().find((r) => r.id === runId)!;
    expect(summary).toMatchObject({ name: 'host.trace', status: 'done', events: 2 });
    expect(summary.source).toMatchObject({ kind: 'trace', format: 'ftrace', sha256: out.source.sha256, stats: { unknown: { count: 1, lines: [3] } } });
    const rows = store.reader.queryEvents({ runId, offset: 0, limit: 10 }).rows;
    expect(rows.map((r) => [r.seq, r.kind, r.line, r.time, r.component, r.problem])).toEqual([
      [0, 'trace-map', 2, 1_000_001_000, 'ftrace', false],
      [1, 'trace-fault', 4, 2_250_000_000, 'ftrace', true],
    ]);
    expect(rows[0].fields).toMatchObject({ iova: '0x1000', size: '0x1000' });
    expect(store.reader.queryEvents({ runId, offset: 0, limit: 10, problemsOnly: true }).rows.map((r) => r.seq)).toEqual([1]);
    const detail = store.reader.getRun(runId)!;
    const trace = detail.metrics!.components!.find((c) => c.component === 'ftrace')!;
    expect(trace.metrics.find((m) => m.id === 'traceFaults')).toMatchObject({ value: 1, parts: { 'toy:fault': 1 } });
  });

  it('stores nothing when lines of known events are malformed, and keeps the rest when a partial import is accepted', async () => {
    const f = write('bad.trace', GOOD + '3.000000 map 0xzz 1\n');
    const refused = await importTraceFile(store, dbPath, f, [toy]);
    expect(refused.runId).toBeNull();
    expect(refused.refused).toMatch(/^1 malformed line of known events \(first: line 5: map: bad body "0xzz 1"\); nothing stored/);
    expect(refused.source.stats.errors).toEqual({ count: 1, list: [{ line: 5, message: 'map: bad body "0xzz 1"' }] });
    expect(store.reader.listRuns()).toEqual([]);
    const db = new Database(dbPath, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(0);
    db.close();

    const kept = await importTraceFile(store, dbPath, f, [toy], { acceptPartial: true });
    expect(kept.runId).not.toBeNull();
    expect(kept.source.partial).toBe(true);
    expect(store.reader.listRuns().map((r) => [r.events, r.source?.partial])).toEqual([[2, true]]);
  });

  it('stores nothing when cancelled, or when the format cannot be told, and says why a file cannot be read', async () => {
    const big = write('big.trace', Array.from({ length: 200_000 }, (_, i) => `1.${String(i % 1e6).padStart(6, '0')} map 0x${(i * 4096).toString(16)} 4096`).join('\n'));
    const ac = new AbortController();
    const out = await importTraceFile(store, dbPath, big, [toy], { signal: ac.signal, onProgress: () => ac.abort() });
    expect(out).toMatchObject({ runId: null, refused: 'cancelled: nothing stored' });
    expect(store.reader.listRuns()).toEqual([]);

    await expect(importTraceFile(store, dbPath, write('x.txt', 'hello\nworld\n'), [toy])).rejects.toThrow(ImportError);
    expect(store.reader.listRuns()).toEqual([]);
    await expect(importTraceFile(store, dbPath, path.join(dir, 'nope.trace'), [toy])).rejects.toThrow(new ImportFileError(`cannot read trace "${path.join(dir, 'nope.trace')}": no such file`));
    await expect(importTraceFile(store, dbPath, dir, [toy])).rejects.toThrow(/is a directory/);
  });
});
