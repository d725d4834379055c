/**
 * compareRuns and exportComparison through the service, on runs of the shipped examples: seed-6
 * strict vs lazy (fewer guest syncs, stale translations, the late DMA that faults only in strict
 * mode), seed-1 aw-bits 39 vs 64 (the host map that fails), a trace against a scenario run (not
 * comparable step by step, null rows), the errors, and the CSV / JSON exports.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { ContractError, type ReplaySourceInfo } from '../../core/contract/index.ts';
import type { Comparison } from '../../core/compare/types.ts';
import { CompareReader } from '../../main/service/compare.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { GUEST_LATE_DMA_FTRACE_LINES, QEMU_REPLAY_LOG_LINES } from '../support/traces.ts';

const EXAMPLES = path.resolve(__dirname, '../../examples');
let dir: string;
let service: LabService;
const ids: Record<string, number> = {};

async function run(name: string): Promise<number> {
  const text = fs.readFileSync(path.join(EXAMPLES, `${name}.yaml`), 'utf8');
  const r = await service.call('startRun', { text, file: `examples/${name}.yaml` });
  if (r.runId === null) throw new Error(JSON.stringify(r.diagnostics));
  await waitForRun(service, r.runId);
  return r.runId;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-compare-'));
  service = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: EXAMPLES, warmRunWorker: false });
  for (const n of ['seed-6-strict', 'seed-6-lazy', 'seed-1-virtio-iommu-aw-bits-39', 'seed-1-virtio-iommu-aw-bits-64']) ids[n] = await run(n);
  const t = await service.call('importTrace', { name: 'qemu.log', text: QEMU_REPLAY_LOG_LINES.join('\n') + '\n' });
  ids.trace = t.runId!;
}, 60_000);
afterAll(async () => {
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const rowOf = (c: Comparison, id: string) => {
  const r = c.rows.find((x) => x.id === id);
  if (!r) throw new Error(`no row ${id}: ${c.rows.map((x) => x.id).join(', ')}`);
  return r;
};

describe('compareRuns', () => {
  it('seed-6 strict vs lazy: fewer guest syncs, stale translations, the late DMA diverges', async () => {
    const c = await service.call('compareRuns', { runIds: [ids['seed-6-strict'], ids['seed-6-lazy']] });
    expect(c.sides.map((s) => [s.kind, s.status, s.name])).toEqual([
      ['scenario', 'done', 'Seed 6a: strict invalidation'],
      ['scenario', 'done', 'Seed 6b: lazy invalidation (flush queue)'],
    ]);
    expect(rowOf(c, 'guest.syncs')).toMatchObject({ group: 'guest', values: [8, 7], deltas: [0, -1], differs: true });
    expect(rowOf(c, 'guest.stale').values).toEqual([0, 2]);
    expect(rowOf(c, 'guest.dmaUnmap.strict').values).toEqual([2, 0]);
    expect(rowOf(c, 'guest.dmaUnmap.queued').values).toEqual([0, 2]);
    expect(rowOf(c, 'invalidations.fqFlushes.timeout').values).toEqual([0, 2]);
    expect(rowOf(c, 'requests.MAP.OK')).toMatchObject({ values: [2, 2], differs: false });
    expect(rowOf(c, 'faults.MAPPING').values).toEqual([1, 1]);
    expect(rowOf(c, 'events.wait').values).toEqual([0, 2]);
    expect(rowOf(c, 'expectations.held').values).toEqual([6, 7]);
    expect(rowOf(c, 'expectations.failed').values).toEqual([0, 0]);
    // One VM exit per kick: the lazy run batches, so it exits once less.
    const m = c.costModel;
    expect(rowOf(c, 'cost.vmexit').values).toEqual([8 * m.vmExitNs, 7 * m.vmExitNs]);
    expect(rowOf(c, 'cost.hostMap').values).toEqual([m.hostMapNs + m.hostMapPageNs, m.hostMapNs + m.hostMapPageNs]);
    // Groups in table order.
    const groups = [...new Set(c.rows.map((r) => r.group))];
    expect(groups).toEqual(['requests', 'mappings', 'invalidations', 'faults', 'host', 'guest', 'cost', 'events']);
    expect(c.divergences).toHaveLength(1);
    const d = c.divergences[0];
    expect(d).toMatchObject({ a: 0, b: 1, comparable: true, reason: null, step: 5, line: 31, bLine: 37 });
    expect(d.aText).toBe('fault MAPPING flags=address addr=0xfffff000');
    expect(d.bText).toMatch(/^translated → 0x40000000 STALE/);
    // The seqs are the first events of step 5 in each run.
    for (const [runId, seq] of [
      [ids['seed-6-strict'], d.aSeq],
      [ids['seed-6-lazy'], d.bSeq],
    ] as const) {
      expect(seq).not.toBeNull();
      const at = await service.call('locateEvent', { runId, step: 5 });
      expect(at?.seq).toBe(seq);
      const ev = await service.call('queryEvents', { runId, offset: seq!, limit: 1 });
      expect(ev.rows[0].step).toBe(5);
    }
    // The configurations without their steps, comments kept.
    expect(c.sides[0].configText).toMatch(/^# Seed 6a/);
    expect(c.sides[0].configText).not.toMatch(/^steps:/m);
    expect(c.sides[1].configText).toMatch(/guest: \{ ?iommu-dma: lazy ?\}/);
  });

  it('seed-1 aw-bits 39 vs 64: the host map fails, the divergence is the dma-map that got a 64-bit address', async () => {
    const c = await service.call('compareRuns', { runIds: [ids['seed-1-virtio-iommu-aw-bits-39'], ids['seed-1-virtio-iommu-aw-bits-64']] });
    expect(rowOf(c, 'host.failures')).toMatchObject({ values: [1, 2], deltas: [0, 1], differs: true });
    expect(rowOf(c, 'host.failures.IOMMU_IOAS_MAP.EINVAL').values).toEqual([0, 1]);
    expect(rowOf(c, 'host.maps').values).toEqual([2, 2]);
    // 4 KiB + 4 GiB mapped on the 39-bit side, only the 4 KiB on the 64-bit side.
    expect(rowOf(c, 'host.mapPages').values).toEqual([1 + 1048576, 1]);
    expect(rowOf(c, 'host.qemuErrors').values).toEqual([0, 2]);
    expect(c.divergences[0]).toMatchObject({ comparable: true, step: 1 });
    expect(c.divergences[0].aText).toContain('DMA address 0x7f00000000');
    expect(c.divergences[0].bText).toContain('DMA address 0xffffffff00000000');
    expect(c.divergences[0].bText).toContain('host failed');
  });

  it('a trace against a scenario run: not comparable step by step, null where a row does not apply', async () => {
    const c = await service.call('compareRuns', { runIds: [ids['seed-6-strict'], ids.trace] });
    expect(c.sides[1]).toMatchObject({ kind: 'trace', config: null });
    expect(c.sides[1].configText).toMatch(/format: qemu/);
    expect(c.divergences[0]).toMatchObject({ comparable: false, step: null, aSeq: null, bSeq: null });
    expect(c.divergences[0].reason).toContain(`run ${ids.trace} is an imported trace`);
    // A row that applies to one run only is not a change.
    expect(rowOf(c, 'requests')).toMatchObject({ values: [8, null], deltas: [0, null], differs: false });
    expect(rowOf(c, 'faults')).toMatchObject({ values: [1, 1], differs: false });
    expect(rowOf(c, 'events')).toMatchObject({ values: [65, 7], differs: true });
    expect(rowOf(c, 'guest.syncs').values).toEqual([8, null]);
    expect(rowOf(c, 'host.calls').values).toEqual([8, null]);
    // Rows a trace fills from its own events: maps, unmaps and faults by source event.
    expect(rowOf(c, 'maps').values).toEqual([2, 2]);
    expect(rowOf(c, 'maps.virtio_iommu_map').values).toEqual([null, 1]);
    expect(rowOf(c, 'unmaps').values).toEqual([2, 1]);
    expect(rowOf(c, 'faults').values).toEqual([1, 1]);
    expect(rowOf(c, 'cost.request').values[1]).toBeNull();
    expect(rowOf(c, 'expectations.held').values).toEqual([6, null]);
    expect(rowOf(c, 'cost.fault').values[1]).toBe(c.costModel.faultNs);
    // The trace's span: 100.000001 s to 100.000007 s on its own clock.
    expect(c.sides[1].durationNs).toBe(6000);
  });

  it("finds a trace's event by its line (the seq a trace-side divergence links to)", async () => {
    const reader = new CompareReader(service.store.path);
    try {
      const run = (await service.call('getRun', { runId: ids.trace }))!;
      // Lines 1..7 hold one event each, except the iommufd line (3), which QEMU's replay cannot use but is still an event.
      const rows = (await service.call('queryEvents', { runId: ids.trace, offset: 0, limit: 100 })).rows;
      for (const r of rows) expect(reader.seqAtLine(ids.trace, r.line!, run.events)).toBe(rows.find((x) => x.line === r.line)!.seq);
      // A line between events: the next event; past the last: none.
      expect(reader.seqAtLine(ids.trace, 0, run.events)).toBe(0);
      expect(reader.seqAtLine(ids.trace, 1000, run.events)).toBeNull();
      // On the trace's stored clock: the last event 6 µs after the first.
      expect(reader.lastTime(ids.trace)! - run.source!.firstTime!).toBe(6000);
      expect(reader.hostMapPages(ids['seed-1-virtio-iommu-aw-bits-39'])).toBe(1 + 1048576);
    } finally {
      reader.close();
    }
  });

  it("a trace against a replay of it: the replay record's first divergence, linked to the trace's line", async () => {
    // A replay row as the replay store keeps it (runs.source kind 'replay'), finished, without events.
    const replay: ReplaySourceInfo = {
      kind: 'replay', trace: { runId: ids.trace, name: 'qemu.log', format: 'qemu', sha256: '' }, against: 'examples/seed-6-lazy.yaml', byOp: { dma: 2 },
      divergenceCount: 1,
      divergences: [{ step: 3, traceLine: 7, trace: 'line 7: FAULT MAPPING ep=24 addr=0x8000000010', replay: null }],
      notDerived: [], assumptions: [], unattributedFaults: 0,
    };
    const text = fs.readFileSync(path.join(EXAMPLES, 'seed-6-lazy.yaml'), 'utf8');
    const id = service.store.createRun({ name: 'qemu.log against seed-6-lazy', file: 'examples/seed-6-lazy.yaml', scenarioText: text, steps: 4, totalUnits: 4, source: replay });
    const db = new Database(path.join(dir, 'lab.db'));
    db.prepare("UPDATE runs SET status = 'done', finished_at = ? WHERE id = ?").run(new Date().toISOString(), id);
    db.close();
    const c = await service.call('compareRuns', { runIds: [ids.trace, id] });
    expect(c.sides.map((s) => s.kind)).toEqual(['trace', 'replay']);
    expect(c.sides[1].configText.split('\n')[0]).toBe(`# A replay of trace ${ids.trace} (qemu.log) against examples/seed-6-lazy.yaml`);
    const d = c.divergences[0];
    expect(d).toMatchObject({ comparable: true, step: 3, line: 7, aText: replay.divergences[0].trace, bText: 'translated (no fault in the replay)', bSeq: null });
    // The trace side links to the event of line 7: the fault.
    const ev = await service.call('getEventDetail', { runId: ids.trace, seq: d.aSeq! });
    expect(ev?.kind).toBe('trace-fault');
    // Side by side in the table, the replay fills what the trace cannot.
    expect(rowOf(c, 'faults').values).toEqual([1, null]);
  });

  it('a trace and its replays against strict and lazy: the late DMA faults in the trace and strict, not lazy', async () => {
    const t = await service.call('importTrace', { name: 'late.txt', text: GUEST_LATE_DMA_FTRACE_LINES.join('\n') + '\n' });
    const replays: number[] = [];
    for (const f of ['seed-6-strict', 'seed-6-lazy']) {
      const r = await service.call('startReplay', { traceRunId: t.runId!, text: fs.readFileSync(path.join(EXAMPLES, `${f}.yaml`), 'utf8'), file: `examples/${f}.yaml` });
      await waitForRun(service, r.runId!);
      replays.push(r.runId!);
    }
    const c = await service.call('compareRuns', { runIds: [t.runId!, ...replays] });
    expect(c.sides.map((s) => s.kind)).toEqual(['trace', 'replay', 'replay']);
    // The strict replay reproduces the trace's fault; the lazy one translates through the stale mapping.
    expect(c.divergences[0]).toMatchObject({ b: 1, comparable: true, step: null });
    expect(c.divergences[1]).toMatchObject({ b: 2, comparable: true, step: 4, line: 6, bText: 'translated (no fault in the replay)' });
    expect(c.divergences[1].aText).toContain('iommu:io_page_fault');
    expect((await service.call('getEventDetail', { runId: t.runId!, seq: c.divergences[1].aSeq! }))?.kind).toBe('trace-fault');
    expect((await service.call('locateEvent', { runId: replays[1], step: 4 }))?.seq).toBe(c.divergences[1].bSeq);
    expect(rowOf(c, 'faults').values).toEqual([1, 1, 0]);
    expect(rowOf(c, 'guest.stale').values).toEqual([null, 0, 1]);
    // The two replays against each other: step by step on the same derived steps.
    const r = await service.call('compareRuns', { runIds: replays });
    expect(r.divergences[0]).toMatchObject({ comparable: true, step: 4, line: 6, aText: 'fault MAPPING flags=address addr=0xfffff010' });
    expect(r.divergences[0].bText).toMatch(/^translated → 0x40000010 STALE/);
  });

  it('applies cost overrides and rejects bad ids, running runs and bad cost keys with the field path', async () => {
    const pair = [ids['seed-6-strict'], ids['seed-6-lazy']];
    const c = await service.call('compareRuns', { runIds: pair, cost: { vmExitNs: 0, requestNs: 1 } });
    expect(c.costModel.vmExitNs).toBe(0);
    expect(rowOf(c, 'cost.vmexit').values).toEqual([0, 0]);
    expect(rowOf(c, 'cost.request').values).toEqual([8, 8]);
    await expect(service.call('compareRuns', { runIds: [pair[0], 999] })).rejects.toThrow(/invalid params at \/runIds\/1: no run 999/);
    await expect(service.call('compareRuns', { runIds: [pair[0], pair[0]] })).rejects.toThrow(/\/runIds\/1: run \d+ is listed twice/);
    await expect(service.call('compareRuns', { runIds: [pair[0]] })).rejects.toThrow(ContractError);
    // A run still running (its row as startRun creates it, owned by this process).
    const running = service.store.createRun({ name: 'busy', file: 'busy.yaml', scenarioText: '', steps: 1, totalUnits: 1 });
    await expect(service.call('compareRuns', { runIds: [pair[0], running] })).rejects.toThrow(`compareRuns: invalid params at /runIds/1: run ${running} (busy) is still running: compare it when it has finished`);
    await expect(service.call('exportComparison', { runIds: [running, pair[0]], format: 'csv' })).rejects.toThrow(/^exportComparison: invalid params at \/runIds\/0: run \d+ \(busy\) is still running/);
    await expect(service.call('compareRuns', { runIds: pair, cost: { vmExit: 3 } as never })).rejects.toThrow(/\/cost/);
    await expect(service.call('compareRuns', { runIds: pair, cost: { faultNs: -1 } })).rejects.toThrow(/\/cost\/faultNs/);
  });
});

describe('exportComparison', () => {
  it('CSV: a header with a column per run and per delta, a row per metric, empty cells for null', async () => {
    const runIds = [ids['seed-6-strict'], ids['seed-6-lazy'], ids.trace];
    const { text } = await service.call('exportComparison', { runIds, format: 'csv' });
    const lines = text.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(
      `group,id,label,unit,run ${runIds[0]}: Seed 6a: strict invalidation,run ${runIds[1]}: Seed 6b: lazy invalidation (flush queue),run ${runIds[2]}: qemu.log,Δ run ${runIds[1]},Δ run ${runIds[2]},differs`,
    );
    expect(lines).toContain('guest,guest.syncs,Request queue syncs (kicks),count,8,7,,-1,,yes');
    expect(lines).toContain('requests,requests.MAP.OK,MAP requests: OK,count,2,2,,0,,no');
    expect(lines.find((l) => l.startsWith('cost,cost.total,'))).toMatch(/^cost,cost\.total,Modelled cost,ns,\d+,\d+,\d+,-?\d+,-?\d+,yes$/);
  });

  it('JSON: the comparison itself', async () => {
    const runIds = [ids['seed-6-strict'], ids['seed-6-lazy']];
    const { text } = await service.call('exportComparison', { runIds, format: 'json' });
    expect(JSON.parse(text)).toEqual(await service.call('compareRuns', { runIds }));
  });
});
