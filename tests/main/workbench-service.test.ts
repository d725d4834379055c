/**
 * The contract methods and params the workbench uses, through LabService with real run workers:
 * RunSummary.config, queryEvents' free-text `search` (paging and totals), locateEvent (step →
 * events, seek by seq, under filters), getEventDetail (names, hex, raw request bytes), and a
 * version-3 database whose runs read back with config null.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { LabStore, SCHEMA_VERSION, migrate, schemaVersion } from '../../main/store/index.ts';
import { openReadOnlyDatabase } from '../../main/store/store.ts';
import { EVENT_TEXT_FN, SEARCH_ARGS, ScanStopped, registerSearchText, scanMatches } from '../../main/store/search.ts';
import { SearchHost } from '../../main/worker/search-host.ts';

let dir: string;
let services: LabService[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-workbench-'));
  fs.mkdirSync(path.join(dir, 'examples'));
});
afterEach(async () => {
  await Promise.all(services.map((s) => s.close()));
  services = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(): LabService {
  const s = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: path.join(dir, 'examples'), warmRunWorker: false });
  services.push(s);
  return s;
}

const TEXT = `name: workbench
machine: virt
viommu: {model: virtio-iommu, conformance: spec, granule: 16k}
devices:
  - {name: nic0, bdf: "00:03.0"}
  - {name: gpu, bdf: "02:00.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - attach: {domain: 2, endpoint: gpu}
  - map: {domain: 1, virt-start: 0x10000, virt-end: 0x1ffff, phys-start: 0x80000, flags: [read]}
  - dma: {endpoint: nic0, addr: 0x90000, access: read}
  - request: {hex: "04 00 00 00 01 00 00 00"}
  - workload: {domain: 2, endpoint: gpu, count: 40, size: 0x4000, iova-base: 0x100000, phys-base: 0x200000}
  - dma: {endpoint: gpu, addr: 0x5000, access: write}
`;

async function runIt(s: LabService): Promise<number> {
  const res = await s.call('startRun', { text: TEXT, file: 'wb.yaml' });
  expect(res.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const runId = res.runId!;
  expect((await waitForRun(s, runId)).status).toBe('done');
  return runId;
}

describe('workbench contract', () => {
  it('stores the run configuration, defaults resolved', async () => {
    const s = open();
    const runId = await runIt(s);
    const expected = {
      machine: 'virt',
      model: 'virtio-iommu',
      conformance: 'spec',
      granule: '16k',
      awBits: 48,
      devices: [
        { name: 'nic0', bdf: '00:03.0', endpoint: 0x18 },
        { name: 'gpu', bdf: '02:00.0', endpoint: 0x200 },
      ],
    };
    expect((await s.call('listRuns', {}))[0].config).toEqual(expected);
    expect((await s.call('getRun', { runId }))!.config).toEqual(expected);
  });

  it('searches the formatted text case-insensitively, with correct totals and paging', async () => {
    const s = open();
    const runId = await runIt(s);
    const all = await s.call('queryEvents', { runId, offset: 0, limit: 5000 });
    const want = all.rows.filter((r) => r.text.toLowerCase().includes('fault mapping'));
    expect(want.length).toBe(2);
    const hit = await s.call('queryEvents', { runId, offset: 0, limit: 10, search: 'FAULT Mapping' });
    expect(hit.total).toBe(2);
    expect(hit.rows.map((r) => r.seq)).toEqual(want.map((r) => r.seq));
    // Combined with other filters, and paged.
    const maps = all.rows.filter((r) => r.kind === 'map' && r.text.includes('domain=2'));
    expect(maps.length).toBe(40);
    const page = await s.call('queryEvents', { runId, offset: 30, limit: 5, kinds: ['map'], search: 'domain=2' });
    expect(page.total).toBe(40);
    expect(page.rows.map((r) => r.seq)).toEqual(maps.slice(30, 35).map((r) => r.seq));
    expect((await s.call('queryEvents', { runId, offset: 0, limit: 5, search: 'no such text' })).total).toBe(0);
    // An empty search filters nothing; a search over its maxLength is refused with its path.
    expect((await s.call('queryEvents', { runId, offset: 0, limit: 1, search: '  ' })).total).toBe(all.total);
    await expect(s.call('queryEvents', { runId, offset: 0, limit: 1, search: 'x'.repeat(201) })).rejects.toMatchObject({ path: '/search' });
  });

  it('searches u64 values exactly as the rows show them, up to 0xffffffffffffffff', async () => {
    const s = open();
    const text = `name: top
viommu: {model: virtio-iommu, aw-bits: 64}
devices: [{name: nic0, bdf: "00:03.0"}]
steps:
  - attach: {domain: 7, endpoint: nic0}
  - map: {domain: 7, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: 0x8000000000000000, flags: [read]}
  - dma: {endpoint: nic0, addr: 0xfffffffffffffff8, size: 8, access: read}
  - unmap: {domain: 7, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff}
`;
    const runId = (await s.call('startRun', { text, file: 'top.yaml' })).runId!;
    await waitForRun(s, runId);
    const all = (await s.call('queryEvents', { runId, offset: 0, limit: 100 })).rows;
    for (const needle of ['0xffffffffffffffff', '-> 0x8000000000000000', '0xfffffffffffffff8 -> 0x8000000000000ff8', 'domain=7', 'ep=00:03.0']) {
      const want = all.filter((r) => r.text.toLowerCase().includes(needle)).map((r) => r.seq);
      expect(want.length, needle).toBeGreaterThan(0);
      const got = await s.call('queryEvents', { runId, offset: 0, limit: 100, search: needle.toUpperCase() });
      expect(got.rows.map((r) => r.seq), needle).toEqual(want);
      // locateEvent finds the same rows, with or without the search's list at hand.
      const last = want[want.length - 1];
      expect(await s.call('locateEvent', { runId, seq: last, search: needle })).toEqual({ index: want.length - 1, seq: last, step: all[last].step });
    }
    // A second service on the same database: a reader with no search results kept.
    const fresh = open();
    expect(await fresh.call('locateEvent', { runId, seq: 1, search: 'unmap domain=7' })).toMatchObject({ index: 0, step: 3 });
  });

  it('locates the first event of a step, and an event by seq, under the current filters', async () => {
    const s = open();
    const runId = await runIt(s);
    const all = (await s.call('queryEvents', { runId, offset: 0, limit: 5000 })).rows;
    const firstOf = (step: number) => all.find((r) => r.step >= step)!;
    // Unfiltered: the index is the seq.
    expect(await s.call('locateEvent', { runId, step: 5 })).toEqual({ index: firstOf(5).seq, seq: firstOf(5).seq, step: 5 });
    // Filtered to faults: step 3's fault is the first row; step 4 has none, so the next one (step 6) is found.
    expect(await s.call('locateEvent', { runId, step: 3, kinds: ['fault'] })).toMatchObject({ index: 0, step: 3 });
    const next = await s.call('locateEvent', { runId, step: 4, kinds: ['fault'] });
    expect(next).toMatchObject({ index: 1, step: 6 });
    const maps = all.filter((r) => r.kind === 'map');
    expect(await s.call('locateEvent', { runId, seq: maps[10].seq, kinds: ['map'] })).toEqual({ index: 10, seq: maps[10].seq, step: 5 });
    expect(await s.call('locateEvent', { runId, seq: all.length + 5 })).toBeNull();
    expect(await s.call('locateEvent', { runId, step: 99 })).toBeNull();
    // Setup events (step -1) come first.
    expect(await s.call('locateEvent', { runId, step: -1 })).toEqual({ index: 0, seq: 0, step: -1 });
    // Every step's first event, found by binary search, is the scan's answer.
    for (let step = 0; step <= 6; step++) expect((await s.call('locateEvent', { runId, step }))?.seq).toBe(firstOf(step).seq);
    await expect(s.call('locateEvent', { runId })).rejects.toMatchObject({ path: '/' });
    await expect(s.call('locateEvent', { runId, step: 1, kinds: ['nope'] })).rejects.toMatchObject({ path: '/kinds/0' });
  });

  it('gives an event detail with names, hex and the raw request bytes', async () => {
    const s = open();
    const runId = await runIt(s);
    const all = (await s.call('queryEvents', { runId, offset: 0, limit: 5000 })).rows;
    const map = all.find((r) => r.kind === 'map' && r.step === 2)!;
    const d = (await s.call('getEventDetail', { runId, seq: map.seq }))!;
    expect(d).toMatchObject({ seq: map.seq, step: 2, kind: 'map', text: map.text });
    expect(d.fields.find((f) => f.name === 'virtEnd')?.value).toBe('0x1ffff');
    expect(d.raw).toMatchObject({ source: 'step', hex: '03000000' + '01000000' + '0000010000000000' + 'ffff010000000000' + '0000080000000000' + '01000000' });
    const fault = all.find((r) => r.kind === 'fault' && r.step === 3)!;
    const fd = (await s.call('getEventDetail', { runId, seq: fault.seq }))!;
    expect(fd.fields.find((f) => f.name === 'endpoint')?.meaning).toBe('nic0 · 00:03.0');
    expect(fd.fields.find((f) => f.name === 'reason')?.meaning).toBe('MAPPING');
    expect(fd.raw).toBeNull();
    const raw = all.find((r) => r.kind === 'request' && r.step === 4)!;
    const rd = (await s.call('getEventDetail', { runId, seq: raw.seq }))!;
    expect(rd.raw).toMatchObject({ source: 'step', hex: '0400000001000000' });
    expect(rd.fields.find((f) => f.name === 'reqType')?.meaning).toBe('UNMAP');
    // A workload's requests are re-encoded from their fields.
    const wl = all.find((r) => r.kind === 'request' && r.step === 5)!;
    expect((await s.call('getEventDetail', { runId, seq: wl.seq }))!.raw).toMatchObject({ source: 'encoded', hex: '03000000' + '02000000' + '0000100000000000' + 'ff3f100000000000' + '0000200000000000' + '03000000' });
    expect(await s.call('getEventDetail', { runId, seq: all.length })).toBeNull();
    expect(await s.call('getEventDetail', { runId: runId + 1, seq: 0 })).toBeNull();
    await expect(s.call('getEventDetail', { runId, seq: -1 })).rejects.toMatchObject({ path: '/seq' });
  });
});

/** A run with ~2 × `count` events (a workload's map and unmap requests), for the search tests. */
async function bigRun(s: LabService, count: number): Promise<number> {
  const text = `name: big
viommu: {model: virtio-iommu}
devices: [{name: nic0, bdf: "00:03.0"}, {name: gpu, bdf: "02:00.0"}]
steps:
  - attach: {domain: 1, endpoint: nic0}
  - attach: {domain: 2, endpoint: gpu}
  - workload: {domain: 1, endpoint: nic0, count: ${count}, size: 0x1000, iova-base: 0x100000, phys-base: 0x200000}
  - workload: {domain: 2, endpoint: gpu, count: ${count}, size: 0x1000, iova-base: 0x100000, phys-base: 0x200000}
`;
  const runId = (await s.call('startRun', { text, file: 'big.yaml' })).runId!;
  expect((await waitForRun(s, runId)).status).toBe('done');
  return runId;
}

/** The seqs of `runId` whose text contains `needle` (case-insensitive), from unfiltered pages. */
async function expectedSeqs(s: LabService, runId: number, needle: string): Promise<number[]> {
  const out: number[] = [];
  for (let offset = 0; ; offset += 5000) {
    const page = await s.call('queryEvents', { runId, offset, limit: 5000 });
    for (const r of page.rows) if (r.text.toLowerCase().includes(needle.toLowerCase())) out.push(r.seq);
    if (offset + 5000 >= page.total) return out;
  }
}

describe('search off the main thread (search worker)', () => {
  it('answers other calls while a search scans, with the same results as before', async () => {
    const s = open();
    const runId = await bigRun(s, 5000);
    const want = await expectedSeqs(s, runId, 'domain=2');
    const order: string[] = [];
    const search = s.call('queryEvents', { runId, offset: 10, limit: 20, search: 'DOMAIN=2' }).then((r) => (order.push('search'), r));
    const runs = s.call('listRuns', {}).then((r) => (order.push('listRuns'), r));
    const plain = s.call('queryEvents', { runId, offset: 0, limit: 5 }).then((r) => (order.push('plain'), r));
    const [hit, list, page] = await Promise.all([search, runs, plain]);
    // The search resolves last although it was asked first: the main thread did not scan.
    expect(order).toEqual(['listRuns', 'plain', 'search']);
    expect(list[0].id).toBe(runId);
    expect(page.rows.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(hit.total).toBe(want.length);
    expect(hit.rows.map((r) => r.seq)).toEqual(want.slice(10, 30));
    // A finished run's list is kept: the next page and locateEvent answer at once, from the cache.
    const order2: string[] = [];
    const next = s.call('queryEvents', { runId, offset: 30, limit: 5, search: 'domain=2' }).then((r) => (order2.push('search'), r));
    const runs2 = s.call('listRuns', {}).then(() => order2.push('listRuns'));
    await Promise.all([next, runs2]);
    expect(order2).toEqual(['search', 'listRuns']);
    expect((await next).rows.map((r) => r.seq)).toEqual(want.slice(30, 35));
    expect(await s.call('locateEvent', { runId, seq: want[7], search: 'domain=2' })).toMatchObject({ index: 7, seq: want[7] });
  });

  it('a newer search supersedes one still scanning; pages of the same search share one scan', async () => {
    const s = open();
    const runId = await bigRun(s, 2000);
    const older = s.call('queryEvents', { runId, offset: 0, limit: 10, search: 'domain=1' });
    const newer = s.call('queryEvents', { runId, offset: 0, limit: 10, search: 'domain=2' });
    const samePage = s.call('queryEvents', { runId, offset: 10, limit: 10, search: 'domain=2' });
    const locate = s.call('locateEvent', { runId, step: 3, search: 'domain=2' });
    await expect(older).rejects.toThrow('queryEvents: search superseded by a newer search');
    const want = await expectedSeqs(s, runId, 'domain=2');
    expect((await newer).rows.map((r) => r.seq)).toEqual(want.slice(0, 10));
    expect((await samePage).rows.map((r) => r.seq)).toEqual(want.slice(10, 20));
    const step3 = (await s.call('locateEvent', { runId, step: 3 }))!.seq;
    const at = want.findIndex((q) => q >= step3);
    expect(await locate).toEqual({ index: at, seq: want[at], step: 3 });
    // The worker's scan stops within a few thousand formatted rows once its poll says so.
    const db = openReadOnlyDatabase(s.store.path);
    let polls = 0;
    registerSearchText(db, () => {
      if (++polls === 1) throw new ScanStopped();
    });
    const scan = { key: 'k', runId, sql: `SELECT seq FROM events WHERE run_id = ? AND instr(${EVENT_TEXT_FN}(${SEARCH_ARGS}), ?) > 0 ORDER BY seq`, args: [runId, 'domain=2'] };
    expect(scanMatches(db, scan)).toBeNull();
    expect(polls).toBe(1);
    expect(Array.from(scanMatches(db, scan)!.seqs)).toEqual(want);
    db.close();
    // The superseded search works when asked again.
    expect((await s.call('queryEvents', { runId, offset: 0, limit: 1, search: 'domain=1' })).total).toBe((await expectedSeqs(s, runId, 'domain=1')).length);
  });

  it('a failed search worker gives a clear error, and the next search works', async () => {
    const s = open();
    const runId = await runIt(s);
    const want = await expectedSeqs(s, runId, 'fault');
    const pending = s.call('queryEvents', { runId, offset: 0, limit: 10, search: 'fault' });
    // The worker dies before it answers (the call above started it and posted the request).
    void s.search.searchWorker!.terminate();
    await expect(pending).rejects.toThrow(/^queryEvents: the search worker stopped before answering \(exit code \d+\); the next search starts a new one$/);
    expect((await s.call('queryEvents', { runId, offset: 0, limit: 10, search: 'fault' })).rows.map((r) => r.seq)).toEqual(want.slice(0, 10));
    // A database the worker cannot open: the store's one-line message, naming the file.
    const missing = path.join(dir, 'missing.db');
    const host = new SearchHost(missing, s.store.reader);
    try {
      await expect(host.queryEvents({ runId, offset: 0, limit: 1, search: 'nothing cached' })).rejects.toThrow(`queryEvents: search failed: the lab database ${missing}`);
      // A worker file that does not exist: the start failure, as an error of the call.
      const broken = new SearchHost(s.store.path, s.store.reader, { file: path.join(dir, 'no-such-worker.js'), execArgv: [] });
      await expect(broken.locateEvent({ runId, seq: 0, search: 'not cached either' })).rejects.toThrow(/^locateEvent: the search worker (could not start|stopped)/);
      await broken.close();
    } finally {
      await host.close();
    }
  });

  it('does not keep the matches of a run in progress; once it ends, the list is complete', async () => {
    const s = open();
    const runId = await runIt(s);
    const want = await expectedSeqs(s, runId, 'map domain=2');
    const cut = want[20];
    // Make the run look in progress with only the events before `cut` committed.
    const raw = new Database(s.store.path);
    raw.exec(`CREATE TEMP TABLE tail AS SELECT * FROM events WHERE run_id = ${runId} AND seq >= ${cut}`);
    raw.exec(`DELETE FROM events WHERE run_id = ${runId} AND seq >= ${cut}; UPDATE runs SET status = 'running' WHERE id = ${runId}`);
    expect((await s.call('queryEvents', { runId, offset: 0, limit: 1, search: 'map domain=2' })).total).toBe(20);
    // The rest is committed and the run ends: a new search sees every event, not a kept list.
    raw.exec(`INSERT INTO events SELECT * FROM tail; UPDATE runs SET status = 'done' WHERE id = ${runId}`);
    raw.close();
    expect((await s.call('queryEvents', { runId, offset: 0, limit: 1, search: 'map domain=2' })).total).toBe(want.length);
    expect((await s.call('locateEvent', { runId, seq: want[want.length - 1], search: 'map domain=2' }))?.index).toBe(want.length - 1);
  });
});

describe('schema version 4', () => {
  it('adds runs.config; runs stored by version 3 read back with config null', () => {
    const dbPath = path.join(dir, 'v3.db');
    const old = new Database(dbPath);
    migrate(old, 3);
    old.prepare(
      `INSERT INTO runs (id, name, file, scenario_text, status, started_at, finished_at, steps, total_units, done_units, event_count, failed_expectations)
       VALUES (1, 'v3 run', 'v3.yaml', 'name: v3', 'done', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', 1, 1, 1, 0, 0)`,
    ).run();
    old.close();
    const store = new LabStore(dbPath);
    expect(store.reader.listRuns()[0]).toMatchObject({ id: 1, name: 'v3 run', config: null });
    expect(store.reader.getRun(1)!.config).toBeNull();
    store.close();
    const db = new Database(dbPath, { readonly: true });
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect((db.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).map((c) => c.name)).toContain('config');
    db.close();
  });
});
