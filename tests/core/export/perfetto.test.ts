/**
 * core/export/perfetto.ts: runs and traces as Chrome / Perfetto JSON (Trace Event Format). Tracks
 * per component in the machine's layer order, ts/dur in µs from the virtual clock's declared
 * costs, causal flows that bind to existing slices, escaping, a trace's events with their lines,
 * and a parseable document for a run of every example.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventRow } from '../../../core/contract/index.ts';
import { EVENT_COST_NS } from '../../../core/engine/clock.ts';
import { EVENT_CATALOG } from '../../../core/events/catalog.ts';
import { formatEvent } from '../../../core/events/format.ts';
import { isProblemEvent } from '../../../core/events/problems.ts';
import type { SeqEvent } from '../../../core/events/sink.ts';
import { CAUSE_RING, PerfettoTraceWriter, perfettoTraceChunks, usText, type PerfettoOptions } from '../../../core/export/perfetto.ts';
import { ImportDriver } from '../../../core/import/driver.ts';
import { QemuTraceImporter } from '../../../core/import/qemu.ts';
import { LAYERS } from '../../../core/machine/component.ts';
import { runScenarioText } from '../../../core/run/index.ts';
import { QEMU_REPLAY_LOG_LINES } from '../../support/traces.ts';

const EXAMPLES = join(__dirname, '..', '..', '..', 'examples');

/** JSON-safe copy: bigint → "0x…" (as the store's reader gives u64). */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** A live event as the contract's EventRow (what main/store/event-stream.ts yields). */
function rowOf(e: SeqEvent | (Record<string, unknown> & { kind: string; seq: number })): EventRow {
  const { kind, step, seq, component, time, line, ...rest } = e as Record<string, unknown>;
  const fields = plain(rest) as Record<string, unknown>;
  const row: EventRow = { seq: seq as number, step: (step as number) ?? 0, kind: kind as string, fields, text: formatEvent(kind as string, fields), problem: isProblemEvent(kind as string, fields) };
  row.component = (component as string | undefined) ?? null;
  row.time = (time as number | undefined) ?? null;
  if (typeof line === 'number') row.line = line;
  return row;
}

/** An example's events as rows; `shrink` cuts a workload's 100,000 iterations to 1,000 (same events, a test's time). */
function runRows(file: string, shrink = false): { name: string; rows: EventRow[] } {
  let text = readFileSync(join(EXAMPLES, file), 'utf8');
  if (shrink) text = text.replace(/count: 100000\b/g, 'count: 1000');
  const { run } = runScenarioText(text, `examples/${file}`);
  const events: SeqEvent[] = [];
  const take = () => {
    for (const e of run!.takeEvents()) events.push(e);
  };
  while (run!.advance(50_000)) take();
  take();
  return { name: run!.scenario.name, rows: events.map(rowOf) };
}

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  id?: number;
  bp?: string;
  s?: string;
  cname?: string;
  args?: Record<string, unknown>;
}
interface Doc {
  displayTimeUnit: string;
  traceEvents: TraceEvent[];
  otherData: { clock: string; events: number; flows: number; flowsUnlinked: number; tracks: { tid: number; id: string; name: string; layer: string }[] };
}

function exportText(rows: Iterable<EventRow>, opts: PerfettoOptions): string {
  return [...perfettoTraceChunks(rows, opts)].join('');
}

function exportDoc(rows: Iterable<EventRow>, opts: PerfettoOptions): Doc {
  return JSON.parse(exportText(rows, opts)) as Doc;
}

/** Thread names by their sort index (the order Perfetto shows the tracks in). */
function tracksInOrder(doc: Doc): string[] {
  const names = new Map<number, string>();
  const sort = new Map<number, number>();
  for (const e of doc.traceEvents) {
    if (e.ph !== 'M') continue;
    if (e.name === 'thread_name') names.set(e.tid, e.args!.name as string);
    if (e.name === 'thread_sort_index') sort.set(e.tid, e.args!.sort_index as number);
  }
  return [...names.keys()].sort((a, b) => sort.get(a)! - sort.get(b)!).map((t) => names.get(t)!);
}

const RUN = { id: 7, name: 'Seed 6a' };

describe('usText: ns as the format\'s µs with ns precision', () => {
  it('writes exact decimals, never NaN', () => {
    expect([0, 1, 50, 500, 1000, 1250, 2000, 123456789, 2 ** 53, -5, 0.4, Number.NaN, Infinity].map(usText)).toEqual([
      '0',
      '0.001',
      '0.05',
      '0.5',
      '1',
      '1.25',
      '2',
      '123456.789',
      '9007199254740.992',
      '-0.005',
      '0',
      '0',
      '0',
    ]);
  });
});

describe('a scenario run as a Perfetto trace', () => {
  const { name, rows } = runRows('seed-6-strict.yaml');
  const doc = exportDoc(rows, { run: { ...RUN, name } });

  it('is one process named after the run, one track per component in layer order', () => {
    const proc = doc.traceEvents.find((e) => e.name === 'process_name')!;
    expect(proc).toMatchObject({ ph: 'M', pid: 7, args: { name: `${name} (run #7)` } });
    const ids = doc.otherData.tracks.map((t) => t.id);
    expect(new Set(ids)).toEqual(new Set(['', ...new Set(rows.map((r) => r.component ?? ''))]));
    const order = tracksInOrder(doc);
    const layerOf = new Map(doc.otherData.tracks.map((t) => [t.name, t.layer]));
    const ranks = order.map((n) => (LAYERS as readonly string[]).indexOf(layerOf.get(n)!)).map((r) => (r < 0 ? LAYERS.length : r));
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    // The guest layer (the assigned device's plug, then the guest kernel, as they first emit), then the others by layer.
    expect(order.slice(0, 2)).toEqual(['nic0 (guest)', 'guest0 (guest)']);
    expect(order.at(-1)).toBe('run');
    // Every layer of this run's machine is there.
    expect(new Set(doc.otherData.tracks.map((t) => t.layer))).toEqual(new Set([...LAYERS, 'run']));
  });

  it('follows the components and kinds it is given (listComponents)', () => {
    const given = [
      { id: 'guest0', kind: 'linux', layer: 'guest' },
      { id: 'nic0', kind: 'vfio-pci', layer: 'guest' },
      { id: 'viommu0', kind: 'virtio-iommu', layer: 'viommu' },
      { id: 'hiod-nic0', kind: 'iommufd-vfio', layer: 'host-iommu-device' },
      { id: 'iommufd0', kind: 'iommufd', layer: 'backend' },
      { id: 'dmar0', kind: 'intel-vtd', layer: 'iommu' },
      { id: '', kind: 'run', layer: 'run' },
    ];
    const d = exportDoc(rows, { run: RUN, components: given });
    expect(tracksInOrder(d)).toEqual(['guest0 (linux)', 'nic0 (vfio-pci)', 'viommu0 (virtio-iommu)', 'hiod-nic0 (iommufd-vfio)', 'iommufd0 (iommufd)', 'dmar0 (intel-vtd)', 'run']);
    // The header declares them all before the first event.
    const firstEvent = d.traceEvents.findIndex((e) => e.ph !== 'M');
    expect(d.traceEvents.slice(0, firstEvent).filter((e) => e.name === 'thread_name')).toHaveLength(7);
  });

  it('writes each event as a slice [time − cost, time] in µs, or an instant when its kind costs nothing', () => {
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    expect(events).toHaveLength(rows.length);
    expect(doc.otherData).toMatchObject({ clock: 'virtual', events: rows.length });
    const tidOf = new Map(doc.otherData.tracks.map((t) => [t.id, t.tid]));
    for (const [i, e] of events.entries()) {
      const r = rows[i];
      const cost = EVENT_COST_NS[r.kind as keyof typeof EVENT_COST_NS] + (r.kind === 'wait' ? Number(BigInt(r.fields.ns as string)) : 0);
      expect(e.args!.seq).toBe(r.seq);
      expect(e.tid).toBe(tidOf.get(r.component ?? ''));
      if (cost > 0) {
        expect(e.ph).toBe('X');
        expect(Math.round(e.dur! * 1000)).toBe(cost);
        expect(Math.round(e.ts! * 1000)).toBe(r.time! - cost);
      } else {
        expect(e).toMatchObject({ ph: 'i', s: 't' });
        expect(Math.round(e.ts! * 1000)).toBe(r.time);
      }
    }
    // The text carries the exact decimals: a host call (2000 ns) lasts "2" µs, a MAP (500 ns) "0.5".
    const text = exportText(rows, { run: RUN });
    expect(text).toMatch(/"name":"host-call","cat":"host-backend","pid":7,"tid":\d+,"ts":[\d.]+,"ph":"X","dur":2,/);
    expect(text).toMatch(/"name":"map","cat":"virtio-iommu","pid":7,"tid":\d+,"ts":[\d.]+,"ph":"X","dur":0.5,/);
    expect(text.startsWith('{"displayTimeUnit":"ns","traceEvents":[\n')).toBe(true);
  });

  it('names each event by its kind, with the family as category and the decoded fields, seq, step and text as args', () => {
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    const call = events.find((e) => e.name === 'host-call')!;
    const row = rows.find((r) => r.seq === call.args!.seq)!;
    expect(call.cat).toBe('host-backend');
    expect(call.args).toEqual({ ...row.fields, seq: row.seq, step: row.step, text: row.text });
    // u64 stay "0x…" strings.
    expect(events.find((e) => e.name === 'map')!.args!.virtStart).toMatch(/^0x[0-9a-f]+$/);
  });

  it('links every host call to the vIOMMU or guest event that caused it with a flow bound inside both slices', () => {
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    const bySeq = new Map(events.map((e) => [e.args!.seq as number, e]));
    const caused = rows.filter((r) => r.fields.cause !== undefined);
    expect(caused.length).toBeGreaterThan(0);
    const starts = doc.traceEvents.filter((e) => e.ph === 's');
    const finishes = doc.traceEvents.filter((e) => e.ph === 'f');
    expect(starts).toHaveLength(caused.length);
    expect(finishes).toHaveLength(caused.length);
    expect(doc.otherData).toMatchObject({ flows: caused.length, flowsUnlinked: 0 });
    const inside = (flow: TraceEvent, slice: TraceEvent) => {
      expect(flow.tid).toBe(slice.tid);
      expect(flow.ts!).toBeGreaterThanOrEqual(slice.ts!);
      expect(flow.ts!).toBeLessThanOrEqual(slice.ts! + (slice.dur ?? 0));
    };
    for (const r of caused) {
      const s = starts.find((e) => e.id === r.seq)!;
      const f = finishes.find((e) => e.id === r.seq)!;
      expect(s).toMatchObject({ name: 'cause', cat: 'cause' });
      expect(f).toMatchObject({ name: 'cause', cat: 'cause', bp: 'e' });
      inside(s, bySeq.get(Number(BigInt(r.fields.cause as string)))!);
      inside(f, bySeq.get(r.seq)!);
    }
  });
});

describe('problems stand out', () => {
  it('puts faults and failed host calls in the problem category with a colour', () => {
    const { rows } = runRows('host-map-failure.yaml');
    const doc = exportDoc(rows, { run: RUN });
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    const failed = events.find((e) => e.name === 'host-call' && e.args!.errno === 22)!;
    expect(failed).toMatchObject({ cat: 'host-backend,problem', cname: 'terrible' });
    const qemu = events.find((e) => e.name === 'qemu-error')!;
    expect(qemu).toMatchObject({ cat: 'host-iommu-device,problem', cname: 'terrible', ph: 'i' });
    const ok = events.find((e) => e.name === 'host-call' && e.args!.errno === 0)!;
    expect(ok.cat).toBe('host-backend');
    expect(ok.cname).toBeUndefined();
    expect(events.filter((e) => e.cat!.endsWith(',problem'))).toHaveLength(rows.filter((r) => r.problem).length);
  });
});

describe('an imported trace as a Perfetto trace', () => {
  function traceRows(lines: readonly string[]): EventRow[] {
    const out: EventRow[] = [];
    const d = new ImportDriver([new QemuTraceImporter()], 'qemu');
    const push = (e: Record<string, unknown> & { kind: string }, line: number) => out.push(rowOf({ ...e, seq: out.length, step: 0, component: 'qemu', line }));
    d.push(`${lines.join('\n')}\n`, push as never);
    d.end(push as never);
    return out;
  }

  it('keeps each event\'s source name, its line and its timestamp, as instants on the importer\'s track', () => {
    const rows = traceRows(QEMU_REPLAY_LOG_LINES);
    const doc = exportDoc(rows, { run: { id: 3, name: 'qemu.log', kind: 'trace' }, components: [{ id: 'qemu', kind: 'trace', layer: 'run' }] });
    expect(doc.traceEvents.find((e) => e.name === 'process_name')!.args!.name).toBe('qemu.log (trace #3)');
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    expect(events.map((e) => [e.name, e.args!.line, e.ph])).toEqual([
      ['virtio_iommu_attach', 1, 'i'],
      ['virtio_iommu_map', 2, 'i'],
      ['iommufd_backend_map_dma', 3, 'i'],
      ['virtio_iommu_translate', 4, 'i'],
      ['virtio_iommu_unmap', 5, 'i'],
      ['virtio_iommu_translate', 6, 'i'],
      ['virtio_iommu_report_fault', 7, 'i'],
    ]);
    expect(events.map((e) => e.ts! - events[0].ts!).map((d) => Math.round(d))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(events.at(-1)).toMatchObject({ cat: 'trace,problem', cname: 'terrible' });
    expect(doc.otherData).toMatchObject({ clock: 'trace' });
    expect(tracksInOrder(doc)).toEqual(['qemu (trace)']);
  });

  it('without timestamps: ts is the seq, and the metadata says so', () => {
    const rows = traceRows(QEMU_REPLAY_LOG_LINES.map((l) => l.replace(/^\d+@[\d.]+:/, '')));
    expect(rows.every((r) => r.time === null)).toBe(true);
    const doc = exportDoc(rows, { run: { id: 3, name: 't', kind: 'trace' } });
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    expect(events.map((e) => e.ts)).toEqual(rows.map((r) => r.seq));
    expect(doc.otherData.clock).toBe('seq');
    expect(doc.traceEvents.find((e) => e.name === 'process_labels')!.args!.labels).toMatch(/ts is the event seq/);
  });

  it('rows stored before times existed (schema < 6): slices of 1 µs at ts = seq', () => {
    const rows = runRows('quickstart.yaml').rows.map((r) => ({ ...r, time: null }));
    const doc = exportDoc(rows, { run: RUN });
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    expect(events.map((e) => e.ts)).toEqual(rows.map((r) => r.seq));
    for (const e of events.filter((x) => x.ph === 'X')) expect(e.dur).toBe(1);
    expect(doc.otherData.clock).toBe('seq');
  });
});

describe('valid JSON whatever the fields hold', () => {
  it('escapes quotes, backslashes, control characters, line separators and lone surrogates', () => {
    const nasty = 'a"b\\c\n\r\t\u0000\u001f\u2028\u2029\ud800 </script> \u{1f600}';
    const rows: EventRow[] = [
      { seq: 0, step: 0, kind: 'trace-note', fields: { data: { event: nasty, text: nasty, n: Number.NaN } }, text: nasty, problem: false, component: nasty, time: 5, line: 1 },
      { seq: 1, step: 0, kind: 'unknown-999', fields: {}, text: nasty, problem: true, component: null, time: 6 },
    ];
    const text = exportText(rows, { run: { id: 1, name: nasty }, components: [{ id: nasty, kind: nasty, layer: nasty }] });
    const doc = JSON.parse(text) as Doc;
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    expect(events[0].name).toBe(nasty);
    expect(events[0].args!.text).toBe(nasty);
    expect((events[0].args!.data as { n: unknown }).n).toBeNull();
    expect(events[1]).toMatchObject({ name: 'unknown-999', cat: 'unknown,problem' });
    expect(doc.traceEvents.find((e) => e.name === 'process_name')!.args!.name).toBe(`${nasty} (run #1)`);
    expect(text).not.toMatch(/NaN|Infinity|undefined/);
  });

  it('no catalog field is named like an envelope arg (seq, step, text, line)', () => {
    const names = Object.values(EVENT_CATALOG).flatMap((k) => Object.keys(k.fields));
    for (const n of ['seq', 'step', 'text', 'line']) expect(names).not.toContain(n);
  });

  it('a cause older than the ring is not linked, and counted', () => {
    const w = new PerfettoTraceWriter({ run: RUN });
    let text = w.header();
    text += w.event({ seq: 0, step: 0, kind: 'map', fields: {}, text: '', problem: false, component: 'viommu0', time: 500 });
    // CAUSE_RING events later, event 0 is forgotten; the one just before is not.
    text += w.event({ seq: CAUSE_RING, step: 0, kind: 'host-call', fields: { cause: '0x0' }, text: '', problem: false, component: 'iommufd0', time: 3000 });
    text += w.event({ seq: CAUSE_RING + 1, step: 0, kind: 'host-call', fields: { cause: `0x${CAUSE_RING.toString(16)}` }, text: '', problem: false, component: 'iommufd0', time: 5000 });
    text += w.footer();
    const doc = JSON.parse(text) as Doc;
    expect(doc.otherData).toMatchObject({ flows: 1, flowsUnlinked: 1 });
    expect(doc.traceEvents.filter((e) => e.ph === 's').map((e) => e.id)).toEqual([CAUSE_RING + 1]);
  });

  it.each(readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort())('%s exports to a document JSON.parse reads', (file) => {
    const { name, rows } = runRows(file, true);
    const doc = exportDoc(rows, { run: { id: 1, name } });
    expect(doc.displayTimeUnit).toBe('ns');
    expect(doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i')).toHaveLength(rows.length);
    expect(doc.otherData.flowsUnlinked).toBe(0);
    // Slices on one track never partially overlap (Perfetto nests them).
    const last = new Map<number, number>();
    for (const e of doc.traceEvents.filter((x) => x.ph === 'X')) {
      const end = Math.round((e.ts! + e.dur!) * 1000);
      expect(Math.round(e.ts! * 1000)).toBeGreaterThanOrEqual(last.get(e.tid) ?? 0);
      last.set(e.tid, end);
    }
  });
});
