/**
 * Columnar batches (main/store/batch.ts) as the writer stores them: u64 fields in int64 slots or,
 * when a payload holds a JS number, as doubles; arrays handed back by the writer (reuse) encoded
 * over without leaking an earlier batch's fields. Each case compares the rows of a batch with the
 * rows EventWriter.write() stores for the same events.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SeqEvent } from '../../core/events/sink.ts';
import { VirtualClock } from '../../core/engine/clock.ts';
import { BatchEncoder, U64_NUMBER_BIT, BATCH_COLUMNS, COLS_PER_EVENT, TIME_SLOT } from '../../main/store/batch.ts';
import { EventWriter, LabStore } from '../../main/store/index.ts';
import { Windows } from '../../main/store/windows.ts';

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-batch-'));
  dbPath = path.join(dir, 'lab.db');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const OUTCOME = { status: 'done' as const, doneUnits: 1, totalUnits: 1, metrics: null, stepResults: [], failedExpectations: 0, error: null };

/** Every stored column of a run's events, raw (integers as bigint). */
function rawRows(runId: number): unknown[] {
  const db = new Database(dbPath, { readonly: true });
  const rows = db.prepare('SELECT seq, step, kind, status, domain, endpoint, a, b, c, flags, aux, data, used, comp, time FROM events WHERE run_id = ? ORDER BY seq').safeIntegers(true).all(runId);
  db.close();
  return rows;
}

/** Events as [kind, step, payload]; the component is 'viommu0' for all. */
type Emitted = [string, number, Record<string, unknown>];

/** Stores `events` through write() (stamped as EventLog stamps them; `retime` may move an event's time) and returns the rows. */
function viaWrite(store: LabStore, events: readonly Emitted[], retime = (_seq: number, t: number) => t): unknown[] {
  const runId = store.createRun({ name: 'w', file: 'w.yaml', scenarioText: '', steps: 1, totalUnits: 1 });
  const clock = new VirtualClock();
  const w = new EventWriter(dbPath, runId);
  w.write(events.map(([kind, step, payload], seq) => ({ seq, step, kind, ...payload, component: 'viommu0', time: retime(seq, clock.tick(kind)) }) as unknown as SeqEvent));
  w.finish(OUTCOME);
  return rawRows(runId);
}

const TWO_53 = 2n ** 53n;

describe('columnar batches', () => {
  it('store u64 fields given as bigint (int64 slots) or as JS numbers (doubles) as write() does, at the 2^53 and 2^63 edges', () => {
    const events: Emitted[] = [
      ['map', 1, { domain: 1, virtStart: TWO_53 - 1n, virtEnd: TWO_53, physStart: 2n ** 63n - 1n, flags: 3 }],
      ['map', 1, { domain: 1, virtStart: 2n ** 63n, virtEnd: 0xffff_ffff_ffff_ffffn, physStart: 0n, flags: 3 }],
      // A payload whose u64 fields are numbers (the type says bigint; the encoding must not care).
      ['map', 1, { domain: 1, virtStart: 0x1000, virtEnd: Number(TWO_53 - 1n), physStart: 0, flags: 3 }],
      ['translate', 2, { endpoint: 8, iova: 4096, phys: 0x8000_0000n, size: 8n, access: 1, path: 0 }],
      ['unmap', 2, { domain: 1, virtStart: 0n, virtEnd: 0xfffn, physStart: 0n, flags: 3 }],
    ];
    const store = new LabStore(dbPath);
    const expected = viaWrite(store, events);
    const runId = store.createRun({ name: 'b', file: 'b.yaml', scenarioText: '', steps: 1, totalUnits: 1 });
    const enc = new BatchEncoder(8);
    for (const [kind, step, payload] of events) enc.emit(kind as 'map', step, payload as never, 'viommu0');
    const batch = enc.take(1, 1);
    // The number-valued u64 slots are marked as doubles; the bigint ones are not.
    const a = BATCH_COLUMNS.indexOf('a');
    expect(batch.masks[2] & (1 << (U64_NUMBER_BIT + a))).not.toBe(0);
    expect(batch.masks[0] & (1 << (U64_NUMBER_BIT + a))).toBe(0);
    const w = new EventWriter(dbPath, runId);
    w.writeBatch(batch);
    w.finish(OUTCOME);
    expect(rawRows(runId)).toEqual(expected);
    expect((expected[1] as { a: bigint }).a).toBe(-(2n ** 63n));
    expect((expected[2] as { b: bigint }).b).toBe(TWO_53 - 1n);
    store.close();
  });

  it('encode over arrays handed back by the writer (reuse) without an earlier batch\'s fields showing through', () => {
    // First batch: every optional field present; second: the same kinds with them absent.
    const full: Emitted[] = [
      ['translate', 1, { endpoint: 8, domain: 3, iova: 0xffff_ffff_ffff_f000n, phys: 7n, size: 4096n, access: 1, path: 0 }],
      ['request', 1, { reqType: 3, status: 0, domain: 1, virtStart: 1n, virtEnd: 2n, physStart: 3n, reqFlags: 3, used: 4 }],
      ['expectation', 1, { held: 1, detail: { message: 'first' } }],
      ['fault', 1, { reason: 2, flags: 0x101, endpoint: 8, address: 0x1234n }],
    ];
    const sparse: Emitted[] = [
      ['translate', 2, { endpoint: 9, iova: 5n, phys: 6n, size: 8n, access: 2, path: 1 }],
      ['request', 2, { reqType: 0x42, used: 0 }],
      ['endpoint-free', 2, { endpoint: 9 }],
      ['expectation', 2, { held: 0, detail: { message: 'second' } }],
    ];
    const store = new LabStore(dbPath);
    const expected = viaWrite(store, [...full, ...full, ...sparse]);
    const runId = store.createRun({ name: 'b', file: 'b.yaml', scenarioText: '', steps: 1, totalUnits: 1 });
    const enc = new BatchEncoder(4);
    const w = new EventWriter(dbPath, runId);
    const batchOf = (events: readonly Emitted[]) => {
      for (const [kind, step, payload] of events) enc.emit(kind as 'map', step, payload as never, 'viommu0');
      return enc.take(1, 2);
    };
    const first = batchOf(full);
    w.writeBatch(first);
    enc.reuse(first);
    // The next take hands out the arrays given back: the third batch is encoded into the first's.
    w.writeBatch(batchOf(full));
    const third = batchOf(sparse);
    expect(third.cols).toBe(first.cols);
    expect(third.masks).toBe(first.masks);
    w.writeBatch(third);
    w.finish(OUTCOME);
    expect(rawRows(runId)).toEqual(expected);
    store.close();
  });

  it('a periodic stream written by replaying window statements straight from batches stores the rows write() stores (literal, step, mask and JSON changes mid-window; u64 across 2^53, 2^63 and up to 2^64 − 1)', () => {
    // map, translate, host-dma per iteration; the addresses run across 2^53, then 2^63, then up to
    // 2^64 − 1, and single iterations change a literal (domain; a u64 size in its low or high
    // half), the step, a u64's encoding (a JS number), an optional field (phys absent), a JSON text
    // and one event's time.
    const events: Emitted[] = [];
    const N = 2400;
    const base = (it: number): bigint =>
      it < 800 ? TWO_53 - 400n * 4096n + BigInt(it) * 4096n : it < 1600 ? 2n ** 63n - 400n * 4096n + BigInt(it - 800) * 4096n : 2n ** 64n - 4096n - BigInt(N - 1 - it) * 4096n;
    for (let it = 0; it < N; it++) {
      const a = base(it);
      const step = it < 1700 ? 1 : 2;
      events.push(['map', step, { domain: it === 1500 ? 2 : 1, virtStart: a, virtEnd: a + 4095n, physStart: 0x8000_0000n + BigInt(it) * 4096n, flags: 3 }]);
      events.push(['translate', step, { endpoint: 8, domain: 1, iova: a, phys: 0x8000_0000n + BigInt(it) * 4096n, size: it % 700 === 350 ? 8 : it < 1600 ? 8n : it === 2300 ? 2n ** 64n - 2n : 2n ** 64n - 1n, access: 1, path: 0 }]);
      const dma: Record<string, unknown> = { endpoint: 8, iova: a, phys: 0x1000n * BigInt(it), size: it === 1234 ? 8n + 2n ** 40n : 8n, access: 2, outcome: 0, domain: 3, data: { device: 'nic0', iommu: it === 900 ? 'dmar1' : 'dmar0' } };
      if (it === 2100) delete dma.phys;
      events.push(['host-dma', step, dma]);
    }
    const store = new LabStore(dbPath);
    const RETIMED = 5000;
    const expected = viaWrite(store, events, (seq, t) => (seq === RETIMED ? t + 1 : t));
    const runId = store.createRun({ name: 'b', file: 'b.yaml', scenarioText: '', steps: 1, totalUnits: 1 });
    const take = () => {
      const batch = enc.take(1, 2);
      const i = RETIMED - batch.firstSeq;
      if (i >= 0 && i < batch.count) batch.cols[i * COLS_PER_EVENT + TIME_SLOT] += 1;
      return batch;
    };
    const replay = vi.spyOn(Windows.prototype, 'replay');
    const enc = new BatchEncoder(4096);
    const w = new EventWriter(dbPath, runId);
    // Batches of uneven sizes (windows straddle them) and a commit in the middle (a partial window spilled).
    const sizes = [1000, 3000, 128 * 7, 517];
    let b = 0;
    for (const [kind, step, payload] of events) {
      enc.emit(kind as 'map', step, payload as never, 'viommu0');
      if (enc.count === sizes[b % sizes.length]) {
        w.writeBatch(take());
        if (++b === 3) w.commit(1, 2);
      }
    }
    w.writeBatch(take());
    w.finish(OUTCOME);
    const replayed = replay.mock.results.filter((r) => r.value === true).length;
    replay.mockRestore();
    expect(rawRows(runId)).toEqual(expected);
    // Most windows went through replay (the test exercises it), not all (the changes fall back).
    expect(replayed).toBeGreaterThan(20);
    expect(replayed).toBeLessThan(events.length / 128);
    expect((expected.at(-3) as { b: bigint }).b).toBe(-1n);
    store.close();
  });

  it('reuse keeps only arrays of the encoder\'s capacity', () => {
    const enc = new BatchEncoder(4);
    const other = new BatchEncoder(8);
    other.emit('endpoint-free', 0, { endpoint: 1 });
    const foreign = other.take(1, 1);
    enc.reuse(foreign);
    enc.emit('endpoint-free', 0, { endpoint: 1 });
    expect(enc.take(1, 1).cols).not.toBe(foreign.cols);
    expect(enc.cols).not.toBe(foreign.cols);
  });
});
