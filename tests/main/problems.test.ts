/**
 * One definition of "problem", from the catalog's per-kind rules (core/events/problems.ts): every
 * place that decides it agrees, for every kind and every case of its rule — live events
 * (isProblemEvent), stored rows (the reader's problem flag), `problemsOnly` (PROBLEM_SQL through the
 * partial index), the index itself (its WHERE clause is PROBLEM_SQL verbatim, also after upgrading
 * an older database), the run's failed count, and the CLI's --problems.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVENT_CATALOG, type EventKind, type FieldSpec, type KindSpec } from '../../core/events/catalog.ts';
import { ALWAYS_PROBLEM_KINDS, PROBLEM_KINDS, PROBLEM_RULES, PROBLEM_SUMMARY, isProblemEvent } from '../../core/events/problems.ts';
import type { SeqEvent } from '../../core/events/sink.ts';
import { EventWriter, LabStore, PROBLEM_SQL, migrate } from '../../main/store/index.ts';
import { V9_PROBLEM_SQL } from '../../main/store/schema.ts';
import { isProblemKind } from '../../renderer/src/format.ts';

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-problems-'));
  dbPath = path.join(dir, 'lab.db');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** One case: an event and whether the catalog's rule makes it a problem. */
interface Case {
  kind: EventKind;
  payload: Record<string, unknown>;
  problem: boolean;
  why: string;
}

/** A payload with every field of `kind` set to a neutral value (0, 0n, {}); optional fields too. */
function basePayload(kind: EventKind): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries((EVENT_CATALOG[kind] as KindSpec).fields) as [string, FieldSpec][]) {
    out[name] = f.type === 'u64' ? 0n : f.type === 'json' ? { message: 'x' } : 0;
  }
  return out;
}

/** Every kind, and for each rule every case: the value that makes a problem, one that does not, absent. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const kind of Object.keys(EVENT_CATALOG) as EventKind[]) {
    const rule = (EVENT_CATALOG[kind] as KindSpec).problem;
    const base = basePayload(kind);
    if (rule === undefined) {
      out.push({ kind, payload: base, problem: false, why: 'no rule' });
    } else if (rule.when === 'always') {
      out.push({ kind, payload: base, problem: true, why: 'always' });
    } else {
      const field = (EVENT_CATALOG[kind] as KindSpec).fields[rule.field];
      const other = rule.value === 0 ? 1 : 0;
      out.push({ kind, payload: { ...base, [rule.field]: rule.value }, problem: rule.when === 'equals', why: `${rule.field} = ${rule.value}` });
      out.push({ kind, payload: { ...base, [rule.field]: other }, problem: rule.when !== 'equals', why: `${rule.field} = ${other}` });
      if (field.optional) {
        const { [rule.field]: _gone, ...rest } = base;
        out.push({ kind, payload: rest, problem: rule.when === 'absent-or-not', why: `${rule.field} absent` });
      }
    }
  }
  return out;
}

describe('the problem definition (one body over the catalog)', () => {
  it('the catalog declares faults, device errors and failed expectations as problems', () => {
    expect(PROBLEM_KINDS).toEqual([
      'request',
      'fault',
      'config-write',
      'device-error',
      'expectation',
      'host-call',
      'host-dma',
      'host-fault',
      'hiod-realize',
      'set-iommu-device',
      'device-plug',
      'qemu-error',
      'guest-probe',
      'dma-map',
      'stale-access',
      'guest-log',
      'trace-fault',
    ]);
    expect(ALWAYS_PROBLEM_KINDS).toEqual(['fault', 'device-error', 'host-fault', 'qemu-error', 'stale-access', 'trace-fault']);
    expect(PROBLEM_RULES.every((r) => r.rule.when === 'always' || r.column !== undefined)).toBe(true);
    expect(PROBLEM_SUMMARY).toContain('faults');
    expect(PROBLEM_SUMMARY).toContain('failed expectations');
    // The UI colours a kind as a problem exactly when every event of it is one.
    for (const kind of Object.keys(EVENT_CATALOG)) expect([kind, isProblemKind(kind)]).toEqual([kind, (EVENT_CATALOG[kind as EventKind] as KindSpec).problem?.when === 'always']);
  });

  it('live events, stored rows, problemsOnly, the failed count and the index agree on every case', () => {
    const all = cases();
    expect(all.some((c) => c.problem) && all.some((c) => !c.problem)).toBe(true);
    const store = new LabStore(dbPath);
    const runId = store.createRun({ name: 'p', file: 'p.yaml', scenarioText: 'name: p', steps: 1, totalUnits: 1 });
    const w = new EventWriter(dbPath, runId);
    w.write(all.map((c, seq) => ({ seq, step: 0, kind: c.kind, ...c.payload }) as unknown as SeqEvent));
    w.commit(1, 1);
    w.abort(); // the run stays `running` with every event committed

    // Live: the payload as the core emits it (u64 as bigint).
    for (const c of all) expect([c.kind, c.why, isProblemEvent(c.kind, c.payload)]).toEqual([c.kind, c.why, c.problem]);

    // Stored: the reader's flag on every row.
    const rows = store.reader.queryEvents({ runId, offset: 0, limit: 5000 }).rows;
    expect(rows.map((r) => [r.kind, all[r.seq].why, r.problem])).toEqual(all.map((c) => [c.kind, c.why, c.problem]));
    for (const r of rows) expect(isProblemEvent(r.kind, r.fields)).toBe(r.problem);

    // problemsOnly: PROBLEM_SQL through the partial index, exactly the problem cases.
    const expected = all.flatMap((c, seq) => (c.problem ? [seq] : []));
    const only = store.reader.queryEvents({ runId, offset: 0, limit: 5000, problemsOnly: true });
    expect(only.total).toBe(expected.length);
    expect(only.rows.map((r) => r.seq)).toEqual(expected);
    expect(only.rows.every((r) => r.problem)).toBe(true);

    // The run's failed count (markFailed recounts it) is the failed expectations only.
    expect(store.markFailed(runId, 'test')).toBe(true);
    const failedExpectations = all.filter((c) => c.kind === 'expectation' && c.problem).length;
    expect(store.reader.getRun(runId)!.failedExpectations).toBe(failedExpectations);
    store.close();

    // The index holds exactly the problem rows, and its WHERE clause is PROBLEM_SQL verbatim.
    const db = new Database(dbPath, { readonly: true });
    const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'events_problems'").get() as { sql: string }).sql;
    expect(sql.endsWith(`WHERE ${PROBLEM_SQL}`)).toBe(true);
    const viaIndex = db.prepare(`SELECT seq FROM events INDEXED BY events_problems WHERE run_id = ? AND ${PROBLEM_SQL} ORDER BY seq`).pluck().all(runId);
    expect(viaIndex).toEqual(expected);
    db.close();
  });

  it('the latest migration creates the index with the current PROBLEM_SQL (a rule change needs a migration)', () => {
    expect(V9_PROBLEM_SQL).toBe(PROBLEM_SQL);
  });

  it('upgrading a version-4 database recreates the index so device errors become problems', () => {
    const old = new Database(dbPath);
    migrate(old, 4);
    old.prepare(
      `INSERT INTO runs (id, name, file, scenario_text, status, started_at, finished_at, steps, total_units, done_units, event_count, failed_expectations)
       VALUES (1, 'v4', 'v4.yaml', 'name: v4', 'done', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', 1, 1, 1, 4, 0)`,
    ).run();
    const ins = old.prepare('INSERT INTO events (run_id, seq, step, kind, status, flags, aux, data, used) VALUES (1, ?, 0, ?, ?, ?, ?, ?, ?)');
    ins.run(0, EVENT_CATALOG.request.code, 0, null, 3, null, 4); // MAP OK
    ins.run(1, EVENT_CATALOG.request.code, 4, null, 3, null, 4); // MAP INVAL
    ins.run(2, EVENT_CATALOG['config-write'].code, null, 0, 7, null, null); // bypass 7 refused
    ins.run(3, EVENT_CATALOG['device-error'].code, null, null, null, '{"message":"x"}', null);
    expect((old.prepare("SELECT sql FROM sqlite_master WHERE name = 'events_problems'").get() as { sql: string }).sql).not.toContain(PROBLEM_SQL);
    old.close();
    const store = new LabStore(dbPath);
    expect(store.reader.queryEvents({ runId: 1, offset: 0, limit: 10, problemsOnly: true }).rows.map((r) => [r.seq, r.kind])).toEqual([
      [1, 'request'],
      [2, 'config-write'],
      [3, 'device-error'],
    ]);
    store.close();
  });

  it("the CLI's --problems and its ! marks show a run's device errors", () => {
    const file = path.join(dir, 'bypass7.yaml');
    fs.writeFileSync(
      file,
      'name: bypass 7\nviommu: {model: virtio-iommu}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - attach: {domain: 1, endpoint: nic0}\n  - set-bypass: 7\n  - attach: {domain: 2, endpoint: nic0}\n',
    );
    const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'main', 'cli', 'iommu-lab.js');
    const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args, '--db', dbPath], { encoding: 'utf8' });
    expect(cli('run', file).status).toBe(0); // no expectation failed
    const doc = JSON.parse(cli('events', '1', '--problems', '--json').stdout) as { rows: { kind: string; text: string; problem: boolean }[] };
    expect(doc.rows.map((r) => [r.kind, r.text, r.problem])).toEqual([
      ['config-write', 'CONFIG WRITE bypass=7 (rejected)', true],
      ['device-error', "DEVICE ERROR invalid config.bypass value '7'", true],
      ['request', 'REQUEST ATTACH → UNWRITTEN (used 0)', true],
    ]);
    const human = cli('events', '1').stdout.split('\n');
    expect(human.filter((l) => /^\s*\d+\s+\d+\s+!\s/.test(l)).map((l) => l.replace(/^.*!\s+/, ''))).toEqual(doc.rows.map((r) => r.text));
  });
});
