/**
 * Replay benchmarks (issue 9 §4; not timed tests), each beside a baseline from the same run:
 *
 * - "replay, events off": a generated Linux ftrace of a NIC driver's DMA API calls (REPLAY_PAIRS
 *   dma_map_phys / dma_unmap_phys pairs on a 256-buffer ring, 1 µs apart, with an io_page_fault
 *   every 4096 pairs — a late DMA into a just-unmapped buffer), imported into a temporary
 *   database; its intent (core/replay/intent.ts) replayed against a virtio-iommu configuration
 *   with a guest DMA layer, events off (counted into the metrics, not kept). Rates: the machine's
 *   events emitted per second (each call's dma-map / dma-unmap, its MAP / UNMAP request, the
 *   vIOMMU's map / unmap, syncs, waits — the row with the target), the trace's events
 *   replayed per second, and the same for the whole path of a pool task (the stored rows read by
 *   main/store/trace-rows.ts + the intent derived + the replay). Baseline: reading the same rows
 *   from SQLite, nothing replayed.
 * - "8 configurations": the same trace replayed against 8 configurations (strict / lazy ×
 *   granule 4k / 64k × aw-bits 64 / 48) on the worker pool (main/worker/replay-pool.ts, 2 threads
 *   here) — wall time beside 8 × the wall time of one configuration on the same pool path.
 *   Target: ≤ 5× one replay on 2 cores.
 * The database is written to the OS temporary folder and deleted afterwards. Deterministic.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createImporters } from '../../core/import/index.ts';
import { deriveIntent } from '../../core/replay/intent.ts';
import { replayAgainst } from '../../core/replay/replay.ts';
import { importTraceFile } from '../../main/store/import.ts';
import { LabStore } from '../../main/store/store.ts';
import { iterateTraceRows } from '../../main/store/trace-rows.ts';
import { replayConfigurations } from '../../main/worker/replay-pool.ts';
import type { BenchRow } from './types.ts';

/** dma_map_phys / dma_unmap_phys pairs in the generated trace (2 trace events each). */
export const REPLAY_PAIRS = 250_000;
const RING = 256;

/** Writes the guest ftrace of the module comment: `pairs` map/unmap pairs on a RING-buffer ring. */
export function generateGuestTrace(file: string, pairs: number): number {
  const fd = fs.openSync(file, 'w');
  let buf: string[] = ['# tracer: nop\n#\n'];
  let lines = 2;
  let t = 0;
  const line = (body: string) => {
    t++;
    const sec = 100 + Math.floor(t / 1e6);
    const usec = String(t % 1e6).padStart(6, '0');
    buf.push(`            nvme-77      [000] .....   ${sec}.${usec}: ${body}\n`);
    lines++;
    if (buf.length >= 10_000) {
      fs.writeSync(fd, buf.join(''));
      buf = [];
    }
  };
  const addr = (slot: number) => (0xfffff000 - slot * 0x1000).toString(16);
  for (let i = 0; i < RING; i++) line(`dma_map_phys: 0000:00:03.0 dir=FROM_DEVICE dma_addr=${addr(i)} size=1500 phys_addr=${(0x40000000 + i * 0x1000).toString(16)} attrs=`);
  for (let i = RING; i < pairs; i++) {
    const slot = i % RING;
    line(`dma_unmap_phys: 0000:00:03.0 dir=FROM_DEVICE dma_addr=${addr(slot)} size=1500 attrs=`);
    if (i % 4096 === 0) line(`io_page_fault: IOMMU:nvme 0000:00:03.0 iova=0x${addr(slot).padStart(16, '0')} flags=0x0001`);
    line(`dma_map_phys: 0000:00:03.0 dir=FROM_DEVICE dma_addr=${addr(slot)} size=1500 phys_addr=${(0x40000000 + slot * 0x1000).toString(16)} attrs=`);
  }
  fs.writeSync(fd, buf.join(''));
  fs.closeSync(fd);
  return lines;
}

/** The configurations of the 8-way row. */
export function replayConfigs(): { text: string; file: string }[] {
  const out: { text: string; file: string }[] = [];
  for (const mode of ['strict', 'lazy'])
    for (const granule of ['4k', '64k'])
      for (const aw of [64, 48])
        out.push({
          file: `${mode}-${granule}-aw${aw}.yaml`,
          text: `name: ${mode} ${granule} aw-bits ${aw}\nmachine: q35\nviommu: {model: virtio-iommu, granule: ${granule}, aw-bits: ${aw}}\nguest: {iommu-dma: ${mode}}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - read-config: {}\n`,
        });
  return out;
}

/** The replay suite's rows. */
export async function benchReplay(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-bench-replay-'));
  try {
    const file = path.join(dir, 'guest.trace');
    generateGuestTrace(file, REPLAY_PAIRS);
    const dbPath = path.join(dir, 'lab.db');
    const store = new LabStore(dbPath);
    let runId: number;
    try {
      const out = await importTraceFile(store, dbPath, file, createImporters());
      if (out.runId === null) throw new Error(`bench: the generated guest trace was not stored: ${out.refused}`);
      runId = out.runId;
    } finally {
      store.close();
    }
    const configs = replayConfigs();
    const ref = { runId, name: 'guest.trace', format: 'ftrace' as const, sha256: '' };

    // Baseline: the stored rows read, nothing replayed.
    let t0 = performance.now();
    let rows = 0;
    for (const r of iterateTraceRows(dbPath, runId)) if (r.seq >= 0) rows++;
    const readRate = rows / ((performance.now() - t0) / 1000);

    // The whole path as the pool's task runs it (read + derive + replay), the best of 2; then the
    // replay itself (the intent in memory → the machine, events off), the best of those 2 and 3
    // more replays of the last intent (as a pool worker replays one intent against several
    // configurations: JIT warm, the derivation's garbage collected).
    let bestReplay = 0;
    let bestEvents = 0;
    let bestWhole = 0;
    let divergences = -1;
    let intent = deriveIntent([]);
    const replayOnce = (t1: number): number => {
      const { outcome } = replayAgainst(intent, configs[0]!.text, configs[0]!.file);
      const t2 = performance.now();
      if (!outcome || outcome.failure) throw new Error(`bench: replay failed: ${outcome?.failure}`);
      divergences = outcome.divergences.length;
      bestReplay = Math.max(bestReplay, rows / ((t2 - t1) / 1000));
      bestEvents = Math.max(bestEvents, outcome.metrics.events / ((t2 - t1) / 1000));
      return t2;
    };
    for (let rep = 0; rep < 2; rep++) {
      t0 = performance.now();
      intent = deriveIntent(iterateTraceRows(dbPath, runId));
      const t2 = replayOnce(performance.now());
      bestWhole = Math.max(bestWhole, rows / ((t2 - t0) / 1000));
    }
    for (let rep = 0; rep < 3; rep++) replayOnce(performance.now());
    if (divergences !== 0) throw new Error(`bench: the strict replay of a strict trace diverged ${divergences} times`);

    // 8 configurations on the pool beside 8 × one configuration on the same path.
    t0 = performance.now();
    const one = await replayConfigurations(dbPath, ref, [configs[0]!]);
    const oneMs = performance.now() - t0;
    if (!one[0]!.outcome) throw new Error('bench: the pool replay failed');
    t0 = performance.now();
    const all = await replayConfigurations(dbPath, ref, configs, { threads: Math.min(2, os.availableParallelism()) });
    const allMs = performance.now() - t0;
    const lazyDiverge = all.filter((s) => s.file.startsWith('lazy') && (s.outcome?.divergenceCount ?? 0) > 0).length;
    if (all.some((s) => !s.outcome || s.outcome.failure)) throw new Error('bench: a pool replay failed');
    return [
      { name: `replay of a ${(rows / 1e6).toFixed(1)}M-event guest ftrace, events off: machine events emitted`, value: bestEvents, unit: 'events/s', baselineName: 'reading the stored trace rows alone (rows/s)', baselineValue: readRate, target: 5e6 },
      { name: 'same replay: the trace\'s events replayed', value: bestReplay, unit: 'trace events/s', baselineName: 'reading the stored trace rows alone', baselineValue: readRate },
      { name: 'same, the whole path (read the trace + derive the intent + replay)', value: bestWhole, unit: 'trace events/s', baselineName: 'reading the stored trace rows alone', baselineValue: readRate },
      {
        name: `one trace against 8 configurations on the pool (${Math.min(2, os.availableParallelism())} threads; ${lazyDiverge}/4 lazy ones diverge): wall time`,
        value: allMs / 1000,
        unit: 's',
        baselineName: '8 × one configuration',
        baselineValue: (8 * oneMs) / 1000,
        target: (5 * oneMs) / 1000,
        atMost: true,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
