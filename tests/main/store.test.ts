/**
 * The SQLite store: 64-bit round trip, catalog-driven schema, migrations with data kept, event
 * queries (filters, paging, totals), durability of committed prefixes, recovery of interrupted runs.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContractError } from '../../core/contract/index.ts';
import { EVENT_CATALOG } from '../../core/events/catalog.ts';
import type { SeqEvent } from '../../core/events/sink.ts';
import { CHECKPOINT_MS, Checkpointer, EventWriter, INTERRUPTED, LabStore, MIGRATIONS, SCHEMA_VERSION, defaultDbPath, migrate, schemaVersion } from '../../main/store/index.ts';
import { BatchEncoder, MAX_KIND_CODE, checkKindCodes } from '../../main/store/batch.ts';
import { VirtualClock } from '../../core/engine/clock.ts';
import { toJson } from '../../main/store/codec.ts';
import { mulberry32 } from '../support/prng.ts';
import { ScenarioRun } from '../../core/run/runner.ts';
import { parseScenario } from '../../core/scenario/index.ts';

const MAX = 0xffff_ffff_ffff_ffffn;
const HIGH = 0xffff_ffff_ffff_f000n;

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-store-'));
  dbPath = path.join(dir, 'lab.db');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const ev = (e: Record<string, unknown>) => e as unknown as SeqEvent;
const OUTCOME = { doneUnits: 1, totalUnits: 1, metrics: null, stepResults: [], failedExpectations: 0, error: null };

function newRun(store: LabStore, name = 'r'): number {
  return store.createRun({ name, file: `${name}.yaml`, scenarioText: 'name: r', steps: 1, totalUnits: 1 });
}

/** Every stored column of a run's events, raw (integers as bigint). */
function rawRows(file: string, runId: number): unknown[] {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT seq, step, kind, status, domain, endpoint, a, b, c, flags, aux, data, used, comp, time FROM events WHERE run_id = ? ORDER BY seq').safeIntegers(true).all(runId);
  db.close();
  return rows;
}

describe('64-bit values', () => {
  it('round-trip 0xfffffffffffff000 and 0xffffffffffffffff through a, b, c and JSON data', () => {
    const store = new LabStore(dbPath);
    const runId = newRun(store);
    const w = new EventWriter(dbPath, runId);
    w.write([
      ev({ seq: 0, step: 0, kind: 'map', domain: 0xffffffff, virtStart: HIGH, virtEnd: MAX, physStart: MAX, flags: 3 }),
      ev({ seq: 1, step: 0, kind: 'translate', endpoint: 8, iova: MAX, phys: HIGH, size: 1n, access: 1, path: 0 }),
      ev({ seq: 2, step: 1, kind: 'probe', endpoint: 8, status: 0, regions: [{ subtype: 1, start: HIGH, end: MAX }, { subtype: 0, start: '0xfffffffffffff000', end: '0xffffffffffffffff' }] }),
      ev({ seq: 3, step: 2, kind: 'fault', reason: 2, flags: 0x101, endpoint: 8, address: MAX }),
      ev({ seq: 4, step: -1, kind: 'features', offered: MAX, accepted: 0n }),
    ]);
    w.finish({ ...OUTCOME, status: 'done' });

    const { total, rows } = store.reader.queryEvents({ runId, offset: 0, limit: 10 });
    expect(total).toBe(5);
    expect(rows.map((r) => r.kind)).toEqual(['map', 'translate', 'probe', 'fault', 'features']);
    expect(rows[0].fields).toEqual({ domain: 0xffffffff, virtStart: '0xfffffffffffff000', virtEnd: '0xffffffffffffffff', physStart: '0xffffffffffffffff', flags: 3 });
    expect(rows[1].fields).toEqual({ endpoint: 8, iova: '0xffffffffffffffff', phys: '0xfffffffffffff000', size: '0x1', access: 1, path: 0 });
    expect(rows[1].fields).not.toHaveProperty('domain'); // optional, absent → NULL → left out
    expect(rows[2].fields.regions).toEqual([
      { subtype: 1, start: '0xfffffffffffff000', end: '0xffffffffffffffff' },
      { subtype: 0, start: '0xfffffffffffff000', end: '0xffffffffffffffff' },
    ]);
    expect(rows[3].fields.address).toBe('0xffffffffffffffff');
    expect(rows[3].problem).toBe(true);
    expect(rows[4]).toMatchObject({ step: -1, fields: { offered: '0xffffffffffffffff', accepted: '0x0' } });
    expect(rows[0].text).toContain('0xfffffffffffff000-0xffffffffffffffff');

    // Stored as the signed 64-bit reinterpretation (BigInt.asIntN).
    const raw = new Database(dbPath, { readonly: true });
    const r = raw.prepare('SELECT a, b, c FROM events WHERE run_id = ? AND seq = 0').safeIntegers(true).get(runId) as Record<string, bigint>;
    expect(r).toEqual({ a: -4096n, b: -1n, c: -1n });
    raw.close();
    store.close();
  });
});

describe('columnar batches (the run worker\'s hand-off)', () => {
  const EDGE_EVENTS = [
    ev({ seq: 0, step: -1, kind: 'features', offered: MAX, accepted: 0n }),
    ev({ seq: 1, step: 0, kind: 'request', reqType: 3, status: 0, domain: 0xffffffff, virtStart: HIGH, virtEnd: MAX, physStart: 2n ** 53n, reqFlags: 3, used: 4 }),
    ev({ seq: 2, step: 0, kind: 'request', reqType: 9, used: 0 }),
    ev({ seq: 3, step: 0, kind: 'map', domain: 1, virtStart: 2n ** 53n - 1n, virtEnd: 2n ** 63n, physStart: 2n ** 63n - 1n, flags: 3 }),
    ev({ seq: 4, step: 1, kind: 'translate', endpoint: 8, iova: MAX, phys: HIGH, size: 1n, access: 1, path: 0 }),
    ev({ seq: 5, step: 2, kind: 'probe', endpoint: 8, status: 0, regions: [{ subtype: 1, start: HIGH, end: MAX }] }),
    ev({ seq: 6, step: 3, kind: 'expectation', held: 0, detail: { expected: 'OK', actual: 'RANGE', message: 'ü "quoted"' } }),
  ];

  it('store exactly the rows write() stores for the same events (u64 edges, NULLs, JSON)', () => {
    const store = new LabStore(dbPath);
    const viaWrite = newRun(store, 'w');
    const viaBatch = newRun(store, 'b');
    const w1 = new EventWriter(dbPath, viaWrite);
    // The envelope as a recorded run stamps it (EventLog with a clock; the expectation is the run's own).
    const clock = new VirtualClock();
    const stamped = EDGE_EVENTS.map((e) => ({ ...e, time: clock.tick(e.kind), ...(e.kind === 'expectation' ? {} : { component: 'viommu0' }) }) as SeqEvent);
    w1.write(stamped);
    w1.finish({ ...OUTCOME, status: 'done' });
    const enc = new BatchEncoder(2); // grows while encoding
    const w2 = new EventWriter(dbPath, viaBatch);
    for (const [i, e] of EDGE_EVENTS.entries()) {
      const { kind, step, seq: _seq, ...payload } = e as unknown as Record<string, unknown> & { kind: 'map'; step: number };
      enc.emit(kind, step, payload as never, (kind as string) === 'expectation' ? '' : 'viommu0');
      if (i === 2) w2.writeBatch(enc.take(1, 2));
    }
    const last = enc.take(2, 2);
    expect(last).toMatchObject({ firstSeq: 3, count: 4, doneUnits: 2, totalUnits: 2 });
    w2.writeBatch(last);
    w2.finish({ ...OUTCOME, status: 'done' });
    const a = rawRows(dbPath, viaWrite);
    expect(a).toHaveLength(EDGE_EVENTS.length);
    expect(rawRows(dbPath, viaBatch)).toEqual(a);
    expect(store.reader.queryEvents({ runId: viaBatch, offset: 0, limit: 10 }).rows).toEqual(store.reader.queryEvents({ runId: viaWrite, offset: 0, limit: 10 }).rows);
    expect(store.reader.queryEvents({ runId: viaBatch, offset: 3, limit: 1 }).rows[0].fields).toEqual({ domain: 1, virtStart: '0x1fffffffffffff', virtEnd: '0x8000000000000000', physStart: '0x7fffffffffffffff', flags: 3 });
    store.close();
  });

  it('store the envelope: the emitting component (a per-run code, runs.components) and the virtual time; the run\'s own events have no component', () => {
    const store = new LabStore(dbPath);
    const runId = newRun(store);
    const enc = new BatchEncoder();
    enc.emit('attach', 0, { domain: 1, endpoint: 8 }, 'viommu0');
    enc.emit('endpoint-alloc', 0, { endpoint: 9 }, 'viommu1');
    enc.emit('expectation', 0, { held: 1, detail: { message: 'ok' } }, '');
    enc.emit('map', 1, { domain: 1, virtStart: 0n, virtEnd: 0xfffn, physStart: 0n, flags: 3 }, 'viommu0');
    const w = new EventWriter(dbPath, runId);
    w.writeBatch(enc.take(1, 1));
    w.finish({ ...OUTCOME, status: 'done' });
    const db = new Database(dbPath, { readonly: true });
    expect(db.prepare('SELECT comp, time FROM events WHERE run_id = ? ORDER BY seq').raw().all(runId)).toEqual([
      [1, 300],
      [2, 400],
      [0, 400],
      [1, 900],
    ]);
    expect(db.prepare('SELECT components FROM runs WHERE id = ?').pluck().get(runId)).toBe('["viommu0","viommu1"]');
    db.close();
    const rows = store.reader.queryEvents({ runId, offset: 0, limit: 10 }).rows;
    expect(rows.map((r) => [r.kind, r.component, r.time])).toEqual([
      ['attach', 'viommu0', 300],
      ['endpoint-alloc', 'viommu1', 400],
      ['expectation', null, 400],
      ['map', 'viommu0', 900],
    ]);
    expect(store.reader.getEvent(runId, 1)).toMatchObject({ component: 'viommu1', time: 400 });
    store.close();
  });

  it('hold kind codes above 255 (a Uint16Array of kinds; codes are checked against 1..65535)', () => {
    const enc = new BatchEncoder(4);
    expect(enc.kinds).toBeInstanceOf(Uint16Array);
    enc.kinds[0] = 300;
    expect(enc.kinds[0]).toBe(300);
    expect(MAX_KIND_CODE).toBe(65535);
    expect(() => checkKindCodes({ 'test-only-kind': { code: 300 } })).not.toThrow();
    expect(() => checkKindCodes({ 'too-big': { code: 65536 } })).toThrow(/too-big: code 65536 does not fit a batch/);
    expect(() => checkKindCodes({ zero: { code: 0 } })).toThrow(/does not fit/);
  });

  it('refuse a batch or events that do not continue the stream', () => {
    const store = new LabStore(dbPath);
    const w = new EventWriter(dbPath, newRun(store));
    const enc = new BatchEncoder();
    enc.emit('endpoint-alloc', 0, { endpoint: 8 });
    enc.take(1, 1); // never written: the next batch starts at seq 1
    enc.emit('endpoint-free', 0, { endpoint: 8 });
    expect(() => w.writeBatch(enc.take(1, 1))).toThrow(/starts at seq 1, expected 0/);
    expect(() => w.write([ev({ seq: 0, step: 0, kind: 'endpoint-free', endpoint: 8 }), ev({ seq: 2, step: 0, kind: 'endpoint-free', endpoint: 9 })])).toThrow(
      /event seq 2 at position 1, expected 1/,
    );
    expect(w.eventCount).toBe(0);
    w.abort();
    store.close();
  });

  it('carry the same stream as takeEvents() when a run hands events to onEvent', () => {
    const text = `name: stream
viommu: {model: virtio-iommu}
devices: [{name: nic0, bdf: "00:03.0"}]
steps:
  - attach: {domain: 1, endpoint: nic0}
  - workload: {domain: 1, endpoint: nic0, count: 300, size: 4096, iova-base: 0xffffffffff000000, phys-base: 0x80000000}
  - dma: {endpoint: nic0, addr: 0x5000, size: 8, access: read}
`;
    const scenario = parseScenario(text, 's.yaml').scenario!;
    const store = new LabStore(dbPath);
    const viaWrite = newRun(store, 'w');
    const viaBatch = newRun(store, 'b');
    const r1 = new ScenarioRun(scenario);
    const w1 = new EventWriter(dbPath, viaWrite);
    while (r1.advance(7)) w1.write(r1.takeEvents());
    w1.write(r1.takeEvents());
    w1.finish({ ...OUTCOME, status: 'done' });
    const enc = new BatchEncoder(64);
    const r2 = new ScenarioRun(scenario, { onEvent: enc.emit });
    const w2 = new EventWriter(dbPath, viaBatch);
    for (let more = true; more; ) {
      more = r2.advance(7);
      w2.writeBatch(enc.take(r2.doneUnits, r2.totalUnits));
    }
    w2.finish({ ...OUTCOME, status: 'done' });
    expect(r2.takeEvents()).toEqual([]);
    expect(r2.metrics()).toEqual(r1.metrics());
    expect(r2.stepResults()).toEqual(r1.stepResults());
    const a = rawRows(dbPath, viaWrite);
    expect(a.length).toBe(r1.metrics().events);
    expect(rawRows(dbPath, viaBatch)).toEqual(a);
    store.close();
  });
});

describe('writer statements (windows in seq order, per-shape strided and plain statements, shared values)', () => {
  /** The stored form of an event, computed here from the catalog (independent of the writer). */
  function expectedRow(e: SeqEvent): Record<string, unknown> {
    const spec = EVENT_CATALOG[e.kind];
    const row: Record<string, unknown> = { seq: BigInt(e.seq), step: BigInt(e.step), kind: BigInt(spec.code) };
    for (const c of ['status', 'domain', 'endpoint', 'a', 'b', 'c', 'flags', 'aux', 'data', 'used']) row[c] = null;
    // The envelope: component 'viommu0' is the run's first (code 1), none is 0; time in ns or NULL.
    row.comp = e.component === 'viommu0' ? 1n : 0n;
    row.time = e.time === undefined ? null : BigInt(e.time);
    for (const [name, f] of Object.entries(spec.fields) as [string, { type: string; column: string }][]) {
      const v = (e as unknown as Record<string, unknown>)[name];
      if (v === undefined || v === null) continue;
      row[f.column] = f.type === 'u64' ? BigInt.asIntN(64, v as bigint) : f.type === 'json' ? toJson(v) : BigInt(v as number);
    }
    return row;
  }

  /**
   * A stream that takes every path of the writer: workload-like cycles (window statements with
   * one step and constant fields as literals, u64 above 2^53 and 2^63 and constant JSON among
   * them; per-shape strided statements for the windows seen once), optional fields coming and
   * going (several shapes of one kind), irregular spacing and step changes (windows without a
   * statement, plain per-shape statements), constant-field sets that change every 128 rows (more
   * strided statements than a buffer keeps), a periodic stream whose step changes inside every
   * window, and partial windows and buffers flushed at commits.
   */
  function stream(): SeqEvent[] {
    const rnd = mulberry32(7);
    const out: Record<string, unknown>[] = [];
    const push = (e: Record<string, unknown>) => out.push({ seq: out.length, ...e });
    for (let i = 0; i < 700; i++) {
      const iova = HIGH - 0x1000n * BigInt(i);
      push({ step: 1, kind: 'request', reqType: 3, status: 0, domain: 1, virtStart: iova, virtEnd: MAX, physStart: 0x8000_0000n + BigInt(i), reqFlags: 3, used: 4 });
      push({ step: 1, kind: 'map', domain: 1, virtStart: iova, virtEnd: iova + 0xfffn, physStart: i < 350 ? 2n ** 53n : 2n ** 63n, flags: 3 });
      push({ step: 1, kind: 'translate', endpoint: 8, ...(i % 300 < 150 ? { domain: 1 } : {}), iova, phys: BigInt(i), size: 4096n, access: 1, path: 0 });
      push({ step: 1, kind: 'expectation', held: 1, detail: { message: 'same', big: MAX } });
      push({ step: 1, kind: 'probe', endpoint: 8, status: 0, regions: [{ subtype: 1, start: BigInt(i), end: MAX }] });
    }
    for (let i = 0; i < 1500; i++) {
      const step = 2 + Math.floor(i / 50);
      const r = rnd() % 4;
      if (r === 0) push({ step, kind: 'fault', reason: 2, flags: 0x101, endpoint: 8, address: BigInt(rnd()) << 32n });
      else if (r === 1) push({ step, kind: 'attach', domain: rnd() % 3, endpoint: 8 });
      else push({ step, kind: 'map', domain: 2, virtStart: BigInt(i), virtEnd: BigInt(i) + 1n, physStart: 0n, flags: rnd() % 2 });
    }
    // 40 blocks of 128 unmaps; in block k field j is constant when bit j of k % 32 is set.
    for (let k = 0; k < 40; k++) {
      for (let r = 0; r < 128; r++) {
        const v = (j: number) => ((k % 32) & (1 << j) ? 5 : r);
        push({ step: 40, kind: 'unmap', domain: v(0), virtStart: BigInt(v(1)), virtEnd: MAX - BigInt(v(2)), physStart: BigInt(v(3)), flags: v(4) });
      }
    }
    // A periodic stream whose step changes inside every window.
    for (let i = 0; i < 3000; i++) {
      const step = 42 + (i % 2);
      if (i % 3 === 0) push({ step, kind: 'attach', domain: 7, endpoint: i });
      else if (i % 3 === 1) push({ step, kind: 'translate', endpoint: 8, iova: BigInt(i), phys: MAX - BigInt(i), size: 8n, access: 2, path: 1 });
      else push({ step, kind: 'detach', domain: 7, endpoint: i, implicit: 0 });
    }
    for (let i = 0; i < 37; i++) push({ step: 50, kind: 'endpoint-free', endpoint: i });
    return out as unknown as SeqEvent[];
  }

  it('store every event exactly, through write() and through columnar batches', () => {
    // Stamped as a recorded run stamps them (EventLog with a clock), which the encoder reproduces.
    const clock = new VirtualClock();
    const events = stream().map((e) => ({ ...e, time: clock.tick(e.kind), ...(e.kind === 'expectation' ? {} : { component: 'viommu0' }) }) as SeqEvent);
    const expected = events.map(expectedRow);
    const store = new LabStore(dbPath);
    const viaWrite = newRun(store, 'w');
    const w1 = new EventWriter(dbPath, viaWrite);
    for (let i = 0; i < events.length; i += 1000) {
      w1.write(events.slice(i, i + 1000));
      w1.commit(1, 2);
    }
    w1.finish({ ...OUTCOME, status: 'done' });
    const viaBatch = newRun(store, 'b');
    const w2 = new EventWriter(dbPath, viaBatch);
    const enc = new BatchEncoder(64);
    for (const [i, e] of events.entries()) {
      const { kind, step, seq: _seq, time: _time, component, ...payload } = e as unknown as Record<string, unknown> & { kind: 'map'; step: number; component?: string };
      enc.emit(kind, step, payload as never, component);
      if (i % 777 === 776) w2.writeBatch(enc.take(1, 2));
      if (i % 2000 === 1999) w2.commit(1, 2);
    }
    w2.writeBatch(enc.take(2, 2));
    w2.finish({ ...OUTCOME, status: 'done' });
    expect(rawRows(dbPath, viaWrite)).toEqual(expected);
    expect(rawRows(dbPath, viaBatch)).toEqual(expected);
    store.close();
  });
});

describe('schema', () => {
  it('has every catalog column in events, and is at the latest version', () => {
    const store = new LabStore(dbPath);
    store.close();
    const db = new Database(dbPath, { readonly: true });
    const cols = (db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name);
    for (const spec of Object.values(EVENT_CATALOG)) for (const f of Object.values(spec.fields)) expect(cols).toContain(f.column);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('upgrades a version-1 database with data in it, keeping runs and events', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    const old = new Database(dbPath);
    migrate(old, 1);
    expect(schemaVersion(old)).toBe(1);
    const cols = (old.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).map((c) => c.name);
    expect(cols).not.toContain('owner_pid');
    old.prepare(
      `INSERT INTO runs (id, name, file, scenario_text, status, started_at, finished_at, steps, total_units, done_units, event_count, failed_expectations, metrics, step_results)
       VALUES (1, 'old done', 'old.yaml', 'name: old', 'done', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', 2, 2, 2, 3, 1, '{"events":3}', '[{"index":0,"op":"map","line":5}]'),
              (2, 'old running', 'old2.yaml', 'name: old2', 'running', '2025-01-01T00:00:00.000Z', NULL, 1, 1, 0, 1, 0, NULL, NULL)`,
    ).run();
    const ins = old.prepare('INSERT INTO events (run_id, seq, step, kind, domain, a, b, c, flags, aux, endpoint, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    ins.run(1, 0, 0, EVENT_CATALOG.map.code, 1, -4096n, -1n, 0x80000000, 3, null, null, null);
    ins.run(1, 1, 1, EVENT_CATALOG.fault.code, null, -1n, null, null, 0x102, 2, 8, null);
    ins.run(1, 2, 1, EVENT_CATALOG.expectation.code, null, null, null, null, 0, null, null, '{"expected":"OK","actual":"RANGE","message":"expected OK, got RANGE"}');
    ins.run(2, 0, 0, EVENT_CATALOG.attach.code, 1, null, null, null, null, null, 8, null);
    old.close();

    const store = new LabStore(dbPath);
    const runs = store.reader.listRuns();
    expect(runs.map((r) => [r.id, r.name, r.status])).toEqual([
      [2, 'old running', 'failed'], // a running run without an owner process is interrupted
      [1, 'old done', 'done'],
    ]);
    expect(runs[0].error).toBe(INTERRUPTED);
    const detail = store.reader.getRun(1)!;
    expect(detail.metrics).toEqual({ events: 3 });
    expect(detail.stepResults).toEqual([{ index: 0, op: 'map', line: 5 }]);
    const all = store.reader.queryEvents({ runId: 1, offset: 0, limit: 10 });
    expect(all.total).toBe(3);
    expect(all.rows[0].fields).toMatchObject({ virtStart: '0xfffffffffffff000', virtEnd: '0xffffffffffffffff', physStart: '0x80000000' });
    const problems = store.reader.queryEvents({ runId: 1, offset: 0, limit: 10, problemsOnly: true });
    expect(problems.rows.map((r) => r.kind)).toEqual(['fault', 'expectation']);
    expect(problems.rows[1].text).toContain('expected OK, got RANGE');
    // New runs get ids after the old ones and the v2 columns.
    expect(newRun(store)).toBe(3);
    store.close();
    const db = new Database(dbPath, { readonly: true });
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'events_problems'").get()).toBeTruthy();
    db.close();
  });

  it('upgrades a version-5 database: its events read as the run\'s vIOMMU\'s, without a time; new runs store both', () => {
    const old = new Database(dbPath);
    migrate(old, 5);
    expect((old.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name)).not.toContain('comp');
    old.prepare(
      `INSERT INTO runs (id, name, file, scenario_text, status, started_at, finished_at, steps, total_units, done_units, event_count, failed_expectations)
       VALUES (1, 'v5 run', 'v5.yaml', 'name: v5', 'done', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', 1, 1, 1, 1, 0)`,
    ).run();
    old.prepare('INSERT INTO events (run_id, seq, step, kind, domain, endpoint) VALUES (1, 0, 0, ?, 1, 8)').run(EVENT_CATALOG.attach.code);
    old.close();
    const store = new LabStore(dbPath);
    const [row] = store.reader.queryEvents({ runId: 1, offset: 0, limit: 10 }).rows;
    expect(row).toMatchObject({ kind: 'attach', component: 'viommu0', time: null, text: 'ATTACH ep=00:01.0 domain=1' });
    store.close();
    const db = new Database(dbPath, { readonly: true });
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    const cols = (db.prepare('PRAGMA table_info(events)').all() as { name: string; type: string }[]).map((c) => `${c.name} ${c.type}`);
    expect(cols).toEqual(expect.arrayContaining(['comp INTEGER', 'time INTEGER']));
    db.close();
  });

  it('upgrades a version-2 database: request used lengths move from data JSON to the used column', () => {
    const old = new Database(dbPath);
    migrate(old, 2);
    expect(schemaVersion(old)).toBe(2);
    expect((old.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name)).not.toContain('used');
    old.prepare(
      `INSERT INTO runs (id, name, file, scenario_text, status, started_at, finished_at, steps, total_units, done_units, event_count, failed_expectations)
       VALUES (1, 'v2 run', 'v2.yaml', 'name: v2', 'done', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', 1, 1, 1, 5, 0)`,
    ).run();
    const ins = old.prepare('INSERT INTO events (run_id, seq, step, kind, status, domain, endpoint, a, b, c, flags, aux, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const REQ = EVENT_CATALOG.request.code;
    ins.run(1, 0, 0, REQ, 0, 1, null, 0x1000, 0x1fff, 0x80000, 3, 3, '{"used":4}'); // MAP → OK
    ins.run(1, 1, 0, REQ, 0, null, 8, null, null, null, null, 5, '{"used":516}'); // PROBE → OK
    ins.run(1, 2, 0, REQ, null, null, null, null, null, null, null, 0x42, '{"used":0}'); // unknown type, unwritten
    ins.run(1, 3, 0, EVENT_CATALOG.expectation.code, null, null, null, null, null, null, 1, null, '{"expected":"OK","actual":"OK","message":"ok"}');
    ins.run(1, 4, 0, EVENT_CATALOG.probe.code, 0, null, 8, null, null, null, null, null, '[{"subtype":1,"start":"0xfee00000","end":"0xfeefffff"}]');
    old.close();

    const store = new LabStore(dbPath);
    const rows = store.reader.queryEvents({ runId: 1, offset: 0, limit: 10 }).rows;
    expect(rows.map((r) => r.fields)).toEqual([
      { reqType: 3, status: 0, domain: 1, virtStart: '0x1000', virtEnd: '0x1fff', physStart: '0x80000', reqFlags: 3, used: 4 },
      { reqType: 5, status: 0, endpoint: 8, used: 516 },
      { reqType: 0x42, used: 0 },
      { held: 1, detail: { expected: 'OK', actual: 'OK', message: 'ok' } },
      { endpoint: 8, status: 0, regions: [{ subtype: 1, start: '0xfee00000', end: '0xfeefffff' }] },
    ]);
    expect(rows.slice(0, 3).map((r) => r.text)).toEqual(['REQUEST MAP → OK (used 4)', 'REQUEST PROBE → OK (used 516)', 'REQUEST UNKNOWN(66) → UNWRITTEN (used 0)']);
    store.close();
    const db = new Database(dbPath, { readonly: true });
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    // The request rows' JSON is gone (not kept beside the column); other kinds' data is untouched.
    expect(db.prepare('SELECT seq, used, data FROM events ORDER BY seq').all()).toEqual([
      { seq: 0, used: 4, data: null },
      { seq: 1, used: 516, data: null },
      { seq: 2, used: 0, data: null },
      { seq: 3, used: null, data: '{"expected":"OK","actual":"OK","message":"ok"}' },
      { seq: 4, used: null, data: '[{"subtype":1,"start":"0xfee00000","end":"0xfeefffff"}]' },
    ]);
    db.close();
  });

  it('creates new databases with 16 KiB pages in WAL mode', () => {
    new LabStore(dbPath).close();
    const db = new Database(dbPath, { readonly: true });
    expect(db.pragma('page_size', { simple: true })).toBe(16384);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('refuses a database from a newer build', () => {
    const db = new Database(dbPath);
    migrate(db);
    db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    db.close();
    expect(() => new LabStore(dbPath)).toThrow(/was written by a newer IOMMU Lab \(schema version \d+; this build knows \d+\): upgrade IOMMU Lab/);
  });
});

describe('queryEvents', () => {
  function seeded(): { store: LabStore; runId: number } {
    const store = new LabStore(dbPath);
    const runId = newRun(store);
    const w = new EventWriter(dbPath, runId);
    const events: SeqEvent[] = [];
    for (let i = 0; i < 1000; i++) {
      const domain = 1 + (i % 2);
      const iova = 0x1000n * BigInt(i);
      if (i % 10 === 7) events.push(ev({ seq: i, step: 1, kind: 'fault', reason: 2, flags: 0x101, endpoint: i % 20 === 7 ? 17 : 18, address: iova }));
      else if (i % 100 === 99) events.push(ev({ seq: i, step: 2, kind: 'expectation', held: i % 200 === 99 ? 0 : 1, detail: { message: `e${i}` } }));
      else events.push(ev({ seq: i, step: 1, kind: 'map', domain, virtStart: iova, virtEnd: iova + 0xfffn, physStart: iova, flags: 3 }));
    }
    // Several write() calls and a commit in between, as the worker does.
    w.write(events.slice(0, 333));
    w.commit(1, 1);
    w.write(events.slice(333));
    w.finish({ ...OUTCOME, status: 'done' });
    return { store, runId };
  }

  it('pages in seq order with totals, with and without filters', () => {
    const { store, runId } = seeded();
    const page = store.reader.queryEvents({ runId, offset: 990, limit: 50 });
    expect(page.total).toBe(1000);
    expect(page.rows.map((r) => r.seq)).toEqual([990, 991, 992, 993, 994, 995, 996, 997, 998, 999]);

    const faults = store.reader.queryEvents({ runId, offset: 0, limit: 5000, kinds: ['fault'] });
    expect(faults.total).toBe(100);
    expect(faults.rows.every((r) => r.kind === 'fault' && r.problem)).toBe(true);

    const d2 = store.reader.queryEvents({ runId, offset: 10, limit: 5, domain: 2, kinds: ['map'] });
    expect(d2.total).toBe(390); // odd seqs, less the faults (i % 10 = 7) and expectations (i % 100 = 99)
    expect(d2.rows.every((r) => r.fields.domain === 2)).toBe(true);
    expect(d2.rows[0].seq).toBeGreaterThan(0);

    const ep = store.reader.queryEvents({ runId, offset: 0, limit: 1, endpoint: 17 });
    expect(ep.total).toBe(50);

    const problems = store.reader.queryEvents({ runId, offset: 0, limit: 5000, problemsOnly: true });
    // 100 faults + 5 failed expectations (i = 99, 299, …); held expectations are not problems.
    expect(problems.total).toBe(105);
    expect(problems.rows.filter((r) => r.kind === 'expectation').map((r) => r.seq)).toEqual([99, 299, 499, 699, 899]);

    expect(store.reader.queryEvents({ runId, offset: 0, limit: 10, kinds: [] })).toEqual({ total: 0, rows: [] });
    expect(store.reader.queryEvents({ runId: 999, offset: 0, limit: 10 })).toEqual({ total: 0, rows: [] });
    store.close();
  });

  it('counts filtered totals of a running run afresh after each commit', () => {
    const store = new LabStore(dbPath);
    const runId = newRun(store);
    const w = new EventWriter(dbPath, runId);
    const fault = (seq: number) => ev({ seq, step: 0, kind: 'fault', reason: 1, flags: 0x100, endpoint: 8, address: BigInt(seq) });
    w.write([fault(0), fault(1)]);
    w.commit(1, 2);
    const q = { runId, offset: 0, limit: 10, kinds: ['fault'] };
    expect(store.reader.queryEvents(q).total).toBe(2);
    expect(store.reader.queryEvents({ ...q, kinds: undefined, problemsOnly: true }).total).toBe(2);
    w.write([fault(2)]);
    w.commit(2, 2);
    expect(store.reader.queryEvents(q).total).toBe(3);
    w.finish({ ...OUTCOME, status: 'done' });
    expect(store.reader.queryEvents(q).total).toBe(3);
    expect(store.reader.queryEvents({ ...q, kinds: undefined, problemsOnly: true }).rows.map((r) => r.seq)).toEqual([0, 1, 2]);
    store.close();
  });

  it('rejects an unknown kind with its field path', () => {
    const { store, runId } = seeded();
    let err: unknown;
    try {
      store.reader.queryEvents({ runId, offset: 0, limit: 10, kinds: ['map', 'mapp'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ContractError);
    expect((err as ContractError).path).toBe('/kinds/1');
    store.close();
  });
});

describe('durability and recovery', () => {
  it('keeps exactly the committed prefix when the writer dies mid-transaction', () => {
    const store = new LabStore(dbPath);
    const runId = newRun(store);
    const w = new EventWriter(dbPath, runId);
    const mk = (seq: number) => ev({ seq, step: 0, kind: 'attach', domain: 1, endpoint: seq });
    w.write(Array.from({ length: 300 }, (_, i) => mk(i)));
    w.commit(3, 10);
    w.write(Array.from({ length: 200 }, (_, i) => mk(300 + i)));
    w.abort(); // like a crash: the open transaction is lost
    expect(store.reader.queryEvents({ runId, offset: 0, limit: 1 }).total).toBe(300);
    expect(store.markFailed(runId, 'worker crashed')).toBe(true);
    expect(store.markFailed(runId, 'again')).toBe(false);
    const r = store.reader.getRun(runId)!;
    expect(r).toMatchObject({ status: 'failed', error: 'worker crashed', events: 300 });
    const rows = store.reader.queryEvents({ runId, offset: 250, limit: 100 }).rows;
    expect(rows.map((x) => x.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 250 + i));
    store.close();
  });

  it('marks runs of dead processes interrupted on open, and leaves live owners alone', () => {
    const store = new LabStore(dbPath);
    const mine = newRun(store, 'mine');
    const dead = newRun(store, 'dead');
    const other = newRun(store, 'other');
    store.close(); // `mine` is still registered as executing in this process
    const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const db = new Database(dbPath);
    db.prepare('UPDATE runs SET owner_pid = ? WHERE id = ?').run(Number(deadPid), dead);
    db.prepare('UPDATE runs SET owner_pid = ? WHERE id = ?').run(process.ppid, other);
    db.close();

    const again = new LabStore(dbPath);
    const status = Object.fromEntries(again.reader.listRuns().map((r) => [r.name, [r.status, r.error]]));
    expect(status).toEqual({ mine: ['running', null], dead: ['failed', INTERRUPTED], other: ['running', null] });
    again.release(mine);
    expect(again.recoverInterrupted()).toEqual([mine]);
    again.close();
  });
});

describe('Checkpointer (background WAL checkpoints during a run)', () => {
  it('copies committed pages into the database file while the writer keeps writing', () => {
    const store = new LabStore(dbPath);
    const runId = newRun(store);
    const w = new EventWriter(dbPath, runId);
    const mk = (seq: number) => ev({ seq, step: 0, kind: 'map', domain: 1, virtStart: BigInt(seq) << 12n, virtEnd: (BigInt(seq) << 12n) + 0xfffn, physStart: HIGH, flags: 3 });
    w.write(Array.from({ length: 5000 }, (_, i) => mk(i)));
    w.commit(1, 2);
    const ckpt = new Checkpointer(dbPath);
    const t = performance.now();
    expect(ckpt.due(t)).toBe(false);
    expect(ckpt.maybe(t)).toBe(false);
    const before = fs.statSync(dbPath).size;
    expect(ckpt.maybe(t + CHECKPOINT_MS)).toBe(true);
    expect(ckpt.runs).toBe(1);
    // The committed rows are now in the database file, not only in the WAL.
    expect(fs.statSync(dbPath).size).toBeGreaterThan(before + 5000 * 20);
    expect(ckpt.due()).toBe(false);
    // The writer's open transaction was not disturbed, and it goes on.
    w.write(Array.from({ length: 1000 }, (_, i) => mk(5000 + i)));
    w.finish({ ...OUTCOME, status: 'done' });
    ckpt.close();
    const page = store.reader.queryEvents({ runId, offset: 5999, limit: 10 });
    expect(page.total).toBe(6000);
    expect(page.rows[0].fields).toMatchObject({ virtStart: '0x176f000', physStart: '0xfffffffffffff000' });
    store.close();
  });
});

describe('defaultDbPath', () => {
  it('follows $IOMMU_LAB_DB, then the platform data directory', () => {
    expect(defaultDbPath({ IOMMU_LAB_DB: '/x/y.db' }, 'linux')).toBe('/x/y.db');
    expect(defaultDbPath({ HOME: '/home/u' }, 'linux')).toBe('/home/u/.local/share/iommu-lab/lab.db');
    expect(defaultDbPath({ HOME: '/home/u', XDG_DATA_HOME: '/data' }, 'linux')).toBe('/data/iommu-lab/lab.db');
    expect(defaultDbPath({ HOME: '/Users/u' }, 'darwin')).toBe('/Users/u/Library/Application Support/iommu-lab/lab.db');
    expect(defaultDbPath({ APPDATA: 'C:/Users/u/AppData/Roaming' }, 'win32')).toBe(path.join('C:/Users/u/AppData/Roaming', 'iommu-lab', 'lab.db'));
  });
});
